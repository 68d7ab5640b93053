/*
 * publisher.c - sensor threads, delivery bookkeeping and outbox replay of
 * the sensor-publisher (see publisher.h for the model).
 *
 * The order of all undelivered readings is always: outbox (committed
 * prefix excluded), in flight (publication order), the one being
 * published, FIFO. When the connection drops, the unacknowledged readings
 * in flight, the one being published and then the FIFO are appended to the
 * outbox, and outbox records in flight become unread again, which keeps
 * that order on disk.
 *
 * Who does what, and the state they share. Everything below is guarded by
 * lock, which is never held across a call into the MQTT client (Paho holds
 * its own lock while it runs our callbacks, and those take lock).
 *
 *  - Publishing. Readings are published one at a time, by whoever holds
 *    the slot `sending` (set to the msg being published, NULL when free):
 *    a sensor thread for its own new reading when nothing waits before it
 *    (connected, FIFO empty, no unread outbox record, room in the window,
 *    slot free), which is the only path in normal operation; otherwise the
 *    sender thread, which publishes what waits: unread outbox records
 *    (oldest first), then the FIFO. The holder fills the slot, releases
 *    lock for mqtt_publish() (which only queues the message for Paho's send
 *    thread: it never waits on the network), takes lock again and files the
 *    msg at the tail of `inflight` with its token, so `inflight` is in
 *    Paho's send order. A reading that finds the slot taken, the window full
 *    or a backlog goes to the FIFO (the outbox once the FIFO is full, or
 *    while not connected) and wakes the sender, but not while the slot is
 *    taken: its holder looks at the FIFO when done (the sender's loop; a
 *    sensor thread publishes what other sensor threads queued meanwhile,
 *    while the window has room and no outbox record waits). With
 *    READ_SCHEDULE=aligned every sensor thread submits at once, and each
 *    reading but the first used to wake the sender.
 *  - `sending_requeued`: requeue_all() ran while the slot was held (on_lost,
 *    a refused publish, a full FIFO). It has already put the msg back in
 *    the outbox (a reading: appended; an outbox record: made unread by
 *    outbox_rewind), so the holder frees the msg instead of filing it, and
 *    a second requeue_all() in the same call does not append it twice. A
 *    reading the client had accepted anyway is then sent twice (QoS 1).
 *  - `early[]`: the PUBACK of the publish in progress can arrive (Paho's
 *    receive thread, on_delivered) before mqtt_publish() has returned its
 *    token to the holder. A token that matches nothing in flight while the
 *    slot is held is noted there; the holder looks its token up when it
 *    files the msg. Emptied when the next publish starts. Tokens of
 *    publishes outside this scheme (status, $stats, discovery configs)
 *    match nothing and are ignored, or wait there until then.
 *  - Paho's receive thread: on_delivered marks a msg acknowledged and pops
 *    the acknowledged prefix of `inflight` (committing outbox records, in
 *    order); on_lost clears `online`, increments `gen` and runs
 *    requeue_all(); on_connect sets `online` and `window` (WINDOW, or the
 *    broker's smaller Receive Maximum) and wakes the sender for the backlog
 *    and the discovery configs.
 *  - `gen` (+1 per lost connection): how ha_work(), which publishes with
 *    lock released, knows that the connection it started on is gone
 *    (`online` cannot say: it may be back already).
 *  - Wake-ups: cond is broadcast only for a thread that has something to
 *    do: the sender when a reading waits (FIFO, outbox), at connect, for
 *    the discovery configs and at stop; a PUBACK broadcasts only while
 *    readings wait for room in the window or shut_down() waits for the
 *    in-flight list to empty. In normal operation a reading wakes three
 *    threads: its sensor's (the schedule), Paho's send thread (the only
 *    writer to the socket) and Paho's receive thread (the PUBACK).
 */
#include "publisher/publisher.h"
#include "common/clock.h"
#include "common/log.h"
#include "publisher/drivers/dht_decode.h"
#include "publisher/ha.h"
#include "publisher/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMP "publisher"
#define TOPIC_MAX 256
#define WINDOW 32                   /* publishes in flight at once */
#define FIFO_MAX 256                /* readings waiting in memory while connected */
#define RETRY_FLOOR_MS 500          /* shortest retry after a failed read */
#define PUBLISH_RETRY_MS 200        /* after the client refused a publish */
#define DRAIN_WAIT_MS 2000          /* at shutdown, for readings still queued */
#define FIRST_CONNECT_WAIT_MS 3000  /* before the first read: no outbox write at start */
#define OFFLINE_ACK_WAIT_MS 3000
#define EARLY_ACKS 32               /* PUBACKs noted while one publish is in progress */
#define HEALTH_SLACK_MS 5000        /* /healthz: a read may take this long beyond 3 intervals */
#define HA_STALE_MAX 64             /* retained configs waiting for a verdict */

#if defined(__SANITIZE_ADDRESS__)
#define THREAD_STACK (512 * 1024)   /* ASan's redzones need room */
#else
#define THREAD_STACK (64 * 1024)
#endif

/*
 * A reading waiting in the FIFO or in flight. Outbox records in flight
 * carry only their position (their bytes stay in the outbox).
 */
struct msg {
	struct msg *next;
	int token;
	bool acked;
	bool from_outbox;
	struct outbox_pos pos;      /* from_outbox: where it ends in the outbox */
	size_t len;                 /* payload bytes */
	char *payload;              /* points into data, after the topic */
	char data[];                /* topic NUL payload NUL */
};

struct msg_list {
	struct msg *head, *tail;
	size_t n;
};

struct sensor_task {
	struct publisher *p;
	struct sensor *s;
	size_t index;
	pthread_t thread;
	bool started;
	uint64_t seq;
	char topic[TOPIC_MAX];
	/* failure state, logged once per change */
	int last_rc;
	enum sensor_fail last_kind;
	uint64_t fail_streak;
	/* HA discovery (lock): the fields of the last good reading */
	bool fields_known;
	bool ha_sent;               /* announced on this connection since the last change */
	size_t n_fields;
	const char *fields[SENSOR_MAX_FIELDS];
	/* copies of the sensor's counters for /metrics and $stats (stats_lock) */
	struct {
		uint64_t ok, failed, transient, fails[SENSOR_FAIL_KINDS];
		bool has_dht;
		struct dht_stats dht;
		bool has_ok;
		uint64_t last_ok_ms;        /* monotonic */
		uint64_t beat_ms;           /* monotonic: the last read finished (or start) */
	} snap;
};

/* A retained discovery config of this node found at connect (start-up scan). */
struct ha_stale {
	char topic[HA_TOPIC_MAX];
	char sensor[SENSOR_NAME_MAX];
	char field[64];
};

struct publisher {
	char node[PAYLOAD_LEVEL_MAX + 1];
	char status_topic[TOPIC_MAX];
	char client_id[128];
	struct payload_tags tags;
	char boot[17];
	unsigned interval_ms;
	uint64_t start_ms;          /* monotonic; sensor i first reads at + i * interval / n */
	bool aligned;               /* READ_SCHEDULE=aligned: all at start_ms + k * interval */
	int qos;
	struct sensor_task *tasks;
	size_t n_tasks;
	struct outbox *ob;
	struct mqtt *mqtt;

	pthread_mutex_t lock;
	pthread_cond_t cond;        /* state changes: online, acks, queues, stopping */
	/* the protocol between these: the comment at the top of the file */
	bool online;
	bool ever_online;           /* connected at least once */
	bool stopping;              /* the sender stops */
	bool draining;              /* shut_down() waits for the in-flight list to empty */
	unsigned gen;               /* +1 per lost connection */
	size_t window;              /* publishes in flight at most (on_connect) */
	struct msg_list fifo;       /* new readings, oldest first */
	struct msg_list inflight;   /* sent, oldest first */
	struct msg *sending;        /* the slot: the msg being published, lock released */
	bool sending_requeued;      /* ... and requeue_all() put it back in the outbox */
	size_t n_inflight_outbox;
	int early[EARLY_ACKS];      /* tokens acknowledged while the slot is held */
	size_t n_early;
	bool queueing;              /* readings go to the outbox (logged once) */
	bool queue_quiet;           /* ... only because the first connect is pending */
	uint64_t recovered;         /* records an earlier run left in the outbox */
	uint64_t queued_now;        /* readings queued since queueing started */
	uint64_t sent, acked, queued, replayed, lost;
	uint64_t connects, losses;
	bool outbox_failed;         /* the last append to the outbox failed */

	/* Home Assistant discovery (lock) */
	bool ha;
	char prefix[TOPIC_MAX];
	char ha_prefix[TOPIC_MAX];
	char ha_filter[HA_TOPIC_MAX];
	char ha_birth[2][TOPIC_MAX];  /* <ha_prefix>/status, and homeassistant/status */
	size_t n_birth;
	bool ha_due;                /* work for ha_work(): connect, birth, new fields, scan */
	struct ha_stale *stale;     /* HA_STALE_MAX, allocated only with HA_DISCOVERY */
	size_t n_stale;
	uint64_t ha_configs, ha_cleared;

	char stats_topic[TOPIC_MAX];
	unsigned stats_interval_s;
	unsigned will_delay_s;      /* MQTT_WILL_DELAY_S (MQTT 5) */
	bool stop_via_will;         /* MQTT_STOP_OFFLINE=will */
	uint64_t created_ms;        /* monotonic */
	pthread_mutex_t stats_lock; /* the tasks' snap */

	pthread_mutex_t stop_lock;  /* sensor threads sleep on stop_cond */
	pthread_cond_t stop_cond;
	bool stop_sensors;

	pthread_t sender;
	bool sender_started;
	char replay_buf[OUTBOX_REC_MAX + 2];
};

static int cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int rc = pthread_condattr_init(&a);
	if (rc)
		return -rc;
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	rc = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return -rc;
}

static void list_push(struct msg_list *l, struct msg *m)
{
	m->next = NULL;
	if (l->tail)
		l->tail->next = m;
	else
		l->head = m;
	l->tail = m;
	l->n++;
}

static struct msg *list_pop(struct msg_list *l)
{
	struct msg *m = l->head;
	if (!m)
		return NULL;
	l->head = m->next;
	if (!l->head)
		l->tail = NULL;
	l->n--;
	return m;
}

static struct msg *msg_new(const char *topic, const char *payload, size_t len)
{
	size_t tl = strlen(topic);
	struct msg *m = malloc(sizeof(*m) + tl + 1 + len + 1);
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->len = len;
	memcpy(m->data, topic, tl + 1);
	m->payload = m->data + tl + 1;
	memcpy(m->payload, payload, len);
	m->payload[len] = '\0';
	return m;
}

/* --- bookkeeping (lock held) ---------------------------------------------- */

/* Was token acknowledged before its publisher filed it? (early[], top of file) */
static bool early_take(struct publisher *p, int token)
{
	size_t n = p->n_early < EARLY_ACKS ? p->n_early : EARLY_ACKS;
	for (size_t i = 0; i < n; i++)
		if (p->early[i] == token)
			return true;
	return false;
}

/* Does the sender have readings to publish? (lock held) */
static bool readings_wait(const struct publisher *p)
{
	return p->fifo.n || outbox_has_unread(p->ob);
}

/* Connected, the slot free and room in the window: a publish may start. */
static bool can_publish(const struct publisher *p)
{
	return p->online && !p->sending && p->inflight.n < p->window;
}

static void queue_note(struct publisher *p, const char *why)
{
	p->queued++;
	p->queued_now++;
	if (p->queueing)
		return;
	p->queueing = true;
	p->queued_now = 1;
	p->queue_quiet = !p->ever_online && !p->recovered;
	if (p->queue_quiet)
		log_debug(COMP, "not connected yet: keeping readings in the outbox");
	else
		log_info(COMP, "%s: keeping readings in the outbox (%s) until they can be "
			 "delivered", why, outbox_is_durable(p->ob) ? "on disk" : "in memory");
}

static void to_outbox(struct publisher *p, const char *topic, const char *payload, size_t len,
		      const char *why)
{
	int rc = outbox_append(p->ob, topic, payload, len);
	p->outbox_failed = rc < 0;
	if (rc < 0) {
		p->lost++;
		log_error(COMP, "cannot keep a reading of '%s' in the outbox: %s (%" PRIu64
			  " lost so far)", topic, strerror(-rc), p->lost);
		return;
	}
	queue_note(p, why);
}

/* Pops the acknowledged prefix of the in-flight list, committing outbox records. */
static void pop_acked(struct publisher *p)
{
	while (p->inflight.head && p->inflight.head->acked) {
		struct msg *m = list_pop(&p->inflight);
		if (m->from_outbox) {
			outbox_commit(p->ob, &m->pos);
			p->n_inflight_outbox--;
			p->replayed++;
		}
		p->acked++;
		free(m);
	}
	if (p->queueing && outbox_empty(p->ob)) {
		p->queueing = false;
		LOG_AT(p->queue_quiet ? LOG_LVL_DEBUG : LOG_LVL_INFO, COMP, "backlog of %" PRIu64
		       " reading(s) delivered; publishing directly again", p->queued_now);
	}
}

static void inflight_add(struct publisher *p, struct msg *m)
{
	m->acked = p->qos == 0 || early_take(p, m->token);
	list_push(&p->inflight, m);
	if (m->from_outbox)
		p->n_inflight_outbox++;
	if (m->acked)
		pop_acked(p);
}

/*
 * The connection is gone (or a publish was refused): readings sent but not
 * acknowledged go to the outbox, then the FIFO, so the order holds; outbox
 * records in flight become unread again.
 */
static void requeue_all(struct publisher *p, const char *why)
{
	struct msg *m;
	uint64_t moved = 0;
	outbox_rewind(p->ob);
	while ((m = list_pop(&p->inflight))) {
		if (!m->acked && !m->from_outbox) {
			to_outbox(p, m->data, m->payload, m->len, why);
			moved++;
		}
		free(m);
	}
	p->n_inflight_outbox = 0;
	if (p->sending && !p->sending_requeued) {
		/* an outbox record being published is unread again (rewind above) */
		if (!p->sending->from_outbox) {
			to_outbox(p, p->sending->data, p->sending->payload, p->sending->len, why);
			moved++;
		}
		p->sending_requeued = true; /* its publisher frees it */
	}
	while ((m = list_pop(&p->fifo))) {
		to_outbox(p, m->data, m->payload, m->len, why);
		moved++;
		free(m);
	}
	if (moved)
		log_debug(COMP, "%" PRIu64 " unacknowledged or waiting reading(s) moved to the "
			  "outbox", moved);
}

/* --- MQTT callbacks (Paho's thread) ------------------------------------- */

static void ha_resend_all(struct publisher *p);

static void on_connect(void *ctx, bool session_present)
{
	struct publisher *p = ctx;
	(void)session_present;
	/* MQTT 5: within the broker's Receive Maximum too (mqtt.h) */
	unsigned quota = mqtt_send_quota(p->mqtt);
	int rc = mqtt_publish(p->mqtt, p->status_topic, "online", 6, 1, true, NULL);
	if (rc < 0)
		log_warn(COMP, "cannot publish 'online' on '%s': %s", p->status_topic,
			 strerror(-rc));
	if (p->ha) {
		/*
		 * The node's retained configs (the scan: publisher.h), and HA's
		 * birth message. QoS 0: a lost one is sent again at the next connect.
		 */
		char *filters[3] = { p->ha_filter, p->ha_birth[0], p->ha_birth[1] };
		rc = mqtt_subscribe(p->mqtt, filters, 1 + p->n_birth, 0);
		if (rc < 0)
			log_warn(COMP, "cannot subscribe to '%s': %s", p->ha_filter, strerror(-rc));
	}
	pthread_mutex_lock(&p->lock);
	p->online = true;
	p->window = quota && quota < WINDOW ? quota : WINDOW;
	p->connects++;
	ha_resend_all(p);
	if (!outbox_empty(p->ob)) {
		struct outbox_stats st;
		outbox_get_stats(p->ob, &st);
		LOG_AT(p->queueing && p->queue_quiet ? LOG_LVL_DEBUG : LOG_LVL_INFO, COMP,
		       "replaying %" PRIu64 " buffered reading(s) in order", st.pending);
	}
	p->ever_online = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void on_lost(void *ctx)
{
	struct publisher *p = ctx;
	pthread_mutex_lock(&p->lock);
	p->online = false;
	p->gen++;
	p->losses++;
	requeue_all(p, "broker unreachable");
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void on_delivered(void *ctx, int token)
{
	struct publisher *p = ctx;
	pthread_mutex_lock(&p->lock);
	struct msg *m = p->inflight.head;
	bool was_full = p->inflight.n >= p->window;
	while (m && (m->token != token || m->acked))
		m = m->next;
	if (m) {
		m->acked = true;
		pop_acked(p);
	} else if (p->sending) {
		p->early[p->n_early++ % EARLY_ACKS] = token;
	}
	/* room in the window: only someone waiting for it needs to know. The
	 * sender waits for room only when the window was full; a reading that
	 * waits for the slot's holder is its business (submit, the sender's
	 * loop) */
	if (p->draining || (readings_wait(p) && was_full))
		pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* --- Home Assistant discovery -------------------------------------------- */

/*
 * Removal of a sensor's entities: the broker's retained messages are the
 * truth, because they are what HA reads. At every connect the publisher
 * subscribes to <ha_prefix>/sensor/<node_id>/+/config; the broker answers
 * with the retained configs under it, flagged retained. Each one that
 * ha_config_parse() recognises as ours (unique_id sensorwire:<node>:...,
 * our device identifier) is kept here until it can be judged: a config of
 * a sensor no longer in SENSORS is cleared with an empty retained message
 * at once; one of a configured sensor waits for that sensor's first good
 * reading, which says which fields it has, and is cleared only if its
 * field is not among them. Messages that are not flagged retained are live
 * copies (our own announcements coming back) and are ignored. Nothing is
 * kept on disk, so this works without OUTBOX_DIR, after a lost or copied
 * state directory, and for configs an older version or another machine
 * with the same NODE_NAME left.
 */

/* Every sensor's configs are due again (connect, HA's birth); lock held. */
static void ha_resend_all(struct publisher *p)
{
	for (size_t i = 0; i < p->n_tasks; i++)
		p->tasks[i].ha_sent = false;
	p->ha_due = p->ha;
}

/* lock held */
static void stale_add(struct publisher *p, const char *topic, const char *sensor,
		      const char *field)
{
	for (size_t i = 0; i < p->n_stale; i++)
		if (strcmp(p->stale[i].topic, topic) == 0)
			return;
	if (p->n_stale >= HA_STALE_MAX) {
		log_warn(COMP, "more than %d retained discovery configs wait for a verdict; "
			 "'%s' is left alone", HA_STALE_MAX, topic);
		return;
	}
	struct ha_stale *e = &p->stale[p->n_stale++];
	snprintf(e->topic, sizeof(e->topic), "%s", topic);
	snprintf(e->sensor, sizeof(e->sensor), "%s", sensor);
	snprintf(e->field, sizeof(e->field), "%s", field);
}

static bool on_message(void *ctx, const char *topic, const void *payload, size_t len,
		       bool retained)
{
	struct publisher *p = ctx;
	char sensor[SENSOR_NAME_MAX], field[64];
	if (!p->ha)
		return true;
	for (size_t i = 0; i < p->n_birth; i++) {
		if (strcmp(topic, p->ha_birth[i]) != 0)
			continue;
		if (len == 6 && memcmp(payload, "online", 6) == 0) {
			log_info(COMP, "Home Assistant is online ('%s'): announcing the sensors again",
				 topic);
			pthread_mutex_lock(&p->lock);
			ha_resend_all(p);
			pthread_cond_broadcast(&p->cond);
			pthread_mutex_unlock(&p->lock);
		}
		return true;
	}
	if (!retained || !len ||
	    !ha_config_parse(payload, len, p->node, sensor, sizeof(sensor), field, sizeof(field)))
		return true;
	pthread_mutex_lock(&p->lock);
	stale_add(p, topic, sensor, field);
	p->ha_due = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return true;
}

static struct sensor_task *task_by_name(struct publisher *p, const char *name)
{
	for (size_t i = 0; i < p->n_tasks; i++)
		if (strcmp(p->tasks[i].s->name, name) == 0)
			return &p->tasks[i];
	return NULL;
}

static bool has_field(const struct sensor_task *t, const char *field)
{
	for (size_t i = 0; i < t->n_fields; i++)
		if (strcmp(t->fields[i], field) == 0)
			return true;
	return false;
}

/* Publishes one retained config (payload) or clears it (NULL); lock held, released. */
static bool ha_send(struct publisher *p, const char *topic, const char *payload)
{
	size_t len = payload ? strlen(payload) : 0;
	pthread_mutex_unlock(&p->lock);
	int rc = mqtt_publish(p->mqtt, topic, payload ? payload : "", len, 1, true, NULL);
	pthread_mutex_lock(&p->lock);
	if (rc < 0) {
		log_warn(COMP, "cannot %s the discovery config '%s': %s",
			 payload ? "publish" : "clear", topic, strerror(-rc));
		return false;
	}
	if (payload)
		p->ha_configs++;
	else
		p->ha_cleared++;
	return true;
}

/*
 * Sender thread, lock held (released around each publish): announces every
 * field of every sensor that has made a good reading, then clears the
 * retained configs the scan found that no sensor claims any more. Stops when
 * the connection drops: the next connect starts over.
 */
static void ha_work(struct publisher *p)
{
	char topic[HA_TOPIC_MAX], payload[HA_CONFIG_MAX];
	struct ha_ctx c = { .ha_prefix = p->ha_prefix, .prefix = p->prefix, .node = p->node,
			    .version = SW_VERSION, .interval_ms = p->interval_ms };
	unsigned gen = p->gen;
	size_t announced = 0, cleared = 0;
	p->ha_due = false;
	for (size_t i = 0; i < p->n_tasks && gen == p->gen && !p->stopping; i++) {
		struct sensor_task *t = &p->tasks[i];
		const char *fields[SENSOR_MAX_FIELDS];
		size_t n = t->fields_known && !t->ha_sent ? t->n_fields : 0;
		memcpy(fields, t->fields, n * sizeof(fields[0]));
		t->ha_sent = true;
		for (size_t f = 0; f < n && gen == p->gen; f++) {
			if (ha_config_topic(topic, sizeof(topic), &c, t->s->name, fields[f]) < 0 ||
			    ha_config_payload(payload, sizeof(payload), &c, t->s->name, fields[f]) < 0) {
				log_error(COMP, "sensor '%s': the discovery config of '%s' is too long",
					  t->s->name, fields[f]);
				continue;
			}
			announced += ha_send(p, topic, payload);
		}
	}
	for (size_t i = 0; i < p->n_stale && gen == p->gen;) {
		struct ha_stale *e = &p->stale[i];
		struct sensor_task *t = task_by_name(p, e->sensor);
		if (t && !t->fields_known) {
			i++;            /* judged after the sensor's first good reading */
			continue;
		}
		bool clear = !t || !has_field(t, e->field);
		snprintf(topic, sizeof(topic), "%s", e->topic);
		if (clear)
			log_info(COMP, "clearing the discovery config '%s' (%s)", topic,
				 t ? "the sensor has no such field any more" : "the sensor is gone");
		p->stale[i] = p->stale[--p->n_stale];
		if (clear)
			cleared += ha_send(p, topic, NULL);
	}
	if (announced || cleared)
		log_debug(COMP, "Home Assistant discovery: %zu config(s) published, %zu cleared",
			  announced, cleared);
}

/* Sensor thread: the fields of a good reading; a change makes the sender announce. */
static void ha_note_fields(struct sensor_task *t, const struct sensor_reading *r)
{
	struct publisher *p = t->p;
	bool same = t->fields_known && t->n_fields == r->n;
	for (size_t i = 0; same && i < r->n; i++)
		same = strcmp(t->fields[i], r->f[i].name) == 0;
	if (same)
		return;
	pthread_mutex_lock(&p->lock);
	/* a field the sensor had and has no more: its entity goes */
	for (size_t i = 0; t->fields_known && i < t->n_fields; i++) {
		bool kept = false;
		for (size_t j = 0; j < r->n && !kept; j++)
			kept = strcmp(t->fields[i], r->f[j].name) == 0;
		char topic[HA_TOPIC_MAX];
		struct ha_ctx c = { .ha_prefix = p->ha_prefix, .node = p->node };
		if (!kept && ha_config_topic(topic, sizeof(topic), &c, t->s->name, t->fields[i]) >= 0)
			stale_add(p, topic, t->s->name, t->fields[i]);
	}
	t->n_fields = r->n;
	for (size_t i = 0; i < r->n; i++)
		t->fields[i] = r->f[i].name;
	t->fields_known = true;
	t->ha_sent = false;
	p->ha_due = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* --- publishing ------------------------------------------------------------ */

/* Waits on cond for up to ms (lock held). */
static void wait_ms(struct publisher *p, unsigned ms)
{
	struct timespec ts = clock_ms_ts(clock_mono_ms() + ms);
	pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

/*
 * Publishes m in the slot (lock held, released during the call; the
 * protocol: top of the file). m is a reading, or the stub of the outbox
 * record topic/payload point to. Files m in flight and returns 0; or frees
 * it, because requeue_all() has put it back in the outbox (the connection
 * went meanwhile: -ECONNRESET; the client refused it: its -errno).
 */
static int publish(struct publisher *p, struct msg *m, const char *topic, const char *payload,
		   size_t len)
{
	int token = 0;
	p->sending = m;
	p->sending_requeued = false;
	p->n_early = 0;
	pthread_mutex_unlock(&p->lock);
	int rc = mqtt_publish(p->mqtt, topic, payload, len, p->qos, false, &token);
	pthread_mutex_lock(&p->lock);
	if (rc < 0 && !p->sending_requeued) {
		log_warn(COMP, "publish to '%s' failed: %s", topic, strerror(-rc));
		if (rc == -ENOTCONN)
			p->online = false;
		requeue_all(p, "publish failed");
	}
	p->sending = NULL;
	if (p->sending_requeued) {
		free(m);
		return rc < 0 ? rc : -ECONNRESET;
	}
	p->sent++;
	m->token = token;
	inflight_add(p, m);
	return 0;
}

/*
 * One new reading (sensor thread): published at once when nothing waits
 * before it, else to the FIFO for the sender while connected, else to the
 * outbox. Never blocks on the network.
 */
static void submit(struct publisher *p, const char *topic, const char *payload, size_t len)
{
	pthread_mutex_lock(&p->lock);
	if (can_publish(p) && !readings_wait(p)) {
		struct msg *m = msg_new(topic, payload, len);
		if (m) {
			int rc = publish(p, m, m->data, m->payload, m->len);
			/* what other sensor threads queued while this one held the
			 * slot, in order, while the window has room */
			while (rc == 0 && can_publish(p) && p->fifo.head && !outbox_has_unread(p->ob)) {
				m = list_pop(&p->fifo);
				rc = publish(p, m, m->data, m->payload, m->len);
			}
			/* the rest, or a refused publish's outbox */
			if (readings_wait(p))
				pthread_cond_broadcast(&p->cond);
			pthread_mutex_unlock(&p->lock);
			return;
		}
	}
	if (p->online && p->fifo.n < FIFO_MAX) {
		struct msg *m = msg_new(topic, payload, len);
		if (m) {
			list_push(&p->fifo, m);
			/* the slot's holder looks at the FIFO when done */
			if (!p->sending)
				pthread_cond_broadcast(&p->cond);
			pthread_mutex_unlock(&p->lock);
			return;
		}
	}
	if (p->online) {
		/* the broker takes nothing (or memory is short): spill, keeping the order */
		log_warn(COMP, "%zu readings wait for the broker; moving them to the outbox",
			 p->fifo.n);
		requeue_all(p, "broker not accepting");
	}
	to_outbox(p, topic, payload, len, p->online ? "broker not accepting" :
		  "broker unreachable");
	if (p->online)
		pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/*
 * Sender: publishes the next reading that waits (lock held, released
 * during the call): an unread outbox record, else the FIFO head. Returns
 * false when there is nothing to do.
 */
static bool send_one(struct publisher *p)
{
	struct outbox_rec rec;
	struct msg *m;
	int rc;

	if (outbox_has_unread(p->ob)) {
		m = calloc(1, sizeof(*m));
		if (!m) {
			wait_ms(p, PUBLISH_RETRY_MS);
			return true;
		}
		int got = outbox_next(p->ob, p->replay_buf, sizeof(p->replay_buf), &rec);
		if (got <= 0) {
			free(m);
			if (got < 0)
				log_error(COMP, "cannot read the outbox: %s", strerror(-got));
			return false;
		}
		m->from_outbox = true;
		m->pos = rec.end;
		rc = publish(p, m, rec.topic, rec.payload, rec.len);
	} else if (p->fifo.head) {
		m = list_pop(&p->fifo);
		rc = publish(p, m, m->data, m->payload, m->len);
	} else {
		return false;
	}
	if (rc < 0 && rc != -ECONNRESET)
		wait_ms(p, PUBLISH_RETRY_MS);   /* the client refused it: not at once again */
	return true;
}

static void *sender_main(void *arg)
{
	struct publisher *p = arg;
	pthread_setname_np(pthread_self(), "sw-sender");
	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		if (p->online && p->ha_due) {
			ha_work(p);
			continue;
		}
		if (!can_publish(p) || !send_one(p))
			pthread_cond_wait(&p->cond, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* --- sensors -------------------------------------------------------------- */

/* Sleeps until the monotonic time when_ms; false when the publisher stops. */
static bool sleep_until(struct publisher *p, uint64_t when_ms)
{
	struct timespec ts = clock_ms_ts((int64_t)when_ms);
	pthread_mutex_lock(&p->stop_lock);
	while (!p->stop_sensors &&
	       pthread_cond_timedwait(&p->stop_cond, &p->stop_lock, &ts) != ETIMEDOUT)
		;
	bool go = !p->stop_sensors;
	pthread_mutex_unlock(&p->stop_lock);
	return go;
}

/* Logs a read failure when it differs from the previous outcome. */
static void note_failure(struct sensor_task *t, int rc, const char *err, unsigned retry_ms)
{
	struct sensor *s = t->s;
	t->fail_streak++;
	if (t->last_rc == rc && t->last_kind == s->last_fail)
		return;
	t->last_rc = rc;
	t->last_kind = s->last_fail;
	log_warn(COMP, "sensor '%s' (%s): read failed: %s (%s%s); retrying every %u ms",
		 s->name, s->drv->name, *err ? err : strerror(-rc), sensor_fail_name(s->last_fail),
		 rc == -EAGAIN ? ", transient" : "", retry_ms);
}

static void note_success(struct sensor_task *t)
{
	if (t->fail_streak)
		log_info(COMP, "sensor '%s': reading again after %" PRIu64 " failed attempt(s)",
			 t->s->name, t->fail_streak);
	t->fail_streak = 0;
	t->last_rc = 0;
	t->last_kind = SENSOR_FAIL_NONE;
}

/* Reads once and, on success, encodes into buf. Returns length or -errno. */
static int read_and_encode(struct sensor_task *t, char *buf, size_t cap, char *err,
			   size_t errlen, struct sensor_reading *r)
{
	struct publisher *p = t->p;
	err[0] = '\0';
	int rc = sensor_read(t->s, r, err, errlen);
	if (rc < 0)
		return rc;
	struct payload_meta m = { .ts_ms = clock_now_ms(), .seq = t->seq + 1, .boot = p->boot };
	rc = payload_encode(buf, cap, &m, r, &p->tags);
	if (rc < 0) {
		snprintf(err, errlen, "cannot encode the reading: %s", strerror(-rc));
		t->s->last_fail = SENSOR_FAIL_IMPLAUSIBLE;
		/* counted as a failed read of that kind, not as a good one */
		t->s->reads_ok--;
		t->s->reads_failed++;
		t->s->fails[SENSOR_FAIL_IMPLAUSIBLE]++;
		return rc;
	}
	t->seq++;
	return rc;
}

static unsigned retry_delay(const struct sensor *s)
{
	return s->drv->min_retry_ms > RETRY_FLOOR_MS ? s->drv->min_retry_ms : RETRY_FLOOR_MS;
}

/* Copies the sensor's counters for /metrics and $stats (sensor thread). */
static void snap_update(struct sensor_task *t, bool ok)
{
	struct publisher *p = t->p;
	const struct sensor *s = t->s;
	const struct dht_stats *dht = dht_sensor_stats(s);
	uint64_t now = clock_mono_ms();
	pthread_mutex_lock(&p->stats_lock);
	t->snap.ok = s->reads_ok;
	t->snap.failed = s->reads_failed;
	t->snap.transient = s->reads_transient;
	memcpy(t->snap.fails, s->fails, sizeof(t->snap.fails));
	t->snap.has_dht = dht != NULL;
	if (dht)
		t->snap.dht = *dht;
	if (ok) {
		t->snap.has_ok = true;
		t->snap.last_ok_ms = now;
	}
	t->snap.beat_ms = now;
	pthread_mutex_unlock(&p->stats_lock);
}

static void *sensor_main(void *arg)
{
	struct sensor_task *t = arg;
	struct publisher *p = t->p;
	uint64_t iv = p->interval_ms;
	uint64_t slot = p->start_ms + (p->aligned ? 0 : iv * t->index / p->n_tasks);
	uint64_t wake = slot;
	char payload[PAYLOAD_MAX], err[256];
	struct sensor_reading r;

	/* "sw-s:<sensor>", cut to the kernel's 15 bytes: tells threads apart in top, /proc */
	snprintf(err, sizeof(err), "sw-s:%.10s", t->s->name);
	pthread_setname_np(pthread_self(), err);
	while (sleep_until(p, wake)) {
		int n = read_and_encode(t, payload, sizeof(payload), err, sizeof(err), &r);
		snap_update(t, n >= 0);
		if (n >= 0 && p->ha)
			ha_note_fields(t, &r);
		uint64_t now = clock_mono_ms();
		uint64_t next = slot + iv;
		while (next <= now)
			next += iv;     /* missed slots (suspend, slow read) are skipped */
		if (n >= 0) {
			note_success(t);
			submit(p, t->topic, payload, (size_t)n);
			slot = wake = next;
			continue;
		}
		unsigned rd = retry_delay(t->s);
		note_failure(t, n, err, rd);
		if (now + rd < next) {
			wake = now + rd;        /* retry within this slot */
		} else {
			slot = wake = next;
		}
	}
	return NULL;
}

/* --- life cycle ----------------------------------------------------------- */

static int build_topic(char *buf, size_t len, const char *prefix, const char *node,
		       const char *leaf)
{
	int n = snprintf(buf, len, "%s/%s/%s", prefix, node, leaf);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * The three locks are held for a few hundred instructions at a time, by
 * threads that often come together (READ_SCHEDULE=aligned wakes every
 * sensor thread at once, and each takes all three): a waiter spins a
 * little (glibc's adaptive mutex, bounded) before it sleeps in the kernel,
 * where each futex wait was a context switch.
 */
static void mutex_init_adaptive(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

struct publisher *publisher_new(const struct publisher_opts *o, const struct mqtt_opts *mo,
				char *err, size_t errlen)
{
	struct publisher *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(p->node, sizeof(p->node), "%s", o->node);
	snprintf(p->boot, sizeof(p->boot), "%s", o->boot);
	if (o->tags)
		p->tags = *o->tags;
	p->interval_ms = o->interval_ms;
	p->aligned = o->aligned;
	p->qos = o->qos;
	p->window = WINDOW;
	p->ob = o->outbox;
	struct outbox_stats st;
	outbox_get_stats(p->ob, &st);
	p->recovered = st.pending;
	snprintf(p->prefix, sizeof(p->prefix), "%s", o->prefix);
	p->stats_interval_s = o->stats_interval_s;
	p->stop_via_will = o->stop_via_will;
	p->will_delay_s = mo->will_delay_s;
	p->created_ms = clock_mono_ms();
	if (build_topic(p->status_topic, sizeof(p->status_topic), o->prefix, o->node,
			"status") < 0 ||
	    build_topic(p->stats_topic, sizeof(p->stats_topic), o->prefix, o->node,
			STATS_LEVEL) < 0) {
		snprintf(err, errlen, "TOPIC_PREFIX and NODE_NAME make a topic longer than %d bytes",
			 TOPIC_MAX - 1);
		goto err_free;
	}
	p->tasks = calloc(o->n_sensors ? o->n_sensors : 1, sizeof(*p->tasks));
	if (!p->tasks) {
		snprintf(err, errlen, "out of memory");
		goto err_free;
	}
	p->n_tasks = o->n_sensors;
	for (size_t i = 0; i < o->n_sensors; i++) {
		struct sensor_task *t = &p->tasks[i];
		t->p = p;
		t->s = &o->sensors[i];
		t->index = i;
		if (build_topic(t->topic, sizeof(t->topic), o->prefix, o->node, t->s->name) < 0) {
			snprintf(err, errlen, "sensor '%s': topic longer than %d bytes", t->s->name,
				 TOPIC_MAX - 1);
			goto err_tasks;
		}
		t->snap.beat_ms = p->created_ms;
	}
	if (o->ha_discovery) {
		struct ha_ctx c = { .ha_prefix = o->ha_prefix, .prefix = o->prefix, .node = o->node };
		p->ha = true;
		snprintf(p->ha_prefix, sizeof(p->ha_prefix), "%s", o->ha_prefix);
		/* HA's birth topic is homeassistant/status unless HA was told otherwise */
		snprintf(p->ha_birth[0], sizeof(p->ha_birth[0]), "%s/status", o->ha_prefix);
		p->n_birth = 1;
		if (strcmp(p->ha_birth[0], "homeassistant/status") != 0)
			snprintf(p->ha_birth[p->n_birth++], sizeof(p->ha_birth[1]),
				 "homeassistant/status");
		p->stale = calloc(HA_STALE_MAX, sizeof(*p->stale));
		if (strlen(o->ha_prefix) >= sizeof(p->ha_prefix) - 8 || !p->stale ||
		    ha_scan_filter(p->ha_filter, sizeof(p->ha_filter), &c) < 0) {
			snprintf(err, errlen, p->stale ? "HA_DISCOVERY_PREFIX is too long" :
				 "out of memory");
			goto err_tasks;
		}
	}

	struct mqtt_opts m = *mo;
	if (!m.client_id || !*m.client_id) {
		snprintf(p->client_id, sizeof(p->client_id), "sensor-publisher-%s", p->node);
		m.client_id = p->client_id;
	}
	m.clean_session = true;     /* the outbox keeps readings, not the broker */
	/*
	 * MQTT 5: every connect starts a new session (Clean Start), and the
	 * session outlives the connection only as long as the Will Delay: the
	 * broker sends the Will when the delay ends or the session does,
	 * whichever comes first, so a shorter expiry would cut the delay. The
	 * session holds nothing else worth keeping (QoS 0 subscriptions only).
	 */
	m.session_expiry_s = m.will_delay_s;
	m.will_topic = p->status_topic;
	m.will_payload = "offline";
	m.will_retained = true;
	m.will_qos = 1;
	m.persist_dir = NULL;
	if (!m.component)
		m.component = "mqtt";
	struct mqtt_handlers h = {
		.on_connect = on_connect,
		.on_lost = on_lost,
		.on_delivered = on_delivered,
		.on_message = on_message,
	};
	p->mqtt = mqtt_new(&m, &h, p, err, errlen);
	if (!p->mqtt)
		goto err_tasks;
	mutex_init_adaptive(&p->lock);
	mutex_init_adaptive(&p->stop_lock);
	mutex_init_adaptive(&p->stats_lock);
	if (cond_init_monotonic(&p->cond) < 0 || cond_init_monotonic(&p->stop_cond) < 0) {
		snprintf(err, errlen, "cannot create condition variables");
		mqtt_free(p->mqtt);
		goto err_tasks;
	}
	return p;
err_tasks:
	free(p->stale);
	free(p->tasks);
err_free:
	free(p);
	return NULL;
}

static int start_thread(pthread_t *th, void *(*fn)(void *), void *arg)
{
	pthread_attr_t a;
	int rc = pthread_attr_init(&a);
	if (rc)
		return -rc;
	pthread_attr_setstacksize(&a, THREAD_STACK);
	rc = pthread_create(th, &a, fn, arg);
	pthread_attr_destroy(&a);
	return -rc;
}

static void stop_sensors(struct publisher *p)
{
	pthread_mutex_lock(&p->stop_lock);
	p->stop_sensors = true;
	pthread_cond_broadcast(&p->stop_cond);
	pthread_mutex_unlock(&p->stop_lock);
	for (size_t i = 0; i < p->n_tasks; i++) {
		if (p->tasks[i].started)
			pthread_join(p->tasks[i].thread, NULL);
		p->tasks[i].started = false;
	}
}

static void stop_sender(struct publisher *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (p->sender_started)
		pthread_join(p->sender, NULL);
	p->sender_started = false;
}

static void log_stats(struct publisher *p)
{
	struct outbox_stats st;
	pthread_mutex_lock(&p->lock);
	outbox_get_stats(p->ob, &st);
	log_info(COMP, "published %" PRIu64 " (acknowledged %" PRIu64 ", from the outbox %"
		 PRIu64 "), queued %" PRIu64 ", waiting %" PRIu64 ", dropped %" PRIu64
		 ", lost %" PRIu64, p->sent, p->acked, p->replayed, p->queued, st.pending,
		 st.dropped, p->lost);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->n_tasks; i++) {
		const struct sensor *s = p->tasks[i].s;
		log_info(COMP, "sensor '%s': %" PRIu64 " reads ok, %" PRIu64 " failed (%" PRIu64
			 " transient; io %" PRIu64 ", no_response %" PRIu64 ", timing %" PRIu64
			 ", checksum %" PRIu64 ", implausible %" PRIu64 ")", s->name, s->reads_ok,
			 s->reads_failed, s->reads_transient, s->fails[SENSOR_FAIL_IO],
			 s->fails[SENSOR_FAIL_NO_RESPONSE], s->fails[SENSOR_FAIL_TIMING],
			 s->fails[SENSOR_FAIL_CHECKSUM], s->fails[SENSOR_FAIL_IMPLAUSIBLE]);
	}
}

/* --- statistics and health ---------------------------------------------------- */

/* One consistent copy of the counters; s->s is malloc'd (free it). */
static int snapshot(struct publisher *p, struct publisher_snap *s)
{
	struct outbox_stats st;
	memset(s, 0, sizeof(*s));
	s->s = calloc(p->n_tasks ? p->n_tasks : 1, sizeof(*s->s));
	if (!s->s)
		return -ENOMEM;
	uint64_t now = clock_mono_ms();
	s->node = p->node;
	s->boot = p->boot;
	s->version = SW_VERSION;
	s->ts_ms = clock_now_ms();
	s->uptime_ms = now - p->created_ms;
	pthread_mutex_lock(&p->lock);
	outbox_get_stats(p->ob, &st);
	s->connected = p->online;
	s->outbox_durable = outbox_is_durable(p->ob);
	s->outbox_ok = !p->outbox_failed;
	s->published = p->sent;
	s->acknowledged = p->acked;
	s->queued = p->queued;
	s->replayed = p->replayed;
	s->lost = p->lost;
	s->connects = p->connects;
	s->connection_losses = p->losses;
	s->outbox_readings = st.pending;
	s->outbox_bytes = st.bytes;
	s->outbox_dropped = st.dropped;
	s->ha = p->ha;
	s->ha_configs = p->ha_configs;
	s->ha_cleared = p->ha_cleared;
	pthread_mutex_unlock(&p->lock);
	s->n = p->n_tasks;
	pthread_mutex_lock(&p->stats_lock);
	for (size_t i = 0; i < p->n_tasks; i++) {
		const struct sensor_task *t = &p->tasks[i];
		struct sensor_snap *o = &s->s[i];
		o->name = t->s->name;
		o->driver = t->s->drv->name;
		o->reads_ok = t->snap.ok;
		o->reads_failed = t->snap.failed;
		o->reads_transient = t->snap.transient;
		memcpy(o->fails, t->snap.fails, sizeof(o->fails));
		o->has_dht = t->snap.has_dht;
		o->dht = t->snap.dht;
		o->has_ok = t->snap.has_ok;
		o->last_ok_age_ms = t->snap.has_ok ? now - t->snap.last_ok_ms : 0;
		o->beat_age_ms = now - t->snap.beat_ms;
	}
	pthread_mutex_unlock(&p->stats_lock);
	return 0;
}

/* The retained $stats message (main thread), while connected. */
static void publish_stats(struct publisher *p)
{
	struct publisher_snap s;
	if (!mqtt_is_connected(p->mqtt) || snapshot(p, &s) < 0)
		return;
	size_t cap = stats_json_cap(s.n);
	char *buf = malloc(cap);
	int n = buf ? stats_json(buf, cap, &s) : -ENOMEM;
	if (n >= 0) {
		int rc = mqtt_publish(p->mqtt, p->stats_topic, buf, (size_t)n, 1, true, NULL);
		if (rc < 0)
			log_warn(COMP, "cannot publish '%s': %s", p->stats_topic, strerror(-rc));
	}
	free(buf);
	free(s.s);
}

static int reply(char **body, size_t *len, const char *text)
{
	*body = strdup(text);
	*len = *body ? strlen(text) : 0;
	return *body ? 0 : -1;
}

int publisher_http(void *ctx, const char *path, char **body, size_t *len, const char **ctype)
{
	struct publisher *p = ctx;
	struct publisher_snap s;
	char msg[256];
	if (strcmp(path, "/healthz") != 0 && strcmp(path, "/readyz") != 0 &&
	    strcmp(path, "/metrics") != 0)
		return 404;
	if (snapshot(p, &s) < 0)
		return 500;
	int status = 200;
	if (strcmp(path, "/healthz") == 0) {
		uint64_t limit = 3ull * p->interval_ms + HEALTH_SLACK_MS;
		snprintf(msg, sizeof(msg), "ok\n");
		for (size_t i = 0; i < s.n; i++) {
			if (s.s[i].beat_age_ms > limit) {
				status = 503;
				snprintf(msg, sizeof(msg), "sensor '%s' has not finished a read for %" PRIu64
					 " ms (limit %" PRIu64 ")\n", s.s[i].name, s.s[i].beat_age_ms,
					 limit);
				break;
			}
		}
		reply(body, len, msg);
	} else if (strcmp(path, "/readyz") == 0) {
		if (s.connected)
			snprintf(msg, sizeof(msg), "ready: connected to the broker\n");
		else if (s.outbox_durable && s.outbox_ok)
			snprintf(msg, sizeof(msg), "ready: not connected; readings wait in OUTBOX_DIR\n");
		else if (s.outbox_durable)
			snprintf(msg, sizeof(msg), "not connected, and the outbox refuses readings\n");
		else
			snprintf(msg, sizeof(msg), "not connected to the broker, and no OUTBOX_DIR "
				 "keeps readings\n");
		status = s.connected || (s.outbox_durable && s.outbox_ok) ? 200 : 503;
		reply(body, len, msg);
	} else {
		size_t cap = stats_metrics_cap(s.n);
		*body = malloc(cap);
		int n = *body ? stats_metrics(*body, cap, &s) : -ENOMEM;
		if (n < 0) {
			free(*body);
			*body = NULL;
			status = 500;
		} else {
			*len = (size_t)n;
			*ctype = "text/plain; version=0.0.4; charset=utf-8";
		}
	}
	free(s.s);
	return status;
}

/*
 * Stops the sensors, gives the sender DRAIN_WAIT_MS to deliver what is
 * queued, announces offline and waits for its PUBACK; whatever is still
 * undelivered stays in the outbox.
 */
static void shut_down(struct publisher *p, bool restarting)
{
	stop_sensors(p);
	int64_t until = clock_mono_ms() + DRAIN_WAIT_MS;
	pthread_mutex_lock(&p->lock);
	p->draining = true;
	while (p->online && (p->fifo.n || p->inflight.n || outbox_has_unread(p->ob)) &&
	       clock_mono_ms() < until)
		wait_ms(p, 50);
	pthread_mutex_unlock(&p->lock);
	stop_sender(p);
	/* a restart on MQTT 5 with a Will delay: the delayed Will says 'offline'
	 * if the publisher is not back in time (mqtt_stop_with_will below) */
	bool via_will = restarting && p->will_delay_s && mqtt_protocol(p->mqtt) == 5;
	if (restarting && !via_will)
		log_info(COMP, "stopping for a restart, but %s: publishing 'offline' now",
			 p->will_delay_s ? "MQTT 3.1.1 has no Will delay" : "MQTT_WILL_DELAY_S is 0");
	if (!via_will && mqtt_is_connected(p->mqtt)) {
		int rc = mqtt_publish(p->mqtt, p->status_topic, "offline", 7, 1, true, NULL);
		if (rc == 0)
			rc = mqtt_wait_idle(p->mqtt, OFFLINE_ACK_WAIT_MS);
		if (rc < 0)
			log_warn(COMP, "'offline' on '%s' not acknowledged: %s", p->status_topic,
				 strerror(-rc));
	}
	pthread_mutex_lock(&p->lock);
	p->online = false;
	requeue_all(p, "shutting down");
	outbox_trim(p->ob);     /* delivered records are not sent again next time */
	struct outbox_stats st;
	outbox_get_stats(p->ob, &st);
	if (st.pending && outbox_is_durable(p->ob))
		log_info(COMP, "%" PRIu64 " undelivered reading(s) stay in the outbox for the "
			 "next start", st.pending);
	else if (st.pending)
		log_warn(COMP, "%" PRIu64 " undelivered reading(s) are lost (no OUTBOX_DIR)",
			 st.pending);
	pthread_mutex_unlock(&p->lock);
	if (!via_will || mqtt_stop_with_will(p->mqtt, 2000) == -ENOTSUP)
		mqtt_stop(p->mqtt, 2000);
	else
		log_info(COMP, "restarting: 'offline' only if not back within %u s (Will delay)",
			 p->will_delay_s);
	log_stats(p);
}

int publisher_run(struct publisher *p, const sigset_t *stop, unsigned stats_every_s)
{
	int rc = start_thread(&p->sender, sender_main, p);
	if (rc < 0) {
		log_error(COMP, "cannot start the sender thread: %s", strerror(-rc));
		return rc;
	}
	p->sender_started = true;
	rc = mqtt_start(p->mqtt);
	if (rc < 0) {
		log_error(COMP, "cannot start the MQTT client: %s", strerror(-rc));
		goto err_stop;
	}
	/*
	 * Give the first connection a moment, so that the first readings go
	 * straight to the broker instead of through the outbox (a disk write
	 * at every start otherwise).
	 */
	pthread_mutex_lock(&p->lock);
	int64_t until = clock_mono_ms() + FIRST_CONNECT_WAIT_MS;
	while (!p->online && clock_mono_ms() < until)
		wait_ms(p, 50);
	pthread_mutex_unlock(&p->lock);
	p->start_ms = clock_mono_ms();
	for (size_t i = 0; i < p->n_tasks; i++) {
		rc = start_thread(&p->tasks[i].thread, sensor_main, &p->tasks[i]);
		if (rc < 0) {
			log_error(COMP, "cannot start the thread of sensor '%s': %s",
				  p->tasks[i].s->name, strerror(-rc));
			goto err_stop;
		}
		p->tasks[i].started = true;
	}
	log_info(COMP, "node '%s', boot %s: %zu sensor(s) every %u ms (%s), status on '%s'",
		 p->node, p->boot, p->n_tasks, p->interval_ms, p->aligned ? "aligned" : "spread",
		 p->status_topic);

	/* two timers: the log line every stats_every_s, $stats every stats_interval_s */
	bool restarting = false;
	uint64_t next_log = stats_every_s ? clock_mono_ms() + stats_every_s * 1000ull : UINT64_MAX;
	uint64_t next_pub = p->stats_interval_s ? clock_mono_ms() + p->stats_interval_s * 1000ull
						: UINT64_MAX;
	for (;;) {
		uint64_t now = clock_mono_ms(), next = next_log < next_pub ? next_log : next_pub;
		uint64_t wait = next > now ? next - now : 0;
		if (wait > (uint64_t)INT_MAX * 1000)
			wait = (uint64_t)INT_MAX * 1000;
		struct timespec ts = clock_ms_ts((int64_t)wait);
		int sig = sigtimedwait(stop, NULL, &ts);
		if (sig > 0) {
			restarting = sig == SIGUSR2 || p->stop_via_will;
			log_info(COMP, "%s: stopping%s", strsignal(sig),
				 restarting ? " for a restart" : "");
			break;
		}
		now = clock_mono_ms();
		if (now >= next_log) {
			log_stats(p);
			next_log = now + stats_every_s * 1000ull;
		}
		if (now >= next_pub) {
			publish_stats(p);
			next_pub = now + p->stats_interval_s * 1000ull;
		}
	}
	shut_down(p, restarting);
	return 0;
err_stop:
	stop_sensors(p);
	stop_sender(p);
	mqtt_stop(p->mqtt, 1000);
	return rc;
}

void publisher_free(struct publisher *p)
{
	if (!p)
		return;
	mqtt_free(p->mqtt);
	pthread_mutex_lock(&p->lock);
	requeue_all(p, "shutting down");
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->stop_lock);
	pthread_mutex_destroy(&p->stats_lock);
	pthread_cond_destroy(&p->cond);
	pthread_cond_destroy(&p->stop_cond);
	free(p->stale);
	free(p->tasks);
	free(p);
}

int publisher_once(const struct publisher_opts *o, FILE *out)
{
	struct publisher p = { .interval_ms = o->interval_ms };
	int failed = 0;
	snprintf(p.boot, sizeof(p.boot), "%s", o->boot);
	if (o->tags)
		p.tags = *o->tags;
	for (size_t i = 0; i < o->n_sensors; i++) {
		struct sensor_task t = { .p = &p, .s = &o->sensors[i] };
		char payload[PAYLOAD_MAX], err[256];
		int n = 0;
		struct sensor_reading r;
		for (int attempt = 0; attempt < 3; attempt++) {
			if (attempt) {
				struct timespec d = clock_ms_ts(retry_delay(t.s));
				nanosleep(&d, NULL);
			}
			n = read_and_encode(&t, payload, sizeof(payload), err, sizeof(err), &r);
			if (n != -EAGAIN)
				break;
		}
		if (n < 0) {
			log_error(COMP, "sensor '%s' (%s): read failed: %s (%s%s)", t.s->name,
				  t.s->drv->name, *err ? err : strerror(-n),
				  sensor_fail_name(t.s->last_fail), n == -EAGAIN ? ", transient" : "");
			failed++;
			continue;
		}
		log_info(COMP, "sensor '%s' (%s) -> %s/%s/%s", t.s->name, t.s->drv->name,
			 o->prefix, o->node, t.s->name);
		fprintf(out, "%s\n", payload);
	}
	fflush(out);
	return failed ? -EIO : 0;
}
