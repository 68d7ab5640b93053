/*
 * statedir.h - one bridge per STATE_DIR.
 *
 * The log's last segment is written through a shared mapping, its torn tail
 * is cut when the log is opened, and the MQTT session state lives beside it:
 * a second process opening the same directory would cut the live segment
 * under the first one's mapping (SIGBUS) and fight over the session. So a
 * bridge that uses STATE_DIR first takes an exclusive flock() on
 * STATE_DIR/bridge.lock and holds it until it exits (the kernel drops it
 * when the process dies, whatever the way); the file holds the holder's
 * PID, for the error message of the next one.
 *
 * statedir_check() is the read-only look of --check-config: it creates,
 * writes, truncates and locks nothing.
 */
#ifndef SW_STATEDIR_H
#define SW_STATEDIR_H

#include <stddef.h>

#define STATEDIR_LOCK_NAME "bridge.lock"

/*
 * Creates dir if it is missing (one level, mode 0700), then locks it.
 * Returns the lock's file descriptor (keep it open: closing it unlocks), or
 * -1 with a message in err, naming the directory and, when the lock is
 * held, the PID of its holder.
 */
int statedir_lock(const char *dir, char *err, size_t errlen);

/*
 * Says in msg whether the bridge could use dir, without changing anything:
 * it exists and is a writable directory, or it does not exist and its parent
 * is one (the bridge creates it); and whether the lock file names a running
 * sensor-bridge. Returns 0 when usable, -1 when not (msg says why).
 */
int statedir_check(const char *dir, char *msg, size_t msglen);

#endif
