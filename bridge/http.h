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
 * These are the sink's own headers (Content-Type, Content-Encoding, ...) and
 * are sent as given; user-configured headers go through
 * http_client_add_header(), which refuses the reserved names.
 * Returns 0 when an HTTP answer (any status) came back, a negative errno on a
 * transport error (resp->status == 0, resp->error says why).
 */
int http_post(struct http_client *h, const char *url, const char *const *headers,
	      const void *body, size_t len, struct http_response *resp);

enum http_verdict http_classify(long status);

/* Parses a Retry-After value (delta seconds or HTTP-date) relative to now. -1 if invalid. */
int http_parse_retry_after(const char *value, time_t now);

/*
 * gzip-compresses in into a malloc'd buffer (gzip wrapper, RFC 1952).
 * Returns 0 or a negative errno. Caller frees *out.
 */
int http_gzip(const void *in, size_t len, void **out, size_t *out_len);

/*
 * True for the header names a user may not set (case-insensitive):
 * Content-Encoding, Content-Type, X-Prometheus-Remote-Write-Version,
 * User-Agent, and the framing headers Content-Length, Transfer-Encoding, Host.
 */
bool http_header_is_reserved(const char *name, size_t len);

/*
 * Adds a user header "Name: value" sent with every request of this client
 * (e.g. X-Scope-OrgID). Returns 0, -EINVAL for a malformed or reserved
 * header (the client is unchanged), -ENOMEM.
 */
int http_client_add_header(struct http_client *h, const char *header);

/*
 * Percent-encodes s for a URL query value (RFC 3986 unreserved stay as they
 * are). Returns a malloc'd string the caller frees, or NULL.
 */
char *http_url_escape(const char *s);

#endif
