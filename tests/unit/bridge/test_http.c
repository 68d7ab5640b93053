/*
 * test_http.c - the HTTP client: status classification, Retry-After in both
 * forms, gzip round trip through zlib, reserved headers, URL escaping, and
 * real requests against an in-process receiver (headers, auth, keep-alive,
 * Retry-After from a response, body truncation, timeout).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <cmocka.h>

#include "bridge/http.h"
#include "fake_server.h"


static void test_classify(void **state)
{
	(void)state;
	static const struct { long s; enum http_verdict v; } cases[] = {
		{ 200, HTTP_OK }, { 204, HTTP_OK }, { 299, HTTP_OK },
		{ 500, HTTP_RETRY }, { 502, HTTP_RETRY }, { 503, HTTP_RETRY }, { 504, HTTP_RETRY },
		{ 429, HTTP_RETRY }, { 408, HTTP_RETRY }, { 0, HTTP_RETRY },
		{ 413, HTTP_TOO_LARGE },
		{ 400, HTTP_DROP }, { 401, HTTP_DROP }, { 403, HTTP_DROP }, { 404, HTTP_DROP },
		{ 415, HTTP_DROP }, { 422, HTTP_DROP }, { 301, HTTP_DROP }, { 100, HTTP_DROP },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(http_classify(cases[i].s), cases[i].v);
}

static void test_retry_after_seconds(void **state)
{
	(void)state;
	time_t now = 1700000000;
	assert_int_equal(http_parse_retry_after("1", now), 1000);
	assert_int_equal(http_parse_retry_after(" 120 \r\n", now), 120000);
	assert_int_equal(http_parse_retry_after("0", now), 0);
	assert_int_equal(http_parse_retry_after("99999999999999", now), INT_MAX);
	assert_int_equal(http_parse_retry_after("", now), -1);
	assert_int_equal(http_parse_retry_after("-5", now), -1);
	assert_int_equal(http_parse_retry_after("1.5", now), -1);
	assert_int_equal(http_parse_retry_after("soon", now), -1);
	assert_int_equal(http_parse_retry_after(NULL, now), -1);
}

static void test_retry_after_date(void **state)
{
	(void)state;
	time_t now = 1700000000;   /* Tue, 14 Nov 2023 22:13:20 GMT */
	assert_int_equal(http_parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now), 30000);
	/* the obsolete forms an HTTP/1.1 client must accept too */
	assert_int_equal(http_parse_retry_after("Tuesday, 14-Nov-23 22:14:20 GMT", now), 60000);
	assert_int_equal(http_parse_retry_after("Tue Nov 14 22:13:21 2023", now), 1000);
	/* in the past: retry now */
	assert_int_equal(http_parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now), 0);
	assert_int_equal(http_parse_retry_after("Tue, 99 Foo 2023 25:61:00 GMT", now), -1);
	assert_int_equal(http_parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT trailing", now), -1);
}

/* A date past 2038 (and past 2106, beyond any 32-bit time_t) is read right:
 * on 32-bit targets this needs the build's 64-bit time_t. */
static void test_retry_after_date_past_2038(void **state)
{
	(void)state;
	_Static_assert(sizeof(time_t) == 8, "time_t must be 64-bit (the Makefile's LFS flags)");
	time_t now = (time_t)2208988800LL;  /* Sun, 01 Jan 2040 00:00:00 GMT */
	assert_int_equal(http_parse_retry_after("Sun, 01 Jan 2040 00:01:00 GMT", now), 60000);
	now = (time_t)4294967296LL;         /* Sun, 07 Feb 2106 06:28:16 GMT */
	assert_int_equal(http_parse_retry_after("Sun, 07 Feb 2106 06:28:46 GMT", now), 30000);
	assert_int_equal(http_parse_retry_after("Sun, 01 Jan 2040 00:01:00 GMT", now), 0);
}

static void test_gzip_round_trip(void **state)
{
	(void)state;
	char in[5000];
	for (size_t i = 0; i < sizeof(in) - 1; i++)
		in[i] = "sensor,node=rp3 v=1 1700000000000\n"[i % 34];
	in[sizeof(in) - 1] = '\0';
	void *gz;
	size_t len;
	assert_int_equal(http_gzip(in, strlen(in), &gz, &len), 0);
	assert_true(len < strlen(in));
	assert_int_equal(((unsigned char *)gz)[0], 0x1f);   /* gzip magic, not zlib */
	assert_int_equal(((unsigned char *)gz)[1], 0x8b);
	char *back = fake_gunzip(gz, len);
	assert_non_null(back);
	assert_string_equal(back, in);
	free(back);
	free(gz);

	assert_int_equal(http_gzip("", 0, &gz, &len), 0);
	back = fake_gunzip(gz, len);
	assert_string_equal(back, "");
	free(back);
	free(gz);
}

static void test_reserved_headers(void **state)
{
	(void)state;
	struct http_opts o = { .timeout_ms = 1000 };
	struct http_client *h = http_client_new(&o);
	assert_non_null(h);
	assert_true(http_header_is_reserved("content-type", 12));
	assert_true(http_header_is_reserved("X-Prometheus-Remote-Write-Version", 33));
	assert_false(http_header_is_reserved("X-Scope-OrgID", 13));
	assert_int_equal(http_client_add_header(h, "Content-Encoding: gzip"), -EINVAL);
	assert_int_equal(http_client_add_header(h, "user-agent: evil"), -EINVAL);
	assert_int_equal(http_client_add_header(h, "no colon"), -EINVAL);
	assert_int_equal(http_client_add_header(h, ": empty"), -EINVAL);
	assert_int_equal(http_client_add_header(h, "X-A: b\r\nX-Injected: 1"), -EINVAL);
	assert_int_equal(http_client_add_header(h, "X-Scope-OrgID: team1"), 0);
	http_client_free(h);
	http_client_free(NULL);
}

static void test_url_escape(void **state)
{
	(void)state;
	char *e = http_url_escape("my db&x=1/ü");
	assert_string_equal(e, "my%20db%26x%3D1%2F%C3%BC");
	free(e);
}

static void test_post_headers_auth_keepalive(void **state)
{
	(void)state;
	fake_reset(&srv);
	unsigned conns_before = srv.connections;
	struct http_opts o = { .timeout_ms = 2000, .user_agent = "sensorwire/test",
			       .username = "user", .password = "pa:ss" };
	struct http_client *h = http_client_new(&o);
	assert_int_equal(http_client_add_header(h, "X-Scope-OrgID: team1"), 0);
	const char *hdrs[] = { "Content-Type: text/plain", NULL };
	struct http_response resp;
	char url[128];
	snprintf(url, sizeof(url), "%s/write?db=x", srv.base);

	for (int i = 0; i < 3; i++) {
		assert_int_equal(http_post(h, url, hdrs, "abc", 3, &resp), 0);
		assert_int_equal(resp.status, 204);
		assert_int_equal(resp.retry_after_ms, -1);
	}
	assert_int_equal(srv.n_reqs, 3);
	const struct fake_req *rq = &srv.reqs[0];
	assert_string_equal(rq->method, "POST");
	assert_string_equal(rq->uri, "/write?db=x");
	assert_int_equal(rq->len, 3);
	assert_memory_equal(rq->body, "abc", 3);
	assert_string_equal(fake_header(rq, "User-Agent"), "sensorwire/test");
	assert_string_equal(fake_header(rq, "Content-Type"), "text/plain");
	assert_string_equal(fake_header(rq, "X-Scope-OrgID"), "team1");
	/* base64("user:pa:ss") */
	assert_string_equal(fake_header(rq, "Authorization"), "Basic dXNlcjpwYTpzcw==");
	assert_null(fake_header(rq, "Expect"));
	/* one connection for all three requests */
	assert_int_equal(srv.connections - conns_before, 1);
	http_client_free(h);
}

static void test_post_bearer_retry_after_body(void **state)
{
	(void)state;
	fake_reset(&srv);
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fake_script(&srv, (struct fake_resp){ 503, "Retry-After: 7", "busy", 0 });
	fake_script(&srv, (struct fake_resp){ 429, "Retry-After: Fri, 01 Jan 2100 00:00:00 GMT",
					      NULL, 0 });
	fake_script(&srv, (struct fake_resp){ 400, NULL, big, 0 });

	struct http_opts o = { .timeout_ms = 2000, .bearer_token = "s3cret" };
	struct http_client *h = http_client_new(&o);
	struct http_response resp;
	char url[128];
	snprintf(url, sizeof(url), "%s/api/v1/write", srv.base);

	assert_int_equal(http_post(h, url, NULL, "x", 1, &resp), 0);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.retry_after_ms, 7000);
	assert_string_equal(resp.body, "busy");
	assert_string_equal(fake_header(&srv.reqs[0], "Authorization"), "Bearer s3cret");

	assert_int_equal(http_post(h, url, NULL, "x", 1, &resp), 0);
	assert_int_equal(resp.status, 429);
	assert_true(resp.retry_after_ms > 1000000);

	assert_int_equal(http_post(h, url, NULL, "x", 1, &resp), 0);
	assert_int_equal(resp.status, 400);
	assert_int_equal(resp.retry_after_ms, -1);
	assert_int_equal(resp.body_len, HTTP_BODY_KEEP - 1);
	assert_int_equal(strlen(resp.body), HTTP_BODY_KEEP - 1);
	http_client_free(h);
}

static void test_post_timeout_and_refused(void **state)
{
	(void)state;
	fake_reset(&srv);
	fake_script(&srv, (struct fake_resp){ 204, NULL, NULL, 1500 });
	struct http_opts o = { .timeout_ms = 300 };
	struct http_client *h = http_client_new(&o);
	struct http_response resp;
	char url[128];
	snprintf(url, sizeof(url), "%s/slow", srv.base);
	assert_int_equal(http_post(h, url, NULL, "x", 1, &resp), -ETIMEDOUT);
	assert_int_equal(resp.status, 0);
	assert_true(resp.error[0] != '\0');
	assert_int_equal(http_classify(resp.status), HTTP_RETRY);

	/* port 1 on loopback: nobody listens */
	assert_true(http_post(h, "http://127.0.0.1:1/x", NULL, "x", 1, &resp) < 0);
	assert_int_equal(resp.status, 0);
	http_client_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_retry_after_seconds),
		cmocka_unit_test(test_retry_after_date),
		cmocka_unit_test(test_retry_after_date_past_2038),
		cmocka_unit_test(test_gzip_round_trip),
		cmocka_unit_test(test_reserved_headers),
		cmocka_unit_test(test_url_escape),
		cmocka_unit_test(test_post_headers_auth_keepalive),
		cmocka_unit_test(test_post_bearer_retry_after_body),
		cmocka_unit_test(test_post_timeout_and_refused),
	};
	return cmocka_run_group_tests(tests, fake_group_setup, fake_group_teardown);
}
