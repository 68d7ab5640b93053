/*
 * log.c - the one place that writes log lines (see log.h).
 */
#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int log_threshold = LOG_LVL_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (name && strcmp(name, level_names[i]) == 0)
			return i;
	if (name && strcmp(name, "warning") == 0)
		return LOG_LVL_WARN;
	return -1;
}

const char *log_level_name(enum log_level level)
{
	if ((int)level < 0 || level > LOG_LVL_DEBUG)
		return "?";
	return level_names[level];
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

void log_vwrite(enum log_level level, const char *component, const char *fmt, va_list ap)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s %s: ", log_level_name(level), component);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(line)) {
		int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (m > 0)
			n += m;
	}
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	/* never let a message break the one-line-per-event rule */
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(level, component, fmt, ap);
	va_end(ap);
}
