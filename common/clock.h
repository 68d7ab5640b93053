/*
 * clock.h - the clock readings every thread here needs: wall-clock
 * milliseconds (reading time stamps), an absolute deadline for
 * pthread_cond_timedwait, which measures against CLOCK_REALTIME unless the
 * condition variable was set to CLOCK_MONOTONIC, and monotonic milliseconds
 * (schedules, ages, deadlines that a clock step must not move).
 */
#ifndef SW_CLOCK_H
#define SW_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Unix time in milliseconds. */
int64_t clock_now_ms(void);
/* CLOCK_REALTIME now + ms, normalised: a deadline for pthread_cond_timedwait. */
struct timespec clock_deadline_ms(int64_t ms);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t clock_mono_ms(void);
/*
 * ms (>= 0; less is taken as 0) as a timespec: a CLOCK_MONOTONIC time from
 * clock_mono_ms() for pthread_cond_timedwait on a condition variable set to
 * that clock (pthread_condattr_setclock), or a duration (nanosleep,
 * sigtimedwait).
 */
struct timespec clock_ms_ts(int64_t ms);

#endif
