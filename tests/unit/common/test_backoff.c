/*
 * test_backoff.c - jittered delays stay within [base, cap], grow, honour an
 * override, and start again after a reset; the doubling delays never
 * shrink before a reset, so a window holds a bounded number of tries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/backoff.h"

static void test_bounds_and_growth(void **state)
{
	(void)state;
	struct backoff b;
	backoff_init(&b, 100, 30000);
	uint32_t max_seen = 0;
	for (int i = 0; i < 200; i++) {
		uint32_t d = backoff_next(&b);
		assert_in_range(d, 100, 30000);
		if (d > max_seen)
			max_seen = d;
	}
	assert_true(max_seen > 10000); /* it does grow towards the cap */
	backoff_reset(&b);
	assert_in_range(backoff_next(&b), 100, 200);
	/* Retry-After wins, clamped to the cap */
	assert_int_equal(backoff_override(&b, 2000), 2000);
	assert_int_equal(backoff_override(&b, 99999999), 30000);
}

static void test_jitter_spreads(void **state)
{
	(void)state;
	struct backoff a, b;
	backoff_init(&a, 100, 30000);
	backoff_init(&b, 100, 30000);
	int same = 0;
	for (int i = 0; i < 20; i++)
		same += backoff_next(&a) == backoff_next(&b);
	assert_true(same < 20);
}

static void test_doubling(void **state)
{
	(void)state;
	for (int run = 0; run < 200; run++) {
		struct backoff b;
		backoff_init(&b, 50, 2000);
		uint32_t step = 50, at = 0, tries[64];
		int n = 0;
		while (n < 64) {
			uint32_t d = backoff_next_doubling(&b);
			assert_in_range(d, step - step / 5 < 50 ? 50 : step - step / 5, step);
			at += d;
			tries[n++] = at;
			step = step * 2 > 2000 ? 2000 : step * 2;
		}
		/* once past the first 3 s, no 4 s window holds more than 3 tries
		 * (the decorrelated delay can fall back to 50 ms at any step) */
		for (int i = 0; i < n; i++) {
			if (tries[i] < 3000)
				continue;
			int in = 0;
			for (int j = i; j < n && tries[j] < tries[i] + 4000; j++)
				in++;
			assert_in_range(in, 1, 3);
		}
		backoff_reset(&b);
		assert_int_equal(backoff_next_doubling(&b), 50);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds_and_growth),
		cmocka_unit_test(test_jitter_spreads),
		cmocka_unit_test(test_doubling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
