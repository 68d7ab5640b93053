/*
 * config.h - one table of configuration keys per daemon, filled in rising
 * precedence from built-in defaults, --config FILE, the environment and
 * command-line flags.
 *
 * A config file is KEY=VALUE lines (systemd EnvironmentFile / compose
 * env_file format, '#' comments, optional "double" or 'single' quotes).
 * Unknown keys in a file are refused with "file:line". Every CFG_SECRET key
 * KEY also accepts KEY_FILE, whose value names a file holding the secret
 * (a Kubernetes Secret mount); secrets are refused on the command line and
 * masked when printed. The struct cfg owns all strings it returns.
 */
#ifndef SW_CONFIG_H
#define SW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cfg_type {
	CFG_STR,
	CFG_INT,
	CFG_BOOL,
	CFG_SECRET,
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	const char *def;        /* default as text; NULL = unset */
	long long min, max;     /* bounds for CFG_INT (ignored if min == max == 0) */
	const char *help;
};

struct cfg {
	const struct cfg_key *keys; /* terminated by { .name = NULL } */
	size_t n;
	char **val;                 /* val[i] owned, NULL = unset */
	char **origin;              /* "default", "FILE:LINE", "env", "flag" */
};

/* Extra boolean flags a daemon accepts besides the common ones. */
struct cfg_flag {
	const char *name;           /* e.g. "--once" */
	const char *help;
};

struct cfg_cli {
	const char *prog;           /* "sensor-bridge" */
	const char *summary;        /* one line for --help */
	const struct cfg_flag *flags; /* terminated by { NULL } */
};

int cfg_init(struct cfg *c, const struct cfg_key *keys);
void cfg_release(struct cfg *c);

/* Index of key "name" in the table, or -1. */
int cfg_find(const struct cfg *c, const char *name);

/*
 * Sets key (or KEY_FILE for a secret) to value after checking its type.
 * origin is copied. Returns 0, or -1 with a message in err naming the key.
 */
int cfg_set(struct cfg *c, const char *key, const char *value, const char *origin,
	    char *err, size_t errlen);

/* Loads a KEY=VALUE file. Returns 0, or -1 with "path:line: reason" in err. */
int cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen);

/* Applies every table key (and KEY_FILE for secrets) found in the environment. */
int cfg_load_env(struct cfg *c, char *err, size_t errlen);

/*
 * Parses argv for a daemon: --config FILE, --check-config, --version, --help,
 * --print-keys, the daemon's extra flags, and --key-name VALUE or
 * --key-name=VALUE for every table key (MQTT_URL is --mqtt-url). Applies
 * defaults < file < env < flags. Returns 0 to run, 1 when the process should
 * exit 0 (help, version or key list printed), -1 on error (already logged).
 * flag_set[i] is set for each extra flag given; *check_config likewise.
 */
int cfg_from_cli(struct cfg *c, const struct cfg_cli *cli, const char *version,
		 int argc, char **argv, bool *flag_set, bool *check_config);

const char *cfg_str(const struct cfg *c, const char *name);   /* NULL if unset */
long long cfg_int(const struct cfg *c, const char *name);     /* 0 if unset */
bool cfg_bool(const struct cfg *c, const char *name);
bool cfg_is_set(const struct cfg *c, const char *name);

/* Prints KEY=VALUE lines with their origin; secrets appear as "********". */
void cfg_print(const struct cfg *c, FILE *out);
/* Prints every accepted key name (and KEY_FILE variants), one per line. */
void cfg_print_keys(const struct cfg *c, FILE *out);

/* Shared parse helpers (also used for list-valued settings). */
int cfg_parse_bool(const char *s, bool *out);
int cfg_parse_int(const char *s, long long *out);

#endif
