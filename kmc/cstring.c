/*
 * cstring.c - ciphertext strings for config files (kmc:v1:<mk-id>:...):
 * formatting and the bounded, exact parser (grammar in cstring.h).
 */
#include <string.h>
#include <sodium.h>
#include "cstring.h"

int kmc_cstring_format(uint32_t mk_id, const uint8_t *blob, size_t len,
	char **ret)
{
	size_t b64len, prefix, total;
	char *s;
	int n;

	KMC_ENSURE(len <= KMC_CSTRING_MAX, KMC_E_TOO_LARGE);
	b64len = sodium_base64_ENCODED_LEN(len,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	total = sizeof(KMC_CSTRING_PREFIX) + 11 + b64len;
	/* Never make a string the parser would refuse. */
	KMC_ENSURE(strlen(KMC_CSTRING_PREFIX) + 10 + 1 + b64len - 1 <=
		KMC_CSTRING_MAX, KMC_E_TOO_LARGE);
	s = malloc(total);
	KMC_ENSURE(s, KMC_E_NOMEM);
	n = snprintf(s, total, KMC_CSTRING_PREFIX "%u:", (unsigned)mk_id);
	KMC_ASSERT(n > 0 && (size_t)n < total);
	prefix = (size_t)n;
	sodium_bin2base64(s + prefix, total - prefix, blob, len,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	*ret = s;
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int parse_mk_id(const char *p, size_t n, uint32_t *ret)
{
	uint64_t v = 0;

	KMC_ENSURE(n >= 1 && n <= 10, KMC_E_STRING);
	KMC_ENSURE(!(p[0] == '0'), KMC_E_STRING);
	for (size_t i = 0; i < n; i++) {
		KMC_ENSURE(p[i] >= '0' && p[i] <= '9', KMC_E_STRING);
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	KMC_ENSURE(v <= UINT32_MAX, KMC_E_STRING);
	*ret = (uint32_t)v;
	return 0;
}

int kmc_cstring_parse(const char *text, size_t len, uint32_t *ret_mk_id,
	uint8_t **ret_blob, size_t *ret_len)
{
	const char *p = text, *end = text + len, *colon, *b64;
	_cleanup_(freep) uint8_t *blob = NULL;
	size_t cap, bin_len;
	const char *b64_end;
	uint32_t mk_id;

	while (p < end && is_space(*p))
		p++;
	while (end > p && is_space(end[-1]))
		end--;
	KMC_ENSURE((size_t)(end - p) <= KMC_CSTRING_MAX, KMC_E_TOO_LARGE);
	KMC_ENSURE(memchr(p, '\0', (size_t)(end - p)) == NULL, KMC_E_STRING);
	KMC_ENSURE(end - p >= 4 && memcmp(p, "kmc:", 4) == 0, KMC_E_STRING);
	if ((size_t)(end - p) < strlen(KMC_CSTRING_PREFIX) ||
	    memcmp(p, KMC_CSTRING_PREFIX, strlen(KMC_CSTRING_PREFIX)) != 0) {
		/* "kmc:vN:..." is another format version; the rest garbage. */
		const char *q = p + 5;

		if (end - p > 5 && p[4] == 'v') {
			while (q < end && *q >= '0' && *q <= '9')
				q++;
			if (q > p + 5 && q < end && *q == ':')
				return KMC_E_VERSION;
		}
		return KMC_E_STRING;
	}
	p += strlen(KMC_CSTRING_PREFIX);
	colon = memchr(p, ':', (size_t)(end - p));
	KMC_ENSURE(colon, KMC_E_STRING);
	KMC_GUARD(parse_mk_id(p, (size_t)(colon - p), &mk_id));
	b64 = colon + 1;
	KMC_ENSURE(b64 < end, KMC_E_STRING);

	/* libsodium skips bytes it does not know; one spelling per blob. */
	for (const char *q = b64; q < end; q++)
		KMC_ENSURE((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') ||
			(*q >= '0' && *q <= '9') || *q == '-' || *q == '_',
			KMC_E_STRING);
	cap = (size_t)(end - b64) * 3 / 4 + 1;
	blob = malloc(cap);
	KMC_ENSURE(blob, KMC_E_NOMEM);
	if (sodium_base642bin(blob, cap, b64, (size_t)(end - b64), NULL,
			&bin_len, &b64_end,
			sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    b64_end != end)
		return KMC_E_STRING;
	*ret_mk_id = mk_id;
	*ret_blob = TAKE_PTR(blob);
	*ret_len = bin_len;
	return 0;
}
