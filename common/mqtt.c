/*
 * mqtt.c - Paho MQTTAsync wrapper (see mqtt.h): TLS, persistent sessions,
 * Last Will, and our own reconnect loop so that every connect goes through
 * MQTTAsync_connect's onSuccess, which reports sessionPresent (Paho's
 * automaticReconnect does not tell it to the connected callback).
 *
 * MQTT 5 or 3.1.1 (mqtt_opts.version). One client object serves both: Paho
 * creates it for MQTT 5 and each connect says which version it speaks, so
 * MQTT_VERSION=auto falls back to 3.1.1 by connecting again, without a new
 * client. On 5, the reason codes of a refused CONNECT, SUBSCRIBE, PUBLISH
 * and of a broker's DISCONNECT are logged by name.
 */
#include "common/mqtt.h"
#include "common/backoff.h"
#include "common/log.h"
#include "common/clock.h"
#include "common/paho.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * A PUBACK must mean "stored" (README "Delivery guarantees"). For a QoS 1
 * message Paho sends the PUBACK right after messageArrived returns, from
 * 1.3.10 on (commit 31c44e7, "Change ordering of acks to after processing
 * incoming message"); before, it sent it on receipt, before the callback
 * ran, so a message the bridge failed to store was acknowledged anyway.
 * Paho's headers have no version macro; MQTTASYNC_MAX_BUFFERED (-19) first
 * appeared in MQTTAsync.h in that same release, so it stands for the
 * version. mqtt_new() also checks the library it runs with.
 */
#ifndef MQTTASYNC_MAX_BUFFERED
#error "Paho MQTT C >= 1.3.10 is needed: older ones acknowledge a QoS 1 message before messageArrived has stored it"
#endif
#define PAHO_MIN_VERSION 0x01030a /* 1.3.10 */

enum conn_state { ST_IDLE, ST_CONNECTING, ST_CONNECTED, ST_WAITING, ST_STOPPING, ST_STOPPED };

struct mqtt {
	const struct paho_api *p; /* the Paho library serving this URL */
	MQTTAsync client;
	struct mqtt_opts o;
	char *url;
	struct mqtt_handlers h;
	void *ctx;
	const char *comp;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_started;
	enum conn_state state;
	bool want_connect;       /* the reconnect thread should (re)connect */
	bool failing;            /* a failure was already logged for this series */
	bool disconnected_ok;
	struct backoff backoff;
	/* a message on_message has not taken yet (on_message_arrived's loop),
	 * and, once stopping, that loop parked for good (Paho's lock held) */
	bool holding, parked;
	uint64_t held_tries;
	/* the wait between tries of held messages: carried from one held message
	 * to the next while the log keeps failing (a few appends that get through
	 * a nearly full disk must not restart it at 50 ms), reset when a message
	 * is taken at its first try; only Paho's receive thread uses it */
	struct backoff hold_backoff;
	int proto;               /* the version the next connect asks for */
	int connected_proto;     /* the version of the current/last connection */
	int64_t last_msg_ms;     /* monotonic: the last message's arrival, or the last connect */
	unsigned send_quota;     /* MQTT 5: the broker's Receive Maximum; 0 = none given */
	int disconnect_reason;   /* MQTT 5: the broker's last DISCONNECT reason, 0 = none */
};

unsigned mqtt_send_quota(struct mqtt *m)
{
	pthread_mutex_lock(&m->lock);
	unsigned q = m->connected_proto == MQTTVERSION_5 ? m->send_quota : 0;
	pthread_mutex_unlock(&m->lock);
	return q;
}

static int64_t mono_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mqtt_quiet_ms(struct mqtt *m)
{
	pthread_mutex_lock(&m->lock);
	int64_t q = mono_now_ms() - m->last_msg_ms;
	pthread_mutex_unlock(&m->lock);
	return q;
}

static const char *reason(struct mqtt *m, int rc)
{
	const char *s = m->p->reasonString((enum MQTTReasonCodes)rc);
	return s ? s : "unknown reason";
}

int mqtt_parse_version(const char *s)
{
	if (!s || !*s || strcmp(s, "5") == 0 || strcmp(s, "5.0") == 0)
		return MQTT_V5;
	if (strcmp(s, "3.1.1") == 0 || strcmp(s, "4") == 0)
		return MQTT_V311;
	if (strcmp(s, "auto") == 0)
		return MQTT_VAUTO;
	return -1;
}

int mqtt_protocol(struct mqtt *m)
{
	pthread_mutex_lock(&m->lock);
	int v = m->connected_proto;
	pthread_mutex_unlock(&m->lock);
	return v;
}

static bool v5(struct mqtt *m)
{
	pthread_mutex_lock(&m->lock);
	bool r = m->connected_proto == MQTTVERSION_5;
	pthread_mutex_unlock(&m->lock);
	return r;
}

char *mqtt_normalise_url(const char *url)
{
	const char *rest;
	const char *scheme;
	if (!url)
		return NULL;
	if (strncmp(url, "mqtt://", 7) == 0) {
		scheme = "tcp://";
		rest = url + 7;
	} else if (strncmp(url, "mqtts://", 8) == 0) {
		scheme = "ssl://";
		rest = url + 8;
	} else if (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "ssl://", 6) == 0) {
		return strdup(url);
	} else {
		return NULL;
	}
	size_t n = strlen(scheme) + strlen(rest) + 1;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s%s", scheme, rest);
	return s;
}

static void on_connection_lost(void *ctx, char *cause)
{
	struct mqtt *m = ctx;
	pthread_mutex_lock(&m->lock);
	/* once per connection: on MQTT 5 a broker's DISCONNECT comes first
	 * (on_disconnected), then Paho's connectionLost */
	if (m->state != ST_CONNECTED) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	m->state = ST_WAITING;
	m->want_connect = !m->o.once;
	m->failing = false;
	backoff_reset(&m->backoff);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	log_warn(m->comp, "connection to %s lost%s%s; %s", m->url,
		 cause ? ": " : "", cause ? cause : "", m->o.once ? "not reconnecting (one "
		 "connection only)" : "reconnecting");
	if (m->h.on_lost)
		m->h.on_lost(m->ctx);
}

/*
 * on_message could not store msg: keep asking it, with backoff, until it
 * does; Paho's receive thread (and Paho's lock, which it holds during
 * callbacks) stays here meanwhile. Why not return 0, which makes Paho call
 * messageArrived again later? Because Paho sends the PUBACK whatever the
 * callback returns (MQTTProtocol_handlePublishes: Protocol_processPublication,
 * then MQTTPacket_send_puback); 0 only moves the message into Paho's own
 * queue, in memory and in its persistence directory, which is on the same
 * full disk. Holding the thread withholds the PUBACK: the broker keeps the
 * message (and the ones behind it) in the session. If this lasts longer
 * than about 1.5 keepalives the broker drops the connection (no PINGREQ
 * goes out meanwhile); the PUBACK sent after the message is finally stored
 * then goes nowhere, and the broker delivers the message again after the
 * reconnect: a duplicate (the same point in the stores), never a loss.
 * Once stopping (mqtt_stop), the loop parks and never returns: the message
 * is not acknowledged and stays with the broker.
 */
static void hold_message(struct mqtt *m, const char *t, MQTTAsync_message *msg)
{
	struct backoff *bo = &m->hold_backoff;
	/* the PUBACKs of what was stored before it may be held back with the
	 * read buffer (common/paho_sockbuf.c): the broker gets them now */
	m->p->flushHeld();
	pthread_mutex_lock(&m->lock);
	m->holding = true;
	m->held_tries = 1;
	for (;;) {
		if (m->state == ST_STOPPING || m->state == ST_STOPPED) {
			m->parked = true;
			pthread_cond_broadcast(&m->cond);
			for (;;)
				pthread_cond_wait(&m->cond, &m->lock);
		}
		struct timespec until = clock_deadline_ms(backoff_next_doubling(bo));
		while (m->state != ST_STOPPING && m->state != ST_STOPPED &&
		       pthread_cond_timedwait(&m->cond, &m->lock, &until) != ETIMEDOUT)
			;
		if (m->state == ST_STOPPING || m->state == ST_STOPPED)
			continue;
		pthread_mutex_unlock(&m->lock);
		bool taken = m->h.on_message(m->ctx, t, msg->payload, (size_t)msg->payloadlen,
					     msg->retained);
		pthread_mutex_lock(&m->lock);
		m->held_tries++;
		if (taken)
			break;
	}
	m->holding = false;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static int on_message_arrived(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
	struct mqtt *m = ctx;
	char *t = topic;
	char buf[MQTT_TOPIC_MAX + 1];
	pthread_mutex_lock(&m->lock);
	m->last_msg_ms = mono_now_ms();
	pthread_mutex_unlock(&m->lock);
	/* topic_len is 0 when the topic is NUL-terminated */
	if (topic_len > 0) {
		if ((size_t)topic_len < sizeof(buf)) {
			memcpy(buf, topic, topic_len);
			buf[topic_len] = '\0';
			t = buf;
		} else {
			t = NULL;
		}
	}
	if (t && m->h.on_message) {
		if (m->h.on_message(m->ctx, t, msg->payload, (size_t)msg->payloadlen,
				    msg->retained))
			backoff_reset(&m->hold_backoff);
		else
			hold_message(m, t, msg);
	} else if (!t) {
		log_warn(m->comp, "dropped a message with a %d-byte topic (the limit is %d)",
			 topic_len, MQTT_TOPIC_MAX);
		if (m->h.on_dropped)
			m->h.on_dropped(m->ctx, (size_t)topic_len);
	}
	m->p->freeMessage(&msg);
	m->p->free(topic);
	return 1;
}

/* MQTT 5: the broker sent DISCONNECT (e.g. 0x8E session taken over, 0x89 server busy). */
static void on_disconnected(void *ctx, MQTTProperties *props, enum MQTTReasonCodes rc)
{
	struct mqtt *m = ctx;
	char why[160];
	snprintf(why, sizeof(why), "the broker disconnected: %s (reason 0x%02x)", reason(m, rc),
		 (unsigned)rc);
	(void)props;
	pthread_mutex_lock(&m->lock);
	m->disconnect_reason = (int)rc;
	pthread_mutex_unlock(&m->lock);
	on_connection_lost(m, why);
}

static void on_delivery_complete(void *ctx, MQTTAsync_token token)
{
	struct mqtt *m = ctx;
	if (m->h.on_delivered)
		m->h.on_delivered(m->ctx, token);
}

static void connected(struct mqtt *m, bool present, int proto, const char *extra,
		      unsigned quota)
{
	pthread_mutex_lock(&m->lock);
	if (m->state == ST_STOPPING || m->state == ST_STOPPED) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	m->state = ST_CONNECTED;
	m->connected_proto = proto;
	m->last_msg_ms = mono_now_ms();
	m->send_quota = quota;
	m->failing = false;
	backoff_reset(&m->backoff);
	pthread_mutex_unlock(&m->lock);
	log_info(m->comp, "connected to %s as '%s' (session %s), MQTT %s%s", m->url,
		 m->o.client_id, present ? "resumed" : "new",
		 proto == MQTTVERSION_5 ? "5" : "3.1.1", extra);
	if (m->h.on_connect)
		m->h.on_connect(m->ctx, present);
}

static void on_connect_success(void *ctx, MQTTAsync_successData *resp)
{
	struct mqtt *m = ctx;
	connected(m, resp ? resp->alt.connect.sessionPresent != 0 : false, MQTTVERSION_3_1_1, "", 0);
}

static void on_connect_success5(void *ctx, MQTTAsync_successData5 *resp)
{
	struct mqtt *m = ctx;
	char extra[160] = "";
	size_t n = 0;
	/* what the broker changed of what was asked for (MQTT 5 CONNACK properties) */
	if (resp && m->p->propsHas(&resp->properties, MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL))
		/* (the value is int in Paho 1.3.12, Debian 12, and int64_t in 1.3.14, Debian 13) */
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, ", session expiry %lld s set by "
				      "the broker", (long long)m->p->propsNumber(&resp->properties,
					MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL));
	else if (!m->o.clean_session || m->o.session_expiry_s)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, ", expiry %u s",
				      m->o.session_expiry_s);
	unsigned quota = 0;
	if (resp && m->p->propsHas(&resp->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM)) {
		int q = (int)m->p->propsNumber(&resp->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
		quota = q > 0 ? (unsigned)q : 0;
		if (n < sizeof(extra))
			snprintf(extra + n, sizeof(extra) - n, ", broker receive maximum %d", q);
	}
	connected(m, resp ? resp->alt.connect.sessionPresent != 0 : false, MQTTVERSION_5, extra,
		  quota);
}

static void connect_failed(struct mqtt *m, int code, const char *message, int rc5)
{
	pthread_mutex_lock(&m->lock);
	if (m->state == ST_STOPPING || m->state == ST_STOPPED) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	/*
	 * MQTT_VERSION=auto: a broker that only knows 3.1.1 answers an MQTT 5
	 * CONNECT with the 3.1.1 CONNACK code 1 (unacceptable protocol
	 * version), one that knows 5 with reason 0x84 (unsupported protocol
	 * version): connect again at once with 3.1.1, and stay there.
	 */
	if (m->o.version == MQTT_VAUTO && m->proto == MQTTVERSION_5 &&
	    (rc5 == 1 || rc5 == MQTTREASONCODE_UNSUPPORTED_PROTOCOL_VERSION || code == 1)) {
		m->proto = MQTTVERSION_3_1_1;
		m->state = ST_WAITING;
		m->want_connect = true;
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->lock);
		log_warn(m->comp, "%s refuses MQTT 5 (unacceptable protocol version): MQTT_VERSION="
			 "auto falls back to 3.1.1 (no Will delay, no session expiry, no shared "
			 "subscriptions) until restarted", m->url);
		return;
	}
	bool first = !m->failing;
	m->failing = true;
	m->state = ST_WAITING;
	m->want_connect = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	char why[200];
	/* a 3.1.1 CONNACK's refusal (Paho passes its return code as code) */
	static const char *const connack[] = { NULL, "unacceptable protocol version",
		"identifier rejected", "server unavailable", "bad user name or password",
		"not authorized" };
	if (rc5 > 0)
		snprintf(why, sizeof(why), "%s (reason 0x%02x)", reason(m, rc5), (unsigned)rc5);
	else if (code >= 1 && code <= 5)
		snprintf(why, sizeof(why), "%s (CONNACK code %d)%s", connack[code], code,
			 code == 1 && m->proto == MQTTVERSION_5 ?
			 ": the broker does not speak MQTT 5 (MQTT_VERSION=auto or 3.1.1)" : "");
	else
		snprintf(why, sizeof(why), "%s (code %d)", message ? message : "connection refused",
			 code);
	if (first)
		log_warn(m->comp, "cannot connect to %s: %s; retrying with backoff", m->url, why);
	else
		log_debug(m->comp, "connect to %s failed again: %s", m->url, why);
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData *resp)
{
	connect_failed(ctx, resp ? resp->code : -1, resp ? resp->message : NULL, 0);
}

static void on_connect_failure5(void *ctx, MQTTAsync_failureData5 *resp)
{
	connect_failed(ctx, resp ? resp->code : -1, resp ? resp->message : NULL,
		       resp ? (int)resp->reasonCode : 0);
}

static void add_int_prop(struct mqtt *m, MQTTProperties *props, enum MQTTPropertyCodes id,
			 unsigned v)
{
	MQTTProperty pr = { .identifier = id };
	if (id == MQTTPROPERTY_CODE_RECEIVE_MAXIMUM)
		pr.value.integer2 = (unsigned short)v;
	else
		pr.value.integer4 = v;
	if (m->p->propsAdd(props, &pr) != 0)
		log_warn(m->comp, "cannot add the MQTT 5 property %d", (int)id);
}

static int do_connect(struct mqtt *m, int proto)
{
	MQTTAsync_connectOptions co3 = MQTTAsync_connectOptions_initializer;
	MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_connectOptions co = proto == MQTTVERSION_5 ? co5 : co3;
	MQTTAsync_willOptions wo = MQTTAsync_willOptions_initializer;
	MQTTAsync_SSLOptions so = MQTTAsync_SSLOptions_initializer;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperties wprops = MQTTProperties_initializer;

	co.keepAliveInterval = m->o.keepalive_s > 0 ? m->o.keepalive_s : 30;
	co.connectTimeout = 10;
	co.context = m;
	co.MQTTVersion = proto;
	if (proto == MQTTVERSION_5) {
		co.cleansession = 0;
		co.cleanstart = m->o.clean_session ? 1 : 0;
		co.onSuccess5 = on_connect_success5;
		co.onFailure5 = on_connect_failure5;
		if (m->o.session_expiry_s)
			add_int_prop(m, &props, MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL,
				     m->o.session_expiry_s);
		if (m->o.receive_max)
			add_int_prop(m, &props, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM,
				     m->o.receive_max);
		co.connectProperties = &props;
		if (m->o.will_topic && m->o.will_delay_s) {
			add_int_prop(m, &wprops, MQTTPROPERTY_CODE_WILL_DELAY_INTERVAL,
				     m->o.will_delay_s);
			co.willProperties = &wprops;
		}
	} else {
		co.cleansession = m->o.clean_session ? 1 : 0;
		co.onSuccess = on_connect_success;
		co.onFailure = on_connect_failure;
	}
	if (m->o.max_inflight > 0)
		co.maxInflight = m->o.max_inflight;
	if (m->o.username && *m->o.username)
		co.username = m->o.username;
	if (m->o.password && *m->o.password)
		co.password = m->o.password;
	if (m->o.will_topic) {
		wo.topicName = m->o.will_topic;
		wo.message = m->o.will_payload ? m->o.will_payload : "";
		wo.retained = m->o.will_retained;
		wo.qos = m->o.will_qos;
		co.will = &wo;
	}
	if (strncmp(m->url, "ssl://", 6) == 0) {
		so.enableServerCertAuth = 1;
		so.verify = 1; /* hostname check: Paho's default is off (docs/protocols.md#mqtt G11) */
		if (m->o.ca_file && *m->o.ca_file)
			so.trustStore = m->o.ca_file;
		if (m->o.cert_file && *m->o.cert_file)
			so.keyStore = m->o.cert_file;
		if (m->o.key_file && *m->o.key_file)
			so.privateKey = m->o.key_file;
		co.ssl = &so;
	}
	int rc = m->p->connect(m->client, &co); /* Paho copies the properties */
	m->p->propsFree(&props);
	m->p->propsFree(&wprops);
	return rc;
}

static void *reconnect_thread(void *arg)
{
	struct mqtt *m = arg;
	pthread_mutex_lock(&m->lock);
	for (;;) {
		while (!m->want_connect && m->state != ST_STOPPING)
			pthread_cond_wait(&m->cond, &m->lock);
		if (m->state == ST_STOPPING)
			break;
		m->want_connect = false;
		if (m->failing) {
			uint32_t delay = backoff_next(&m->backoff);
			struct timespec until = clock_deadline_ms(delay);
			while (m->state != ST_STOPPING &&
			       pthread_cond_timedwait(&m->cond, &m->lock, &until) != ETIMEDOUT)
				;
			if (m->state == ST_STOPPING)
				break;
		}
		m->state = ST_CONNECTING;
		int proto = m->proto;
		pthread_mutex_unlock(&m->lock);
		int rc = do_connect(m, proto);
		pthread_mutex_lock(&m->lock);
		if (rc != MQTTASYNC_SUCCESS && m->state != ST_STOPPING) {
			if (!m->failing)
				log_warn(m->comp, "cannot start connecting to %s: %s", m->url,
					 m->p->strerror(rc));
			m->failing = true;
			m->state = ST_WAITING;
			m->want_connect = true;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/*
 * Once per Paho library in the process (the split build has two), never per
 * client: MQTTAsync_global_init runs MQTTAsync_init, which pthread_mutex_init's
 * Paho's global mutexes and pthread_cond_init's its send thread's condition
 * variable. Done again while an earlier client's threads use them, it
 * corrupts them: the send thread then misses every wake-up and sends only on
 * its 1 s timeout (a load generator with 2 connections stalled at ~40 msg/s,
 * bench/README.md). OpenSSL 1.1+ initialises itself on first use; Paho's
 * explicit init would load every cipher and error string even for tcp://.
 */
static void paho_global_init(const struct paho_api *p)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static const struct paho_api *done[2];
	pthread_mutex_lock(&lock);
	if (done[0] != p && done[1] != p) {
		MQTTAsync_init_options io = MQTTAsync_init_options_initializer;
		io.do_openssl_init = 0;
		p->global_init(&io);
		done[done[0] ? 1 : 0] = p;
	}
	pthread_mutex_unlock(&lock);
}

struct mqtt *mqtt_new(const struct mqtt_opts *o, const struct mqtt_handlers *h, void *ctx,
		      char *err, size_t errlen)
{
	struct mqtt *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->o = *o;
	m->h = *h;
	m->ctx = ctx;
	m->comp = o->component ? o->component : "mqtt";
	m->url = mqtt_normalise_url(o->url);
	if (!m->url) {
		snprintf(err, errlen, "MQTT_URL '%s' must start with tcp://, ssl://, mqtt:// or mqtts://",
			 o->url ? o->url : "");
		goto err_free;
	}
	if (!o->client_id || !*o->client_id) {
		snprintf(err, errlen, "MQTT_CLIENT_ID must not be empty");
		goto err_url;
	}
	if (strncmp(m->url, "ssl://", 6) != 0 &&
	    ((o->cert_file && *o->cert_file) || (o->key_file && *o->key_file))) {
		snprintf(err, errlen, "MQTT_CERT_FILE/MQTT_KEY_FILE need an ssl:// or mqtts:// MQTT_URL");
		goto err_url;
	}
	m->p = paho_for(strncmp(m->url, "ssl://", 6) == 0);
	unsigned va = 0, vb = 0, vc = 0;
	const char *ver = NULL;
	for (MQTTAsync_nameValue *nv = m->p->getVersionInfo(); nv && nv->name; nv++)
		if (strcmp(nv->name, "Version") == 0)
			ver = nv->value;
	if (!ver || sscanf(ver, "%u.%u.%u", &va, &vb, &vc) != 3 ||
	    (va << 16 | vb << 8 | vc) < PAHO_MIN_VERSION) {
		snprintf(err, errlen, "Paho MQTT C %s is too old: 1.3.10 or newer acknowledges a "
			 "message only after it is stored", ver ? ver : "(version unknown)");
		goto err_url;
	}
	paho_global_init(m->p);
	/* Paho records every function entry and exit of its own in a 400-entry
	 * ring (125 KB, a mutex each time) at its default trace level, for a
	 * dump this build cannot produce; from ERROR up it records nothing */
	m->p->setTraceLevel(MQTTASYNC_TRACE_ERROR);
	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer;
	/* a client made for 5 may connect with 3.1.1 too (MQTT_VERSION=auto) */
	cro.MQTTVersion = o->version == MQTT_V311 ? MQTTVERSION_3_1_1 : MQTTVERSION_5;
	m->proto = cro.MQTTVersion;
	cro.sendWhileDisconnected = 0;
	int ptype = o->persist_dir ? MQTTCLIENT_PERSISTENCE_DEFAULT : MQTTCLIENT_PERSISTENCE_NONE;
	int rc = m->p->createWithOptions(&m->client, m->url, o->client_id, ptype,
					     (void *)o->persist_dir, &cro);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "cannot create MQTT client for '%s': %s", m->url,
			 m->p->strerror(rc));
		goto err_url;
	}
	rc = m->p->setCallbacks(m->client, m, on_connection_lost, on_message_arrived,
				    on_delivery_complete);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "cannot set MQTT callbacks: %s", m->p->strerror(rc));
		goto err_client;
	}
	if (cro.MQTTVersion == MQTTVERSION_5 &&
	    (rc = m->p->setDisconnected(m->client, m, on_disconnected)) != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "cannot set MQTT callbacks: %s", m->p->strerror(rc));
		goto err_client;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	backoff_init(&m->backoff, 500, 30000);
	backoff_init(&m->hold_backoff, 50, 2000);
	m->state = ST_IDLE;
	return m;
err_client:
	m->p->destroy(&m->client);
err_url:
	free(m->url);
err_free:
	free(m);
	return NULL;
}

int mqtt_start(struct mqtt *m)
{
	pthread_mutex_lock(&m->lock);
	m->want_connect = true;
	m->state = ST_WAITING;
	pthread_mutex_unlock(&m->lock);
	if (pthread_create(&m->thread, NULL, reconnect_thread, m) != 0)
		return -errno;
	m->thread_started = true;
	log_info(m->comp, "connecting to %s as '%s'", m->url, m->o.client_id);
	return 0;
}

static void on_subscribe_success(void *ctx, MQTTAsync_successData *resp)
{
	struct mqtt *m = ctx;
	(void)resp;
	log_debug(m->comp, "subscriptions confirmed");
}

static void on_subscribe_failure(void *ctx, MQTTAsync_failureData *resp)
{
	struct mqtt *m = ctx;
	log_error(m->comp, "subscribe failed: %s (code %d)",
		  resp && resp->message ? resp->message : "refused", resp ? resp->code : -1);
}

/*
 * Reason code i of a v5 SUBACK or UNSUBACK. Paho puts a single one in
 * resp->reasonCode and leaves the array unset (MQTTAsync.c).
 */
static int ack_code(const MQTTAsync_successData5 *resp, int count, const enum MQTTReasonCodes *v,
		    int i)
{
	if (!resp)
		return 0x80;
	if (count <= 1)
		return i == 0 ? (int)resp->reasonCode : 0x80;
	return i < count && v ? (int)v[i] : 0x80;
}

static void on_subscribe_success5(void *ctx, MQTTAsync_successData5 *resp)
{
	struct mqtt *m = ctx;
	int n = resp ? resp->alt.sub.reasonCodeCount : 0;
	for (int i = 0; i < (n > 1 ? n : 1); i++) {
		int rc = ack_code(resp, n, resp ? resp->alt.sub.reasonCodes : NULL, i);
		if (rc >= MQTTREASONCODE_UNSPECIFIED_ERROR)
			log_error(m->comp, "the broker refused subscription %d: %s (reason 0x%02x)",
				  i + 1, reason(m, rc), (unsigned)rc);
	}
	log_debug(m->comp, "subscriptions confirmed");
}

static void on_subscribe_failure5(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct mqtt *m = ctx;
	log_error(m->comp, "subscribe failed: %s (reason 0x%02x)",
		  resp ? reason(m, resp->reasonCode) : "refused",
		  resp ? (unsigned)resp->reasonCode : 0u);
}

/* Sets ro's callbacks for the version of the connection. */
#define SET_CB(m, ro, ok, fail, ok5, fail5)                                   \
	do {                                                                 \
		if (v5(m)) {                                                 \
			(ro).onSuccess5 = (ok5);                             \
			(ro).onFailure5 = (fail5);                           \
		} else {                                                     \
			(ro).onSuccess = (ok);                               \
			(ro).onFailure = (fail);                             \
		}                                                            \
	} while (0)

int mqtt_subscribe(struct mqtt *m, char *const *filters, size_t n, int qos)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	int qoss[64];
	if (n == 0 || n > 64)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		qoss[i] = qos;
	SET_CB(m, ro, on_subscribe_success, on_subscribe_failure, on_subscribe_success5,
	       on_subscribe_failure5);
	ro.context = m;
	int rc = m->p->subscribeMany(m->client, (int)n, (char *const *)filters, qoss, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		log_error(m->comp, "cannot subscribe: %s", m->p->strerror(rc));
		return -EIO;
	}
	for (size_t i = 0; i < n; i++)
		log_info(m->comp, "subscribed to '%s' (qos %d)", filters[i], qos);
	return 0;
}

/* One mqtt_resubscribe: the unsubscribe waits for the subscribe's answer. */
struct resub {
	struct mqtt *m;
	char **sub, **unsub;
	size_t n_sub, n_unsub;
	void (*done)(void *ctx, bool ok);
	void *ctx;
};

static void resub_free(struct resub *r)
{
	for (size_t i = 0; i < r->n_sub; i++)
		free(r->sub[i]);
	for (size_t i = 0; i < r->n_unsub; i++)
		free(r->unsub[i]);
	free(r->sub);
	free(r->unsub);
	free(r);
}

static void resub_end(struct resub *r, bool ok)
{
	if (r->done)
		r->done(r->ctx, ok);
	resub_free(r);
}

static void on_unsub_success(void *ctx, MQTTAsync_successData *resp)
{
	struct resub *r = ctx;
	(void)resp;
	for (size_t i = 0; i < r->n_unsub; i++)
		log_info(r->m->comp, "unsubscribed from '%s'", r->unsub[i]);
	resub_end(r, true);
}

static void on_unsub_failure(void *ctx, MQTTAsync_failureData *resp)
{
	struct resub *r = ctx;
	log_error(r->m->comp, "unsubscribe failed: %s (code %d)",
		  resp && resp->message ? resp->message : "refused", resp ? resp->code : -1);
	resub_end(r, false);
}

static void on_unsub_success5(void *ctx, MQTTAsync_successData5 *resp)
{
	struct resub *r = ctx;
	bool ok = true;
	int n = resp ? resp->alt.unsub.reasonCodeCount : 0;
	for (int i = 0; (size_t)i < r->n_unsub; i++) {
		int rc = ack_code(resp, n, resp ? resp->alt.unsub.reasonCodes : NULL, i);
		/* 0x11 no subscription existed: what was asked for holds */
		if (rc >= MQTTREASONCODE_UNSPECIFIED_ERROR) {
			log_error(r->m->comp, "the broker refused to unsubscribe '%s': %s (reason "
				  "0x%02x)", r->unsub[i], reason(r->m, rc), (unsigned)rc);
			ok = false;
		} else {
			log_info(r->m->comp, "unsubscribed from '%s'", r->unsub[i]);
		}
	}
	resub_end(r, ok);
}

static void on_unsub_failure5(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct resub *r = ctx;
	log_error(r->m->comp, "unsubscribe failed: %s (reason 0x%02x)",
		  resp ? reason(r->m, resp->reasonCode) : "refused",
		  resp ? (unsigned)resp->reasonCode : 0u);
	resub_end(r, false);
}

static void resub_unsubscribe(struct resub *r)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	if (!r->n_unsub) {
		resub_end(r, true);
		return;
	}
	SET_CB(r->m, ro, on_unsub_success, on_unsub_failure, on_unsub_success5,
	       on_unsub_failure5);
	ro.context = r;
	int rc = r->m->p->unsubscribeMany(r->m->client, (int)r->n_unsub, r->unsub, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		log_error(r->m->comp, "cannot unsubscribe: %s", r->m->p->strerror(rc));
		resub_end(r, false);
	}
}

/*
 * The SUBACK of a resubscribe: code[i] is what the broker granted filter i
 * (its QoS, or 0x80 and up: refused, with MQTT 5's reason). All granted:
 * on to the UNSUBSCRIBE of the filters given up.
 */
static void resub_suback(struct resub *r, const int *code, bool v5)
{
	bool ok = true;
	for (size_t i = 0; i < r->n_sub; i++) {
		int q = code[i];
		if (q < 0x80) {
			log_info(r->m->comp, "subscribed to '%s' (qos %d)", r->sub[i], q);
			continue;
		}
		ok = false;
		if (v5) /* e.g. 0x9e: the broker has no shared subscriptions */
			log_error(r->m->comp, "the broker refused the subscription to '%s': %s "
				  "(reason 0x%02x)", r->sub[i], reason(r->m, q), (unsigned)q);
		else
			log_error(r->m->comp, "the broker refused the subscription to '%s'", r->sub[i]);
	}
	if (!ok) {
		resub_end(r, false);
		return;
	}
	resub_unsubscribe(r);
}

static void on_resub_success(void *ctx, MQTTAsync_successData *resp)
{
	struct resub *r = ctx;
	int code[MQTT_SUBS_MAX];
	for (size_t i = 0; i < r->n_sub; i++)
		code[i] = !resp ? 0x80 : r->n_sub == 1 ? resp->alt.qos :
			  resp->alt.qosList ? resp->alt.qosList[i] : 0x80;
	resub_suback(r, code, false);
}

static void on_resub_failure(void *ctx, MQTTAsync_failureData *resp)
{
	struct resub *r = ctx;
	log_error(r->m->comp, "subscribe failed: %s (code %d)",
		  resp && resp->message ? resp->message : "refused", resp ? resp->code : -1);
	resub_end(r, false);
}

static void on_resub_success5(void *ctx, MQTTAsync_successData5 *resp)
{
	struct resub *r = ctx;
	int code[MQTT_SUBS_MAX];
	for (size_t i = 0; i < r->n_sub; i++)
		code[i] = ack_code(resp, resp ? resp->alt.sub.reasonCodeCount : 0,
				   resp ? resp->alt.sub.reasonCodes : NULL, (int)i);
	resub_suback(r, code, true);
}

static void on_resub_failure5(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct resub *r = ctx;
	log_error(r->m->comp, "subscribe failed: %s (reason 0x%02x)",
		  resp ? reason(r->m, resp->reasonCode) : "refused",
		  resp ? (unsigned)resp->reasonCode : 0u);
	resub_end(r, false);
}

static char **copy_list(char *const *v, size_t n)
{
	char **c = calloc(n ? n : 1, sizeof(*c));
	for (size_t i = 0; c && i < n; i++) {
		if (!(c[i] = strdup(v[i]))) {
			while (i--)
				free(c[i]);
			free(c);
			return NULL;
		}
	}
	return c;
}

int mqtt_resubscribe(struct mqtt *m, char *const *sub, size_t n_sub, int qos,
		     char *const *unsub, size_t n_unsub, void (*done)(void *ctx, bool ok),
		     void *ctx)
{
	int qoss[MQTT_SUBS_MAX];
	if (n_sub > MQTT_SUBS_MAX || n_unsub > MQTT_SUBS_MAX)
		return -EINVAL;
	struct resub *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->m = m;
	r->done = done;
	r->ctx = ctx;
	r->sub = copy_list(sub, n_sub);
	r->unsub = copy_list(unsub, n_unsub);
	if (!r->sub || !r->unsub) {
		free(r->sub);
		free(r->unsub);
		free(r);
		return -ENOMEM;
	}
	r->n_sub = n_sub;
	r->n_unsub = n_unsub;
	if (!n_sub) {
		resub_unsubscribe(r);
		return 0;
	}
	for (size_t i = 0; i < n_sub; i++)
		qoss[i] = qos;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	SET_CB(m, ro, on_resub_success, on_resub_failure, on_resub_success5, on_resub_failure5);
	ro.context = r;
	int rc = m->p->subscribeMany(m->client, (int)n_sub, r->sub, qoss, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		log_error(m->comp, "cannot subscribe: %s", m->p->strerror(rc));
		resub_free(r);
		return -EIO;
	}
	return 0;
}

/* MQTT 5: a PUBACK with an error reason (e.g. 0x87 not authorized). Paho
 * still reports the delivery (on_delivered): the broker will not take it. */
static void on_publish_failure5(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct mqtt *m = ctx;
	if (resp && resp->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR)
		log_warn(m->comp, "the broker refused a publish: %s (reason 0x%02x)",
			 reason(m, resp->reasonCode), (unsigned)resp->reasonCode);
}

int mqtt_publish(struct mqtt *m, const char *topic, const void *payload, size_t len,
		 int qos, bool retained, int *token)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	msg.payload = (void *)payload;
	msg.payloadlen = (int)len;
	msg.qos = qos;
	msg.retained = retained;
	if (!m->p->isConnected(m->client))
		return -ENOTCONN;
	if (v5(m)) {
		ro.onFailure5 = on_publish_failure5;
		ro.context = m;
	}
	int rc = m->p->sendMessage(m->client, topic, &msg, &ro);
	if (rc == MQTTASYNC_DISCONNECTED)
		return -ENOTCONN;
	if (rc == MQTTASYNC_MAX_BUFFERED_MESSAGES)
		return -EAGAIN;
	if (rc != MQTTASYNC_SUCCESS)
		return -EIO;
	if (token)
		*token = ro.token;
	return 0;
}

bool mqtt_is_connected(struct mqtt *m)
{
	pthread_mutex_lock(&m->lock);
	bool up = m->state == ST_CONNECTED;
	pthread_mutex_unlock(&m->lock);
	return up;
}

int mqtt_wait_idle(struct mqtt *m, int timeout_ms)
{
	MQTTAsync_token *tokens = NULL;
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		if (m->p->getPendingTokens(m->client, &tokens) != MQTTASYNC_SUCCESS)
			return -EIO;
		bool idle = !tokens || tokens[0] == -1;
		m->p->free(tokens);
		tokens = NULL;
		if (idle)
			return 0;
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

static void on_disconnect_done(void *ctx, MQTTAsync_successData *resp)
{
	struct mqtt *m = ctx;
	(void)resp;
	pthread_mutex_lock(&m->lock);
	m->disconnected_ok = true;
	m->state = ST_STOPPED;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static void on_disconnect_failed(void *ctx, MQTTAsync_failureData *resp)
{
	(void)resp;
	on_disconnect_done(ctx, NULL);
}

static void on_disconnect_done5(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;
	on_disconnect_done(ctx, NULL);
}

static void on_disconnect_failed5(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	on_disconnect_done(ctx, NULL);
}

int mqtt_disconnect_reason(struct mqtt *m)
{
	pthread_mutex_lock(&m->lock);
	int rc = m->disconnect_reason;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int stop(struct mqtt *m, int timeout_ms, bool with_will, bool end_session)
{
	pthread_mutex_lock(&m->lock);
	bool was_connected = m->state == ST_CONNECTED;
	m->state = ST_STOPPING;
	pthread_cond_broadcast(&m->cond);
	/* a held message's loop parks at once (it only waits or calls
	 * on_message); then it keeps Paho's lock for good: leave Paho alone */
	while (m->holding && !m->parked)
		pthread_cond_wait(&m->cond, &m->lock);
	bool parked = m->parked;
	pthread_mutex_unlock(&m->lock);
	if (m->thread_started) {
		pthread_join(m->thread, NULL);
		m->thread_started = false;
	}
	if (parked) {
		log_warn(m->comp, "stopping with a message not yet stored (tried %llu times): "
			 "not acknowledged, the broker keeps it for the next start",
			 (unsigned long long)m->held_tries);
		return -EBUSY;
	}
	if (!m->p->isConnected(m->client) && !was_connected)
		return 0;
	MQTTAsync_disconnectOptions d3 = MQTTAsync_disconnectOptions_initializer;
	MQTTAsync_disconnectOptions d5 = MQTTAsync_disconnectOptions_initializer5;
	bool five = v5(m);
	MQTTAsync_disconnectOptions dopts = five ? d5 : d3;
	dopts.timeout = timeout_ms;
	if (five) {
		dopts.onSuccess5 = on_disconnect_done5;
		dopts.onFailure5 = on_disconnect_failed5;
		dopts.reasonCode = with_will ? MQTTREASONCODE_DISCONNECT_WITH_WILL_MESSAGE
					     : MQTTREASONCODE_NORMAL_DISCONNECTION;
		if (end_session)
			add_int_prop(m, &dopts.properties,
				     MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL, 0);
	} else {
		dopts.onSuccess = on_disconnect_done;
		dopts.onFailure = on_disconnect_failed;
	}
	dopts.context = m;
	int drc = m->p->disconnect(m->client, &dopts);
	if (end_session)
		m->p->propsFree(&dopts.properties);
	if (drc != MQTTASYNC_SUCCESS)
		return -EIO;
	struct timespec until = clock_deadline_ms(timeout_ms + 1000);
	pthread_mutex_lock(&m->lock);
	while (!m->disconnected_ok)
		if (pthread_cond_timedwait(&m->cond, &m->lock, &until) == ETIMEDOUT)
			break;
	bool ok = m->disconnected_ok;
	pthread_mutex_unlock(&m->lock);
	log_info(m->comp, "disconnected from %s%s", m->url,
		 with_will ? " (the broker publishes the Will after its delay)" : "");
	return ok ? 0 : -ETIMEDOUT;
}

int mqtt_stop(struct mqtt *m, int timeout_ms)
{
	return stop(m, timeout_ms, false, false);
}

int mqtt_stop_ending_session(struct mqtt *m, int timeout_ms)
{
	if (!v5(m))
		return -ENOTSUP;
	return stop(m, timeout_ms, false, true);
}

int mqtt_stop_with_will(struct mqtt *m, int timeout_ms)
{
	if (!v5(m))
		return -ENOTSUP;
	return stop(m, timeout_ms, true, false);
}

void mqtt_free(struct mqtt *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	bool parked = m->parked;
	pthread_mutex_unlock(&m->lock);
	if (parked)
		return; /* Paho's thread waits on m for good, holding Paho's lock */
	if (m->thread_started) {
		pthread_mutex_lock(&m->lock);
		m->state = ST_STOPPING;
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->thread, NULL);
	}
	m->p->destroy(&m->client);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
	free(m->url);
	free(m);
}
