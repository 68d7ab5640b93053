/*
 * dht_decode.h - turns the edge timestamps of one DHT11/DHT22 transmission
 * into a reading, or says why it cannot. Pure: no I/O, no clock, no state,
 * so the unit test can feed it any trace (publisher/drivers/dht.c captures).
 *
 * The caller owns ts[] and out; nothing is allocated.
 */
#ifndef SW_DHT_DECODE_H
#define SW_DHT_DECODE_H

#include <stddef.h>
#include <stdint.h>

enum dht_model {
	DHT_MODEL_DHT11,
	DHT_MODEL_DHT22,        /* also AM2302 */
};

enum dht_result {
	DHT_OK = 0,
	DHT_ERR_TOO_FEW_EDGES,  /* fewer than DHT_MIN_EDGES: no or partial answer */
	DHT_ERR_TIMING,         /* a pulse outside every tolerance window */
	DHT_ERR_CHECKSUM,       /* the 40 bits decoded, checksum byte disagrees */
	DHT_ERR_IMPLAUSIBLE,    /* checksum fine, value outside the model's range */
};

/* 40 data bits (2 edges each) plus the final release edge. */
#define DHT_BITS 40
#define DHT_MIN_EDGES (2 * DHT_BITS + 1)
/* a whole answer: release, response low/high, 40 bits, final release */
#define DHT_FULL_EDGES (4 + 2 * DHT_BITS + 1)

/*
 * Tolerance windows in microseconds (datasheets: every bit starts with ~50 µs
 * low; the high that follows lasts 26-28 µs for 0 and ~70 µs for 1). Pulses
 * between the 0 and 1 windows are rejected rather than guessed. See
 * dht_decode.c for why each bound is where it is.
 */
#define DHT_LOW_MIN_US 30
#define DHT_LOW_MAX_US 75
#define DHT_ZERO_MIN_US 10
#define DHT_ZERO_MAX_US 47
#define DHT_ONE_MIN_US 51
#define DHT_ONE_MAX_US 100

struct dht_reading {
	double temperature_celsius;
	double humidity_percent;
	uint8_t bytes[5];       /* bits as received; set once they decoded */
	size_t bad_edge;        /* DHT_ERR_TIMING: index of the edge ending the pulse */
	int64_t bad_pulse_ns;   /* DHT_ERR_TIMING: its length */
};

/*
 * Decodes the last 40 bits of ts[0..n-1] (edge timestamps in ns, any edge
 * direction, oldest first; the last one is the sensor letting the line go
 * high after the final bit). Edges before the 40 bits (the start pulse and
 * the sensor's 80 µs response, often partly lost) are ignored. Returns
 * DHT_OK with *out filled, or the reason; out->bytes is valid from
 * DHT_ERR_CHECKSUM on.
 */
enum dht_result dht_decode(enum dht_model model, const uint64_t *ts, size_t n,
			   struct dht_reading *out);

/* "too few edges", "bad timing", "checksum mismatch", "implausible value". */
const char *dht_result_str(enum dht_result r);

#endif
