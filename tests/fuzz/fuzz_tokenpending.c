/*
 * fuzz_tokenpending.c - token_pending_parse() on arbitrary bytes
 * (vault/tokenpending.c): the list of keys on a token waiting to be
 * destroyed.
 *
 * An accepted list encodes back to the same bytes, holds 1 to
 * TOKEN_PENDING_MAX entries, each a "pkcs11:" URI within P11_URI_MAX
 * bytes and an item name, no two URIs alike; and adding its entries
 * again to an empty list (the writer's rules) gives the same list.
 * A list whose first byte says a higher version is refused as newer
 * (KMC_E_VERSION) whatever its length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/tokenpending.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	token_pending l, again = { 0 };
	uint8_t *out = NULL;
	size_t len = 0;
	int r;

	r = token_pending_parse(data, size, &l);
	if (size >= 1 && data[0] > TOKEN_PENDING_VERSION && r != KMC_E_VERSION)
		abort();
	if (r != 0) {
		if (r != KMC_E_CORRUPT && r != KMC_E_VERSION && r != KMC_E_NOMEM)
			abort();
		return 0;
	}
	if (l.n < 1 || l.n > TOKEN_PENDING_MAX)
		abort();
	for (size_t i = 0; i < l.n; i++) {
		if (strncmp(l.e[i].uri, "pkcs11:", 7) != 0 ||
		    strlen(l.e[i].uri) > P11_URI_MAX ||
		    kmc_name_check(l.e[i].item) != 0)
			abort();
		if (token_pending_add(&again, l.e[i].uri, l.e[i].item,
				l.e[i].version) != 0)
			abort();
	}
	if (again.n != l.n)
		abort();
	if (token_pending_encode(&l, &out, &len) != 0)
		abort();
	if (len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	token_pending_free(&again);
	token_pending_free(&l);
	return 0;
}
