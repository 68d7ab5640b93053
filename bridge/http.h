/*
 * http.h - the bridge's HTTP client: the one module that includes libcurl.
 *
 * One client per output, reused for keep-alive. http_classify() is the one
 * place where an HTTP status becomes ok / retry / drop.
 */
#ifndef SW_HTTP_H
#define SW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define HTTP_BODY_KEEP 1024   /* bytes of a response body kept for logs */

struct http_opts {
	long timeout_ms;          /* whole request */
	long connect_timeout_ms;
	const char *ca_file;      /* TLS_CA_FILE; NULL = system store */
	const char *user_agent;   /* "sensorwire/<version>" */
	const char *username;     /* basic auth, with password */
	const char *password;
	const char *bearer_token; /* Authorization: Bearer */
};

struct http_response {
	long status;              /* 0 when no HTTP answer (network error, timeout) */
	int retry_after_ms;       /* from Retry-After, else -1 */
	char body[HTTP_BODY_KEEP];/* start of the response body, NUL-terminated */
	size_t body_len;
	char error[256];          /* transport error text when status == 0 */
};

enum http_verdict {
	HTTP_OK,                  /* 2xx */
	HTTP_RETRY,               /* 5xx, 429, 408, network errors, timeouts */
	HTTP_TOO_LARGE,           /* 413: split the batch */
	HTTP_DROP,                /* other 4xx (and anything unexpected) */
};

struct http_client;

/* NULL on failure. Strings in opts are copied. */
struct http_client *http_client_new(const struct http_opts *opts);
void http_client_free(struct http_client *h);

/*
 * POSTs body to url with extra headers ("Name: value", NULL-terminated list).
 * Returns 0 when an HTTP answer (any status) came back, -1 on a transport
 * error (resp->status == 0, resp->error says why).
 */
int http_post(struct http_client *h, const char *url, const char *const *headers,
	      const void *body, size_t len, struct http_response *resp);

enum http_verdict http_classify(long status);

/* Parses a Retry-After value (delta seconds or HTTP-date) relative to now. -1 if invalid. */
int http_parse_retry_after(const char *value, time_t now);

/* gzip-compresses in into a malloc'd buffer. Returns 0 or -1. Caller frees *out. */
int http_gzip(const void *in, size_t len, void **out, size_t *out_len);

#endif
