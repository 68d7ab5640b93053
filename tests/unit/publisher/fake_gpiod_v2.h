/*
 * fake_gpiod_v2.h - the libgpiod 2.x calls gpio_v2.c makes, over test_gpio.c's
 * fake kernel line. Included by test_gpio.c only (it defines functions).
 *
 * <gpiod.h> is included for the prototypes, so a signature that drifts from
 * the library's is a compile error rather than a silent mismatch. Every
 * gpiod_* function gpio_v2.o calls must be defined here: one left to the
 * real library would get these fake objects. Objects are malloc'ed and
 * copied where libgpiod copies them, so ASan sees a leaked or
 * use-after-free'd one.
 *
 * The v2 kernel ABI's queue: event_buffer_size events per request (0: 16
 * per line; at most GPIO_V2_LINES_MAX * 16 = 1024; a kfifo, so rounded up to
 * a power of two), and a full queue drops its oldest event
 * (drivers/gpio/gpiolib-cdev.c, linereq_put_event: kfifo_skip). It is
 * sized when the request is made, also for edges switched on later by a
 * reconfigure. libgpiod clamps an edge event buffer to 1..1024 (0: 64).
 */
#include <gpiod.h>

#define FAKE_GPIOD_NAME "gpio_v2 (libgpiod 2.x)"

struct gpiod_chip {
	int dummy;
};

struct gpiod_chip_info {
	size_t num_lines;
};

struct gpiod_line_settings {
	enum gpiod_line_direction direction;
	enum gpiod_line_edge edge;
	enum gpiod_line_bias bias;
	enum gpiod_line_value value;
};

struct gpiod_line_config {
	size_t n;                       /* lines configured: 0 or 1 here */
	unsigned offset;
	struct gpiod_line_settings s;
};

struct gpiod_request_config {
	char consumer[32];
	size_t event_buffer_size;
};

struct gpiod_line_request {
	unsigned offset;
	size_t q_cap;
};

struct gpiod_edge_event {
	uint64_t ts;
};

struct gpiod_edge_event_buffer {
	size_t capacity, n;
	struct gpiod_edge_event *ev;
};

static void fake_setup(void)
{
	fake.drop_newest = false;
}

struct gpiod_chip *gpiod_chip_open(const char *path)
{
	struct gpiod_chip *c;

	if (fake_chip_open(path))
		return NULL;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	return c;
}

void gpiod_chip_close(struct gpiod_chip *chip)
{
	if (!chip)
		return;
	fake.chips_open--;
	free(chip);
}

struct gpiod_chip_info *gpiod_chip_get_info(struct gpiod_chip *chip)
{
	struct gpiod_chip_info *i;

	assert_non_null(chip);
	i = malloc(sizeof(*i));
	assert_non_null(i);
	i->num_lines = fake.num_lines;
	return i;
}

size_t gpiod_chip_info_get_num_lines(struct gpiod_chip_info *info)
{
	return info->num_lines;
}

void gpiod_chip_info_free(struct gpiod_chip_info *info)
{
	free(info);
}

struct gpiod_line_settings *gpiod_line_settings_new(void)
{
	struct gpiod_line_settings *s = malloc(sizeof(*s));

	assert_non_null(s);
	s->direction = GPIOD_LINE_DIRECTION_AS_IS;
	s->edge = GPIOD_LINE_EDGE_NONE;
	s->bias = GPIOD_LINE_BIAS_AS_IS;
	s->value = GPIOD_LINE_VALUE_INACTIVE;
	return s;
}

void gpiod_line_settings_free(struct gpiod_line_settings *settings)
{
	free(settings);
}

int gpiod_line_settings_set_direction(struct gpiod_line_settings *settings,
				      enum gpiod_line_direction direction)
{
	settings->direction = direction;
	return 0;
}

int gpiod_line_settings_set_edge_detection(struct gpiod_line_settings *settings,
					   enum gpiod_line_edge edge)
{
	settings->edge = edge;
	return 0;
}

int gpiod_line_settings_set_bias(struct gpiod_line_settings *settings, enum gpiod_line_bias bias)
{
	settings->bias = bias;
	return 0;
}

int gpiod_line_settings_set_output_value(struct gpiod_line_settings *settings,
					 enum gpiod_line_value value)
{
	settings->value = value;
	return 0;
}

struct gpiod_line_config *gpiod_line_config_new(void)
{
	struct gpiod_line_config *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	return c;
}

void gpiod_line_config_free(struct gpiod_line_config *config)
{
	/* libgpiod 2.x dereferences it: NULL would crash there too */
	assert_non_null(config);
	free(config);
}

int gpiod_line_config_add_line_settings(struct gpiod_line_config *config,
					const unsigned int *offsets, size_t num_offsets,
					struct gpiod_line_settings *settings)
{
	assert_int_equal(num_offsets, 1);
	assert_int_equal(config->n, 0);
	config->n = 1;
	config->offset = offsets[0];
	config->s = *settings;          /* libgpiod copies the settings */
	return 0;
}

struct gpiod_request_config *gpiod_request_config_new(void)
{
	struct gpiod_request_config *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	return c;
}

void gpiod_request_config_free(struct gpiod_request_config *config)
{
	free(config);
}

void gpiod_request_config_set_consumer(struct gpiod_request_config *config,
				       const char *consumer)
{
	snprintf(config->consumer, sizeof(config->consumer), "%s", consumer);
}

void gpiod_request_config_set_event_buffer_size(struct gpiod_request_config *config,
						size_t event_buffer_size)
{
	config->event_buffer_size = event_buffer_size;
}

/* Applies a line config to the line: the kernel's GPIO_V2_GET_LINE / SET_CONFIG. */
static int fake_v2_apply(const struct gpiod_line_config *cfg, size_t q_cap, bool was_output)
{
	assert_int_equal(cfg->n, 1);
	switch (cfg->s.direction) {
	case GPIOD_LINE_DIRECTION_OUTPUT:
		assert_int_equal(cfg->s.edge, GPIOD_LINE_EDGE_NONE);
		return fake_line_output(NULL, cfg->s.value == GPIOD_LINE_VALUE_ACTIVE);
	case GPIOD_LINE_DIRECTION_INPUT:
		assert_true(cfg->s.bias == GPIOD_LINE_BIAS_AS_IS ||
			    cfg->s.bias == GPIOD_LINE_BIAS_PULL_UP);
		return fake_line_input(was_output, cfg->s.edge == GPIOD_LINE_EDGE_BOTH,
				       cfg->s.bias == GPIOD_LINE_BIAS_PULL_UP, q_cap);
	default:
		fail_msg("a line request without a direction");
	}
	return -1;
}

struct gpiod_line_request *gpiod_chip_request_lines(struct gpiod_chip *chip,
						    struct gpiod_request_config *req_cfg,
						    struct gpiod_line_config *line_cfg)
{
	struct gpiod_line_request *r;
	size_t q_cap = 16, want;

	assert_non_null(chip);
	assert_non_null(line_cfg);
	if (fake.requested) {
		errno = EBUSY;
		return NULL;
	}
	fake.consumer[0] = '\0';
	if (req_cfg) {
		snprintf(fake.consumer, sizeof(fake.consumer), "%s", req_cfg->consumer);
		fake.buffer_requested = req_cfg->event_buffer_size;
		want = req_cfg->event_buffer_size;
		if (want > FAKE_QUEUE_MAX)
			want = FAKE_QUEUE_MAX;
		if (want)
			for (q_cap = 1; q_cap < want; q_cap *= 2)
				;
	}
	if (line_cfg->offset >= fake.num_lines) {
		errno = EINVAL;
		return NULL;
	}
	if (fake_v2_apply(line_cfg, q_cap, false))
		return NULL;
	r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->offset = line_cfg->offset;
	r->q_cap = q_cap;
	return r;
}

int gpiod_line_request_reconfigure_lines(struct gpiod_line_request *request,
					 struct gpiod_line_config *config)
{
	assert_non_null(request);
	assert_true(fake.requested);
	if (config->offset != request->offset) {
		errno = EINVAL;
		return -1;
	}
	if (config->s.direction == GPIOD_LINE_DIRECTION_OUTPUT) {
		fake.requested = false;         /* the same request, driven again */
		return fake_line_output(NULL, config->s.value == GPIOD_LINE_VALUE_ACTIVE);
	}
	return fake_v2_apply(config, request->q_cap, !fake.input);
}

void gpiod_line_request_release(struct gpiod_line_request *request)
{
	if (!request)
		return;
	fake_line_release();
	free(request);
}

int gpiod_line_request_wait_edge_events(struct gpiod_line_request *request, int64_t timeout_ns)
{
	assert_non_null(request);
	return fake_wait(timeout_ns);
}

struct gpiod_edge_event_buffer *gpiod_edge_event_buffer_new(size_t capacity)
{
	struct gpiod_edge_event_buffer *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	if (capacity == 0)
		capacity = 64;
	if (capacity > FAKE_QUEUE_MAX)
		capacity = FAKE_QUEUE_MAX;
	b->capacity = capacity;
	b->ev = calloc(capacity, sizeof(*b->ev));
	assert_non_null(b->ev);
	return b;
}

void gpiod_edge_event_buffer_free(struct gpiod_edge_event_buffer *buffer)
{
	if (!buffer)
		return;
	free(buffer->ev);
	free(buffer);
}

int gpiod_line_request_read_edge_events(struct gpiod_line_request *request,
					struct gpiod_edge_event_buffer *buffer, size_t max_events)
{
	uint64_t t[FAKE_QUEUE_MAX];
	int got;

	assert_non_null(request);
	assert_non_null(buffer);
	if (max_events > buffer->capacity)
		max_events = buffer->capacity;
	buffer->n = 0;
	got = fake_read(t, max_events);
	for (int i = 0; i < got; i++)
		buffer->ev[i].ts = t[i];
	if (got > 0)
		buffer->n = (size_t)got;
	return got;
}

struct gpiod_edge_event *gpiod_edge_event_buffer_get_event(struct gpiod_edge_event_buffer *buffer,
							   unsigned long index)
{
	if (index >= buffer->n) {
		errno = EINVAL;
		return NULL;
	}
	return &buffer->ev[index];
}

uint64_t gpiod_edge_event_get_timestamp_ns(struct gpiod_edge_event *event)
{
	assert_non_null(event);
	return event->ts;
}
