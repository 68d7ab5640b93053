/*
 * fuzz_sensors.c - the SENSORS parser (publisher/sensor.c), never opening a
 * sensor. Invariants: no crash, leak or UB; an error has a reason and
 * leaves nothing to free; an accepted list follows sensor.h's rules (names
 * 1-63 bytes of [A-Za-z0-9_.-], unique, not "status"; only the driver's
 * option keys, each once, with non-empty values).
 */
#include "publisher/sensor.h"
#include "tests/fuzz/fuzz.h"

static int name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= SENSOR_NAME_MAX || strcmp(s, "status") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *spec = malloc(size + 1);
	FUZZ_CHECK(spec, "malloc");
	memcpy(spec, data, size);
	spec[size] = '\0';
	struct sensor *s = NULL;
	size_t n = 12345;
	char err[256] = "";
	int rc = sensor_list_parse(spec, &s, &n, err, sizeof(err));
	if (rc < 0) {
		FUZZ_CHECK(err[0], "error without reason");
	} else {
		FUZZ_CHECK(rc == 0, "rc %d", rc);
		for (size_t i = 0; i < n; i++) {
			FUZZ_CHECK(name_ok(s[i].name), "name '%s'", s[i].name);
			FUZZ_CHECK(s[i].drv && sensor_driver_find(s[i].drv->name) == s[i].drv, "driver");
			FUZZ_CHECK(!s[i].is_open, "opened");
			FUZZ_CHECK(s[i].n_opts <= SENSOR_MAX_OPTS, "opts");
			for (size_t j = 0; j < i; j++)
				FUZZ_CHECK(strcmp(s[i].name, s[j].name) != 0, "duplicate '%s'", s[i].name);
			for (size_t k = 0; k < s[i].n_opts; k++) {
				const char *key = s[i].opts[k].key;
				int known = 0;
				for (const char *const *o = s[i].drv->opt_keys; o && *o; o++)
					known |= strcmp(*o, key) == 0;
				FUZZ_CHECK(known, "option '%s' of %s", key, s[i].drv->name);
				FUZZ_CHECK(s[i].opts[k].value[0], "empty value of '%s'", key);
				FUZZ_CHECK(sensor_opt(&s[i], key) == s[i].opts[k].value ||
					   strcmp(sensor_opt(&s[i], key), s[i].opts[k].value) == 0,
					   "sensor_opt");
				for (size_t j = 0; j < k; j++)
					FUZZ_CHECK(strcmp(s[i].opts[j].key, key) != 0, "repeated '%s'", key);
			}
		}
		sensor_list_free(s, n);
	}
	free(spec);
	return 0;
}
