/*
 * clock.c - see clock.h.
 */
#include <sys/types.h>
#include <time.h>

#include "common/clock.h"

/*
 * Every file of both programs is built with 64-bit off_t and time_t (the
 * Makefile's LFS flags), also on 32-bit ARM: log segments past 2 GiB, readdir
 * on ext4's 64-bit directory offsets, and times past 2038. A build without
 * them stops here rather than misbehaving on a Pi.
 */
_Static_assert(sizeof(off_t) == 8, "off_t must be 64-bit: build with -D_FILE_OFFSET_BITS=64");
_Static_assert(sizeof(time_t) == 8, "time_t must be 64-bit: build with -D_TIME_BITS=64");

int64_t clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec clock_deadline_ms(int64_t ms)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	if (ms < 0)
		ms = 0;
	t.tv_sec += (time_t)(ms / 1000);
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

int64_t clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec clock_ms_ts(int64_t ms)
{
	if (ms < 0)
		ms = 0;
	return (struct timespec){ .tv_sec = (time_t)(ms / 1000),
				  .tv_nsec = (long)(ms % 1000) * 1000000L };
}
