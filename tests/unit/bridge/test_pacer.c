/*
 * test_pacer.c - the adaptive pacer against simulated stores, on a
 * simulated clock: a fast store is never held back; 429/503 cut the rate by
 * beta_error and Retry-After is kept to the millisecond; rising latency
 * cuts it by beta_latency; the hard cap always holds; the rate comes back
 * after the store does; and a store that throttles with a token bucket is
 * followed closely with few decreases (no oscillation storm), at any speed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "bridge/pacer.h"

#define BATCH 1000

/* A store: a token bucket of `rate` samples/s (0 = no limit) holding up
 * to `burst`; over it, it answers 429 (mode THROTTLE_429) or answers late
 * (THROTTLE_SLOW: the tokens it lacks, plus slow_ms). */
enum throttle { THROTTLE_429, THROTTLE_SLOW };
struct store {
	double rate, burst, tokens;
	int64_t t;
	enum throttle mode;
	int retry_after_ms;       /* with a 429, or -1 */
	int64_t lat_ms;           /* answer time of a request within the bucket */
	int64_t slow_ms;
	bool down;                /* every try fails (refused) */
};

struct sim {
	struct pacer pc;
	int64_t now;
	uint64_t delivered, tries, retries, slow;
	int64_t waited_ms;
};

static void refill(struct store *s, int64_t now)
{
	if (s->rate > 0) {
		s->tokens += s->rate * (double)(now - s->t) / 1000.0;
		if (s->tokens > s->burst)
			s->tokens = s->burst;
	}
	s->t = now;
}

/*
 * One try from an endless backlog, as the sender makes it: waits what the
 * pacer says, sends, reports; a failed try without Retry-After then waits a
 * backoff of 150 ms, one with it waits the pacer (the next step).
 */
static bool step(struct sim *m, struct store *s)
{
	int64_t w = pacer_wait_ms(&m->pc, m->now, true);
	m->now += w;
	m->waited_ms += w;
	int64_t start = m->now;
	refill(s, start);
	enum pacer_outcome out = PACER_OK;
	int ra = -1;
	int64_t lat = s->lat_ms;
	if (s->down) {
		out = PACER_FAILED;
		lat = 1;
	} else if (s->rate == 0 || s->tokens >= BATCH) {
		s->tokens -= s->rate > 0 ? BATCH : 0;
	} else if (s->mode == THROTTLE_SLOW) {
		/* it waits for the tokens it lacks, taking them as they come */
		lat += s->slow_ms + (int64_t)((BATCH - s->tokens) * 1000.0 / s->rate);
		s->tokens -= BATCH;
		m->slow++;
	} else {
		out = PACER_FAILED;
		ra = s->retry_after_ms;
		lat = 1;
	}
	m->now += lat;
	pacer_done(&m->pc, start, m->now, BATCH, true, out, ra);
	m->tries++;
	if (out == PACER_OK) {
		m->delivered += BATCH;
		return true;
	}
	m->retries++;
	if (ra < 0)
		m->now += 150;
	return false;
}

static void run(struct sim *m, struct store *s, int64_t until)
{
	while (m->now < until)
		step(m, s);
}

static void sim_init(struct sim *m, const struct pacer_params *p)
{
	*m = (struct sim){ .now = 1000000 };
	pacer_init(&m->pc, p, m->now);
}

static struct pacer_params defaults(void)
{
	struct pacer_params p;
	pacer_defaults(&p);
	return p;
}

/* One batch of BATCH samples, backlogged, started now and taking lat_ms. */
static void batch(struct sim *m, int64_t lat_ms, enum pacer_outcome out, int ra)
{
	int64_t start = m->now;
	m->now += lat_ms;
	pacer_done(&m->pc, start, m->now, BATCH, true, out, ra);
}

/* A healthy store is never held back, live or backlogged. */
static void test_fast_store_unlimited(void **state)
{
	(void)state;
	struct pacer_params p = defaults();
	struct sim m;
	sim_init(&m, &p);
	struct store s = { .lat_ms = 2 };
	run(&m, &s, m.now + 10000);
	assert_int_equal(m.waited_ms, 0);
	assert_int_equal(m.pc.decreases, 0);
	assert_true(pacer_rate(&m.pc, m.now) == 0);
	assert_int_equal(m.retries, 0);
	/* 10 s of 2 ms batches: 5000 of them */
	assert_true(m.delivered >= 4990 * BATCH);
	/* live (not backlogged) never waits either */
	assert_int_equal(pacer_wait_ms(&m.pc, m.now, false), 0);
}

/* 429 and 503 halve what was being delivered, once per batch and per round
 * trip; Retry-After is the wait, exactly, and is cut at its maximum. */
static void test_halves_and_retry_after(void **state)
{
	(void)state;
	struct pacer_params p = defaults();
	struct sim m;
	sim_init(&m, &p);
	for (int i = 0; i < 50; i++)
		batch(&m, 100, PACER_OK, -1);            /* 10000 samples/s */
	assert_true(pacer_rate(&m.pc, m.now) == 0);
	batch(&m, 5, PACER_FAILED, -1);                  /* a 429 without Retry-After */
	assert_int_equal(m.pc.decreases, 1);
	assert_true(pacer_rate(&m.pc, m.now) > 4999 && pacer_rate(&m.pc, m.now) < 5001);
	/* the same batch failing again: no second cut (backoff spaces retries) */
	batch(&m, 5, PACER_FAILED, -1);
	batch(&m, 5, PACER_FAILED, -1);
	assert_int_equal(m.pc.decreases, 1);
	batch(&m, 200, PACER_OK, -1);
	/* the next batch waits its share at 5000/s: 1000 samples = 200 ms from its start */
	int64_t w = pacer_wait_ms(&m.pc, m.now, true);
	assert_true(w >= 0 && w <= 1);
	/* a 503 with Retry-After: 2 s on a later batch: halved again, and the
	 * next try waits exactly 2000 ms, live or backlogged */
	int64_t start = m.now;
	m.now += 3;
	pacer_done(&m.pc, start, m.now, BATCH, true, PACER_FAILED, 2000);
	assert_int_equal(m.pc.decreases, 2);
	double r = pacer_rate(&m.pc, m.now);
	assert_true(r > 0.5 * 5000 * 0.98 && r < 0.5 * 5000 * 1.02);
	assert_int_equal(pacer_wait_ms(&m.pc, m.now, false), 2000);
	assert_int_equal(pacer_wait_ms(&m.pc, m.now + 1999, false), 1);
	assert_int_equal(pacer_wait_ms(&m.pc, m.now + 2000, false), 0);
	/* a batch sent before the last cut (in flight on another path) is old
	 * news: no cut for it */
	m.now += 2000;
	batch(&m, 10, PACER_OK, -1);
	pacer_done(&m.pc, start - 1, m.now, BATCH, true, PACER_FAILED, -1);
	assert_int_equal(m.pc.decreases, 2);
	/* Retry-After beyond the maximum is cut to it */
	pacer_done(&m.pc, m.now, m.now + 1, BATCH, true, PACER_FAILED, 3600 * 1000);
	assert_int_equal(pacer_wait_ms(&m.pc, m.now + 1, false), p.retry_after_max_ms);
}

/* Retry-After is honoured to the millisecond in a simulated run too. */
static void test_retry_after_in_run(void **state)
{
	(void)state;
	struct pacer_params p = defaults();
	struct sim m;
	sim_init(&m, &p);
	struct store s = { .rate = 5000, .burst = 2500, .tokens = 2500, .t = m.now,
			   .mode = THROTTLE_429, .retry_after_ms = 1000, .lat_ms = 2 };
	/* the bucket holds 2 batches; the third try fails, and the retry
	 * goes exactly 1000 ms after the answer */
	assert_true(step(&m, &s));
	assert_true(step(&m, &s));
	assert_false(step(&m, &s));
	assert_int_equal(pacer_wait_ms(&m.pc, m.now, true), 1000);
	assert_int_equal(pacer_wait_ms(&m.pc, m.now, false), 1000);
	int64_t answered = m.now;
	step(&m, &s);
	assert_int_equal(m.now, answered + 1000 + s.lat_ms);
}

/* Latency rising well above its recent minimum, two full batches in a row,
 * cuts the rate by beta_latency; one slow batch, small batches and a few
 * ms of jitter do not. */
static void test_latency(void **state)
{
	(void)state;
	struct pacer_params p = defaults();
	struct sim m;
	sim_init(&m, &p);
	for (int i = 0; i < 200; i++)
		batch(&m, 2 + i % 5, PACER_OK, -1);      /* 2-6 ms: jitter */
	assert_int_equal(m.pc.decreases, 0);
	batch(&m, 300, PACER_OK, -1);                    /* one spike */
	batch(&m, 3, PACER_OK, -1);
	assert_int_equal(m.pc.decreases, 0);
	for (int i = 0; i < 5; i++) {                    /* small batches, slow */
		int64_t start = m.now;
		m.now += 300;
		pacer_done(&m.pc, start, m.now, 10, true, PACER_OK, -1);
	}
	assert_int_equal(m.pc.decreases, 0);
	for (int i = 0; i < 20; i++)
		batch(&m, 5, PACER_OK, -1);              /* 200 000/s */
	batch(&m, 100, PACER_OK, -1);
	assert_int_equal(m.pc.decreases, 0);
	double before = m.pc.tput;
	batch(&m, 100, PACER_OK, -1);
	assert_int_equal(m.pc.decreases, 1);
	assert_int_equal(m.pc.latency_decreases, 1);
	double r = pacer_rate(&m.pc, m.now);
	assert_true(r > 0.69 * before * 0.5 && r < 0.71 * before);
	assert_true(r > 0.7 * m.pc.tput * 0.99 && r < 0.7 * m.pc.tput * 1.01);
	/* still slow right after the cut: batches sent before it do not count,
	 * and it takes two new slow ones again */
	batch(&m, 100, PACER_OK, -1);
	assert_int_equal(m.pc.decreases, 1);
}

/* The hard cap holds, with and without the adaptive part, and the
 * adaptive rate never goes past it. */
static void test_hard_cap(void **state)
{
	(void)state;
	for (int adaptive = 0; adaptive <= 1; adaptive++) {
		struct pacer_params p = defaults();
		p.cap = 5000;
		p.adaptive = adaptive;
		struct sim m;
		sim_init(&m, &p);
		struct store s = { .lat_ms = 1 };
		int64_t t0 = m.now;
		for (int i = 0; i < 100; i++) {
			run(&m, &s, m.now + 100);
			assert_true(pacer_rate(&m.pc, m.now) <= 5000);
		}
		double got = (double)m.delivered * 1000.0 / (double)(m.now - t0);
		assert_true(got <= 5000 * 1.01 && got > 5000 * 0.95);
		/* a throttling store underneath: still never above the cap */
		struct store t = { .rate = 20000, .burst = 10000, .t = m.now, .lat_ms = 1,
				   .mode = THROTTLE_429 };
		t0 = m.now;
		uint64_t d0 = m.delivered;
		for (int i = 0; i < 100; i++) {
			run(&m, &t, m.now + 100);
			assert_true(pacer_rate(&m.pc, m.now) <= 5000);
		}
		got = (double)(m.delivered - d0) * 1000.0 / (double)(m.now - t0);
		assert_true(got <= 5000 * 1.01);
		if (!adaptive)
			assert_int_equal(m.pc.decreases, 0);
	}
}

/* After the store recovers the rate climbs back: to where it was cut
 * within recover_ms, and past any limit within seconds; an outage does not
 * leave it on the floor. */
static void test_recovers(void **state)
{
	(void)state;
	struct pacer_params p = defaults();
	struct sim m;
	sim_init(&m, &p);
	struct store s = { .rate = 5000, .burst = 2500, .t = m.now, .lat_ms = 2,
			   .mode = THROTTLE_429 };
	run(&m, &s, m.now + 30000);
	double limited = pacer_rate(&m.pc, m.now);
	assert_true(limited > 2000 && limited < 8000);
	/* the store gets fast */
	s.rate = 0;
	uint64_t d0 = m.delivered;
	int64_t t0 = m.now;
	run(&m, &s, m.now + p.recover_ms);
	assert_true(pacer_rate(&m.pc, m.now) == 0 || pacer_rate(&m.pc, m.now) >= limited);
	run(&m, &s, t0 + 5 * p.recover_ms);
	assert_true(pacer_rate(&m.pc, m.now) == 0);      /* the limit lifted */
	double got = (double)(m.delivered - d0) * 1000.0 / (double)(m.now - t0);
	assert_true(got > 4 * 5000);

	/* throttled again, then down for a minute: after it comes back the rate
	 * starts where the first failure put it, not on the floor */
	s.rate = 5000;
	s.tokens = 0;
	s.t = m.now;
	run(&m, &s, m.now + 30000);
	s.down = true;
	run(&m, &s, m.now + 60000);
	double cut = pacer_rate(&m.pc, m.now);
	assert_true(cut > 1000);
	s.down = false;
	s.rate = 0;
	d0 = m.delivered;
	t0 = m.now;
	run(&m, &s, m.now + 5 * p.recover_ms);
	assert_true(pacer_rate(&m.pc, m.now) == 0);
	got = (double)(m.delivered - d0) * 1000.0 / (double)(m.now - t0);
	assert_true(got > 4 * 5000);
}

/*
 * A store throttling at R with a token bucket (half a second of burst, at
 * least two batches), for two minutes: from 20 s on, the delivered rate is
 * within min_ratio-1.05 x R (0.85 with 429s, 0.75 when each 429 also says
 * Retry-After: 1, 0.6 with Retry-After: 5, 0.85 for a store that answers
 * 200 ms late instead), with
 * at most one decrease per 3 s (no oscillation storm), under 1 retry per
 * 1000 samples and under 3 late answers per 10 batches, at 2000, 20 000
 * and 200 000 samples/s alike.
 */
static void steady(double rate, enum throttle mode, int retry_after_ms, double min_ratio)
{
	struct pacer_params p = defaults();
	struct sim m;
	sim_init(&m, &p);
	double burst = rate / 2 > 2 * BATCH ? rate / 2 : 2 * BATCH;
	struct store s = { .rate = rate, .burst = burst, .tokens = burst, .t = m.now,
			   .mode = mode, .retry_after_ms = retry_after_ms, .lat_ms = 2,
			   .slow_ms = 200 };
	run(&m, &s, m.now + 20000);
	uint64_t d0 = m.delivered, r0 = m.retries, c0 = m.pc.decreases, s0 = m.slow;
	int64_t t0 = m.now;
	run(&m, &s, m.now + 100000);
	double got = (double)(m.delivered - d0) * 1000.0 / (double)(m.now - t0);
	uint64_t cuts = m.pc.decreases - c0;
	double per_k = (double)(m.retries - r0) * 1000.0 / (double)(m.delivered - d0);
	printf("  rate %6.0f mode %s%s: %.3f x R, %llu decreases in 100 s, %.3f retries/1000, %.3f slow/1000\n",
	       rate, mode == THROTTLE_429 ? "429" : "slow",
	       retry_after_ms >= 0 ? " +Retry-After" : "", got / rate,
	       (unsigned long long)cuts, per_k, (double)(m.slow - s0) * 1000.0 / (double)(m.delivered - d0));
	assert_true(got >= min_ratio * rate && got <= 1.05 * rate);
	assert_true(cuts <= 100 / 3 && (cuts >= 1 || mode == THROTTLE_SLOW));
	assert_true(per_k < 1.0);
	assert_true((m.slow - s0) * 10 < (m.delivered - d0) / BATCH * 3);
}

static void test_steady_throttled(void **state)
{
	(void)state;
	const double rates[] = { 2000, 20000, 200000 };
	for (size_t i = 0; i < 3; i++) {
		steady(rates[i], THROTTLE_429, -1, 0.85);
		steady(rates[i], THROTTLE_429, 1000, 0.75);
		/* a long Retry-After makes each probe dear: the climb back
		 * takes 4 x as long (0.44-0.49 x R when it took 3 s) */
		steady(rates[i], THROTTLE_429, 5000, 0.6);
		steady(rates[i], THROTTLE_SLOW, -1, 0.85);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_store_unlimited),
		cmocka_unit_test(test_halves_and_retry_after),
		cmocka_unit_test(test_retry_after_in_run),
		cmocka_unit_test(test_latency),
		cmocka_unit_test(test_hard_cap),
		cmocka_unit_test(test_recovers),
		cmocka_unit_test(test_steady_throttled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
