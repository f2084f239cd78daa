/*
 * fuzz_filemap.c - file_map_line() on arbitrary bytes (vault/filemap.c):
 * the hand parser of /proc/self/maps that every vault open runs to find
 * LMDB's map. The text comes from the kernel, but a path in it can be
 * anything a user names a file, so the parser must read nothing past the
 * line it is given and never overflow a number.
 *
 * The line is copied to a buffer of its exact size, so ASan sees any read
 * past its end. A line that parses gives the same fields with a path
 * after it: what follows the inode is not read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/filemap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long long a[5], b[5];
	char *line, *longer;
	int r;

	if (size > 4096)
		return 0;
	line = malloc(size ? size : 1);
	longer = malloc(size + 8);
	if (!line || !longer)
		abort();
	memcpy(line, data, size);
	r = file_map_line(line, line + size, &a[0], &a[1], &a[2], &a[3], &a[4]);
	if (r != 0 && r != 1)
		abort();
	if (r == 1) {
		memcpy(longer, data, size);
		memcpy(longer + size, " /a/b", 5);
		if (file_map_line(longer, longer + size + 5, &b[0], &b[1],
			&b[2], &b[3], &b[4]) != 1 || memcmp(a, b, sizeof(a)))
			abort();
	}
	free(longer);
	free(line);
	return 0;
}
