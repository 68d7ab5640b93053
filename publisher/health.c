/*
 * health.c - the publisher's /healthz, /readyz and /metrics: a tiny
 * HTTP/1.0 responder on a plain socket.
 *
 * Why not libmicrohttpd, which the bridge uses (bridge/health.c): the
 * publisher is a static program (Makefile PUBLISHER_STATIC=1) with a fixed
 * list of libraries and a memory goal. Debian's libmicrohttpd.a is built
 * with HTTPS, so a static link pulls GnuTLS, and GnuTLS's own dependencies
 * (libp11-kit, libunistring) have no static archive in Debian:
 * `gcc -static ... -lmicrohttpd` fails with undefined gnutls_* symbols, and
 * with pkg-config --static --libs libmicrohttpd it fails on -lp11-kit and
 * -lunistring. No kept library serves HTTP in a static glibc program here.
 * Three read-only GET endpoints for a scraper and a kubelet need little:
 *
 *  - one thread, one connection at a time: accept, read the request head
 *    (bounded: HEALTH_REQ_MAX bytes within HEALTH_REQ_TIMEOUT_MS in all,
 *    so a slow or silent client cannot hold the thread longer), answer
 *    with Content-Length and "Connection: close", close;
 *  - GET and HEAD only (405 with Allow otherwise), 404 for any other path,
 *    400 for a request line that is not "METHOD SP PATH SP HTTP/x.y",
 *    431 for a head over the bound;
 *  - the answer comes from the route callback (publisher.c), which takes
 *    the publisher's locks only briefly to copy counters.
 * Stopping: a byte on a pipe wakes the thread's poll().
 */
#include "publisher/health.h"
#include "common/clock.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define COMP "health"
#if defined(__SANITIZE_ADDRESS__)
#define HEALTH_STACK (512 * 1024)
#else
#define HEALTH_STACK (64 * 1024)
#endif

struct health {
	int fd;
	int stop_pipe[2];
	int port;
	health_route_fn route;
	void *ctx;
	pthread_t thread;
};

int health_parse_request_line(const char *line, char *method, size_t mcap, char *path,
			      size_t pcap)
{
	const char *sp1 = strchr(line, ' ');
	if (!sp1 || sp1 == line || (size_t)(sp1 - line) >= mcap)
		return -1;
	const char *p = sp1 + 1;
	const char *sp2 = strchr(p, ' ');
	if (!sp2 || sp2 == p || *p != '/')
		return -1;
	if (strncmp(sp2 + 1, "HTTP/", 5) != 0 || strchr(sp2 + 1, ' '))
		return -1;
	for (const char *c = line; c < sp1; c++)
		if (*c < 'A' || *c > 'Z')
			return -1;
	memcpy(method, line, (size_t)(sp1 - line));
	method[sp1 - line] = '\0';
	const char *q = memchr(p, '?', (size_t)(sp2 - p));
	size_t pl = (size_t)((q ? q : sp2) - p);
	if (pl >= pcap)
		return -1;
	memcpy(path, p, pl);
	path[pl] = '\0';
	return 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

static void send_all(int fd, const char *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			uint64_t now = (uint64_t)clock_mono_ms();
			if (now >= deadline)
				return;
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			if (poll(&pf, 1, (int)(deadline - now)) <= 0)
				return;
			continue;
		}
		return;
	}
}

static void respond(int fd, int status, const char *ctype, const char *body, size_t len,
		    bool head, const char *extra, uint64_t deadline)
{
	char h[256];
	int n = snprintf(h, sizeof(h), "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: "
			 "%zu\r\n%sConnection: close\r\n\r\n", status, reason(status), ctype, len,
			 extra ? extra : "");
	send_all(fd, h, (size_t)n, deadline);
	if (!head && len)
		send_all(fd, body, len, deadline);
}

/*
 * Reads the request head into buf until a blank line. 1: complete;
 * 0: too large; -1: timeout, EOF or error (nothing is answered).
 */
static int read_head(int fd, char *buf, size_t cap, uint64_t deadline)
{
	size_t len = 0;
	for (;;) {
		uint64_t now = (uint64_t)clock_mono_ms();
		if (now >= deadline)
			return -1;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int pr = poll(&pf, 1, (int)(deadline - now));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -1;
		ssize_t r = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (r <= 0)
			return -1;
		len += (size_t)r;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return 1;
		if (len >= cap - 1)
			return 0;
	}
}

static void serve(struct health *h, int fd)
{
	char req[HEALTH_REQ_MAX + 1], method[16], path[256];
	uint64_t deadline = (uint64_t)clock_mono_ms() + HEALTH_REQ_TIMEOUT_MS;
	const char *text = "text/plain; charset=utf-8";
	int got = read_head(fd, req, sizeof(req), deadline);
	if (got < 0)
		return;
	if (got == 0) {
		respond(fd, 431, text, "request too large\n", 18, false, NULL, deadline);
		return;
	}
	req[strcspn(req, "\r\n")] = '\0';
	if (health_parse_request_line(req, method, sizeof(method), path, sizeof(path)) < 0) {
		respond(fd, 400, text, "bad request\n", 12, false, NULL, deadline);
		return;
	}
	bool head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		respond(fd, 405, text, "method not allowed\n", 19, false, "Allow: GET, HEAD\r\n",
			deadline);
		return;
	}
	char *body = NULL;
	size_t len = 0;
	const char *ctype = text;
	int status = h->route(h->ctx, path, &body, &len, &ctype);
	if (status == 404 && !body) {
		respond(fd, 404, text, "not found\n", 10, head, NULL, deadline);
		return;
	}
	respond(fd, status, ctype, body ? body : "", body ? len : 0, head, NULL, deadline);
	free(body);
}

static void *health_main(void *arg)
{
	struct health *h = arg;
	struct pollfd pf[2] = { { .fd = h->fd, .events = POLLIN },
				{ .fd = h->stop_pipe[0], .events = POLLIN } };
	for (;;) {
		int pr = poll(pf, 2, -1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0 || (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
			break;
		if (!(pf[0].revents & POLLIN))
			continue;
		int c = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve(h, c);
		shutdown(c, SHUT_WR);
		close(c);
	}
	return NULL;
}

struct health *health_start(const char *addr, int port, health_route_fn route, void *ctx,
			    char *err, size_t errlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (addr && *addr && inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "HEALTH_ADDR '%s' is not an IPv4 address", addr);
		return NULL;
	}
	struct health *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->route = route;
	h->ctx = ctx;
	h->stop_pipe[0] = h->stop_pipe[1] = -1;
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (h->fd < 0 || setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(h->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(h->fd, 16) < 0) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s", addr && *addr ? addr : "0.0.0.0",
			 port, strerror(errno));
		goto err_close;
	}
	socklen_t sl = sizeof(sa);
	getsockname(h->fd, (struct sockaddr *)&sa, &sl);
	h->port = ntohs(sa.sin_port);
	if (pipe2(h->stop_pipe, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto err_close;
	}
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, HEALTH_STACK);
	int rc = pthread_create(&h->thread, &a, health_main, h);
	pthread_attr_destroy(&a);
	if (rc) {
		snprintf(err, errlen, "cannot start the health thread: %s", strerror(rc));
		goto err_close;
	}
	log_info(COMP, "serving /healthz, /readyz and /metrics on %s:%d",
		 addr && *addr ? addr : "0.0.0.0", h->port);
	return h;
err_close:
	if (h->fd >= 0)
		close(h->fd);
	if (h->stop_pipe[0] >= 0) {
		close(h->stop_pipe[0]);
		close(h->stop_pipe[1]);
	}
	free(h);
	return NULL;
}

int health_port(const struct health *h)
{
	return h->port;
}

void health_stop(struct health *h)
{
	if (!h)
		return;
	ssize_t w;
	do
		w = write(h->stop_pipe[1], "x", 1);
	while (w < 0 && errno == EINTR);
	pthread_join(h->thread, NULL);
	close(h->fd);
	close(h->stop_pipe[0]);
	close(h->stop_pipe[1]);
	free(h);
}
