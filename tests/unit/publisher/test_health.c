/*
 * test_health.c - the publisher's HTTP/1.0 responder on a real loopback
 * socket: routes answered with status, type and length, HEAD without a
 * body, 404 / 405 / 400 / 431, a silent client cut off after the request
 * timeout without holding the next one, and the request-line parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "publisher/health.h"

static int calls;

static int route(void *ctx, const char *path, char **body, size_t *len, const char **ctype)
{
	(void)ctx;
	calls++;
	if (strcmp(path, "/healthz") == 0) {
		*body = strdup("ok\n");
		*len = 3;
		return 200;
	}
	if (strcmp(path, "/readyz") == 0) {
		*body = strdup("not ready\n");
		*len = 10;
		return 503;
	}
	if (strcmp(path, "/metrics") == 0) {
		*body = strdup("m 1\n");
		*len = 4;
		*ctype = "text/plain; version=0.0.4";
		return 200;
	}
	return 404;
}

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Sends req, returns the whole answer (until the server closes). */
static char *ask(int port, const char *req, size_t req_len)
{
	int fd = dial(port);
	size_t off = 0;
	while (off < req_len) {
		ssize_t w = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;  /* the server may answer 431 and close before reading all */
		off += (size_t)w;
	}
	static char buf[8192];
	size_t len = 0;
	ssize_t r;
	while (len < sizeof(buf) - 1 && (r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	close(fd);
	return buf;
}

static char *get(int port, const char *req)
{
	return ask(port, req, strlen(req));
}

static void test_routes(void **state)
{
	(void)state;
	char err[128];
	struct health *h = health_start("127.0.0.1", 0, route, NULL, err, sizeof(err));
	assert_non_null(h);
	int port = health_port(h);
	assert_true(port > 0);

	assert_string_equal(get(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
			    "HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
			    "Content-Length: 3\r\nConnection: close\r\n\r\nok\n");
	assert_string_equal(get(port, "GET /readyz?x=1 HTTP/1.0\n\n"),
			    "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; "
			    "charset=utf-8\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot ready\n");
	assert_string_equal(get(port, "HEAD /metrics HTTP/1.1\r\n\r\n"),
			    "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
			    "Content-Length: 4\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(get(port, "GET /nope HTTP/1.1\r\n\r\n"), "HTTP/1.0 404 Not Found\r\n"));
	int before = calls;
	char *a = get(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	assert_non_null(strstr(a, "HTTP/1.0 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(a, "Allow: GET, HEAD\r\n"));
	assert_non_null(strstr(get(port, "garbage\r\n\r\n"), "HTTP/1.0 400 Bad Request\r\n"));
	assert_non_null(strstr(get(port, "GET metrics HTTP/1.1\r\n\r\n"), " 400 "));
	assert_int_equal(calls, before);    /* refused before the route is asked */
	/* a head over the bound */
	size_t big = HEALTH_REQ_MAX + 100;
	char *req = malloc(big);
	memset(req, 'a', big);
	memcpy(req, "GET /healthz HTTP/1.1\r\nX: ", 26);
	assert_non_null(strstr(ask(port, req, big), "HTTP/1.0 431 "));
	free(req);

	/* a client that says nothing is dropped after the timeout, then others are served */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int silent = dial(port);
	char *b = get(port, "GET /healthz HTTP/1.1\r\n\r\n");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_non_null(strstr(b, " 200 OK"));
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= HEALTH_REQ_TIMEOUT_MS - 100);
	assert_true(ms < HEALTH_REQ_TIMEOUT_MS + 2000);
	char c;
	assert_int_equal(recv(silent, &c, 1, 0), 0);        /* closed without an answer */
	close(silent);
	health_stop(h);
}

static void test_bad_addr(void **state)
{
	(void)state;
	char err[128];
	assert_null(health_start("localhost", 0, route, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "not an IPv4 address"));
	struct health *h = health_start("127.0.0.1", 0, route, NULL, err, sizeof(err));
	assert_non_null(h);
	/* the port is taken */
	assert_null(health_start("127.0.0.1", health_port(h), route, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot listen on 127.0.0.1:"));
	health_stop(h);
	health_stop(NULL);
}

static void test_request_line(void **state)
{
	(void)state;
	char m[16], p[64];
	assert_int_equal(health_parse_request_line("GET /a?b HTTP/1.1", m, sizeof(m), p, sizeof(p)), 0);
	assert_string_equal(m, "GET");
	assert_string_equal(p, "/a");
	assert_int_equal(health_parse_request_line("GET / HTTP/1.0", m, sizeof(m), p, sizeof(p)), 0);
	assert_string_equal(p, "/");
	const char *bad[] = { "", "GET", "GET /", "GET / FTP/1", "GET x HTTP/1.1",
			      "get / HTTP/1.1", " / HTTP/1.1", "GET  / HTTP/1.1",
			      "GET / HTTP/1.1 x", "VERYLONGMETHODNAME / HTTP/1.1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(health_parse_request_line(bad[i], m, sizeof(m), p, sizeof(p)), -1);
	char longpath[200];
	snprintf(longpath, sizeof(longpath), "GET /%0150d HTTP/1.1", 0);
	assert_int_equal(health_parse_request_line(longpath, m, sizeof(m), p, sizeof(p)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_bad_addr),
		cmocka_unit_test(test_request_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
