/*
 * test_paho_sockbuf.c - the read buffers under Paho's Socket.c
 * (common/paho_sockbuf.c) over real sockets (socketpairs): bytes come out
 * in order and whole in the pieces Paho asks for, with one recv() for many
 * of them; a poll for reading is answered while bytes are buffered and goes
 * to the kernel otherwise; a poll for writing is answered only while bytes
 * are buffered and the last write went out whole (never for a socket that
 * has not written, nor after a short write); PUBACKs written while more
 * input is buffered are held back and reach the peer together, in order,
 * before any other write, before the buffer is refilled, before a poll,
 * shutdown or close, on sw_paho_flush, and once the peer makes room again; EAGAIN, end of stream and errors are the
 * kernel's; a closed socket's bytes never reach a new socket with the same
 * number; and past the last slot, sockets are read unbuffered but right.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <pthread.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/paho_sockbuf.h"

/* a connected pair: sv[0] read through the buffers (non-blocking, as Paho
 * sets its sockets), sv[1] the peer */
static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
}

static void put(int fd, const void *p, size_t n)
{
	assert_int_equal(write(fd, p, n), (ssize_t)n);
}

static struct sockbuf_stats stats(void)
{
	struct sockbuf_stats s;
	sw_paho_sockbuf_stats(&s);
	return s;
}

/* what Paho's MQTTPacket_Factory asks for, packet by packet: the type byte,
 * the remaining length a byte at a time, then the body */
static size_t read_packet(int fd, unsigned char *body, size_t cap)
{
	unsigned char c;
	assert_int_equal(sw_paho_recv(fd, &c, 1, 0), 1);
	assert_int_equal(c, 0x32); /* PUBLISH, QoS 1 */
	size_t len = 0, mul = 1;
	do {
		assert_int_equal(sw_paho_recv(fd, &c, 1, 0), 1);
		len += (c & 127u) * mul;
		mul *= 128;
	} while (c & 128u);
	assert_true(len <= cap);
	assert_int_equal(sw_paho_recv(fd, body, len, 0), (ssize_t)len);
	return len;
}

static size_t make_packet(unsigned char *out, unsigned i, size_t body_len)
{
	size_t n = 0;
	out[n++] = 0x32;
	size_t l = body_len;
	do {
		unsigned char b = l % 128;
		l /= 128;
		out[n++] = b | (l ? 128 : 0);
	} while (l);
	for (size_t k = 0; k < body_len; k++)
		out[n++] = (unsigned char)(i * 31 + k);
	return n;
}

static void test_packets_in_order_few_syscalls(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	enum { PACKETS = 100, BODY = 150 };
	unsigned char pkt[256], body[256];
	for (unsigned i = 0; i < PACKETS; i++)
		put(sv[1], pkt, make_packet(pkt, i, BODY));
	struct sockbuf_stats a = stats();
	for (unsigned i = 0; i < PACKETS; i++) {
		assert_int_equal(read_packet(sv[0], body, sizeof body), BODY);
		for (size_t k = 0; k < BODY; k++)
			assert_int_equal(body[k], (unsigned char)(i * 31 + k));
	}
	struct sockbuf_stats b = stats();
	/* 15.4 KB, under one buffer: one recv() for all 400 reads (Paho alone
	 * would make 400) */
	assert_int_equal(b.reads - a.reads, PACKETS * 4);
	assert_int_equal(b.recv_calls - a.recv_calls, 1);
	/* nothing left: the kernel says EAGAIN, as to Paho */
	unsigned char c;
	assert_int_equal(sw_paho_recv(sv[0], &c, 1, 0), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	sw_paho_close(sv[0]);
	close(sv[1]);
}

static void test_poll_answered_while_buffered(void **state)
{
	(void)state;
	int sv[2], other[2];
	pair(sv);
	pair(other);
	put(sv[1], "abc", 3);
	unsigned char c;
	assert_int_equal(sw_paho_recv(sv[0], &c, 1, 0), 1);
	assert_int_equal(c, 'a');

	/* "bc" is buffered: a poll for reading says so without the kernel, and
	 * says nothing of the other socket (the kernel has nothing for it) */
	struct pollfd fds[2] = {
		{ .fd = sv[0], .events = POLLIN, .revents = POLLHUP },
		{ .fd = other[0], .events = POLLIN, .revents = POLLIN },
	};
	struct sockbuf_stats a = stats();
	assert_int_equal(sw_paho_poll(fds, 2, 1000), 1);
	assert_int_equal(fds[0].revents, POLLIN);
	assert_int_equal(fds[1].revents, 0);
	struct sockbuf_stats b = stats();
	assert_int_equal(b.polls_answered - a.polls_answered, 1);
	assert_int_equal(b.poll_calls - a.poll_calls, 0);

	/* a poll for writing of a socket that has written nothing is the
	 * kernel's (a socket still connecting must not be called writable) */
	struct pollfd w = { .fd = sv[0], .events = POLLOUT };
	assert_int_equal(sw_paho_poll(&w, 1, 0), 1);
	assert_true(w.revents & POLLOUT);
	assert_int_equal(stats().poll_calls - b.poll_calls, 1);

	/* emptied, the kernel answers: nothing to read within 0 ms */
	unsigned char two[2];
	assert_int_equal(sw_paho_recv(sv[0], two, 2, 0), 2);
	assert_memory_equal(two, "bc", 2);
	fds[0].revents = fds[1].revents = 0;
	assert_int_equal(sw_paho_poll(fds, 2, 0), 0);
	/* and the other socket's bytes are seen by the kernel's poll */
	put(other[1], "x", 1);
	assert_int_equal(sw_paho_poll(fds, 2, 1000), 1);
	assert_int_equal(fds[0].revents, 0);
	assert_true(fds[1].revents & POLLIN);

	sw_paho_close(sv[0]);
	sw_paho_close(other[0]);
	close(sv[1]);
	close(other[1]);
}

static ssize_t wv(int fd, const void *p, size_t n)
{
	struct iovec iov = { .iov_base = (void *)p, .iov_len = n };
	return sw_paho_writev(fd, &iov, 1);
}

static void test_write_poll_answered_after_whole_writes(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	int sz = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	put(sv[1], "0123", 4);
	char c;
	assert_int_equal(sw_paho_recv(sv[0], &c, 1, 0), 1);
	/* a whole write (a PUBACK) with bytes still buffered: answered */
	assert_int_equal(wv(sv[0], "ack", 3), 3);
	struct pollfd w = { .fd = sv[0], .events = POLLOUT };
	struct sockbuf_stats a = stats();
	assert_int_equal(sw_paho_poll(&w, 1, 0), 1);
	assert_int_equal(w.revents, POLLOUT);
	assert_int_equal(stats().polls_answered - a.polls_answered, 1);
	assert_int_equal(stats().poll_calls - a.poll_calls, 0);

	/* the peer stops reading: writes fill the socket until one is cut
	 * short; from then on the kernel answers, and says "not writable" */
	static char chunk[65536];
	ssize_t n;
	while ((n = wv(sv[0], chunk, sizeof chunk)) == (ssize_t)sizeof chunk)
		;
	assert_true(n < (ssize_t)sizeof chunk);
	a = stats();
	w.revents = 0;
	assert_int_equal(sw_paho_poll(&w, 1, 0), 0);
	assert_int_equal(w.revents, 0);
	assert_int_equal(stats().poll_calls - a.poll_calls, 1);

	/* drained by the peer, the next whole write makes it answerable again */
	char sink[65536];
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	while (read(sv[1], sink, sizeof sink) > 0)
		;
	assert_int_equal(wv(sv[0], "ack", 3), 3);
	assert_int_equal(sw_paho_poll(&w, 1, 0), 1);
	assert_int_equal(w.revents, POLLOUT);

	/* nothing buffered: the kernel answers, even after a whole write */
	char rest[3];
	assert_int_equal(sw_paho_recv(sv[0], rest, 3, 0), 3);
	a = stats();
	assert_int_equal(sw_paho_poll(&w, 1, 0), 1);
	assert_int_equal(stats().poll_calls - a.poll_calls, 1);
	sw_paho_close(sv[0]);
	close(sv[1]);
}

/* a PUBACK of packet id i, as Paho writes it: fixed header, then the id */
static ssize_t puback(int fd, unsigned i)
{
	unsigned char h[2] = { 0x40, 0x02 }, id[2] = { (unsigned char)(i >> 8), (unsigned char)i };
	struct iovec iov[2] = { { h, 2 }, { id, 2 } };
	return sw_paho_writev(fd, iov, 2);
}

/* bytes the peer has now, without waiting */
static size_t peer_has(int fd, unsigned char *buf, size_t cap)
{
	size_t have = 0;
	for (;;) {
		ssize_t n = recv(fd, buf + have, cap - have, MSG_DONTWAIT);
		if (n <= 0)
			return have;
		have += (size_t)n;
	}
}

static void expect_pubacks(const unsigned char *b, size_t n, unsigned from, unsigned count)
{
	assert_int_equal(n, count * 4);
	for (unsigned k = 0; k < count; k++) {
		assert_int_equal(b[4 * k], 0x40);
		assert_int_equal(b[4 * k + 1], 0x02);
		assert_int_equal((unsigned)(b[4 * k + 2] << 8 | b[4 * k + 3]), from + k);
	}
}

/* sv[0] has read a byte of "more input" and written once, whole */
static void primed(int sv[2])
{
	pair(sv);
	put(sv[1], "0123456789", 10);
	char c;
	assert_int_equal(sw_paho_recv(sv[0], &c, 1, 0), 1);
	assert_int_equal(wv(sv[0], "\x30", 1), 1); /* the CONNECT, say */
	unsigned char b[4];
	assert_int_equal(peer_has(sv[1], b, sizeof b), 1);
}

static void test_pubacks_held_while_input_is_buffered(void **state)
{
	(void)state;
	int sv[2];
	primed(sv);
	unsigned char b[8192];
	struct sockbuf_stats a = stats();
	for (unsigned i = 1; i <= 5; i++)
		assert_int_equal(puback(sv[0], i), 4); /* Paho is told: written */
	assert_int_equal(peer_has(sv[1], b, sizeof b), 0);
	assert_int_equal(stats().writes_held - a.writes_held, 5);
	/* the input runs dry: the next PUBACK (its last message's) takes the
	 * held ones with it, in order, in one send and its own write */
	char rest[9];
	assert_int_equal(sw_paho_recv(sv[0], rest, 9, 0), 9);
	assert_int_equal(puback(sv[0], 6), 4);
	expect_pubacks(b, peer_has(sv[1], b, sizeof b), 1, 6);
	assert_int_equal(stats().flushes - a.flushes, 1);

	/* held, then another packet (a PUBLISH): the PUBACKs go first */
	put(sv[1], "ab", 2);
	char c;
	assert_int_equal(sw_paho_recv(sv[0], &c, 1, 0), 1);
	assert_int_equal(puback(sv[0], 7), 4);
	assert_int_equal(wv(sv[0], "\x32pub", 4), 4);
	size_t n = peer_has(sv[1], b, sizeof b);
	assert_int_equal(n, 8);
	expect_pubacks(b, 4, 7, 1);
	assert_memory_equal(b + 4, "\x32pub", 4);

	/* held, then a read that finds the buffer empty: sent before the
	 * kernel is asked for more (the broker may wait for them) */
	assert_int_equal(puback(sv[0], 8), 4);
	assert_int_equal(sw_paho_recv(sv[0], &c, 1, 0), 1);
	assert_int_equal(peer_has(sv[1], b, sizeof b), 0); /* "b" was buffered */
	put(sv[1], "cd", 2);
	assert_int_equal(puback(sv[0], 9), 4); /* nothing buffered: 8 and 9 go at once */
	expect_pubacks(b, peer_has(sv[1], b, sizeof b), 8, 2);
	assert_int_equal(sw_paho_recv(sv[0], &c, 1, 0), 1); /* refills: "cd" */
	assert_int_equal(puback(sv[0], 10), 4);             /* "d" buffered: held */
	assert_int_equal(peer_has(sv[1], b, sizeof b), 0);
	assert_int_equal(sw_paho_recv(sv[0], &c, 1, 0), 1);
	assert_int_equal(sw_paho_recv(sv[0], &c, 1, 0), -1); /* empty: sent, then EAGAIN */
	expect_pubacks(b, peer_has(sv[1], b, sizeof b), 10, 1);
	sw_paho_close(sv[0]);
	close(sv[1]);
}

static void test_held_pubacks_sent_before_poll_shutdown_close(void **state)
{
	(void)state;
	unsigned char b[64];
	int sv[2];
	/* a poll the kernel answers sends them first */
	primed(sv);
	assert_int_equal(puback(sv[0], 1), 4);
	char rest[9];
	assert_int_equal(sw_paho_recv(sv[0], rest, 9, 0), 9); /* now empty, PUBACK held */
	struct pollfd p = { .fd = sv[0], .events = POLLIN };
	assert_int_equal(sw_paho_poll(&p, 1, 0), 0);
	expect_pubacks(b, peer_has(sv[1], b, sizeof b), 1, 1);
	sw_paho_close(sv[0]);
	close(sv[1]);

	/* sw_paho_flush (common/mqtt.c, before a callback holds the receive
	 * thread): sent now, input still buffered */
	primed(sv);
	assert_int_equal(puback(sv[0], 4), 4);
	assert_int_equal(peer_has(sv[1], b, sizeof b), 0);
	sw_paho_flush();
	expect_pubacks(b, peer_has(sv[1], b, sizeof b), 4, 1);
	sw_paho_close(sv[0]);
	close(sv[1]);

	/* shutdown (Paho's Socket_close_only) and close: before the FIN */
	primed(sv);
	assert_int_equal(puback(sv[0], 2), 4);
	assert_int_equal(sw_paho_shutdown(sv[0], SHUT_WR), 0);
	expect_pubacks(b, peer_has(sv[1], b, sizeof b), 2, 1);
	sw_paho_close(sv[0]);
	close(sv[1]);
	primed(sv);
	assert_int_equal(puback(sv[0], 3), 4);
	assert_int_equal(sw_paho_close(sv[0]), 0);
	expect_pubacks(b, peer_has(sv[1], b, sizeof b), 3, 1);
	assert_int_equal(recv(sv[1], b, 1, MSG_DONTWAIT), 0); /* then the end */
	close(sv[1]);
}

struct drainer {
	int fd;
	size_t got;
	unsigned char *buf;
	size_t cap;
};

static void *drain_later(void *arg)
{
	struct drainer *d = arg;
	struct timespec t = { 0, 200 * 1000000L };
	nanosleep(&t, NULL);
	ssize_t n;
	while ((n = recv(d->fd, d->buf + d->got, d->cap - d->got, 0)) > 0) {
		d->got += (size_t)n;
		if (d->got >= d->cap)
			break;
	}
	return NULL;
}

static void test_held_pubacks_wait_for_room(void **state)
{
	(void)state;
	int sv[2];
	primed(sv);
	int sz = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	for (unsigned i = 1; i <= 20; i++)
		assert_int_equal(puback(sv[0], i), 4); /* held: input is buffered */
	/* the peer stops reading and the socket fills (here by a raw write)
	 * while they are held */
	static unsigned char chunk[65536];
	memset(chunk, 0x31, sizeof chunk);
	while (send(sv[0], chunk, sizeof chunk, MSG_DONTWAIT) > 0)
		;
	/* the input runs dry: the flush finds no room, the PUBACKs stay */
	char rest[9], c;
	assert_int_equal(sw_paho_recv(sv[0], rest, 9, 0), 9);
	struct sockbuf_stats a = stats();
	assert_int_equal(sw_paho_recv(sv[0], &c, 1, 0), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_true(stats().flushes > a.flushes);
	/* Paho sleeps in a poll for reading; the peer drains after 200 ms: the
	 * poll also waits for room, sends the PUBACKs, and returns (with
	 * nothing to read) well before its 5 s timeout */
	static unsigned char got[1 << 22];
	struct drainer d = { .fd = sv[1], .buf = got, .cap = sizeof got };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, drain_later, &d), 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct pollfd r = { .fd = sv[0], .events = POLLIN };
	assert_int_equal(sw_paho_poll(&r, 1, 5000), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 150 && ms < 4000);
	shutdown(sv[0], SHUT_WR);
	pthread_join(th, NULL);
	/* all 20, in order, after the raw bytes */
	assert_true(d.got >= 80);
	expect_pubacks(got + d.got - 80, 80, 1, 20);
	sw_paho_close(sv[0]);
	close(sv[1]);
}

static void test_end_of_stream_after_the_bytes(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	put(sv[1], "hello", 5);
	close(sv[1]);
	char c[8];
	assert_int_equal(sw_paho_recv(sv[0], c, 1, 0), 1);
	assert_int_equal(sw_paho_recv(sv[0], c + 1, 4, 0), 4);
	assert_memory_equal(c, "hello", 5);
	/* then the peer's orderly shutdown, as recv() says it: 0 */
	assert_int_equal(sw_paho_recv(sv[0], c, 1, 0), 0);
	sw_paho_close(sv[0]);
}

static void test_short_and_large_reads(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	/* a body longer than the buffer, asked for at once with nothing
	 * buffered: read straight into the caller's memory */
	static unsigned char big[SOCKBUF_SIZE * 2], got[SOCKBUF_SIZE * 2];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 7);
	put(sv[1], big, sizeof big);
	size_t have = 0;
	while (have < sizeof got) {
		ssize_t n = sw_paho_recv(sv[0], got + have, sizeof got - have, 0);
		assert_true(n > 0);
		have += (size_t)n;
	}
	assert_memory_equal(got, big, sizeof big);

	/* a read bigger than what is buffered returns what is buffered (a short
	 * read, as recv() may); Paho asks again for the rest */
	put(sv[1], "0123456789", 10);
	char c[16];
	assert_int_equal(sw_paho_recv(sv[0], c, 4, 0), 4);
	put(sv[1], "abcdef", 6);
	assert_int_equal(sw_paho_recv(sv[0], c + 4, 12, 0), 6);
	assert_int_equal(sw_paho_recv(sv[0], c + 10, 6, 0), 6);
	assert_memory_equal(c, "0123456789abcdef", 16);
	sw_paho_close(sv[0]);
	close(sv[1]);
}

static void test_closed_socket_forgotten(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	put(sv[1], "stale bytes", 11);
	char c[16];
	assert_int_equal(sw_paho_recv(sv[0], c, 1, 0), 1);
	int fd = sv[0];
	assert_int_equal(sw_paho_close(fd), 0);
	close(sv[1]);

	/* a new connection on the same descriptor number */
	int nv[2];
	pair(nv);
	if (nv[0] != fd) {
		assert_int_equal(dup2(nv[0], fd), fd);
		close(nv[0]);
		nv[0] = fd;
		assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	}
	struct pollfd p = { .fd = fd, .events = POLLIN };
	assert_int_equal(sw_paho_poll(&p, 1, 0), 0); /* nothing stale */
	assert_int_equal(sw_paho_recv(fd, c, 1, 0), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	put(nv[1], "new", 3);
	assert_int_equal(sw_paho_recv(fd, c, 3, 0), 3);
	assert_memory_equal(c, "new", 3);
	sw_paho_close(fd);
	close(nv[1]);
}

static void test_more_sockets_than_slots(void **state)
{
	(void)state;
	enum { N = SOCKBUF_SLOTS + 4 };
	int sv[N][2];
	for (int i = 0; i < N; i++) {
		pair(sv[i]);
		char msg[8] = { 'm', (char)('A' + i), 'x', 'y' };
		put(sv[i][1], msg, 4);
	}
	/* every socket read a byte at a time, round the table: past the last
	 * slot a socket is read unbuffered, and its bytes are still right */
	for (int k = 0; k < 4; k++)
		for (int i = 0; i < N; i++) {
			char c;
			assert_int_equal(sw_paho_recv(sv[i][0], &c, 1, 0), 1);
			const char want[4] = { 'm', (char)('A' + i), 'x', 'y' };
			assert_int_equal(c, want[k]);
		}
	for (int i = 0; i < N; i++) {
		sw_paho_close(sv[i][0]);
		close(sv[i][1]);
	}
}

static void test_flags_and_zero_length_pass_through(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	put(sv[1], "pq", 2);
	char c[2];
	/* a peek is the kernel's and leaves the bytes where they are */
	assert_int_equal(sw_paho_recv(sv[0], c, 2, MSG_PEEK), 2);
	assert_int_equal(sw_paho_recv(sv[0], NULL, 0, 0), 0); /* Socket_close_only's probe */
	assert_int_equal(sw_paho_recv(sv[0], c, 2, 0), 2);
	assert_memory_equal(c, "pq", 2);
	sw_paho_close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_packets_in_order_few_syscalls),
		cmocka_unit_test(test_poll_answered_while_buffered),
		cmocka_unit_test(test_write_poll_answered_after_whole_writes),
		cmocka_unit_test(test_pubacks_held_while_input_is_buffered),
		cmocka_unit_test(test_held_pubacks_sent_before_poll_shutdown_close),
		cmocka_unit_test(test_held_pubacks_wait_for_room),
		cmocka_unit_test(test_end_of_stream_after_the_bytes),
		cmocka_unit_test(test_short_and_large_reads),
		cmocka_unit_test(test_closed_socket_forgotten),
		cmocka_unit_test(test_more_sockets_than_slots),
		cmocka_unit_test(test_flags_and_zero_length_pass_through),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
