/*
 * sink.c - the registry of outputs, generated from SINKS (sinks/sinks.h),
 * and the helpers the sinks share: the URL check and the reading of an
 * HTTP answer.
 */
#include "bridge/sink.h"
#include "bridge/sinks/sinks.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SINK_REF(n) &n##_sink_ops,
static const struct sink_ops *const sinks[] = { SINKS(SINK_REF) };
#undef SINK_REF
#define N_SINKS (sizeof(sinks) / sizeof(sinks[0]))

const struct sink_ops *sink_find(const char *name)
{
	for (size_t i = 0; i < N_SINKS; i++)
		if (name && strcmp(sinks[i]->name, name) == 0)
			return sinks[i];
	return NULL;
}

const struct sink_ops *const *sink_all(size_t *n)
{
	*n = N_SINKS;
	return sinks;
}

static char names[256];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void names_build(void)
{
	size_t len = 0;
	for (size_t i = 0; i < N_SINKS && len < sizeof(names); i++) {
		int m = snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
				 sinks[i]->name);
		if (m > 0)
			len += (size_t)m;
	}
}

const char *sink_names(void)
{
	pthread_once(&names_once, names_build);
	return names;
}

static bool has_key(const struct cfg_key *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return true;
	return false;
}

struct cfg_key *sink_key_table(const struct cfg_key *common)
{
	size_t n = 0;
	while (common[n].name)
		n++;
	size_t cap = n + 1;
	for (size_t s = 0; s < N_SINKS; s++)
		for (const struct cfg_key *k = sinks[s]->config_map; k && k->name; k++)
			cap++;
	struct cfg_key *t = malloc(cap * sizeof(*t));
	if (!t)
		return NULL;
	memcpy(t, common, n * sizeof(*t));
	for (size_t s = 0; s < N_SINKS; s++)
		for (const struct cfg_key *k = sinks[s]->config_map; k && k->name; k++)
			if (!has_key(t, n, k->name))
				t[n++] = *k;
	t[n] = (struct cfg_key){ .name = NULL };
	return t;
}

void sink_reason(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

int sink_check_url(const char *key, const char *url, char *err, size_t errlen)
{
	if (!url) {
		snprintf(err, errlen, "%s is not set", key);
		return -1;
	}
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "%s: '%s' is not an http:// or https:// URL", key, url);
		return -1;
	}
	return 0;
}

void sink_answer_http(struct sink_answer *ans, int rc, const struct http_response *resp,
		      const char *url, const char *check)
{
	ans->status = rc < 0 ? 0 : resp->status;
	ans->retry_after_ms = -1;
	ans->reason[0] = '\0';
	if (rc < 0) {
		ans->kind = SINK_ANSWER_RETRY;
		sink_reason(ans->reason, sizeof(ans->reason), "cannot reach '%s': %s", url,
			    resp->error);
		return;
	}
	switch (http_classify(resp->status)) {
	case HTTP_OK:
		ans->kind = SINK_ANSWER_OK;
		return;
	case HTTP_RETRY:
		ans->kind = SINK_ANSWER_RETRY;
		ans->retry_after_ms = resp->retry_after_ms;
		sink_reason(ans->reason, sizeof(ans->reason), "status %ld%s%s", resp->status,
			    resp->body[0] ? ": " : "", resp->body);
		return;
	case HTTP_TOO_LARGE:
		ans->kind = SINK_ANSWER_ERROR;
		ans->error = SINK_ERR_TOO_LARGE;
		snprintf(ans->reason, sizeof(ans->reason), "%s", resp->body);
		return;
	case HTTP_DROP:
		break;
	}
	ans->kind = SINK_ANSWER_ERROR;
	if (resp->status == 401 || resp->status == 403 || resp->status == 404) {
		ans->error = SINK_ERR_CONFIG;
		ans->retry_after_ms = resp->retry_after_ms;
		sink_reason(ans->reason, sizeof(ans->reason), "status %ld from '%s' (check %s): %s",
			    resp->status, url, check, resp->body);
		return;
	}
	ans->error = resp->status == 400 || resp->status == 422 ? SINK_ERR_SPLIT :
								 SINK_ERR_REFUSED;
	snprintf(ans->reason, sizeof(ans->reason), "%s", resp->body);
}
