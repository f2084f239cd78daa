/*
 * fuzz_bind.c - bind_parse() and bind_verify_mac() on arbitrary bytes
 * (vault/bind.c, the kmc.bind format).
 *
 * An accepted binding serializes back to the same bytes under a key whose
 * MAC it then carries, and the MAC check of the input never passes under
 * a key it was not made with unless the bytes are exactly that output.
 * A binding whose magic holds and whose version is higher is refused as
 * newer (KMC_E_VERSION) whatever its length: the version is read first.
 * Version 0, which no kmcvault wrote, is damage (KMC_E_CORRUPT), never
 * newer: kmc repair --accept-rollback must be able to write over it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/bind.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[KMC_KEY_LEN] = { 1, 2, 3 };
	uint8_t out[BIND_FILE_LEN];
	bind_state b;
	int r;

	r = bind_parse(data, size, &b);
	(void)bind_verify_mac(data, size, key);
	if (size >= 10 && memcmp(data, BIND_MAGIC, 8) == 0) {
		unsigned version = (unsigned)(data[8] << 8 | data[9]);

		if (version > BIND_FORMAT_VERSION && r != KMC_E_VERSION)
			abort();
		if (version < BIND_FORMAT_VERSION && r != KMC_E_CORRUPT)
			abort();
	}
	if (r != 0) {
		if (r != KMC_E_CORRUPT && r != KMC_E_VERSION)
			abort();
		return 0;
	}
	if (size != BIND_FILE_LEN)
		abort();
	bind_serialize(&b, key, out);
	/* Everything but the MAC comes back as it was. */
	if (memcmp(out, data, BIND_FILE_LEN - 32) != 0)
		abort();
	if (bind_verify_mac(out, sizeof(out), key) != 0)
		abort();
	return 0;
}
