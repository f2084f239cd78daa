/*
 * fuzz_cstring.c - kmc_cstring_parse() on arbitrary text
 * (kmc/cstring.c).
 *
 * A string that parses is the one kmc_cstring_format() makes of what it
 * parsed to, once the white space around it is taken off: one spelling
 * per (master key, blob).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../kmc/cstring.h"
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

static int is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	uint8_t *blob = NULL;
	size_t len = 0, from = 0, to = size;
	uint32_t mk_id = 0;
	char *again = NULL;
	int r;

	r = kmc_cstring_parse(text, size, &mk_id, &blob, &len);
	if (r != 0) {
		if (blob || (r != KMC_E_STRING && r != KMC_E_VERSION &&
		    r != KMC_E_TOO_LARGE))
			abort();
		return 0;
	}
	if (!blob || mk_id == 0)
		abort();
	while (from < to && is_space(data[from]))
		from++;
	while (to > from && is_space(data[to - 1]))
		to--;
	r = kmc_cstring_format(mk_id, blob, len, &again);
	if (r == 0) {
		if (strlen(again) != to - from ||
		    memcmp(again, data + from, to - from) != 0)
			abort();
		free(again);
	} else if (r != KMC_E_TOO_LARGE) {
		abort();
	}
	free(blob);
	return 0;
}
