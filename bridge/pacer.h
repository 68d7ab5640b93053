/*
 * pacer.h - how fast one output sends: a rate that follows the store.
 *
 * Pure (no clock, no lock, no I/O): every call takes the time in ms on a
 * monotonic clock, so tests drive it with a simulated store. One pacer per
 * output, used by that output's sender thread only.
 *
 * The model, in short (README "Performance" has the prose):
 *   - No limit to begin with: a healthy store is never held back.
 *   - A congestion signal lowers the rate multiplicatively from what was
 *     being delivered: a failed try (429, 5xx, timeout, network error) by
 *     beta_error, and latency_slow_batches of the last 8 full batches slower
 *     than latency_factor x the recent minimum (and at least
 *     latency_slack_ms above it) by beta_latency. At most one decrease per round trip (a
 *     batch sent before the last decrease never causes another) and one per
 *     run of failed tries of the same batch (the retry backoff spaces those).
 *   - Between signals the rate grows back along CUBIC's curve (RFC 9438),
 *     in time: concave up to the rate at which the store last pushed back,
 *     reached recover_ms after the decrease, flat near it, then convex
 *     beyond; grown 16-fold past it with no new signal, the limit lifts.
 *   - Retry-After sets the earliest time of the next try, exactly (up to
 *     retry_after_max_ms), and the climb back after a decrease that came
 *     with one takes retry_after_recover x that wait if longer than
 *     recover_ms: a probe past the store's rate costs the whole wait.
 *   - The hard cap (REPLAY_MAX_SAMPLES_PER_S) bounds everything.
 *   - Waits apply only while backlogged (more than the batch in hand waits
 *     to be sent): a sender that keeps up with arrivals is never delayed,
 *     except by Retry-After.
 */
#ifndef SW_PACER_H
#define SW_PACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pacer_params {
	double cap;                  /* hard cap in samples/s; 0 = none */
	bool adaptive;               /* false: the cap and Retry-After only */
	double min_rate;             /* floor of the adaptive rate, samples/s */
	double beta_error;           /* factor on a failed try */
	double beta_latency;         /* factor on rising latency */
	int64_t recover_ms;          /* back at the last decrease's starting rate after this */
	double retry_after_recover;  /* ...or after this many times a Retry-After that came with it */
	double latency_factor;       /* slow: latency > factor x recent minimum... */
	int64_t latency_slack_ms;    /* ...and > minimum + slack */
	unsigned latency_slow_batches;  /* this many slow batches of the last 8 are a signal */
	size_t full_samples;         /* only batches of at least this many samples time the store */
	int64_t latency_window_ms;   /* "recent minimum": over the last one or two such windows */
	int64_t retry_after_max_ms;  /* a longer Retry-After is cut to this */
};

enum pacer_outcome {
	PACER_OK,                    /* the store answered (delivered, or refused for good) */
	PACER_FAILED,                /* to be retried: 429, 5xx, timeout, network error */
};

struct pacer {
	struct pacer_params p;
	bool limited;                /* an adaptive limit is in force */
	double w_max;                /* rate before the last decrease (CUBIC's W_max) */
	double beta;                 /* the factor of the last decrease */
	int64_t k_ms;                /* its recovery time: recover_ms, or longer after a Retry-After */
	int64_t epoch_ms;            /* when the curve started (the last decrease, shifted
					past failed stretches) */
	int64_t decreased_ms;        /* time of the last decrease */
	int64_t next_ms;             /* rate spacing: earliest start of the next batch */
	int64_t not_before_ms;       /* Retry-After: earliest start of the next try */
	double tput;                 /* delivered samples/s while backlogged (EWMA) */
	int64_t last_done_ms;        /* end of the last delivered batch if backlogged, else -1 */
	int64_t lat_min, lat_min_prev;  /* minimum latency, this window and the last one */
	int64_t lat_window_ms;       /* start of this window */
	unsigned slow;               /* the last 8 full batches, a bit set for each slow one */
	bool failing;                /* the last try failed */
	int64_t failing_since_ms;
	uint64_t decreases;          /* counters, for metrics and tests */
	uint64_t latency_decreases;
};

/* The defaults: README's figures. cap 0, adaptive. */
void pacer_defaults(struct pacer_params *p);
void pacer_init(struct pacer *pc, const struct pacer_params *p, int64_t now_ms);

/*
 * How long to wait, from now, before sending a batch (a new one or a retry).
 * backlogged: more than this batch waits in the log.
 */
int64_t pacer_wait_ms(const struct pacer *pc, int64_t now_ms, bool backlogged);

/*
 * One try of a batch of samples, started at start_ms (after the wait) and
 * answered at now_ms. retry_after_ms: the server's Retry-After, or -1.
 */
void pacer_done(struct pacer *pc, int64_t start_ms, int64_t now_ms, size_t samples,
		bool backlogged, enum pacer_outcome outcome, int retry_after_ms);

/* The limit in force at now_ms, samples/s (cap included); 0 = none. */
double pacer_rate(const struct pacer *pc, int64_t now_ms);

#endif
