/*
 * seqtrack.c - gap and duplicate accounting per topic (see seqtrack.h).
 * An open-addressing hash table that starts small and doubles up to a size
 * set by max_topics; when that is crowded, the slot a new topic lands on is
 * reused (the oldest entries are simply forgotten, which only costs one
 * SEQ_FIRST later).
 */
#include "bridge/seqtrack.h"
#include "bridge/bytes.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	uint64_t hash;
	char *topic;
	char boot[17];
	uint64_t last;
	uint64_t window;  /* bit k: seq last - k arrived (bit 0: last itself) */
};

struct seqtrack {
	struct entry *slots;
	size_t cap;
	size_t max_cap;
	size_t used;
};

#define SEQ_PROBES 8
#define SEQ_CAP_MIN 64

struct seqtrack *seqtrack_new(size_t max_topics)
{
	struct seqtrack *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->max_cap = SEQ_CAP_MIN;
	while (t->max_cap < max_topics * 4) /* a quarter full with max_topics */
		t->max_cap *= 2;
	t->cap = SEQ_CAP_MIN;
	t->slots = calloc(t->cap, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	return t;
}

/* Doubles the table (below max_cap). Returns false if it could not. */
static bool grow(struct seqtrack *t)
{
	if (t->cap >= t->max_cap)
		return false;
	size_t cap = t->cap * 2;
	struct entry *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return false; /* stays crowded: entries get forgotten sooner */
	for (size_t i = 0; i < t->cap; i++) {
		struct entry *o = &t->slots[i];
		if (!o->topic)
			continue;
		struct entry *dst = NULL;
		for (size_t probe = 0; probe < SEQ_PROBES && !dst; probe++) {
			struct entry *c = &slots[(o->hash + probe) & (cap - 1)];
			if (!c->topic)
				dst = c;
		}
		if (dst) {
			*dst = *o;
		} else {
			free(o->topic);
			t->used--;
		}
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return true;
}

/* The slot of topic, or an empty one for it; NULL if its probe window is full. */
static struct entry *lookup(struct seqtrack *t, const char *topic, uint64_t h)
{
	for (size_t probe = 0; probe < SEQ_PROBES; probe++) {
		struct entry *s = &t->slots[(h + probe) & (t->cap - 1)];
		if (!s->topic || (s->hash == h && strcmp(s->topic, topic) == 0))
			return s;
	}
	return NULL;
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
	uint64_t h = hash_bytes(topic, strlen(topic));
	struct entry *e = lookup(t, topic, h);
	/* a new topic: keep the table at most a quarter full, and grow rather
	 * than forget while it may */
	while ((!e || !e->topic) && (!e || (t->used + 1) * 4 > t->cap) && grow(t))
		e = lookup(t, topic, h);
	*missing = 0;
	if (!e || !e->topic) {
		char *copy = strdup(topic);
		if (!copy)
			return SEQ_FIRST;
		if (!e) {
			e = &t->slots[h & (t->cap - 1)]; /* crowded here: forget the old entry */
			free(e->topic);
		} else {
			t->used++;
		}
		e->topic = copy;
		e->hash = h;
		snprintf(e->boot, sizeof(e->boot), "%s", boot);
		e->last = seq;
		e->window = 1;
		return SEQ_FIRST;
	}
	if (strcmp(e->boot, boot) != 0) {
		snprintf(e->boot, sizeof(e->boot), "%s", boot);
		e->last = seq;
		e->window = 1;
		return SEQ_FIRST;
	}
	if (seq <= e->last) {
		uint64_t k = e->last - seq;
		if (k >= SEQTRACK_WINDOW || (e->window >> k) & 1)
			return SEQ_DUPLICATE;
		e->window |= (uint64_t)1 << k;
		return SEQ_LATE;
	}
	uint64_t step = seq - e->last;
	enum seq_event ev = step == 1 ? SEQ_NEXT : SEQ_GAP;
	if (ev == SEQ_GAP)
		*missing = step - 1;
	e->window = step >= SEQTRACK_WINDOW ? 1 : (e->window << step) | 1;
	e->last = seq;
	return ev;
}

bool seqtrack_seen(struct seqtrack *t, const char *topic, const char *boot, uint64_t seq)
{
	struct entry *e = lookup(t, topic, hash_bytes(topic, strlen(topic)));
	if (!e || !e->topic || strcmp(e->boot, boot) != 0 || seq > e->last)
		return false;
	uint64_t k = e->last - seq;
	return k < SEQTRACK_WINDOW && ((e->window >> k) & 1);
}
