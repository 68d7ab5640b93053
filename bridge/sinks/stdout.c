/*
 * stdout.c - the default output: each reading as one InfluxDB line
 * (measurement INFLUX_MEASUREMENT, default "sensor", precision ms) on
 * stdout, flushed once per batch. Handy with a pipe (`sensor-bridge | ...`)
 * and as a wiring check; readings the encoder refuses are counted as dropped.
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
	struct lp_buf buf;
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
	lp_buf_init(&s->buf, STDOUT_LINE_MAX);
	return s;

err_free:
	free(s);
err_oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

static void stdout_send(void *sink, const struct reading *const *r, size_t n,
			struct sink_result *res)
{
	struct stdout_sink *s = sink;
	char why[160];

	res->verdict = SINK_OK;
	res->retry_after_ms = -1;
	res->dropped = 0;
	for (size_t i = 0; i < n; i++) {
		lp_buf_clear(&s->buf);
		int rc = lp_append_reading(&s->buf, s->measurement, r[i], why, sizeof(why));
		if (rc < 0) {
			log_warn("stdout", "reading of '%s/%s' dropped: %s", r[i]->node,
				 r[i]->sensor, why);
			res->dropped += r[i]->n_fields;
			continue;
		}
		if (fwrite(s->buf.data, 1, s->buf.len, stdout) != s->buf.len) {
			log_error("stdout", "cannot write: %s", strerror(errno));
			res->verdict = SINK_RETRY;
			res->dropped = 0;
			return;
		}
	}
	if (fflush(stdout) != 0) {
		log_error("stdout", "cannot write: %s", strerror(errno));
		res->verdict = SINK_RETRY;
		res->dropped = 0;
	}
}

static void stdout_destroy(void *sink)
{
	struct stdout_sink *s = sink;
	if (!s)
		return;
	lp_buf_release(&s->buf);
	free(s->measurement);
	free(s);
}

const struct sink_ops stdout_sink_ops = {
	.name = "stdout",
	.create = stdout_create,
	.send = stdout_send,
	.destroy = stdout_destroy,
};
