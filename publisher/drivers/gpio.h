/*
 * gpio.h - the little the DHT driver needs from a GPIO line, so the GPIO
 * library stays behind one file: gpio_v1.c (libgpiod 1.x, Debian 12). A
 * libgpiod 2 backend would be a gpio_v2.c implementing the same three calls
 * (and could raise the kernel's event buffer above v1's 16 events).
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
