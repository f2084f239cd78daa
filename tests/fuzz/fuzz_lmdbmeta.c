/*
 * fuzz_lmdbmeta.c - store_check_metas() on arbitrary bytes as an item
 * store file (vault/lmdbmeta.c): the check that stands between a
 * damaged items.mdb and LMDB's map, so it must itself read nothing
 * past what it was given.
 *
 * The bytes go into a memfd, read with pread as the vault reads its
 * file. It answers 0 or KMC_E_CORRUPT, the same both times; an accepted
 * file holds two LMDB meta pages at least (LMDB's magic at 16, the page
 * size from page 0, page 1 whole).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "../../vault/store.h"
#include "../../vault/vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t magic, psize;
	int fd, r;

	fd = memfd_create("items.mdb", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	r = store_check_metas(fd, "items.mdb", 0);
	if (r != 0 && r != KMC_E_CORRUPT)
		abort();
	/* The same answer again, and as a backup's file (other advice). */
	if (store_check_metas(fd, "items.mdb", 0) != r ||
	    store_check_metas(fd, "items.mdb", 1) != r)
		abort();
	close(fd);
	if (r != 0)
		return 0;
	if (size < 16 + 8 + 2 * sizeof(size_t) + 8 + sizeof(void *) +
	    sizeof(size_t) + 4)
		abort();
	memcpy(&magic, data + 16, sizeof(magic));
	memcpy(&psize, data + 16 + 8 + sizeof(void *) + sizeof(size_t),
		sizeof(psize));
	if (magic != 0xBEEFC0DEu || psize < 512 || size < 2 * (size_t)psize)
		abort();
	return 0;
}
