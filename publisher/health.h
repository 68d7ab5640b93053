/*
 * health.h - the publisher's HTTP endpoint (HEALTH_PORT): a minimal
 * HTTP/1.0 responder for GET /healthz, /readyz and /metrics (see health.c
 * for why it is not libmicrohttpd, as in the bridge).
 *
 * One thread, one connection at a time: accept, read the request head (at
 * most HEALTH_REQ_MAX bytes, within HEALTH_REQ_TIMEOUT_MS), answer, close.
 * Nothing of it exists while HEALTH_PORT is 0: no thread, no socket, no
 * allocation.
 */
#ifndef SW_HEALTH_H
#define SW_HEALTH_H

#include <stddef.h>

#define HEALTH_REQ_MAX 4096
#define HEALTH_REQ_TIMEOUT_MS 2000

/*
 * Answers one GET for path (query string removed): returns the HTTP status
 * (200, 503, 404), sets *body (malloc'd, health.c frees it; NULL with
 * *len 0 for no body) and *ctype (a static string). Runs on health's thread.
 */
typedef int (*health_route_fn)(void *ctx, const char *path, char **body, size_t *len,
			       const char **ctype);

struct health;

/*
 * Listens on addr:port (IPv4; NULL or "" = 0.0.0.0) and starts the thread.
 * NULL with a message in err.
 */
struct health *health_start(const char *addr, int port, health_route_fn route, void *ctx,
			    char *err, size_t errlen);
/* The bound port (useful with port 0 in tests). */
int health_port(const struct health *h);
/* Stops the thread, closes the socket. Accepts NULL. */
void health_stop(struct health *h);

/* Parses "GET /path?q HTTP/1.1" into method and path (query dropped); 0 or -1. */
int health_parse_request_line(const char *line, char *method, size_t mcap, char *path,
			      size_t pcap);

#endif
