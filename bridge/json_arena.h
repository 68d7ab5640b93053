/*
 * json_arena.h - cJSON's memory for one payload from a per-thread region.
 *
 * Parsing a reading's JSON made about 20 allocations (a node per value, a
 * string per key) and as many frees, a tenth of the bridge's CPU in a
 * backlog drain. With json_arena_install() (once, before any cJSON call),
 * cJSON allocates through these hooks: between json_arena_begin() and
 * json_arena_end() on a thread, from that thread's region, bump by bump;
 * otherwise (or when the region is full) from malloc. cJSON_Delete gives
 * each block back; a region is reused from its start once every block
 * handed out from it is back. Every block carries a 16-byte header naming
 * where it came from, so a tree may be deleted on any thread, at any time,
 * and blocks from the region and from malloc may mix in one tree.
 * Only sensor-bridge's main() installs it (and test_json_arena): the other
 * unit tests and the fuzz targets parse with malloc's blocks, where
 * AddressSanitizer sees each one.
 */
#ifndef SW_JSON_ARENA_H
#define SW_JSON_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define JSON_ARENA_SIZE 16384 /* per thread that parses */

void json_arena_install(void);
void json_arena_begin(void);
void json_arena_end(void);

struct json_arena_stats {
	uint64_t from_region, from_heap; /* blocks handed out, this thread */
	size_t live;                     /* region blocks not yet given back */
};
void json_arena_stats(struct json_arena_stats *out);

#endif
