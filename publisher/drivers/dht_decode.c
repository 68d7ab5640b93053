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
 * Refs:    Aosong AM2302 datasheet (timing table: Tgo 20-200 µs, Trel/Treh
 *          75-85, Tlow 48-55, TH0 22-30, TH1 68-75, Ten 45-55) and DHT11
 *          datasheet (host waits 20-40 µs, 80 + 80, 50, 26-28 / 70, 50);
 *          the idea of recording edges comes from Linux
 *          drivers/iio/humidity/dht11.c (no code taken).
 *
 * Why timestamps only, not edge directions: with the GPIO character device's
 * v1 ABI the kernel reads the line level in a threaded handler to tell a
 * rising from a falling edge, which for 26 µs pulses can be already stale.
 * The order is certain though, so each edge's place in the frame is known
 * once we know where the frame starts.
 *
 * Why the frame is anchored at the front: the capture can miss edges at the
 * start (between the output and the input request), at the end (the v1
 * ABI's 16-event queue overflowing) and in between. Taking "the last 40
 * bits" made a trace that lost its last edges decode one bit early: the
 * response high read as a 1, the response low accepted as a bit's low, and
 * once in 256 shifted frames the checksum agrees. So every edge must be
 * accounted for: n edges mean the first 85 - n were missed, which must be 0
 * to 3 (e3, the end of the response high, is where bit 0 starts), and the
 * pulses before bit 0 must then be the host release (GO) and the response
 * (RESPONSE). A frame shifted by edges lost at the end puts a response
 * pulse into bit 0's low, one shifted by edges added (glitches) puts a bit's
 * low into the response; LOW (35-65 µs) and RESPONSE (65-100 µs) do not
 * overlap, so both are refused (DHT_ERR_FRAMING). A shift by one edge that
 * starts in the middle (an edge dropped) leaves highs in lows' slots and
 * lows in highs' from there on: DHT_ERR_TIMING. What nothing can refuse:
 * a spurious low pulse of a bit's length (35-65 µs) that splits a 1's high
 * into two 0s, with edges lost elsewhere to bring the count back. That
 * trace is, pulse for pulse, a valid answer carrying other bits. Glitches
 * on a wire are far shorter, and one measured under 35 µs is itself out of
 * LOW (or, inside a low, leaves pieces under 35 µs).
 *
 * Why every window is nominal +- 15 µs and no wider: the only redundancy in
 * a frame is an 8-bit additive checksum, which two bit errors can cancel.
 * Pulse errors up to 15 µs (kernel timestamp latency, the sensors' own
 * spread) must still decode; a trace with a larger error somewhere is more
 * likely to hold a flipped bit, and the tight windows refuse it whole: to
 * flip a 0 (26-28 µs) into a 1 a high must grow by 27 µs, and under jitter
 * that large most of the other 84 pulses leave their windows too. The gap
 * between ZERO and ONE (44-54 µs) refuses a high that is neither.
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
	case DHT_ERR_TOO_MANY_EDGES:
		return "too many edges";
	case DHT_ERR_FRAMING:
		return "no frame start";
	case DHT_ERR_TIMING:
		return "bad timing";
	case DHT_ERR_CHECKSUM:
		return "checksum mismatch";
	case DHT_ERR_IMPLAUSIBLE:
		return "implausible value";
	case DHT_RESULT_KINDS:
		break;
	}
	return "unknown";
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

/*
 * Frame edge e (0..84) ends the pulse that started at edge e - 1; this is
 * the window that pulse must fit, for the pulses that are not bit highs.
 */
static void slot_window(size_t e, int *min_us, int *max_us)
{
	if (e == 1) {                   /* e0 -> e1: host release, sensor answers */
		*min_us = DHT_GO_MIN_US;
		*max_us = DHT_GO_MAX_US;
	} else if (e <= 3) {            /* response low, response high */
		*min_us = DHT_RESPONSE_MIN_US;
		*max_us = DHT_RESPONSE_MAX_US;
	} else {                        /* a bit's low or the final low */
		*min_us = DHT_LOW_MIN_US;
		*max_us = DHT_LOW_MAX_US;
	}
}

static enum dht_result bad_pulse(struct dht_reading *out, enum dht_result why, size_t edge,
				 int64_t len)
{
	out->bad_edge = edge;
	out->bad_pulse_ns = len;
	return why;
}

enum dht_result dht_decode(enum dht_model model, const uint64_t *ts, size_t n,
			   struct dht_reading *out)
{
	uint8_t bytes[5] = { 0 };
	int min_us, max_us;
	size_t lost, i, e, bit;
	int64_t len;

	memset(out, 0, sizeof(*out));
	if (n < DHT_MIN_EDGES)
		return DHT_ERR_TOO_FEW_EDGES;
	if (n > DHT_FULL_EDGES)
		return DHT_ERR_TOO_MANY_EDGES;
	lost = DHT_FULL_EDGES - n;
	out->lost = lost;

	/*
	 * The anchor first: the pulses up to the end of bit 0's low (frame
	 * edge 4). Only then the bits, so that a shifted frame is reported as
	 * one, not as a bad bit.
	 */
	for (i = 1; i < n && i + lost <= 4; i++) {
		e = i + lost;
		len = (int64_t)(ts[i] - ts[i - 1]);
		slot_window(e, &min_us, &max_us);
		if (!in_window(len, min_us, max_us))
			return bad_pulse(out, DHT_ERR_FRAMING, i, len);
	}
	for (; i < n; i++) {
		e = i + lost;
		len = (int64_t)(ts[i] - ts[i - 1]);
		if (e % 2 == 0) {
			slot_window(e, &min_us, &max_us);
			if (!in_window(len, min_us, max_us))
				return bad_pulse(out, DHT_ERR_TIMING, i, len);
			continue;
		}
		/* e5, e7, ... e83 end the highs of bits 0..39 */
		bit = (e - 5) / 2;
		if (in_window(len, DHT_ONE_MIN_US, DHT_ONE_MAX_US))
			bytes[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
		else if (!in_window(len, DHT_ZERO_MIN_US, DHT_ZERO_MAX_US))
			return bad_pulse(out, DHT_ERR_TIMING, i, len);
	}

	memcpy(out->bytes, bytes, sizeof(bytes));
	if ((uint8_t)(bytes[0] + bytes[1] + bytes[2] + bytes[3]) != bytes[4])
		return DHT_ERR_CHECKSUM;
	return convert(model, out);
}
