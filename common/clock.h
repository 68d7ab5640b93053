/*
 * clock.h - the two clock readings every thread here needs: wall-clock
 * milliseconds (reading time stamps) and an absolute deadline for
 * pthread_cond_timedwait, which measures against CLOCK_REALTIME.
 */
#ifndef SW_CLOCK_H
#define SW_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Unix time in milliseconds. */
int64_t clock_now_ms(void);
/* CLOCK_REALTIME now + ms, normalised: a deadline for pthread_cond_timedwait. */
struct timespec clock_deadline_ms(int64_t ms);

#endif
