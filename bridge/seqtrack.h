/*
 * seqtrack.h - per publisher sensor (topic), follows "boot" and "seq" to
 * count readings that never arrived (gaps) and ones that arrived twice
 * (duplicates, e.g. QoS1 redelivery). Pure bookkeeping, no I/O.
 */
#ifndef SW_SEQTRACK_H
#define SW_SEQTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct seqtrack;

enum seq_event {
	SEQ_FIRST,      /* first reading seen for this topic or boot */
	SEQ_NEXT,       /* seq == last + 1 */
	SEQ_GAP,        /* seq > last + 1: *missing readings never arrived */
	SEQ_DUPLICATE,  /* seq <= last in the same boot: seen before, or too old to tell */
	SEQ_LATE,       /* seq < last, within SEQTRACK_WINDOW of it and not seen: one of
			   the readings an earlier SEQ_GAP counted as missing, arriving late */
};

/* How far below the newest seq of a topic the tracker knows which arrived. */
#define SEQTRACK_WINDOW 64

/* max_topics bounds memory; beyond it the least recently added topic is forgotten. */
struct seqtrack *seqtrack_new(size_t max_topics);
void seqtrack_free(struct seqtrack *t);
enum seq_event seqtrack_see(struct seqtrack *t, const char *topic, const char *boot,
			    uint64_t seq, uint64_t *missing);
/*
 * True when this very reading (topic, boot, seq) was seen: a redelivery of
 * one already taken. Only within SEQTRACK_WINDOW of the topic's newest seq;
 * older seqs, other boots and unknown topics are false. Changes nothing.
 */
bool seqtrack_seen(struct seqtrack *t, const char *topic, const char *boot, uint64_t seq);

#endif
