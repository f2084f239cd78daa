/*
 * fuzz_record.c - record_parse_header() on arbitrary bytes
 * (vault/items.c).
 *
 * An accepted record is exactly header + size + seal overhead long, and
 * its header fields are the bytes they came from.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/vault.h"
#include "../../kmc/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	record_info ri;
	int r;

	memset(&ri, 0xa5, sizeof(ri));
	r = record_parse_header(data, size, &ri);
	if (r != 0) {
		if (r != KMC_E_CORRUPT && r != KMC_E_VERSION)
			abort();
		return 0;
	}
	if (size < RECORD_HEADER_LEN || ri.size > KMC_ITEM_MAX ||
	    size != RECORD_HEADER_LEN + (size_t)ri.size + KMC_SEAL_OVERHEAD)
		abort();
	if (data[0] != RECORD_VERSION || data[1] != ri.type ||
	    be(data + 2, 2) != 0 || be(data + 4, 4) != ri.version ||
	    be(data + 8, 4) != ri.mk_id ||
	    be(data + 12, 8) != (uint64_t)ri.created ||
	    be(data + 20, 4) != ri.size)
		abort();
	return 0;
}
