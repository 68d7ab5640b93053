/*
 * replica.c - presence, planned leave, session adoption and the seq
 * accountant of a bridge in an MQTT_SHARE_GROUP (the design: replica.h).
 *
 * Threads: replica_presence runs on the bridge's Paho thread, the adopted
 * session's and the accountant's messages on their own Paho threads, the
 * decisions (whom to adopt, who counts seq) on the replica thread. lock
 * guards the peer table and the counters; an adoption runs on the replica
 * thread from start to end (one at a time).
 */
#include "bridge/replica.h"
#include "bridge/emit.h"
#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PEERS_MAX 32
#define ID_MAX 128
#define ADOPT_DELAY_MS 300     /* after a peer's "down", for the first survivor */
#define ADOPT_STAGGER_MS 2000  /* per rank after it */
#define ADOPT_CONNECT_MS 5000
#define ADOPT_QUIET_MS 1000    /* the drained session is quiet this long: end it */
#define ADOPT_MAX_MS (30 * 60 * 1000)

struct peer {
	char id[ID_MAX];
	char state;            /* u(p), l(eaving), L(eft), d(own), a(dopted) */
	char adopter[ID_MAX];  /* state a: who drains it */
	bool live_down;        /* went down while this replica watched */
	bool tried;            /* this replica adopted it (or tried) since */
	int64_t down_ms;
};

/* one connection of the replica besides the bridge's own */
struct side {
	struct replica *r;
	struct mqtt *m;
	char id[ID_MAX];
	bool acct;             /* the accountant's: subscribes at each connect */
	bool connected, present, lost, resub_done, resub_ok;
};

struct replica {
	struct replica_opts o;
	struct mqtt_opts mo;   /* o.mqtt points here; o.seq_filters at seqf */
	char *seqf[64];
	struct replica_host h;
	char group[128];
	char me[ID_MAX];
	char will[300];
	struct mqtt *mqtt;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stopping;
	struct peer peers[PEERS_MAX];
	size_t n_peers;
	int leave;             /* replica_leave: 0 waiting, 1 done, -1 failed */
	struct side *adopting; /* the adoption under way (lock) */
	struct side *acct;     /* the accountant's connection, when this replica counts */
	bool acct_want;        /* replica thread: the role wanted, and since when */
	int64_t acct_want_ms;
	_Atomic unsigned long long adopted_msgs, adoptions_drained, adoptions_taken_over,
		adoptions_failed, adoption_last_ms;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

struct replica *replica_new(const struct replica_opts *o, const struct replica_host *h)
{
	struct replica *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->o = *o;
	r->mo = *o->mqtt;
	r->o.mqtt = &r->mo;
	r->o.n_seq = o->n_seq < 64 ? o->n_seq : 64;
	for (size_t i = 0; i < r->o.n_seq; i++)
		r->seqf[i] = o->seq_filters[i];
	r->o.seq_filters = r->seqf;
	r->h = *h;
	snprintf(r->group, sizeof(r->group), "%s", o->group);
	snprintf(r->me, sizeof(r->me), "%s", o->mqtt->client_id ? o->mqtt->client_id : "");
	snprintf(r->will, sizeof(r->will), "bridge/share/%s/%s", r->group, r->me);
	r->o.group = r->group;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	return r;
}

const char *replica_will_topic(const struct replica *r)
{
	return r->will;
}

void replica_attach(struct replica *r, struct mqtt *m)
{
	r->mqtt = m;
}

static void say(struct replica *r, const char *id, const char *state, bool wait)
{
	char t[300];
	snprintf(t, sizeof(t), "bridge/share/%s/%s", r->group, id);
	int rc = mqtt_publish(r->mqtt, t, state, strlen(state), 1, true, NULL);
	if (rc < 0)
		log_warn("bridge", "cannot publish '%s' on '%s': %s", state, t, strerror(-rc));
	else if (wait)
		mqtt_wait_idle(r->mqtt, 1000);
}

void replica_connected(struct replica *r)
{
	say(r, r->me, "up", false);
}

static const char *state_name(char s)
{
	switch (s) {
	case 'u': return "up";
	case 'l': return "leaving";
	case 'L': return "left";
	case 'a': return "adopted";
	default: return "down";
	}
}

bool replica_presence(struct replica *r, const char *topic, const void *payload, size_t len,
		      bool retained)
{
	char prefix[200];
	int pl = snprintf(prefix, sizeof(prefix), "bridge/share/%s/", r->group);
	if (strncmp(topic, prefix, (size_t)pl) != 0)
		return false;
	const char *id = topic + pl;
	if (strcmp(id, r->me) == 0 || !*id || strlen(id) >= ID_MAX)
		return true;
	const char *p = payload;
	char st = len >= 1 ? p[0] : 'd';
	if (len >= 3 && st == 'l' && p[2] == 'f')
		st = 'L'; /* "left" */
	char adopter[ID_MAX] = "";
	if (st == 'a' && len > 8 && len - 8 < ID_MAX) /* "adopted <id>" */
		memcpy(adopter, p + 8, len - 8), adopter[len - 8] = '\0';
	pthread_mutex_lock(&r->lock);
	size_t i = 0;
	while (i < r->n_peers && strcmp(r->peers[i].id, id) != 0)
		i++;
	if (i == r->n_peers && i < PEERS_MAX) {
		memset(&r->peers[i], 0, sizeof(r->peers[i]));
		snprintf(r->peers[r->n_peers++].id, ID_MAX, "%s", id);
	}
	if (i < r->n_peers) {
		struct peer *q = &r->peers[i];
		char was = q->state;
		q->state = st;
		snprintf(q->adopter, sizeof(q->adopter), "%s", adopter);
		if (st == 'd' && !retained && was != 'd') {
			/* a live "down": its Will (or a last replica's stop: then
			 * nobody is up to see it). What it was draining, if it was
			 * adopting, is left to adopt too. */
			q->live_down = true;
			q->tried = false;
			q->down_ms = mono_ms();
			for (size_t k = 0; k < r->n_peers; k++) {
				struct peer *o = &r->peers[k];
				if (o->state == 'a' && strcmp(o->adopter, id) == 0) {
					o->state = 'd';
					o->live_down = true;
					o->tried = false;
					o->down_ms = q->down_ms;
				}
			}
			log_info("bridge", "replica '%s' of share group '%s' is down", id, r->group);
			pthread_cond_broadcast(&r->cond);
		} else if (st != 'd') {
			q->live_down = false;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return true;
}

/* My place among the replicas up (me included), by client id (lock held). */
static size_t rank_up(struct replica *r)
{
	size_t rank = 0;
	for (size_t i = 0; i < r->n_peers; i++)
		if (r->peers[i].state == 'u' && strcmp(r->peers[i].id, r->me) < 0)
			rank++;
	return rank;
}

/* --- the other connections (adopted session, accountant) ---------------- */

static void side_resub(void *ctx, bool ok);

static void side_connect(void *ctx, bool present)
{
	struct side *s = ctx;
	/* QoS 0: nothing is ever queued for it; Clean Start: subscribed anew */
	if (s->acct && mqtt_resubscribe(s->m, s->r->o.seq_filters, s->r->o.n_seq, 0, NULL, 0,
					side_resub, s) < 0)
		log_warn("bridge", "the seq accountant cannot subscribe; at the next connect");
	pthread_mutex_lock(&s->r->lock);
	s->connected = true;
	s->present = present;
	pthread_cond_broadcast(&s->r->cond);
	pthread_mutex_unlock(&s->r->lock);
}

static void side_lost(void *ctx)
{
	struct side *s = ctx;
	pthread_mutex_lock(&s->r->lock);
	s->lost = true;
	pthread_cond_broadcast(&s->r->cond);
	pthread_mutex_unlock(&s->r->lock);
}

static void side_resub(void *ctx, bool ok)
{
	struct side *s = ctx;
	pthread_mutex_lock(&s->r->lock);
	s->resub_done = true;
	s->resub_ok = ok;
	pthread_cond_broadcast(&s->r->cond);
	pthread_mutex_unlock(&s->r->lock);
}

static bool filter_match(const char *f, const char *t)
{
	for (;;) {
		if (f[0] == '#')
			return true;
		size_t fl = strcspn(f, "/"), tl = strcspn(t, "/");
		if (!(fl == 1 && f[0] == '+') && (fl != tl || memcmp(f, t, fl) != 0))
			return false;
		f += fl;
		t += tl;
		if (!*f && !*t)
			return true;
		if (!*t)
			return strcmp(f, "/#") == 0;
		if (!*f)
			return false;
		f++;
		t++;
	}
}

/* A message of the adopted session. What an unshared filter brought (the
 * statuses, the presence) every replica got itself: taken and dropped. */
static bool adopted_message(void *ctx, const char *topic, const void *payload, size_t len,
			    bool retained)
{
	struct side *s = ctx;
	struct replica *r = s->r;
	for (size_t i = 0; i < r->o.n_subf; i++)
		if (strncmp(r->o.subf[i], "$share/", 7) != 0 && filter_match(r->o.subf[i], topic))
			return true;
	if (!r->h.take(r->h.ctx, topic, payload, len, retained))
		return false;
	r->adopted_msgs++;
	return true;
}

static void acct_message(void *ctx, const char *topic, const void *payload, size_t len)
{
	struct side *s = ctx;
	s->r->h.account(s->r->h.ctx, topic, payload, len);
}

static bool acct_on_message(void *ctx, const char *topic, const void *payload, size_t len,
			    bool retained)
{
	(void)retained;
	acct_message(ctx, topic, payload, len);
	return true;
}

static struct side *side_new(struct replica *r, const char *id, bool adopt)
{
	struct side *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->r = r;
	s->acct = !adopt;
	snprintf(s->id, sizeof(s->id), "%s", id);
	struct mqtt_opts mo = *r->o.mqtt;
	mo.client_id = s->id;
	mo.will_topic = NULL;
	mo.persist_dir = NULL;
	mo.once = adopt;
	mo.component = adopt ? "adopt" : "seq";
	if (!adopt) {
		mo.clean_session = true;
		mo.session_expiry_s = 0;
	}
	struct mqtt_handlers h = { .on_connect = side_connect, .on_lost = side_lost,
				   .on_message = adopt ? adopted_message : acct_on_message };
	char err[256];
	s->m = mqtt_new(&mo, &h, s, err, sizeof(err));
	if (!s->m) {
		log_error("bridge", "cannot make a connection as '%s': %s", id, err);
		free(s);
		return NULL;
	}
	return s;
}

static void side_free(struct side *s)
{
	if (!s)
		return;
	mqtt_free(s->m);
	free(s);
}

/* Waits (lock held) until cond() or ms passed or stopping. */
static bool side_wait(struct replica *r, struct side *s, bool *flag, int ms)
{
	struct timespec until = clock_deadline_ms((uint32_t)ms);
	while (!*flag && !s->lost && !r->stopping &&
	       pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT)
		;
	return *flag;
}

/* 3.1.1: a session ends only with a clean-session connect under its id. */
static void end_session_311(struct replica *r, const char *id)
{
	struct mqtt_opts mo = *r->o.mqtt;
	mo.client_id = id;
	mo.will_topic = NULL;
	mo.persist_dir = NULL;
	mo.clean_session = true;
	mo.once = true;
	mo.component = "adopt";
	struct side s = { .r = r };
	struct mqtt_handlers h = { .on_connect = side_connect, .on_lost = side_lost };
	char err[256];
	s.m = mqtt_new(&mo, &h, &s, err, sizeof(err));
	if (!s.m)
		return;
	if (mqtt_start(s.m) == 0) {
		pthread_mutex_lock(&r->lock);
		side_wait(r, &s, &s.connected, ADOPT_CONNECT_MS);
		pthread_mutex_unlock(&r->lock);
		mqtt_stop(s.m, 2000);
	}
	mqtt_free(s.m);
}

/*
 * Takes over peer id's session, drains it into the bridge's log and ends
 * it (replica.h). Runs on the replica thread.
 */
static void adopt(struct replica *r, const char *id)
{
	int64_t t0 = mono_ms();
	struct side *s = side_new(r, id, true);
	if (!s) {
		r->adoptions_failed++;
		return;
	}
	char st[ID_MAX + 16];
	snprintf(st, sizeof(st), "adopted %s", r->me);
	say(r, id, st, false);
	log_info("bridge", "adopting the session of replica '%s' (share group '%s'): its share "
		 "flows through this bridge until the session is drained", id, r->group);
	pthread_mutex_lock(&r->lock);
	r->adopting = s;
	pthread_mutex_unlock(&r->lock);
	const char *outcome = "failed";
	if (mqtt_start(s->m) < 0)
		goto out;
	pthread_mutex_lock(&r->lock);
	bool up = side_wait(r, s, &s->connected, ADOPT_CONNECT_MS);
	bool present = s->present;
	pthread_mutex_unlock(&r->lock);
	if (!up)
		goto out;
	if (present) {
		/* the group shrinks to the live members; what is queued still comes */
		if (mqtt_resubscribe(s->m, NULL, 0, r->o.qos, r->o.subf, r->o.n_subf, side_resub,
				     s) < 0)
			goto out;
		pthread_mutex_lock(&r->lock);
		side_wait(r, s, &s->resub_done, ADOPT_CONNECT_MS);
		pthread_mutex_unlock(&r->lock);
		log_info("bridge", "the session of '%s' left the share group after %lld ms; "
			 "draining what it holds", id, (long long)(mono_ms() - t0));
		for (int64_t w = 0; w < ADOPT_MAX_MS && mqtt_quiet_ms(s->m) < ADOPT_QUIET_MS;
		     w += 50) {
			pthread_mutex_lock(&r->lock);
			bool end = s->lost || r->stopping;
			pthread_mutex_unlock(&r->lock);
			if (end)
				break;
			sleep_ms(50);
		}
	}
	pthread_mutex_lock(&r->lock);
	bool lost = s->lost, stopping = r->stopping;
	pthread_mutex_unlock(&r->lock);
	if (lost) {
		int why = mqtt_disconnect_reason(s->m);
		char how[48] = "the broker closed the connection";
		if (why)
			snprintf(how, sizeof(how), "DISCONNECT reason 0x%02x", (unsigned)why);
		log_info("bridge", "the session of '%s' was taken over by another connection "
			 "(%s): '%s' is back or another replica adopted it; this one gives up", id,
			 how, id);
		r->adoptions_taken_over++;
		outcome = "taken over";
		goto out;
	}
	if (stopping) {
		/* what is left stays in the session, for the peer or the next adopter */
		mqtt_stop(s->m, 2000);
		say(r, id, "down", true);
		outcome = "stopped";
		goto out;
	}
	int rc = mqtt_stop_ending_session(s->m, 2000);
	if (rc == -ENOTSUP) {
		mqtt_stop(s->m, 2000);
		end_session_311(r, id);
		rc = 0;
	}
	if (rc == 0 || rc == -ETIMEDOUT) {
		say(r, id, "left", false);
		r->adoptions_drained++;
		outcome = "drained";
	}
out:
	r->adoption_last_ms = (unsigned long long)(mono_ms() - t0);
	if (strcmp(outcome, "failed") == 0) {
		r->adoptions_failed++;
		log_warn("bridge", "could not adopt the session of '%s': its share waits in it "
			 "until '%s' is back", id, id);
	} else if (strcmp(outcome, "drained") == 0) {
		log_info("bridge", "drained and ended the session of '%s' in %.1f s (%llu messages "
			 "so far from adopted sessions); it subscribes afresh when it is back", id,
			 (double)r->adoption_last_ms / 1000,
			 (unsigned long long)r->adopted_msgs);
	}
	pthread_mutex_lock(&r->lock);
	r->adopting = NULL;
	pthread_mutex_unlock(&r->lock);
	side_free(s);
}

static void accountant(struct replica *r, bool on)
{
	if (on && !r->acct && r->o.n_seq) {
		char id[ID_MAX + 8];
		snprintf(id, sizeof(id), "%s-seq", r->me);
		struct side *s = side_new(r, id, false);
		if (!s)
			return;
		r->h.accounting(r->h.ctx, true);
		if (mqtt_start(s->m) < 0) {
			side_free(s);
			return;
		}
		log_info("bridge", "counting seq gaps and duplicates for share group '%s' (first "
			 "replica up by client id)", r->group);
		pthread_mutex_lock(&r->lock);
		r->acct = s;
		pthread_mutex_unlock(&r->lock);
	} else if (!on && r->acct) {
		struct side *s = r->acct;
		pthread_mutex_lock(&r->lock);
		r->acct = NULL;
		pthread_mutex_unlock(&r->lock);
		mqtt_stop(s->m, 1000);
		side_free(s);
		r->h.accounting(r->h.ctx, false);
		log_info("bridge", "another replica counts seq for share group '%s' now", r->group);
	}
}

static void *replica_main(void *arg)
{
	struct replica *r = arg;
	pthread_mutex_lock(&r->lock);
	int64_t wait_ms = 200;
	while (!r->stopping) {
		struct timespec until = clock_deadline_ms((uint32_t)wait_ms);
		pthread_cond_timedwait(&r->cond, &r->lock, &until);
		if (r->stopping)
			break;
		size_t rank = rank_up(r);
		bool connected = r->mqtt && mqtt_is_connected(r->mqtt);
		char id[ID_MAX] = "";
		int64_t now = mono_ms();
		wait_ms = 200;
		for (size_t i = 0; connected && i < r->n_peers; i++) {
			struct peer *q = &r->peers[i];
			if (q->state != 'd' || !q->live_down || q->tried)
				continue;
			int64_t due = q->down_ms + ADOPT_DELAY_MS + (int64_t)rank * ADOPT_STAGGER_MS;
			if (now >= due) {
				q->tried = true;
				snprintf(id, sizeof(id), "%s", q->id);
				break;
			}
			if (due - now < wait_ms) /* wake up when it is due, not up to 200 ms late */
				wait_ms = due - now < 5 ? 5 : due - now;
		}
		bool acct = connected && rank == 0;
		if (acct != r->acct_want) {
			r->acct_want = acct;
			r->acct_want_ms = now;
		}
		pthread_mutex_unlock(&r->lock);
		if (*id)
			adopt(r, id);
		/* the role changes once wanted for 2 s: a replica starting has
		 * not seen the others' presence in its first moments */
		if (acct != (r->acct != NULL) && mono_ms() - r->acct_want_ms >= 2000)
			accountant(r, acct);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	accountant(r, false);
	return NULL;
}

int replica_start(struct replica *r)
{
	if (pthread_create(&r->thread, NULL, replica_main, r) != 0)
		return -EAGAIN;
	r->started = true;
	return 0;
}

void replica_stop(struct replica *r)
{
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (r->started)
		pthread_join(r->thread, NULL);
	r->started = false;
}

/* --- a planned stop ----------------------------------------------------- */

/* Whether a planned stop may give the share up: another replica is up, or
 * one with a smaller client id is deciding too (it keeps the share). */
static bool may_leave(struct replica *r, char *why, size_t whylen)
{
	bool up = false, smaller_deciding = false;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n_peers; i++) {
		if (r->peers[i].state == 'u') {
			up = true;
			snprintf(why, whylen, "'%s' is up", r->peers[i].id);
		} else if (r->peers[i].state == 'l' && strcmp(r->peers[i].id, r->me) < 0 && !up) {
			smaller_deciding = true;
			snprintf(why, whylen, "'%s', stopping too, keeps the share", r->peers[i].id);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return up || smaller_deciding;
}

static void left_cb(void *ctx, bool ok)
{
	struct replica *r = ctx;
	pthread_mutex_lock(&r->lock);
	r->leave = ok ? 1 : -1;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/*
 * A planned stop (a restart, a rolling update, a scale down). Mosquitto 2
 * hands a shared subscription's messages round robin to every session that
 * holds it, connected or not, so a replica that disconnected with its
 * shared filters would keep receiving its share into its session queue
 * until it returns. So: "leaving", 500 ms for the others' "leaving", then
 * (if another replica is up) "left", UNSUBSCRIBE the shared filters (the
 * unshared ones stay), and take what was already on its way (until the
 * connection has been quiet for 300 ms, at most 3 s). The last replica up
 * says "down" and keeps its share: the broker queues for it, as for a
 * single bridge. Its "down" is a planned one: nobody is up to adopt it.
 */
bool replica_leave(struct replica *r)
{
	char *shared[64];
	size_t ns = 0;
	for (size_t i = 0; i < r->o.n_subf && ns < 64; i++)
		if (strncmp(r->o.subf[i], "$share/", 7) == 0)
			shared[ns++] = r->o.subf[i];
	if (!ns || !mqtt_is_connected(r->mqtt))
		return false;
	say(r, r->me, "leaving", true);
	sleep_ms(500);
	char why[200] = "";
	if (!may_leave(r, why, sizeof(why))) {
		log_info("bridge", "the last replica of share group '%s' up: keeping its shared "
			 "subscription, the broker queues the readings until a replica is back",
			 r->group);
		say(r, r->me, "down", true);
		return false;
	}
	say(r, r->me, "left", true);
	log_info("bridge", "leaving share group '%s' (%s)", r->group, why);
	r->leave = 0;
	if (mqtt_resubscribe(r->mqtt, NULL, 0, r->o.qos, shared, ns, left_cb, r) < 0)
		return false;
	struct timespec until = clock_deadline_ms(2000);
	pthread_mutex_lock(&r->lock);
	while (!r->leave && pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT)
		;
	int left = r->leave;
	pthread_mutex_unlock(&r->lock);
	if (left != 1) {
		log_warn("bridge", "could not leave share group '%s' before stopping: its share "
			 "of the readings waits in this session until the bridge is back", r->group);
		return false;
	}
	for (int waited = 0; waited < 3000 && mqtt_quiet_ms(r->mqtt) < 300; waited += 50)
		sleep_ms(50);
	log_info("bridge", "left share group '%s': the other replicas take its readings until "
		 "this bridge is back", r->group);
	return true;
}

/* --- /metrics ----------------------------------------------------------- */

size_t replica_metrics(struct replica *r, char *buf, size_t len, size_t n)
{
#define EMIT(...) (n = emitf(buf, len, n, __VA_ARGS__))
	pthread_mutex_lock(&r->lock);
	EMIT("# TYPE sensorwire_bridge_share_peer gauge\n");
	for (size_t i = 0; i < r->n_peers; i++)
		EMIT("sensorwire_bridge_share_peer{group=\"%s\",client_id=\"%s\",state=\"%s\"} 1\n",
		     r->group, r->peers[i].id, state_name(r->peers[i].state));
	EMIT("# TYPE sensorwire_bridge_share_adopting gauge\n");
	if (r->adopting)
		EMIT("sensorwire_bridge_share_adopting{group=\"%s\",client_id=\"%s\"} 1\n", r->group,
		     r->adopting->id);
	else
		EMIT("sensorwire_bridge_share_adopting{group=\"%s\",client_id=\"\"} 0\n", r->group);
	EMIT("# TYPE sensorwire_bridge_seq_accountant gauge\n");
	/* 1 once its subscription is granted: from then on it counts */
	EMIT("sensorwire_bridge_seq_accountant{group=\"%s\"} %d\n", r->group,
	     r->acct && r->acct->resub_ok ? 1 : 0);
	pthread_mutex_unlock(&r->lock);
	EMIT("# TYPE sensorwire_bridge_share_adoptions_total counter\n");
	EMIT("sensorwire_bridge_share_adoptions_total{result=\"drained\"} %llu\n",
	     r->adoptions_drained);
	EMIT("sensorwire_bridge_share_adoptions_total{result=\"taken_over\"} %llu\n",
	     r->adoptions_taken_over);
	EMIT("sensorwire_bridge_share_adoptions_total{result=\"failed\"} %llu\n",
	     r->adoptions_failed);
	EMIT("# TYPE sensorwire_bridge_share_adopted_messages_total counter\n");
	EMIT("sensorwire_bridge_share_adopted_messages_total %llu\n", r->adopted_msgs);
	EMIT("# TYPE sensorwire_bridge_share_adoption_last_seconds gauge\n");
	EMIT("sensorwire_bridge_share_adoption_last_seconds %.3f\n",
	     (double)r->adoption_last_ms / 1000);
#undef EMIT
	return n;
}

void replica_free(struct replica *r)
{
	if (!r)
		return;
	replica_stop(r);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r);
}
