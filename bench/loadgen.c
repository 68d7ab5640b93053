/*
 * loadgen.c - MQTT load generator for `make bench`.
 *
 * mosquitto_pub -l saturates near 40k msg/s on the bench machines (one
 * synchronous client, one message in flight per line), which is below what
 * the broker and the bridge can take, so the bench needs its own source. This
 * one goes through common/mqtt.h (Paho MQTTAsync) with a large in-flight
 * window and publishes reading payloads (docs/contract.md#payload):
 *
 *   topic   <prefix>/bench<n>/s<k>   (--sensors spread over nodes of --per-node)
 *   payload {"ts":<now ms>,"seq":<1,2,... per sensor>,"boot":"<16 hex>",
 *            "temperature_celsius":21.4,"humidity_percent":48,
 *            "tags":{"location":"rack<n>","model":"sim"}}
 *
 * ts is the wall clock, but kept strictly increasing per sensor (at most
 * +1 ms) so that a Prometheus remote-write receiver never sees two samples
 * of one series with the same timestamp: with the default 1000 sensors this
 * only matters above 1M msg/s.
 *
 * Either as fast as the window allows (--rate 0), or paced at --rate msg/s
 * with absolute clock_nanosleep deadlines (no busy loop; the average rate
 * is exact, single messages may leave a little late and catch up).
 *
 * Prints one line of key=value pairs on stdout when every message is
 * acknowledged (QoS 1/2) or handed to the socket (QoS 0):
 *   sent=N seconds=S rate=R t_first=<unix s of first publish> t_done=<unix s>
 * Exit 0 on success, 1 on error (message on stderr).
 */
#include "common/log.h"
#include "common/mqtt.h"
#include "common/clock.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct sensor {
	char topic[96];
	char tags[64];
	uint64_t seq;
	int64_t last_ts;
};

/* One connection and the sensors it publishes for (k % connections == idx). */
struct worker {
	struct mqtt *m;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	_Atomic uint64_t acked;   /* written under lock, for the condition */
	struct sensor *s;         /* all sensors; this worker takes every C-th */
	long long first, step, n_sensors, count;
	int qos;
	uint64_t inflight;
	double period_ns;         /* 0 = unpaced */
	const char *boot;
	int64_t t0;               /* CLOCK_MONOTONIC start, shared */
	uint64_t published;
	int rc;
};

static void on_delivered(void *ctx, int token)
{
	struct worker *w = ctx;
	(void)token;
	pthread_mutex_lock(&w->lock);
	w->acked++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static int64_t ts_ns(clockid_t clk)
{
	struct timespec t;
	clock_gettime(clk, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void sleep_until(int64_t mono_ns)
{
	struct timespec t = { mono_ns / 1000000000, mono_ns % 1000000000 };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

static void sleep_ms(int ms)
{
	sleep_until(ts_ns(CLOCK_MONOTONIC) + (int64_t)ms * 1000000);
}

/* Waits until at most `limit` publishes are unacknowledged, or timeout_ms. */
static bool wait_acked(struct worker *w, uint64_t limit, int timeout_ms)
{
	struct timespec until = clock_deadline_ms(timeout_ms);
	pthread_mutex_lock(&w->lock);
	while (w->published - w->acked > limit)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
			break;
	bool ok = w->published - w->acked <= limit;
	pthread_mutex_unlock(&w->lock);
	return ok;
}

static int publish_one(struct worker *w, struct sensor *x)
{
	char payload[512];
	int64_t ts = ts_ns(CLOCK_REALTIME) / 1000000;
	if (ts <= x->last_ts)
		ts = x->last_ts + 1;
	x->last_ts = ts;
	x->seq++;
	int len = snprintf(payload, sizeof(payload),
			   "{\"ts\":%" PRId64 ",\"seq\":%" PRIu64 ",\"boot\":\"%s\","
			   "\"temperature_celsius\":%.1f,\"humidity_percent\":%lld,"
			   "\"tags\":%s}",
			   ts, x->seq, w->boot, 18.0 + (double)(x->seq % 80) / 10.0,
			   40 + (long long)(x->seq % 20), x->tags);
	for (int waited = 0;;) {
		int rc = mqtt_publish(w->m, x->topic, payload, (size_t)len, w->qos, false, NULL);
		if (rc == 0)
			return 0;
		if (rc != -ENOTCONN && rc != -EAGAIN) {
			fprintf(stderr, "loadgen: publish refused: %s\n", strerror(-rc));
			return rc;
		}
		/* disconnected: the wrapper reconnects; queue full: Paho catches up */
		if (waited++ == 0 && rc == -ENOTCONN)
			fprintf(stderr, "loadgen: disconnected; waiting\n");
		if (waited > 30000) {
			fprintf(stderr, "loadgen: cannot publish for 30 s\n");
			return rc;
		}
		sleep_ms(1);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->rc = -1;
	for (long long i = 0; i < w->count; i++) {
		struct sensor *x = &w->s[w->first + (i % w->n_sensors) * w->step];
		if (w->period_ns > 0) {
			int64_t due = w->t0 + (int64_t)((double)i * w->period_ns);
			if (ts_ns(CLOCK_MONOTONIC) < due)
				sleep_until(due);
		}
		if (w->qos > 0 && w->published - w->acked >= w->inflight &&
		    !wait_acked(w, w->inflight - 1, 30000)) {
			fprintf(stderr, "loadgen: no acknowledgement for 30 s\n");
			return NULL;
		}
		if (publish_one(w, x) < 0)
			return NULL;
		w->published++;
	}
	if (w->qos > 0) {
		if (!wait_acked(w, 0, 60000)) {
			fprintf(stderr, "loadgen: %" PRIu64 " of %" PRIu64
				" unacknowledged after 60 s\n", w->published - w->acked,
				w->published);
			return NULL;
		}
	} else if (mqtt_wait_idle(w->m, 60000) < 0) {
		fprintf(stderr, "loadgen: QoS 0 queue not drained after 60 s\n");
		return NULL;
	}
	w->rc = 0;
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loadgen [options]\n"
		"  --url URL          broker (default tcp://127.0.0.1:1883)\n"
		"  -n, --count N      messages to publish in all (default 100000)\n"
		"  --sensors K        distinct sensors (topics), round robin (default 1000)\n"
		"  --per-node M       sensors per node (default 10)\n"
		"  --prefix P         topic prefix (default sensors)\n"
		"  --qos Q            0, 1 or 2 (default 1)\n"
		"  --rate R           msg/s in all, paced; 0 = as fast as possible (default 0)\n"
		"  --inflight W       unacknowledged publishes per connection (default 20)\n"
		"  --connections C    parallel MQTT connections, one thread each (default 2)\n"
		"  --client-id ID     prefix of the client ids (default sw-loadgen-<pid>)\n");
}

int main(int argc, char **argv)
{
	const char *url = "tcp://127.0.0.1:1883", *prefix = "sensors";
	char idbuf[64], err[256];
	const char *client_id = NULL;
	long long count = 100000, sensors = 1000, per_node = 10, inflight = 20, conns = 2;
	double rate = 0;
	int qos = 1, rc = 1;
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "count", required_argument, NULL, 'n' },
		{ "sensors", required_argument, NULL, 'k' },
		{ "per-node", required_argument, NULL, 'm' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "qos", required_argument, NULL, 'q' },
		{ "rate", required_argument, NULL, 'r' },
		{ "inflight", required_argument, NULL, 'w' },
		{ "connections", required_argument, NULL, 'c' },
		{ "client-id", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'n': count = atoll(optarg); break;
		case 'k': sensors = atoll(optarg); break;
		case 'm': per_node = atoll(optarg); break;
		case 'p': prefix = optarg; break;
		case 'q': qos = atoi(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'w': inflight = atoll(optarg); break;
		case 'c': conns = atoll(optarg); break;
		case 'i': client_id = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (count < 1 || sensors < 1 || per_node < 1 || qos < 0 || qos > 2 || rate < 0 ||
	    inflight < 1 || inflight > 65000 || conns < 1 || conns > 64 || conns > sensors) {
		usage(stderr);
		return 1;
	}
	if (!client_id) {
		snprintf(idbuf, sizeof(idbuf), "sw-loadgen-%ld", (long)getpid());
		client_id = idbuf;
	}

	unsigned char rnd[8];
	char boot[17];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0x5a, sizeof(rnd));
	for (int i = 0; i < 8; i++)
		snprintf(boot + 2 * i, 3, "%02x", rnd[i]);

	struct sensor *s = calloc((size_t)sensors, sizeof(*s));
	struct worker *w = calloc((size_t)conns, sizeof(*w));
	if (!s || !w) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto out_free;
	}
	for (long long k = 0; k < sensors; k++) {
		snprintf(s[k].topic, sizeof(s[k].topic), "%s/bench%lld/s%lld", prefix,
			 k / per_node, k % per_node);
		snprintf(s[k].tags, sizeof(s[k].tags),
			 "{\"location\":\"rack%lld\",\"model\":\"sim\"}", k / per_node);
	}

	log_set_level(LOG_LVL_WARN);
	long long made = 0;
	for (long long i = 0; i < conns; i++, made++) {
		char id[96];
		snprintf(id, sizeof(id), "%s-%lld", client_id, i);
		struct worker *x = &w[i];
		pthread_mutex_init(&x->lock, NULL);
		pthread_cond_init(&x->cond, NULL);
		x->s = s;
		x->first = i;
		x->step = conns;
		x->n_sensors = (sensors - i + conns - 1) / conns;
		x->count = count / conns + (i < count % conns ? 1 : 0);
		x->qos = qos;
		x->inflight = (uint64_t)inflight;
		x->period_ns = rate > 0 ? 1e9 * (double)conns / rate : 0;
		x->boot = boot;
		struct mqtt_opts mo = {
			.url = url,
			.client_id = id,
			.keepalive_s = 30,
			.clean_session = true,
			.max_inflight = (int)inflight,
			.component = "loadgen",
		};
		struct mqtt_handlers h = { .on_delivered = on_delivered };
		x->m = mqtt_new(&mo, &h, x, err, sizeof(err));
		if (!x->m) {
			fprintf(stderr, "loadgen: %s\n", err);
			pthread_mutex_destroy(&x->lock);
			pthread_cond_destroy(&x->cond);
			goto out_clients;
		}
		if (mqtt_start(x->m) < 0) {
			made++;
			goto out_clients;
		}
	}
	for (long long i = 0; i < conns; i++) {
		for (int t = 0; t < 1000 && !mqtt_is_connected(w[i].m); t++)
			sleep_ms(10);
		if (!mqtt_is_connected(w[i].m)) {
			fprintf(stderr, "loadgen: cannot connect to %s\n", url);
			goto out_clients;
		}
	}

	int64_t t0_real = ts_ns(CLOCK_REALTIME), t0 = ts_ns(CLOCK_MONOTONIC);
	long long started = 0;
	for (long long i = 0; i < conns; i++, started++) {
		w[i].t0 = t0;
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "loadgen: cannot start a thread\n");
			break;
		}
	}
	uint64_t published = 0;
	bool ok = started == conns;
	for (long long i = 0; i < started; i++) {
		pthread_join(w[i].thread, NULL);
		published += w[i].published;
		ok = ok && w[i].rc == 0;
	}
	int64_t t1 = ts_ns(CLOCK_MONOTONIC);
	double secs = (double)(t1 - t0) / 1e9;
	if (ok) {
		printf("sent=%" PRIu64 " seconds=%.3f rate=%.0f t_first=%.6f t_done=%.6f\n",
		       published, secs, (double)published / secs, (double)t0_real / 1e9,
		       (double)(t0_real + (t1 - t0)) / 1e9);
		fflush(stdout);
		rc = 0;
	}
out_clients:
	for (long long i = 0; i < made; i++) {
		mqtt_stop(w[i].m, 2000);
		mqtt_free(w[i].m);
		pthread_mutex_destroy(&w[i].lock);
		pthread_cond_destroy(&w[i].cond);
	}
out_free:
	free(w);
	free(s);
	return rc;
}
