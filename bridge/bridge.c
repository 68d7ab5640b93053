/*
 * bridge.c - MQTT in, log in the middle, one sender thread per output.
 *
 * on_message runs on Paho's receive thread (docs/protocols.md#mqtt, G8/G9): it only
 * parses (to refuse malformed payloads with a log line and a count) and
 * appends the parsed reading to the log as a binary record (record.h), then
 * returns; the PUBACK follows. It never blocks on HTTP. Each output's thread
 * (output.c, the engine that drives the sinks) decodes the records through
 * its own cursor, batches, sends, and commits the cursor only once the batch
 * is done; on retry it waits with jittered backoff and resends the same
 * batch, for as long as it takes.
 */
#include "bridge/bridge.h"
#include "bridge/emit.h"
#include "bridge/format.h"
#include "bridge/output.h"
#include "bridge/pacer.h"
#include "bridge/reading.h"
#include "bridge/record.h"
#include "bridge/replica.h"
#include "bridge/seqtrack.h"
#include "bridge/sink.h"
#include "bridge/statedir.h"
#include "bridge/wal.h"
#include "common/backoff.h"
#include "common/log.h"
#include "common/mqtt.h"
#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MAX_OUTPUTS 4
#define MAX_TOPICS 32
/* with MQTT_SHARE_GROUP: each filter shared, its availability filter, the presence */
#define MAX_SUBS (2 * MAX_TOPICS + 1)
#define STATE_MSG_MAX 8448

struct bridge {
	const struct cfg *cfg;
	enum bridge_mode mode;
	int lock_fd;              /* the STATE_DIR lock (BRIDGE_RUN with STATE_DIR), or -1 */
	char *client_id;          /* BRIDGE_DRY_RUN: its own random id */
	struct wal *wal;
	struct mqtt *mqtt;
	char *topics[MAX_TOPICS];
	const struct format *topic_fmt[MAX_TOPICS]; /* MQTT_TOPICS "format:filter" */
	char *avail_f[MAX_TOPICS]; /* MQTT_SHARE_GROUP: topics[i]'s availability filter, or NULL */
	size_t n_topics;
	int qos;
	/* the filters the broker's session holds, as STATE_DIR/subscriptions
	 * remembers them (subs_known: that file matched this URL and client id);
	 * touched on the MQTT thread after bridge_new */
	char *subs_path;          /* NULL: nothing to remember (no STATE_DIR, dry run) */
	char *subs[MAX_SUBS];
	size_t n_subs;
	bool subs_known;
	/* what the broker is asked for: MQTT_TOPICS, or with MQTT_SHARE_GROUP
	 * each as $share/<group>/<filter> and the status filters unshared */
	char *subf[MAX_SUBS];
	size_t n_subf;
	const char *share_group;  /* NULL or "": no sharing */
	struct replica *rep;      /* MQTT_SHARE_GROUP (BRIDGE_RUN): presence, adoption, seq (replica.h) */
	/* on_message runs on the bridge's Paho thread and, while a dead
	 * replica's session is adopted, on that connection's: one at a time,
	 * and a held message (log failing) stays with the connection it came
	 * from (rx_who: 0 the bridge's, 1 the adopted session) */
	pthread_mutex_t rx_lock;
	int rx_who;
	/* the share group's seq accountant (replica.h): its own tracker and
	 * parse buffer, on the accountant connection's thread (acct_lock) */
	pthread_mutex_t acct_lock;
	struct seqtrack *acct_seq;
	struct format_result *acct_res;
	struct output out[MAX_OUTPUTS];
	size_t n_out;
	struct seqtrack *seq;     /* under rx_lock; in a share group only for redeliveries (the
				     accountant counts gaps and duplicates) */
	/* the record being appended: a payload's reading is never larger than
	 * the payload, its topic and 8 bytes per field (record.h) */
	unsigned char rec[RECORD_FIXED + READING_MAX_PAYLOAD + 512 + 8 * READING_MAX_FIELDS];
	struct output_params out_par; /* batching and pacing, the same for every output */
	/* TIMESTAMP_POLICY: a payload ts beyond these bounds of the arrival time
	 * (0 = no bound) is clamped to the arrival time, or the reading refused */
	bool ts_refuse;
	int64_t ts_max_future_ms, ts_max_past_ms;
	int64_t ts_logged_ms;     /* last warning about a clamped/refused ts (MQTT thread) */

	/* each message taken counts once in received and once in exactly one
	 * of accepted, status, lost or a refusal (bridge.h) */
	_Atomic uint64_t received, accepted, status, lost;
	_Atomic uint64_t malformed, bad_topic, topic_too_long, payload_too_large;
	_Atomic uint64_t ignored_keys, dropped_tags, seq_gaps, seq_duplicates;
	_Atomic uint64_t bad_timestamp, clamped_timestamps;
	/* a format's topic that holds no reading (format.h FORMAT_IGNORED) */
	_Atomic uint64_t ignored;
	_Atomic uint64_t duplicate;   /* a reading already in the log, again: acknowledged, not stored */
	_Atomic uint64_t seq_late;    /* readings counted missing that arrived later */
	/* the held reading's seq, noted once the log takes it (take_message) */
	bool held_noted;
	char held_boot[17];
	uint64_t held_seq;
	/* the message being handled (MQTT thread): its format's result, and a
	 * message of several readings (a Tasmota SENSOR) encoded back to back
	 * in multi, appended from multi_next on (again after a failed append) */
	struct format_result res;
	unsigned char *multi;
	size_t multi_off[FORMAT_MAX_READINGS + 1];
	size_t multi_n, multi_next;
	int64_t multi_arrival;
	/* a format's availability, stored as <format>/<node>/status "online"/"offline" */
	char alt_topic[16 + READING_MAX_VALUE + 16];
	bool held_alt;            /* the held message is stored under alt_topic */
	/* the log refusing appends (store()): a message held, not acknowledged */
	_Atomic uint64_t append_errors;
	_Atomic int log_failing;
	bool held;                /* MQTT thread only, as the rest of this group */
	enum topic_kind held_kind;
	int64_t held_arrival;
	bool held_rec;            /* its record is in rec (a reading), else the payload */
	size_t held_len;
	int64_t failing_since_ms;
	uint64_t failing_from;

	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stopping;
	struct timespec stop_deadline;
};

/* Printable, truncated copy of a payload for log lines. */
static void excerpt(const void *p, size_t len, char *out, size_t outlen)
{
	const unsigned char *s = p;
	size_t j = 0;
	for (size_t i = 0; i < len && j + 5 < outlen; i++)
		out[j++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	if (len && j + 5 >= outlen) {
		memcpy(out + j, "...", 3);
		j += 3;
	}
	out[j] = '\0';
}

/*
 * TIMESTAMP_POLICY, at ingest, once: what is stored (and so what every
 * output sends) already has it applied. Returns false when the reading is
 * refused. A warning at most every 60 s, with the counts; each one at debug.
 */
static bool ts_policy(struct bridge *b, struct reading *r, const char *topic, int64_t arrival)
{
	if (!r->ts_from_payload)
		return true;
	int64_t d = r->ts_ms - arrival;
	bool future = b->ts_max_future_ms > 0 && d > b->ts_max_future_ms;
	bool past = b->ts_max_past_ms > 0 && -d > b->ts_max_past_ms;
	if (!future && !past)
		return true;
	long long ts = (long long)r->ts_ms;
	if (b->ts_refuse)
		b->bad_timestamp++;
	else
		b->clamped_timestamps++;
	char what[160];
	snprintf(what, sizeof(what), "ts %lld is %.1f h %s the arrival time %lld", ts,
		 (double)(d < 0 ? -d : d) / 3600e3, future ? "ahead of" : "behind",
		 (long long)arrival);
	if (arrival - b->ts_logged_ms >= 60000) {
		b->ts_logged_ms = arrival;
		log_warn("bridge", "'%s': %s (TIMESTAMP_MAX_%s): %s (so far %llu refused, "
			 "%llu clamped; next warning in 60 s at the earliest)", topic, what,
			 future ? "FUTURE" : "PAST",
			 b->ts_refuse ? "refused" : "stored at the arrival time",
			 (unsigned long long)b->bad_timestamp,
			 (unsigned long long)b->clamped_timestamps);
	} else {
		log_debug("bridge", "'%s': %s: %s", topic, what, b->ts_refuse ? "refused" : "clamped");
	}
	if (b->ts_refuse)
		return false;
	r->ts_ms = arrival;
	r->ts_from_payload = false;
	return true;
}

/*
 * Appends one message's record to the log: true when it is there (or can
 * never be: then acknowledged, counted as lost and logged), false when the
 * append failed (a full disk, a failed sync, no memory): common/mqtt.c then
 * withholds its PUBACK and calls on_message again with it, with backoff, so
 * the broker keeps it, and everything behind it, until the log takes it.
 * One error line per episode and one when the log takes messages again;
 * every failed try counts in sensorwire_bridge_log_errors_total{op="append"}.
 */
static bool store(struct bridge *b, enum topic_kind kind, int64_t arrival, const char *topic,
		  const void *data, size_t len, bool is_rec)
{
	int rc = wal_append(b->wal, arrival, topic, data, len);
	if (rc < 0 && rc != -EMSGSIZE) {
		b->append_errors++;
		if (!b->held) {
			b->held = true;
			b->held_kind = kind;
			b->held_arrival = arrival;
			b->held_rec = is_rec;
			b->held_len = len;
		}
		if (!b->log_failing) {
			b->log_failing = 1;
			b->failing_since_ms = clock_now_ms();
			b->failing_from = b->append_errors;
			log_error("bridge", "cannot store a %s from '%s' in the log: %s; not "
				  "acknowledged: the broker keeps it and the messages behind it, and "
				  "the bridge tries again with backoff (not ready meanwhile)",
				  kind == TOPIC_STATUS ? "status message" : "reading", topic,
				  strerror(-rc));
		}
		return false;
	}
	b->held = false;
	if (b->log_failing) {
		b->log_failing = 0;
		log_info("bridge", "the log takes messages again, after %llu failed appends in "
			 "%.1f s; nothing was acknowledged that it does not hold",
			 (unsigned long long)(b->append_errors - b->failing_from + 1),
			 (double)(clock_now_ms() - b->failing_since_ms) / 1000);
	}
	if (rc < 0) {
		/* over the log's record limit (wal.h): it never fits, so it must
		 * not hold up the queue; cannot happen within READING_MAX_PAYLOAD */
		b->lost++;
		log_error("bridge", "cannot store a %s from '%s': %s (%zu bytes, it can never "
			  "fit in the log); acknowledged and lost",
			  kind == TOPIC_STATUS ? "status message" : "reading", topic, strerror(-rc),
			  len);
		return true;
	}
	if (kind == TOPIC_STATUS)
		b->status++;
	else
		b->accepted++;
	return true;
}

/* The format of topic: that of the first MQTT_TOPICS filter it matches. */
static const struct format *route(struct bridge *b, const char *topic)
{
	for (size_t i = 0; i < b->n_topics; i++)
		if (format_filter_match(b->topics[i], topic))
			return b->topic_fmt[i];
	/* a share group's availability filters (build_subscriptions) */
	for (size_t i = 0; i < b->n_topics; i++)
		if (b->avail_f[i] && format_filter_match(b->avail_f[i], topic))
			return b->topic_fmt[i];
	return &format_sensorwire;  /* a filter the session had before MQTT_TOPICS changed */
}

/* Upper bound of record_encode()'s length for r (record.h). */
static size_t record_bound(const struct reading *r)
{
	size_t n = RECORD_FIXED + strlen(r->node) + strlen(r->sensor) + 2;
	for (size_t i = 0; i < r->n_tags; i++)
		n += strlen(r->tags[i].key) + strlen(r->tags[i].value) + 2;
	for (size_t i = 0; i < r->n_fields; i++)
		n += strlen(r->fields[i].name) + 9;
	return n;
}

/*
 * Appends the readings of one message (multi), from multi_next on; a
 * failed append leaves the rest held, as store() does for one. The message
 * counts once in accepted, however many readings it made.
 */
static bool store_multi(struct bridge *b, const char *topic)
{
	while (b->multi_next < b->multi_n) {
		size_t i = b->multi_next;
		uint64_t before = b->accepted;
		if (!store(b, TOPIC_READING, b->multi_arrival, topic, b->multi + b->multi_off[i],
			   b->multi_off[i + 1] - b->multi_off[i], true))
			return false;
		if (i > 0 && b->accepted != before)
			b->accepted--;
		b->multi_next++;
	}
	free(b->multi);
	b->multi = NULL;
	b->multi_n = b->multi_next = 0;
	return true;
}

/* Gap and duplicate accounting of one reading: its boot and seq. */
static void seq_note(struct bridge *b, struct seqtrack *t, const char *topic, const char *boot,
		     uint64_t seq)
{
	uint64_t missing;
	enum seq_event ev = seqtrack_see(t, topic, boot, seq, &missing);
	if (ev == SEQ_LATE) {
		b->seq_late++;
		log_info("bridge", "'%s': seq %llu, counted as never arrived, arrived late", topic,
			 (unsigned long long)seq);
	}
	if (ev == SEQ_GAP) {
		b->seq_gaps += missing;
		log_warn("bridge", "'%s': %llu readings never arrived (seq jumped to %llu)", topic,
			 (unsigned long long)missing, (unsigned long long)seq);
	} else if (ev == SEQ_DUPLICATE) {
		b->seq_duplicates++;
		log_debug("bridge", "'%s': duplicate seq %llu", topic, (unsigned long long)seq);
	}
}

static void seq_account(struct bridge *b, struct seqtrack *t, const char *topic,
			const struct reading *r)
{
	if (t && r->has_seq && r->has_boot)
		seq_note(b, t, topic, r->boot, r->seq);
}

static bool take_message(struct bridge *b, const char *topic, const void *payload, size_t len,
			 bool retained);

/* One message from connection who (see rx_lock). */
static bool take_from(struct bridge *b, int who, const char *topic, const void *payload,
		      size_t len, bool retained)
{
	pthread_mutex_lock(&b->rx_lock);
	if ((b->held || b->multi) && b->rx_who != who) {
		/* the other connection's message waits for the log: this one too */
		pthread_mutex_unlock(&b->rx_lock);
		return false;
	}
	b->rx_who = who;
	bool ok = take_message(b, topic, payload, len, retained);
	pthread_mutex_unlock(&b->rx_lock);
	return ok;
}

static bool on_message(void *ctx, const char *topic, const void *payload, size_t len,
		       bool retained)
{
	struct bridge *b = ctx;
	/* MQTT_SHARE_GROUP: another replica's state, not a reading */
	if (b->rep && replica_presence(b->rep, topic, payload, len, retained))
		return true;
	return take_from(b, 0, topic, payload, len, retained);
}

/* A message of a dead replica's session this bridge adopted (replica.h). */
static bool on_adopted(void *ctx, const char *topic, const void *payload, size_t len,
		       bool retained)
{
	return take_from(ctx, 1, topic, payload, len, retained);
}

/* The seq accountant's copy of a message: its seq only, nothing stored. */
static void on_account(void *ctx, const char *topic, const void *payload, size_t len)
{
	struct bridge *b = ctx;
	const struct format *f = route(b, topic);
	if (!f->seq)
		return;
	pthread_mutex_lock(&b->acct_lock);
	format_message(f, topic, payload, len, clock_now_ms(), b->acct_res);
	if (b->acct_res->kind == FORMAT_READINGS) {
		seq_account(b, b->acct_seq, topic, &b->acct_res->r[0]);
		format_result_release(b->acct_res);
	}
	pthread_mutex_unlock(&b->acct_lock);
}

static void on_accounting(void *ctx, bool on)
{
	struct bridge *b = ctx;
	pthread_mutex_lock(&b->acct_lock);
	seqtrack_free(b->acct_seq);
	b->acct_seq = on ? seqtrack_new(4096) : NULL;
	pthread_mutex_unlock(&b->acct_lock);
}

/* A reading with seq is in the log: its seq is seen (see take_message). */
static void seq_stored(struct bridge *b, const char *topic, const char *boot, uint64_t seq)
{
	uint64_t missing;
	if (b->share_group)
		seqtrack_see(b->seq, topic, boot, seq, &missing);
	else
		seq_note(b, b->seq, topic, boot, seq);
}

/*
 * The same message again (common/mqtt.c holds it until it is taken): parsed,
 * counted and encoded already; only the append is tried again.
 */
static bool take_again(struct bridge *b, const char *topic, const void *payload, size_t len)
{
	if (b->multi)
		return store_multi(b, topic);
	bool ok = store(b, b->held_kind, b->held_arrival, b->held_alt ? b->alt_topic : topic,
			b->held_rec ? b->rec : payload, b->held_rec ? b->held_len : len,
			b->held_rec);
	if (ok && b->held_noted)
		seq_stored(b, topic, b->held_boot, b->held_seq);
	if (ok)
		b->held_noted = false;
	return ok;
}

/* A message the format refused: counted under its own name and logged. */
static void refuse(struct bridge *b, const struct format *f, const struct format_result *res,
		   const char *topic, const void *payload, size_t len)
{
	char ex[72];
	switch (res->kind) {
	case FORMAT_BAD_TOPIC:
		b->bad_topic++;
		if (f == &format_sensorwire)
			log_warn("bridge", "refused a message on '%s': the topic is not "
				 "<prefix>/<node>/<sensor> (levels of 1 to 255 bytes, no control "
				 "characters, '\\', '+' or '#')", topic);
		else
			log_warn("bridge", "refused a message on '%s': not a %s topic (%s; levels "
				 "of 1 to 255 bytes, no control characters, '\\', '+' or '#')", topic,
				 f->name, f->topics);
		break;
	case FORMAT_TOO_LARGE:
		b->payload_too_large++;
		log_warn("bridge", "refused a message on '%s': payload of %zu bytes exceeds %d",
			 topic, len, READING_MAX_PAYLOAD);
		break;
	case FORMAT_IGNORED:
		b->ignored++;
		log_debug("bridge", "ignored a message on '%s': a %s topic without a reading", topic,
			  f->name);
		break;
	default: /* FORMAT_MALFORMED */
		excerpt(payload, len, ex, sizeof(ex));
		b->malformed++;
		if (f == &format_sensorwire)
			log_warn("bridge", "malformed payload on '%s': %s: '%s'", topic, res->err, ex);
		else
			log_warn("bridge", "malformed %s payload on '%s': %s: '%s'", f->name, topic,
				 res->err, ex);
		break;
	}
}

/* An availability message: ours as it came, another format's as ours (take_record()). */
static bool take_status(struct bridge *b, const struct format *f,
			const struct format_result *res, int64_t arrival, const char *topic,
			const void *payload, size_t len)
{
	if (!res->online)
		log_info("bridge", "node '%s' went offline", res->node);
	if (f == &format_sensorwire)
		return store(b, TOPIC_STATUS, arrival, topic, payload, len, false);
	snprintf(b->alt_topic, sizeof(b->alt_topic), "%s/%s/status", f->name, res->node);
	memcpy(b->rec, res->online ? "online" : "offline", res->online ? 6 : 7);
	b->held_alt = true;
	bool ok = store(b, TOPIC_STATUS, arrival, b->alt_topic, b->rec, res->online ? 6 : 7, true);
	if (ok)
		b->held_alt = false;
	return ok;
}

/*
 * The readings of one message share its time (one Time, one arrival): the
 * timestamp policy decides for all of them at once. False: refused by it.
 * *total gets the bound of their records.
 */
static bool prepare_readings(struct bridge *b, struct format_result *res, const char *topic,
			     int64_t arrival, size_t *total)
{
	if (!ts_policy(b, &res->r[0], topic, arrival))
		return false;
	*total = 0;
	for (size_t i = 0; i < res->n; i++) {
		struct reading *r = &res->r[i];
		if (i > 0 && res->r[0].ts_ms != r->ts_ms && !res->r[0].ts_from_payload) {
			r->ts_ms = res->r[0].ts_ms;
			r->ts_from_payload = false;
		}
		b->ignored_keys += r->ignored_keys;
		b->dropped_tags += r->dropped_tags;
		*total += record_bound(r);
	}
	return true;
}

/* Several readings of one message (a Tasmota SENSOR): encoded back to back, then stored. */
static bool take_several(struct bridge *b, struct format_result *res, const char *topic,
			 int64_t arrival, size_t total)
{
	b->multi = malloc(total);
	if (!b->multi)
		return false;   /* not acknowledged: tried again */
	size_t off = 0;
	for (size_t i = 0; i < res->n; i++) {
		b->multi_off[i] = off;
		int n = record_encode(&res->r[i], b->multi + off, total - off);
		if (n < 0) {
			/* cannot happen (record_bound()) */
			b->lost++;
			log_error("bridge", "cannot store a reading from '%s': %s (lost)", topic,
				  strerror(-n));
			free(b->multi);
			b->multi = NULL;
			return true;
		}
		off += (size_t)n;
	}
	b->multi_off[res->n] = off;
	b->multi_n = res->n;
	b->multi_next = 0;
	b->multi_arrival = arrival;
	return store_multi(b, topic);
}

/*
 * One reading with seq is noted once it is in the log (a message held for a
 * failed append comes again: take_again), and a redelivery of one already
 * there (QoS 1 after a reconnect: same boot and seq) is acknowledged without
 * storing it twice. A copy would reach the outputs behind newer samples,
 * e.g. behind a staleness marker sent meanwhile, where remote write can only
 * skip it. In a share group the tracker only serves that (a replica sees a
 * part of each sensor's seqs: the group's accountant counts, replica.h).
 * Only formats with seq (sensorwire) take part.
 */
static bool seq_tracked(const struct bridge *b, const struct format *f,
			const struct format_result *res)
{
	return f->seq && b->seq && res->n == 1 && res->r[0].has_seq && res->r[0].has_boot;
}

static bool take_readings(struct bridge *b, const struct format *f, struct format_result *res,
			  int64_t arrival, const char *topic)
{
	size_t total;
	if (!prepare_readings(b, res, topic, arrival, &total))
		return true;
	struct reading *r0 = &res->r[0];
	if (res->n > 1) {
		if (f->seq && !b->share_group)
			seq_account(b, b->seq, topic, r0);
		return take_several(b, res, topic, arrival, total);
	}
	bool noted = seq_tracked(b, f, res);
	if (!noted && f->seq && !b->share_group)
		seq_account(b, b->seq, topic, r0);
	if (noted && seqtrack_seen(b->seq, topic, r0->boot, r0->seq)) {
		if (!b->share_group)
			b->seq_duplicates++;
		b->duplicate++;
		log_debug("bridge", "'%s': seq %llu again: already in the log", topic,
			  (unsigned long long)r0->seq);
		return true;
	}
	int n = record_encode(r0, b->rec, sizeof(b->rec));
	if (n < 0) {
		/* cannot happen (see b->rec); kept as a loud loss, not a silent one */
		b->lost++;
		log_error("bridge", "cannot store a reading from '%s': %s (lost)", topic,
			  strerror(-n));
		return true;
	}
	bool ok = store(b, TOPIC_READING, arrival, topic, b->rec, (size_t)n, true);
	if (ok && noted)
		seq_stored(b, topic, r0->boot, r0->seq);
	if (!ok && noted) {
		/* held: noted when the log takes it */
		b->held_noted = true;
		memcpy(b->held_boot, r0->boot, sizeof(b->held_boot));
		b->held_seq = r0->seq;
	}
	return ok;
}

static bool take_message(struct bridge *b, const char *topic, const void *payload, size_t len,
			 bool retained)
{
	if (b->multi || b->held)
		return take_again(b, topic, payload, len);
	b->held_noted = false;
	b->held_alt = false;
	int64_t arrival = clock_now_ms();
	(void)retained; /* a retained reading keeps its ts, so a redelivery lands on the same point */
	b->received++;
	/* the refusals, cheapest first; each is counted under its own name */
	size_t topic_len = strlen(topic);
	if (topic_len > MQTT_TOPIC_MAX) {
		/* common/mqtt.c refuses these already; kept for any other way in */
		b->topic_too_long++;
		log_warn("bridge", "refused a message with a %zu-byte topic (the limit is %d)",
			 topic_len, MQTT_TOPIC_MAX);
		return true;
	}
	const struct format *f = route(b, topic);
	struct format_result *res = &b->res;
	format_message(f, topic, payload, len, arrival, res);
	bool ok = true;
	switch (res->kind) {
	case FORMAT_STATUS:
		ok = take_status(b, f, res, arrival, topic, payload, len);
		break;
	case FORMAT_READINGS:
		ok = take_readings(b, f, res, arrival, topic);
		format_result_release(res);
		break;
	default:
		refuse(b, f, res, topic, payload, len);
		break;
	}
	return ok;
}

/* A message common/mqtt.c could not pass on (its topic is too long). */
static void on_dropped(void *ctx, size_t topic_len)
{
	struct bridge *b = ctx;
	(void)topic_len; /* logged by common/mqtt.c */
	b->received++;
	b->topic_too_long++;
}

static bool in_list(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void subs_set(struct bridge *b, char *const *v, size_t n)
{
	for (size_t i = 0; i < b->n_subs; i++)
		free(b->subs[i]);
	b->n_subs = 0;
	for (size_t i = 0; i < n; i++)
		if ((b->subs[b->n_subs] = strdup(v[i])))
			b->n_subs++;
}

/*
 * STATE_DIR/subscriptions: the broker URL, the client id and the filters
 * its session holds, one "filter <f>" line each. Read at start; a file for
 * another URL or client id says nothing about this session.
 */
static void subs_load(struct bridge *b, const char *url, const char *client_id)
{
	FILE *f = fopen(b->subs_path, "r");
	if (!f)
		return;
	char line[1024];
	bool url_ok = false, id_ok = false;
	b->n_subs = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "url ", 4) == 0)
			url_ok = strcmp(line + 4, url) == 0;
		else if (strncmp(line, "client_id ", 10) == 0)
			id_ok = strcmp(line + 10, client_id) == 0;
		else if (strncmp(line, "filter ", 7) == 0 && b->n_subs < MAX_SUBS &&
			 (b->subs[b->n_subs] = strdup(line + 7)))
			b->n_subs++;
	}
	fclose(f);
	b->subs_known = url_ok && id_ok;
	if (!b->subs_known)
		subs_set(b, NULL, 0);
}

/* Writes STATE_DIR/subscriptions atomically (tmp, fsync, rename, fsync of the directory). */
static int subs_save(struct bridge *b)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", b->subs_path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "# sensor-bridge: the topic filters the broker's session holds\n");
	fprintf(f, "url %s\nclient_id %s\n", cfg_str(b->cfg, "MQTT_URL"),
		cfg_str(b->cfg, "MQTT_CLIENT_ID"));
	for (size_t i = 0; i < b->n_subs; i++)
		fprintf(f, "filter %s\n", b->subs[i]);
	int rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, b->subs_path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s", b->subs_path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* The broker answered on_connect's subscribe and unsubscribe (MQTT thread). */
static void subs_done(void *ctx, bool ok)
{
	struct bridge *b = ctx;
	if (!ok)
		return; /* logged by common/mqtt.c; tried again at the next connect */
	subs_set(b, b->subf, b->n_subf);
	b->subs_known = true;
	if (!b->subs_path)
		return;
	int rc = subs_save(b);
	if (rc < 0)
		log_error("bridge", "cannot save the subscriptions in '%s': %s; the next start "
			  "subscribes again", b->subs_path, strerror(-rc));
}

static void on_connect(void *ctx, bool session_present)
{
	struct bridge *b = ctx;
	/*
	 * A new session (first start, clean session, or the broker lost its
	 * state) needs every filter. A resumed one keeps the filters it was
	 * given, whatever MQTT_TOPICS now says: STATE_DIR/subscriptions says
	 * which, so only the difference is asked for (the new filters first,
	 * then away with the old ones, so a filter's messages never pause).
	 * Without that file (a bridge that predates it) the configured filters
	 * are subscribed again, which is harmless, and remembered from then on.
	 */
	if (b->rep)
		replica_connected(b->rep);
	/* a share group: a peer that adopted this session while the bridge
	 * was away unsubscribed it (replica.h), whatever STATE_DIR says */
	bool known = session_present && b->subs_known;
	char *sub[MAX_SUBS], *unsub[MAX_SUBS];
	size_t ns = 0, nu = 0;
	for (size_t i = 0; i < b->n_subf; i++)
		if (!known || b->rep || !in_list(b->subs, b->n_subs, b->subf[i]))
			sub[ns++] = b->subf[i];
	for (size_t i = 0; known && i < b->n_subs; i++)
		if (!in_list(b->subf, b->n_subf, b->subs[i]))
			unsub[nu++] = b->subs[i];
	if (!ns && !nu) {
		log_info("bridge", "the resumed session keeps the %zu configured topic filters: "
			 "nothing to subscribe or unsubscribe", b->n_subf);
		return;
	}
	if (known)
		log_info("bridge", "MQTT_TOPICS changed since the session was made: %zu filters to "
			 "subscribe, %zu to unsubscribe", ns, nu);
	else if (session_present)
		log_info("bridge", "no record in STATE_DIR of what the resumed session subscribes "
			 "to: subscribing to the configured filters again");
	if (mqtt_resubscribe(b->mqtt, sub, ns, b->qos, unsub, nu, subs_done, b) < 0)
		log_error("bridge", "cannot ask the broker for the subscriptions; trying again at "
			  "the next connect");
}

/*
 * What the broker is asked for (b->subf). Without MQTT_SHARE_GROUP the
 * MQTT_TOPICS filters. With it, each filter F as $share/<group>/F (the
 * replicas of the group split its messages), the group's presence, and
 * for each F its format's availability filter (format.h: sensors/+/+ gives
 * sensors/+/status, tasmota:tele/+/SENSOR tele/+/LWT, ...) unshared:
 * every replica learns every node's availability,
 * whichever replica holds that node's series (a status then reaches the
 * replica that also gets it through the shared filter twice; it is a
 * retained state, the second copy changes nothing).
 */
static int build_subscriptions(struct bridge *b, const char *group)
{
	b->share_group = group && *group ? group : NULL;
	if (b->share_group && (strpbrk(group, "/+#") || strlen(group) > 64)) {
		log_error("config", "MQTT_SHARE_GROUP '%s': one topic level of at most 64 bytes, "
			  "without / + #", group);
		return -1;
	}
	for (size_t i = 0; i < b->n_topics; i++) {
		const char *f = b->topics[i];
		char buf[1200];
		if (b->share_group)
			snprintf(buf, sizeof(buf), "$share/%s/%s", group, f);
		else
			snprintf(buf, sizeof(buf), "%s", f);
		if (!in_list(b->subf, b->n_subf, buf) && !(b->subf[b->n_subf++] = strdup(buf)))
			return -1;
	}
	if (b->share_group) {
		char buf[200];
		snprintf(buf, sizeof(buf), "bridge/share/%s/+", group);
		if (!(b->subf[b->n_subf++] = strdup(buf)))
			return -1;
	}
	/* each format's availability filter for its data filter (format.h) */
	for (size_t i = 0; b->share_group && i < b->n_topics; i++) {
		const struct format *fmt = b->topic_fmt[i];
		char buf[1200];
		if (!fmt->availability || !fmt->availability(b->topics[i], buf, sizeof(buf)))
			continue;
		if (!(b->avail_f[i] = strdup(buf)))
			return -1;
		if (!in_list(b->subf, b->n_subf, buf) && !(b->subf[b->n_subf++] = strdup(buf)))
			return -1;
	}
	return 0;
}

static int split_topics(struct bridge *b, const char *list)
{
	char *copy = strdup(list ? list : "");
	if (!copy)
		return -1;
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		size_t l = strlen(t);
		while (l && t[l - 1] == ' ')
			t[--l] = '\0';
		if (!l)
			continue;
		if (b->n_topics == MAX_TOPICS) {
			log_error("config", "MQTT_TOPICS: more than %d filters", MAX_TOPICS);
			free(copy);
			return -1;
		}
		/* "[format:]filter" (format.h); the broker gets the filter */
		const struct format *f;
		const char *filter;
		char err[256];
		if (format_spec(t, &f, &filter, err, sizeof(err)) < 0) {
			log_error("config", "MQTT_TOPICS: %s", err);
			free(copy);
			return -1;
		}
		b->topic_fmt[b->n_topics] = f;
		b->topics[b->n_topics++] = strdup(filter);
	}
	free(copy);
	if (!b->n_topics) {
		log_error("config", "MQTT_TOPICS: no topic filter given");
		return -1;
	}
	return 0;
}

/* WAL_SYNC: "always", "never", or a period in ms. */
static int parse_sync(const char *s, int *out)
{
	long long v;
	if (!s || !*s || strcmp(s, "always") == 0) {
		*out = WAL_SYNC_ALWAYS;
		return 0;
	}
	if (strcmp(s, "never") == 0) {
		*out = WAL_SYNC_NEVER;
		return 0;
	}
	if (cfg_parse_int(s, &v) == 0 && v >= 0 && v <= 3600000) {
		*out = v == 0 ? WAL_SYNC_ALWAYS : (int)v;
		return 0;
	}
	return -1;
}

/* WAL_MAX_AGE: seconds, or a number with s, m, h or d. */
static int parse_duration_ms(const char *s, int64_t *out)
{
	char *end;
	if (!s || !*s) {
		*out = 0;
		return 0;
	}
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return -1;
	double mul = 1000;
	if (*end == 's')
		end++;
	else if (*end == 'm')
		mul = 60e3, end++;
	else if (*end == 'h')
		mul = 3600e3, end++;
	else if (*end == 'd')
		mul = 86400e3, end++;
	if (*end)
		return -1;
	*out = (int64_t)(v * mul);
	return 0;
}

/* "<id>-dry-run-<16 hex digits>": never the production session's id. */
static char *dry_run_client_id(const char *id)
{
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		r = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^
		    ((uint64_t)getpid() << 32);
	}
	size_t n = strlen(id ? id : "") + 32;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s-dry-run-%016llx", id ? id : "", (unsigned long long)r);
	return s;
}

/*
 * OUTPUTS as sinks, into ops (at most MAX_OUTPUTS). All names are checked
 * before any output is built, so a typo is reported before an output's own
 * settings. Returns the count, or -1 (logged).
 */
static int parse_outputs(const char *list, const struct sink_ops **ops)
{
	int n = 0;
	for (const char *p = list + strspn(list, ", "); *p; p += strspn(p, ", ")) {
		size_t l = strcspn(p, ", ");
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(l < 63 ? l : 63), p);
		p += l;
		const struct sink_ops *o = sink_find(name);
		if (!o) {
			log_error("config", "OUTPUTS: unknown output '%s' (known: %s)", name,
				  sink_names());
			return -1;
		}
		for (int i = 0; i < n; i++) {
			if (ops[i] == o) {
				log_error("config", "OUTPUTS: '%s' is listed twice", name);
				return -1;
			}
		}
		if (n == MAX_OUTPUTS) {
			log_error("config", "OUTPUTS: too many outputs");
			return -1;
		}
		ops[n++] = o;
	}
	return n;
}

/* Builds the outputs of OUTPUTS (their readers come once the log is open). */
static int add_outputs(struct bridge *b, const struct cfg *c, bool dry_run)
{
	const struct sink_ops *ops[MAX_OUTPUTS];
	const char *list = cfg_is_set(c, "OUTPUTS") ? cfg_str(c, "OUTPUTS") : "stdout";
	int n = parse_outputs(list, ops);
	if (n < 0)
		return -1;
	const struct output_ctl ctl = { .lock = &b->stop_lock, .cond = &b->stop_cond,
					.stopping = &b->stopping, .deadline = &b->stop_deadline };
	for (int i = 0; i < n; i++) {
		char err[512];
		if (output_init(&b->out[b->n_out], ops[i], c, dry_run, &ctl, &b->out_par, err,
				sizeof(err)) < 0) {
			log_error("config", "output '%s': %s", ops[i]->name, err);
			return -1;
		}
		b->n_out++;
	}
	return 0;
}

/* Batching, pacing and the timestamp policy. -1 on a bad setting (logged). */
static int read_policies(struct bridge *b, const struct cfg *c)
{
	b->qos = (int)cfg_int(c, "MQTT_QOS");
	b->out_par.batch_max = (size_t)cfg_int(c, "BATCH_MAX_SAMPLES");
	b->out_par.batch_delay_ms = (int)cfg_int(c, "BATCH_MAX_DELAY_MS");
	b->out_par.replay_rate = (long)cfg_int(c, "REPLAY_MAX_SAMPLES_PER_S");
	const char *pacing = cfg_str(c, "PACING");
	if (strcmp(pacing, "adaptive") != 0 && strcmp(pacing, "off") != 0) {
		log_error("config", "PACING: '%s' is not adaptive or off", pacing);
		return -1;
	}
	b->out_par.pacing_adaptive = strcmp(pacing, "adaptive") == 0;
	const char *tsp = cfg_str(c, "TIMESTAMP_POLICY");
	if (strcmp(tsp, "clamp") != 0 && strcmp(tsp, "refuse") != 0) {
		log_error("config", "TIMESTAMP_POLICY: '%s' is not clamp or refuse", tsp);
		return -1;
	}
	b->ts_refuse = strcmp(tsp, "refuse") == 0;
	b->ts_logged_ms = -60000;
	static const char *const ts_keys[] = { "TIMESTAMP_MAX_FUTURE", "TIMESTAMP_MAX_PAST" };
	for (int i = 0; i < 2; i++) {
		int64_t *out = i ? &b->ts_max_past_ms : &b->ts_max_future_ms;
		if (parse_duration_ms(cfg_str(c, ts_keys[i]), out) < 0) {
			log_error("config", "%s: '%s' is not a duration such as 600, 10m, 72h or 7d",
				  ts_keys[i], cfg_str(c, ts_keys[i]));
			return -1;
		}
	}
	return 0;
}

/* MQTT_TOPICS, the subscriptions and MQTT_VERSION; the version, or -1 (logged). */
static int read_topics(struct bridge *b, const struct cfg *c, enum bridge_mode mode)
{
	if (split_topics(b, cfg_str(c, "MQTT_TOPICS")) < 0 ||
	    /* --dry-run gets its own copy of the stream, not a share of it */
	    build_subscriptions(b, mode == BRIDGE_DRY_RUN ? NULL
							: cfg_str(c, "MQTT_SHARE_GROUP")) < 0)
		return -1;
	int mqtt_version = mqtt_parse_version(cfg_str(c, "MQTT_VERSION"));
	if (mqtt_version < 0) {
		log_error("config", "MQTT_VERSION '%s': use 5, 3.1.1 or auto",
			  cfg_str(c, "MQTT_VERSION"));
		return -1;
	}
	if (b->share_group && mqtt_version == MQTT_V311)
		log_warn("config", "MQTT_SHARE_GROUP with MQTT 3.1.1: $share/ works only where the "
			 "broker offers it to 3.1.1 clients too (Mosquitto 2 does)");
	return mqtt_version;
}

/* The log's settings; *state_dir: STATE_DIR or NULL. -1 on a bad setting (logged). */
static int read_log_opts(const struct cfg *c, enum bridge_mode mode, struct wal_opts *wo,
			 const char **state_dir)
{
	*state_dir = cfg_is_set(c, "STATE_DIR") ? cfg_str(c, "STATE_DIR") : NULL;
	if (*state_dir && !**state_dir)
		*state_dir = NULL;
	/* only the daemon uses STATE_DIR: a dry run keeps its log in memory */
	wo->dir = mode == BRIDGE_RUN ? *state_dir : NULL;
	wo->max_bytes = (uint64_t)cfg_int(c, "WAL_MAX_BYTES");
	wo->max_records = (uint64_t)cfg_int(c, "QUEUE_MAX_SAMPLES");
	if (parse_sync(cfg_str(c, "WAL_SYNC"), &wo->sync_ms) < 0) {
		log_error("config", "WAL_SYNC: '%s' is not always, never or a period in ms",
			  cfg_str(c, "WAL_SYNC"));
		return -1;
	}
	if (parse_duration_ms(cfg_str(c, "WAL_MAX_AGE"), &wo->max_age_ms) < 0) {
		log_error("config", "WAL_MAX_AGE: '%s' is not a duration such as 3600, 90m, 72h or 7d",
			  cfg_str(c, "WAL_MAX_AGE"));
		return -1;
	}
	return 0;
}

/*
 * --check-config looks at STATE_DIR without touching it (a bridge may run
 * on it); otherwise the directory is locked, the log opened (and repaired)
 * and each output's reader opened. -1 on failure (logged).
 */
static int open_log(struct bridge *b, const struct cfg *c, enum bridge_mode mode,
		    const struct wal_opts *wo, const char *state_dir)
{
	char err[512];
	if (mode == BRIDGE_CHECK) {
		if (!state_dir)
			return 0;
		char msg[STATE_MSG_MAX];
		if (statedir_check(state_dir, msg, sizeof(msg)) < 0) {
			log_error("config", "%s", msg);
			return -1;
		}
		log_info("config", "%s", msg);
		return 0;
	}
	if (wo->dir) {
		/* before the log is opened: opening it cuts a torn tail */
		b->lock_fd = statedir_lock(wo->dir, err, sizeof(err));
		if (b->lock_fd < 0) {
			log_error("bridge", "%s", err);
			return -1;
		}
	}
	b->wal = wal_open(wo, err, sizeof(err));
	if (!b->wal) {
		log_error("bridge", "STATE_DIR: %s", err);
		return -1;
	}
	if (mode == BRIDGE_DRY_RUN && state_dir)
		log_info("bridge", "dry run: STATE_DIR '%s' is left alone (log in memory)", state_dir);
	else if (!wal_durable(b->wal))
		log_warn("bridge", "no STATE_DIR: readings wait in memory (at most %lld) and are lost "
			 "if the bridge stops before sending them; set STATE_DIR for a durable log",
			 cfg_int(c, "QUEUE_MAX_SAMPLES"));
	for (size_t i = 0; i < b->n_out; i++) {
		b->out[i].reader = wal_reader_open(b->wal, b->out[i].ops->name, err, sizeof(err));
		if (!b->out[i].reader) {
			log_error("bridge", "%s", err);
			return -1;
		}
	}
	return 0;
}

/* The bridge's MQTT connection settings (the strings stay the cfg's). */
static void mqtt_settings(const struct cfg *c, int mqtt_version, struct mqtt_opts *mo)
{
	*mo = (struct mqtt_opts){
		.url = cfg_str(c, "MQTT_URL"),
		.client_id = cfg_str(c, "MQTT_CLIENT_ID"),
		.username = cfg_str(c, "MQTT_USERNAME"),
		.password = cfg_str(c, "MQTT_PASSWORD"),
		.ca_file = cfg_str(c, "MQTT_CA_FILE"),
		.cert_file = cfg_str(c, "MQTT_CERT_FILE"),
		.key_file = cfg_str(c, "MQTT_KEY_FILE"),
		.keepalive_s = (int)cfg_int(c, "MQTT_KEEPALIVE_S"),
		.clean_session = false,
		.component = "mqtt",
		.version = (enum mqtt_version)mqtt_version,
		.session_expiry_s = (unsigned)cfg_int(c, "MQTT_SESSION_EXPIRY_S"),
		.receive_max = (unsigned)cfg_int(c, "MQTT_RECEIVE_MAX"),
	};
}

/*
 * A share group's replica (replica.h): presence, adoption and the seq
 * accountant, which reads the plain filters of the formats with seq. Sets
 * the connection's Will. -1 on failure.
 */
static int add_replica(struct bridge *b, struct mqtt_opts *mo)
{
	char *seqf[MAX_TOPICS];
	size_t nseq = 0;
	for (size_t i = 0; i < b->n_topics; i++)
		if (b->topic_fmt[i]->seq)
			seqf[nseq++] = b->topics[i];
	struct replica_opts ro = { .group = b->share_group, .mqtt = mo, .qos = b->qos,
				   .subf = b->subf, .n_subf = b->n_subf,
				   .seq_filters = seqf, .n_seq = nseq };
	struct replica_host rh = { .ctx = b, .take = on_adopted, .account = on_account,
				   .accounting = on_accounting };
	if (!(b->acct_res = calloc(1, sizeof(*b->acct_res))) || !(b->rep = replica_new(&ro, &rh)))
		return -1;
	mo->will_topic = replica_will_topic(b->rep);
	mo->will_payload = "down";
	mo->will_retained = true;
	mo->will_qos = 1;
	return 0;
}

/* The MQTT client, and the subscriptions the session holds (STATE_DIR). -1 on failure. */
static int open_mqtt(struct bridge *b, struct mqtt_opts *mo, const char *dir)
{
	char err[512], paho_dir[4096];
	if (dir) {
		/* Paho keeps messages it queued internally here (docs/protocols.md#mqtt, G8) */
		snprintf(paho_dir, sizeof(paho_dir), "%s/paho", dir);
		mo->persist_dir = paho_dir;
	}
	struct mqtt_handlers h = { .on_connect = on_connect, .on_message = on_message,
				   .on_dropped = on_dropped };
	b->mqtt = mqtt_new(mo, &h, b, err, sizeof(err));
	mo->persist_dir = NULL;
	if (!b->mqtt) {
		log_error("config", "%s", err);
		return -1;
	}
	if (b->rep)
		replica_attach(b->rep, b->mqtt);
	if (dir) {
		size_t n = strlen(dir) + sizeof("/subscriptions");
		if (!(b->subs_path = malloc(n)))
			return -1;
		snprintf(b->subs_path, n, "%s/subscriptions", dir);
		subs_load(b, mo->url ? mo->url : "", mo->client_id ? mo->client_id : "");
	}
	return 0;
}

struct bridge *bridge_new(const struct cfg *c, enum bridge_mode mode)
{
	struct bridge *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->cfg = c;
	b->mode = mode;
	b->lock_fd = -1;
	pthread_mutex_init(&b->stop_lock, NULL);
	pthread_cond_init(&b->stop_cond, NULL);
	pthread_mutex_init(&b->rx_lock, NULL);
	pthread_mutex_init(&b->acct_lock, NULL);
	b->seq = seqtrack_new(4096);

	struct wal_opts wo = { 0 };
	const char *state_dir;
	int mqtt_version;
	if (read_policies(b, c) < 0 || (mqtt_version = read_topics(b, c, mode)) < 0 ||
	    read_log_opts(c, mode, &wo, &state_dir) < 0 || add_outputs(b, c, mode != BRIDGE_RUN) < 0 ||
	    open_log(b, c, mode, &wo, state_dir) < 0)
		goto err;

	struct mqtt_opts mo;
	mqtt_settings(c, mqtt_version, &mo);
	if (mode == BRIDGE_DRY_RUN) {
		/* a session of its own, gone when it disconnects: the durable
		 * session's queue stays the daemon's */
		if (!(b->client_id = dry_run_client_id(mo.client_id)))
			goto err;
		mo.client_id = b->client_id;
		mo.clean_session = true;
		mo.session_expiry_s = 0;
	} else if (b->share_group && add_replica(b, &mo) < 0) {
		goto err;
	}
	if (open_mqtt(b, &mo, wo.dir) < 0)
		goto err;
	return b;
err:
	bridge_free(b);
	return NULL;
}

int bridge_start(struct bridge *b)
{
	for (size_t i = 0; i < b->n_out; i++) {
		int rc = output_start(&b->out[i]);
		if (rc < 0)
			return rc;
	}
	if (b->rep && replica_start(b->rep) < 0)
		return -EAGAIN;
	return mqtt_start(b->mqtt);
}

/*
 * MQTT_SHARE_GROUP, a planned stop: no more adoptions, then leave the
 * group if another replica is up (replica_leave, replica.c says why), and
 * remember in STATE_DIR/subscriptions that the session no longer holds the
 * shared filters, so the next start subscribes them again.
 */
static void leave_share_group(struct bridge *b)
{
	replica_stop(b->rep);
	if (!replica_leave(b->rep) || !b->subs_path)
		return;
	char *kept[MAX_SUBS];
	size_t nk = 0;
	for (size_t i = 0; i < b->n_subf; i++)
		if (strncmp(b->subf[i], "$share/", 7) != 0)
			kept[nk++] = b->subf[i];
	subs_set(b, kept, nk);
	int rc = subs_save(b);
	if (rc < 0)
		log_error("bridge", "cannot save the subscriptions in '%s': %s", b->subs_path,
			  strerror(-rc));
}

void bridge_stop(struct bridge *b, int timeout_ms)
{
	/* 1. no new messages: disconnect (Paho delivers nothing after this) */
	if (b->mqtt && b->rep)
		leave_share_group(b);
	if (b->mqtt)
		mqtt_stop(b->mqtt, 2000);
	/* 2. outputs flush what is in the log, bounded by the deadline */
	pthread_mutex_lock(&b->stop_lock);
	b->stopping = true;
	b->stop_deadline = clock_deadline_ms(timeout_ms);
	pthread_cond_broadcast(&b->stop_cond);
	pthread_mutex_unlock(&b->stop_lock);
	if (b->wal)
		wal_wake(b->wal);
	for (size_t i = 0; i < b->n_out; i++)
		output_join(&b->out[i], b->wal && wal_durable(b->wal));
	if (b->wal)
		wal_sync(b->wal);
	bridge_log_stats(b);
}

void bridge_free(struct bridge *b)
{
	if (!b)
		return;
	replica_free(b->rep);     /* its connections first: they feed on_message */
	mqtt_free(b->mqtt);
	for (size_t i = 0; i < b->n_out; i++)
		output_release(&b->out[i]);
	wal_close(b->wal);
	if (b->lock_fd >= 0)
		close(b->lock_fd);   /* unlocks, after the log is closed */
	free(b->client_id);
	for (size_t i = 0; i < b->n_topics; i++) {
		free(b->topics[i]);
		free(b->avail_f[i]);
	}
	for (size_t i = 0; i < b->n_subf; i++)
		free(b->subf[i]);
	seqtrack_free(b->acct_seq);
	free(b->acct_res);
	subs_set(b, NULL, 0);
	free(b->subs_path);
	seqtrack_free(b->seq);
	free(b->multi);
	pthread_mutex_destroy(&b->stop_lock);
	pthread_cond_destroy(&b->stop_cond);
	pthread_mutex_destroy(&b->rx_lock);
	pthread_mutex_destroy(&b->acct_lock);
	free(b);
}

bool bridge_connected(struct bridge *b)
{
	return b->mqtt && mqtt_is_connected(b->mqtt);
}

bool bridge_log_healthy(struct bridge *b, char *why, size_t n)
{
	int e = b->wal ? wal_sync_error(b->wal) : 0;
	if (e)
		snprintf(why, n, "the log cannot sync to disk: %s", strerror(e));
	else if (b->log_failing)
		snprintf(why, n, "the log cannot take messages (they wait at the broker)");
	else
		return true;
	return false;
}

void bridge_get_counters(struct bridge *b, struct bridge_counters *c)
{
	c->received = b->received;
	c->accepted = b->accepted;
	c->malformed = b->malformed;
	c->bad_topic = b->bad_topic;
	c->topic_too_long = b->topic_too_long;
	c->payload_too_large = b->payload_too_large;
	c->status = b->status;
	c->lost = b->lost;
	c->ignored_keys = b->ignored_keys;
	c->dropped_tags = b->dropped_tags;
	c->seq_gaps = b->seq_gaps;
	c->seq_duplicates = b->seq_duplicates;
}

size_t bridge_metrics(struct bridge *b, char *buf, size_t len)
{
	size_t n = 0;
#define EMIT(...) (n = emitf(buf, len, n, __VA_ARGS__))
	EMIT("# TYPE sensorwire_bridge_messages_total counter\n");
	EMIT("sensorwire_bridge_messages_total{result=\"accepted\"} %llu\n",
	     (unsigned long long)b->accepted);
	EMIT("sensorwire_bridge_messages_total{result=\"malformed\"} %llu\n",
	     (unsigned long long)b->malformed);
	EMIT("sensorwire_bridge_messages_total{result=\"bad_topic\"} %llu\n",
	     (unsigned long long)b->bad_topic);
	EMIT("sensorwire_bridge_messages_total{result=\"topic_too_long\"} %llu\n",
	     (unsigned long long)b->topic_too_long);
	EMIT("sensorwire_bridge_messages_total{result=\"payload_too_large\"} %llu\n",
	     (unsigned long long)b->payload_too_large);
	EMIT("sensorwire_bridge_messages_total{result=\"status\"} %llu\n",
	     (unsigned long long)b->status);
	EMIT("sensorwire_bridge_messages_total{result=\"lost\"} %llu\n",
	     (unsigned long long)b->lost);
	EMIT("sensorwire_bridge_messages_total{result=\"bad_timestamp\"} %llu\n",
	     (unsigned long long)b->bad_timestamp);
	EMIT("sensorwire_bridge_messages_total{result=\"ignored\"} %llu\n",
	     (unsigned long long)b->ignored);
	EMIT("sensorwire_bridge_messages_total{result=\"duplicate\"} %llu\n",
	     (unsigned long long)b->duplicate);
	EMIT("# TYPE sensorwire_bridge_clamped_timestamps_total counter\n");
	EMIT("sensorwire_bridge_clamped_timestamps_total %llu\n",
	     (unsigned long long)b->clamped_timestamps);
	EMIT("# TYPE sensorwire_bridge_ignored_keys_total counter\n");
	EMIT("sensorwire_bridge_ignored_keys_total %llu\n", (unsigned long long)b->ignored_keys);
	EMIT("# TYPE sensorwire_bridge_dropped_tags_total counter\n");
	EMIT("sensorwire_bridge_dropped_tags_total %llu\n", (unsigned long long)b->dropped_tags);
	EMIT("# TYPE sensorwire_bridge_seq_gaps_total counter\n");
	EMIT("sensorwire_bridge_seq_gaps_total %llu\n", (unsigned long long)b->seq_gaps);
	EMIT("# TYPE sensorwire_bridge_seq_duplicates_total counter\n");
	EMIT("sensorwire_bridge_seq_duplicates_total %llu\n",
	     (unsigned long long)b->seq_duplicates);
	EMIT("# TYPE sensorwire_bridge_seq_late_total counter\n");
	EMIT("sensorwire_bridge_seq_late_total %llu\n", (unsigned long long)b->seq_late);
	/* the payload formats of MQTT_TOPICS, and whether their readings feed
	 * the seq gap/duplicate accounting (only sensorwire's carry seq) */
	EMIT("# TYPE sensorwire_bridge_format_seq_tracked gauge\n");
	for (size_t i = 0; i < b->n_topics; i++) {
		bool first = true;
		for (size_t j = 0; j < i; j++)
			if (b->topic_fmt[j] == b->topic_fmt[i])
				first = false;
		if (first)
			EMIT("sensorwire_bridge_format_seq_tracked{format=\"%s\"} %d\n",
			     b->topic_fmt[i]->name, b->topic_fmt[i]->seq ? 1 : 0);
	}
	n = output_metrics(b->out, b->n_out, buf, len, n);
	struct wal_stats ws = { 0 };
	if (b->wal)
		wal_get_stats(b->wal, &ws);
	char why[8];
	EMIT("# TYPE sensorwire_bridge_log_errors_total counter\n");
	EMIT("sensorwire_bridge_log_errors_total{op=\"append\"} %llu\n",
	     (unsigned long long)b->append_errors);
	EMIT("sensorwire_bridge_log_errors_total{op=\"sync\"} %llu\n",
	     (unsigned long long)ws.sync_errors);
	EMIT("# TYPE sensorwire_bridge_log_healthy gauge\n");
	EMIT("sensorwire_bridge_log_healthy %d\n", bridge_log_healthy(b, why, sizeof(why)) ? 1 : 0);
	EMIT("# TYPE sensorwire_bridge_mqtt_connected gauge\n");
	EMIT("sensorwire_bridge_mqtt_connected %d\n", bridge_connected(b) ? 1 : 0);
	/* which replica group and which share this bridge serves (MQTT_SHARE_GROUP) */
	int proto = b->mqtt ? mqtt_protocol(b->mqtt) : 0;
	EMIT("# TYPE sensorwire_bridge_mqtt_info gauge\n");
	EMIT("sensorwire_bridge_mqtt_info{version=\"%s\",client_id=\"%s\",share_group=\"%s\"} 1\n",
	     proto == 5 ? "5" : proto ? "3.1.1" : "", cfg_str(b->cfg, "MQTT_CLIENT_ID"),
	     b->share_group ? b->share_group : "");
	if (b->rep)
		n = replica_metrics(b->rep, buf, len, n);
	EMIT("# TYPE sensorwire_bridge_mqtt_subscription gauge\n");
	for (size_t i = 0; i < b->n_subf; i++)
		EMIT("sensorwire_bridge_mqtt_subscription{filter=\"%s\",shared=\"%d\"} 1\n",
		     b->subf[i], strncmp(b->subf[i], "$share/", 7) == 0);
#undef EMIT
	return n;
}

void bridge_log_stats(struct bridge *b)
{
	char outs[512];
	size_t n = 0;
	outs[0] = '\0';
	for (size_t i = 0; i < b->n_out && n < sizeof(outs); i++) {
		int m = output_summary(&b->out[i], outs + n, sizeof(outs) - n);
		if (m > 0)
			n += (size_t)m;
	}
	log_info("bridge", "received=%llu accepted=%llu malformed=%llu bad_topic=%llu "
		 "topic_too_long=%llu payload_too_large=%llu status=%llu lost=%llu gaps=%llu "
		 "duplicates=%llu ignored_keys=%llu dropped_tags=%llu;%s",
		 (unsigned long long)b->received, (unsigned long long)b->accepted,
		 (unsigned long long)b->malformed, (unsigned long long)b->bad_topic,
		 (unsigned long long)b->topic_too_long, (unsigned long long)b->payload_too_large,
		 (unsigned long long)b->status, (unsigned long long)b->lost,
		 (unsigned long long)b->seq_gaps, (unsigned long long)b->seq_duplicates,
		 (unsigned long long)b->ignored_keys, (unsigned long long)b->dropped_tags, outs);
}
