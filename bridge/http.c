/*
 * http.c - the bridge's HTTP client (see http.h), the one file that includes
 * libcurl.
 *
 * Each client owns one CURL easy handle that is reused for every request, so
 * the connection stays open between batches (keep-alive). Authentication,
 * TLS trust, timeouts and the User-Agent are set once at creation. A header
 * callback picks up Retry-After (delta seconds or an HTTP-date) and a write
 * callback keeps the first HTTP_BODY_KEEP - 1 bytes of the answer for logs.
 * http_classify() is the single place where a status becomes ok/retry/drop.
 */
#include "bridge/http.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <zlib.h>

struct http_client {
	CURL *curl;
	struct curl_slist *user_headers;  /* from http_client_add_header() */
	char *auth_header;                /* "Authorization: Bearer ..." or NULL */
	char *user_agent;
	char *ca_file;
	char *username;
	char *password;
	long timeout_ms;
	long connect_timeout_ms;
	struct http_response *resp;       /* the request in flight */
	char errbuf[CURL_ERROR_SIZE];     /* curl's detailed reason for a failure */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *const reserved_headers[] = {
	"Content-Encoding", "Content-Type", "X-Prometheus-Remote-Write-Version",
	"User-Agent", "Content-Length", "Transfer-Encoding", "Host",
};

bool http_header_is_reserved(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(reserved_headers) / sizeof(reserved_headers[0]); i++)
		if (strlen(reserved_headers[i]) == len &&
		    strncasecmp(reserved_headers[i], name, len) == 0)
			return true;
	return false;
}

enum http_verdict http_classify(long status)
{
	if (status >= 200 && status < 300)
		return HTTP_OK;
	if (status == 0 || status >= 500 || status == 429 || status == 408)
		return HTTP_RETRY;
	if (status == 413)
		return HTTP_TOO_LARGE;
	return HTTP_DROP;
}

/*
 * An HTTP-date in any of the three forms RFC 9110 §5.6.7 has recipients
 * accept: IMF-fixdate, RFC 850 and asctime. Parsed here with strptime and
 * timegm rather than curl_getdate(), because curl_getdate() returns a time_t
 * in the ABI libcurl was built with: on Debian 12's 32-bit ports that is 32
 * bits, which a program built with 64-bit time_t (the Makefile's LFS) would
 * misread, and which cannot hold a date past 2038 anyway. Returns -1 for
 * anything else. The process runs in the C locale, so day and month names are
 * English.
 */
static time_t http_date(const char *s)
{
	static const char *const forms[] = {
		"%a, %d %b %Y %H:%M:%S GMT",    /* Sun, 06 Nov 1994 08:49:37 GMT */
		"%A, %d-%b-%y %H:%M:%S GMT",    /* Sunday, 06-Nov-94 08:49:37 GMT */
		"%a %b %e %H:%M:%S %Y",         /* Sun Nov  6 08:49:37 1994 */
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct tm tm = { 0 };
		const char *end = strptime(s, forms[i], &tm);

		if (end && *end == '\0')
			return timegm(&tm);
	}
	return (time_t)-1;
}

/*
 * Retry-After is either a non-negative integer of seconds or an HTTP-date
 * (RFC 9110 §10.2.3). Dates in the past mean "now" (0). The result is clamped
 * to INT_MAX ms.
 */
int http_parse_retry_after(const char *value, time_t now)
{
	if (!value)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	size_t len = strlen(value);
	while (len && (value[len - 1] == ' ' || value[len - 1] == '\t' ||
		       value[len - 1] == '\r' || value[len - 1] == '\n'))
		len--;
	if (len == 0 || len > 64)
		return -1;
	char buf[65];
	memcpy(buf, value, len);
	buf[len] = '\0';

	size_t digits = strspn(buf, "0123456789");
	if (digits == len) {
		unsigned long long secs = 0;
		for (size_t i = 0; i < len; i++) {
			secs = secs * 10 + (unsigned)(buf[i] - '0');
			if (secs > INT_MAX / 1000)
				return INT_MAX;
		}
		return (int)(secs * 1000);
	}
	if (!isalpha((unsigned char)buf[0]))
		return -1;  /* every HTTP-date starts with a day name */
	time_t t = http_date(buf);
	if (t == (time_t)-1)
		return -1;
	if (t <= now)
		return 0;
	if ((unsigned long long)(t - now) > INT_MAX / 1000)
		return INT_MAX;
	return (int)((t - now) * 1000);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_client *h = arg;
	size_t len = size * nmemb;
	static const char name[] = "retry-after:";

	/* a new status line (e.g. after "100 Continue") starts a new answer */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		h->resp->retry_after_ms = -1;
		return len;
	}
	if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		char value[80];
		size_t vl = len - (sizeof(name) - 1);
		if (vl >= sizeof(value))
			return len;
		memcpy(value, data + sizeof(name) - 1, vl);
		value[vl] = '\0';
		h->resp->retry_after_ms = http_parse_retry_after(value, time(NULL));
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_client *h = arg;
	struct http_response *r = h->resp;
	size_t len = size * nmemb;
	size_t room = sizeof(r->body) - 1 - r->body_len;
	size_t take = len < room ? len : room;

	memcpy(r->body + r->body_len, data, take);
	r->body_len += take;
	r->body[r->body_len] = '\0';
	return len;  /* the rest is read and discarded */
}

static char *dup_opt(const char *s, bool *failed)
{
	if (!s || !*s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*failed = true;
	return d;
}

struct http_client *http_client_new(const struct http_opts *opts)
{
	bool failed = false;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return NULL;

	struct http_client *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->curl = curl_easy_init();
	if (!h->curl)
		goto err_free;
	h->user_agent = dup_opt(opts->user_agent, &failed);
	h->ca_file = dup_opt(opts->ca_file, &failed);
	h->username = dup_opt(opts->username, &failed);
	h->password = dup_opt(opts->password, &failed);
	if (opts->bearer_token && *opts->bearer_token &&
	    asprintf(&h->auth_header, "Authorization: Bearer %s", opts->bearer_token) < 0) {
		h->auth_header = NULL;
		failed = true;
	}
	if (failed)
		goto err_free;
	h->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
	h->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms :
				h->timeout_ms;
	return h;

err_free:
	http_client_free(h);
	return NULL;
}

void http_client_free(struct http_client *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->user_headers);
	free(h->auth_header);
	free(h->user_agent);
	free(h->ca_file);
	free(h->username);
	if (h->password) {
		explicit_bzero(h->password, strlen(h->password));
		free(h->password);
	}
	free(h);
}

int http_client_add_header(struct http_client *h, const char *header)
{
	const char *colon = strchr(header, ':');
	if (!colon || colon == header)
		return -EINVAL;
	for (const char *p = header; p < colon; p++)
		if (!isgraph((unsigned char)*p))
			return -EINVAL;
	for (const char *p = header; *p; p++)
		if (*p == '\r' || *p == '\n')
			return -EINVAL;
	if (http_header_is_reserved(header, (size_t)(colon - header)))
		return -EINVAL;
	struct curl_slist *l = curl_slist_append(h->user_headers, header);
	if (!l)
		return -ENOMEM;
	h->user_headers = l;
	return 0;
}

char *http_url_escape(const char *s)
{
	pthread_once(&global_once, global_init);
	/* since curl 7.82 the handle argument is not used */
	char *e = curl_easy_escape(NULL, s, 0);
	if (!e)
		return NULL;
	char *d = strdup(e);
	curl_free(e);
	return d;
}

/* Sets the options every request of this client shares. */
static CURLcode setup(struct http_client *h)
{
	CURL *c = h->curl;
	CURLcode rc = CURLE_OK;

	curl_easy_reset(c);
	rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	rc |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	rc |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	rc |= curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	if (h->user_agent)
		rc |= curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
	if (h->ca_file)
		rc |= curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	if (h->username) {
		rc |= curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		rc |= curl_easy_setopt(c, CURLOPT_USERNAME, h->username);
		rc |= curl_easy_setopt(c, CURLOPT_PASSWORD, h->password ? h->password : "");
	}
	return rc;
}

/*
 * Builds the header list: user headers first, then the sink's own, then
 * auth; "Expect:" turns off curl's 100-continue round trip for big bodies.
 */
static int build_headers(struct http_client *h, const char *const *headers,
			 struct curl_slist **out)
{
	struct curl_slist *l = NULL, *t;

	for (struct curl_slist *u = h->user_headers; u; u = u->next) {
		if (!(t = curl_slist_append(l, u->data)))
			goto err_free_list;
		l = t;
	}
	for (size_t i = 0; headers && headers[i]; i++) {
		if (!(t = curl_slist_append(l, headers[i])))
			goto err_free_list;
		l = t;
	}
	if (h->auth_header) {
		if (!(t = curl_slist_append(l, h->auth_header)))
			goto err_free_list;
		l = t;
	}
	if (!(t = curl_slist_append(l, "Expect:")))
		goto err_free_list;
	*out = t;
	return 0;

err_free_list:
	curl_slist_free_all(l);
	return -ENOMEM;
}

int http_post(struct http_client *h, const char *url, const char *const *headers,
	      const void *body, size_t len, struct http_response *resp)
{
	struct curl_slist *list = NULL;
	CURLcode rc;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_ms = -1;
	h->resp = resp;

	if (build_headers(h, headers, &list) < 0) {
		snprintf(resp->error, sizeof(resp->error), "out of memory");
		return -ENOMEM;
	}
	rc = setup(h);
	rc |= curl_easy_setopt(h->curl, CURLOPT_URL, url);
	rc |= curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
	rc |= curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body ? body : "");
	rc |= curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	rc |= curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, list);
	if (rc != CURLE_OK) {
		snprintf(resp->error, sizeof(resp->error), "cannot set request options");
		curl_slist_free_all(list);
		h->resp = NULL;
		return -EINVAL;
	}

	h->errbuf[0] = '\0';
	rc = curl_easy_perform(h->curl);
	/* the list must outlive the transfer; detach it before freeing */
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(list);
	h->resp = NULL;

	if (rc != CURLE_OK) {
		/* "SSL certificate problem: unable to get local issuer certificate"
		 * says more than curl_easy_strerror's "SSL peer certificate or SSH
		 * remote key was not OK" */
		snprintf(resp->error, sizeof(resp->error), "%s",
			 h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
		resp->status = 0;
		return rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	return 0;
}

int http_gzip(const void *in, size_t len, void **out, size_t *out_len)
{
	z_stream zs;
	int rc = -ENOMEM;
	memset(&zs, 0, sizeof(zs));

	/* windowBits 15 + 16 asks zlib for the gzip wrapper instead of zlib's */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	uLong cap = deflateBound(&zs, (uLong)len);
	unsigned char *buf = malloc(cap ? cap : 1);
	if (!buf)
		goto err_end;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)cap;
	rc = -EIO;
	if (len > UINT_MAX || deflate(&zs, Z_FINISH) != Z_STREAM_END)
		goto err_free_buf;
	*out_len = zs.total_out;
	*out = buf;
	deflateEnd(&zs);
	return 0;

err_free_buf:
	free(buf);
err_end:
	deflateEnd(&zs);
	return rc;
}
