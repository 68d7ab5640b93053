/*
 * dht_decode.c - DHT11/DHT22 (AM2302) frame decoder, from edge timestamps.
 *
 * Device:  single-wire sensors by Aosong. After the host's start pulse the
 *          sensor answers 80 µs low, 80 µs high, then sends 40 bits, each a
 *          ~50 µs low followed by a high of 26-28 µs (0) or ~70 µs (1), and
 *          ends with ~50 µs low before letting the line go high.
 * Layout:  5 bytes, MSB first; byte 4 = (b0 + b1 + b2 + b3) & 0xff.
 *          DHT22: b0:b1 = relative humidity in 0.1 %RH, b2:b3 = temperature in
 *                 0.1 °C, sign-magnitude (bit 15 set = negative).
 *          DHT11: b0 = %RH, b1 = tenths (0 on old parts), b2 = °C, b3 = tenths,
 *                 bit 7 of b3 = negative on newer parts.
 * Units:   out in °C and %RH as doubles of exactly tenths / 10.0.
 * Ranges:  DHT22 -40..80 °C, 0..100 %RH (datasheet). DHT11 datasheet says
 *          0..50 °C, 20..90 %RH; we accept 0..60 °C and 0..100 %RH so that a
 *          warm attic or a dry winter room is reported, not dropped. An
 *          all-zero frame (checksum 0 is valid) is treated as implausible.
 * Refs:    Aosong AM2302 and DHT11 datasheets; the idea of recording edges
 *          and decoding the last 40 bits comes from Linux
 *          drivers/iio/humidity/dht11.c (no code taken).
 *
 * Why timestamps only, not edge directions: with the GPIO character device's
 * v1 ABI the kernel reads the line level in a threaded handler to tell a
 * rising from a falling edge, which for 26 µs pulses can be already stale.
 * The order is certain though: the last edge is the final release (rising),
 * and edges alternate going back from it.
 *
 * Why windows on every pulse, not one threshold: a lost or extra edge shifts
 * the frame by a bit, and a shifted frame passes the 8-bit checksum about
 * once in 256 tries. With every low checked against 30..75 µs and every high
 * against the 0 or 1 window, a glitch splits a pulse into pieces of which at
 * least one is out of its window (a 50+15 µs low cut in two leaves one part
 * below 33 µs; highs under 10 µs are refused), and truncation at the end
 * shifts the 80 µs response high into the top bit of the humidity, which the
 * range check refuses. The gap between 47 and 51 µs refuses a high that is
 * neither clearly 0 nor clearly 1 instead of trusting the checksum.
 */
#include <string.h>

#include "publisher/drivers/dht_decode.h"

#define US(x) ((int64_t)(x) * 1000)

const char *dht_result_str(enum dht_result r)
{
	switch (r) {
	case DHT_OK:
		return "ok";
	case DHT_ERR_TOO_FEW_EDGES:
		return "too few edges";
	case DHT_ERR_TIMING:
		return "bad timing";
	case DHT_ERR_CHECKSUM:
		return "checksum mismatch";
	case DHT_ERR_IMPLAUSIBLE:
		return "implausible value";
	}
	return "unknown";
}

static enum dht_result bad_pulse(struct dht_reading *out, size_t edge, int64_t len)
{
	out->bad_edge = edge;
	out->bad_pulse_ns = len;
	return DHT_ERR_TIMING;
}

static int in_window(int64_t len, int min_us, int max_us)
{
	return len >= US(min_us) && len <= US(max_us);
}

/* Fills the values from out->bytes; 0 or DHT_ERR_IMPLAUSIBLE. */
static enum dht_result convert(enum dht_model model, struct dht_reading *out)
{
	const uint8_t *b = out->bytes;
	int hum, temp;  /* tenths */

	if (!b[0] && !b[1] && !b[2] && !b[3])
		return DHT_ERR_IMPLAUSIBLE;
	if (model == DHT_MODEL_DHT22) {
		hum = (b[0] << 8) | b[1];
		temp = ((b[2] & 0x7f) << 8) | b[3];
		if (b[2] & 0x80)
			temp = -temp;
		if (hum > 1000 || temp < -400 || temp > 800)
			return DHT_ERR_IMPLAUSIBLE;
	} else {
		if (b[1] > 9 || (b[3] & 0x7f) > 9)
			return DHT_ERR_IMPLAUSIBLE;
		hum = b[0] * 10 + b[1];
		temp = b[2] * 10 + (b[3] & 0x7f);
		if (b[3] & 0x80)
			temp = -temp;
		if (hum > 1000 || temp < 0 || temp > 600)
			return DHT_ERR_IMPLAUSIBLE;
	}
	out->humidity_percent = hum / 10.0;
	out->temperature_celsius = temp / 10.0;
	return DHT_OK;
}

enum dht_result dht_decode(enum dht_model model, const uint64_t *ts, size_t n,
			   struct dht_reading *out)
{
	size_t end, fall, rise;
	uint8_t bytes[5] = { 0 };
	int64_t len;

	memset(out, 0, sizeof(*out));
	if (n < DHT_MIN_EDGES)
		return DHT_ERR_TOO_FEW_EDGES;

	/* ts[end] is the final release; the ~50 µs low before it ends bit 39 */
	end = n - 1;
	len = (int64_t)(ts[end] - ts[end - 1]);
	if (!in_window(len, DHT_LOW_MIN_US, DHT_LOW_MAX_US))
		return bad_pulse(out, end, len);

	for (int i = DHT_BITS - 1; i >= 0; i--) {
		fall = end - 1 - 2 * (size_t)(DHT_BITS - 1 - i);
		rise = fall - 1;
		len = (int64_t)(ts[fall] - ts[rise]);
		if (in_window(len, DHT_ONE_MIN_US, DHT_ONE_MAX_US))
			bytes[i / 8] |= (uint8_t)(0x80 >> (i % 8));
		else if (!in_window(len, DHT_ZERO_MIN_US, DHT_ZERO_MAX_US))
			return bad_pulse(out, fall, len);
		/* the low before bit 0 may be lost with the preamble */
		if (rise == 0)
			continue;
		len = (int64_t)(ts[rise] - ts[rise - 1]);
		if (!in_window(len, DHT_LOW_MIN_US, DHT_LOW_MAX_US))
			return bad_pulse(out, rise, len);
	}

	memcpy(out->bytes, bytes, sizeof(bytes));
	if ((uint8_t)(bytes[0] + bytes[1] + bytes[2] + bytes[3]) != bytes[4])
		return DHT_ERR_CHECKSUM;
	return convert(model, out);
}
