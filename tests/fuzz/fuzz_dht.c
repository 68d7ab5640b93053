/*
 * fuzz_dht.c - the DHT decoder (publisher/drivers/dht_decode.c).
 * Input byte 0 picks the mode:
 *  - even: the rest is a trace (edge-to-edge gaps, 2 bytes each, in 100 ns
 *    units): dht_decode never crashes, and a DHT_OK is a reading inside the
 *    model's range whose checksum holds.
 *  - odd: the property. A reading in the model's range is drawn from the
 *    input, sent as a trace with every pulse within 10 µs of its datasheet
 *    length and 0-3 first edges missed: it decodes to exactly that reading.
 *    Then one mutation drawn from the input (move one edge anywhere, drop one,
 *    add one, stretch or shrink one pulse): the result is that reading or an error, never
 *    another value.
 */
#include "publisher/drivers/dht_decode.h"
#include "tests/fuzz/fuzz.h"

#define US 1000ULL

static void check_ok(enum dht_model m, const struct dht_reading *r)
{
	const uint8_t *b = r->bytes;
	FUZZ_CHECK((uint8_t)(b[0] + b[1] + b[2] + b[3]) == b[4], "checksum");
	FUZZ_CHECK(r->humidity_percent >= 0 && r->humidity_percent <= 100, "humidity");
	if (m == DHT_MODEL_DHT22)
		FUZZ_CHECK(r->temperature_celsius >= -40 && r->temperature_celsius <= 80, "temp");
	else
		FUZZ_CHECK(r->temperature_celsius >= 0 && r->temperature_celsius <= 60, "temp");
}

static void raw(struct fuzz_in *in)
{
	enum dht_model m = fuzz_u8(in) & 1 ? DHT_MODEL_DHT22 : DHT_MODEL_DHT11;
	uint64_t ts[200], t = 1000000000ULL;
	size_t n = 0;
	while (in->n >= 2 && n < 200) {
		t += fuzz_u64(in, 2) * 100;
		ts[n++] = t;
	}
	struct dht_reading r;
	memset(&r, 0, sizeof(r));
	enum dht_result res = dht_decode(m, ts, n, &r);
	FUZZ_CHECK(res < DHT_RESULT_KINDS, "result %d", res);
	FUZZ_CHECK(dht_result_str(res) != NULL, "result_str");
	if (res == DHT_OK)
		check_ok(m, &r);
}

/* the nominal pulse lengths (datasheets), us */
#define GO 30
#define RESP 80
#define LOW 50
#define ZERO 27
#define ONE 70

static int bit_of(const uint8_t b[5], int i)
{
	return (b[i / 8] >> (7 - i % 8)) & 1;
}

static void property(struct fuzz_in *in)
{
	enum dht_model m = fuzz_u8(in) & 1 ? DHT_MODEL_DHT22 : DHT_MODEL_DHT11;
	uint8_t b[5];
	int hum, temp;
	if (m == DHT_MODEL_DHT22) {
		hum = (int)(fuzz_u64(in, 2) % 1001);
		temp = (int)(fuzz_u64(in, 2) % 1201) - 400;
		int at = temp < 0 ? -temp : temp;
		b[0] = (uint8_t)(hum >> 8);
		b[1] = (uint8_t)hum;
		b[2] = (uint8_t)((at >> 8) | (temp < 0 ? 0x80 : 0));
		b[3] = (uint8_t)at;
	} else {
		b[0] = (uint8_t)(fuzz_u8(in) % 101);
		b[1] = (uint8_t)(fuzz_u8(in) % 10);
		b[2] = (uint8_t)(fuzz_u8(in) % 61);
		b[3] = (uint8_t)(fuzz_u8(in) % 10);
		hum = b[0] * 10 + b[1];
		temp = b[2] * 10 + b[3];
		if (hum > 1000 || temp > 600)
			return;
	}
	if (!(b[0] | b[1] | b[2] | b[3]))
		return;   /* all zeros is no reading */
	b[4] = (uint8_t)(b[0] + b[1] + b[2] + b[3]);

	/* pulses, each nominal +- 10 us from the input */
	uint64_t p[DHT_FULL_EDGES], ts[DHT_FULL_EDGES + 2];
	size_t np = 0;
	p[np++] = GO;
	p[np++] = RESP;
	p[np++] = RESP;
	for (int i = 0; i < DHT_BITS; i++) {
		p[np++] = LOW;
		p[np++] = bit_of(b, i) ? ONE : ZERO;
	}
	p[np++] = LOW;
	for (size_t i = 0; i < np; i++) {
		int off = (int)(fuzz_u8(in) % 21) - 10;
		p[i] = (uint64_t)((int64_t)(p[i] * US) + off * (int64_t)US);
	}
	size_t lost = fuzz_u8(in) % (DHT_MAX_LOST + 1), n = 0;
	uint64_t t = 5000000000ULL;
	for (size_t i = 0; i <= np; i++) {
		if (i >= lost)
			ts[n++] = t;
		if (i < np)
			t += p[i];
	}
	struct dht_reading r;
	memset(&r, 0, sizeof(r));
	enum dht_result res = dht_decode(m, ts, n, &r);
	FUZZ_CHECK(res == DHT_OK, "in-tolerance trace refused: %s (edge %zu, %lld ns)",
		   dht_result_str(res), r.bad_edge, (long long)r.bad_pulse_ns);
	FUZZ_CHECK(memcmp(r.bytes, b, 5) == 0, "bytes");
	FUZZ_CHECK(r.humidity_percent == hum / 10.0, "humidity %g vs %d", r.humidity_percent, hum);
	FUZZ_CHECK(r.temperature_celsius == temp / 10.0, "temp %g vs %d", r.temperature_celsius,
		   temp);
	FUZZ_CHECK(r.lost == lost, "lost %zu vs %zu", r.lost, lost);

	/* one mutation */
	unsigned kind = fuzz_u8(in) % 4;
	size_t i = (size_t)(fuzz_u64(in, 1) % n);
	int64_t delta = (int64_t)(int16_t)fuzz_u64(in, 2) * 10;   /* +-327 us */
	switch (kind) {
	case 0:   /* one edge moved (the order kept) */
		ts[i] = (uint64_t)((int64_t)ts[i] + delta);
		if ((i > 0 && ts[i] <= ts[i - 1]) || (i + 1 < n && ts[i] >= ts[i + 1]))
			return;
		break;
	case 1:   /* one edge dropped */
		memmove(ts + i, ts + i + 1, (n - i - 1) * sizeof(ts[0]));
		n--;
		break;
	case 2: { /* one edge added */
		uint64_t at = ts[i] + (uint64_t)(delta < 0 ? -delta : delta) + 1;
		size_t k = i + 1;
		while (k < n && ts[k] < at)
			k++;
		if (k < n && ts[k] == at)
			return;
		memmove(ts + k + 1, ts + k, (n - k) * sizeof(ts[0]));
		ts[k] = at;
		n++;
		break;
	}
	default:  /* one pulse stretched or shrunk: every later edge moved */
		if (i == 0 || (int64_t)(ts[i] - ts[i - 1]) + delta <= 0)
			return;
		for (size_t k = i; k < n; k++)
			ts[k] = (uint64_t)((int64_t)ts[k] + delta);
		break;
	}
	struct dht_reading r2;
	memset(&r2, 0, sizeof(r2));
	res = dht_decode(m, ts, n, &r2);
	if (res == DHT_OK) {
		FUZZ_CHECK(memcmp(r2.bytes, b, 5) == 0,
			   "mutation %u (edge %zu, %lld ns) decoded to another reading", kind, i,
			   (long long)delta);
		FUZZ_CHECK(r2.humidity_percent == r.humidity_percent &&
			   r2.temperature_celsius == r.temperature_celsius, "values");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	if (size < 1)
		return 0;
	if (fuzz_u8(&in) & 1)
		property(&in);
	else
		raw(&in);
	return 0;
}
