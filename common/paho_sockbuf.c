/*
 * paho_sockbuf.c - Paho MQTT C reading its sockets in chunks.
 *
 * Paho's Socket.c reads each MQTT packet with one recv() per byte of the
 * fixed header (the type byte, then each byte of the remaining length) and
 * one more for the body, and calls poll() twice before each packet: its
 * write set (is the socket writable?) and its read set. A QoS 1 PUBLISH of
 * a reading costs 4 recv and 2 poll calls, plus the writev of its PUBACK:
 * draining a backlog, that was most of the bridge's receive thread
 * (docs/protocols.md G14).
 *
 * The Makefile renames, in Socket.o alone, Paho's calls to recv, poll,
 * writev and close to the functions below (objcopy --redefine-sym), so
 * nothing else in a program is touched. They keep a read buffer per socket:
 *  - sw_paho_recv fills it with one recv() of up to SOCKBUF_SIZE bytes and
 *    hands it out in the small pieces Paho asks for; a read at least as big
 *    as the buffer, with nothing buffered, goes straight to the caller;
 *  - sw_paho_poll answers a poll for reading without a system call when a
 *    socket in the set has bytes buffered (the kernel cannot know about
 *    them). Paho polls for writing before each packet too, and reads only
 *    from a socket it may write to (for the PUBACK); that poll is answered
 *    "writable" without a system call only while every socket in it has
 *    bytes buffered and its last write went out whole. Otherwise (a socket
 *    still connecting has written nothing; a write cut short means a full
 *    send buffer; a TLS socket writes through OpenSSL, not here, and its
 *    reads leave nothing buffered) the kernel answers. Should the socket
 *    have filled since, the next write is cut short, Paho queues the rest
 *    as it does for any short write, and the kernel answers again;
 *  - sw_paho_writev notes whether each write went out whole;
 *  - sw_paho_close forgets the socket before closing it, so a new socket
 *    with the same number starts empty.
 * Byte order and end of stream are the kernel's: the buffer only ever holds
 * bytes a real recv() returned, and an end of stream or an error is seen
 * once they are handed out. A TLS connection reads through OpenSSL, which
 * does not come here; the bytes of a proxy's CONNECT answer do, and the
 * buffer never holds more than the proxy sent before the client spoke (a
 * TLS or MQTT server waits for the client's first bytes).
 * Any thread may call these (Paho closes sockets from several); one mutex
 * guards the table. With all SOCKBUF_SLOTS in use a socket is read
 * unbuffered, as before.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "paho_sockbuf.h"

struct sockbuf {
	int fd;          /* -1: slot free */
	int wrote_whole; /* the last write went out whole */
	size_t start, end;
	char *buf;
};

static struct sockbuf slots[SOCKBUF_SLOTS] = {
	[0 ... SOCKBUF_SLOTS - 1] = { .fd = -1 },
};
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sockbuf_stats stats;

static struct sockbuf *find(int fd)
{
	for (int i = 0; i < SOCKBUF_SLOTS; i++)
		if (slots[i].fd == fd)
			return &slots[i];
	return NULL;
}

/* the socket's slot, taken if it has none; NULL when all are in use */
static struct sockbuf *take(int fd)
{
	struct sockbuf *s = find(fd);
	if (s)
		return s;
	if (!(s = find(-1)))
		return NULL;
	if (!s->buf && !(s->buf = malloc(SOCKBUF_SIZE)))
		return NULL;
	s->fd = fd;
	s->start = s->end = 0;
	s->wrote_whole = 0;
	return s;
}

ssize_t sw_paho_recv(int fd, void *dst, size_t len, int flags)
{
	if (len == 0 || flags != 0)
		return recv(fd, dst, len, flags);
	pthread_mutex_lock(&lock);
	struct sockbuf *s = take(fd);
	ssize_t n;
	if (!s) {
		pthread_mutex_unlock(&lock);
		return recv(fd, dst, len, flags);
	}
	if (s->start == s->end) {
		if (len >= SOCKBUF_SIZE) {
			n = recv(fd, dst, len, 0);
			stats.recv_calls++;
			pthread_mutex_unlock(&lock);
			return n;
		}
		n = recv(fd, s->buf, SOCKBUF_SIZE, 0);
		stats.recv_calls++;
		if (n <= 0) {
			int e = errno;
			pthread_mutex_unlock(&lock);
			errno = e;
			return n;
		}
		s->start = 0;
		s->end = (size_t)n;
	}
	n = (ssize_t)(s->end - s->start < len ? s->end - s->start : len);
	memcpy(dst, s->buf + s->start, (size_t)n);
	s->start += (size_t)n;
	stats.reads++;
	pthread_mutex_unlock(&lock);
	return n;
}

static int buffered(int fd)
{
	const struct sockbuf *s = find(fd);
	return s && s->start < s->end;
}

/* a poll that the buffers answer: the number of sockets ready, their
 * revents set (POLLIN: bytes buffered; POLLOUT: see the top) and the
 * others' 0; 0 when the kernel must answer */
static int answer(struct pollfd *fds, nfds_t n)
{
	int ready = 0;
	for (nfds_t i = 0; i < n; i++)
		if (fds[i].events & POLLIN)
			ready += buffered(fds[i].fd);
	if (ready) {
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = (fds[i].events & POLLIN) && buffered(fds[i].fd) ? POLLIN : 0;
		return ready;
	}
	for (nfds_t i = 0; i < n; i++) {
		const struct sockbuf *s = find(fds[i].fd);
		if (fds[i].events != POLLOUT || !s || s->start == s->end || !s->wrote_whole)
			return 0;
	}
	for (nfds_t i = 0; i < n; i++)
		fds[i].revents = POLLOUT;
	return (int)n;
}

int sw_paho_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	pthread_mutex_lock(&lock);
	int ready = answer(fds, n);
	if (ready)
		stats.polls_answered++;
	else
		stats.poll_calls++;
	pthread_mutex_unlock(&lock);
	return ready ? ready : poll(fds, n, timeout);
}

ssize_t sw_paho_writev(int fd, const struct iovec *iov, int count)
{
	size_t want = 0;
	for (int i = 0; i < count; i++)
		want += iov[i].iov_len;
	ssize_t n = writev(fd, iov, count);
	int e = errno;
	pthread_mutex_lock(&lock);
	struct sockbuf *s = find(fd);
	if (s)
		s->wrote_whole = n >= 0 && (size_t)n == want;
	pthread_mutex_unlock(&lock);
	errno = e;
	return n;
}

int sw_paho_close(int fd)
{
	pthread_mutex_lock(&lock);
	struct sockbuf *s = find(fd);
	if (s)
		s->fd = -1; /* the buffer stays for the next socket */
	pthread_mutex_unlock(&lock);
	return close(fd);
}

void sw_paho_sockbuf_stats(struct sockbuf_stats *out)
{
	pthread_mutex_lock(&lock);
	*out = stats;
	pthread_mutex_unlock(&lock);
}
