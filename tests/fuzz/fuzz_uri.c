/*
 * fuzz_uri.c - kmc_uri_parse() on arbitrary text (vault/uri.c): the
 * provider's STORE loader and key-reference decoder hand it whatever a
 * server configuration holds.
 *
 * A URI that parses names a valid item, an absolute vault folder (or
 * none), and formats back to a URI that parses to the same two.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <kmc.h>
#include <kmc/admin.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *dir = NULL, *name = NULL, *again = NULL, *dir2 = NULL, *name2 = NULL;
	int r = kmc_uri_parse((const char *)data, size, &dir, &name);

	if (r != 0) {
		if (r != KMC_E_STRING && r != KMC_E_NAME && r != KMC_E_TOO_LARGE)
			abort();
		return 0;
	}
	if (!name || (dir && dir[0] != '/'))
		abort();
	if (dir) {
		if (kmc_uri_format(dir, name, &again) == 0) {
			if (kmc_uri_parse(again, strlen(again), &dir2, &name2) != 0 ||
			    strcmp(name, name2) != 0)
				abort();
		}
	}
	free(dir);
	free(name);
	free(again);
	free(dir2);
	free(name2);
	return 0;
}
