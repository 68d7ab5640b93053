/*
 * pacer.c - the output's adaptive rate (see pacer.h for the model).
 *
 * The growth between signals is CUBIC's window curve (RFC 9438 §4.2) used
 * as a rate: rate(t) = W_max * (1 + c * (t - K)^3), t the time since the
 * decrease, K = recover_ms (or retry_after_recover x the Retry-After that
 * came with it, if longer) and c = (1 - beta) / K^3, so that rate(0) is
 * beta * W_max and rate(K) is W_max again. Fixing K instead of c makes the
 * cycle in a steady throttled regime last about the same few seconds at any
 * rate, so the number of decreases (and of retries they cost) per minute
 * does not grow with the store's speed.
 */
#include "bridge/pacer.h"

#include <stdint.h>

/* grown this far past W_max with no new signal, the limit lifts */
#define PACER_LIFT 16.0

void pacer_defaults(struct pacer_params *p)
{
	*p = (struct pacer_params){
		.cap = 0,
		.adaptive = true,
		.min_rate = 100,
		.beta_error = 0.5,
		.beta_latency = 0.7,
		.recover_ms = 3000,
		.retry_after_recover = 4,
		.latency_factor = 3,
		.latency_slack_ms = 50,
		.latency_slow_batches = 2,
		.full_samples = 500,
		.latency_window_ms = 10000,
		.retry_after_max_ms = 30000,
	};
}

void pacer_init(struct pacer *pc, const struct pacer_params *p, int64_t now_ms)
{
	*pc = (struct pacer){ .p = *p };
	if (pc->p.recover_ms < 1)
		pc->p.recover_ms = 1;
	if (pc->p.min_rate <= 0)
		pc->p.min_rate = 1;
	if (pc->p.latency_slow_batches < 1)
		pc->p.latency_slow_batches = 1;
	pc->k_ms = pc->p.recover_ms;
	pc->last_done_ms = -1;
	pc->lat_min = pc->lat_min_prev = INT64_MAX;
	pc->lat_window_ms = now_ms;
	pc->decreased_ms = INT64_MIN;
}

/* The adaptive rate at now (limited only). */
static double curve(const struct pacer *pc, int64_t now_ms)
{
	double k = (double)pc->k_ms / 1000.0;
	double t = (double)(now_ms - pc->epoch_ms) / 1000.0 - k;
	double c = (1.0 - pc->beta) / (k * k * k);  /* rate(0) = beta * w_max */
	double r = pc->w_max * (1.0 + c * t * t * t);
	return r < pc->p.min_rate ? pc->p.min_rate : r;
}

double pacer_rate(const struct pacer *pc, int64_t now_ms)
{
	double r = 0;
	if (pc->p.adaptive && pc->limited)
		r = curve(pc, now_ms);
	if (pc->p.cap > 0 && (r == 0 || r > pc->p.cap))
		r = pc->p.cap;
	return r;
}

int64_t pacer_wait_ms(const struct pacer *pc, int64_t now_ms, bool backlogged)
{
	int64_t w = 0;
	if (pc->not_before_ms > now_ms)
		w = pc->not_before_ms - now_ms;
	if (backlogged && pc->next_ms - now_ms > w)
		w = pc->next_ms - now_ms;
	return w;
}

/*
 * A congestion signal at now for a try started at start_ms. The rate to cut
 * from is what the store was taking: the limit in force, or less if less
 * was delivered. With no limit in force and no backlog, the sender was
 * only keeping up with arrivals, which says nothing of the store's
 * capacity: no limit is set then (the retry backoff spaces the tries).
 */
static bool decrease(struct pacer *pc, int64_t start_ms, int64_t now_ms, bool backlogged,
		     double beta, int64_t retry_after_ms)
{
	if (!pc->p.adaptive || start_ms < pc->decreased_ms)
		return false;  /* sent before the last decrease: its answer is old news */
	double base = 0;
	if (pc->limited)
		base = curve(pc, now_ms);
	if (backlogged && pc->tput > 0 && (base == 0 || pc->tput < base))
		base = pc->tput;
	if (pc->p.cap > 0 && (base == 0 || base > pc->p.cap))
		base = pc->p.cap;
	if (base <= 0)
		return false;
	/* CUBIC's fast convergence: cut again at or below the last plateau, the
	 * store's rate is below it, and the curve levels off lower */
	double w = base;
	if (pc->limited && base <= pc->w_max)
		w = base * (1.0 + beta) / 2.0;
	pc->w_max = w;
	pc->beta = beta * base / w;  /* rate(0) = beta * base */
	/* a probe past the store's rate costs what its Retry-After says: the
	 * dearer the probe, the longer the climb back, so it comes that much
	 * less often */
	pc->k_ms = pc->p.recover_ms;
	if (retry_after_ms > 0 && pc->p.retry_after_recover * (double)retry_after_ms > (double)pc->k_ms)
		pc->k_ms = (int64_t)(pc->p.retry_after_recover * (double)retry_after_ms);
	pc->epoch_ms = pc->decreased_ms = now_ms;
	pc->limited = true;
	pc->slow = 0;
	pc->decreases++;
	return true;
}

/* Latency of a full batch against the recent minimum; true if a signal. */
static bool latency_signal(struct pacer *pc, int64_t now_ms, int64_t start_ms, int64_t lat)
{
	if (now_ms - pc->lat_window_ms >= pc->p.latency_window_ms) {
		pc->lat_min_prev = pc->lat_min;
		pc->lat_min = INT64_MAX;
		pc->lat_window_ms = now_ms;
	}
	int64_t base = pc->lat_min < pc->lat_min_prev ? pc->lat_min : pc->lat_min_prev;
	if (lat < pc->lat_min)
		pc->lat_min = lat;
	if (base == INT64_MAX)
		return false;
	bool slow = (double)lat > pc->p.latency_factor * (double)base &&
		    lat > base + pc->p.latency_slack_ms;
	/* only batches sent after the last decrease show whether it helped */
	if (start_ms < pc->decreased_ms)
		return false;
	pc->slow = (pc->slow << 1 | slow) & 0xff;
	return slow && (unsigned)__builtin_popcount(pc->slow) >= pc->p.latency_slow_batches;
}

void pacer_done(struct pacer *pc, int64_t start_ms, int64_t now_ms, size_t samples,
		bool backlogged, enum pacer_outcome outcome, int retry_after_ms)
{
	if (outcome == PACER_FAILED) {
		int64_t ra = retry_after_ms;
		if (ra > pc->p.retry_after_max_ms)
			ra = pc->p.retry_after_max_ms;
		if (ra >= 0)
			pc->not_before_ms = now_ms + ra;
		if (!pc->failing) {
			pc->failing = true;
			pc->failing_since_ms = now_ms;
			decrease(pc, start_ms, now_ms, backlogged, pc->p.beta_error, ra);
		}
		return;
	}
	if (pc->failing) {
		/* the curve does not grow while the store refuses: after an
		 * outage it resumes where the first failure left it */
		if (pc->limited)
			pc->epoch_ms += now_ms - pc->failing_since_ms;
		pc->failing = false;
	}
	/* delivered rate, over batches sent back to back from a backlog: the
	 * time since the last delivered one, failed tries and waits included */
	if (backlogged && pc->last_done_ms >= 0 && now_ms > pc->last_done_ms) {
		double inst = (double)samples * 1000.0 / (double)(now_ms - pc->last_done_ms);
		pc->tput = pc->tput > 0 ? 0.7 * pc->tput + 0.3 * inst : inst;
	}
	pc->last_done_ms = backlogged ? now_ms : -1;

	if (pc->p.adaptive && samples >= pc->p.full_samples &&
	    latency_signal(pc, now_ms, start_ms, now_ms - start_ms) &&
	    decrease(pc, start_ms, now_ms, backlogged, pc->p.beta_latency, -1))
		pc->latency_decreases++;
	if (pc->limited && curve(pc, now_ms) > PACER_LIFT * pc->w_max)
		pc->limited = false;
	double r = pacer_rate(pc, now_ms);
	pc->next_ms = r > 0 ? start_ms + (int64_t)((double)samples * 1000.0 / r) : 0;
}
