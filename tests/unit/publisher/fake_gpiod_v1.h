/*
 * fake_gpiod_v1.h - the libgpiod 1.x calls gpio_v1.c makes, over test_gpio.c's
 * fake kernel line. Included by test_gpio.c only (it defines functions).
 *
 * <gpiod.h> is included for the prototypes, so a signature that drifts from
 * the library's is a compile error rather than a silent mismatch. Every
 * gpiod_* function gpio_v1.o calls must be defined here: one left to the
 * real library would get these fake objects.
 *
 * The v1 kernel ABI's queue: 16 events per line request, and a full queue
 * refuses the new event (drivers/gpio/gpiolib-cdev.c, lineevent_irq_thread:
 * kfifo_in fails, "event FIFO is full - event dropped").
 */
#include <gpiod.h>

#define FAKE_GPIOD_NAME "gpio_v1 (libgpiod 1.x)"
#define FAKE_V1_QUEUE 16

struct gpiod_line {
	struct gpiod_chip *chip;
};

struct gpiod_chip {
	struct gpiod_line line;         /* only the one the backend asks for */
	unsigned offset;
	bool got_line;
};

static void fake_setup(void)
{
	fake.drop_newest = true;
}

struct gpiod_chip *gpiod_chip_open(const char *path)
{
	struct gpiod_chip *c;

	if (fake_chip_open(path))
		return NULL;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->line.chip = c;
	return c;
}

void gpiod_chip_close(struct gpiod_chip *chip)
{
	if (!chip)
		return;
	/* libgpiod 1.x releases the chip's lines with it */
	if (chip->got_line && fake.requested)
		fake_line_release();
	fake.chips_open--;
	free(chip);
}

unsigned int gpiod_chip_num_lines(struct gpiod_chip *chip)
{
	assert_non_null(chip);
	return fake.num_lines;
}

struct gpiod_line *gpiod_chip_get_line(struct gpiod_chip *chip, unsigned int offset)
{
	if (offset >= fake.num_lines) {
		errno = EINVAL;
		return NULL;
	}
	chip->offset = offset;
	chip->got_line = true;
	return &chip->line;
}

int gpiod_line_request_output(struct gpiod_line *line, const char *consumer, int default_val)
{
	assert_non_null(line);
	return fake_line_output(consumer, default_val);
}

static int fake_v1_request_events(const char *consumer, bool pull_up)
{
	if (fake.requested) {
		errno = EBUSY;
		return -1;
	}
	snprintf(fake.consumer, sizeof(fake.consumer), "%s", consumer ? consumer : "");
	/* v1 releases the output first, so the pulse ended at the release */
	return fake_line_input(false, true, pull_up, FAKE_V1_QUEUE);
}

int gpiod_line_request_both_edges_events(struct gpiod_line *line, const char *consumer)
{
	assert_non_null(line);
	return fake_v1_request_events(consumer, false);
}

int gpiod_line_request_both_edges_events_flags(struct gpiod_line *line, const char *consumer,
					       int flags)
{
	assert_non_null(line);
	assert_int_equal(flags & ~GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP, 0);
	return fake_v1_request_events(consumer, flags & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP);
}

void gpiod_line_release(struct gpiod_line *line)
{
	assert_non_null(line);
	if (fake.requested && !fake.input) {
		/* the start pulse ends when the output is let go */
		fake.pulse_ns = mono_ns() - fake.out_at;
		fake.pulse_cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - fake.out_cpu;
	}
	fake_line_release();
}

int gpiod_line_event_wait(struct gpiod_line *line, const struct timespec *timeout)
{
	assert_non_null(line);
	assert_non_null(timeout);
	return fake_wait((int64_t)timeout->tv_sec * 1000000000LL + timeout->tv_nsec);
}

int gpiod_line_event_read_multiple(struct gpiod_line *line, struct gpiod_line_event *events,
				   unsigned int num_events)
{
	uint64_t t[FAKE_QUEUE_MAX];
	int got;

	assert_non_null(line);
	assert_true(num_events <= FAKE_QUEUE_MAX);
	got = fake_read(t, num_events);
	for (int i = 0; i < got; i++) {
		events[i].ts.tv_sec = (time_t)(t[i] / 1000000000ULL);
		events[i].ts.tv_nsec = (long)(t[i] % 1000000000ULL);
		events[i].event_type = i % 2 ? GPIOD_LINE_EVENT_RISING_EDGE :
				       GPIOD_LINE_EVENT_FALLING_EDGE;
	}
	return got;
}
