/*
 * config.c - the table-driven configuration of both daemons (see config.h).
 */
#include "common/config.h"
#include "common/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECRET_MASK "********"

int cfg_init(struct cfg *c, const struct cfg_key *keys)
{
	size_t n = 0;
	while (keys[n].name)
		n++;
	c->keys = keys;
	c->n = n;
	c->val = calloc(n ? n : 1, sizeof(char *));
	c->origin = calloc(n ? n : 1, sizeof(char *));
	if (!c->val || !c->origin)
		goto err_free;
	for (size_t i = 0; i < n; i++) {
		if (!keys[i].def)
			continue;
		c->val[i] = strdup(keys[i].def);
		c->origin[i] = strdup("default");
		if (!c->val[i] || !c->origin[i])
			goto err_free;
	}
	return 0;
err_free:
	cfg_release(c);
	return -1;
}

void cfg_release(struct cfg *c)
{
	for (size_t i = 0; c->val && i < c->n; i++) {
		free(c->val[i]);
		free(c->origin[i]);
	}
	free(c->val);
	free(c->origin);
	c->val = NULL;
	c->origin = NULL;
	c->n = 0;
}

int cfg_find(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

int cfg_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int cfg_parse_int(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* Reads a secret file: whole content, one trailing newline removed. */
static char *read_secret_file(const char *path, char *err, size_t errlen, const char *key)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s_FILE: cannot open '%s': %s", key, path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(4097);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "%s_FILE: out of memory", key);
		return NULL;
	}
	size_t n = fread(buf, 1, 4096, f);
	int more = fgetc(f) != EOF;
	fclose(f);
	if (more) {
		free(buf);
		snprintf(err, errlen, "%s_FILE: '%s' is larger than 4096 bytes", key, path);
		return NULL;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return buf;
}

static int check_value(const struct cfg_key *k, const char *value, char *err, size_t errlen)
{
	long long v;
	bool b;
	switch (k->type) {
	case CFG_INT:
		if (cfg_parse_int(value, &v) < 0) {
			snprintf(err, errlen, "%s: '%s' is not an integer", k->name, value);
			return -1;
		}
		if ((k->min || k->max) && (v < k->min || v > k->max)) {
			snprintf(err, errlen, "%s: %lld is out of range %lld..%lld", k->name, v,
				 k->min, k->max);
			return -1;
		}
		return 0;
	case CFG_BOOL:
		if (cfg_parse_bool(value, &b) < 0) {
			snprintf(err, errlen, "%s: '%s' is not a boolean (true/false)", k->name, value);
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

static int store(struct cfg *c, int i, char *owned_value, const char *origin)
{
	char *o = strdup(origin);
	if (!o) {
		free(owned_value);
		return -1;
	}
	free(c->val[i]);
	free(c->origin[i]);
	c->val[i] = owned_value;
	c->origin[i] = o;
	return 0;
}

int cfg_set(struct cfg *c, const char *key, const char *value, const char *origin,
	    char *err, size_t errlen)
{
	int i = cfg_find(c, key);
	if (i >= 0) {
		if (check_value(&c->keys[i], value, err, errlen) < 0)
			return -1;
		char *v = strdup(value);
		if (!v || store(c, i, v, origin) < 0) {
			snprintf(err, errlen, "%s: out of memory", key);
			return -1;
		}
		return 0;
	}
	size_t kl = strlen(key);
	if (kl > 5 && strcmp(key + kl - 5, "_FILE") == 0) {
		char base[128];
		if (kl - 5 < sizeof(base)) {
			memcpy(base, key, kl - 5);
			base[kl - 5] = '\0';
			i = cfg_find(c, base);
			if (i >= 0 && c->keys[i].type == CFG_SECRET) {
				char *secret = read_secret_file(value, err, errlen, base);
				if (!secret)
					return -1;
				if (store(c, i, secret, origin) < 0) {
					snprintf(err, errlen, "%s: out of memory", key);
					return -1;
				}
				return 0;
			}
		}
	}
	snprintf(err, errlen, "unknown key '%s'", key);
	return -1;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Removes one level of matching quotes; "..." understands \" and \\. */
static int unquote(char *v)
{
	size_t n = strlen(v);
	if (n == 0 || (v[0] != '"' && v[0] != '\''))
		return 0;
	char q = v[0];
	if (n < 2 || v[n - 1] != q)
		return -1;
	char *w = v;
	for (size_t r = 1; r < n - 1; r++) {
		if (q == '"' && v[r] == '\\' && r + 1 < n - 1 &&
		    (v[r + 1] == '"' || v[r + 1] == '\\'))
			r++;
		*w++ = v[r];
	}
	*w = '\0';
	return 0;
}

int cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0;
	char origin[512], inner[256];
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (strncmp(s, "export ", 7) == 0)
			s = trim(s + 7);
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected KEY=VALUE", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *key = trim(s);
		char *value = trim(eq + 1);
		if (unquote(value) < 0) {
			snprintf(err, errlen, "%s:%d: %s: unterminated quote", path, lineno, key);
			rc = -1;
			break;
		}
		snprintf(origin, sizeof(origin), "%s:%d", path, lineno);
		if (cfg_set(c, key, value, origin, inner, sizeof(inner)) < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, inner);
			rc = -1;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

int cfg_load_env(struct cfg *c, char *err, size_t errlen)
{
	char name[160];
	for (size_t i = 0; i < c->n; i++) {
		const char *v = getenv(c->keys[i].name);
		if (v && cfg_set(c, c->keys[i].name, v, "env", err, errlen) < 0)
			return -1;
		if (c->keys[i].type != CFG_SECRET)
			continue;
		snprintf(name, sizeof(name), "%s_FILE", c->keys[i].name);
		v = getenv(name);
		if (v && cfg_set(c, name, v, "env", err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* "--mqtt-url" -> "MQTT_URL"; returns -1 if it is not of that shape. */
static int flag_to_key(const char *flag, char *key, size_t keylen)
{
	if (strncmp(flag, "--", 2) != 0)
		return -1;
	flag += 2;
	size_t n = strcspn(flag, "=");
	if (n == 0 || n >= keylen)
		return -1;
	for (size_t i = 0; i < n; i++)
		key[i] = flag[i] == '-' ? '_' : (char)toupper((unsigned char)flag[i]);
	key[n] = '\0';
	return 0;
}

static const char *type_name(enum cfg_type t)
{
	switch (t) {
	case CFG_INT: return "int";
	case CFG_BOOL: return "bool";
	case CFG_SECRET: return "secret";
	default: return "string";
	}
}

static void print_help(const struct cfg *c, const struct cfg_cli *cli)
{
	printf("usage: %s [options]\n%s\n\n", cli->prog, cli->summary);
	printf("options:\n");
	printf("  --config FILE       read KEY=VALUE settings from FILE\n");
	printf("  --check-config      validate, print the effective configuration, exit 0/1\n");
	for (const struct cfg_flag *f = cli->flags; f && f->name; f++)
		printf("  %-19s %s\n", f->name, f->help);
	printf("  --version           print the version\n");
	printf("  --help              this text\n\n");
	printf("settings (environment variable or config-file key; flag --key-name VALUE;\n"
	       "precedence: defaults < --config FILE < environment < flags;\n"
	       "a secret KEY also reads KEY_FILE, and is not accepted as a flag):\n");
	for (size_t i = 0; i < c->n; i++) {
		const struct cfg_key *k = &c->keys[i];
		printf("  %-26s %-6s default: %s\n      %s\n", k->name, type_name(k->type),
		       k->def ? (*k->def ? k->def : "\"\"") : "(unset)", k->help);
	}
}

/* True for a daemon's extra flag; sets its flag_set entry when flag_set is given. */
static bool extra_flag(const struct cfg_cli *cli, const char *a, bool *flag_set)
{
	bool extra = false;
	for (int f = 0; cli->flags && cli->flags[f].name; f++) {
		if (strcmp(a, cli->flags[f].name) == 0) {
			if (flag_set)
				flag_set[f] = true;
			extra = true;
		}
	}
	return extra;
}

/*
 * Pass 1: the flags that decide what to do (--help, --version,
 * --print-keys: 1, printed), --config FILE, --check-config and the extra
 * flags. Returns 0, 1, or -1 (logged).
 */
static int scan_flags(struct cfg *c, const struct cfg_cli *cli, const char *version, int argc,
		      char **argv, bool *flag_set, bool *check_config, const char **config_file)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			print_help(c, cli);
			return 1;
		}
		if (strcmp(a, "--version") == 0) {
			printf("%s %s\n", cli->prog, version);
			return 1;
		}
		if (strcmp(a, "--print-keys") == 0) {
			cfg_print_keys(c, stdout);
			return 1;
		}
		if (strcmp(a, "--config") == 0 || strncmp(a, "--config=", 9) == 0) {
			if (a[8] == '=') {
				*config_file = a + 9;
			} else if (i + 1 < argc) {
				*config_file = argv[++i];
			} else {
				log_error("config", "--config needs a file name");
				return -1;
			}
			continue;
		}
		if (strcmp(a, "--check-config") == 0) {
			*check_config = true;
			continue;
		}
		if (extra_flag(cli, a, flag_set))
			continue;
		/* --key VALUE: skip the value here */
		if (strncmp(a, "--", 2) == 0 && !strchr(a, '=') && i + 1 < argc)
			i++;
	}
	return 0;
}

/* Defaults < file < env: loads --config FILE, then the environment. */
static int load_sources(struct cfg *c, const char *config_file)
{
	char err[640];
	if (config_file && cfg_load_file(c, config_file, err, sizeof(err)) < 0) {
		log_error("config", "%s", err);
		return -1;
	}
	if (cfg_load_env(c, err, sizeof(err)) < 0) {
		log_error("config", "environment: %s", err);
		return -1;
	}
	return 0;
}

/* One --key-name VALUE (or --key-name=VALUE) setting, a at argv[*i]. */
static int apply_setting(struct cfg *c, int argc, char **argv, int *i)
{
	char err[640], key[128];
	const char *a = argv[*i];
	if (flag_to_key(a, key, sizeof(key)) < 0) {
		log_error("config", "unknown argument '%s' (see --help)", a);
		return -1;
	}
	const char *value;
	const char *eq = strchr(a, '=');
	if (eq) {
		value = eq + 1;
	} else if (*i + 1 < argc) {
		value = argv[++*i];
	} else {
		log_error("config", "option '%s' needs a value", a);
		return -1;
	}
	int k = cfg_find(c, key);
	if (k < 0 && !(strlen(key) > 5 && strcmp(key + strlen(key) - 5, "_FILE") == 0)) {
		log_error("config", "unknown option '%s' (see --help)", a);
		return -1;
	}
	if (k >= 0 && c->keys[k].type == CFG_SECRET) {
		log_error("config", "'%s' would put a secret in the process list; "
			  "use %s_FILE or the environment", a, key);
		return -1;
	}
	if (cfg_set(c, key, value, "flag", err, sizeof(err)) < 0) {
		log_error("config", "%s: %s", a, err);
		return -1;
	}
	return 0;
}

/* Pass 2: the --key-name VALUE settings, over file and environment. */
static int apply_settings(struct cfg *c, const struct cfg_cli *cli, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strcmp(a, "--check-config") == 0 || extra_flag(cli, a, NULL) ||
		    strncmp(a, "--config=", 9) == 0)
			continue;
		if (apply_setting(c, argc, argv, &i) < 0)
			return -1;
	}
	return 0;
}

/* LOG_LEVEL, when the daemon has it, takes effect now. */
static int apply_log_level(const struct cfg *c)
{
	if (cfg_find(c, "LOG_LEVEL") < 0)
		return 0;
	int lvl = log_level_parse(cfg_str(c, "LOG_LEVEL"));
	if (lvl < 0) {
		log_error("config", "LOG_LEVEL: '%s' is not one of error, warn, info, debug",
			  cfg_str(c, "LOG_LEVEL") ? cfg_str(c, "LOG_LEVEL") : "");
		return -1;
	}
	log_set_level(lvl);
	return 0;
}

int cfg_from_cli(struct cfg *c, const struct cfg_cli *cli, const char *version,
		 int argc, char **argv, bool *flag_set, bool *check_config)
{
	const char *config_file = NULL;
	*check_config = false;
	int rc = scan_flags(c, cli, version, argc, argv, flag_set, check_config, &config_file);
	if (rc != 0)
		return rc;
	if (load_sources(c, config_file) < 0 || apply_settings(c, cli, argc, argv) < 0 ||
	    apply_log_level(c) < 0)
		return -1;
	return 0;
}

const char *cfg_str(const struct cfg *c, const char *name)
{
	int i = cfg_find(c, name);
	if (i < 0) {
		log_error("config", "internal: no key '%s' in the table", name);
		abort();
	}
	return c->val[i];
}

bool cfg_is_set(const struct cfg *c, const char *name)
{
	const char *v = cfg_str(c, name);
	return v && *v;
}

long long cfg_int(const struct cfg *c, const char *name)
{
	long long v = 0;
	const char *s = cfg_str(c, name);
	if (s && *s)
		cfg_parse_int(s, &v);
	return v;
}

bool cfg_bool(const struct cfg *c, const char *name)
{
	bool b = false;
	const char *s = cfg_str(c, name);
	if (s && *s)
		cfg_parse_bool(s, &b);
	return b;
}

void cfg_print(const struct cfg *c, FILE *out)
{
	for (size_t i = 0; i < c->n; i++) {
		const char *v = c->val[i] ? c->val[i] : "";
		if (c->keys[i].type == CFG_SECRET && *v)
			v = SECRET_MASK;
		/* KEY=value, then its origin in a column (at least one space apart) */
		int pad = 40 - (int)(strlen(c->keys[i].name) + strlen(v));
		fprintf(out, "%s=%s%*s# %s\n", c->keys[i].name, v, pad > 1 ? pad : 1, "",
			c->origin[i] ? c->origin[i] : "unset");
	}
}

void cfg_print_keys(const struct cfg *c, FILE *out)
{
	for (size_t i = 0; i < c->n; i++) {
		fprintf(out, "%s\n", c->keys[i].name);
		if (c->keys[i].type == CFG_SECRET)
			fprintf(out, "%s_FILE\n", c->keys[i].name);
	}
}
