/*
 * fuzz_subject.c - subject_parse() and san_parse() (vault/subject.c) on
 * arbitrary text: both take what a user typed after --subject and --san.
 *
 * The first byte picks the parser, the rest is the text (cut at a NUL,
 * as a command-line argument is). A subject that parses has 1 to 32
 * entries and encodes to DER; SANs that parse have 1 to 100 names and
 * encode as the extension. A refusal is one of the documented errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/keygen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509_NAME *name = NULL;
	GENERAL_NAMES *san = NULL;
	X509_EXTENSION *ext;
	unsigned char *der = NULL;
	char *s;
	int r, n;

	if (size < 1)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] & 1) {
		r = san_parse(s, &san);
		if (r == 0) {
			n = sk_GENERAL_NAME_num(san);
			if (n < 1 || n > SAN_ENTRIES_MAX)
				abort();
			ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, san);
			if (!ext)
				abort();
			X509_EXTENSION_free(ext);
			GENERAL_NAMES_free(san);
		}
	} else {
		r = subject_parse(s, &name);
		if (r == 0) {
			n = X509_NAME_entry_count(name);
			if (n < 1 || n > SUBJECT_PARTS_MAX)
				abort();
			if (i2d_X509_NAME(name, &der) <= 0)
				abort();
			OPENSSL_free(der);
			X509_NAME_free(name);
		}
	}
	if (r != 0 && r != KMC_E_INVALID && r != KMC_E_TOO_LARGE &&
	    r != KMC_E_NOMEM)
		abort();
	free(s);
	return 0;
}
