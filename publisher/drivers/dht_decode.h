/*
 * dht_decode.h - turns the edge timestamps of one DHT11/DHT22 transmission
 * into a reading, or says why it cannot. Pure: no I/O, no clock, no state,
 * so the unit test can feed it any trace (publisher/drivers/dht.c captures).
 *
 * The caller owns ts[] and out; nothing is allocated.
 *
 * What the decoder guarantees: a trace that is not unambiguously one whole
 * frame is refused, never decoded to another value. Every edge of the trace
 * must have a place in the frame: the total edge count says how many of the
 * first edges were missed (0 to 3), and the pulses at the front must then be
 * the sensor's response, so a frame that lost, gained or shifted edges
 * anywhere is refused (DHT_ERR_FRAMING, _TOO_FEW_EDGES, _TOO_MANY_EDGES).
 *
 * What it does not do: compare a reading with the previous one (it has no
 * state). A reading that is valid in isolation but jumps implausibly from
 * the last one is held back by the driver, dht.c, until the next read
 * confirms it; see there.
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
	DHT_ERR_TOO_MANY_EDGES, /* more than DHT_FULL_EDGES: glitches, noise */
	DHT_ERR_FRAMING,        /* the response is not where the edge count puts it */
	DHT_ERR_TIMING,         /* a bit pulse outside its window */
	DHT_ERR_CHECKSUM,       /* the 40 bits decoded, checksum byte disagrees */
	DHT_ERR_IMPLAUSIBLE,    /* checksum fine, value outside the model's range */
	DHT_RESULT_KINDS
};

#define DHT_BITS 40
/*
 * A whole answer as the GPIO capture sees it, edge e0..e84: e0 the line
 * released by the host (rising), e1..e3 the sensor's response (80 µs low,
 * 80 µs high), then per bit a ~50 µs low and a 26-28 or ~70 µs high, then
 * a ~50 µs low and e84, the final release. The capture may miss e0..e2
 * (between the output and the input request), never e3: without the end of
 * the response high nothing tells bit 0 from the response.
 */
#define DHT_FULL_EDGES (4 + 2 * DHT_BITS + 1)
#define DHT_MAX_LOST 3
#define DHT_MIN_EDGES (DHT_FULL_EDGES - DHT_MAX_LOST)

/*
 * Tolerance windows in microseconds, inclusive. Each is the nominal length
 * (Aosong AM2302 and DHT11 datasheets) +- 15 µs, so that every pulse within
 * 15 µs of nominal decodes; RESPONSE reaches 5 µs further up, GO spans the
 * datasheet's whole range + 15. See dht_decode.c for why no window is wider.
 *   GO        host release -> sensor pulls low: 20-200 µs (AM2302), 20-40 (DHT11)
 *   RESPONSE  response low and high: 80 µs (AM2302: 75-85)
 *   LOW       every bit's low and the final low: 50 µs (AM2302: 48-55, 45-55)
 *   ZERO      high of a 0: 26-28 µs (AM2302: 22-30)
 *   ONE       high of a 1: 70 µs (AM2302: 68-75)
 * LOW ends where RESPONSE starts (50 + 15 = 80 - 15): no bit low is taken
 * for a response pulse of the datasheet's 75-85 µs. Highs between ZERO and
 * ONE (44-54 µs) are refused, not guessed.
 */
#define DHT_GO_MIN_US 1
#define DHT_GO_MAX_US 215
#define DHT_RESPONSE_MIN_US 65
#define DHT_RESPONSE_MAX_US 100
#define DHT_LOW_MIN_US 35
#define DHT_LOW_MAX_US 65
#define DHT_ZERO_MIN_US 11
#define DHT_ZERO_MAX_US 43
#define DHT_ONE_MIN_US 55
#define DHT_ONE_MAX_US 85

struct dht_reading {
	double temperature_celsius;
	double humidity_percent;
	uint8_t bytes[5];       /* bits as received; set once they decoded */
	size_t lost;            /* first edges missed (0..3), once the count fits */
	size_t bad_edge;        /* _FRAMING, _TIMING: index of the edge ending the pulse */
	int64_t bad_pulse_ns;   /* _FRAMING, _TIMING: its length */
};

/*
 * Decodes ts[0..n-1] (edge timestamps in ns, any edge direction, oldest
 * first) as one whole answer with its first 0..3 edges missed. Returns
 * DHT_OK with *out filled, or the reason; out->bytes is valid from
 * DHT_ERR_CHECKSUM on.
 */
enum dht_result dht_decode(enum dht_model model, const uint64_t *ts, size_t n,
			   struct dht_reading *out);

/* "too few edges", "too many edges", "no frame start", "bad timing", ... */
const char *dht_result_str(enum dht_result r);

/*
 * The driver's own counters (dht.c keeps them per sensor; declared here
 * because drivers.h only lists the driver structs). The sensor's fails[]
 * count the same failures coarser: _TOO_FEW_EDGES as no_response,
 * _TOO_MANY_EDGES, _FRAMING and _TIMING as timing, held jumps as
 * implausible.
 *
 * Jumps: a reading further than DHT_JUMP_TEMP_C or DHT_JUMP_HUM_PCT from the
 * last published one, taken less than DHT_JUMP_WINDOW_S after it, is held:
 * the read fails (-EAGAIN, implausible) and the publisher retries after the
 * sensor's minimum interval. If that next reading agrees with the held one
 * (within the same limits) the jump was real and the new reading is
 * published (the held one is 1-2 s older and says the same, so only that
 * delay is lost); if it agrees with the last published one instead, the
 * held one was a corrupted frame and is dropped; if it jumps again it is
 * held in its place. With no published reading in the last
 * DHT_JUMP_WINDOW_S (the first read, a long outage, an interval longer than
 * that) there is nothing to compare with and the reading is published.
 */
#define DHT_JUMP_TEMP_C 10.0
#define DHT_JUMP_HUM_PCT 25.0
#define DHT_JUMP_WINDOW_S 60

struct dht_stats {
	uint64_t decode[DHT_RESULT_KINDS];      /* every decoded capture, by result */
	uint64_t jumps_held;            /* readings held back as implausible jumps */
	uint64_t jumps_confirmed;       /* ... that the next reading confirmed */
	uint64_t jumps_rejected;        /* ... that the next reading contradicted */
};

struct sensor;

/* Counters of a dht11/dht22/am2302 sensor that is open, else NULL. */
const struct dht_stats *dht_sensor_stats(const struct sensor *s);

#endif
