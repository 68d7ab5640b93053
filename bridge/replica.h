/*
 * replica.h - a bridge replica in an MQTT_SHARE_GROUP (README "Replicas",
 * docs/deploy.md#bridge-replicas): its presence, leaving the group at a
 * planned stop, adopting the session of a replica that died, and the seq
 * accounting of the group.
 *
 * - Presence: a retained state on bridge/share/<group>/<client id>: "up"
 *   once connected, "leaving" while deciding at a planned stop, "left" once
 *   its share is given up, "down" as its Will (kill -9, a lost link) or at a
 *   stop that kept the share, "adopted <id>" while replica <id> drains its
 *   session. Every replica follows the others' (unshared bridge/share/<group>/+).
 * - Planned stop (replica_leave): the share group is left (UNSUBSCRIBE the
 *   $share/ filters) only while another replica is up to take the share.
 * - Adoption: Mosquitto 2 keeps handing a dead replica's share to its
 *   session until it returns. When a peer goes "down" live (not a retained
 *   "down" seen at subscribe), one survivor (the first by client id among
 *   those up, after 0.3 s; the next 2 s later if the first did not) opens a
 *   second connection WITH THE PEER'S CLIENT ID (clean start off): it takes
 *   over the session, UNSUBSCRIBEs every filter in it (the group shrinks to
 *   the live members), stores what the session had queued through the
 *   bridge's own message path (its log before the PUBACK), and once quiet
 *   for 1 s DISCONNECTs with session expiry 0 (3.1.1: a clean-session
 *   connect) and says "left" for the peer. The returning peer finds no
 *   session and subscribes afresh. The broker arbitrates races: a second
 *   connect with the same id takes the session over (0x8E, or Mosquitto
 *   2.0.11 just closes the first connection), the first one gives up for
 *   good (an adopter never reconnects); the peer coming back takes it back the same way, and
 *   what the adopter had not acknowledged is delivered to it again (the
 *   same sample at the same timestamp: stores keep one). An adopter killed
 *   mid-drain goes "down" itself: a survivor adopts it and the peer it was
 *   draining.
 * - Seq accounting: a replica sees only part of every series, so gaps and
 *   duplicates are counted by one replica of the group, the accountant (the
 *   first by client id among those up): a third, clean, QoS 0 connection
 *   with the plain (unshared) filters of the formats that carry seq, read
 *   only to follow seq. Summed over the replicas, the counters are those of
 *   one bridge that saw the whole stream.
 */
#ifndef SW_REPLICA_H
#define SW_REPLICA_H

#include <stdbool.h>
#include <stddef.h>

#include "common/mqtt.h"

struct replica_host {
	void *ctx;
	/* a message of an adopted session (its reading or status): taken as
	 * the bridge's own message (mqtt.h on_message); runs on that
	 * connection's Paho thread */
	bool (*take)(void *ctx, const char *topic, const void *payload, size_t len,
		     bool retained);
	/* a message of the accountant's connection: follow its seq only */
	void (*account)(void *ctx, const char *topic, const void *payload, size_t len);
	/* the accountant starts (true) or stops: forget what was followed */
	void (*accounting)(void *ctx, bool on);
};

/* Copied by replica_new, but the strings (and subf) must outlive the replica. */
struct replica_opts {
	const char *group;
	const struct mqtt_opts *mqtt;  /* the bridge's own connection settings */
	int qos;
	char *const *subf;             /* every filter the bridge subscribes */
	size_t n_subf;
	char *const *seq_filters;      /* the plain filters of formats with seq */
	size_t n_seq;
};

struct replica;

struct replica *replica_new(const struct replica_opts *o, const struct replica_host *h);
/* bridge/share/<group>/<client id>, the bridge's Will topic ("down") */
const char *replica_will_topic(const struct replica *r);
/* The bridge's own connection (presence publishes go through it). */
void replica_attach(struct replica *r, struct mqtt *m);
/* Starts the adoption and accounting thread. */
int replica_start(struct replica *r);
/* The bridge's connection is up: say "up" (on_connect). */
void replica_connected(struct replica *r);
/* A message on the bridge's connection: true when it was a presence topic (taken). */
bool replica_presence(struct replica *r, const char *topic, const void *payload, size_t len,
		      bool retained);
/*
 * A planned stop: leaves the group when another replica is up (see above).
 * True when the shared filters were given up (the bridge then forgets them
 * in STATE_DIR/subscriptions).
 */
bool replica_leave(struct replica *r);
/* Ends adoptions and the accountant (before the bridge disconnects). */
void replica_stop(struct replica *r);
/* The group's lines of /metrics. */
/* Appends the metrics at offset n of buf; returns the offset after them as if
 * buf were large enough (emit.h). */
size_t replica_metrics(struct replica *r, char *buf, size_t len, size_t n);
void replica_free(struct replica *r);

#endif
