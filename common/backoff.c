/*
 * backoff.c - decorrelated jitter ("Exponential Backoff And Jitter", AWS
 * architecture blog), as Mosquitto's bridge does: spreads reconnecting
 * clients apart while still growing towards the cap.
 */
#include "common/backoff.h"

#include <time.h>
#include <unistd.h>

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void backoff_init(struct backoff *b, uint32_t base_ms, uint32_t cap_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	b->base_ms = base_ms ? base_ms : 1;
	b->cap_ms = cap_ms < b->base_ms ? b->base_ms : cap_ms;
	b->prev_ms = 0;
	b->attempts = 0;
	b->rng = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)b;
}

uint32_t backoff_next(struct backoff *b)
{
	uint64_t lo = b->base_ms;
	uint64_t hi = b->prev_ms ? (uint64_t)b->prev_ms * 3 : lo * 2;
	if (hi > b->cap_ms)
		hi = b->cap_ms;
	if (hi < lo)
		hi = lo;
	uint32_t d = (uint32_t)(lo + splitmix(&b->rng) % (hi - lo + 1));
	b->prev_ms = d;
	b->attempts++;
	return d;
}

uint32_t backoff_next_doubling(struct backoff *b)
{
	uint64_t step = b->prev_ms ? (uint64_t)b->prev_ms * 2 : b->base_ms;
	if (step > b->cap_ms)
		step = b->cap_ms;
	/* prev_ms keeps the undithered step, so the jitter never compounds */
	b->prev_ms = (uint32_t)step;
	b->attempts++;
	uint64_t lo = step - step / 5;
	uint32_t d = (uint32_t)(lo + splitmix(&b->rng) % (step - lo + 1));
	return d < b->base_ms ? b->base_ms : d;
}

uint32_t backoff_override(struct backoff *b, uint32_t delay_ms)
{
	if (delay_ms > b->cap_ms)
		delay_ms = b->cap_ms;
	b->prev_ms = delay_ms > b->base_ms ? delay_ms : b->base_ms;
	b->attempts++;
	return delay_ms;
}

void backoff_reset(struct backoff *b)
{
	b->prev_ms = 0;
	b->attempts = 0;
}
