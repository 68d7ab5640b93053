/*
 * sim.h - the pure part of the sim driver, exposed for its unit test.
 *
 * sim_compute() is a function of its arguments only (no clock, no global
 * state), so a test can ask what a sensor will read at any instant.
 */
#ifndef SW_SIM_H
#define SW_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "publisher/sensor.h"

struct sim_params {
	double base;            /* daily mean, °C */
	double amplitude;       /* half the daily swing, °C */
	double humidity;        /* mean relative humidity, % */
	double peak_hour;       /* UTC hour of the daily maximum */
	double noise;           /* noise amplitude, °C */
	double fail;            /* share of reads that fail (-EAGAIN), 0..1 */
	double pressure;        /* mean pressure, hPa; 0 = no pressure field */
};

struct sim_value {
	double temperature_celsius;
	double humidity_percent;
	double pressure_hectopascals;   /* 0 unless params.pressure is set */
	bool fail;                      /* this read is a simulated failure */
};

/* Reads the sim options of s into p (defaults for absent ones); 0 or -EINVAL. */
int sim_params_parse(const struct sensor *s, struct sim_params *p, char *err, size_t errlen);

/*
 * The reading of sensor `name` at unix_ms (wall clock, ms) for this seed:
 * same inputs, same output. Values are rounded to 0.1 like a DHT22's.
 */
void sim_compute(const struct sim_params *p, uint64_t seed, const char *name, int64_t unix_ms,
		 struct sim_value *out);

#endif
