/*
 * fuzz_recovery.c - kmc_recovery_decode() on arbitrary text
 * (kmc/recovery.c): what a person types, or a file they point to.
 *
 * A key that decodes encodes back to a text that decodes to the same
 * 25 bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../kmc/recovery.h"
#include "../../kmc/crypto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (kmc_crypto_init() != 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kmc_secret *bytes = NULL, *text = NULL, *again = NULL;
	int r = kmc_recovery_decode((const char *)data, size, &bytes);

	if (r != 0) {
		if (r != KMC_E_STRING)
			abort();
		return 0;
	}
	if (kmc_secret_len(bytes) != RECOVERY_BYTES ||
	    kmc_recovery_encode(kmc_secret_data(bytes), &text) != 0 ||
	    kmc_recovery_decode((const char *)kmc_secret_data(text),
		    kmc_secret_len(text), &again) != 0 ||
	    memcmp(kmc_secret_data(again), kmc_secret_data(bytes),
		    RECOVERY_BYTES) != 0)
		abort();
	kmc_secret_free(bytes);
	kmc_secret_free(text);
	kmc_secret_free(again);
	return 0;
}
