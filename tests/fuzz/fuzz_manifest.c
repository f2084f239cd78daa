/*
 * fuzz_manifest.c - manifest_parse() on arbitrary bytes (vault/backup.c).
 *
 * An accepted manifest encodes back to the same bytes.
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
	int r;

	r = manifest_parse(data, size, &m);
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
