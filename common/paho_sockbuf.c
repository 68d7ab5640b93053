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
 *  - sw_paho_flush sends what is held on every socket: common/mqtt.c calls
 *    it before a callback holds Paho's receive thread for long (a message
 *    the log cannot take yet), so the broker has the PUBACKs of what was
 *    stored before it (Paho believes them sent, and sends no PINGREQ
 *    while they wait);
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
#include <stdint.h>
#include <string.h>
#include <time.h>
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
	size_t out_len;  /* PUBACKs held back, not yet sent */
	char *out;       /* SOCKBUF_OUT bytes */
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
	if (!s->out && !(s->out = malloc(SOCKBUF_OUT)))
		return NULL;
	s->fd = fd;
	s->start = s->end = s->out_len = 0;
	s->wrote_whole = 0;
	return s;
}

/*
 * Sends what is held back (lock held). 1: all sent; 0: the socket took only
 * part or none (the rest stays, and the kernel answers polls for writing
 * until a write goes out whole); -1: the connection failed (what was held
 * is dropped: Paho sees the failure on its next read or write, and the
 * broker sends the unacknowledged messages again on the next connection).
 */
static int flush(struct sockbuf *s)
{
	while (s->out_len) {
		ssize_t n = send(s->fd, s->out, s->out_len, MSG_NOSIGNAL);
		stats.flushes++;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			s->wrote_whole = 0;
			return 0;
		}
		if (n <= 0) {
			s->out_len = 0;
			s->wrote_whole = 0;
			return -1;
		}
		memmove(s->out, s->out + n, s->out_len - (size_t)n);
		s->out_len -= (size_t)n;
	}
	return 1;
}

/* flush(), best effort, errno kept (s may be NULL) */
static void flush_quiet(struct sockbuf *s)
{
	if (s && s->out_len) {
		int e = errno;
		flush(s);
		errno = e;
	}
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
		/* about to wait for the broker: it gets the held PUBACKs first */
		flush_quiet(s);
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

/* sockets of the set with PUBACKs still held after a flush (lock held) */
static int owing(const struct pollfd *fds, nfds_t n)
{
	int k = 0;
	for (nfds_t i = 0; i < n; i++) {
		struct sockbuf *s = find(fds[i].fd);
		if (s && s->out_len && flush(s) == 0)
			k++;
	}
	return k;
}

/*
 * The kernel's poll, while held PUBACKs wait for room in a socket: it also
 * waits for those sockets to be writable, sends what they take, and returns
 * only for what the caller asked about (or at the caller's timeout), so the
 * broker is never left waiting for acknowledgements while Paho sleeps.
 */
static int poll_owing(struct pollfd *fds, nfds_t n, int timeout)
{
	struct pollfd tmp[SOCKBUF_SLOTS * 2];
	if (n > sizeof tmp / sizeof tmp[0])
		return poll(fds, n, timeout);
	uint64_t deadline = 0;
	struct timespec ts;
	if (timeout > 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		deadline = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + (uint64_t)timeout;
	}
	for (;;) {
		pthread_mutex_lock(&lock);
		for (nfds_t i = 0; i < n; i++) {
			const struct sockbuf *s = find(fds[i].fd);
			tmp[i] = fds[i];
			if (s && s->out_len)
				tmp[i].events |= POLLOUT;
		}
		pthread_mutex_unlock(&lock);
		int r = poll(tmp, n, timeout);
		if (r < 0)
			return r;
		int ready = 0;
		pthread_mutex_lock(&lock);
		for (nfds_t i = 0; i < n; i++) {
			struct sockbuf *s = find(fds[i].fd);
			if (s && s->out_len && (tmp[i].revents & (POLLOUT | POLLERR | POLLHUP)))
				flush(s);
			fds[i].revents = tmp[i].revents & (fds[i].events | POLLERR | POLLHUP | POLLNVAL);
			ready += fds[i].revents != 0;
		}
		int left = owing(fds, n);
		pthread_mutex_unlock(&lock);
		if (ready || !left || timeout == 0 || r == 0)
			return ready;
		if (timeout > 0) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
			if (now >= deadline)
				return 0;
			timeout = (int)(deadline - now);
		}
	}
}

int sw_paho_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	pthread_mutex_lock(&lock);
	int ready = answer(fds, n);
	int left = ready ? 0 : owing(fds, n);
	if (ready)
		stats.polls_answered++;
	else
		stats.poll_calls++;
	pthread_mutex_unlock(&lock);
	if (ready)
		return ready;
	return left ? poll_owing(fds, n, timeout) : poll(fds, n, timeout);
}

/* a PUBACK: type 4 in the fixed header's first byte (MQTT 3.1.1 and 5) */
static int is_puback(const struct iovec *iov, int count)
{
	return count > 0 && iov[0].iov_len > 0 && ((const unsigned char *)iov[0].iov_base)[0] == 0x40;
}

ssize_t sw_paho_writev(int fd, const struct iovec *iov, int count)
{
	size_t want = 0;
	for (int i = 0; i < count; i++)
		want += iov[i].iov_len;
	pthread_mutex_lock(&lock);
	struct sockbuf *s = find(fd);
	/* a PUBACK while more input waits in the buffer: held back, and sent
	 * with the others when the buffer runs dry (the PUBACK of its last
	 * message, the next read from the kernel or poll), or before any other
	 * write; the broker gets them in one segment instead of one each */
	if (s && s->wrote_whole && s->start < s->end && is_puback(iov, count) &&
	    s->out_len + want <= SOCKBUF_OUT) {
		for (int i = 0; i < count; i++) {
			memcpy(s->out + s->out_len, iov[i].iov_base, iov[i].iov_len);
			s->out_len += iov[i].iov_len;
		}
		stats.writes_held++;
		pthread_mutex_unlock(&lock);
		return (ssize_t)want;
	}
	if (s && s->out_len) {
		int r = flush(s);
		if (r <= 0) {
			/* what was held goes first: this write waits (Paho keeps it
			 * and writes it when the socket is writable) or fails */
			pthread_mutex_unlock(&lock);
			errno = r == 0 ? EAGAIN : EPIPE;
			return -1;
		}
	}
	ssize_t n = writev(fd, iov, count);
	int e = errno;
	if (s)
		s->wrote_whole = n >= 0 && (size_t)n == want;
	pthread_mutex_unlock(&lock);
	errno = e;
	return n;
}

int sw_paho_shutdown(int fd, int how)
{
	pthread_mutex_lock(&lock);
	flush_quiet(find(fd));
	pthread_mutex_unlock(&lock);
	return shutdown(fd, how);
}

int sw_paho_close(int fd)
{
	pthread_mutex_lock(&lock);
	struct sockbuf *s = find(fd);
	if (s) {
		flush_quiet(s); /* the PUBACKs before the FIN */
		s->fd = -1;   /* the buffers stay for the next socket */
		s->out_len = 0;
	}
	pthread_mutex_unlock(&lock);
	return close(fd);
}

void sw_paho_flush(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < SOCKBUF_SLOTS; i++)
		if (slots[i].fd >= 0)
			flush_quiet(&slots[i]);
	pthread_mutex_unlock(&lock);
}

void sw_paho_sockbuf_stats(struct sockbuf_stats *out)
{
	pthread_mutex_lock(&lock);
	*out = stats;
	pthread_mutex_unlock(&lock);
}
