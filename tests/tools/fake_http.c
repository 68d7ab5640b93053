/*
 * fake_http.c - a recording HTTP receiver for integration tests: it stands in
 * for InfluxDB 2 or a remote-write receiver where the exact request matters
 * (path, query, headers, body) or where a test needs scripted failures.
 *
 *   fake_http --port N --record DIR [--script FILE]
 *
 * Listens on 127.0.0.1:N (N = 0 picks a free port). The port is written to
 * DIR/port and printed as "port N" on stdout once listening. SIGTERM or
 * SIGINT stops it.
 *
 * Recording: request number k (from 1) is stored as
 *   DIR/kkkk.body   the raw body, as received (still gzip/snappy compressed)
 *   DIR/kkkk.head   "METHOD /path?query" on the first line, then one
 *                   "Name: value" line per request header
 * The .head file appears last (written, then renamed into place), so once a
 * test sees it, the body is complete.
 *
 * Answers: for each request the first source that has a line wins:
 *   1. DIR/next-status, if it exists: its first line is used and removed
 *      (the file is deleted when empty), so a test can change the answers
 *      while the receiver runs;
 *   2. FILE from --script: its next unused line; the file is re-read on every
 *      request, so lines appended later are used too;
 *   3. otherwise "204".
 * A line is a status code, optionally followed by items separated by '|':
 *   "Name: value"  a response header     e.g. 503 Retry-After: 1
 *   "body=TEXT"    the response body     e.g. 400 body=unable to parse
 *   "delay=MS"     wait before answering e.g. 204 delay=3000
 * Blank lines and lines starting with '#' are skipped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_HEADERS 8

struct answer {
	unsigned status;
	char *headers[MAX_HEADERS];   /* "Name: value" */
	size_t n_headers;
	char *body;
	int delay_ms;
};

struct server {
	const char *dir;
	const char *script;
	size_t script_used;               /* lines of the script consumed */
	unsigned count;
	pthread_mutex_t lock;
};

struct conn {
	char *uri;
	char *body;
	size_t len;
	int started;
};

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int is_comment_or_blank(const char *line)
{
	while (*line == ' ' || *line == '\t')
		line++;
	return *line == '\0' || *line == '\n' || *line == '\r' || *line == '#';
}

/* Parses "CODE [item|item...]" into a; returns 0 or -1. */
static int parse_answer(char *line, struct answer *a)
{
	char *rest;
	memset(a, 0, sizeof(*a));
	long code = strtol(line, &rest, 10);
	if (code < 100 || code > 599)
		return -1;
	a->status = (unsigned)code;
	for (char *save = NULL, *item = strtok_r(rest, "|", &save); item;
	     item = strtok_r(NULL, "|", &save)) {
		item = trim(item);
		if (!*item)
			continue;
		if (strncmp(item, "body=", 5) == 0) {
			free(a->body);
			a->body = strdup(item + 5);
		} else if (strncmp(item, "delay=", 6) == 0) {
			a->delay_ms = atoi(item + 6);
		} else if (strchr(item, ':') && a->n_headers < MAX_HEADERS) {
			a->headers[a->n_headers++] = strdup(item);
		}
	}
	return 0;
}

static void answer_release(struct answer *a)
{
	for (size_t i = 0; i < a->n_headers; i++)
		free(a->headers[i]);
	free(a->body);
}

/* Takes the first line of DIR/next-status, rewriting the rest. */
static int take_next_status(struct server *s, char *out, size_t len)
{
	char path[4096], tmp[4200];
	snprintf(path, sizeof(path), "%s/next-status", s->dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char *line = NULL, *rest = NULL;
	size_t cap = 0, rest_len = 0;
	int found = -1;
	FILE *r = open_memstream(&rest, &rest_len);
	while (getline(&line, &cap, f) >= 0) {
		if (found < 0 && !is_comment_or_blank(line)) {
			snprintf(out, len, "%s", line);
			found = 0;
			continue;
		}
		if (found == 0)
			fputs(line, r);
	}
	fclose(f);
	fclose(r);
	free(line);
	if (rest_len == 0 || found < 0) {
		unlink(path);
	} else {
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		FILE *w = fopen(tmp, "w");
		if (w) {
			fwrite(rest, 1, rest_len, w);
			fclose(w);
			rename(tmp, path);
		}
	}
	free(rest);
	return found;
}

/* The next unused line of the script, re-reading the file each time. */
static int take_script_line(struct server *s, char *out, size_t len)
{
	if (!s->script)
		return -1;
	FILE *f = fopen(s->script, "r");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0, seen = 0;
	int found = -1;
	while (getline(&line, &cap, f) >= 0) {
		if (is_comment_or_blank(line))
			continue;
		if (seen++ == s->script_used) {
			snprintf(out, len, "%s", line);
			s->script_used++;
			found = 0;
			break;
		}
	}
	free(line);
	fclose(f);
	return found;
}

static void choose_answer(struct server *s, struct answer *a)
{
	char line[4096];
	if (take_next_status(s, line, sizeof(line)) == 0 ||
	    take_script_line(s, line, sizeof(line)) == 0) {
		char *t = trim(line);
		if (parse_answer(t, a) == 0)
			return;
		fprintf(stderr, "fake_http: bad answer line '%s', using 500\n", t);
		memset(a, 0, sizeof(*a));
		a->status = 500;
		return;
	}
	memset(a, 0, sizeof(*a));
	a->status = 204;
}

static enum MHD_Result write_header(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	(void)kind;
	fprintf(cls, "%s: %s\n", key, value ? value : "");
	return MHD_YES;
}

static int record(struct server *s, unsigned n, struct MHD_Connection *conn,
		  const char *method, const struct conn *c)
{
	char path[4096], tmp[4200];
	snprintf(path, sizeof(path), "%s/%04u.body", s->dir, n);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	if (c->len)
		fwrite(c->body, 1, c->len, f);
	fclose(f);

	snprintf(path, sizeof(path), "%s/%04u.head", s->dir, n);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%s %s\n", method, c->uri ? c->uri : "");
	MHD_get_connection_values(conn, MHD_HEADER_KIND, write_header, f);
	fclose(f);
	return rename(tmp, path);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls;
	(void)c;
	struct conn *cn = calloc(1, sizeof(*cn));
	if (cn)
		cn->uri = strdup(uri);
	return cn;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	(void)url;
	(void)version;
	struct server *s = cls;
	struct conn *c = *con_cls;
	if (!c)
		return MHD_NO;
	if (!c->started) {
		c->started = 1;
		return MHD_YES;
	}
	if (*upload_size) {
		char *b = realloc(c->body, c->len + *upload_size);
		if (!b)
			return MHD_NO;
		memcpy(b + c->len, upload, *upload_size);
		c->body = b;
		c->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}

	struct answer a;
	pthread_mutex_lock(&s->lock);
	unsigned n = ++s->count;
	if (record(s, n, conn, method, c) < 0)
		fprintf(stderr, "fake_http: cannot record request %u in %s: %s\n", n, s->dir,
			strerror(errno));
	choose_answer(s, &a);
	pthread_mutex_unlock(&s->lock);
	fprintf(stderr, "fake_http: %04u %s %s -> %u\n", n, method, c->uri, a.status);

	if (a.delay_ms > 0)
		usleep((useconds_t)a.delay_ms * 1000);
	const char *body = a.body ? a.body : "";
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	for (size_t i = 0; r && i < a.n_headers; i++) {
		char *colon = strchr(a.headers[i], ':');
		*colon = '\0';
		MHD_add_response_header(r, trim(a.headers[i]), trim(colon + 1));
	}
	enum MHD_Result ret = r ? MHD_queue_response(conn, a.status, r) : MHD_NO;
	if (r)
		MHD_destroy_response(r);
	answer_release(&a);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct conn *cn = *con_cls;
	if (!cn)
		return;
	free(cn->uri);
	free(cn->body);
	free(cn);
	*con_cls = NULL;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: fake_http --port N --record DIR [--script FILE]\n"
		"Records each request to DIR/NNNN.head and DIR/NNNN.body and answers from\n"
		"DIR/next-status, then FILE, then 204 (see the header of fake_http.c).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "record", required_argument, NULL, 'r' },
		{ "script", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct server s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	long port = -1;
	int o;

	while ((o = getopt_long(argc, argv, "p:r:s:h", opts, NULL)) != -1) {
		switch (o) {
		case 'p':
			port = strtol(optarg, NULL, 10);
			break;
		case 'r':
			s.dir = optarg;
			break;
		case 's':
			s.script = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (port < 0 || port > 65535 || !s.dir) {
		usage(stderr);
		return 2;
	}

	/* MHD's threads inherit this mask, so only sigwait() below sees the signals */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
		(uint16_t)port, NULL, NULL, on_request, &s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, &s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s,
		MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "fake_http: cannot listen on 127.0.0.1:%ld\n", port);
		return 1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned actual = info ? info->port : (unsigned)port;

	char path[4096];
	snprintf(path, sizeof(path), "%s/port", s.dir);
	FILE *pf = fopen(path, "w");
	if (!pf) {
		fprintf(stderr, "fake_http: cannot write %s: %s\n", path, strerror(errno));
		MHD_stop_daemon(d);
		return 1;
	}
	fprintf(pf, "%u\n", actual);
	fclose(pf);
	printf("port %u\n", actual);
	fflush(stdout);

	int sig;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
