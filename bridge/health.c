/*
 * health.c - liveness, readiness and metrics over HTTP with libmicrohttpd
 * (see health.h). Runs in libmicrohttpd's own thread; answers only GET.
 */
#include "bridge/health.h"
#include "bridge/bridge.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct health {
	struct MHD_Daemon *d;
	struct bridge *b;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **req)
{
	struct health *h = cls;
	(void)version;
	(void)upload;
	(void)upload_len;
	(void)req;
	char buf[8192], *big = NULL, *body = buf;
	size_t big_len = 0;
	unsigned status = MHD_HTTP_OK;
	const char *ctype = "text/plain; charset=utf-8";
	size_t len;
	if (strcmp(method, "GET") != 0) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		len = (size_t)snprintf(buf, sizeof(buf), "method not allowed\n");
	} else if (strcmp(url, "/healthz") == 0) {
		len = (size_t)snprintf(buf, sizeof(buf), "ok\n");
	} else if (strcmp(url, "/readyz") == 0) {
		/* ready: connected to the broker and the log takes messages */
		char why[160];
		if (!bridge_log_healthy(h->b, why, sizeof(why))) {
			status = MHD_HTTP_SERVICE_UNAVAILABLE;
			len = (size_t)snprintf(buf, sizeof(buf), "%s\n", why);
		} else {
			bool up = bridge_connected(h->b);
			status = up ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
			len = (size_t)snprintf(buf, sizeof(buf), up ? "ready\n" : "not connected to MQTT\n");
		}
	} else if (strcmp(url, "/metrics") == 0) {
		ctype = "text/plain; version=0.0.4";
		len = bridge_metrics(h->b, buf, sizeof(buf));
		/* more than the stack buffer (many filters, a share group's
		 * peers): the whole text from the heap, never a cut one */
		for (int tries = 0; len >= sizeof(buf) && len >= big_len && tries < 4; tries++) {
			free(big);
			big_len = len + 4096;
			if (!(big = malloc(big_len))) {
				big_len = 0;
				break;
			}
			len = bridge_metrics(h->b, big, big_len);
		}
		if (big && len < big_len) {
			body = big;
		} else if (len >= sizeof(buf)) {
			status = MHD_HTTP_INTERNAL_SERVER_ERROR;
			len = (size_t)snprintf(buf, sizeof(buf), "metrics do not fit in memory\n");
		}
	} else {
		status = MHD_HTTP_NOT_FOUND;
		len = (size_t)snprintf(buf, sizeof(buf), "not found\n");
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_COPY);
	free(big);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

struct health *health_start(struct bridge *b, const char *addr, int port)
{
	struct health *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->b = b;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (addr && *addr && inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		log_error("health", "HEALTH_ADDR '%s' is not an IPv4 address", addr);
		free(h);
		return NULL;
	}
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
				(uint16_t)port, NULL, NULL, answer, h,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				MHD_OPTION_THREAD_STACK_SIZE, (size_t)(128 * 1024),
				MHD_OPTION_END);
	if (!h->d) {
		log_error("health", "cannot listen on port %d", port);
		free(h);
		return NULL;
	}
	log_info("health", "serving /healthz, /readyz and /metrics on port %d", port);
	return h;
}

void health_stop(struct health *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
