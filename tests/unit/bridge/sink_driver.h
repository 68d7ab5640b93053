/*
 * sink_driver.h - a sink under test behind the engine that drives it
 * (bridge/output.h), without a bridge: output_send() is one try of a batch
 * with the engine's policy (splits, dead letters, the slow retry of a
 * configuration error). Include after cmocka.h.
 */
#ifndef SW_TEST_SINK_DRIVER_H
#define SW_TEST_SINK_DRIVER_H

#include <stdlib.h>

#include "bridge/output.h"

/* The output of ops built from c; fails the test when the sink refuses c. */
static inline struct output *drive(const struct sink_ops *ops, const struct cfg *c,
				   bool dry_run)
{
	char err[256] = "";
	struct output_params par = { .batch_max = 1000, .batch_delay_ms = 1000 };
	struct output *o = calloc(1, sizeof(*o));
	if (!o)
		fail_msg("out of memory");
	if (output_init(o, ops, c, dry_run, NULL, &par, err, sizeof(err)) < 0)
		fail_msg("create: %s", err);
	return o;
}

static inline void undrive(struct output *o)
{
	output_release(o);
	free(o);
}

#endif
