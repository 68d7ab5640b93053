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

#define STDOUT_BATCH_MAX (64u << 20)

struct stdout_sink {
	char *measurement;
	struct lp_batch batch;    /* the encoded batch, one line per unit */
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
	lp_batch_init(&s->batch, STDOUT_BATCH_MAX);
	return s;

err_free:
	free(s);
err_oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

static long stdout_encode(void *sink, const struct reading *const *r, size_t n,
			  size_t *dropped)
{
	struct stdout_sink *s = sink;
	return lp_batch_encode(&s->batch, "stdout", s->measurement, r, n, dropped);
}

static size_t stdout_samples(void *sink, size_t k)
{
	struct stdout_sink *s = sink;
	return s->batch.samples[k];
}

static void stdout_send(void *sink, size_t a, size_t b, struct sink_answer *ans)
{
	struct stdout_sink *s = sink;
	size_t len = s->batch.off[b] - s->batch.off[a];
	ans->kind = SINK_ANSWER_OK;
	if (fwrite(s->batch.buf.data + s->batch.off[a], 1, len, stdout) != len ||
	    fflush(stdout) != 0) {
		log_error("stdout", "cannot write: %s", strerror(errno));
		ans->kind = SINK_ANSWER_RETRY;
	}
}

static char *stdout_text(void *sink, size_t a, size_t b)
{
	struct stdout_sink *s = sink;
	return strndup(s->batch.buf.data + s->batch.off[a], s->batch.off[b] - s->batch.off[a]);
}

static void stdout_destroy(void *sink)
{
	struct stdout_sink *s = sink;
	if (!s)
		return;
	lp_batch_release(&s->batch);
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
