/*
 * influx.c - the InfluxDB output: line protocol over HTTP (docs/protocols.md E, F).
 *
 * Two APIs, chosen by the settings:
 *  - v1 (INFLUX_DB set): POST INFLUX_URL/write?db=..[&rp=..]&precision=ms,
 *    Basic auth when INFLUX_USERNAME is set (also InfluxDB 2's v1 API);
 *  - v2 (INFLUX_ORG + INFLUX_BUCKET): POST INFLUX_URL/api/v2/write?org=..
 *    &bucket=..&precision=ms with "Authorization: Token INFLUX_TOKEN".
 * Both send "Content-Type: text/plain; charset=utf-8", and gzip the body
 * with "Content-Encoding: gzip" unless INFLUX_GZIP=false. VictoriaMetrics
 * accepts either path.
 *
 * A unit is one line per reading; a batch is encoded once and sent as one
 * request, or in ranges of lines when the engine splits it. Readings the
 * encoder refuses are skipped and counted. The answer is classified by
 * sink_answer_http(); the engine (output.c) acts on it:
 *  - 2xx: done;
 *  - 5xx, 429, 408, network errors: retry the batch (Retry-After honoured);
 *  - 413: split the lines in halves and send each, down to single lines;
 *  - 400 and 422: bisect the same way to isolate the offending lines, which
 *    are dropped while the rest is delivered; a request budget per batch
 *    bounds the cost when every line fails (e.g. a bad org), after which
 *    the remaining ranges are dropped;
 *  - 401, 403, 404: a configuration error, logged as such; retried slowly
 *    (at least SINK_CONFIG_RETRY_MS) so nothing is lost while it is fixed;
 *  - any other 4xx: the lines are dropped.
 * Every line the server refused goes to the dead-letter file
 * STATE_DIR/deadletter-influx.lp (output.c): per line a comment
 *   # <UTC time, ISO 8601> status=<code> <server message, one line, <= 300 bytes>
 * then the line itself, so `grep -v '^#' file | curl --data-binary @- URL/write?..
 * &precision=ms` replays it.
 * If a part of a split batch must be retried, the whole batch is: lines
 * already written arrive again and merge (same series and timestamp, E7).
 * With dry_run nothing is sent: the request line and body go to stdout.
 */
#include "bridge/http.h"
#include "bridge/sinks/lineproto.h"
#include "bridge/sinks/sinks.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INFLUX_BODY_MAX (32u << 20)   /* below VictoriaMetrics' 64 MiB cap */

static const struct cfg_key influx_keys[] = {
	{ "INFLUX_URL", CFG_STR, NULL, 0, 0, "InfluxDB base URL, e.g. http://influxdb:8086" },
	{ "INFLUX_DB", CFG_STR, NULL, 0, 0, "v1 API: database (POST /write)" },
	{ "INFLUX_RP", CFG_STR, NULL, 0, 0, "v1 API: retention policy" },
	{ "INFLUX_USERNAME", CFG_STR, NULL, 0, 0, "v1 API: user" },
	{ "INFLUX_PASSWORD", CFG_SECRET, NULL, 0, 0, "v1 API: password" },
	{ "INFLUX_ORG", CFG_STR, NULL, 0, 0, "v2 API: organisation (POST /api/v2/write)" },
	{ "INFLUX_BUCKET", CFG_STR, NULL, 0, 0, "v2 API: bucket" },
	{ "INFLUX_TOKEN", CFG_SECRET, NULL, 0, 0, "v2 API: token (Authorization: Token)" },
	{ "INFLUX_MEASUREMENT", CFG_STR, "sensor", 0, 0, "measurement name" },
	{ "INFLUX_GZIP", CFG_BOOL, "true", 0, 0, "gzip request bodies" },
	{ .name = NULL },
};

struct influx {
	struct http_client *http;
	char *url;
	char *measurement;
	char *token_header;               /* v2 "Authorization: Token ..." */
	bool gzip;
	bool dry_run;
	struct lp_batch batch;            /* the encoded batch, one line per unit */
};

static void influx_destroy(void *sink)
{
	struct influx *s = sink;
	if (!s)
		return;
	http_client_free(s->http);
	free(s->url);
	free(s->measurement);
	if (s->token_header) {
		explicit_bzero(s->token_header, strlen(s->token_header));
		free(s->token_header);
	}
	lp_batch_release(&s->batch);
	free(s);
}

/* Appends "&name=escaped(value)" (or "?name=" first) to *url. */
static int add_query(char **url, const char *name, const char *value)
{
	char *esc = http_url_escape(value), *u;
	if (!esc)
		return -ENOMEM;
	int rc = asprintf(&u, "%s%c%s=%s", *url, strchr(*url, '?') ? '&' : '?', name, esc);
	free(esc);
	if (rc < 0)
		return -ENOMEM;
	free(*url);
	*url = u;
	return 0;
}

static int build_url(struct influx *s, const char *base, const char *db, const char *rp,
		     const char *org, const char *bucket)
{
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		bl--;
	if (asprintf(&s->url, "%.*s%s", (int)bl, base, db ? "/write" : "/api/v2/write") < 0) {
		s->url = NULL;
		return -ENOMEM;
	}
	int rc = 0;
	if (db) {
		rc = add_query(&s->url, "db", db);
		if (!rc && rp)
			rc = add_query(&s->url, "rp", rp);
	} else {
		rc = add_query(&s->url, "org", org);
		if (!rc)
			rc = add_query(&s->url, "bucket", bucket);
	}
	if (!rc)
		rc = add_query(&s->url, "precision", "ms");
	return rc;
}

/* The v1/v2 settings: one API, and its credentials. */
static int check_api(const char *db, const char *org, const char *bucket, const char *token,
		     char *err, size_t errlen)
{
	if (db && (org || bucket)) {
		snprintf(err, errlen, "set either INFLUX_DB (v1 API) or INFLUX_ORG and "
			 "INFLUX_BUCKET (v2 API), not both");
		return -1;
	}
	if (!db && !(org && bucket)) {
		snprintf(err, errlen, "set INFLUX_DB (v1 API) or INFLUX_ORG and INFLUX_BUCKET "
			 "(v2 API)");
		return -1;
	}
	if (db && token) {
		snprintf(err, errlen, "INFLUX_TOKEN is for the v2 API; with INFLUX_DB use "
			 "INFLUX_USERNAME and INFLUX_PASSWORD");
		return -1;
	}
	return 0;
}

static void *influx_create(const struct cfg *c, bool dry_run, char *err, size_t errlen)
{
	const char *base = sink_cfg_str(c, "INFLUX_URL", NULL);
	const char *db = sink_cfg_str(c, "INFLUX_DB", NULL);
	const char *rp = sink_cfg_str(c, "INFLUX_RP", NULL);
	const char *org = sink_cfg_str(c, "INFLUX_ORG", NULL);
	const char *bucket = sink_cfg_str(c, "INFLUX_BUCKET", NULL);
	const char *token = sink_cfg_str(c, "INFLUX_TOKEN", NULL);
	const char *user = sink_cfg_str(c, "INFLUX_USERNAME", NULL);

	if (sink_check_url("INFLUX_URL", base, err, errlen) < 0 ||
	    check_api(db, org, bucket, token, err, errlen) < 0)
		return NULL;

	struct influx *s = calloc(1, sizeof(*s));
	if (!s)
		goto err_oom;
	s->dry_run = dry_run;
	s->gzip = sink_cfg_bool(c, "INFLUX_GZIP", true);
	lp_batch_init(&s->batch, INFLUX_BODY_MAX);
	s->measurement = strdup(sink_cfg_str(c, "INFLUX_MEASUREMENT", "sensor"));
	if (!s->measurement || build_url(s, base, db, rp, org, bucket) < 0)
		goto err_destroy;
	if (token && asprintf(&s->token_header, "Authorization: Token %s", token) < 0) {
		s->token_header = NULL;
		goto err_destroy;
	}
	if (!dry_run) {
		struct http_opts o = {
			.timeout_ms = (long)sink_cfg_int(c, "HTTP_TIMEOUT_MS",
							 SINK_DEFAULT_TIMEOUT_MS),
			.ca_file = sink_cfg_str(c, "TLS_CA_FILE", NULL),
			.user_agent = SINK_USER_AGENT,
			.username = user,
			.password = sink_cfg_str(c, "INFLUX_PASSWORD", NULL),
		};
		s->http = http_client_new(&o);
		if (!s->http)
			goto err_destroy;
	}
	log_info("influx", "writing to %s (%s API%s)", s->url, db ? "v1" : "v2",
		 s->gzip ? ", gzip" : "");
	return s;

err_destroy:
	influx_destroy(s);
err_oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

/* Encodes the batch; rejected readings are counted in *dropped. */
static long influx_encode(void *sink, const struct reading *const *r, size_t n,
			  size_t *dropped)
{
	struct influx *s = sink;
	return lp_batch_encode(&s->batch, "influx", s->measurement, r, n, dropped);
}

static size_t influx_samples(void *sink, size_t k)
{
	struct influx *s = sink;
	return s->batch.samples[k];
}

static void influx_send(void *sink, size_t a, size_t b, struct sink_answer *ans)
{
	struct influx *s = sink;
	const char *body = s->batch.buf.data + s->batch.off[a];
	size_t len = s->batch.off[b] - s->batch.off[a];
	const char *headers[4];
	size_t nh = 0;
	void *gz = NULL;
	struct http_response resp;

	if (s->dry_run) {
		printf("# POST %s\n%.*s", s->url, (int)len, body);
		fflush(stdout);
		ans->kind = SINK_ANSWER_OK;
		return;
	}
	headers[nh++] = "Content-Type: text/plain; charset=utf-8";
	if (s->gzip) {
		size_t gl;
		if (http_gzip(body, len, &gz, &gl) < 0) {
			log_error("influx", "cannot compress the batch");
			ans->kind = SINK_ANSWER_RETRY;
			return;
		}
		body = gz;
		len = gl;
		headers[nh++] = "Content-Encoding: gzip";
	}
	if (s->token_header)
		headers[nh++] = s->token_header;
	headers[nh] = NULL;

	int rc = http_post(s->http, s->url, headers, body, len, &resp);
	free(gz);
	sink_answer_http(ans, rc, &resp, s->url, "the URL, database/bucket and credentials");
}

static char *influx_text(void *sink, size_t a, size_t b)
{
	struct influx *s = sink;
	size_t len = s->batch.off[b] - s->batch.off[a];
	char *t = malloc(len + 1);
	if (!t)
		return NULL;
	memcpy(t, s->batch.buf.data + s->batch.off[a], len);
	t[len] = '\0';
	return t;
}

const struct sink_ops influx_sink_ops = {
	.name = "influx",
	.config_map = influx_keys,
	.unit = "line",
	.deadletter = "deadletter-influx.lp",
	.create = influx_create,
	.encode = influx_encode,
	.samples = influx_samples,
	.send = influx_send,
	.text = influx_text,
	.destroy = influx_destroy,
};
