/*
 * bytes.h - small byte-level helpers the bridge's own formats share: fixed
 * little-endian integers (the log's frames, its records, remote-write's
 * fixed64 values) and the hash of its in-memory tables.
 */
#ifndef SW_BRIDGE_BYTES_H
#define SW_BRIDGE_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#define HASH_INIT 1469598103934665603ULL

/* FNV-1a over n bytes, continuing from h (HASH_INIT to start) */
static inline uint64_t hash_more(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

/* The finaliser (murmur3's fmix64) to apply before the low bits pick a
 * slot: FNV's low bits cluster for keys that differ only in a digit or two,
 * and linear probing turns clusters into long chains. */
static inline uint64_t hash_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static inline uint64_t hash_bytes(const void *p, size_t n)
{
	return hash_final(hash_more(HASH_INIT, p, n));
}

#endif
