/*
 * fuzz_trust.c - trust_parse() on arbitrary bytes (vault/trustrec.c).
 *
 * An accepted record encodes back to the same bytes, its names pass
 * trust_name_check() and its certificates print as PEM.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/trust.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static trust_set t;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *out = NULL;
	char *pem = NULL;
	size_t len = 0;
	int r;

	r = trust_parse(data, size, &t);
	if (r != 0) {
		if (r != KMC_E_CORRUPT && r != KMC_E_VERSION &&
		    r != KMC_E_NOMEM)
			abort();
		return 0;
	}
	for (size_t i = 0; i < t.n; i++)
		if (trust_name_check(t.c[i].alias, 1) != 0 || !t.c[i].x)
			abort();
	if (trust_encode(&t, &out, &len) != 0)
		abort();
	if (len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	if (trust_to_pem(&t, &pem, &len) != 0 || strlen(pem) != len)
		abort();
	free(pem);
	trust_set_clear(&t);
	return 0;
}
