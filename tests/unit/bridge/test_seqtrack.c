/*
 * test_seqtrack.c - gaps and duplicates per topic and boot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "bridge/seqtrack.h"

static void test_sequence(void **state)
{
	(void)state;
	struct seqtrack *t = seqtrack_new(16);
	uint64_t miss;
	const char *A = "aaaaaaaaaaaaaaaa", *B = "bbbbbbbbbbbbbbbb";
	assert_int_equal(seqtrack_see(t, "s/n/x", A, 1, &miss), SEQ_FIRST);
	assert_int_equal(seqtrack_see(t, "s/n/x", A, 2, &miss), SEQ_NEXT);
	assert_int_equal(seqtrack_see(t, "s/n/y", A, 7, &miss), SEQ_FIRST);
	assert_int_equal(seqtrack_see(t, "s/n/x", A, 5, &miss), SEQ_GAP);
	assert_int_equal(miss, 2);
	assert_int_equal(seqtrack_see(t, "s/n/x", A, 5, &miss), SEQ_DUPLICATE);
	/* 3 was counted missing: it arrives late, once; a second copy is a duplicate */
	assert_int_equal(seqtrack_see(t, "s/n/x", A, 3, &miss), SEQ_LATE);
	assert_int_equal(seqtrack_see(t, "s/n/x", A, 3, &miss), SEQ_DUPLICATE);
	assert_int_equal(seqtrack_see(t, "s/n/x", B, 1, &miss), SEQ_FIRST); /* restart */
	assert_int_equal(seqtrack_see(t, "s/n/x", B, 2, &miss), SEQ_NEXT);
	assert_int_equal(seqtrack_see(t, "s/n/y", A, 8, &miss), SEQ_NEXT);
	seqtrack_free(t);
}

/* seqtrack_seen: exactly the seqs taken, within the window, per boot */
static void test_seen(void **state)
{
	(void)state;
	struct seqtrack *t = seqtrack_new(16);
	uint64_t miss;
	const char *A = "aaaaaaaaaaaaaaaa", *B = "bbbbbbbbbbbbbbbb";
	assert_false(seqtrack_seen(t, "s/n/x", A, 1));
	for (uint64_t s = 1; s <= 100; s++)
		if (s % 10 != 0)
			seqtrack_see(t, "s/n/x", A, s, &miss);
	for (uint64_t s = 99 - SEQTRACK_WINDOW + 1; s <= 100; s++) /* 99 is the newest */
		assert_int_equal(seqtrack_seen(t, "s/n/x", A, s), s % 10 != 0);
	assert_false(seqtrack_seen(t, "s/n/x", A, 99 - SEQTRACK_WINDOW));  /* too old to tell */
	assert_false(seqtrack_seen(t, "s/n/x", A, 101));
	assert_false(seqtrack_seen(t, "s/n/x", B, 99));                    /* another boot */
	assert_false(seqtrack_seen(t, "s/n/y", A, 99));
	/* a late arrival is seen from then on; a jump past the window forgets */
	assert_int_equal(seqtrack_see(t, "s/n/x", A, 90, &miss), SEQ_LATE);
	assert_true(seqtrack_seen(t, "s/n/x", A, 90));
	assert_int_equal(seqtrack_see(t, "s/n/x", A, 300, &miss), SEQ_GAP);
	assert_int_equal(miss, 200);
	assert_true(seqtrack_seen(t, "s/n/x", A, 300));
	assert_false(seqtrack_seen(t, "s/n/x", A, 299));
	assert_int_equal(seqtrack_see(t, "s/n/x", A, 299, &miss), SEQ_LATE);
	assert_int_equal(seqtrack_see(t, "s/n/x", A, 200, &miss), SEQ_DUPLICATE);
	seqtrack_free(t);
}

static void test_many_topics_bounded(void **state)
{
	(void)state;
	struct seqtrack *t = seqtrack_new(8);
	uint64_t miss;
	char topic[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(topic, sizeof(topic), "s/n%d/x", i);
		assert_int_equal(seqtrack_see(t, topic, "aaaaaaaaaaaaaaaa", 1, &miss), SEQ_FIRST);
	}
	seqtrack_free(t);
}

/* the table starts small and grows: 3000 topics are all remembered */
static void test_grows(void **state)
{
	(void)state;
	struct seqtrack *t = seqtrack_new(4096);
	uint64_t miss;
	char topic[32];
	for (uint64_t seq = 1; seq <= 3; seq++) {
		for (int i = 0; i < 3000; i++) {
			snprintf(topic, sizeof(topic), "s/n%d/x", i);
			assert_int_equal(seqtrack_see(t, topic, "aaaaaaaaaaaaaaaa", seq, &miss),
					 seq == 1 ? SEQ_FIRST : SEQ_NEXT);
		}
	}
	seqtrack_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_seen),
		cmocka_unit_test(test_many_topics_bounded),
		cmocka_unit_test(test_grows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
