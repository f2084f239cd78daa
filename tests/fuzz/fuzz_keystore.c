/*
 * fuzz_keystore.c - ks_parse() on arbitrary bytes (vault/keystore.c).
 *
 * Beyond "no crash, no leak": whatever ks_parse() accepts holds the
 * invariants ks_serialize() demands, and writing it back gives the very
 * same bytes up to the MAC and checksum (one encoding per keystore).
 *
 * A mutated file almost never keeps a valid checksum, so each input is
 * parsed twice: as it is, and with its last 32 bytes replaced by the
 * checksum of the rest, which lets the fuzzer reach the structure checks.
 * A file whose magic holds and whose version is higher is refused as
 * newer (KMC_E_VERSION) whatever its length or checksum.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/keystore.h"
#include "../../vault/protector.h"

#define TRAILER (2 * KMC_HASH_LEN)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static keystore ks, again;
static const uint8_t rk[KMC_KEY_LEN] = { 0x6b, 0x6d, 0x63, 0x2d, 0x66, 0x75,
	0x7a, 0x7a };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (kmc_crypto_init() != 0)
		abort();
	return 0;
}

static void one(const uint8_t *data, size_t size)
{
	uint8_t *out = NULL;
	size_t len = 0;
	int r;

	r = ks_parse(data, size, &ks);
	if (size >= 10 && memcmp(data, KS_MAGIC, 8) == 0 &&
	    (data[8] << 8 | data[9]) > KS_FORMAT_VERSION && r != KMC_E_VERSION)
		abort();
	if (r != 0) {
		if (r != KMC_E_CORRUPT && r != KMC_E_VERSION)
			abort();
		return;
	}
	/* The MAC check on an accepted file runs to an answer. */
	r = ks_verify_mac(data, size, rk);
	if (r != 0 && r != KMC_E_AUTH)
		abort();
	if (!ks_find_mk(&ks, ks.active_mk))
		abort();
	if (ks_serialize(&ks, rk, &out, &len) != 0)
		abort();
	if (len != size || memcmp(out, data, size - TRAILER) != 0)
		abort();
	if (ks_verify_mac(out, len, rk) != 0)
		abort();
	if (ks_parse(out, len, &again) != 0)
		abort();
	if (again.generation != ks.generation || again.n_slots != ks.n_slots ||
	    again.n_mks != ks.n_mks || again.active_mk != ks.active_mk)
		abort();
	/* Each slot's parameters are outside bytes too: their parsers run
	   here (slot_describe parses host, passphrase and token params). */
	for (size_t i = 0; i < ks.n_slots; i++) {
		char desc[256];

		slot_describe(&ks.slots[i], desc, sizeof(desc));
		if (!memchr(desc, '\0', sizeof(desc)))
			abort();
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	one(data, size);
	if (size < KMC_HASH_LEN || size > KS_FILE_MAX)
		return 0;
	fixed = malloc(size);
	if (!fixed)
		abort();
	memcpy(fixed, data, size);
	kmc_hash(fixed + size - KMC_HASH_LEN, fixed, size - KMC_HASH_LEN);
	one(fixed, size);
	free(fixed);
	return 0;
}
