/*
 * log.h - one line per event on stderr: "level component: message".
 *
 * Levels follow syslog order (error < warn < info < debug). The level check
 * happens in the macro, before the arguments are evaluated, so a debug line
 * costs nothing when LOG_LEVEL is above it. Thread-safe: each line is written
 * with a single write(2).
 */
#ifndef SW_LOG_H
#define SW_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
};

extern int log_threshold;

/* Returns the level for "error", "warn", "info" or "debug", or -1. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);
void log_set_level(enum log_level level);

void log_write(enum log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vwrite(enum log_level level, const char *component, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define LOG_AT(lvl, comp, ...) \
	do { \
		if ((int)(lvl) <= log_threshold) \
			log_write((lvl), (comp), __VA_ARGS__); \
	} while (0)

#define log_error(comp, ...) LOG_AT(LOG_LVL_ERROR, comp, __VA_ARGS__)
#define log_warn(comp, ...) LOG_AT(LOG_LVL_WARN, comp, __VA_ARGS__)
#define log_info(comp, ...) LOG_AT(LOG_LVL_INFO, comp, __VA_ARGS__)
#define log_debug(comp, ...) LOG_AT(LOG_LVL_DEBUG, comp, __VA_ARGS__)

#endif
