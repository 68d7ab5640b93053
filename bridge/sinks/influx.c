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
 * One batch is one request of one line per reading. Readings the encoder
 * refuses are skipped and counted. The answer decides (http_classify()):
 *  - 2xx: done;
 *  - 5xx, 429, 408, network errors: retry the batch (Retry-After honoured);
 *  - 413: split the lines in halves and send each, down to single lines;
 *  - 400 and 422: bisect the same way to isolate the offending lines, which
 *    are dropped (logged with the server's answer) while the rest is
 *    delivered; a request budget per batch bounds the cost when every line
 *    fails (e.g. a bad org), after which the remaining ranges are dropped;
 *  - 401, 403, 404: a configuration error, logged as such; retried slowly
 *    (at least SINK_CONFIG_RETRY_MS) so nothing is lost while it is fixed;
 *  - any other 4xx: the lines are dropped and logged.
 * Every line the server refused (any of the drops above) goes to the
 * dead-letter file STATE_DIR/deadletter-influx.lp (O_APPEND, one write and an
 * fdatasync per drop, as drops are rare): per line a comment
 *   # <UTC time, ISO 8601> status=<code> <server message, one line, <= 300 bytes>
 * then the line itself, so `grep -v '^#' file | curl --data-binary @- URL/write?..
 * &precision=ms` replays it. The file is bounded: past DEADLETTER_MAX bytes
 * nothing more is appended (logged once) until it is moved away or emptied;
 * nothing already in it is ever overwritten. Without STATE_DIR, or when the
 * file cannot be written, the refused line is logged (truncated) instead.
 * If a part of a split batch must be retried, the whole batch is: lines
 * already written arrive again and merge (same series and timestamp, E7).
 * With dry_run nothing is sent: the request line and body go to stdout.
 */
#include "bridge/http.h"
#include "bridge/sinks/lineproto.h"
#include "bridge/sinks/sinks.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INFLUX_BODY_MAX (32u << 20)   /* below VictoriaMetrics' 64 MiB cap */
#define INFLUX_BISECT_BUDGET 64       /* extra requests per batch for 400/422 */
#define DEADLETTER_NAME "deadletter-influx.lp"
#define DEADLETTER_MAX (64 << 20)     /* bytes; beyond it refused lines are only logged */
#define DEADLETTER_MSG_MAX 300        /* bytes of the server's message kept per line */
#define LOG_LINE_MAX 300              /* bytes of a refused line in a log message */

struct influx {
	struct http_client *http;
	char *url;
	char *measurement;
	char *token_header;               /* v2 "Authorization: Token ..." */
	char *dl_path;                    /* dead-letter file, NULL without STATE_DIR */
	bool dl_full;                     /* DEADLETTER_MAX reached (logged once) */
	bool gzip;
	bool dry_run;
	struct lp_buf buf;
	struct sink_stats stats;
};

/* One batch as encoded: accepted lines lie back to back in buf. */
struct batch {
	size_t *off;                      /* off[k] = start of line k, off[m] = end */
	size_t *samples;                  /* fields in line k */
	size_t m;
	size_t sent;                      /* samples delivered */
	size_t dropped;                   /* samples dropped */
	int budget;                       /* bisection requests left */
	int retry_after_ms;
	char *reason;                     /* why a range is to be retried */
	size_t reason_len;
};

enum range_result {
	RANGE_SENT,
	RANGE_DROPPED,                    /* some or all lines dropped, none to retry */
	RANGE_RETRY,
};

static void influx_destroy(void *sink)
{
	struct influx *s = sink;
	if (!s)
		return;
	http_client_free(s->http);
	free(s->url);
	free(s->measurement);
	free(s->dl_path);
	if (s->token_header) {
		explicit_bzero(s->token_header, strlen(s->token_header));
		free(s->token_header);
	}
	lp_buf_release(&s->buf);
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

static void *influx_create(const struct cfg *c, bool dry_run, char *err, size_t errlen)
{
	const char *base = sink_cfg_str(c, "INFLUX_URL", NULL);
	const char *db = sink_cfg_str(c, "INFLUX_DB", NULL);
	const char *rp = sink_cfg_str(c, "INFLUX_RP", NULL);
	const char *org = sink_cfg_str(c, "INFLUX_ORG", NULL);
	const char *bucket = sink_cfg_str(c, "INFLUX_BUCKET", NULL);
	const char *token = sink_cfg_str(c, "INFLUX_TOKEN", NULL);
	const char *user = sink_cfg_str(c, "INFLUX_USERNAME", NULL);
	const char *state_dir = sink_cfg_str(c, "STATE_DIR", NULL);

	if (!base) {
		snprintf(err, errlen, "INFLUX_URL is not set");
		return NULL;
	}
	if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
		snprintf(err, errlen, "INFLUX_URL: '%s' is not an http:// or https:// URL", base);
		return NULL;
	}
	if (db && (org || bucket)) {
		snprintf(err, errlen, "set either INFLUX_DB (v1 API) or INFLUX_ORG and "
			 "INFLUX_BUCKET (v2 API), not both");
		return NULL;
	}
	if (!db && !(org && bucket)) {
		snprintf(err, errlen, "set INFLUX_DB (v1 API) or INFLUX_ORG and INFLUX_BUCKET "
			 "(v2 API)");
		return NULL;
	}
	if (db && token) {
		snprintf(err, errlen, "INFLUX_TOKEN is for the v2 API; with INFLUX_DB use "
			 "INFLUX_USERNAME and INFLUX_PASSWORD");
		return NULL;
	}

	struct influx *s = calloc(1, sizeof(*s));
	if (!s)
		goto err_oom;
	s->dry_run = dry_run;
	s->gzip = sink_cfg_bool(c, "INFLUX_GZIP", true);
	lp_buf_init(&s->buf, INFLUX_BODY_MAX);
	s->measurement = strdup(sink_cfg_str(c, "INFLUX_MEASUREMENT", "sensor"));
	if (!s->measurement || build_url(s, base, db, rp, org, bucket) < 0)
		goto err_destroy;
	if (token && asprintf(&s->token_header, "Authorization: Token %s", token) < 0) {
		s->token_header = NULL;
		goto err_destroy;
	}
	if (state_dir && *state_dir &&
	    asprintf(&s->dl_path, "%s/" DEADLETTER_NAME, state_dir) < 0) {
		s->dl_path = NULL;
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

static size_t samples_in(const struct batch *bt, size_t a, size_t b)
{
	size_t n = 0;
	for (size_t k = a; k < b; k++)
		n += bt->samples[k];
	return n;
}

/* The server's message as one line of at most DEADLETTER_MSG_MAX bytes. */
static void one_line(char *out, size_t outlen, const char *msg)
{
	size_t n = strnlen(msg, outlen - 1);
	if (n > DEADLETTER_MSG_MAX)
		n = DEADLETTER_MSG_MAX;
	if (msg[n])   /* truncated: do not cut a UTF-8 sequence */
		while (n && ((unsigned char)msg[n] & 0xc0) == 0x80)
			n--;
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f ? ' ' : msg[i];
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	if (!n)
		snprintf(out, outlen, "(no message)");
}

/*
 * Appends lines [a, b) with their comment to the dead-letter file in one
 * write. Returns 0, or -1 when they are not in it (already logged why).
 */
static int deadletter(struct influx *s, struct batch *bt, size_t a, size_t b, long status,
		      const char *msg)
{
	char when[32], head[DEADLETTER_MSG_MAX + 96];
	struct timespec now;
	struct tm tm;
	struct stat st;
	char *rec = NULL;
	size_t len = 0;
	int ret = -1;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	int hl = snprintf(head, sizeof(head), "# %s.%03ldZ status=%ld %s\n", when,
			  now.tv_nsec / 1000000, status, msg);
	if (hl < 0 || (size_t)hl >= sizeof(head))
		return -1;

	int fd = open(s->dl_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		log_error("influx", "cannot open '%s': %s", s->dl_path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		log_error("influx", "cannot stat '%s': %s", s->dl_path, strerror(errno));
		goto out_close;
	}
	size_t body = bt->off[b] - bt->off[a];
	if (st.st_size + (off_t)((b - a) * (size_t)hl + body) > DEADLETTER_MAX) {
		if (!s->dl_full)
			log_error("influx", "'%s' holds %lld bytes, the limit is %d: refused "
				  "lines are only logged until it is moved away", s->dl_path,
				  (long long)st.st_size, DEADLETTER_MAX);
		s->dl_full = true;
		goto out_close;
	}
	s->dl_full = false;
	rec = malloc((b - a) * (size_t)hl + body);
	if (!rec) {
		log_error("influx", "out of memory writing '%s'", s->dl_path);
		goto out_close;
	}
	for (size_t k = a; k < b; k++) {
		size_t ll = bt->off[k + 1] - bt->off[k];
		memcpy(rec + len, head, (size_t)hl);
		len += (size_t)hl;
		memcpy(rec + len, s->buf.data + bt->off[k], ll);
		len += ll;
	}
	ssize_t w = write(fd, rec, len);
	if (w != (ssize_t)len) {
		log_error("influx", "cannot write '%s': %s", s->dl_path,
			  w < 0 ? strerror(errno) : "short write");
		goto out_free;
	}
	if (fdatasync(fd) < 0) {
		log_error("influx", "cannot sync '%s': %s", s->dl_path, strerror(errno));
		goto out_free;
	}
	ret = 0;
out_free:
	free(rec);
out_close:
	close(fd);
	return ret;
}

/* Drops lines [a, b): counted, kept in the dead-letter file or else logged. */
static void drop_range(struct influx *s, struct batch *bt, size_t a, size_t b, long status,
		       const char *body)
{
	char msg[DEADLETTER_MSG_MAX + 16];
	size_t n = samples_in(bt, a, b);
	bt->dropped += n;
	s->stats.dropped_samples += n;

	one_line(msg, sizeof(msg), body);
	bool kept = s->dl_path && deadletter(s, bt, a, b, status, msg) == 0;
	if (kept && b - a == 1) {
		log_error("influx", "line refused (status %ld: %s); kept in %s", status, msg,
			  s->dl_path);
	} else if (kept) {
		log_error("influx", "%zu lines refused (status %ld: %s); kept in %s", b - a,
			  status, msg, s->dl_path);
	} else if (b - a == 1) {
		size_t ll = bt->off[a + 1] - bt->off[a] - 1;
		log_error("influx", "line dropped (status %ld: %s): %.*s%s", status, msg,
			  (int)(ll > LOG_LINE_MAX ? LOG_LINE_MAX : ll), s->buf.data + bt->off[a],
			  ll > LOG_LINE_MAX ? "..." : "");
	} else {
		log_error("influx", "%zu lines dropped (status %ld: %s)", b - a, status, msg);
	}
}

static enum range_result post_range(struct influx *s, struct batch *bt, size_t a, size_t b);

/* Sends [a, mid) and [mid, b); stops at the first half that must be retried. */
static enum range_result split_range(struct influx *s, struct batch *bt, size_t a, size_t b)
{
	size_t mid = a + (b - a) / 2;
	enum range_result r1 = post_range(s, bt, a, mid);
	if (r1 == RANGE_RETRY)
		return r1;
	enum range_result r2 = post_range(s, bt, mid, b);
	if (r2 == RANGE_RETRY)
		return r2;
	return r1 == RANGE_SENT && r2 == RANGE_SENT ? RANGE_SENT : RANGE_DROPPED;
}

static enum range_result post_range(struct influx *s, struct batch *bt, size_t a, size_t b)
{
	const char *body = s->buf.data + bt->off[a];
	size_t len = bt->off[b] - bt->off[a];
	const char *headers[4];
	size_t nh = 0;
	void *gz = NULL;
	struct http_response resp;

	headers[nh++] = "Content-Type: text/plain; charset=utf-8";
	if (s->gzip) {
		size_t gl;
		if (http_gzip(body, len, &gz, &gl) < 0) {
			log_error("influx", "cannot compress the batch");
			return RANGE_RETRY;
		}
		body = gz;
		len = gl;
		headers[nh++] = "Content-Encoding: gzip";
	}
	if (s->token_header)
		headers[nh++] = s->token_header;
	headers[nh] = NULL;

	s->stats.requests++;
	int rc = http_post(s->http, s->url, headers, body, len, &resp);
	free(gz);
	if (rc < 0) {
		sink_reason(bt->reason, bt->reason_len, "cannot reach '%s': %s", s->url, resp.error);
		return RANGE_RETRY;
	}

	switch (http_classify(resp.status)) {
	case HTTP_OK:
		bt->sent += samples_in(bt, a, b);
		return RANGE_SENT;
	case HTTP_RETRY:
		sink_reason(bt->reason, bt->reason_len, "status %ld%s%s", resp.status,
			    resp.body[0] ? ": " : "", resp.body);
		bt->retry_after_ms = resp.retry_after_ms;
		return RANGE_RETRY;
	case HTTP_TOO_LARGE:
		if (b - a > 1) {
			log_info("influx", "status 413 for %zu lines: sending them in halves",
				 b - a);
			return split_range(s, bt, a, b);
		}
		drop_range(s, bt, a, b, resp.status, "line too large for the server");
		return RANGE_DROPPED;
	case HTTP_DROP:
		break;
	}

	if (resp.status == 401 || resp.status == 403 || resp.status == 404) {
		log_error("influx", "configuration: status %ld from '%s' (check the URL, "
			  "database/bucket and credentials): %s", resp.status, s->url, resp.body);
		bt->retry_after_ms = resp.retry_after_ms > SINK_CONFIG_RETRY_MS ?
				     resp.retry_after_ms : SINK_CONFIG_RETRY_MS;
		return RANGE_RETRY;
	}
	if ((resp.status == 400 || resp.status == 422) && b - a > 1 && bt->budget >= 2) {
		bt->budget -= 2;
		log_debug("influx", "status %ld for %zu lines: bisecting", resp.status, b - a);
		return split_range(s, bt, a, b);
	}
	drop_range(s, bt, a, b, resp.status, resp.body);
	return RANGE_DROPPED;
}

/* Encodes the batch into s->buf; rejected readings are counted in bt. */
static int encode(struct influx *s, const struct reading *const *r, size_t n,
		  struct batch *bt)
{
	char why[160];

	bt->off = malloc((n + 1) * sizeof(*bt->off));
	bt->samples = malloc((n ? n : 1) * sizeof(*bt->samples));
	if (!bt->off || !bt->samples)
		return -ENOMEM;
	lp_buf_clear(&s->buf);
	bt->off[0] = 0;
	for (size_t i = 0; i < n; i++) {
		int rc = lp_append_reading(&s->buf, s->measurement, r[i], why, sizeof(why));
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0) {
			log_warn("influx", "reading of '%s/%s' dropped: %s", r[i]->node,
				 r[i]->sensor, why);
			bt->dropped += r[i]->n_fields;
			s->stats.dropped_samples += r[i]->n_fields;
			continue;
		}
		bt->samples[bt->m++] = r[i]->n_fields;
		bt->off[bt->m] = s->buf.len;
	}
	return 0;
}

static void influx_send(void *sink, const struct reading *const *r, size_t n,
			struct sink_result *res)
{
	struct influx *s = sink;
	struct batch bt = { .budget = INFLUX_BISECT_BUDGET, .retry_after_ms = -1,
			    .reason = res->reason, .reason_len = sizeof(res->reason) };
	enum range_result rr = RANGE_SENT;

	res->verdict = SINK_OK;
	res->retry_after_ms = -1;
	res->dropped = 0;
	res->reason[0] = '\0';

	if (encode(s, r, n, &bt) < 0) {
		log_error("influx", "out of memory encoding %zu readings", n);
		res->verdict = SINK_RETRY;
		goto out_free;
	}
	if (bt.m == 0) {
		res->verdict = n ? SINK_DROP : SINK_OK;
		res->dropped = bt.dropped;
		goto out_free;
	}
	if (s->dry_run) {
		printf("# POST %s\n%s", s->url, s->buf.data);
		fflush(stdout);
		bt.sent = samples_in(&bt, 0, bt.m);
	} else {
		rr = post_range(s, &bt, 0, bt.m);
	}

	if (rr == RANGE_RETRY) {
		s->stats.retries++;
		res->verdict = SINK_RETRY;
		res->retry_after_ms = bt.retry_after_ms;
		goto out_free;
	}
	s->stats.sent_samples += bt.sent;
	res->dropped = bt.dropped;
	res->verdict = bt.sent ? SINK_OK : SINK_DROP;

out_free:
	free(bt.off);
	free(bt.samples);
}

const struct sink_ops influx_sink_ops = {
	.name = "influx",
	.create = influx_create,
	.send = influx_send,
	.destroy = influx_destroy,
};
