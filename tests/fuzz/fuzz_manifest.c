/*
 * fuzz_manifest.c - manifest_parse() on arbitrary bytes (vault/backup.c).
 *
 * An accepted manifest encodes back to the same bytes. One whose first
 * line says a higher version is refused as newer (KMC_E_VERSION) whatever
 * follows, its length and bytes included.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/backup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	backup_manifest m;
	char *out = NULL;
	size_t len = 0;
	uint64_t v;
	int r;

	r = manifest_parse(data, size, &m);
	if (manifest_version(data, size, &v) == 0 &&
	    v > BACKUP_MANIFEST_VERSION && r != KMC_E_VERSION)
		abort();
	if (r != 0) {
		if (r != KMC_E_CORRUPT && r != KMC_E_VERSION)
			abort();
		return 0;
	}
	if (manifest_encode(&m, &out, &len) != 0)
		abort();
	if (len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	return 0;
}
