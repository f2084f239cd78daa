/*
 * fuzz_ca.c - ca_rec_parse() on arbitrary bytes (vault/carec.c), and
 * ca_serial_parse() on them as text.
 *
 * An accepted record encodes back to the same bytes, finds each of its
 * serials where it stands, and every name and reason in it is one the
 * vault writes. An accepted serial prints back as the same number.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/ca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void serial_text(const uint8_t *data, size_t size)
{
	char text[64], back[KMC_SERIAL_TEXT_MAX];
	uint8_t s[CA_SERIAL_MAX], s2[CA_SERIAL_MAX];
	size_t n, n2;

	if (size >= sizeof(text))
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ca_serial_parse(text, s, &n) != 0)
		return;
	if (!ca_serial_valid(s, n))
		abort();
	ca_serial_text(s, n, back);
	if (ca_serial_parse(back, s2, &n2) != 0 || n2 != n ||
	    memcmp(s, s2, n) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ca_rec c;
	uint8_t *out = NULL;
	size_t len = 0;
	int r;

	serial_text(data, size);
	r = ca_rec_parse(data, size, &c);
	if (r != 0) {
		if (r != KMC_E_CORRUPT && r != KMC_E_VERSION &&
		    r != KMC_E_NOMEM)
			abort();
		return 0;
	}
	for (size_t i = 0; i < c.n; i++) {
		const ca_entry *e = &c.e[i];

		if (ca_rec_find(&c, e->serial, e->serial_len) != (ssize_t)i ||
		    kmc_name_check(e->name) != 0 ||
		    ((e->flags & CA_FLAG_REVOKED) && !ca_reason_name(e->reason)))
			abort();
	}
	if (ca_rec_encode(&c, &out, &len) != 0)
		abort();
	if (len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	ca_rec_clear(&c);
	return 0;
}
