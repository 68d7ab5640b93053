/*
 * gpio_v1.c - gpio.h over libgpiod 1.x (GPIO character device, v1 ABI;
 * Debian 12, Raspberry Pi OS bookworm). Built instead of gpio_v2.c when
 * libgpiod 1 is installed, and like it the only file that includes <gpiod.h>.
 *
 * The start pulse is a short output request held low for low_us; then the
 * line is re-requested as an input with both-edge events (the kernel takes
 * each timestamp in its interrupt handler, so user-space latency does not
 * distort pulse lengths). Between the two requests the first edges of the
 * answer can be missed; the decoder does not need them.
 *
 * Limits of the v1 ABI worth knowing: the kernel queues at most 16 events
 * per line, so a reader that falls behind loses edges (the decoder then
 * refuses the frame and the caller retries); and the rising/falling flag is
 * read late, so only timestamps are used. Bias (pull-up) needs kernel 5.5;
 * without it we fall back to no bias and rely on the external resistor.
 */
#include <errno.h>
#include <gpiod.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "publisher/drivers/gpio.h"

#define GPIO_EVENT_BATCH 16

struct gpio_line {
	struct gpiod_chip *chip;
	struct gpiod_line *line;
	char label[256];        /* "gpiochip0 line 4" for messages */
	char consumer[32];
	bool no_bias;           /* kernel refused the pull-up flag once */
};

int gpio_line_open(const char *dev_root, const char *chip, unsigned offset,
		   const char *consumer, struct gpio_line **out, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct gpio_line *l;
	int len, rc;

	*out = NULL;
	if (strchr(chip, '/'))
		len = snprintf(path, sizeof(path), "%s", chip);
	else
		len = snprintf(path, sizeof(path), "%s/%s", dev_root ? dev_root : "/dev", chip);
	if (len < 0 || (size_t)len >= sizeof(path)) {
		snprintf(err, errlen, "%.100s...: %s", path, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	l->chip = gpiod_chip_open(path);
	if (!l->chip) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto err_free;
	}
	if (offset >= gpiod_chip_num_lines(l->chip)) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s has lines 0..%u, not %u", path,
			 gpiod_chip_num_lines(l->chip) - 1, offset);
		goto err_close;
	}
	l->line = gpiod_chip_get_line(l->chip, offset);
	if (!l->line) {
		rc = -errno;
		snprintf(err, errlen, "%s line %u: %s", path, offset, strerror(errno));
		goto err_close;
	}
	snprintf(l->label, sizeof(l->label), "%.200s line %u", chip, offset);
	snprintf(l->consumer, sizeof(l->consumer), "%s", consumer);
	*out = l;
	return 0;

err_close:
	gpiod_chip_close(l->chip);
err_free:
	free(l);
	return rc;
}

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void sleep_us(unsigned us)
{
	struct timespec t = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &t, &t) == EINTR)
		;
}

static int request_events(struct gpio_line *l)
{
	if (!l->no_bias) {
		if (!gpiod_line_request_both_edges_events_flags(l->line, l->consumer,
				GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP))
			return 0;
		if (errno != EINVAL && errno != EOPNOTSUPP && errno != ENOTSUP)
			return -errno;
		l->no_bias = true;
	}
	return gpiod_line_request_both_edges_events(l->line, l->consumer) ? -errno : 0;
}

/* Appends t, keeping the newest cap timestamps. */
static void keep(uint64_t *ts, size_t cap, size_t *n, uint64_t t)
{
	if (!cap)
		return;
	if (*n == cap) {
		memmove(ts, ts + 1, (cap - 1) * sizeof(*ts));
		(*n)--;
	}
	ts[(*n)++] = t;
}

int gpio_line_pulse_capture(struct gpio_line *l, unsigned low_us, unsigned idle_us,
			    unsigned max_us, uint64_t *ts, size_t cap, size_t *n, char *err,
			    size_t errlen)
{
	struct gpiod_line_event ev[GPIO_EVENT_BATCH];
	bool seen = false;      /* any edge yet: from then on, idle_us ends it */
	uint64_t deadline;
	int rc = 0;

	*n = 0;
	if (gpiod_line_request_output(l->line, l->consumer, 0)) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot drive it%s: %s", l->label,
			 errno == EBUSY ? " (in use, e.g. by the dht11 overlay: use the iio "
					  "driver)" : "", strerror(errno));
		return rc;
	}
	sleep_us(low_us);
	gpiod_line_release(l->line);

	rc = request_events(l);
	if (rc) {
		snprintf(err, errlen, "%s: cannot watch its edges: %s", l->label, strerror(-rc));
		return rc;
	}
	deadline = mono_ns() + (uint64_t)max_us * 1000;
	for (;;) {
		uint64_t now = mono_ns(), wait_ns;
		struct timespec to;
		int got;

		if (now >= deadline)
			break;
		wait_ns = deadline - now;
		if (seen && wait_ns > (uint64_t)idle_us * 1000)
			wait_ns = (uint64_t)idle_us * 1000;
		to.tv_sec = (time_t)(wait_ns / 1000000000ULL);
		to.tv_nsec = (long)(wait_ns % 1000000000ULL);
		got = gpiod_line_event_wait(l->line, &to);
		if (got == 0)
			break;
		if (got < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: waiting for edges: %s", l->label, strerror(errno));
			break;
		}
		got = gpiod_line_event_read_multiple(l->line, ev, GPIO_EVENT_BATCH);
		if (got < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: reading edges: %s", l->label, strerror(errno));
			break;
		}
		seen = seen || got > 0;
		for (int i = 0; i < got; i++)
			keep(ts, cap, n, (uint64_t)ev[i].ts.tv_sec * 1000000000ULL +
					 (uint64_t)ev[i].ts.tv_nsec);
	}
	gpiod_line_release(l->line);
	return rc;
}

void gpio_line_close(struct gpio_line *l)
{
	if (!l)
		return;
	gpiod_chip_close(l->chip);
	free(l);
}
