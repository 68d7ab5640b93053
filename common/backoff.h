/*
 * backoff.h - retry delays with decorrelated jitter and a cap.
 *
 * next = min(cap, random_between(base, prev * 3)); reset after success.
 * A server's Retry-After overrides one step (backoff_override).
 *
 * backoff_next_doubling is for one retrier against a local resource (the
 * log on a full disk), where spreading many clients apart does not matter
 * but a bounded number of tries does: the decorrelated delay can fall back
 * to the base after any step, so a window of a few seconds may hold a dozen
 * tries; the doubling one never shrinks before a reset.
 */
#ifndef SW_BACKOFF_H
#define SW_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint32_t base_ms;
	uint32_t cap_ms;
	uint32_t prev_ms;
	uint32_t attempts;
	uint64_t rng;
};

void backoff_init(struct backoff *b, uint32_t base_ms, uint32_t cap_ms);
/* Returns the delay before the next attempt and advances the state. */
uint32_t backoff_next(struct backoff *b);
/* Doubles from the base to the cap (base, 2 base, 4 base, ... cap), each
 * delay 80-100 % of that value: the jitter keeps tries off a fixed beat. */
uint32_t backoff_next_doubling(struct backoff *b);
/* Uses delay_ms (clamped to the cap) for this attempt, e.g. from Retry-After. */
uint32_t backoff_override(struct backoff *b, uint32_t delay_ms);
void backoff_reset(struct backoff *b);

#endif
