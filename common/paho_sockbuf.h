/*
 * paho_sockbuf.h - the read buffers under Paho's Socket.c (paho_sockbuf.c).
 * Paho's own calls reach these through the renamed Socket.o the Makefile
 * puts in its archive copy; tests and benchmarks call them directly.
 */
#ifndef SW_PAHO_SOCKBUF_H
#define SW_PAHO_SOCKBUF_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define SOCKBUF_SIZE  16384 /* bytes read at once: about 100 readings */
#define SOCKBUF_SLOTS 16    /* sockets buffered at once; more read unbuffered */
#define SOCKBUF_OUT   4096  /* PUBACKs held back per socket at most (1000 of MQTT 3.1.1) */

struct sockbuf_stats {
	uint64_t reads;          /* reads handed out from a buffer */
	uint64_t recv_calls;     /* recv() system calls made for them */
	uint64_t polls_answered; /* polls answered without a system call */
	uint64_t poll_calls;     /* polls passed to the kernel */
	uint64_t writes_held;    /* PUBACKs held back, to go out together */
	uint64_t flushes;        /* send() calls that sent them */
};

ssize_t sw_paho_recv(int fd, void *dst, size_t len, int flags);
int sw_paho_poll(struct pollfd *fds, nfds_t n, int timeout);
ssize_t sw_paho_writev(int fd, const struct iovec *iov, int count);
int sw_paho_shutdown(int fd, int how);
void sw_paho_flush(void); /* what is held, on every socket, now */
int sw_paho_close(int fd);
void sw_paho_sockbuf_stats(struct sockbuf_stats *out);

#endif
