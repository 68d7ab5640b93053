/*
 * test_dht_property.c - the DHT decoder against an independent generator of
 * what the GPIO capture sees, damaged in every way the generator knows.
 *
 * The property: for every trace, dht_decode() returns the reading the
 * sensor sent, or an error; never another value. And: every trace whose
 * pulses are all within 15 µs of nominal decodes, and so does every trace
 * within the datasheets' timing seen with up to 10 µs of timestamp latency.
 *
 * The generator shares no code or constants with the decoder (only its
 * API): the timing comes from the datasheets, the byte layout is written
 * here again, and what the decoder should accept is decided from the
 * values the generator put on the wire, not from the decoder's windows.
 *
 *   Aosong AM2302 (DHT22): host releases the line, the sensor pulls it low
 *   after Tgo 20-200 µs, response low Trel and high Treh 75-85 µs, each bit
 *   a low Tlow 48-55 µs and a high TH0 22-30 µs (0) or TH1 68-75 µs (1),
 *   then a low Ten 45-55 µs and the line is released.
 *   Aosong DHT11: the host waits 20-40 µs, response 80 + 80 µs, bits 50 µs
 *   low + 26-28 µs (0) or 70 µs (1) high, 50 µs end low; the datasheet gives
 *   no spread, so the sensor's own is taken as +-5 µs.
 *
 * The capture sees timestamps of edges only (no levels): the kernel stamps
 * each edge when its interrupt runs (latency), may start listening after the
 * first edges (the output request is released before the input request is
 * made), may drop edges when its queue is full (a run in the middle, or the
 * end), and stops on a timeout (truncation).
 *
 * Corruptions (any combination per trace, see enum corruption): first edges
 * missed (listening starts 0-450 µs after the release; without this damage
 * 0-3 are missed), last edges lost (1-12), single edges dropped in the middle,
 * a run of edges dropped (queue overflow), glitches (a 0.05-30 µs pulse of
 * the other level, anywhere from before the answer to after it), bounces
 * (a 0.1-2 µs pulse right after an edge), truncation at a random time, one
 * pulse stretched or shrunk by 1-60 µs, all pulses scaled by 0.8-1.2 (a
 * sensor with a fast or slow clock), per-edge latency 0-20 µs, and per-edge
 * jitter up to +-20 µs. Two things are not generated because they make a
 * trace that is, pulse for pulse, a valid answer carrying other bits, which
 * no decoder can tell from the real one: bits flipped by the sensor itself,
 * and a spurious low pulse as long as a bit's low (35-65 µs) splitting a
 * 1's high into two 0s, together with lost edges that bring the count back
 * (the glitches here are up to 30 µs long).
 *
 * In `make test` a seeded sample of DEFAULT_TRACES runs (a few seconds
 * under ASan). Millions: DHT_PROPERTY_TRACES=5000000 build/.../test_dht_property
 * (optionally DHT_PROPERTY_SEED=<n> for other traces).
 */
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

#define DEFAULT_TRACES 300000
#define TRACE_MAX 256
#define NBITS 40
#define US 1000LL       /* ns */

/* --- PRNG (xorshift64*) ----------------------------------------------------- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ULL;
}

/* uniform in [lo, hi] */
static int64_t uni(struct rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd(r) % (uint64_t)(hi - lo + 1));
}

static bool chance(struct rng *r, unsigned percent)
{
	return rnd(r) % 100 < percent;
}

/* --- the sensor --------------------------------------------------------------- */

struct span {
	int64_t lo, hi;         /* ns */
};

/* one model's datasheet timing */
struct sheet {
	struct span go, rel, reh, low, zero, one, end;
};

static const struct sheet am2302_sheet = {
	.go = { 20 * US, 200 * US }, .rel = { 75 * US, 85 * US }, .reh = { 75 * US, 85 * US },
	.low = { 48 * US, 55 * US }, .zero = { 22 * US, 30 * US }, .one = { 68 * US, 75 * US },
	.end = { 45 * US, 55 * US },
};

static const struct sheet dht11_sheet = {
	.go = { 20 * US, 40 * US }, .rel = { 75 * US, 85 * US }, .reh = { 75 * US, 85 * US },
	.low = { 45 * US, 55 * US }, .zero = { 26 * US - 5 * US, 28 * US + 5 * US },
	.one = { 65 * US, 75 * US }, .end = { 45 * US, 55 * US },
};

/* what the sensor means to send */
struct truth {
	uint8_t b[5];
	bool valid;             /* in the model's range: must decode, if anything */
	int hum, temp;          /* tenths */
};

/*
 * A reading of model m. Valid ones are inside the datasheet's range (DHT22
 * 0-100 %RH, -40-80 °C; DHT11 20-90 %RH, 0-50 °C, half of them old parts
 * without tenths); about 1 in 30 is outside any sensor's range (or a DHT11
 * frame with tenths above 9) and must not decode.
 */
static void make_truth(enum dht_model m, struct rng *r, struct truth *t)
{
	bool bad = chance(r, 3);
	int hum, temp, at;

	t->valid = !bad;
	if (m == DHT_MODEL_DHT22) {
		hum = (int)uni(r, 0, 1000);
		temp = (int)uni(r, -400, 800);
		if (bad) {
			if (chance(r, 50))
				hum = (int)uni(r, 1001, 6000);
			else
				temp = chance(r, 50) ? (int)uni(r, 801, 3000) : -(int)uni(r, 401, 3000);
		}
		at = abs(temp);
		t->b[0] = (uint8_t)(hum / 256);
		t->b[1] = (uint8_t)(hum % 256);
		t->b[2] = (uint8_t)(at / 256 + (temp < 0 ? 128 : 0));
		t->b[3] = (uint8_t)(at % 256);
	} else {
		bool tenths = chance(r, 50);

		hum = (int)uni(r, 20, 90) * 10;
		temp = (int)uni(r, 0, 50) * 10;
		if (tenths) {
			hum = (int)uni(r, 200, 900);
			temp = (int)uni(r, 0, 500);
		}
		t->b[0] = (uint8_t)(hum / 10);
		t->b[1] = (uint8_t)(hum % 10);
		t->b[2] = (uint8_t)(temp / 10);
		t->b[3] = (uint8_t)(temp % 10);
		if (bad) {
			switch (rnd(r) % 3) {
			case 0:
				t->b[1] = (uint8_t)uni(r, 10, 255);     /* tenths > 9 */
				break;
			case 1:
				t->b[2] = (uint8_t)uni(r, 61, 127);     /* > 60 °C */
				break;
			default:
				t->b[0] = (uint8_t)uni(r, 101, 255);    /* > 100 %RH */
				break;
			}
		}
	}
	t->hum = hum;
	t->temp = temp;
	t->b[4] = (uint8_t)(t->b[0] + t->b[1] + t->b[2] + t->b[3]);
	/* all zeros is what a line that never went high would give: not a reading */
	if (!(t->b[0] | t->b[1] | t->b[2] | t->b[3]))
		t->valid = false;
}

static bool bit_of(const uint8_t b[5], int i)
{
	return (b[i / 8] >> (7 - i % 8)) & 1;
}

/*
 * The line as the sensor drives it: pulse lengths in order, starting with
 * the high between the host's release and the sensor's answer. n = 84.
 */
static size_t sensor_pulses(const struct sheet *sh, const uint8_t b[5], struct rng *r,
			    int64_t *p)
{
	size_t n = 0;

	p[n++] = uni(r, sh->go.lo, sh->go.hi);
	p[n++] = uni(r, sh->rel.lo, sh->rel.hi);
	p[n++] = uni(r, sh->reh.lo, sh->reh.hi);
	for (int i = 0; i < NBITS; i++) {
		const struct span *h = bit_of(b, i) ? &sh->one : &sh->zero;

		p[n++] = uni(r, sh->low.lo, sh->low.hi);
		p[n++] = uni(r, h->lo, h->hi);
	}
	p[n++] = uni(r, sh->end.lo, sh->end.hi);
	return n;
}

/* --- the capture ---------------------------------------------------------------- */

struct trace {
	int64_t t[TRACE_MAX];   /* true edge times, ns, ascending */
	size_t n;
};

static void edges_from_pulses(struct trace *tr, int64_t start, const int64_t *p, size_t np)
{
	tr->n = 0;
	tr->t[tr->n++] = start;
	for (size_t i = 0; i < np; i++) {
		start += p[i];
		tr->t[tr->n++] = start;
	}
}

static void drop(struct trace *tr, size_t i, size_t count)
{
	if (i >= tr->n)
		return;
	if (count > tr->n - i)
		count = tr->n - i;
	memmove(tr->t + i, tr->t + i + count, (tr->n - i - count) * sizeof(tr->t[0]));
	tr->n -= count;
}

/* a pulse of the other level over [s, s + w], if no edge is inside it */
static void spike(struct trace *tr, int64_t s, int64_t w)
{
	size_t i = 0;

	if (tr->n + 2 > TRACE_MAX)
		return;
	while (i < tr->n && tr->t[i] < s)
		i++;
	if (i < tr->n && tr->t[i] <= s + w)
		return;
	memmove(tr->t + i + 2, tr->t + i, (tr->n - i) * sizeof(tr->t[0]));
	tr->t[i] = s;
	tr->t[i + 1] = s + w;
	tr->n += 2;
}

enum corruption {
	C_LOST_FIRST,   /* listening starts late: first edges missed */
	C_LOST_LAST,    /* the last edges lost */
	C_DROP,         /* single edges dropped in the middle */
	C_DROP_RUN,     /* a run dropped: the event queue overflowed */
	C_GLITCH,       /* a short pulse of the other level anywhere */
	C_BOUNCE,       /* a very short pulse right after an edge */
	C_TRUNCATE,     /* the capture stops at a random time */
	C_STRETCH,      /* one pulse stretched or shrunk by 1-60 µs */
	C_SCALE,        /* all pulses scaled by 0.8-1.2 */
	C_LATENCY,      /* each edge stamped 0-20 µs late */
	C_JITTER,       /* each edge stamped up to +-20 µs off */
	C_KINDS
};

static const char *const corruption_name[C_KINDS] = {
	"first edges missed", "last edges lost", "edges dropped", "run dropped", "glitches",
	"bounces", "truncated", "pulse stretched", "all scaled", "latency 0-20", "jitter +-20",
};

/* One generated case: what the sensor sent and what the capture saw. */
struct sample {
	struct truth truth;
	uint64_t ts[TRACE_MAX];
	size_t n;
	unsigned damage;        /* bit per enum corruption */
	bool in_tolerance;      /* datasheet timing, latency <= 10 µs, < 4 edges missed */
};

static void generate(enum dht_model m, struct rng *r, struct sample *s)
{
	const struct sheet *sh = m == DHT_MODEL_DHT22 ? &am2302_sheet : &dht11_sheet;
	int64_t p[TRACE_MAX], lat_max = 0, jit = 0;
	int64_t t0 = 1000000000LL + uni(r, 0, 1000000000LL);
	unsigned d = 0;
	struct trace tr;
	size_t np, skip = 0;

	make_truth(m, r, &s->truth);
	np = sensor_pulses(sh, s->truth.b, r, p);

	/* 35 % get only what a good capture does: latency <= 10 µs, 0-3 missed */
	if (!chance(r, 35)) {
		for (int k = 0; k < C_KINDS; k++)
			if (chance(r, 14))
				d |= 1u << k;
		if (!d)
			d = 1u << (rnd(r) % C_KINDS);
	}

	if (d & (1u << C_STRETCH)) {
		size_t i = (size_t)uni(r, 0, (int64_t)np - 1);
		int64_t by = uni(r, 1 * US, 60 * US);

		p[i] += chance(r, 50) ? by : -by;
		if (p[i] < 100)
			p[i] = 100;
	}
	if (d & (1u << C_SCALE)) {
		int64_t permille = uni(r, 800, 1200);

		for (size_t i = 0; i < np; i++)
			p[i] = p[i] * permille / 1000;
	}
	edges_from_pulses(&tr, t0, p, np);

	if (d & (1u << C_GLITCH)) {
		for (int k = (int)uni(r, 1, 3); k > 0; k--)
			spike(&tr, uni(r, t0 - 300 * US, tr.t[tr.n - 1] + 300 * US),
			      uni(r, 50, 30 * US));
	}
	if (d & (1u << C_BOUNCE)) {
		for (int k = (int)uni(r, 1, 3); k > 0; k--)
			spike(&tr, tr.t[rnd(r) % tr.n] + uni(r, 100, 2 * US), uni(r, 100, 2 * US));
	}

	/* first edges: the input request becomes active some time after release */
	if (d & (1u << C_LOST_FIRST)) {
		int64_t from = t0 + uni(r, 0, 450 * US);

		while (skip < tr.n && tr.t[skip] < from)
			skip++;
	} else {
		skip = (size_t)uni(r, 0, 3);
	}
	drop(&tr, 0, skip);
	if (d & (1u << C_DROP)) {
		for (int k = (int)uni(r, 1, 3); k > 0 && tr.n > 2; k--)
			drop(&tr, (size_t)uni(r, 1, (int64_t)tr.n - 2), 1);
	}
	if (d & (1u << C_DROP_RUN) && tr.n > 20)
		drop(&tr, (size_t)uni(r, 1, (int64_t)tr.n - 2), (size_t)uni(r, 2, 16));
	if (d & (1u << C_LOST_LAST))
		tr.n -= (size_t)uni(r, 1, tr.n < 12 ? (int64_t)tr.n : 12);
	if (d & (1u << C_TRUNCATE) && tr.n) {
		int64_t stop = uni(r, tr.t[0], tr.t[tr.n - 1]);

		while (tr.n && tr.t[tr.n - 1] > stop)
			tr.n--;
	}

	/* the timestamps the kernel hands over */
	lat_max = d & (1u << C_LATENCY) ? uni(r, 0, 20 * US) : uni(r, 0, 10 * US);
	if (d & (1u << C_JITTER))
		jit = uni(r, 0, 20 * US);
	for (size_t i = 0; i < tr.n; i++)
		s->ts[i] = (uint64_t)(tr.t[i] + uni(r, 0, lat_max) + uni(r, -jit, jit));
	s->n = tr.n;
	s->damage = d;
	s->in_tolerance = !d && skip <= 3;
}

/* --- the property ----------------------------------------------------------------- */

struct tally {
	uint64_t n, decoded, wrong;
};

struct run {
	struct tally all, tolerant, kind[C_KINDS];
	uint64_t result[DHT_RESULT_KINDS];
};

/* 0 if s decoded right or was refused, else 1 (and prints it) */
static int check_sample(enum dht_model m, const struct sample *s, struct run *run, uint64_t idx)
{
	struct dht_reading out;
	enum dht_result res = dht_decode(m, s->ts, s->n, &out);
	bool ok = res == DHT_OK;
	bool wrong = ok && (!s->truth.valid || memcmp(out.bytes, s->truth.b, 5) ||
			    out.temperature_celsius != s->truth.temp / 10.0 ||
			    out.humidity_percent != s->truth.hum / 10.0);

	if ((unsigned)res < DHT_RESULT_KINDS)
		run->result[res]++;
	run->all.n++;
	run->all.decoded += ok;
	run->all.wrong += wrong;
	if (s->in_tolerance && s->truth.valid) {
		run->tolerant.n++;
		run->tolerant.decoded += ok;
		if (!ok && run->tolerant.n - run->tolerant.decoded <= 3)
			print_error("in tolerance, not decoded: trace %llu, %zu edges: %s\n",
				    (unsigned long long)idx, s->n, dht_result_str(res));
	}
	for (int k = 0; k < C_KINDS; k++) {
		if (!(s->damage & (1u << k)))
			continue;
		run->kind[k].n++;
		run->kind[k].decoded += ok;
		run->kind[k].wrong += wrong;
	}
	if (wrong && run->all.wrong <= 5) {
		print_error("WRONG: trace %llu (damage %#x, %zu edges): decoded "
			    "%02x%02x%02x%02x%02x, sensor sent %02x%02x%02x%02x%02x\n",
			    (unsigned long long)idx, s->damage, s->n, out.bytes[0], out.bytes[1],
			    out.bytes[2], out.bytes[3], out.bytes[4], s->truth.b[0], s->truth.b[1],
			    s->truth.b[2], s->truth.b[3], s->truth.b[4]);
	}
	return wrong;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long x;

	if (!v || !*v)
		return def;
	x = strtoull(v, &end, 0);
	if (*end || !x) {
		print_error("%s=%s: not a positive number\n", name, v);
		fail();
	}
	return x;
}

static void run_property(enum dht_model m, uint64_t seed)
{
	uint64_t count = env_u64("DHT_PROPERTY_TRACES", DEFAULT_TRACES) / 2;
	struct rng r = { env_u64("DHT_PROPERTY_SEED", 1) * 0x9e3779b97f4a7c15ULL ^ seed };
	static struct run run;
	static struct sample s;

	memset(&run, 0, sizeof(run));
	for (uint64_t i = 0; i < count; i++) {
		generate(m, &r, &s);
		check_sample(m, &s, &run, i);
	}
	printf("%s: %llu traces, %llu decoded, %llu WRONG; in tolerance %llu of %llu decoded\n",
	       m == DHT_MODEL_DHT22 ? "dht22" : "dht11", (unsigned long long)run.all.n,
	       (unsigned long long)run.all.decoded, (unsigned long long)run.all.wrong,
	       (unsigned long long)run.tolerant.decoded, (unsigned long long)run.tolerant.n);
	for (int k = 0; k < C_KINDS; k++)
		printf("  %-20s %9llu traces, %9llu decoded, %llu wrong\n", corruption_name[k],
		       (unsigned long long)run.kind[k].n, (unsigned long long)run.kind[k].decoded,
		       (unsigned long long)run.kind[k].wrong);
	printf("  results:");
	for (int k = 0; k < DHT_RESULT_KINDS; k++)
		printf(" %s %llu%s", dht_result_str((enum dht_result)k),
		       (unsigned long long)run.result[k], k + 1 < DHT_RESULT_KINDS ? "," : "\n");

	assert_int_equal(run.all.wrong, 0);
	/* every damage kind ran, and on enough traces to mean something */
	for (int k = 0; k < C_KINDS; k++)
		assert_true(run.kind[k].n * 20 >= count / 100);
	assert_true(run.tolerant.n * 4 >= count);
	assert_int_equal(run.tolerant.decoded, run.tolerant.n);
	/* damaged traces are sometimes still whole frames: those decode */
	assert_true(run.kind[C_LATENCY].decoded > 0 && run.kind[C_BOUNCE].n > 0);
}

static void test_property_dht22(void **state)
{
	(void)state;
	run_property(DHT_MODEL_DHT22, 0x22);
}

static void test_property_dht11(void **state)
{
	(void)state;
	run_property(DHT_MODEL_DHT11, 0x11);
}

/*
 * Every pulse within +-15 µs of nominal (response 80, bit low 50, 0-high
 * 26-28, 1-high 70, end low 50; the host's release-to-answer gap within the
 * datasheet's range), 0-3 first edges missed, nothing else wrong: all must
 * decode to the true value. The extremes (+-15 exactly) are drawn often.
 */
static void test_within_15us_all_decode(void **state)
{
	struct rng r = { 0x15 };
	uint64_t count = env_u64("DHT_PROPERTY_TRACES", DEFAULT_TRACES) / 6;
	uint64_t decoded = 0, tried = 0;

	(void)state;
	for (uint64_t i = 0; i < count; i++) {
		enum dht_model m = i & 1 ? DHT_MODEL_DHT22 : DHT_MODEL_DHT11;
		const struct sheet *sh = m == DHT_MODEL_DHT22 ? &am2302_sheet : &dht11_sheet;
		struct truth t;
		int64_t p[TRACE_MAX];
		struct trace tr;
		uint64_t ts[TRACE_MAX];
		struct dht_reading out;
		size_t np = 0, lost = (size_t)uni(&r, 0, 3);
		enum dht_result res;

		make_truth(m, &r, &t);
		if (!t.valid)
			continue;
#define NOMINAL(us) ((us) * US + (chance(&r, 20) ? (chance(&r, 50) ? 15 : -15) * US \
						 : uni(&r, -15 * US, 15 * US)))
		p[np++] = uni(&r, sh->go.lo, sh->go.hi);
		p[np++] = NOMINAL(80);
		p[np++] = NOMINAL(80);
		for (int b = 0; b < NBITS; b++) {
			p[np++] = NOMINAL(50);
			p[np++] = bit_of(t.b, b) ? NOMINAL(70) : NOMINAL(uni(&r, 26, 28));
		}
		p[np++] = NOMINAL(50);
#undef NOMINAL
		edges_from_pulses(&tr, 3000000000LL, p, np);
		for (size_t k = lost; k < tr.n; k++)
			ts[k - lost] = (uint64_t)tr.t[k];
		res = dht_decode(m, ts, tr.n - lost, &out);
		tried++;
		if (res == DHT_OK && !memcmp(out.bytes, t.b, 5) &&
		    out.temperature_celsius == t.temp / 10.0 && out.humidity_percent == t.hum / 10.0)
			decoded++;
		else if (tried - decoded <= 3)
			print_error("trace %llu, %zu missed: %s\n", (unsigned long long)i, lost,
				    dht_result_str(res));
	}
	printf("within +-15 us: %llu of %llu decoded\n", (unsigned long long)decoded,
	       (unsigned long long)tried);
	assert_true(tried * 2 > count);
	assert_int_equal(decoded, tried);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_within_15us_all_decode),
		cmocka_unit_test(test_property_dht22),
		cmocka_unit_test(test_property_dht11),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
