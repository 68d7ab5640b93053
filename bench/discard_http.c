/*
 * discard_http.c - an HTTP receiver that throws the data away, for
 * `make bench`: the bridge's cost measured without a database's cost.
 *
 * Answers 204 to every POST (after reading the whole body), and counts what
 * arrived: requests, body bytes, and samples, decoded as a real receiver
 * would, so the bench can wait for "every sample acknowledged" at the
 * receiving end rather than trust the sender's own counters:
 *   - Content-Type application/x-protobuf: Prometheus remote-write, snappy
 *     block compressed; samples = Sample messages in every TimeSeries;
 *   - anything else: InfluxDB line protocol (gzip when Content-Encoding
 *     says so); samples = fields of every line.
 * A body that does not decode is counted in "bad" (still answered 204).
 *
 * GET /stats answers one line:
 *   requests=N bytes=N samples=N bad=N throttled=N
 * and the same line goes to stdout on SIGTERM or SIGINT, before exiting.
 *
 * A store that throttles (the bench's pacing phase): with --rate R, a token
 * bucket of R samples/s holding --burst B (default R/2, at least 2000) is
 * charged the samples of every request. A request the bucket cannot cover
 * is, with --throttle 429 (the default), answered 429 (with
 * "Retry-After: S" if --retry-after S is given) and its samples are not
 * counted; with --throttle slow it is answered late: when the bucket has
 * refilled what it lacked, plus --slow-ms (default 200). Either counts in
 * "throttled". Connections then get a thread each, so a late answer holds
 * up no other request (/stats included).
 *
 *   discard_http --port P [--addr 127.0.0.1]
 *                [--rate R [--burst B] [--throttle 429|slow] [--retry-after S] [--slow-ms MS]]
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <snappy-c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define BODY_MAX (64u << 20)

static _Atomic uint64_t n_requests, n_bytes, n_samples, n_bad, n_throttled;

/* --rate: the token bucket */
static double tb_rate, tb_burst, tb_tokens;
static double tb_last;            /* CLOCK_MONOTONIC seconds of the last refill */
static bool tb_slow;
static int tb_retry_after = -1, tb_slow_ms = 200;
static pthread_mutex_t tb_lock = PTHREAD_MUTEX_INITIALIZER;

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Charges n samples to the bucket. Returns 0 (covered), -1 (refused: 429)
 * or the ms to wait before answering (slow).
 */
static long tb_charge(long n)
{
	pthread_mutex_lock(&tb_lock);
	double now = mono_s();
	tb_tokens += (now - tb_last) * tb_rate;
	if (tb_tokens > tb_burst)
		tb_tokens = tb_burst;
	tb_last = now;
	long r = 0;
	if (tb_tokens < (double)n) {
		if (tb_slow)
			r = tb_slow_ms + (long)(((double)n - tb_tokens) * 1000.0 / tb_rate);
		else
			r = -1;
	}
	if (r >= 0)
		tb_tokens -= (double)n;  /* slow: owed, refilled while it waits */
	pthread_mutex_unlock(&tb_lock);
	return r;
}

struct body {
	char *p;
	size_t len, cap;
	bool too_big;
};

/* Reads a protobuf varint; returns false at the end of the buffer. */
static bool varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		unsigned char b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/*
 * Walks a message, calling back for every length-delimited field number
 * `want`; skips the rest. Returns the number of matches, or -1 if malformed.
 */
static long walk(const unsigned char *p, const unsigned char *end, unsigned want,
		 long (*fn)(const unsigned char *, const unsigned char *))
{
	long n = 0;
	while (p < end) {
		uint64_t key, v;
		if (!varint(&p, end, &key))
			return -1;
		switch (key & 7) {
		case 0:
			if (!varint(&p, end, &v))
				return -1;
			break;
		case 1:
			if (end - p < 8)
				return -1;
			p += 8;
			break;
		case 5:
			if (end - p < 4)
				return -1;
			p += 4;
			break;
		case 2:
			if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
				return -1;
			if ((key >> 3) == want) {
				long m = fn ? fn(p, p + v) : 1;
				if (m < 0)
					return -1;
				n += m;
			}
			p += v;
			break;
		default:
			return -1;
		}
	}
	return n;
}

/* TimeSeries: field 2 is a Sample. */
static long series_samples(const unsigned char *p, const unsigned char *end)
{
	return walk(p, end, 2, NULL);
}

/* WriteRequest: field 1 is a TimeSeries. */
static long remote_write_samples(const char *body, size_t len)
{
	size_t out_len;
	if (snappy_uncompressed_length(body, len, &out_len) != SNAPPY_OK || out_len > BODY_MAX)
		return -1;
	char *raw = malloc(out_len ? out_len : 1);
	if (!raw)
		return -1;
	long n = -1;
	if (snappy_uncompress(body, len, raw, &out_len) == SNAPPY_OK)
		n = walk((const unsigned char *)raw, (const unsigned char *)raw + out_len, 1,
			 series_samples);
	free(raw);
	return n;
}

/* Fields in line protocol: commas of the field set (outside quotes) + 1. */
static long line_protocol_samples(const char *s, size_t len)
{
	long n = 0;
	size_t i = 0;
	while (i < len) {
		size_t eol = i;
		while (eol < len && s[eol] != '\n')
			eol++;
		int part = 0;        /* 0 measurement+tags, 1 fields, 2 timestamp */
		bool quoted = false, any = false;
		for (size_t j = i; j < eol; j++) {
			char ch = s[j];
			if (ch == '\\') {
				j++;
				continue;
			}
			if (part == 0 && ch == '#' && j == i)
				break;
			any = true;
			if (part == 1 && ch == '"')
				quoted = !quoted;
			else if (ch == ' ' && !quoted && part < 2)
				part++;
			else if (ch == ',' && part == 1 && !quoted)
				n++;
		}
		if (any && part >= 1)
			n++;
		i = eol + 1;
	}
	return n;
}

static long gunzip_samples(const char *body, size_t len)
{
	z_stream z = { 0 };
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -1;
	size_t cap = len * 8 + 4096, out = 0;
	char *buf = malloc(cap);
	long n = -1;
	if (!buf)
		goto out_inflate;
	z.next_in = (Bytef *)body;
	z.avail_in = (uInt)len;
	for (;;) {
		if (out == cap) {
			if (cap >= BODY_MAX)
				goto out_free;
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				goto out_free;
			buf = nb;
			cap *= 2;
		}
		z.next_out = (Bytef *)buf + out;
		z.avail_out = (uInt)(cap - out);
		int rc = inflate(&z, Z_NO_FLUSH);
		out = cap - z.avail_out;
		if (rc == Z_STREAM_END)
			break;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			goto out_free;
		if (rc == Z_BUF_ERROR && z.avail_in == 0)
			goto out_free;
	}
	n = line_protocol_samples(buf, out);
out_free:
	free(buf);
out_inflate:
	inflateEnd(&z);
	return n;
}

/* Samples in the request body, or -1 if it does not decode. */
static long body_samples(struct MHD_Connection *conn, const struct body *b)
{
	const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *cenc = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_CONTENT_ENCODING);
	long n;
	if (b->too_big)
		n = -1;
	else if (ctype && strstr(ctype, "protobuf"))
		n = remote_write_samples(b->p, b->len);
	else if (cenc && strcmp(cenc, "gzip") == 0)
		n = gunzip_samples(b->p, b->len);
	else
		n = line_protocol_samples(b->p, b->len);
	return n;
}

static void count_body(const struct body *b, long n)
{
	n_requests++;
	n_bytes += b->len;
	if (n < 0)
		n_bad++;
	else
		n_samples += (uint64_t)n;
}

static int stats_line(char *buf, size_t len)
{
	return snprintf(buf, len, "requests=%llu bytes=%llu samples=%llu bad=%llu throttled=%llu\n",
			(unsigned long long)n_requests, (unsigned long long)n_bytes,
			(unsigned long long)n_samples, (unsigned long long)n_bad,
			(unsigned long long)n_throttled);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **req)
{
	(void)cls;
	(void)version;
	if (strcmp(method, "POST") != 0) {
		char line[160];
		if (strcmp(method, "GET") == 0 && strcmp(url, "/stats") == 0) {
			stats_line(line, sizeof(line));
			return reply(conn, MHD_HTTP_OK, line);
		}
		return reply(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	}
	struct body *b = *req;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return MHD_NO;
		*req = b;
		return MHD_YES;
	}
	if (*upload_len) {
		if (b->len + *upload_len > BODY_MAX) {
			b->too_big = true;
		} else {
			if (b->len + *upload_len > b->cap) {
				size_t cap = b->cap ? b->cap : 16384;
				while (cap < b->len + *upload_len)
					cap *= 2;
				char *np = realloc(b->p, cap);
				if (!np)
					return MHD_NO;
				b->p = np;
				b->cap = cap;
			}
			memcpy(b->p + b->len, upload, *upload_len);
			b->len += *upload_len;
		}
		*upload_len = 0;
		return MHD_YES;
	}
	long n = body_samples(conn, b);
	if (tb_rate > 0 && n > 0) {
		long wait = tb_charge(n);
		if (wait < 0) {
			n_throttled++;
			static const char msg[] = "rate exceeded\n";
			struct MHD_Response *r = MHD_create_response_from_buffer(
				sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
			if (!r)
				return MHD_NO;
			if (tb_retry_after >= 0) {
				char v[16];
				snprintf(v, sizeof(v), "%d", tb_retry_after);
				MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
			}
			enum MHD_Result ret = MHD_queue_response(conn, 429, r);
			MHD_destroy_response(r);
			return ret;
		}
		if (wait > 0) {
			n_throttled++;
			struct timespec ts = { .tv_sec = wait / 1000, .tv_nsec = wait % 1000 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	count_body(b, n);
	return reply(conn, MHD_HTTP_NO_CONTENT, "");
}

static void completed(void *cls, struct MHD_Connection *conn, void **req,
		      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct body *b = *req;
	if (b) {
		free(b->p);
		free(b);
		*req = NULL;
	}
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	int port = 0, c;
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "addr", required_argument, NULL, 'a' },
		{ "rate", required_argument, NULL, 'r' },
		{ "burst", required_argument, NULL, 'b' },
		{ "throttle", required_argument, NULL, 't' },
		{ "retry-after", required_argument, NULL, 'R' },
		{ "slow-ms", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	bool bad = false;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p')
			port = atoi(optarg);
		else if (c == 'a')
			addr = optarg;
		else if (c == 'r')
			tb_rate = atof(optarg);
		else if (c == 'b')
			tb_burst = atof(optarg);
		else if (c == 't' && (strcmp(optarg, "429") == 0 || strcmp(optarg, "slow") == 0))
			tb_slow = strcmp(optarg, "slow") == 0;
		else if (c == 'R')
			tb_retry_after = atoi(optarg);
		else if (c == 's')
			tb_slow_ms = atoi(optarg);
		else
			bad = true;
	}
	if (bad || port <= 0 || port > 65535 || tb_rate < 0) {
		fprintf(stderr, "usage: discard_http --port P [--addr 127.0.0.1] [--rate R "
			"[--burst B] [--throttle 429|slow] [--retry-after S] [--slow-ms MS]]\n");
		return 1;
	}
	if (tb_rate > 0) {
		if (tb_burst <= 0)
			tb_burst = tb_rate / 2 > 2000 ? tb_rate / 2 : 2000;
		tb_tokens = tb_burst;
		tb_last = mono_s();
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "discard_http: bad address '%s'\n", addr);
		return 1;
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* one polling thread: a receiver should cost little next to the bridge;
	 * a thread per connection when answers may come late */
	unsigned flags = tb_rate > 0 ? MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION :
				       MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, (uint16_t)port, NULL, NULL,
		answer, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "discard_http: cannot listen on %s:%d\n", addr, port);
		return 1;
	}
	int sig;
	sigwait(&sigs, &sig);
	MHD_stop_daemon(d);
	char line[160];
	stats_line(line, sizeof(line));
	fputs(line, stdout);
	return 0;
}
