/*
 * gen_outbox.c - writes one outbox segment with the outbox's own code (see
 * README): gen_outbox <dir> <first> <count>  appends readings first..first+
 * count-1, topic "s/n/a", payload {"i":<i>}, to <dir>/outbox-1.log.
 */
#include "publisher/outbox.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	char err[256], p[32];
	if (argc != 4)
		return 2;
	struct outbox *ob = outbox_open(argv[1], 65536, err, sizeof(err));
	if (!ob) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	int first = atoi(argv[2]), n = atoi(argv[3]);
	for (int i = first; i < first + n; i++) {
		int len = snprintf(p, sizeof(p), "{\"i\":%d}", i);
		if (outbox_append(ob, "s/n/a", p, (size_t)len) < 0)
			return 1;
	}
	outbox_close(ob);
	return 0;
}
