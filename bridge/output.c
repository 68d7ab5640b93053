/*
 * output.c - the engine that drives the sinks (output.h).
 *
 * Each output's thread decodes the log's records (no second JSON parse)
 * through its own cursor, batches by BATCH_MAX_SAMPLES or
 * BATCH_MAX_DELAY_MS, sends, and commits the cursor only after the batch is
 * done (delivered, or dropped); on a transient failure it waits with
 * jittered backoff (honouring Retry-After) and resends the same batch, for
 * as long as it takes, or until the bridge's stop deadline: what is not
 * delivered by then stays in the log.
 *
 * One try of a batch (output_send()) is the sink's encode, then sends of
 * ranges of its units, each answered OK, RETRY or ERROR (sink.h). A RETRY
 * anywhere retries the whole batch. A configuration error (401/403/404) is
 * logged as such and retried after at least SINK_CONFIG_RETRY_MS. A range
 * refused as SINK_ERR_SPLIT is halved, and each half sent, down to single
 * units, within OUTPUT_SPLIT_BUDGET extra requests per batch (a receiver
 * that refuses everything, e.g. a bad org, costs 64 requests, not two per
 * unit); SINK_ERR_TOO_LARGE is halved without a budget (the halves fit
 * sooner or later); what stays refused is dropped: counted, and appended
 * to the sink's dead-letter file in STATE_DIR (O_APPEND, one write and an
 * fdatasync per refusal, as refusals are rare) as, per unit, a comment
 *   # <UTC time, ISO 8601> status=<code> <server message, one line, <= 300 bytes>
 * then the unit's text line. The file is bounded: past DEADLETTER_MAX bytes
 * nothing more is appended (logged once) until it is moved away or emptied;
 * nothing already in it is ever overwritten. Without STATE_DIR, or when
 * the file cannot be written, the refusal is logged (a single unit with
 * its text, truncated) instead.
 */
#include "bridge/output.h"
#include "bridge/emit.h"
#include "bridge/record.h"
#include "bridge/sinks/sinks.h"
#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUTPUT_SPLIT_BUDGET 64        /* extra requests per batch for SINK_ERR_SPLIT */
#define DEADLETTER_MAX (64 << 20)     /* bytes; beyond it refusals are only logged */
#define DEADLETTER_MSG_MAX 300        /* bytes of the server's message kept per unit */
#define LOG_LINE_MAX 300              /* bytes of a refused unit in a log message */

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static bool stopping(const struct output *o)
{
	if (!o->ctl.lock)
		return false;
	pthread_mutex_lock(o->ctl.lock);
	bool s = *o->ctl.stopping;
	pthread_mutex_unlock(o->ctl.lock);
	return s;
}

static bool past_deadline(const struct output *o)
{
	if (!o->ctl.lock)
		return false;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	pthread_mutex_lock(o->ctl.lock);
	bool past = *o->ctl.stopping && !ts_before(&now, o->ctl.deadline);
	pthread_mutex_unlock(o->ctl.lock);
	return past;
}

/*
 * Waits ms between two tries of a failed send. A stop request does not cut
 * the wait short (the shutdown flush must not hammer a receiver that is
 * failing), but the stop deadline does. Returns true when it has passed.
 */
static bool backoff_sleep(const struct output *o, uint32_t ms)
{
	struct timespec until = clock_deadline_ms(ms);
	if (!o->ctl.lock) {
		clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, NULL);
		return false;
	}
	pthread_mutex_lock(o->ctl.lock);
	for (;;) {
		const struct timespec *t = &until;
		if (*o->ctl.stopping && ts_before(o->ctl.deadline, t))
			t = o->ctl.deadline;
		if (pthread_cond_timedwait(o->ctl.cond, o->ctl.lock, t) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(o->ctl.lock);
	return past_deadline(o);
}

/* Sleeps ms, or less when the bridge is asked to stop. */
static void sleep_unless_stopping(const struct output *o, uint32_t ms)
{
	struct timespec until = clock_deadline_ms(ms);
	if (!o->ctl.lock) {
		clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, NULL);
		return;
	}
	pthread_mutex_lock(o->ctl.lock);
	while (!*o->ctl.stopping)
		if (pthread_cond_timedwait(o->ctl.cond, o->ctl.lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(o->ctl.lock);
}

/* Milliseconds on the monotonic clock: the pacer's time (pacer.h). */
static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int output_init(struct output *o, const struct sink_ops *ops, const struct cfg *c,
		bool dry_run, const struct output_ctl *ctl, const struct output_params *par,
		char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	o->ops = ops;
	if (ctl)
		o->ctl = *ctl;
	o->par = *par;
	o->sink = ops->create(c, dry_run, err, errlen);
	if (!o->sink)
		return -1;
	const char *state_dir = sink_cfg_str(c, "STATE_DIR", NULL);
	if (ops->deadletter && state_dir && *state_dir &&
	    asprintf(&o->dl_path, "%s/%s", state_dir, ops->deadletter) < 0) {
		o->dl_path = NULL;
		output_release(o);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	backoff_init(&o->backoff, 100, 30000);
	struct pacer_params pp;
	pacer_defaults(&pp);
	pp.cap = (double)par->replay_rate;
	pp.adaptive = par->pacing_adaptive;
	pp.full_samples = par->batch_max > 1 ? par->batch_max / 2 : 1;
	pacer_init(&o->pacer, &pp, mono_ms());
	return 0;
}

void output_release(struct output *o)
{
	if (o->sink)
		o->ops->destroy(o->sink);
	o->sink = NULL;
	free(o->dl_path);
	o->dl_path = NULL;
}

/*
 * The pacing hook: while more than this batch waits in the log the pacer
 * may hold it back, so a sender that keeps up with arrivals is never
 * delayed. Returns whether the output is backlogged.
 */
static bool pace(struct output *o, size_t n)
{
	bool backlogged = wal_reader_lag(o->reader) > n + o->par.batch_max;
	int64_t wait = pacer_wait_ms(&o->pacer, mono_ms(), backlogged);
	if (wait > 0)
		sleep_unless_stopping(o, (uint32_t)wait);  /* the shutdown flush is not paced */
	return backlogged;
}

/* One try of a batch: what the split of refused ranges has done so far. */
struct attempt {
	struct output *o;
	int budget;                   /* split requests left */
	size_t sent, refused;         /* samples */
	struct sink_result *res;
};

enum range_result {
	RANGE_SENT,
	RANGE_DROPPED,                /* some or all units refused, none to retry */
	RANGE_RETRY,
};

static size_t samples_in(const struct output *o, size_t a, size_t b)
{
	size_t n = 0;
	for (size_t k = a; k < b; k++)
		n += o->ops->samples(o->sink, k);
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

/* text's lines, each after head, in one malloc'd block of *len bytes. */
static char *with_heads(const char *text, const char *head, size_t *len)
{
	size_t hl = strlen(head), lines = 0, tl = strlen(text);
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	if (tl && text[tl - 1] != '\n')
		lines++;
	char *out = malloc(lines * hl + tl + 1);
	if (!out)
		return NULL;
	size_t n = 0;
	for (const char *line = text; *line;) {
		size_t ll = strcspn(line, "\n");
		ll += line[ll] == '\n';
		memcpy(out + n, head, hl);
		n += hl;
		memcpy(out + n, line, ll);
		n += ll;
		line += ll;
	}
	out[n] = '\0';
	*len = n;
	return out;
}

/* Appends rec (len bytes) to the dead-letter file. Returns 0, or -1 (logged why). */
static int deadletter(struct output *o, const char *rec, size_t len)
{
	struct stat st;
	int ret = -1;
	int fd = open(o->dl_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		log_error(o->ops->name, "cannot open '%s': %s", o->dl_path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		log_error(o->ops->name, "cannot stat '%s': %s", o->dl_path, strerror(errno));
		goto out;
	}
	if (st.st_size + (off_t)len > DEADLETTER_MAX) {
		if (!o->dl_full)
			log_error(o->ops->name, "'%s' holds %lld bytes, the limit is %d: refused "
				  "%ss are only logged until it is moved away", o->dl_path,
				  (long long)st.st_size, DEADLETTER_MAX, o->ops->unit);
		o->dl_full = true;
		goto out;
	}
	o->dl_full = false;
	ssize_t w = write(fd, rec, len);
	if (w != (ssize_t)len) {
		log_error(o->ops->name, "cannot write '%s': %s", o->dl_path,
			  w < 0 ? strerror(errno) : "short write");
		goto out;
	}
	if (fdatasync(fd) < 0) {
		log_error(o->ops->name, "cannot sync '%s': %s", o->dl_path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	close(fd);
	return ret;
}

/* Drops units [a, b): counted, kept in the dead-letter file or else logged. */
static void refuse(struct attempt *at, size_t a, size_t b, long status, const char *body)
{
	struct output *o = at->o;
	const char *unit = o->ops->unit;
	char msg[DEADLETTER_MSG_MAX + 16], when[32], head[DEADLETTER_MSG_MAX + 96];
	struct timespec now;
	struct tm tm;
	size_t len = 0;
	at->refused += samples_in(o, a, b);

	one_line(msg, sizeof(msg), body);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(head, sizeof(head), "# %s.%03ldZ status=%ld %s\n", when, now.tv_nsec / 1000000,
		 status, msg);
	char *text = o->ops->text ? o->ops->text(o->sink, a, b) : NULL;
	char *rec = text && o->dl_path ? with_heads(text, head, &len) : NULL;
	bool kept = rec && deadletter(o, rec, len) == 0;
	free(rec);
	if (kept && b - a == 1) {
		log_error(o->ops->name, "%s refused (status %ld: %s); kept in %s", unit, status,
			  msg, o->dl_path);
	} else if (kept) {
		log_error(o->ops->name, "%zu %ss refused (status %ld: %s); kept in %s", b - a,
			  unit, status, msg, o->dl_path);
	} else if (text && b - a == 1) {
		size_t ll = strcspn(text, "\n");
		log_error(o->ops->name, "%s dropped (status %ld: %s): %.*s%s", unit, status, msg,
			  (int)(ll > LOG_LINE_MAX ? LOG_LINE_MAX : ll), text,
			  ll > LOG_LINE_MAX ? "..." : "");
	} else {
		log_error(o->ops->name, "%zu %ss dropped (status %ld: %s)", b - a, unit, status,
			  msg);
	}
	free(text);
}

static enum range_result post_range(struct attempt *at, size_t a, size_t b);

/* Sends [a, mid) and [mid, b); stops at the first half that must be retried. */
static enum range_result split_range(struct attempt *at, size_t a, size_t b)
{
	size_t mid = a + (b - a) / 2;
	enum range_result r1 = post_range(at, a, mid);
	if (r1 == RANGE_RETRY)
		return r1;
	enum range_result r2 = post_range(at, mid, b);
	if (r2 == RANGE_RETRY)
		return r2;
	return r1 == RANGE_SENT && r2 == RANGE_SENT ? RANGE_SENT : RANGE_DROPPED;
}

/* A refused range: split it, or drop it, as its classification says. */
static enum range_result refused_range(struct attempt *at, size_t a, size_t b,
				       const struct sink_answer *ans)
{
	const char *name = at->o->ops->name, *unit = at->o->ops->unit;
	char why[64];
	switch (ans->error) {
	case SINK_ERR_CONFIG:
		log_error(name, "configuration: %s", ans->reason);
		at->res->retry_after_ms = ans->retry_after_ms > SINK_CONFIG_RETRY_MS ?
					  ans->retry_after_ms : SINK_CONFIG_RETRY_MS;
		return RANGE_RETRY;
	case SINK_ERR_TOO_LARGE:
		if (b - a > 1) {
			log_info(name, "status %ld for %zu %ss: sending them in halves",
				 ans->status, b - a, unit);
			return split_range(at, a, b);
		}
		snprintf(why, sizeof(why), "%s too large for the server", unit);
		refuse(at, a, b, ans->status, why);
		return RANGE_DROPPED;
	case SINK_ERR_SPLIT:
		if (b - a > 1 && at->budget >= 2) {
			at->budget -= 2;
			log_debug(name, "status %ld for %zu %ss: bisecting", ans->status, b - a,
				  unit);
			return split_range(at, a, b);
		}
		break;
	case SINK_ERR_REFUSED:
		break;
	}
	refuse(at, a, b, ans->status, ans->reason);
	return RANGE_DROPPED;
}

static enum range_result post_range(struct attempt *at, size_t a, size_t b)
{
	struct output *o = at->o;
	struct sink_answer ans = { .kind = SINK_ANSWER_OK, .retry_after_ms = -1 };
	o->ops->send(o->sink, a, b, &ans);
	switch (ans.kind) {
	case SINK_ANSWER_OK:
		at->sent += samples_in(o, a, b);
		return RANGE_SENT;
	case SINK_ANSWER_RETRY:
		sink_reason(at->res->reason, sizeof(at->res->reason), "%s", ans.reason);
		at->res->retry_after_ms = ans.retry_after_ms;
		return RANGE_RETRY;
	case SINK_ANSWER_ERROR:
		break;
	}
	return refused_range(at, a, b, &ans);
}

void output_send(struct output *o, const struct reading *const *r, size_t n,
		 struct sink_result *res)
{
	struct attempt at = { .o = o, .budget = OUTPUT_SPLIT_BUDGET, .res = res };
	size_t skipped = 0;

	res->verdict = SINK_OK;
	res->retry_after_ms = -1;
	res->dropped = 0;
	res->reason[0] = '\0';

	long units = o->ops->encode(o->sink, r, n, &skipped);
	if (units < 0) {
		log_error(o->ops->name, "out of memory encoding %zu readings", n);
		res->verdict = SINK_RETRY;
	} else if (units == 0) {
		res->dropped = skipped;
		res->verdict = n && skipped ? SINK_DROP : SINK_OK;
	} else if (post_range(&at, 0, (size_t)units) == RANGE_RETRY) {
		res->verdict = SINK_RETRY;
	} else {
		res->dropped = skipped + at.refused;
		res->verdict = at.sent ? SINK_OK : SINK_DROP;
	}
	if (o->ops->done)
		o->ops->done(o->sink, res->verdict == SINK_RETRY);
}

/* Counts a batch that is done: delivered, with bad samples dropped. */
static void count_done(struct output *o, const struct sink_result *res, size_t samples,
		       uint64_t tries)
{
	/* counted in samples (field values), as the sinks count */
	size_t bad = res->verdict == SINK_DROP ? samples : res->dropped;
	if (bad > samples)
		bad = samples;
	o->sent += samples - bad;
	o->dropped += bad;
	if (tries)
		log_info(o->ops->name, "delivering again after %llu retries",
			 (unsigned long long)tries);
	backoff_reset(&o->backoff);
}

/*
 * Sends one batch until the sink says ok or drop, or the bridge is past its
 * shutdown deadline. Returns true when the batch is done (commit it).
 */
static bool deliver(struct output *o, const struct reading *const *rs, size_t n,
		    size_t samples)
{
	uint64_t tries = 0;
	char logged[sizeof(((struct sink_result *)0)->reason)] = "";
	bool backlogged = pace(o, n);
	for (;;) {
		struct sink_result res = { .verdict = SINK_OK, .retry_after_ms = -1 };
		int64_t start = mono_ms();
		output_send(o, rs, n, &res);
		/* a drop is an answer too: the store is not congested by it */
		pacer_done(&o->pacer, start, mono_ms(), samples, backlogged,
			   res.verdict == SINK_RETRY ? PACER_FAILED : PACER_OK, res.retry_after_ms);
		o->pace_rate = (uint64_t)pacer_rate(&o->pacer, mono_ms());
		o->pace_decreases = o->pacer.decreases;
		if (res.verdict == SINK_OK || res.verdict == SINK_DROP) {
			count_done(o, &res, samples, tries);
			return true;
		}
		tries++;
		o->retries++;
		if (past_deadline(o))
			return false;
		uint32_t delay = res.retry_after_ms >= 0 ?
				 backoff_override(&o->backoff, (uint32_t)res.retry_after_ms) :
				 backoff_next(&o->backoff);
		/* once per reason, not once per try: a receiver down for an hour
		 * gives one line, and another when the reason changes */
		if (tries == 1 || strcmp(res.reason, logged) != 0) {
			log_warn(o->ops->name, "send failed%s%s; retrying with backoff (next in %u ms)",
				 res.reason[0] ? ": " : "", res.reason, delay);
			snprintf(logged, sizeof(logged), "%s", res.reason);
		} else {
			log_debug(o->ops->name, "%s; retrying in %u ms", res.reason, delay);
		}
		if (backoff_sleep(o, delay))
			return false;
	}
}

/* The batch being built by one sender thread. */
struct pending {
	struct reading *r;
	const struct reading **ptr;
	size_t n, cap, samples;
	uint64_t last_lsn;
	bool any;
};

static void pending_clear(struct pending *p)
{
	for (size_t i = 0; i < p->n; i++)
		reading_release(&p->r[i]);
	p->n = 0;
	p->samples = 0;
	p->any = false;
}

/* Sends and commits what is pending. Returns false if it could not be delivered. */
static bool flush(struct output *o, struct pending *p)
{
	if (!p->any)
		return true;
	for (size_t i = 0; i < p->n; i++)
		p->ptr[i] = &p->r[i];
	bool done = p->n == 0 || deliver(o, p->ptr, p->n, p->samples);
	if (done) {
		int rc = wal_commit(o->reader, p->last_lsn);
		if (rc < 0)
			log_error(o->ops->name, "cannot save the output's cursor: %s", strerror(-rc));
		uint64_t lost = wal_reader_take_dropped(o->reader);
		o->lost_to_bounds += lost;
	}
	pending_clear(p);
	return done;
}

static bool pending_grow(struct pending *p)
{
	if (p->n < p->cap)
		return true;
	size_t cap = p->cap ? p->cap * 2 : 64;
	struct reading *nr = realloc(p->r, cap * sizeof(*nr));
	if (!nr)
		return false;
	p->r = nr;
	const struct reading **np = realloc(p->ptr, cap * sizeof(*np));
	if (!np)
		return false;
	p->ptr = np;
	p->cap = cap;
	return true;
}

/* Adds one log record to the batch; status records act at once, in order. */
static bool take_record(struct output *o, struct pending *p, const struct wal_record *rec)
{
	char node[256], sensor[256], err[160];
	enum topic_kind kind = reading_topic_split(rec->topic, node, sizeof(node), sensor,
						   sizeof(sensor));
	if (kind == TOPIC_STATUS) {
		if (rec->len == 7 && memcmp(rec->payload, "offline", 7) == 0 &&
		    o->ops->node_offline) {
			if (!flush(o, p))
				return false;
			o->ops->node_offline(o->sink, node, rec->arrival_ms);
		}
		p->any = true;
		p->last_lsn = rec->lsn;
		return true;
	}
	if (!pending_grow(p))
		return false;
	p->any = true;
	p->last_lsn = rec->lsn;
	/* a log from sensor-bridge 0.1.0 (format 1) holds the JSON payloads */
	int rc = rec->format == 1 ?
		 reading_parse(&p->r[p->n], rec->topic, rec->payload, rec->len, rec->arrival_ms,
			       err, sizeof(err)) :
		 record_decode(&p->r[p->n], rec->payload, rec->len);
	if (rc == -ENOMEM)
		return false;
	if (rc < 0) {
		/* only a damaged log gets here: on_message stored what it parsed */
		o->unreadable++;
		log_error(o->ops->name, "log record %llu from '%s' cannot be read (%s); skipped",
			  (unsigned long long)rec->lsn, rec->topic,
			  rec->format == 1 ? err : "not a reading record");
		return true;
	}
	p->samples += p->r[p->n].n_fields;
	p->n++;
	return true;
}

/* One sender thread's state: the records read, and the batch being built. */
struct sender {
	struct output *o;
	struct wal_batch wb;
	struct pending p;
	int64_t first_ms;           /* when the batch's first record was taken */
	size_t recs_per_k;          /* readings per 1000 samples in the last batch */
	size_t n, taken;            /* records in wb, and how many are in batches */
};

/*
 * Reads about as many records as fill the batch (by the last batch's
 * readings per sample). An empty batch waits for its first record, which
 * starts the clock, then for the rest in one wake-up.
 */
static void read_records(struct sender *s, bool stop)
{
	const struct output_params *par = &s->o->par;
	int wait = stop ? 0 : s->p.any ? (int)(s->first_ms + par->batch_delay_ms - clock_now_ms()) :
				       1000;
	size_t room = par->batch_max > s->p.samples ? par->batch_max - s->p.samples : 1;
	size_t want = (room * s->recs_per_k + 999) / 1000;
	if (want > room)
		want = room;
	s->n = wal_read(s->o->reader, &s->wb, want, s->p.any ? want : 1, wait > 0 ? wait : 0);
	s->taken = 0;
}

/* Takes records into the batch up to BATCH_MAX_SAMPLES (the rest start the
 * next one). false: out of memory, or a flush before a status failed. */
static bool fill_batch(struct sender *s)
{
	for (; s->taken < s->n && s->p.samples < s->o->par.batch_max; s->taken++) {
		if (!s->p.any)
			s->first_ms = clock_now_ms();
		if (!take_record(s->o, &s->p, &s->wb.recs[s->taken]))
			return false;
	}
	return true;
}

/* A batch is sent when full, when its oldest reading waited long enough, or at a stop. */
static bool batch_due(const struct sender *s, bool stop)
{
	const struct output_params *par = &s->o->par;
	return stop || s->p.samples >= par->batch_max ||
	       clock_now_ms() - s->first_ms >= par->batch_delay_ms;
}

/* The next read's estimate: readings per 1000 samples of the batch being sent. */
static void note_shape(struct sender *s)
{
	if (s->p.samples && (s->recs_per_k = s->p.n * 1000 / s->p.samples) == 0)
		s->recs_per_k = 1;
}

/* Not delivered (shutdown deadline, or out of memory): it stays in the log. */
static void rewind_batch(struct sender *s)
{
	pending_clear(&s->p);
	wal_rewind(s->o->reader);
	s->n = s->taken = 0;
}

static void *sender_main(void *arg)
{
	struct sender s = { .o = arg, .recs_per_k = 1000 };
	for (;;) {
		bool stop = stopping(s.o);
		if (s.taken == s.n)
			read_records(&s, stop);
		bool ok = fill_batch(&s);
		if (ok && !s.p.any) {
			if (stop)
				break;
			continue;
		}
		if (ok && !batch_due(&s, stop))
			continue;
		if (ok) {
			note_shape(&s);
			if (flush(s.o, &s.p))
				continue;
		}
		rewind_batch(&s);
		if (stopping(s.o))
			break;
	}
	pending_clear(&s.p);
	free(s.p.r);
	free(s.p.ptr);
	wal_batch_release(&s.wb);
	return NULL;
}

int output_start(struct output *o)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	int rc = pthread_create(&o->thread, &attr, sender_main, o);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		log_error("bridge", "cannot start the '%s' sender: %s", o->ops->name, strerror(rc));
		return -rc;
	}
	o->started = true;
	return 0;
}

void output_join(struct output *o, bool durable)
{
	if (o->started)
		pthread_join(o->thread, NULL);
	o->started = false;
	uint64_t left = o->reader ? wal_reader_lag(o->reader) : 0;
	if (left)
		log_warn(o->ops->name, "%llu readings not sent at shutdown%s",
			 (unsigned long long)left,
			 durable ? "; they stay in the log for the next start" :
				   " (lost: no STATE_DIR)");
}

static uint64_t backlog(const struct output *o)
{
	return o->reader ? wal_reader_lag(o->reader) : 0;
}

size_t output_metrics(const struct output *outs, size_t n_out, char *buf, size_t len, size_t n)
{
#define EMIT(...) (n = emitf(buf, len, n, __VA_ARGS__))
	EMIT("# TYPE sensorwire_bridge_output_samples_total counter\n");
	for (size_t i = 0; i < n_out; i++) {
		const struct output *o = &outs[i];
		EMIT("sensorwire_bridge_output_samples_total{output=\"%s\",result=\"sent\"} %llu\n",
		     o->ops->name, (unsigned long long)o->sent);
		EMIT("sensorwire_bridge_output_samples_total{output=\"%s\",result=\"dropped\"} %llu\n",
		     o->ops->name, (unsigned long long)o->dropped);
		EMIT("sensorwire_bridge_output_samples_total{output=\"%s\",result=\"lost_to_bounds\"} %llu\n",
		     o->ops->name, (unsigned long long)o->lost_to_bounds);
	}
	/* the families with one value per output */
	static const struct {
		const char *name, *type;
		size_t field;            /* offsetof the _Atomic uint64_t; SIZE_MAX: the backlog */
	} fam[] = {
		{ "unreadable_records_total", "counter", offsetof(struct output, unreadable) },
		{ "retries_total", "counter", offsetof(struct output, retries) },
		{ "pace_samples_per_second", "gauge", offsetof(struct output, pace_rate) },
		{ "pace_decreases_total", "counter", offsetof(struct output, pace_decreases) },
		{ "backlog", "gauge", SIZE_MAX },
	};
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		EMIT("# TYPE sensorwire_bridge_output_%s %s\n", fam[f].name, fam[f].type);
		for (size_t i = 0; i < n_out; i++) {
			const struct output *o = &outs[i];
			uint64_t v = fam[f].field == SIZE_MAX
					     ? backlog(o)
					     : *(const _Atomic uint64_t *)((const char *)o + fam[f].field);
			EMIT("sensorwire_bridge_output_%s{output=\"%s\"} %llu\n", fam[f].name,
			     o->ops->name, (unsigned long long)v);
		}
	}
#undef EMIT
	return n;
}

int output_summary(const struct output *o, char *buf, size_t len)
{
	return snprintf(buf, len, " %s: sent=%llu dropped=%llu lost=%llu unreadable=%llu "
			"backlog=%llu;", o->ops->name, (unsigned long long)o->sent,
			(unsigned long long)o->dropped, (unsigned long long)o->lost_to_bounds,
			(unsigned long long)o->unreadable, (unsigned long long)backlog(o));
}
