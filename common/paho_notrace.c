/*
 * paho_notrace.c - Paho MQTT C without its debugging instrumentation.
 *
 * Debian builds Paho (libpaho-mqtt-dev) without PAHO_HIGH_PERFORMANCE, so
 * two debugging aids stay compiled into every function of the library:
 *  - FUNC_ENTRY/FUNC_EXIT call StackTrace_entry/StackTrace_exit, which take
 *    one mutex for the whole process, look the calling thread up and copy
 *    the function's name into a per-thread call stack (for a stack dump
 *    after a crash);
 *  - malloc/free/realloc are macros for mymalloc/myfree/myrealloc, which
 *    take a second process-wide mutex and keep every allocation in a
 *    balanced tree (to report leaks at exit).
 * Paho's send and receive threads fight over those two mutexes on every
 * packet. Measured here, draining a 100k backlog at QoS 1 with a bare
 * MQTTAsync client: 15 us of CPU per message with them, 5 without; a third
 * of the time was pthread_mutex_lock/unlock (docs/protocols.md#paho-build).
 *
 * These are the two objects' functions without the bookkeeping: no stack is
 * kept and memory goes straight to the C library (zeroed: see mymalloc). The Makefile links a copy
 * of Debian's archive with those two members (StackTrace.o, Heap.o) taken
 * out and this object put in, so no Paho function refers to them any more.
 * The signatures are Paho's (1.3.x: StackTrace.h, Heap.h, which Debian does
 * not ship): if a Paho release changes them, the link of the archive copy
 * is what tells (tests/integration/test_paho_build.sh checks the programs).
 * The statically linked publisher's two renamed Paho copies (Makefile,
 * common/paho.h) are made from these archive copies, so they get their own
 * renamed copy of these functions too.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Paho's enum LOG_LEVELS travels as an int */
void StackTrace_entry(const char *name, int line, int trace_level);
void StackTrace_exit(const char *name, int line, void *return_value, int trace_level);
void StackTrace_printStack(FILE *dest);
char *StackTrace_get(unsigned long thread, char *buf, int len);
void *mymalloc(char *file, int line, size_t size);
void myfree(char *file, int line, void *p);
void *myrealloc(char *file, int line, void *p, size_t size);
int Heap_initialize(void);
void Heap_terminate(void);

void StackTrace_entry(const char *name, int line, int trace_level)
{
	(void)name, (void)line, (void)trace_level;
}

void StackTrace_exit(const char *name, int line, void *return_value, int trace_level)
{
	(void)name, (void)line, (void)return_value, (void)trace_level;
}

void StackTrace_printStack(FILE *dest)
{
	(void)dest;
}

char *StackTrace_get(unsigned long thread, char *buf, int len)
{
	(void)thread;
	if (buf && len > 0)
		buf[0] = '\0';
	return buf;
}

/*
 * Zeroed: Paho 1.3.12 reads a 3.1.1 CONNACK into a malloc'd struct whose
 * MQTT 5 properties it never sets, then frees them (MQTTPacket_freeConnack).
 * Heap.c's myfree ignored a pointer it had not handed out; free() does not
 * (test_mqtt_version_auto crashed on garbage). Zeroed, such a field is
 * NULL, which free() takes.
 *
 * malloc and memset, not calloc: glibc's calloc (2.36, Debian 12) never
 * takes a block from the thread's cache (tcache), while free() puts every
 * block back into it. With some six blocks per message the cache's bins
 * stay full, each free goes on to _int_free and each calloc to _int_malloc:
 * callgrind of a drain put 2.2k instructions per message there, a tenth of
 * Paho's receive thread. Through malloc both take the cache's fast path.
 */
/* read through a volatile pointer: GCC and clang would otherwise fold the
 * malloc and memset below back into calloc */
static void *(*volatile plain_malloc)(size_t) = malloc;

void *mymalloc(char *file, int line, size_t size)
{
	(void)file, (void)line;
	if (!size)
		size = 1;
	void *p = plain_malloc(size);
	if (p)
		memset(p, 0, size);
	return p;
}

void myfree(char *file, int line, void *p)
{
	(void)file, (void)line;
	free(p);
}

void *myrealloc(char *file, int line, void *p, size_t size)
{
	(void)file, (void)line;
	return realloc(p, size);
}

int Heap_initialize(void)
{
	return 0;
}

void Heap_terminate(void)
{
}
