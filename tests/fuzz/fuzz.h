/*
 * fuzz.h - what the libFuzzer targets under tests/fuzz/ share: the entry
 * point's prototype, a check that aborts (so libFuzzer keeps the input as a
 * crash) and a reader that takes typed values off the front of the input.
 */
#ifndef SW_TESTS_FUZZ_H
#define SW_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                   \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			abort();                                                \
		}                                                               \
	} while (0)

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t fuzz_u64(struct fuzz_in *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes && in->n; i++, in->p++, in->n--)
		v = v << 8 | *in->p;
	return v;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	return (uint8_t)fuzz_u64(in, 1);
}

/* A malloc'd string of up to max bytes taken from the input: its first byte
 * is the length (mod max + 1), then the bytes (a NUL in them ends it). */
static inline char *fuzz_str(struct fuzz_in *in, size_t max)
{
	size_t len = fuzz_u8(in) % (max + 1);
	if (len > in->n)
		len = in->n;
	char *s = malloc(len + 1);
	if (!s)
		abort();
	memcpy(s, in->p, len);
	s[len] = '\0';
	in->p += len;
	in->n -= len;
	return s;
}

#endif
