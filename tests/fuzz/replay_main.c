/*
 * replay_main.c - a stand-in for libFuzzer's driver where clang is missing
 * (the Makefile links it instead of -fsanitize=fuzzer): runs the target once
 * on every file named, or in a directory named, and ignores -flags, so
 * `fuzz_x -runs=0 corpus/x/` replays a corpus the same way with gcc.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = malloc(cap);
	size_t r;
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			unsigned char *nb = realloc(buf, cap *= 2);
			if (!nb)
				break;
			buf = nb;
		}
	}
	fclose(f);
	if (!buf)
		return -1;
	unsigned char *exact = malloc(n ? n : 1);   /* exact size: ASan sees overreads */
	memcpy(exact, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

int main(int argc, char **argv)
{
	int runs = 0;
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (argv[i][0] == '-' || stat(argv[i], &st) != 0)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			runs += run_file(argv[i]) == 0;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			char p[4096];
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
			runs += run_file(p) == 0;
		}
		if (d)
			closedir(d);
	}
	printf("replayed %d inputs\n", runs);
	return 0;
}
