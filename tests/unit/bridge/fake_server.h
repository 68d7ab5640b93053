/*
 * fake_server.h - an in-process HTTP receiver for the sink and http tests
 * (libmicrohttpd on 127.0.0.1, a free port). It records every request
 * (method, raw path+query, headers, body) and answers from a script of
 * responses, or from a policy function that looks at the request, or 204.
 *
 * Header-only on purpose: each test binary is built from one .c file.
 * fake_start() returns 0 and fills srv->port; fake_stop() frees everything.
 */
#ifndef SW_TEST_FAKE_SERVER_H
#define SW_TEST_FAKE_SERVER_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#define FAKE_MAX_REQS 128
#define FAKE_MAX_SCRIPT 32

struct fake_req {
	char method[16];
	char *uri;              /* raw, with the query string */
	char *headers;          /* "name: value\n" lines as received */
	unsigned char *body;
	size_t len;
};

struct fake_resp {
	int status;
	const char *header;     /* one "Name: value", or NULL */
	const char *body;       /* or NULL */
	int delay_ms;
};

struct fake_srv;
typedef void (*fake_policy_fn)(struct fake_srv *srv, const struct fake_req *req,
			       struct fake_resp *out);

struct fake_srv {
	struct MHD_Daemon *d;
	int port;
	char base[64];          /* "http://127.0.0.1:PORT" */
	pthread_mutex_t lock;
	struct fake_req reqs[FAKE_MAX_REQS];
	size_t n_reqs;
	struct fake_resp script[FAKE_MAX_SCRIPT];
	size_t n_script, next;
	fake_policy_fn policy;
	unsigned connections;   /* TCP connections accepted */
};

struct fake_conn {
	char *uri;
	char *body;
	size_t len;
	int started;            /* the first call only announces the headers */
};

static void *fake_uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls;
	(void)c;
	struct fake_conn *fc = calloc(1, sizeof(*fc));
	if (fc)
		fc->uri = strdup(uri);
	return fc;
}

static enum MHD_Result fake_collect_header(void *cls, enum MHD_ValueKind kind,
					   const char *key, const char *value)
{
	(void)kind;
	char **acc = cls, *n;
	if (asprintf(&n, "%s%s: %s\n", *acc ? *acc : "", key, value ? value : "") < 0)
		return MHD_NO;
	free(*acc);
	*acc = n;
	return MHD_YES;
}

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version,
				    const char *upload, size_t *upload_size, void **con_cls)
{
	(void)url;
	(void)version;
	struct fake_srv *srv = cls;
	struct fake_conn *fc = *con_cls;
	if (!fc)
		return MHD_NO;
	if (!fc->started) {
		fc->started = 1;
		return MHD_YES;
	}
	if (*upload_size) {
		char *b = realloc(fc->body, fc->len + *upload_size + 1);
		if (!b)
			return MHD_NO;
		memcpy(b + fc->len, upload, *upload_size);
		fc->body = b;
		fc->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}

	struct fake_req rq = { .len = fc->len };
	snprintf(rq.method, sizeof(rq.method), "%s", method);
	rq.uri = fc->uri;
	fc->uri = NULL;
	rq.body = (unsigned char *)fc->body;
	fc->body = NULL;
	fc->len = 0;
	MHD_get_connection_values(conn, MHD_HEADER_KIND, fake_collect_header, &rq.headers);

	struct fake_resp out = { .status = 204 };
	pthread_mutex_lock(&srv->lock);
	if (srv->next < srv->n_script)
		out = srv->script[srv->next++];
	else if (srv->policy)
		srv->policy(srv, &rq, &out);
	if (srv->n_reqs < FAKE_MAX_REQS) {
		srv->reqs[srv->n_reqs++] = rq;
	} else {
		free(rq.uri);
		free(rq.headers);
		free(rq.body);
	}
	pthread_mutex_unlock(&srv->lock);

	if (out.delay_ms)
		usleep((useconds_t)out.delay_ms * 1000);
	const char *body = out.body ? out.body : "";
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	if (out.header) {
		char name[128];
		const char *colon = strchr(out.header, ':');
		snprintf(name, sizeof(name), "%.*s", (int)(colon - out.header), out.header);
		MHD_add_response_header(r, name, colon + 1 + strspn(colon + 1, " "));
	}
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)out.status, r);
	MHD_destroy_response(r);
	return ret;
}

static void fake_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct fake_conn *fc = *con_cls;
	if (!fc)
		return;
	free(fc->uri);
	free(fc->body);
	free(fc);
	*con_cls = NULL;
}

static void fake_notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
			     enum MHD_ConnectionNotificationCode toe)
{
	(void)c;
	(void)socket_context;
	struct fake_srv *srv = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		pthread_mutex_lock(&srv->lock);
		srv->connections++;
		pthread_mutex_unlock(&srv->lock);
	}
}

static inline int fake_start(struct fake_srv *srv)
{
	memset(srv, 0, sizeof(*srv));
	pthread_mutex_init(&srv->lock, NULL);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
				  0, NULL, NULL, fake_handler, srv,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				  MHD_OPTION_URI_LOG_CALLBACK, fake_uri_log, srv,
				  MHD_OPTION_NOTIFY_COMPLETED, fake_completed, srv,
				  MHD_OPTION_NOTIFY_CONNECTION, fake_notify_conn, srv,
				  MHD_OPTION_END);
	if (!srv->d)
		return -1;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->d,
								MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : 0;
	snprintf(srv->base, sizeof(srv->base), "http://127.0.0.1:%d", srv->port);
	return srv->port ? 0 : -1;
}

static inline void fake_reset(struct fake_srv *srv)
{
	pthread_mutex_lock(&srv->lock);
	for (size_t i = 0; i < srv->n_reqs; i++) {
		free(srv->reqs[i].uri);
		free(srv->reqs[i].headers);
		free(srv->reqs[i].body);
	}
	srv->n_reqs = 0;
	srv->n_script = srv->next = 0;
	srv->policy = NULL;
	pthread_mutex_unlock(&srv->lock);
}

static inline void fake_stop(struct fake_srv *srv)
{
	if (srv->d)
		MHD_stop_daemon(srv->d);
	srv->d = NULL;
	fake_reset(srv);
	pthread_mutex_destroy(&srv->lock);
}

static inline void fake_script(struct fake_srv *srv, struct fake_resp r)
{
	pthread_mutex_lock(&srv->lock);
	if (srv->n_script < FAKE_MAX_SCRIPT)
		srv->script[srv->n_script++] = r;
	pthread_mutex_unlock(&srv->lock);
}

/* The value of header name (case-insensitive) in request i, or NULL; static buffer. */
static inline const char *fake_header(const struct fake_req *rq, const char *name)
{
	static char val[512];
	size_t nl = strlen(name);
	for (const char *p = rq->headers; p && *p;) {
		const char *e = strchr(p, '\n');
		if (!e)
			break;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 2;
			snprintf(val, sizeof(val), "%.*s", (int)(e - v), v);
			return val;
		}
		p = e + 1;
	}
	return NULL;
}

/* gunzips a request body into a NUL-terminated malloc'd string, or NULL. */
static inline char *fake_gunzip(const unsigned char *in, size_t len)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return NULL;
	size_t cap = 1 << 20;
	char *out = malloc(cap);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap - 1;
	int rc = inflate(&zs, Z_FINISH);
	inflateEnd(&zs);
	if (rc != Z_STREAM_END) {
		free(out);
		return NULL;
	}
	out[zs.total_out] = '\0';
	return out;
}

/* The one receiver of a test file, started and stopped around its group:
 * cmocka_run_group_tests(tests, fake_group_setup, fake_group_teardown). */
static struct fake_srv srv;

static inline int fake_group_setup(void **state)
{
	(void)state;
	return fake_start(&srv);
}

static inline int fake_group_teardown(void **state)
{
	(void)state;
	fake_stop(&srv);
	return 0;
}

#endif
