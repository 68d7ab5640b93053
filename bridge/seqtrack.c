/*
 * seqtrack.c - gap and duplicate accounting per topic (see seqtrack.h).
 * An open-addressing hash table of fixed size; when full, the slot a new
 * topic lands on is reused (the oldest entries are simply forgotten, which
 * only costs one SEQ_FIRST later).
 */
#include "bridge/seqtrack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	uint64_t hash;
	char *topic;
	char boot[17];
	uint64_t last;
};

struct seqtrack {
	struct entry *slots;
	size_t cap;
	size_t used;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct seqtrack *seqtrack_new(size_t max_topics)
{
	struct seqtrack *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cap = 16;
	while (t->cap < max_topics * 2)
		t->cap *= 2;
	t->slots = calloc(t->cap, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	return t;
}

void seqtrack_free(struct seqtrack *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap; i++)
		free(t->slots[i].topic);
	free(t->slots);
	free(t);
}

enum seq_event seqtrack_see(struct seqtrack *t, const char *topic, const char *boot,
			    uint64_t seq, uint64_t *missing)
{
	uint64_t h = fnv1a(topic);
	size_t i = h & (t->cap - 1);
	struct entry *e = NULL;
	for (size_t probe = 0; probe < 8; probe++) {
		struct entry *s = &t->slots[(i + probe) & (t->cap - 1)];
		if (!s->topic || (s->hash == h && strcmp(s->topic, topic) == 0)) {
			e = s;
			break;
		}
	}
	*missing = 0;
	if (!e || !e->topic) {
		if (!e) {
			e = &t->slots[i];   /* table crowded here: forget the old entry */
			free(e->topic);
			e->topic = NULL;
		}
		e->topic = strdup(topic);
		if (!e->topic)
			return SEQ_FIRST;
		e->hash = h;
		snprintf(e->boot, sizeof(e->boot), "%s", boot);
		e->last = seq;
		t->used++;
		return SEQ_FIRST;
	}
	if (strcmp(e->boot, boot) != 0) {
		snprintf(e->boot, sizeof(e->boot), "%s", boot);
		e->last = seq;
		return SEQ_FIRST;
	}
	if (seq <= e->last)
		return SEQ_DUPLICATE;
	enum seq_event ev = seq == e->last + 1 ? SEQ_NEXT : SEQ_GAP;
	if (ev == SEQ_GAP)
		*missing = seq - e->last - 1;
	e->last = seq;
	return ev;
}
