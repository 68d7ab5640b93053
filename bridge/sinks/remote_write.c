/*
 * remote_write.c - the Prometheus remote-write 1.0 output (docs/protocols.md#remote-write):
 * POST REMOTE_WRITE_URL with a snappy-compressed protobuf WriteRequest and
 * the four reserved headers (A2), bearer or basic auth, and any extra headers
 * from REMOTE_WRITE_HEADERS.
 *
 * REMOTE_WRITE_HEADERS holds "Name: value" entries separated by ';' or a
 * newline (so a value cannot contain ';'), e.g.
 *   REMOTE_WRITE_HEADERS="X-Scope-OrgID: team1; X-Extra: 1"
 * The reserved names (Content-Encoding, Content-Type,
 * X-Prometheus-Remote-Write-Version, User-Agent, and Content-Length,
 * Transfer-Encoding, Host) are refused at start-up.
 *
 * Ordering (A9): one out-of-order sample makes Prometheus reject the whole
 * request, so the sink remembers, per series, the timestamp it last
 * delivered. A sample at that very timestamp (or at that of an earlier
 * sample of the same series in the same batch) is the same reading again
 * and is skipped. An older one, with REMOTE_WRITE_OUT_OF_ORDER=skip, is
 * skipped too and counted as out of order; with =send it is sent, for a
 * receiver with an out-of-order window (VictoriaMetrics; Prometheus with
 * out_of_order_time_window, as config/prometheus.yml sets). The default,
 * auto, is send in a share group (MQTT_SHARE_GROUP: the replicas, and the
 * adoption of a dead one's session, hand a series' samples over out of
 * order, docs/deploy.md) and skip otherwise.
 * The remembered timestamp moves only after a 2xx. The table holds at most
 * REMOTE_WRITE_MAX_SERIES series; the least recently written one is
 * forgotten first (it then accepts any timestamp again).
 *
 * Each series keeps its labels encoded as protobuf (rw_labels_encode()), and
 * is found from a reading by the raw material of its labels (field name,
 * node, sensor, tags) before any naming rule is applied: a sample is a hash
 * lookup and a copy of those bytes. Label sets are built and sanitised only
 * for a series not seen before. Its encoded labels are its identity, so two
 * readings whose labels end up the same after the naming rules share one
 * series (the second is just not found by the quick lookup).
 *
 * node_offline() sends a staleness marker (A10) for every remembered series
 * of that node, 1 ms after the last sample delivered for that series (not
 * at the time the status arrived: a node whose link died silently is
 * declared offline by its Will 1.5 x keepalive later, and the readings its
 * outbox replays afterwards were taken in between; each is newer than the
 * marker, so Prometheus takes them in order, without an out-of-order
 * window), once per offline event. It runs on the same thread as send().
 *
 * A unit is one sample. Answers (sink_answer_http(), acted on by the engine,
 * output.c): 2xx done; 5xx/429/408 and network errors retry (Retry-After
 * honoured); 401/403/404 are logged as a configuration error and retried
 * slowly. 400, 413 and 422 split the batch in halves, down to single
 * samples, to isolate what the receiver refuses (Prometheus rolls back the
 * whole request for one sample out of bounds, out of order or a duplicate):
 * 413 is classified SINK_ERR_SPLIT here, so it shares the request budget per
 * batch of 400 and 422, after which the ranges still refused are dropped.
 * Before sending, the samples of a batch are grouped by series (each series
 * keeps its time order), so one bad series is one contiguous range. Any
 * other 4xx drops the batch. If a part of a split batch must be retried the
 * whole batch is: parts already written arrive again as the same samples,
 * which Prometheus and VictoriaMetrics take as duplicates. Every refused
 * sample goes to the dead-letter file STATE_DIR/deadletter-remote_write.prom
 * (output.c): per sample a comment
 *   # <UTC time, ISO 8601> status=<code> <server message, one line, <= 300 bytes>
 * then the sample in the Prometheus text format with its ms timestamp,
 *   sensor_temperature_celsius{node="rp3",sensor="desk"} 21.4 1732276800123
 * which VictoriaMetrics' /api/v1/import/prometheus takes as it is.
 * With dry_run nothing is sent: the decoded series are printed to stdout.
 */
#include "bridge/http.h"
#include "bridge/sinks/rw_encode.h"
#include "bridge/bytes.h"
#include "bridge/sinks/sinks.h"
#include "common/log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REMOTE_WRITE_MAX_SERIES 100000
#define SERIES_BUCKETS_MIN 1024      /* power of two; doubles as series come */

static const struct cfg_key rw_keys[] = {
	{ "REMOTE_WRITE_URL", CFG_STR, NULL, 0, 0,
	  "receiver URL, e.g. http://prometheus:9090/api/v1/write" },
	{ "REMOTE_WRITE_BEARER_TOKEN", CFG_SECRET, NULL, 0, 0, "bearer token" },
	{ "REMOTE_WRITE_USERNAME", CFG_STR, NULL, 0, 0, "basic auth user" },
	{ "REMOTE_WRITE_PASSWORD", CFG_SECRET, NULL, 0, 0, "basic auth password" },
	{ "REMOTE_WRITE_HEADERS", CFG_STR, NULL, 0, 0,
	  "extra headers 'Name: value', separated by ';' (e.g. X-Scope-OrgID: team1)" },
	{ "METRIC_PREFIX", CFG_STR, "sensor_", 0, 0, "prefix of every metric name" },
	{ "REMOTE_WRITE_OUT_OF_ORDER", CFG_STR, "auto", 0, 0,
	  "a sample older than the last one sent for its series: skip (counted as dropped), "
	  "send (the receiver has an out-of-order window), or auto (send with "
	  "MQTT_SHARE_GROUP, else skip)" },
	{ .name = NULL },
};

struct series {
	struct series *lnext;             /* chain in the by-labels table */
	struct series *rnext;             /* chain in the by-reading table */
	struct series *prev, *next;       /* LRU list, most recent first */
	uint64_t lhash, rhash;
	int64_t last_sent;                /* 0 = nothing delivered yet */
	int64_t pending;                  /* newest sample in the request being sent */
	uint64_t pending_gen;             /* pending is valid when == rw->gen */
	size_t order;                     /* first sample of it in this batch (with pending_gen) */
	size_t batch_n;                   /* its samples in this batch (with pending_gen) */
	size_t slot;                      /* where its next sample goes (group_samples) */
	bool stale;                       /* a staleness marker was delivered last */
	const char *node;                 /* in raw */
	size_t labels_len, raw_len;
	unsigned char *labels;            /* rw_labels_encode() bytes, after the struct */
	char *raw;                        /* reading_key() of the reading that made it */
};

struct remote_write {
	struct http_client *http;
	char *url;
	bool dry_run;
	struct rw_request *req;
	char *prefix;
	struct series **by_labels;
	struct series **by_reading;
	size_t n_buckets;            /* power of two, >= n_series */
	struct series *head, *tail;
	size_t n_series;
	size_t max_series;
	uint64_t gen;
	bool send_older;             /* REMOTE_WRITE_OUT_OF_ORDER: send */
	struct sample *samples;      /* the batch being sent */
	struct sample *spare;        /* as many again: group_samples() sorts into it */
	size_t n_samples, cap_samples;
};

/* One sample of the batch being sent. */
struct sample {
	struct series *s;
	double value;
	int64_t ts;
	bool ok;                     /* its range got a 2xx */
};

/*
 * Field i of r as the raw key of its series: field name, node, sensor, then
 * each tag's key and value, each followed by a NUL (no string holds one, so
 * the key is unambiguous). Writes at most cap bytes; returns the length.
 */
static size_t reading_key(const struct reading *r, size_t i, char *out, size_t cap)
{
	const char *parts[3 + 2 * READING_MAX_TAGS];
	size_t n = 0, len = 0;
	parts[n++] = r->fields[i].name;
	parts[n++] = r->node;
	parts[n++] = r->sensor;
	for (size_t t = 0; t < r->n_tags && t < READING_MAX_TAGS; t++) {
		parts[n++] = r->tags[t].key ? r->tags[t].key : "";
		parts[n++] = r->tags[t].value ? r->tags[t].value : "";
	}
	for (size_t k = 0; k < n; k++) {
		size_t l = strlen(parts[k]) + 1;
		if (len + l <= cap)
			memcpy(out + len, parts[k], l);
		len += l;
	}
	return len;
}

/* Doubles the tables once there are more series than buckets: a thousand
 * sensors cost 32 KiB of buckets, not tables sized for the 100k cap. */
static void buckets_grow(struct remote_write *w)
{
	if (w->n_series < w->n_buckets)
		return;
	size_t n = w->n_buckets * 2;
	struct series **nl = calloc(n, sizeof(*nl)), **nr = calloc(n, sizeof(*nr));
	if (!nl || !nr) {
		free(nl);
		free(nr);
		return; /* longer chains, still correct */
	}
	for (struct series *s = w->head; s; s = s->next) {
		size_t b = s->lhash & (n - 1);
		s->lnext = nl[b];
		nl[b] = s;
		b = s->rhash & (n - 1);
		s->rnext = nr[b];
		nr[b] = s;
	}
	free(w->by_labels);
	free(w->by_reading);
	w->by_labels = nl;
	w->by_reading = nr;
	w->n_buckets = n;
}

static void lru_unlink(struct remote_write *w, struct series *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		w->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		w->tail = s->prev;
	s->prev = s->next = NULL;
}

static void lru_push_front(struct remote_write *w, struct series *s)
{
	s->prev = NULL;
	s->next = w->head;
	if (w->head)
		w->head->prev = s;
	w->head = s;
	if (!w->tail)
		w->tail = s;
}

static struct series *find_by_reading(struct remote_write *w, const char *key, size_t len,
				      uint64_t h)
{
	for (struct series *s = w->by_reading[h & (w->n_buckets - 1)]; s; s = s->rnext)
		if (s->rhash == h && s->raw_len == len && memcmp(s->raw, key, len) == 0)
			return s;
	return NULL;
}

static struct series *find_by_labels(struct remote_write *w, const void *labels, size_t len,
				     uint64_t h)
{
	for (struct series *s = w->by_labels[h & (w->n_buckets - 1)]; s; s = s->lnext)
		if (s->lhash == h && s->labels_len == len && memcmp(s->labels, labels, len) == 0)
			return s;
	return NULL;
}

static void series_remove(struct remote_write *w, struct series *s)
{
	struct series **pp = &w->by_labels[s->lhash & (w->n_buckets - 1)];
	while (*pp != s)
		pp = &(*pp)->lnext;
	*pp = s->lnext;
	pp = &w->by_reading[s->rhash & (w->n_buckets - 1)];
	while (*pp != s)
		pp = &(*pp)->rnext;
	*pp = s->rnext;
	lru_unlink(w, s);
	w->n_series--;
	free(s);
}

/* Forgets the least recently written series beyond the cap, never one in flight. */
static void series_evict(struct remote_write *w)
{
	while (w->n_series > w->max_series && w->tail && w->tail->pending_gen != w->gen)
		series_remove(w, w->tail);
}

/* A new series: one block holding the struct, its encoded labels and its raw key. */
static struct series *series_add(struct remote_write *w, const void *labels, size_t labels_len,
				 uint64_t lhash, const char *raw, size_t raw_len, uint64_t rhash)
{
	struct series *s = calloc(1, sizeof(*s) + labels_len + raw_len);
	if (!s)
		return NULL;
	s->labels = (unsigned char *)(s + 1);
	s->labels_len = labels_len;
	memcpy(s->labels, labels, labels_len);
	s->raw = (char *)s->labels + labels_len;
	s->raw_len = raw_len;
	memcpy(s->raw, raw, raw_len);
	s->node = s->raw + strlen(s->raw) + 1;   /* the second string: node */
	s->lhash = lhash;
	s->rhash = rhash;
	size_t b = lhash & (w->n_buckets - 1);
	s->lnext = w->by_labels[b];
	w->by_labels[b] = s;
	b = rhash & (w->n_buckets - 1);
	s->rnext = w->by_reading[b];
	w->by_reading[b] = s;
	lru_push_front(w, s);
	w->n_series++;
	series_evict(w);
	buckets_grow(w);
	return s;
}

/*
 * The series of field i of r (raw key key, len bytes, hash h) when it is not
 * in the quick table: builds its labels with the naming rules. NULL with
 * *rc -EINVAL when the reading has no valid series for it, -ENOMEM.
 */
static struct series *series_for(struct remote_write *w, const struct reading *r, size_t i,
				 const char *key, size_t len, uint64_t h, int *rc)
{
	struct rw_labels ls;
	*rc = rw_labels_for_field(&ls, w->prefix, r, i, NULL);
	if (*rc < 0)
		return NULL;
	size_t elen = rw_labels_encoded_len(&ls);
	unsigned char *enc = malloc(elen ? elen : 1);
	if (!enc) {
		rw_labels_release(&ls);
		*rc = -ENOMEM;
		return NULL;
	}
	rw_labels_encode(&ls, enc);
	rw_labels_release(&ls);
	uint64_t lh = hash_bytes(enc, elen);
	struct series *s = find_by_labels(w, enc, elen, lh);
	if (!s && !(s = series_add(w, enc, elen, lh, key, len, h)))
		*rc = -ENOMEM;
	free(enc);
	return s;
}

static void rw_destroy(void *sink)
{
	struct remote_write *w = sink;
	if (!w)
		return;
	while (w->head)
		series_remove(w, w->head);
	free(w->by_labels);
	free(w->by_reading);
	rw_request_free(w->req);
	http_client_free(w->http);
	free(w->url);
	free(w->prefix);
	free(w->samples);
	free(w->spare);
	free(w);
}

/* Adds every "Name: value" of REMOTE_WRITE_HEADERS to the client. */
static int add_user_headers(struct http_client *h, const char *spec, char *err, size_t errlen)
{
	char *copy = strdup(spec), *save = NULL;
	int rc = 0;
	if (!copy)
		return -ENOMEM;
	for (char *item = strtok_r(copy, ";\n", &save); item && !rc;
	     item = strtok_r(NULL, ";\n", &save)) {
		while (*item == ' ' || *item == '\t')
			item++;
		size_t n = strlen(item);
		while (n && (item[n - 1] == ' ' || item[n - 1] == '\t' || item[n - 1] == '\r'))
			item[--n] = '\0';
		if (!*item)
			continue;
		const char *colon = strchr(item, ':');
		if (colon && http_header_is_reserved(item, (size_t)(colon - item))) {
			snprintf(err, errlen, "REMOTE_WRITE_HEADERS: '%.*s' is reserved and cannot "
				 "be set", (int)(colon - item), item);
			rc = -EINVAL;
		} else if ((rc = http_client_add_header(h, item)) == -EINVAL) {
			snprintf(err, errlen, "REMOTE_WRITE_HEADERS: '%s' is not \"Name: value\"",
				 item);
		} else if (rc < 0) {
			snprintf(err, errlen, "out of memory");
		}
	}
	free(copy);
	return rc;
}

static void *rw_create(const struct cfg *c, bool dry_run, char *err, size_t errlen)
{
	const char *url = sink_cfg_str(c, "REMOTE_WRITE_URL", NULL);
	const char *bearer = sink_cfg_str(c, "REMOTE_WRITE_BEARER_TOKEN", NULL);
	const char *user = sink_cfg_str(c, "REMOTE_WRITE_USERNAME", NULL);
	const char *pass = sink_cfg_str(c, "REMOTE_WRITE_PASSWORD", NULL);
	const char *headers = sink_cfg_str(c, "REMOTE_WRITE_HEADERS", NULL);

	const char *ooo = sink_cfg_str(c, "REMOTE_WRITE_OUT_OF_ORDER", "auto");
	const char *group = sink_cfg_str(c, "MQTT_SHARE_GROUP", "");

	if (sink_check_url("REMOTE_WRITE_URL", url, err, errlen) < 0)
		return NULL;
	if (strcmp(ooo, "skip") != 0 && strcmp(ooo, "send") != 0 && strcmp(ooo, "auto") != 0) {
		snprintf(err, errlen, "REMOTE_WRITE_OUT_OF_ORDER: '%s' is not skip, send or auto", ooo);
		return NULL;
	}
	if (bearer && (user || pass)) {
		snprintf(err, errlen, "set REMOTE_WRITE_BEARER_TOKEN or REMOTE_WRITE_USERNAME/"
			 "REMOTE_WRITE_PASSWORD, not both");
		return NULL;
	}
	if (pass && !user) {
		snprintf(err, errlen, "REMOTE_WRITE_PASSWORD is set without REMOTE_WRITE_USERNAME");
		return NULL;
	}

	struct remote_write *w = calloc(1, sizeof(*w));
	if (!w)
		goto err_oom;
	w->dry_run = dry_run;
	w->send_older = strcmp(ooo, "send") == 0 || (strcmp(ooo, "auto") == 0 && group && *group);
	w->max_series = REMOTE_WRITE_MAX_SERIES;
	w->url = strdup(url);
	w->prefix = strdup(sink_cfg_str(c, "METRIC_PREFIX", "sensor_"));
	w->req = rw_request_new();
	w->n_buckets = SERIES_BUCKETS_MIN;
	w->by_labels = calloc(w->n_buckets, sizeof(*w->by_labels));
	w->by_reading = calloc(w->n_buckets, sizeof(*w->by_reading));
	if (!w->url || !w->prefix || !w->req || !w->by_labels || !w->by_reading)
		goto err_destroy;

	struct http_opts o = {
		.timeout_ms = (long)sink_cfg_int(c, "HTTP_TIMEOUT_MS", SINK_DEFAULT_TIMEOUT_MS),
		.ca_file = sink_cfg_str(c, "TLS_CA_FILE", NULL),
		.user_agent = SINK_USER_AGENT,
		.username = user,
		.password = pass,
		.bearer_token = bearer,
	};
	w->http = http_client_new(&o);
	if (!w->http)
		goto err_destroy;
	if (headers && add_user_headers(w->http, headers, err, errlen) < 0) {
		rw_destroy(w);
		return NULL;
	}
	log_info("remote_write", "writing to %s", w->url);
	return w;

err_destroy:
	rw_destroy(w);
err_oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

/* Posts w->req. In a dry run the decoded request goes to stdout instead. */
static void post_request(struct remote_write *w, struct sink_answer *ans)
{
	static const char *const headers[] = {
		"Content-Encoding: " RW_CONTENT_ENCODING,
		"Content-Type: " RW_CONTENT_TYPE,
		RW_VERSION_HEADER ": " RW_VERSION,
		NULL,
	};
	struct http_response resp;
	void *body;
	size_t len;

	if (rw_request_encode(w->req, &body, &len) < 0) {
		log_error("remote_write", "out of memory encoding %zu samples",
			  rw_request_samples(w->req));
		ans->kind = SINK_ANSWER_RETRY;
		return;
	}
	if (w->dry_run) {
		char *text = NULL;
		if (rw_decode_text(body, len, &text) == 0) {
			printf("# POST %s\n%s", w->url, text);
			fflush(stdout);
		}
		free(text);
		free(body);
		ans->kind = SINK_ANSWER_OK;
		return;
	}
	int rc = http_post(w->http, w->url, headers, body, len, &resp);
	free(body);
	sink_answer_http(ans, rc, &resp, w->url, "the URL, credentials and tenant headers");
	/* one sample out of bounds makes Prometheus refuse the whole request */
	if (ans->kind == SINK_ANSWER_ERROR && ans->error == SINK_ERR_TOO_LARGE)
		ans->error = SINK_ERR_SPLIT;
}

/* Doubles the batch's room, and its spare array's (group_samples). */
static int grow_samples(struct remote_write *w)
{
	size_t cap = w->cap_samples ? w->cap_samples * 2 : 256;
	struct sample *ns = realloc(w->samples, cap * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	w->samples = ns;
	struct sample *sp = realloc(w->spare, cap * sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	w->spare = sp;
	w->cap_samples = cap;
	return 0;
}

/* Adds field i of r to the batch unless it is out of order. Returns 1 added, 0 skipped, <0. */
static int add_sample(struct remote_write *w, const struct reading *r, size_t i,
		      size_t *skipped)
{
	char stack[512];
	int rc = 0;
	size_t len = reading_key(r, i, stack, sizeof(stack));
	char *key = stack;
	if (len > sizeof(stack)) {
		if (!(key = malloc(len)))
			return -ENOMEM;
		reading_key(r, i, key, len);
	}
	uint64_t h = hash_bytes(key, len);
	struct series *s = find_by_reading(w, key, len, h);
	if (!s && !(s = series_for(w, r, i, key, len, h, &rc))) {
		if (rc == -EINVAL) {
			(*skipped)++;
			rc = 0;
		}
		goto out;
	}
	int64_t newest = s->pending_gen == w->gen ? s->pending : s->last_sent;
	/* the same reading again: at the timestamp last delivered or last in this batch */
	bool again = r->ts_ms == s->last_sent || (s->pending_gen == w->gen && r->ts_ms == s->pending);
	/* an older one is sent with send_older: the receiver's out-of-order window takes it */
	if (again || (r->ts_ms < newest && !w->send_older)) {
		(*skipped)++;
		log_debug("remote_write", "out of order: '%s' at %lld, already sent %lld",
			  r->fields[i].name, (long long)r->ts_ms, (long long)newest);
		goto out;
	}
	if (w->n_samples == w->cap_samples && (rc = grow_samples(w)) < 0)
		goto out;
	if (s->pending_gen != w->gen) {
		s->order = w->n_samples;
		s->batch_n = 0;
	}
	s->batch_n++;
	w->samples[w->n_samples] = (struct sample){ .s = s, .value = r->fields[i].value,
						    .ts = r->ts_ms };
	w->n_samples++;
	if (s->pending_gen != w->gen || r->ts_ms > s->pending)
		s->pending = r->ts_ms > newest ? r->ts_ms : newest;
	s->pending_gen = w->gen;
	if (w->head != s) {
		lru_unlink(w, s);
		lru_push_front(w, s);
	}
	rc = 1;
out:
	if (key != stack)
		free(key);
	return rc;
}

/*
 * Series by their first sample in the batch, then as read: a series is
 * contiguous. A counting sort, one pass: at a series' first sample its run
 * starts where the runs before it end (add_sample counted its samples).
 * qsort did the same in O(n log n) with a call per comparison, 2.3k
 * instructions per message of a drain in callgrind.
 */
static void group_samples(struct remote_write *w)
{
	size_t at = 0;
	for (size_t k = 0; k < w->n_samples; k++) {
		struct series *s = w->samples[k].s;
		if (k == s->order) {
			s->slot = at;
			at += s->batch_n;
		}
		w->spare[s->slot++] = w->samples[k];
	}
	struct sample *t = w->samples;
	w->samples = w->spare;
	w->spare = t;
}

/* w->req := samples [a, b) of the batch. */
static int build_range(struct remote_write *w, size_t a, size_t b)
{
	rw_request_clear(w->req);
	for (size_t k = a; k < b; k++) {
		const struct sample *p = &w->samples[k];
		int rc = rw_request_add_encoded(w->req, p->s->labels, p->s->labels_len, p->value,
						p->ts);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * Samples [a, b) in the Prometheus text format: rw_decode_text()'s lines
 * with "@ts" as a plain ms timestamp. NULL when out of memory.
 */
static char *rw_text(void *sink, size_t a, size_t b)
{
	struct remote_write *w = sink;
	void *body = NULL;
	char *text = NULL, *out = NULL;
	size_t len, n = 0;
	if (build_range(w, a, b) < 0 || rw_request_encode(w->req, &body, &len) < 0)
		goto done;
	if (rw_decode_text(body, len, &text) < 0)
		goto done;
	if (!(out = malloc(strlen(text) + 1)))
		goto done;
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) + 1 : strlen(line);
		size_t at = ll;   /* the last " @": label values may hold one too */
		for (size_t i = 1; i < ll; i++)
			if (line[i] == '@' && line[i - 1] == ' ')
				at = i;
		for (size_t i = 0; i < ll; i++)
			if (i != at)
				out[n++] = line[i];
		line += ll;
	}
	out[n] = '\0';
done:
	free(body);
	free(text);
	return out;
}

static void rw_send(void *sink, size_t a, size_t b, struct sink_answer *ans)
{
	struct remote_write *w = sink;
	if (build_range(w, a, b) < 0) {
		log_error("remote_write", "out of memory building the request");
		ans->kind = SINK_ANSWER_RETRY;
		sink_reason(ans->reason, sizeof(ans->reason), "out of memory");
		return;
	}
	post_request(w, ans);
	if (ans->kind == SINK_ANSWER_OK)
		for (size_t k = a; k < b; k++)
			w->samples[k].ok = true;
}

/*
 * The batch as samples, grouped by series: readings with a timestamp <= 0,
 * samples out of order and fields without a valid series are left out
 * (counted in *dropped).
 */
static long rw_encode(void *sink, const struct reading *const *r, size_t n, size_t *dropped)
{
	struct remote_write *w = sink;
	size_t skipped = 0;

	w->gen++;
	w->n_samples = 0;
	for (size_t k = 0; k < n; k++) {
		if (r[k]->ts_ms <= 0) {
			log_warn("remote_write", "reading of '%s/%s' dropped: timestamp %lld <= 0",
				 r[k]->node, r[k]->sensor, (long long)r[k]->ts_ms);
			skipped += r[k]->n_fields;
			continue;
		}
		for (size_t i = 0; i < r[k]->n_fields; i++) {
			if (add_sample(w, r[k], i, &skipped) < 0) {
				log_error("remote_write", "out of memory building the request");
				return -ENOMEM;
			}
		}
	}
	*dropped += skipped;
	group_samples(w);
	return (long)w->n_samples;
}

static size_t rw_samples(void *sink, size_t k)
{
	(void)sink;
	(void)k;
	return 1;
}

/* Only what got a 2xx moves its series' mark; a retry forgets what was pending. */
static void rw_done(void *sink, bool retry)
{
	struct remote_write *w = sink;
	for (size_t k = 0; !retry && k < w->n_samples; k++) {
		struct sample *p = &w->samples[k];
		if (p->ok && p->ts > p->s->last_sent) {
			p->s->last_sent = p->ts;
			p->s->stale = false;
		}
	}
	w->gen++;
}

static void rw_node_offline(void *sink, const char *node, int64_t ts_ms)
{
	struct remote_write *w = sink;
	struct sink_answer ans = { .kind = SINK_ANSWER_OK, .retry_after_ms = -1 };
	size_t added = 0;

	(void)ts_ms;   /* when the status arrived: see the top of the file */
	w->gen++;
	rw_request_clear(w->req);
	/* oldest first: the markers come out in the order the series were written */
	for (struct series *s = w->tail; s; s = s->prev) {
		if (s->stale || s->last_sent <= 0 || strcmp(s->node, node) != 0)
			continue;
		int64_t t = s->last_sent + 1;
		if (rw_request_add_stale_encoded(w->req, s->labels, s->labels_len, t) == 0) {
			s->pending = t;
			s->pending_gen = w->gen;
			added++;
		}
	}
	if (added == 0)
		return;
	post_request(w, &ans);
	if (ans.kind == SINK_ANSWER_OK) {
		for (struct series *s = w->head; s; s = s->next) {
			if (s->pending_gen != w->gen)
				continue;
			s->last_sent = s->pending;
			s->stale = true;
		}
		log_info("remote_write", "node '%s' offline: %zu series marked stale", node, added);
	} else {
		char why[SINK_MSG_MAX + 32];
		if (ans.kind == SINK_ANSWER_ERROR && ans.error != SINK_ERR_CONFIG)
			snprintf(why, sizeof(why), "status %ld: %s", ans.status, ans.reason);
		else
			snprintf(why, sizeof(why), "%s", ans.reason);
		log_warn("remote_write", "node '%s' offline: staleness markers not delivered%s%s",
			 node, why[0] ? ": " : "", why);
	}
	w->gen++;
}

const struct sink_ops remote_write_sink_ops = {
	.name = "remote_write",
	.config_map = rw_keys,
	.unit = "sample",
	.deadletter = "deadletter-remote_write.prom",
	.create = rw_create,
	.encode = rw_encode,
	.samples = rw_samples,
	.send = rw_send,
	.text = rw_text,
	.done = rw_done,
	.node_offline = rw_node_offline,
	.destroy = rw_destroy,
};
