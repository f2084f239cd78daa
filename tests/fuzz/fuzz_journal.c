/*
 * fuzz_journal.c - journal_parse() on arbitrary bytes (vault/journal.c).
 *
 * An accepted journal encodes back to the same bytes, each entry passes
 * journal_add() (the writer's rules) and has a staged name that fits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static journal j, again;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *out = NULL;
	size_t len = 0;
	char staged[300];
	int state = 0, r;

	r = journal_parse(data, size, &state, &j);
	if (r != 0) {
		if (r != KMC_E_CORRUPT && r != KMC_E_VERSION)
			abort();
		return 0;
	}
	if ((state != 1 && state != 2) || j.n < 1 ||
	    j.n > JOURNAL_MAX_ENTRIES)
		abort();
	if (journal_encode(&j, state, &out, &len) != 0)
		abort();
	if (len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	memset(&again, 0, sizeof(again));
	for (size_t i = 0; i < j.n; i++) {
		if (journal_add(&again, j.e[i].kind, j.e[i].dir,
				j.e[i].name) != 0)
			abort();
		if (journal_staged_name(&j.e[i], staged, sizeof(staged)) != 0)
			abort();
	}
	return 0;
}
