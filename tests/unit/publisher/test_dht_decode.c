/*
 * test_dht_decode.c - the DHT frame decoder on hand-made frames and on a
 * generated corpus.
 *
 * The corpus: for each model, CORPUS_N traces from a seeded PRNG (same traces
 * every run) with +-15 µs jitter on every pulse, 0-4 lost preamble edges, and
 * some traces damaged: flipped bits, truncated ends, glitches and bounces
 * (extra edges), dropped edges. The rule checked on every trace: it decodes
 * to exactly the bits that were on the wire (and the value they mean), or it
 * is rejected; never anything else. Clean traces must decode (>= 99 %).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "publisher/drivers/dht_decode.h"

#define CORPUS_N 12000
#define MAX_EDGES 128

struct prng {
	uint64_t s;
};

static uint64_t prng_next(struct prng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in [lo, hi] */
static int64_t prng_range(struct prng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(prng_next(r) % (uint64_t)(hi - lo + 1));
}

struct trace {
	uint64_t ts[MAX_EDGES];
	size_t n;
	uint8_t wire[5];        /* the bytes the pulses encode */
};

/* DHT byte layout, written independently of the decoder */
static void encode(enum dht_model m, int hum_tenths, int temp_tenths, uint8_t b[5])
{
	int t = abs(temp_tenths);

	if (m == DHT_MODEL_DHT22) {
		b[0] = (uint8_t)(hum_tenths >> 8);
		b[1] = (uint8_t)hum_tenths;
		b[2] = (uint8_t)((t >> 8) | (temp_tenths < 0 ? 0x80 : 0));
		b[3] = (uint8_t)t;
	} else {
		b[0] = (uint8_t)(hum_tenths / 10);
		b[1] = (uint8_t)(hum_tenths % 10);
		b[2] = (uint8_t)(t / 10);
		b[3] = (uint8_t)((t % 10) | (temp_tenths < 0 ? 0x80 : 0));
	}
	b[4] = (uint8_t)(b[0] + b[1] + b[2] + b[3]);
}

/*
 * What a correct decoder must say about wire bytes b: true and the values
 * if they are a valid, plausible reading of model m.
 */
static bool oracle(enum dht_model m, const uint8_t b[5], double *temp, double *hum)
{
	int h, t;

	if ((uint8_t)(b[0] + b[1] + b[2] + b[3]) != b[4])
		return false;
	if (!(b[0] | b[1] | b[2] | b[3]))
		return false;
	if (m == DHT_MODEL_DHT22) {
		h = b[0] * 256 + b[1];
		t = (b[2] & 0x7f) * 256 + b[3];
		if (b[2] & 0x80)
			t = -t;
		if (h > 1000 || t < -400 || t > 800)
			return false;
	} else {
		if (b[1] > 9 || (b[3] & 0x7f) > 9)
			return false;
		h = b[0] * 10 + b[1];
		t = b[2] * 10 + (b[3] & 0x7f);
		if (b[3] & 0x80)
			t = -t;
		if (h > 1000 || t < 0 || t > 600)
			return false;
	}
	*hum = h / 10.0;
	*temp = t / 10.0;
	return true;
}

/* nominal_us +- jitter_us, in ns */
static uint64_t pulse(struct prng *r, int nominal_us, int jitter_us)
{
	return (uint64_t)(nominal_us * 1000 + prng_range(r, -jitter_us * 1000, jitter_us * 1000));
}

/*
 * The edges of one full answer carrying wire[], as the kernel would stamp
 * them: line released (rising), response low 80 µs, high 80 µs, 40 bits of
 * 50 µs low + 27/70 µs high, 50 µs low, release. The first `lost` edges are
 * dropped (events requested late).
 */
static void make_trace(struct trace *tr, const uint8_t wire[5], int jitter_us, size_t lost,
		       struct prng *r)
{
	uint64_t t = 1000000000ULL + (prng_next(r) % 1000000000ULL);
	uint64_t all[DHT_FULL_EDGES];
	size_t n = 0;

	memcpy(tr->wire, wire, 5);
	all[n++] = t;
	t += pulse(r, 30, 10);          /* sensor waits 20-40 µs */
	all[n++] = t;
	t += pulse(r, 80, jitter_us);
	all[n++] = t;
	t += pulse(r, 80, jitter_us);
	all[n++] = t;
	for (int i = 0; i < DHT_BITS; i++) {
		bool one = wire[i / 8] & (0x80 >> (i % 8));

		t += pulse(r, 50, jitter_us);
		all[n++] = t;
		t += pulse(r, one ? 70 : 27, jitter_us);
		all[n++] = t;
	}
	t += pulse(r, 50, jitter_us);
	all[n++] = t;
	tr->n = n - lost;
	memcpy(tr->ts, all + lost, tr->n * sizeof(uint64_t));
}

static void insert_edge(struct trace *tr, uint64_t t)
{
	size_t i = tr->n;

	while (i > 0 && tr->ts[i - 1] > t) {
		tr->ts[i] = tr->ts[i - 1];
		i--;
	}
	tr->ts[i] = t;
	tr->n++;
}

static void remove_edge(struct trace *tr, size_t i)
{
	memmove(tr->ts + i, tr->ts + i + 1, (tr->n - i - 1) * sizeof(uint64_t));
	tr->n--;
}

/* A short pulse of the opposite level: a glitch, or a bounce after an edge. */
static void add_spike(struct trace *tr, struct prng *r)
{
	uint64_t s, w;

	if (tr->n + 2 > MAX_EDGES)
		return;
	for (;;) {
		bool clear = true;

		if (prng_next(r) % 3 == 0) {    /* bounce right after an edge */
			s = tr->ts[prng_next(r) % tr->n] + (uint64_t)prng_range(r, 100, 2000);
			w = (uint64_t)prng_range(r, 100, 2000);
		} else {                        /* glitch anywhere, also before/after */
			s = tr->ts[0] - 200000 + prng_next(r) % (tr->ts[tr->n - 1] -
								  tr->ts[0] + 400000);
			w = (uint64_t)prng_range(r, 200, 8000);
		}
		for (size_t i = 0; i < tr->n; i++)
			if (tr->ts[i] >= s && tr->ts[i] <= s + w)
				clear = false;
		if (clear)
			break;
	}
	insert_edge(tr, s);
	insert_edge(tr, s + w);
}

/* A random reading; about 5 % outside the model's range. */
static void random_reading(enum dht_model m, struct prng *r, uint8_t wire[5])
{
	bool bad = prng_next(r) % 20 == 0;
	int hum, temp;

	if (m == DHT_MODEL_DHT22) {
		hum = (int)prng_range(r, 0, 1000);
		temp = (int)prng_range(r, -400, 800);
		if (bad) {
			if (prng_next(r) & 1)
				hum = (int)prng_range(r, 1001, 1500);
			else
				temp = prng_next(r) & 1 ? (int)prng_range(r, 801, 1200)
							: (int)prng_range(r, -1200, -401);
		}
		encode(m, hum, temp, wire);
		return;
	}
	hum = (int)prng_range(r, 50, 95) * 10;
	temp = (int)prng_range(r, 0, 50) * 10;
	if (prng_next(r) & 1) {         /* newer DHT11s report tenths */
		hum = (int)prng_range(r, 0, 1000);
		temp = (int)prng_range(r, 0, 600);
	}
	if (bad) {
		switch (prng_next(r) % 3) {
		case 0:
			temp = (int)prng_range(r, 61, 99) * 10;
			break;
		case 1:
			temp = -(int)prng_range(r, 1, 200);
			break;
		default:
			hum = (int)prng_range(r, 101, 250) * 10;
			break;
		}
	}
	encode(m, hum, temp, wire);
}

enum damage {
	DMG_CLEAN,
	DMG_FLIP,
	DMG_TRUNC,
	DMG_EXTRA,
	DMG_DROP,
	DMG_MIXED,
	DMG_KINDS
};

static const char *const damage_name[DMG_KINDS] = {
	"clean", "flipped", "truncated", "extra edges", "dropped edges", "mixed",
};

struct tally {
	unsigned n, decoded, plausible_clean, plausible_clean_decoded, wrong;
	unsigned reason[5];
};

/* Runs the corpus for one model; prints and returns the tallies. */
static void run_corpus(enum dht_model m, uint64_t seed, int jitter_us, unsigned count,
		       struct tally t[DMG_KINDS], bool verbose)
{
	struct prng r = { seed };

	memset(t, 0, sizeof(struct tally) * DMG_KINDS);
	for (unsigned i = 0; i < count; i++) {
		uint64_t pick = prng_next(&r) % 100;
		enum damage d = pick < 40 ? DMG_CLEAN : pick < 55 ? DMG_FLIP :
				pick < 70 ? DMG_TRUNC : pick < 85 ? DMG_EXTRA :
				pick < 95 ? DMG_DROP : DMG_MIXED;
		uint8_t wire[5];
		struct trace tr;
		struct dht_reading out;
		enum dht_result res;
		double et = 0, eh = 0;
		bool valid;

		random_reading(m, &r, wire);
		if (d == DMG_FLIP || d == DMG_MIXED) {
			int flips = (int)prng_range(&r, 1, 3);

			for (int k = 0; k < flips; k++) {
				int bit = (int)(prng_next(&r) % 40);

				wire[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
			}
		}
		make_trace(&tr, wire, jitter_us, (size_t)prng_range(&r, 0, 4), &r);
		if (d == DMG_TRUNC)
			tr.n -= (size_t)prng_range(&r, 1, 8);
		if (d == DMG_EXTRA || d == DMG_MIXED) {
			int spikes = (int)prng_range(&r, 1, 3);

			for (int k = 0; k < spikes; k++)
				add_spike(&tr, &r);
		}
		if (d == DMG_DROP || d == DMG_MIXED) {
			int drops = (int)prng_range(&r, 1, 2);

			for (int k = 0; k < drops; k++)
				remove_edge(&tr, (size_t)prng_range(&r, 4, (int64_t)tr.n - 1));
		}

		valid = oracle(m, tr.wire, &et, &eh);
		res = dht_decode(m, tr.ts, tr.n, &out);
		t[d].n++;
		t[d].reason[res]++;
		if (res == DHT_OK) {
			t[d].decoded++;
			if (!valid || memcmp(out.bytes, tr.wire, 5) ||
			    out.temperature_celsius != et || out.humidity_percent != eh) {
				t[d].wrong++;
				print_error("trace %u (%s): decoded %02x%02x%02x%02x%02x, "
					    "sent %02x%02x%02x%02x%02x\n", i, damage_name[d],
					    out.bytes[0], out.bytes[1], out.bytes[2], out.bytes[3],
					    out.bytes[4], tr.wire[0], tr.wire[1], tr.wire[2],
					    tr.wire[3], tr.wire[4]);
			}
		}
		if (d == DMG_CLEAN && valid) {
			t[d].plausible_clean++;
			t[d].plausible_clean_decoded += res == DHT_OK;
		}
		/*
		 * Within the windows, a clean trace of an out-of-range value
		 * fails for that reason and a flip the checksum sees for that
		 * one (with more jitter, timing may refuse them first).
		 */
		if (d == DMG_CLEAN && !valid)
			assert_int_equal(res, jitter_us <= 15 ? DHT_ERR_IMPLAUSIBLE : res);
		if (d == DMG_FLIP && (uint8_t)(tr.wire[0] + tr.wire[1] + tr.wire[2] +
					       tr.wire[3]) != tr.wire[4]) {
			assert_int_not_equal(res, DHT_OK);
			if (jitter_us <= 15)
				assert_int_equal(res, DHT_ERR_CHECKSUM);
		}
	}
	if (!verbose)
		return;
	printf("%s, jitter +-%d us, %u traces (seed %#llx):\n",
	       m == DHT_MODEL_DHT22 ? "dht22" : "dht11", jitter_us, count,
	       (unsigned long long)seed);
	for (int d = 0; d < DMG_KINDS; d++)
		printf("  %-13s %5u: decoded %5u, too few edges %5u, timing %5u, checksum %5u, "
		       "implausible %5u, WRONG %u\n", damage_name[d], t[d].n, t[d].decoded,
		       t[d].reason[DHT_ERR_TOO_FEW_EDGES], t[d].reason[DHT_ERR_TIMING],
		       t[d].reason[DHT_ERR_CHECKSUM], t[d].reason[DHT_ERR_IMPLAUSIBLE],
		       t[d].wrong);
	printf("  clean and in range: %u of %u decoded\n", t[DMG_CLEAN].plausible_clean_decoded,
	       t[DMG_CLEAN].plausible_clean);
}

static void check_corpus(enum dht_model m, uint64_t seed)
{
	struct tally t[DMG_KINDS];
	unsigned total = 0;

	run_corpus(m, seed, 15, CORPUS_N, t, true);
	for (int d = 0; d < DMG_KINDS; d++) {
		total += t[d].n;
		assert_int_equal(t[d].wrong, 0);
	}
	assert_int_equal(total, CORPUS_N);
	assert_int_equal(t[DMG_TRUNC].decoded, 0);
	assert_true(t[DMG_CLEAN].plausible_clean > CORPUS_N / 3);
	assert_true(t[DMG_CLEAN].plausible_clean_decoded * 100 >=
		    t[DMG_CLEAN].plausible_clean * 99);
}

static void test_corpus_dht22(void **state)
{
	(void)state;
	check_corpus(DHT_MODEL_DHT22, 0x5eed0022);
}

static void test_corpus_dht11(void **state)
{
	(void)state;
	check_corpus(DHT_MODEL_DHT11, 0x5eed0011);
}

/* More jitter than the sensors show: fewer decode, still none wrongly. */
static void test_corpus_heavy_jitter(void **state)
{
	struct tally t[DMG_KINDS];

	(void)state;
	for (int j = 20; j <= 30; j += 5) {
		run_corpus(DHT_MODEL_DHT22, 0xbadc0ffee + (uint64_t)j, j, 4000, t, true);
		for (int d = 0; d < DMG_KINDS; d++)
			assert_int_equal(t[d].wrong, 0);
	}
}

/* --- hand-made frames ----------------------------------------------------- */

static enum dht_result decode_bytes(enum dht_model m, const uint8_t b[5], size_t lost,
				    struct dht_reading *out)
{
	struct prng r = { 1 };
	struct trace tr;

	make_trace(&tr, b, 5, lost, &r);
	return dht_decode(m, tr.ts, tr.n, out);
}

static void test_dht22_datasheet_example(void **state)
{
	/* AM2302 datasheet: 65.2 %RH, 35.1 °C */
	const uint8_t b[5] = { 0x02, 0x8c, 0x01, 0x5f, 0xee };
	struct dht_reading out;

	(void)state;
	assert_int_equal(decode_bytes(DHT_MODEL_DHT22, b, 0, &out), DHT_OK);
	assert_true(out.humidity_percent == 65.2);
	assert_true(out.temperature_celsius == 35.1);
}

static void test_dht22_negative(void **state)
{
	uint8_t b[5];
	struct dht_reading out;

	(void)state;
	encode(DHT_MODEL_DHT22, 652, -101, b);
	assert_int_equal(b[2], 0x80);
	assert_int_equal(b[3], 0x65);
	assert_int_equal(decode_bytes(DHT_MODEL_DHT22, b, 2, &out), DHT_OK);
	assert_true(out.temperature_celsius == -10.1);
	assert_true(out.humidity_percent == 65.2);

	encode(DHT_MODEL_DHT22, 1000, -400, b);  /* both range ends */
	assert_int_equal(decode_bytes(DHT_MODEL_DHT22, b, 0, &out), DHT_OK);
	assert_true(out.temperature_celsius == -40.0);
	assert_true(out.humidity_percent == 100.0);
}

static void test_dht11_format(void **state)
{
	const uint8_t old[5] = { 45, 0, 22, 0, 67 };
	uint8_t b[5];
	struct dht_reading out;

	(void)state;
	assert_int_equal(decode_bytes(DHT_MODEL_DHT11, old, 0, &out), DHT_OK);
	assert_true(out.humidity_percent == 45.0);
	assert_true(out.temperature_celsius == 22.0);

	encode(DHT_MODEL_DHT11, 381, 225, b);   /* newer parts send tenths */
	assert_int_equal(decode_bytes(DHT_MODEL_DHT11, b, 1, &out), DHT_OK);
	assert_true(out.humidity_percent == 38.1);
	assert_true(out.temperature_celsius == 22.5);

	/* a DHT11 configured as dht22 reads 1152 %RH: refused */
	assert_int_equal(decode_bytes(DHT_MODEL_DHT22, old, 0, &out), DHT_ERR_IMPLAUSIBLE);
}

static void test_checksum_error(void **state)
{
	uint8_t b[5];
	struct dht_reading out;

	(void)state;
	encode(DHT_MODEL_DHT22, 480, 214, b);
	b[4] ^= 0x01;
	assert_int_equal(decode_bytes(DHT_MODEL_DHT22, b, 0, &out), DHT_ERR_CHECKSUM);
	assert_memory_equal(out.bytes, b, 5);
	assert_string_equal(dht_result_str(DHT_ERR_CHECKSUM), "checksum mismatch");
}

static void test_implausible(void **state)
{
	const uint8_t zero[5] = { 0, 0, 0, 0, 0 };
	struct {
		enum dht_model m;
		int hum, temp;
	} cases[] = {
		{ DHT_MODEL_DHT22, 1001, 200 },
		{ DHT_MODEL_DHT22, 500, 801 },
		{ DHT_MODEL_DHT22, 500, -401 },
		{ DHT_MODEL_DHT11, 500, 610 },
		{ DHT_MODEL_DHT11, 500, -10 },
		{ DHT_MODEL_DHT11, 1010, 200 },
	};
	uint8_t b[5];
	struct dht_reading out;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		encode(cases[i].m, cases[i].hum, cases[i].temp, b);
		assert_int_equal(decode_bytes(cases[i].m, b, 0, &out), DHT_ERR_IMPLAUSIBLE);
	}
	/* DHT11 tenths above 9 */
	b[0] = 40, b[1] = 12, b[2] = 20, b[3] = 0, b[4] = 72;
	assert_int_equal(decode_bytes(DHT_MODEL_DHT11, b, 0, &out), DHT_ERR_IMPLAUSIBLE);
	/* all zeros passes the checksum but is not a reading */
	assert_int_equal(decode_bytes(DHT_MODEL_DHT22, zero, 0, &out), DHT_ERR_IMPLAUSIBLE);
	assert_int_equal(decode_bytes(DHT_MODEL_DHT11, zero, 0, &out), DHT_ERR_IMPLAUSIBLE);
}

static void test_lost_preamble_and_too_few(void **state)
{
	uint8_t b[5];
	struct dht_reading out;

	(void)state;
	encode(DHT_MODEL_DHT22, 555, 123, b);
	for (size_t lost = 0; lost <= 4; lost++)
		assert_int_equal(decode_bytes(DHT_MODEL_DHT22, b, lost, &out), DHT_OK);
	assert_int_equal(decode_bytes(DHT_MODEL_DHT22, b, 5, &out), DHT_ERR_TOO_FEW_EDGES);
	assert_int_equal(dht_decode(DHT_MODEL_DHT22, NULL, 0, &out), DHT_ERR_TOO_FEW_EDGES);
}

static void test_bad_timing(void **state)
{
	struct prng r = { 2 };
	uint8_t b[5];
	struct trace tr;
	struct dht_reading out;
	size_t f;

	(void)state;
	encode(DHT_MODEL_DHT22, 555, 123, b);
	make_trace(&tr, b, 0, 0, &r);
	/* stretch the high of bit 39 (ends at the second-last edge) to 49 µs */
	f = tr.n - 2;
	tr.ts[f] = tr.ts[f - 1] + 49000;
	tr.ts[f + 1] = tr.ts[f] + 50000;
	assert_int_equal(dht_decode(DHT_MODEL_DHT22, tr.ts, tr.n, &out), DHT_ERR_TIMING);
	assert_int_equal(out.bad_edge, f);
	assert_int_equal(out.bad_pulse_ns, 49000);

	/* edges out of order */
	make_trace(&tr, b, 0, 0, &r);
	tr.ts[40] = tr.ts[39] - 1;
	assert_int_equal(dht_decode(DHT_MODEL_DHT22, tr.ts, tr.n, &out), DHT_ERR_TIMING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dht22_datasheet_example),
		cmocka_unit_test(test_dht22_negative),
		cmocka_unit_test(test_dht11_format),
		cmocka_unit_test(test_checksum_error),
		cmocka_unit_test(test_implausible),
		cmocka_unit_test(test_lost_preamble_and_too_few),
		cmocka_unit_test(test_bad_timing),
		cmocka_unit_test(test_corpus_dht22),
		cmocka_unit_test(test_corpus_dht11),
		cmocka_unit_test(test_corpus_heavy_jitter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
