/*
 * gpio_v2.c - gpio.h over libgpiod 2.x (GPIO character device, v2 ABI,
 * kernel 5.10+; Debian 13 and Raspberry Pi OS trixie ship libgpiod 2.2).
 * Built instead of gpio_v1.c when libgpiod 2 is installed, and like it the
 * only file that includes <gpiod.h>. Behaviour and messages are v1's.
 *
 * Two things v2 does better, and why this file uses them:
 *
 * The kernel's event queue belongs to the request and the request sizes it
 * (v1: 16 events per line, fixed). GPIO_EVENT_BUFFER holds a whole DHT
 * answer three times over, so a reader that is scheduled late (the answer
 * takes about 5 ms, a busy Pi Zero can keep us off the CPU longer) still
 * finds every edge, and the events are read in batches of the same size.
 * When even that overflows, v2 drops the oldest events (v1 the newest),
 * which is what the caller keeps anyway.
 *
 * One request serves the whole capture: it starts as an output held low
 * for the start pulse, and gpiod_line_request_reconfigure_lines() turns it
 * into an input with both-edge events in one ioctl. v1 has to release the
 * line and request it again (close one file descriptor, open another,
 * request the interrupt), and the sensor starts answering 20-200 µs after
 * the line is let go, so the longer that takes, the more of the answer's
 * first edges are missed (the decoder does not need them, but the narrower
 * the gap the better). All configuration objects are made in
 * gpio_line_open(), so nothing but that ioctl stands between the end of
 * the pulse and the watch.
 *
 * Only timestamps are used, in the kernel's monotonic event clock (the
 * default), never the edge kind. Bias: pull-up, falling back to none when
 * the kernel refuses it (the external resistor then does the job).
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

/*
 * Kernel and user-space event buffer, in events. A DHT answer is 85 edges
 * (DHT_FULL_EDGES); 256 holds three, more than the 128 the DHT driver keeps.
 * The kernel allocates it (48 bytes an event: 12 KiB) at each capture; its
 * maximum, 1024 (GPIO_V2_LINES_MAX * 16), would cost 48 KiB for nothing,
 * as a capture ends 1 ms after the answer.
 */
#define GPIO_EVENT_BUFFER 256

struct gpio_line {
	struct gpiod_chip *chip;
	struct gpiod_request_config *req_cfg;   /* consumer, GPIO_EVENT_BUFFER */
	struct gpiod_line_config *out_cfg;      /* output, low: the start pulse */
	struct gpiod_line_config *in_cfg;       /* input, both edges, pull-up unless no_bias */
	struct gpiod_edge_event_buffer *events;
	unsigned offset;
	char label[256];        /* "gpiochip0 line 4" for messages */
	bool no_bias;           /* kernel refused the pull-up once */
};

/* A line config for our one line, or NULL (out of memory). */
static struct gpiod_line_config *line_config(unsigned offset, bool output, bool pull_up)
{
	struct gpiod_line_settings *s = gpiod_line_settings_new();
	struct gpiod_line_config *cfg = NULL;
	int bad;

	if (!s)
		return NULL;
	if (output)
		bad = gpiod_line_settings_set_direction(s, GPIOD_LINE_DIRECTION_OUTPUT) ||
		      gpiod_line_settings_set_output_value(s, GPIOD_LINE_VALUE_INACTIVE);
	else
		bad = gpiod_line_settings_set_direction(s, GPIOD_LINE_DIRECTION_INPUT) ||
		      gpiod_line_settings_set_edge_detection(s, GPIOD_LINE_EDGE_BOTH) ||
		      (pull_up && gpiod_line_settings_set_bias(s, GPIOD_LINE_BIAS_PULL_UP));
	if (!bad)
		cfg = gpiod_line_config_new();
	if (cfg && gpiod_line_config_add_line_settings(cfg, &offset, 1, s)) {
		gpiod_line_config_free(cfg);
		cfg = NULL;
	}
	gpiod_line_settings_free(s);
	return cfg;
}

void gpio_line_close(struct gpio_line *l)
{
	if (!l)
		return;
	/* not all of libgpiod 2's free functions accept NULL */
	if (l->events)
		gpiod_edge_event_buffer_free(l->events);
	if (l->in_cfg)
		gpiod_line_config_free(l->in_cfg);
	if (l->out_cfg)
		gpiod_line_config_free(l->out_cfg);
	if (l->req_cfg)
		gpiod_request_config_free(l->req_cfg);
	if (l->chip)
		gpiod_chip_close(l->chip);
	free(l);
}

int gpio_line_open(const char *dev_root, const char *chip, unsigned offset,
		   const char *consumer, struct gpio_line **out, char *err, size_t errlen)
{
	struct gpiod_chip_info *info;
	char path[PATH_MAX];
	struct gpio_line *l;
	size_t lines;
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
		goto err;
	}
	info = gpiod_chip_get_info(l->chip);
	if (!info) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto err;
	}
	lines = gpiod_chip_info_get_num_lines(info);
	gpiod_chip_info_free(info);
	if (offset >= lines) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s has lines 0..%u, not %u", path, (unsigned)lines - 1,
			 offset);
		goto err;
	}
	l->offset = offset;
	l->req_cfg = gpiod_request_config_new();
	l->out_cfg = line_config(offset, true, false);
	l->in_cfg = line_config(offset, false, true);
	l->events = gpiod_edge_event_buffer_new(GPIO_EVENT_BUFFER);
	if (!l->req_cfg || !l->out_cfg || !l->in_cfg || !l->events) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	gpiod_request_config_set_consumer(l->req_cfg, consumer);
	gpiod_request_config_set_event_buffer_size(l->req_cfg, GPIO_EVENT_BUFFER);
	snprintf(l->label, sizeof(l->label), "%.200s line %u", chip, offset);
	*out = l;
	return 0;

err:
	gpio_line_close(l);
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

/* Turns the request (an output) into an input with edge events. */
static int watch_edges(struct gpio_line *l, struct gpiod_line_request *req)
{
	struct gpiod_line_config *plain;

	if (!gpiod_line_request_reconfigure_lines(req, l->in_cfg))
		return 0;
	if (l->no_bias || (errno != EINVAL && errno != EOPNOTSUPP && errno != ENOTSUP))
		return -errno;
	/* the kernel validates before it changes anything: still an output */
	plain = line_config(l->offset, false, false);
	if (!plain)
		return -ENOMEM;
	gpiod_line_config_free(l->in_cfg);
	l->in_cfg = plain;
	l->no_bias = true;
	return gpiod_line_request_reconfigure_lines(req, l->in_cfg) ? -errno : 0;
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
	struct gpiod_line_request *req;
	bool seen = false;      /* any edge yet: from then on, idle_us ends it */
	uint64_t deadline;
	int rc = 0;

	*n = 0;
	req = gpiod_chip_request_lines(l->chip, l->req_cfg, l->out_cfg);
	if (!req) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot drive it%s: %s", l->label,
			 errno == EBUSY ? " (in use, e.g. by the dht11 overlay: use the iio "
					  "driver)" : "", strerror(errno));
		return rc;
	}
	sleep_us(low_us);

	rc = watch_edges(l, req);
	if (rc) {
		snprintf(err, errlen, "%s: cannot watch its edges: %s", l->label, strerror(-rc));
		goto out;
	}
	deadline = mono_ns() + (uint64_t)max_us * 1000;
	for (;;) {
		uint64_t now = mono_ns(), wait_ns;
		int got;

		if (now >= deadline)
			break;
		wait_ns = deadline - now;
		if (seen && wait_ns > (uint64_t)idle_us * 1000)
			wait_ns = (uint64_t)idle_us * 1000;
		got = gpiod_line_request_wait_edge_events(req, (int64_t)wait_ns);
		if (got == 0)
			break;
		if (got < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: waiting for edges: %s", l->label, strerror(errno));
			break;
		}
		got = gpiod_line_request_read_edge_events(req, l->events, GPIO_EVENT_BUFFER);
		if (got < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: reading edges: %s", l->label, strerror(errno));
			break;
		}
		seen = seen || got > 0;
		for (int i = 0; i < got; i++)
			keep(ts, cap, n, gpiod_edge_event_get_timestamp_ns(
					 gpiod_edge_event_buffer_get_event(l->events, (unsigned long)i)));
	}
out:
	gpiod_line_request_release(req);
	return rc;
}
