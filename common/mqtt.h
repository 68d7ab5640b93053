/*
 * mqtt.h - the project's MQTT client: a thin layer over Paho MQTTAsync, and
 * the only header that knows Paho exists (common/mqtt.c includes it).
 *
 * The client connects in the background and reconnects forever with
 * jittered backoff; it never gives up because the broker is away. Each state
 * change (connected, lost, first failure of a series) is logged once, not
 * every try. Callbacks run on Paho's thread: keep them short, never block.
 */
#ifndef SW_MQTT_H
#define SW_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MQTT_VERSION: 5 (the default), 3.1.1, or auto (5, then 3.1.1 if the broker refuses 5) */
enum mqtt_version { MQTT_V5 = 0, MQTT_V311, MQTT_VAUTO };

struct mqtt_opts {
	const char *url;          /* tcp://h:1883, ssl://h:8883; mqtt:// and mqtts:// accepted */
	const char *client_id;
	const char *username;     /* NULL or "" = none */
	const char *password;
	const char *ca_file;      /* TLS trust store (PEM) */
	const char *cert_file;    /* client certificate (PEM) */
	const char *key_file;     /* client key (PEM) */
	int keepalive_s;
	bool clean_session;
	const char *will_topic;   /* NULL = no Last Will */
	const char *will_payload;
	bool will_retained;
	int will_qos;
	const char *persist_dir;  /* Paho file persistence here; NULL = in memory */
	int max_inflight;         /* 0 = Paho default */
	const char *component;    /* log prefix; NULL = "mqtt" */
	enum mqtt_version version;
	/*
	 * MQTT 5 only (3.1.1 has no such thing: a clean_session=false session
	 * lives until the broker drops it). How long the broker keeps the
	 * session (subscriptions, queued messages, a delayed Will) after the
	 * connection ends; 0 = it ends with the connection. clean_session
	 * still makes every connect start a new one (Clean Start).
	 */
	unsigned session_expiry_s;
	unsigned will_delay_s;    /* MQTT 5: the broker waits this long before the Will */
	unsigned receive_max;     /* MQTT 5: unacknowledged QoS>0 messages the broker may send; 0 = 65535 */
	/* one connection only: once it is lost (or the broker ends it, e.g.
	 * 0x8E session taken over) the client does not reconnect; on_lost
	 * tells, mqtt_disconnect_reason says why (bridge/replica.c's adoption) */
	bool once;
};

struct mqtt_handlers {
	/* After every successful (re)connect; subscribe / announce here. */
	void (*on_connect)(void *ctx, bool session_present);
	/* The connection dropped (not called after mqtt_stop). */
	void (*on_lost)(void *ctx);
	/*
	 * One incoming message. The payload is not NUL-terminated. Returns true
	 * when the message is taken (stored, or refused for good): only then
	 * may its PUBACK leave. false means "not stored, try again": mqtt.c
	 * withholds the PUBACK and calls on_message again with the same message
	 * after a backoff (50 ms doubling to 2 s), for as long as it returns
	 * false; no other message is delivered meanwhile (mqtt.c explains why
	 * it holds Paho's thread rather than returning 0 to Paho). Must not
	 * block otherwise.
	 */
	bool (*on_message)(void *ctx, const char *topic, const void *payload, size_t len,
			   bool retained);
	/*
	 * An incoming message that could not be handed to on_message: its topic
	 * is longer than MQTT_TOPIC_MAX bytes (or holds a NUL byte past that).
	 * Logged here; the caller counts it. Optional.
	 */
	void (*on_dropped)(void *ctx, size_t topic_len);
	/* A QoS>0 publish identified by token was acknowledged by the broker. */
	void (*on_delivered)(void *ctx, int token);
};

/* The longest topic passed to on_message, in bytes. */
#define MQTT_TOPIC_MAX 511

struct mqtt;

/*
 * Creates a client (not yet connecting). Returns NULL with a message in err
 * (e.g. a bad URL). Free with mqtt_free().
 */
struct mqtt *mqtt_new(const struct mqtt_opts *o, const struct mqtt_handlers *h, void *ctx,
		      char *err, size_t errlen);
/* Starts connecting in the background. */
int mqtt_start(struct mqtt *m);
/* Subscribes to n filters at qos; safe to call from on_connect. */
int mqtt_subscribe(struct mqtt *m, char *const *filters, size_t n, int qos);
/* The most filters one mqtt_resubscribe() takes of each kind. */
#define MQTT_SUBS_MAX 128

/*
 * Asks the broker for both, in order, as one step (either may be empty):
 * SUBSCRIBE to sub[] at qos, then UNSUBSCRIBE from unsub[]. done(ctx, ok)
 * runs on Paho's thread once the broker has answered both (ok: it granted
 * every filter) or when either was refused or lost with the connection.
 * 0 when queued; safe to call from on_connect.
 */
int mqtt_resubscribe(struct mqtt *m, char *const *sub, size_t n_sub, int qos,
		     char *const *unsub, size_t n_unsub, void (*done)(void *ctx, bool ok),
		     void *ctx);
/*
 * Queues a publish. Returns 0 and sets *token (may be NULL), -ENOTCONN when
 * not connected, or another negative errno when Paho refuses it.
 */
int mqtt_publish(struct mqtt *m, const char *topic, const void *payload, size_t len,
		 int qos, bool retained, int *token);
/* From mqtt.c's own state: never waits for Paho (whose lock a held message keeps). */
bool mqtt_is_connected(struct mqtt *m);
/* Waits up to timeout_ms for outstanding publishes to be acknowledged. */
int mqtt_wait_idle(struct mqtt *m, int timeout_ms);
/*
 * Clean disconnect (the Will is not sent), waiting up to timeout_ms. While
 * on_message is refusing a message (returning false), its thread keeps
 * Paho's lock and the message must not be acknowledged: then mqtt_stop
 * leaves Paho alone, that thread stays parked until the process exits, and
 * the broker, seeing the connection end with the process, keeps the message
 * for the session's next connection (as after a crash).
 */
int mqtt_stop(struct mqtt *m, int timeout_ms);
/*
 * As mqtt_stop, but on an MQTT 5 connection the DISCONNECT asks the broker
 * for the Will (reason 0x04, Disconnect with Will Message), which it then
 * publishes after the Will Delay Interval unless the same client id is back
 * by then. -ENOTSUP (and nothing done) on a 3.1.1 connection.
 */
int mqtt_stop_with_will(struct mqtt *m, int timeout_ms);
/*
 * As mqtt_stop, but on an MQTT 5 connection the DISCONNECT sets the Session
 * Expiry Interval to 0: the broker ends the session (its subscriptions and
 * queue) with the connection. -ENOTSUP (and nothing done) on 3.1.1, where
 * only a clean-session connect ends a session.
 */
int mqtt_stop_ending_session(struct mqtt *m, int timeout_ms);
/* MQTT 5: the reason code of the broker's last DISCONNECT (0x8E: session
 * taken over by another connection with this client id); 0 if none. */
int mqtt_disconnect_reason(struct mqtt *m);
/* The version of the current (or last) connection: 5 or 4 (3.1.1); 0 before any. */
int mqtt_protocol(struct mqtt *m);
/*
 * MQTT 5: the broker's Receive Maximum (CONNACK), how many QoS>0 publishes
 * may await their PUBACK at once; 0 = no limit given (or 3.1.1). Keep the
 * window of unacknowledged publishes within it: past it Paho holds them back
 * itself, and does not keep their order.
 */
unsigned mqtt_send_quota(struct mqtt *m);
/* Milliseconds since the last incoming message (or the last connect). */
int64_t mqtt_quiet_ms(struct mqtt *m);
/* Parses MQTT_VERSION ("5", "3.1.1", "auto"); -1 for anything else. */
int mqtt_parse_version(const char *s);
void mqtt_free(struct mqtt *m);

/* Normalises mqtt:// and mqtts:// to Paho's tcp:// and ssl://. Caller frees. */
char *mqtt_normalise_url(const char *url);

#endif
