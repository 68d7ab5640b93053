/*
 * output.h - the engine that drives the sinks (sink.h): one sender thread
 * per configured output reads the log through the output's own cursor,
 * batches by BATCH_MAX_SAMPLES or BATCH_MAX_DELAY_MS, paces a backlog
 * (pacer.h), hands each batch to its sink and commits the cursor only once
 * the batch is done. The delivery policy lives here, not in the sinks:
 * retries with jittered backoff (honouring Retry-After), the slow retry of
 * a configuration error, the split of a batch the receiver refuses, the
 * dead-letter file and the per-output counters read by /metrics.
 */
#ifndef SW_OUTPUT_H
#define SW_OUTPUT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "bridge/pacer.h"
#include "bridge/sink.h"
#include "bridge/wal.h"
#include "common/backoff.h"
#include "common/config.h"

/* The bridge's stop state, shared by its outputs (all under lock). */
struct output_ctl {
	pthread_mutex_t *lock;
	pthread_cond_t *cond;         /* broadcast when stopping is set */
	const bool *stopping;
	const struct timespec *deadline;  /* CLOCK_REALTIME, valid once stopping */
};

/* What every output shares: the batching and pacing settings. */
struct output_params {
	size_t batch_max;             /* BATCH_MAX_SAMPLES */
	int batch_delay_ms;           /* BATCH_MAX_DELAY_MS */
	long replay_rate;             /* REPLAY_MAX_SAMPLES_PER_S: the pacer's hard cap */
	bool pacing_adaptive;         /* PACING=adaptive */
};

struct output {
	const struct sink_ops *ops;
	void *sink;
	struct wal_reader *reader;    /* set by the bridge once the log is open */
	struct output_ctl ctl;
	struct output_params par;
	pthread_t thread;
	bool started;
	struct backoff backoff;
	struct pacer pacer;           /* sender thread only; pace_* below mirror it */
	char *dl_path;                /* STATE_DIR/<ops->deadletter>; NULL: refusals are only logged */
	bool dl_full;                 /* its size bound was reached (logged once) */
	/* counters, read by the metrics endpoint and the periodic summary */
	_Atomic uint64_t sent;
	_Atomic uint64_t dropped;
	_Atomic uint64_t retries;
	_Atomic uint64_t lost_to_bounds;
	_Atomic uint64_t unreadable;  /* log records that could not be decoded */
	_Atomic uint64_t pace_rate;   /* samples/s the pacer allows now; 0 = no limit */
	_Atomic uint64_t pace_decreases;
};

/*
 * Builds the output's sink from the configuration (its config_map keys and
 * the shared ones). ctl may be NULL (a test: never stopping). Returns 0, or
 * -1 with the sink's reason in err.
 */
int output_init(struct output *o, const struct sink_ops *ops, const struct cfg *c,
		bool dry_run, const struct output_ctl *ctl, const struct output_params *par,
		char *err, size_t errlen);
/*
 * One try of a batch through the sink, with the engine's policy for what
 * the receiver answers (the top of output.c): res says ok (some samples
 * may have been dropped: res->dropped), drop (nothing deliverable) or retry
 * (with res->retry_after_ms, at least SINK_CONFIG_RETRY_MS after a
 * configuration error, and res->reason). Never waits between requests.
 */
void output_send(struct output *o, const struct reading *const *r, size_t n,
		 struct sink_result *res);
/* Starts the sender thread (o->reader must be set). Returns 0 or a negative errno. */
int output_start(struct output *o);
/* Joins the sender thread (after the bridge set stopping) and logs what is left. */
void output_join(struct output *o, bool durable);
void output_release(struct output *o);

/* Appends the output families of /metrics for outs[0..n). Returns the new length. */
size_t output_metrics(const struct output *outs, size_t n, char *buf, size_t len, size_t at);
/* " name: sent=.. dropped=.. lost=.. unreadable=.. backlog=..;" for the summary line. */
int output_summary(const struct output *o, char *buf, size_t len);

#endif
