/*
 * stdout.c - the default output: each reading as one InfluxDB line
 * (measurement INFLUX_MEASUREMENT, default "sensor", precision ms) on
 * stdout, flushed once per batch. Handy with a pipe (`sensor-bridge | ...`)
 * and as a wiring check; readings the encoder refuses are counted as dropped.
 * Its only setting, INFLUX_MEASUREMENT, is the influx sink's.
 */
#include "bridge/sinks/lineproto.h"
#include "bridge/sinks/sinks.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STDOUT_LINE_MAX (1u << 20)

struct stdout_sink {
	char *measurement;
	struct lp_buf line;       /* one reading, bounded by STDOUT_LINE_MAX */
	char *text;               /* the batch's lines back to back */
	size_t len, cap;
	size_t *off;              /* off[k] = start of line k, off[m] = end */
	size_t *samples;
	size_t m, ocap;
};

static void *stdout_create(const struct cfg *c, bool dry_run, char *err, size_t errlen)
{
	(void)dry_run;   /* printing is what a dry run does anyway */
	struct stdout_sink *s = calloc(1, sizeof(*s));
	if (!s)
		goto err_oom;
	s->measurement = strdup(sink_cfg_str(c, "INFLUX_MEASUREMENT", "sensor"));
	if (!s->measurement)
		goto err_free;
	lp_buf_init(&s->line, STDOUT_LINE_MAX);
	return s;

err_free:
	free(s);
err_oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

static int reserve(struct stdout_sink *s, size_t n)
{
	if (n + 1 <= s->ocap)
		return 0;
	size_t *off = realloc(s->off, (n + 1) * sizeof(*off));
	if (!off)
		return -ENOMEM;
	s->off = off;
	size_t *sm = realloc(s->samples, (n + 1) * sizeof(*sm));
	if (!sm)
		return -ENOMEM;
	s->samples = sm;
	s->ocap = n + 1;
	return 0;
}

static int append(struct stdout_sink *s, const char *p, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *t = realloc(s->text, cap);
		if (!t)
			return -ENOMEM;
		s->text = t;
		s->cap = cap;
	}
	memcpy(s->text + s->len, p, n);
	s->len += n;
	s->text[s->len] = '\0';
	return 0;
}

static long stdout_encode(void *sink, const struct reading *const *r, size_t n,
			  size_t *dropped)
{
	struct stdout_sink *s = sink;
	char why[160];

	s->m = 0;
	s->len = 0;
	if (reserve(s, n) < 0)
		return -ENOMEM;
	s->off[0] = 0;
	for (size_t i = 0; i < n; i++) {
		lp_buf_clear(&s->line);
		int rc = lp_append_reading(&s->line, s->measurement, r[i], why, sizeof(why));
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0) {
			log_warn("stdout", "reading of '%s/%s' dropped: %s", r[i]->node,
				 r[i]->sensor, why);
			*dropped += r[i]->n_fields;
			continue;
		}
		if (append(s, s->line.data, s->line.len) < 0)
			return -ENOMEM;
		s->samples[s->m++] = r[i]->n_fields;
		s->off[s->m] = s->len;
	}
	return (long)s->m;
}

static size_t stdout_samples(void *sink, size_t k)
{
	struct stdout_sink *s = sink;
	return s->samples[k];
}

static void stdout_send(void *sink, size_t a, size_t b, struct sink_answer *ans)
{
	struct stdout_sink *s = sink;
	size_t len = s->off[b] - s->off[a];
	ans->kind = SINK_ANSWER_OK;
	if (fwrite(s->text + s->off[a], 1, len, stdout) != len || fflush(stdout) != 0) {
		log_error("stdout", "cannot write: %s", strerror(errno));
		ans->kind = SINK_ANSWER_RETRY;
	}
}

static char *stdout_text(void *sink, size_t a, size_t b)
{
	struct stdout_sink *s = sink;
	return strndup(s->text + s->off[a], s->off[b] - s->off[a]);
}

static void stdout_destroy(void *sink)
{
	struct stdout_sink *s = sink;
	if (!s)
		return;
	lp_buf_release(&s->line);
	free(s->text);
	free(s->off);
	free(s->samples);
	free(s->measurement);
	free(s);
}

const struct sink_ops stdout_sink_ops = {
	.name = "stdout",
	.config_map = NULL,
	.unit = "line",
	.deadletter = NULL,
	.create = stdout_create,
	.encode = stdout_encode,
	.samples = stdout_samples,
	.send = stdout_send,
	.text = stdout_text,
	.destroy = stdout_destroy,
};
