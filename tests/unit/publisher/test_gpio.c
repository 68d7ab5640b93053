/*
 * test_gpio.c - the GPIO backend the build chose (gpio_v1.c or gpio_v2.c,
 * by SW_GPIOD_API) over a fake libgpiod, with the same cases for both.
 *
 * This program defines the gpiod_* functions the backend calls (in
 * fake_gpiod_v1.h or fake_gpiod_v2.h), so the linker binds gpio_v*.o in
 * libpublisher.a to them instead of libgpiod's (a link seam, as in
 * test_dht.c). Under them is one fake kernel line, shared by both: a script
 * of edge timestamps that arrive in bursts (waits really sleep: the
 * backend's deadlines use the real clock), a kernel queue of bounded size
 * that overflows the way each ABI's does, and errno injection. The cases
 * assert only what gpio.h promises; where v1 and v2 differ on purpose (a
 * whole DHT answer arriving while nobody reads), each expectation is spelled
 * out.
 */
#if SW_GPIOD_API == 1
/*
 * Like gpio_v1.o (see the Makefile): libgpiod 1.x's struct gpiod_line_event
 * holds a struct timespec of the time_t the library was built with, 32-bit
 * on Debian 12's 32-bit ports. No-op on 64-bit targets.
 */
#undef _TIME_BITS
#endif
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "publisher/drivers/dht_decode.h"
#include "publisher/drivers/gpio.h"

/* --- the fake kernel line, shared by both fakes --------------------------- */

#define FAKE_EDGES_MAX 4096
#define FAKE_BURSTS_MAX 512
#define FAKE_QUEUE_MAX 1024     /* the v2 kernel's maximum, GPIO_V2_LINES_MAX * 16 */
#define FAKE_LINES 54           /* a Raspberry Pi's gpiochip0 */

/*
 * A burst arrives gap_us into a wait for edges with nothing queued (after
 * the previous burst was read), or is dropped by that wait's timeout if it
 * is shorter. Gap 0: it arrived with the previous burst, the first one
 * before the reader could wait at all. So what reaches the queue does not
 * depend on how this machine schedules the test; only the timeouts do.
 */
struct fake_burst {
	unsigned gap_us;
	size_t first, n;        /* in fake.edges */
};

static struct {
	/* the chip */
	const char *chip_path;
	unsigned num_lines;
	/* errno injection (0: succeed) */
	int open_errno;         /* opening the chip */
	int output_errno;       /* requesting the line as an output */
	int bias_errno;         /* an input request with the pull-up flag */
	int input_errno;        /* any input request */
	int wait_errno, read_errno;
	/* the script */
	uint64_t edges[FAKE_EDGES_MAX];
	size_t n_edges;
	struct fake_burst bursts[FAKE_BURSTS_MAX];
	size_t n_bursts, next_burst;
	/* the kernel's queue of the current request */
	uint64_t queue[FAKE_QUEUE_MAX];
	size_t q_first, q_len, q_cap;
	bool drop_newest;       /* full: v1 refuses the new event, v2 drops the oldest */
	size_t dropped;
	/* what the backend did */
	char opened_path[4200];
	int chips_open;
	bool requested, input, both_edges, pull_up;
	int output_value;
	int outputs, inputs, bias_tries;
	char consumer[64];
	size_t buffer_requested;        /* v2: event_buffer_size */
	uint64_t out_at, out_cpu;
	uint64_t pulse_ns, pulse_cpu_ns; /* the start pulse, wall and CPU time */
	int waits, reads;
	int64_t first_wait_ns, last_wait_ns;
	size_t max_batch;               /* the most events one read asked for */
} fake;

static uint64_t clock_ns(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static uint64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL),
			       .tv_nsec = (long)(ns % 1000000000ULL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

/* The script: a burst of n edges t0, t0 + step, ... (see struct fake_burst). */
static void script(unsigned gap_us, size_t n, uint64_t t0, uint64_t step)
{
	struct fake_burst *b = &fake.bursts[fake.n_bursts++];

	assert_true(fake.n_bursts <= FAKE_BURSTS_MAX && fake.n_edges + n <= FAKE_EDGES_MAX);
	b->gap_us = gap_us;
	b->first = fake.n_edges;
	b->n = n;
	for (size_t i = 0; i < n; i++)
		fake.edges[fake.n_edges++] = t0 + i * step;
}

/* The same with the timestamps given. */
static void script_edges(unsigned gap_us, const uint64_t *t, size_t n)
{
	script(gap_us, n, 0, 0);
	memcpy(&fake.edges[fake.n_edges - n], t, n * sizeof(*t));
}

static void fake_queue_put(uint64_t t)
{
	if (fake.q_len == fake.q_cap) {
		fake.dropped++;
		if (fake.drop_newest)
			return;
		fake.q_first = (fake.q_first + 1) % FAKE_QUEUE_MAX;
		fake.q_len--;
	}
	fake.queue[(fake.q_first + fake.q_len++) % FAKE_QUEUE_MAX] = t;
}

static uint64_t fake_queue_get(void)
{
	uint64_t t = fake.queue[fake.q_first];

	fake.q_first = (fake.q_first + 1) % FAKE_QUEUE_MAX;
	fake.q_len--;
	return t;
}

/* The kernel's interrupt handler: the next burst, and those that came with it. */
static void fake_arrive(void)
{
	do {
		const struct fake_burst *b = &fake.bursts[fake.next_burst++];

		for (size_t i = 0; i < b->n; i++)
			fake_queue_put(fake.edges[b->first + i]);
	} while (fake.next_burst < fake.n_bursts && !fake.bursts[fake.next_burst].gap_us);
}

/* The line was requested as an output driving value (consumer NULL: as before). */
static int fake_line_output(const char *consumer, int value)
{
	if (fake.requested) {
		errno = EBUSY;  /* what the kernel says to a second request */
		return -1;
	}
	if (fake.output_errno) {
		errno = fake.output_errno;
		return -1;
	}
	fake.requested = true;
	fake.input = false;
	fake.outputs++;
	fake.output_value = value;
	if (consumer)
		snprintf(fake.consumer, sizeof(fake.consumer), "%s", consumer);
	fake.out_at = mono_ns();
	fake.out_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	return 0;
}

/*
 * The line becomes an input (a new request, or the output request
 * reconfigured; was_output: it was driven until now) with a queue of q_cap.
 */
static int fake_line_input(bool was_output, bool both_edges, bool pull_up, size_t q_cap)
{
	if (pull_up) {
		fake.bias_tries++;
		if (fake.bias_errno) {
			errno = fake.bias_errno;
			return -1;
		}
	}
	if (fake.input_errno) {
		errno = fake.input_errno;
		return -1;
	}
	if (was_output) {
		fake.pulse_ns = mono_ns() - fake.out_at;
		fake.pulse_cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - fake.out_cpu;
	}
	fake.requested = fake.input = true;
	fake.inputs++;
	fake.both_edges = both_edges;
	fake.pull_up = pull_up;
	fake.q_first = fake.q_len = 0;
	fake.q_cap = q_cap;
	fake.next_burst = 0;
	if (fake.n_bursts && !fake.bursts[0].gap_us)
		fake_arrive();
	return 0;
}

static void fake_line_release(void)
{
	fake.requested = fake.input = false;
	fake.q_len = 0;
}

/* poll(): 1 with events queued, 0 after timeout_ns without, -1 with errno. */
static int fake_wait(int64_t timeout_ns)
{
	uint64_t gap_ns;

	if (!fake.input)
		fail_msg("waiting for edges on a line that is not an input");
	assert_true(timeout_ns >= 0);
	if (!fake.waits++)
		fake.first_wait_ns = timeout_ns;
	fake.last_wait_ns = timeout_ns;
	if (fake.wait_errno) {
		errno = fake.wait_errno;
		return -1;
	}
	if (fake.q_len)
		return 1;
	if (fake.next_burst < fake.n_bursts) {
		gap_ns = fake.bursts[fake.next_burst].gap_us * 1000ULL;
		if (gap_ns <= (uint64_t)timeout_ns) {
			sleep_ns(gap_ns);
			fake_arrive();
			return 1;
		}
	}
	sleep_ns((uint64_t)timeout_ns);
	return 0;
}

/* read(): up to max queued timestamps into ts, or -1 with errno. */
static int fake_read(uint64_t *ts, size_t max)
{
	size_t n = 0;

	if (!fake.input)
		fail_msg("reading edges of a line that is not an input");
	fake.reads++;
	if (max > fake.max_batch)
		fake.max_batch = max;
	if (fake.read_errno) {
		errno = fake.read_errno;
		return -1;
	}
	if (!fake.q_len)
		fail_msg("read() with nothing queued would block");
	while (n < max && fake.q_len)
		ts[n++] = fake_queue_get();
	return (int)n;
}

static int fake_chip_open(const char *path)
{
	snprintf(fake.opened_path, sizeof(fake.opened_path), "%s", path);
	if (fake.open_errno) {
		errno = fake.open_errno;
		return -1;
	}
	if (strcmp(path, fake.chip_path)) {
		errno = ENOENT;
		return -1;
	}
	fake.chips_open++;
	return 0;
}

#if SW_GPIOD_API == 1
#include "fake_gpiod_v1.h"
#elif SW_GPIOD_API == 2
#include "fake_gpiod_v2.h"
#else
#error "SW_GPIOD_API must be 1 or 2 (the Makefile sets it from libgpiod's version)"
#endif

/* --- tests ---------------------------------------------------------------- */

#define LOW_US 2000
#define IDLE_US 1000
/* far more than any case needs: a loaded machine must not reach it by accident */
#define MAX_US 5000000

static uint64_t ts[1024];
static char err[512];

static int setup(void **state)
{
	memset(&fake, 0, sizeof(fake));
	fake.chip_path = "/dev/gpiochip0";
	fake.num_lines = FAKE_LINES;
	fake_setup();
	memset(ts, 0, sizeof(ts));
	err[0] = '\0';
	*state = NULL;
	return 0;
}

static int teardown(void **state)
{
	struct gpio_line *l = *state;

	gpio_line_close(l);
	assert_int_equal(fake.chips_open, 0);
	return 0;
}

static struct gpio_line *open_line(void **state, unsigned offset)
{
	struct gpio_line *l = NULL;

	assert_int_equal(gpio_line_open("/dev", "gpiochip0", offset, "sensorwire", &l, err,
					sizeof(err)), 0);
	assert_non_null(l);
	assert_int_equal(fake.chips_open, 1);
	*state = l;
	return l;
}

/* One capture; whatever it returns, the line must be free again. */
static int capture(struct gpio_line *l, unsigned idle_us, unsigned max_us, size_t cap,
		   size_t *n)
{
	int rc;

	*n = 12345;
	rc = gpio_line_pulse_capture(l, LOW_US, idle_us, max_us, ts, cap, n, err, sizeof(err));
	assert_false(fake.requested);
	return rc;
}

static void test_open_chip_by_name_or_path(void **state)
{
	struct gpio_line *l = NULL;
	char longname[5000];

	(void)state;
	/* a name is looked up in dev_root, /dev without one, a path taken as it is */
	fake.chip_path = "/tmp/fake-dev/gpiochip0";
	assert_int_equal(gpio_line_open("/tmp/fake-dev", "gpiochip0", 4, "sensorwire", &l,
					err, sizeof(err)), 0);
	assert_string_equal(fake.opened_path, "/tmp/fake-dev/gpiochip0");
	gpio_line_close(l);
	fake.chip_path = "/dev/gpiochip0";
	assert_int_equal(gpio_line_open(NULL, "gpiochip0", 4, "sensorwire", &l, err,
					sizeof(err)), 0);
	assert_string_equal(fake.opened_path, "/dev/gpiochip0");
	gpio_line_close(l);
	fake.chip_path = "/dev/gpiochip4";
	assert_int_equal(gpio_line_open("/tmp/fake-dev", "/dev/gpiochip4", 4, "sensorwire", &l,
					err, sizeof(err)), 0);
	assert_string_equal(fake.opened_path, "/dev/gpiochip4");
	gpio_line_close(l);
	assert_int_equal(fake.chips_open, 0);

	/* chip not found, not allowed, name too long: -errno and a message, no line */
	l = (struct gpio_line *)&l;     /* anything but NULL */
	assert_int_equal(gpio_line_open("/dev", "gpiochip9", 4, "sensorwire", &l, err,
					sizeof(err)), -ENOENT);
	assert_string_equal(err, "/dev/gpiochip9: No such file or directory");
	assert_null(l);
	fake.open_errno = EACCES;
	assert_int_equal(gpio_line_open("/dev", "/dev/gpiochip4", 4, "sensorwire", &l, err,
					sizeof(err)), -EACCES);
	assert_string_equal(err, "/dev/gpiochip4: Permission denied");
	assert_null(l);
	fake.open_errno = 0;
	memset(longname, 'g', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	fake.opened_path[0] = '\0';
	assert_int_equal(gpio_line_open("/dev", longname, 4, "sensorwire", &l, err,
					sizeof(err)), -ENAMETOOLONG);
	assert_true(strlen(err) > 30 && strlen(err) < 200);    /* a readable message */
	assert_memory_equal(err, "/dev/ggg", 8);
	assert_string_equal(err + strlen(err) - 26, "ggg...: File name too long");
	assert_string_equal(fake.opened_path, "");     /* not even tried */
	assert_null(l);
	assert_int_equal(fake.chips_open, 0);
}

static void test_offset_out_of_range(void **state)
{
	struct gpio_line *l;

	l = (struct gpio_line *)&l;     /* anything but NULL */
	assert_int_equal(gpio_line_open("/dev", "gpiochip0", FAKE_LINES, "sensorwire", &l, err,
					sizeof(err)), -EINVAL);
	assert_string_equal(err, "/dev/gpiochip0 has lines 0..53, not 54");
	assert_null(l);
	assert_int_equal(fake.chips_open, 0);   /* the chip was closed again */
	assert_int_equal(fake.outputs + fake.inputs, 0);
	open_line(state, FAKE_LINES - 1);       /* the last one is fine */
}

static void test_edges_in_order_in_ns(void **state)
{
	struct gpio_line *l = open_line(state, 4);
	uint64_t want[30], first_cpu_ns;
	size_t n;

	/* three bursts; timestamps cross a second boundary and use every ns digit */
	script(100, 10, 4999999000ULL, 123);
	script(300, 10, 4999999000ULL + 10 * 123, 123);
	script(300, 10, 4999999000ULL + 20 * 123, 123);
	for (size_t i = 0; i < 30; i++)
		want[i] = 4999999000ULL + i * 123;
	assert_int_equal(capture(l, IDLE_US, MAX_US, 64, &n), 0);
	assert_int_equal(n, 30);
	assert_memory_equal(ts, want, sizeof(want));

	/* the start pulse: an output driven low, for low_us, slept not spun */
	assert_int_equal(fake.outputs, 1);
	assert_int_equal(fake.output_value, 0);
	assert_true(fake.pulse_ns >= LOW_US * 1000ULL);
	assert_true(fake.pulse_ns < LOW_US * 1000ULL + 1000000000ULL);     /* not ms for µs */
	first_cpu_ns = fake.pulse_cpu_ns;
	/* then an input with both edges and the pull-up, under our consumer name */
	assert_int_equal(fake.inputs, 1);
	assert_true(fake.both_edges);
	assert_true(fake.pull_up);
	assert_string_equal(fake.consumer, "sensorwire");
	assert_int_equal(fake.dropped, 0);

	/* released: the next capture can request it again */
	assert_int_equal(capture(l, IDLE_US, MAX_US, 64, &n), 0);
	assert_int_equal(n, 30);
	assert_int_equal(fake.outputs, 2);
	assert_int_equal(fake.inputs, 2);
	/* slept, not spun: a spinning pulse costs its whole length in CPU time on
	 * every capture; the cheaper of the two is checked, because the first one
	 * under qemu-user (the target matrix) also pays for translating the code */
	assert_true((first_cpu_ns < fake.pulse_cpu_ns ? first_cpu_ns : fake.pulse_cpu_ns) <
		    LOW_US * 1000ULL / 4);
}

static void test_keeps_newest_cap(void **state)
{
	struct gpio_line *l = open_line(state, 4);
	uint64_t t0;
	size_t n;

	for (int i = 0; i < 5; i++)
		script(200, 8, 1000000ULL + i * 8 * 1000ULL, 1000);
	assert_int_equal(capture(l, IDLE_US, MAX_US, 12, &n), 0);
	assert_int_equal(n, 12);
	for (size_t i = 0; i < 12; i++)
		assert_int_equal(ts[i], 1000000ULL + (28 + i) * 1000ULL);
	assert_int_equal(fake.dropped, 0);      /* the kernel kept all: we dropped them */

	/* nowhere to keep them: none kept, and still over once the line is quiet */
	t0 = mono_ns();
	assert_int_equal(capture(l, IDLE_US, MAX_US, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_true(mono_ns() - t0 < MAX_US * 1000ULL / 2);
}

static void test_idle_ends_capture(void **state)
{
	struct gpio_line *l = open_line(state, 4);
	size_t n;

	/* the first edges may come later than idle_us: that is not idleness */
	script(3000, 4, 100000, 100);
	script(300, 4, 200000, 100);
	script(5000, 4, 300000, 100);   /* after 1 ms of quiet: too late */
	assert_int_equal(capture(l, IDLE_US, MAX_US, 64, &n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(ts[7], 200300);
	assert_int_equal(fake.next_burst, 2);
	assert_true(fake.first_wait_ns > MAX_US * 1000LL / 2);
	assert_true(fake.last_wait_ns > 0 && fake.last_wait_ns <= IDLE_US * 1000LL);
}

static void test_max_ends_capture(void **state)
{
	struct gpio_line *l = open_line(state, 4);
	uint64_t t0;
	size_t n;

	/* nobody answers: nothing, after max_us */
	t0 = mono_ns();
	assert_int_equal(capture(l, IDLE_US, 10000, 64, &n), 0);
	assert_int_equal(n, 0);
	assert_true(mono_ns() - t0 >= 10000000ULL + LOW_US * 1000ULL);
	assert_int_equal(fake.waits, 1);
	assert_true(fake.first_wait_ns <= 10000000LL && fake.first_wait_ns > 2000000LL);

	/* a line that never goes quiet: stopped at max_us all the same */
	for (int i = 0; i < 200; i++)
		script(500, 2, 1000000ULL * i, 1000);
	t0 = mono_ns();
	assert_int_equal(capture(l, IDLE_US, 10000, 1024, &n), 0);
	assert_true(mono_ns() - t0 >= 10000000ULL + LOW_US * 1000ULL);
	/* the script lasts 100 ms, and no gap in it is long enough for idle_us */
	assert_true(fake.next_burst >= 1 && fake.next_burst < fake.n_bursts);
	assert_int_equal(n, 2 * fake.next_burst);
	assert_int_equal(ts[0], 0);
	assert_int_equal(ts[n - 1], 1000000ULL * (n / 2 - 1) + 1000);
}

static void test_bias_fallback(void **state)
{
	struct gpio_line *l = open_line(state, 4);
	size_t n;

	/* a kernel without bias support: watched without it, and not asked again */
	fake.bias_errno = EINVAL;
	script(100, 6, 1000, 10);
	assert_int_equal(capture(l, IDLE_US, MAX_US, 64, &n), 0);
	assert_int_equal(n, 6);
	assert_false(fake.pull_up);
	assert_true(fake.both_edges);
	assert_int_equal(fake.bias_tries, 1);
	assert_int_equal(capture(l, IDLE_US, MAX_US, 64, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(fake.bias_tries, 1);
	assert_false(fake.pull_up);
}

static void test_bias_other_error_is_an_error(void **state)
{
	struct gpio_line *l = open_line(state, 4);
	size_t n;

	fake.bias_errno = EIO;
	assert_int_equal(capture(l, IDLE_US, MAX_US, 64, &n), -EIO);
	assert_string_equal(err, "gpiochip0 line 4: cannot watch its edges: Input/output error");
	assert_int_equal(n, 0);
	assert_int_equal(fake.bias_tries, 1);
	assert_int_equal(fake.inputs, 0);
}

static void test_busy_line(void **state)
{
	struct gpio_line *l = open_line(state, 17);
	size_t n;

	fake.output_errno = EBUSY;
	assert_int_equal(capture(l, IDLE_US, MAX_US, 64, &n), -EBUSY);
	assert_string_equal(err, "gpiochip0 line 17: cannot drive it (in use, e.g. by the dht11 "
			    "overlay: use the iio driver): Device or resource busy");
	assert_int_equal(n, 0);
	assert_int_equal(fake.inputs, 0);
	fake.output_errno = EPERM;
	assert_int_equal(capture(l, IDLE_US, MAX_US, 64, &n), -EPERM);
	assert_string_equal(err, "gpiochip0 line 17: cannot drive it: Operation not permitted");
}

static void test_input_wait_read_errors(void **state)
{
	struct gpio_line *l = open_line(state, 4);
	size_t n;

	fake.input_errno = ENODEV;
	assert_int_equal(capture(l, IDLE_US, MAX_US, 64, &n), -ENODEV);
	assert_string_equal(err, "gpiochip0 line 4: cannot watch its edges: No such device");
	fake.input_errno = 0;

	fake.wait_errno = EIO;
	assert_int_equal(capture(l, IDLE_US, MAX_US, 64, &n), -EIO);
	assert_string_equal(err, "gpiochip0 line 4: waiting for edges: Input/output error");
	assert_int_equal(n, 0);
	fake.wait_errno = 0;

	script(0, 4, 1000, 10);
	fake.read_errno = EFAULT;
	assert_int_equal(capture(l, IDLE_US, MAX_US, 64, &n), -EFAULT);
	assert_string_equal(err, "gpiochip0 line 4: reading edges: Bad address");
	assert_int_equal(fake.reads, 1);
}

/* A DHT22 answer (21.4 °C, 48.0 %), every edge of it. */
static void dht_frame(uint64_t *all)
{
	const uint8_t b[5] = { 0x01, 0xe0, 0x00, 0xd6, 0xb7 };
	uint64_t t = 7000000000ULL;
	size_t n = 0;

	all[n++] = t;
	all[n++] = t += 30000;
	all[n++] = t += 80000;
	all[n++] = t += 80000;
	for (int i = 0; i < DHT_BITS; i++) {
		all[n++] = t += 50000;
		all[n++] = t += (b[i / 8] & (0x80 >> (i % 8))) ? 70000 : 27000;
	}
	all[n++] = t += 50000;
	assert_int_equal(n, DHT_FULL_EDGES);
}

/*
 * The whole answer (85 edges in 5 ms) is in the kernel before the reader
 * first gets to read: what a busy system does to a reader. v2's larger
 * queue keeps it; v1's keeps 16 and drops the rest, the reason gpio_v2.c
 * exists.
 */
static void test_dht_frame_in_one_burst(void **state)
{
	struct gpio_line *l = open_line(state, 4);
	uint64_t frame[DHT_FULL_EDGES];
	struct dht_reading r;
	size_t n;

	dht_frame(frame);
	script_edges(0, frame, DHT_FULL_EDGES);
	assert_int_equal(capture(l, IDLE_US, MAX_US, 128, &n), 0);
#if SW_GPIOD_API == 1
	/* the v1 kernel's 16-event queue refused all that came after it filled */
	assert_int_equal(fake.q_cap, 16);
	assert_int_equal(fake.dropped, DHT_FULL_EDGES - 16);
	assert_int_equal(n, 16);
	assert_memory_equal(ts, frame, 16 * sizeof(uint64_t));
	assert_int_equal(dht_decode(DHT_MODEL_DHT22, ts, n, &r), DHT_ERR_TOO_FEW_EDGES);
#else
	/* gpio_v2.c asked for a queue that holds a whole answer several times over */
	assert_true(fake.buffer_requested >= 3 * DHT_FULL_EDGES);
	assert_true(fake.buffer_requested <= FAKE_QUEUE_MAX);
	assert_int_equal(fake.dropped, 0);
	assert_int_equal(n, DHT_FULL_EDGES);
	assert_memory_equal(ts, frame, sizeof(frame));
	/* ... and read it in one go */
	assert_int_equal(fake.reads, 1);
	assert_true(fake.max_batch >= DHT_FULL_EDGES);
	assert_int_equal(dht_decode(DHT_MODEL_DHT22, ts, n, &r), DHT_OK);
	assert_true(r.temperature_celsius == 21.4 && r.humidity_percent == 48.0);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_chip_by_name_or_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offset_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edges_in_order_in_ns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keeps_newest_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_ends_capture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_ends_capture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bias_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bias_other_error_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_wait_read_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dht_frame_in_one_burst, setup, teardown),
	};

	return cmocka_run_group_tests_name(FAKE_GPIOD_NAME, tests, NULL, NULL);
}
