/*
 * gpio.h - the little the DHT driver needs from a GPIO line, so the GPIO
 * library stays behind one file. libgpiod's API changed incompatibly with
 * 2.0, so there are two backends and the Makefile builds the one matching
 * the installed libgpiod (-DSW_GPIOD_API=1 or 2):
 *
 *   gpio_v1.c  libgpiod 1.x (Debian 12, Raspberry Pi OS bookworm): the
 *              kernel queues at most 16 edges, so a reader scheduled late
 *              loses most of a DHT answer (85 edges) and the read is retried;
 *   gpio_v2.c  libgpiod 2.x (Debian 13, Raspberry Pi OS trixie): asks the
 *              kernel for a 256-event queue and reads it in batches of 256,
 *              and switches its one request from output to input in place.
 *
 * Both behave the same and word their errors the same; only the chances of a
 * clean DHT read differ. Each backend is the only file that includes
 * <gpiod.h>; tests/unit/publisher/test_gpio.c runs the same cases against
 * either over a fake libgpiod.
 *
 * gpio_line_open() returns a line the caller owns; gpio_line_close() frees
 * it and accepts NULL. Nothing here prints.
 */
#ifndef SW_GPIO_H
#define SW_GPIO_H

#include <stddef.h>
#include <stdint.h>

struct gpio_line;

/*
 * Opens chip (a name like "gpiochip0", looked up in dev_root, or a path
 * "/dev/gpiochip0") and checks that it has line `offset`; nothing is
 * requested yet. Returns 0 with *out set, or -errno with a message in err.
 */
int gpio_line_open(const char *dev_root, const char *chip, unsigned offset,
		   const char *consumer, struct gpio_line **out, char *err, size_t errlen);

/*
 * Drives the line low for low_us (the host's start pulse, slept, not
 * spun), lets it go, takes it as an input with both edge events, and stores
 * the kernel's timestamp (ns) of each edge that follows in ts[] until the
 * line has been quiet for idle_us or max_us have passed. When more than cap
 * edges come, the last cap are kept. The line is released again before
 * returning. Returns 0 with *n set (possibly 0), or -errno with err set.
 */
int gpio_line_pulse_capture(struct gpio_line *l, unsigned low_us, unsigned idle_us,
			    unsigned max_us, uint64_t *ts, size_t cap, size_t *n, char *err,
			    size_t errlen);

void gpio_line_close(struct gpio_line *l);

#endif
