/*
 * fuzz_treebucket.c - a bucket of the store's digest (vault/storetree.c)
 * on arbitrary bytes: tree_entry_next() never reads past the bucket, and
 * the entries of a bucket it reads whole encode back (tree_entry_put())
 * to the same bytes, each within the bounds the format sets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/storetree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1), *out;
	size_t off = 0, len = 0;
	tree_entry e;
	int r;

	if (!copy)
		abort();
	/* Exactly size bytes: ASan sees any read past them. */
	memcpy(copy, data, size);
	out = malloc(size ? size : 1);
	if (!out)
		abort();
	while ((r = tree_entry_next(copy, size, &off, &e)) > 0) {
		if (e.db > STORE_DB_HISTORY || e.key_len == 0 ||
		    e.key_len > STORE_KEY_MAX || off > size)
			abort();
		len += tree_entry_put(out + len, &e);
		if (len != off)
			abort();
	}
	if (r == 0 && (off != size || memcmp(out, copy, size) != 0))
		abort();
	free(out);
	free(copy);
	return 0;
}
