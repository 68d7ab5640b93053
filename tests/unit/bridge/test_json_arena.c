/*
 * test_json_arena.c - cJSON's memory from a per-thread region
 * (bridge/json_arena.h), as the bridge installs it: a payload's tree comes
 * from the region and parses the same as with malloc; the region is reused
 * from its start once every block is back (100 000 parses, no growth); a
 * tree kept while others are parsed holds the region until deleted; a
 * payload bigger than the region spills to malloc; a tree parsed on one
 * thread can be deleted on another; cJSON's own constructors outside a
 * parse use malloc and free alike.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "bridge/json_arena.h"
#include "bridge/reading.h"

static const char PAYLOAD[] =
	"{\"ts\":1764640000123,\"seq\":12345,\"boot\":\"0123456789abcdef\","
	"\"temperature_celsius\":21.5,\"humidity_percent\":48.25,"
	"\"tags\":{\"location\":\"bench\",\"model\":\"sim\"}}";

static struct json_arena_stats st(void)
{
	struct json_arena_stats s;
	json_arena_stats(&s);
	return s;
}

static cJSON *parse(const char *p)
{
	char err[128];
	cJSON *root = reading_json(p, strlen(p), err, sizeof(err));
	assert_non_null(root);
	return root;
}

static int setup(void **state)
{
	(void)state;
	json_arena_install();
	return 0;
}

static void test_tree_from_region_same_values(void **state)
{
	(void)state;
	struct json_arena_stats a = st();
	cJSON *root = parse(PAYLOAD);
	struct json_arena_stats b = st();
	assert_true(b.from_region - a.from_region >= 10); /* nodes and key strings */
	assert_int_equal(b.from_heap - a.from_heap, 0);
	/* cJSON gives a few blocks back during the parse; the tree holds the rest */
	assert_true(b.live > a.live && b.live - a.live <= b.from_region - a.from_region);
	assert_true(cJSON_GetObjectItem(root, "seq")->valuedouble == 12345);
	assert_string_equal(cJSON_GetObjectItem(root, "boot")->valuestring, "0123456789abcdef");
	cJSON *tags = cJSON_GetObjectItem(root, "tags");
	assert_string_equal(cJSON_GetObjectItem(tags, "model")->valuestring, "sim");
	cJSON_Delete(root);
	assert_int_equal(st().live, 0);

	/* and reading_parse, through it, gets what it got with malloc */
	struct reading r;
	char err[128];
	assert_int_equal(reading_parse(&r, "sensors/n1/s1", PAYLOAD, strlen(PAYLOAD),
				       1764640000000LL, err, sizeof(err)), 0);
	assert_int_equal(r.n_fields, 2);
	assert_int_equal(r.n_tags, 2);
	assert_int_equal(r.seq, 12345);
	reading_release(&r);
	assert_int_equal(st().live, 0);
}

static void test_region_reused(void **state)
{
	(void)state;
	struct json_arena_stats a = st();
	for (int i = 0; i < 100000; i++)
		cJSON_Delete(parse(PAYLOAD));
	struct json_arena_stats b = st();
	/* 100 000 trees of ~20 blocks in one 16 KiB region: it started again
	 * from its beginning every time, nothing spilled to malloc */
	assert_true(b.from_region - a.from_region >= 100000u * 10);
	assert_int_equal(b.from_heap - a.from_heap, 0);
	assert_int_equal(b.live, 0);
}

static void test_kept_tree_holds_region(void **state)
{
	(void)state;
	cJSON *kept = parse(PAYLOAD);
	size_t live = st().live;
	assert_true(live > 0);
	/* parses while it is kept go on after it in the region, and never over
	 * it: the kept tree's values survive them */
	struct json_arena_stats a = st();
	for (int i = 0; i < 2000; i++)
		cJSON_Delete(parse("{\"ts\":1,\"x\":2}"));
	assert_string_equal(cJSON_GetObjectItem(kept, "boot")->valuestring, "0123456789abcdef");
	assert_true(cJSON_GetObjectItem(kept, "humidity_percent")->valuedouble == 48.25);
	/* the region filled up behind it, so later trees spilled to malloc */
	assert_true(st().from_heap > a.from_heap);
	assert_int_equal(st().live, live);
	cJSON_Delete(kept);
	assert_int_equal(st().live, 0);
	/* all back: the next parse starts the region again */
	a = st();
	cJSON_Delete(parse(PAYLOAD));
	assert_int_equal(st().from_heap, a.from_heap);
}

static void test_big_payload_spills(void **state)
{
	(void)state;
	/* a payload the bridge takes (up to READING_MAX_PAYLOAD) whose tree
	 * cannot fit in the region */
	static char big[READING_MAX_PAYLOAD - 16];
	size_t n = 0;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "{\"ts\":1764640000123");
	int fields = 0;
	while (n + 64 < sizeof(big) - 2) {
		n += (size_t)snprintf(big + n, sizeof(big) - n, ",\"field_number_%04d\":%d.5", fields, fields);
		fields++;
	}
	big[n++] = '}';
	big[n] = '\0';
	struct json_arena_stats a = st();
	cJSON *root = parse(big);
	struct json_arena_stats b = st();
	assert_true(b.from_heap > a.from_heap);
	assert_true(b.from_region > a.from_region);
	assert_int_equal(cJSON_GetArraySize(root), fields + 1);
	char name[32];
	snprintf(name, sizeof(name), "field_number_%04d", fields - 1);
	assert_true(cJSON_GetObjectItem(root, name)->valuedouble == fields - 1 + 0.5);
	cJSON_Delete(root);
	assert_int_equal(st().live, 0);
}

static void *delete_tree(void *arg)
{
	cJSON_Delete(arg);
	return NULL;
}

static void test_deleted_on_another_thread(void **state)
{
	(void)state;
	cJSON *root = parse(PAYLOAD);
	assert_true(st().live > 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, delete_tree, root), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(st().live, 0);
}

static void test_constructors_outside_a_parse(void **state)
{
	(void)state;
	struct json_arena_stats a = st();
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "k", "v");
	cJSON_AddNumberToObject(o, "n", 3);
	struct json_arena_stats b = st();
	assert_int_equal(b.from_region, a.from_region);
	assert_true(b.from_heap - a.from_heap >= 3);
	/* a parsed tree and a malloc'd node in one tree */
	cJSON *root = parse(PAYLOAD);
	cJSON_AddItemToObject(root, "extra", o);
	char *printed = cJSON_PrintUnformatted(root);
	assert_non_null(printed);
	assert_non_null(strstr(printed, "\"extra\":{\"k\":\"v\",\"n\":3}"));
	cJSON_free(printed);
	cJSON_Delete(root);
	assert_int_equal(st().live, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_from_region_same_values),
		cmocka_unit_test(test_region_reused),
		cmocka_unit_test(test_kept_tree_holds_region),
		cmocka_unit_test(test_big_payload_spills),
		cmocka_unit_test(test_deleted_on_another_thread),
		cmocka_unit_test(test_constructors_outside_a_parse),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
