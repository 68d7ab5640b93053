/*
 * test_paho_sockbuf.c - the read buffers under Paho's Socket.c
 * (common/paho_sockbuf.c) over real sockets (socketpairs): bytes come out
 * in order and whole in the pieces Paho asks for, with one recv() for many
 * of them; a poll for reading is answered while bytes are buffered and goes
 * to the kernel otherwise; a poll for writing is answered only while bytes
 * are buffered and the last write went out whole (never for a socket that
 * has not written, nor after a short write); EAGAIN, end of stream and errors are the
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
#include <sys/uio.h>
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
		cmocka_unit_test(test_end_of_stream_after_the_bytes),
		cmocka_unit_test(test_short_and_large_reads),
		cmocka_unit_test(test_closed_socket_forgotten),
		cmocka_unit_test(test_more_sockets_than_slots),
		cmocka_unit_test(test_flags_and_zero_length_pass_through),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
