/*
 * json_arena.c - cJSON's memory for one payload from a per-thread region
 * (json_arena.h has the rules).
 */
#include "bridge/json_arena.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

struct region {
	alignas(16) unsigned char buf[JSON_ARENA_SIZE];
	struct region *next;   /* all regions, so they stay reachable */
	size_t used;
	size_t out;            /* blocks handed out since the last reset (owner only) */
	size_t back;           /* of those, given back on the owner's thread */
	_Atomic size_t back_elsewhere; /* ... and on other threads */
	bool active;
	uint64_t from_region, from_heap;
};

/* before each block: its region, or NULL for malloc's */
struct hdr {
	struct region *region;
	unsigned char pad[16 - sizeof(struct region *)]; /* 16 bytes on 32-bit ARM too */
};
_Static_assert(sizeof(struct hdr) == 16, "blocks keep malloc's alignment");

static _Thread_local struct region *mine;
static struct region *all;
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;

static void *ja_malloc(size_t n)
{
	struct region *r = mine;
	struct hdr *h;
	if (r && r->active) {
		size_t need = sizeof(struct hdr) + ((n + 15) & ~(size_t)15);
		if (need <= sizeof(r->buf) - r->used) {
			h = (struct hdr *)(void *)(r->buf + r->used);
			r->used += need;
			h->region = r;
			r->out++;
			r->from_region++;
			return h + 1;
		}
	}
	if (!(h = malloc(sizeof(struct hdr) + n)))
		return NULL;
	h->region = NULL;
	if (r)
		r->from_heap++;
	return h + 1;
}

static void ja_free(void *p)
{
	if (!p)
		return;
	struct hdr *h = (struct hdr *)p - 1;
	if (!h->region)
		free(h);
	else if (h->region == mine)
		h->region->back++; /* the usual case: no locked instruction */
	else
		atomic_fetch_add_explicit(&h->region->back_elsewhere, 1, memory_order_release);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void install(void)
{
	cJSON_Hooks hooks = { .malloc_fn = ja_malloc, .free_fn = ja_free };
	cJSON_InitHooks(&hooks);
}

void json_arena_install(void)
{
	pthread_once(&once, install);
}

/* A thread's region is made at its first parse and never freed (one per
 * thread that parses, a few in a process; kept on a list, so they stay
 * reachable), so a block can be given back from any thread at any time,
 * even after the thread that parsed it has ended. */
void json_arena_begin(void)
{
	struct region *r = mine;
	if (!r) {
		if (!(r = calloc(1, sizeof(*r))))
			return;  /* cJSON takes malloc's memory, as without */
		pthread_mutex_lock(&all_lock);
		r->next = all;
		all = r;
		pthread_mutex_unlock(&all_lock);
		mine = r;
	}
	if (r->back + atomic_load_explicit(&r->back_elsewhere, memory_order_acquire) == r->out) {
		r->used = r->out = r->back = 0;
		atomic_store_explicit(&r->back_elsewhere, 0, memory_order_relaxed);
	}
	r->active = true;
}

void json_arena_end(void)
{
	if (mine)
		mine->active = false;
}

void json_arena_stats(struct json_arena_stats *out)
{
	struct region *r = mine;
	*out = (struct json_arena_stats){ 0 };
	if (r) {
		out->from_region = r->from_region;
		out->from_heap = r->from_heap;
		out->live = r->out - r->back - atomic_load(&r->back_elsewhere);
	}
}
