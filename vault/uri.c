/*
 * uri.c - kmc: URIs and key-reference files; the grammar is in
 * include/kmc/admin.h. Both parsers are bounded and take exact lengths.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "vault.h"
#include "../safeio/fileio.h"

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || strchr("-._~/:@+", c);
}

/* Percent-encode s (of n bytes) onto out; false if it does not fit. */
static int encode(const char *s, size_t n, char *out, size_t *off,
	size_t size)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int w = unreserved(c) ?
			snprintf(out + *off, size - *off, "%c", c) :
			snprintf(out + *off, size - *off, "%%%02X", c);

		if (w < 0 || (size_t)w >= size - *off)
			return 0;
		*off += (size_t)w;
	}
	return 1;
}

/* The vault folder made absolute; a failure says which and why. */
static int uri_dir(const char *dir, char *abs, size_t size)
{
	int r = kmc_path_absolute(dir, abs, size);

	if (r == KMC_E_TOO_LARGE)
		return kmc_detail(r, "vault folder %s: too long for a path", dir);
	if (r < 0)
		return kmc_detail(r, "vault folder %s: the current folder: %s",
			dir, kmc_strerror(r));
	return 0;
}

int kmc_uri_format(const char *dir, const char *name, char **ret)
{
	char abs[PATH_MAX], out[KMC_URI_MAX], *p;
	size_t off = 0;

	kmc_detail_clear();
	if (kmc_name_check(name) < 0)
		return kmc_detail(KMC_E_NAME, "item name \"%.*s\": not 1 to %d "
			"of [A-Za-z0-9._@:/+-] starting with neither '.' nor '/'",
			KMC_NAME_MAX, name, KMC_NAME_MAX);
	KMC_GUARD(uri_dir(dir, abs, sizeof(abs)));
	if (!encode("kmc://", 6, out, &off, sizeof(out)) ||
	    !encode(abs, strlen(abs), out, &off, sizeof(out)))
		return kmc_detail(KMC_E_TOO_LARGE, "the URI of %s is longer "
			"than %d bytes", abs, KMC_URI_MAX);
	/* '?' and '=' are structure, so they are written, not encoded. */
	if (off + 6 >= sizeof(out))
		return kmc_detail(KMC_E_TOO_LARGE, "the URI of %s is longer "
			"than %d bytes", abs, KMC_URI_MAX);
	memcpy(out + off, "?item=", 6);
	off += 6;
	if (!encode(name, strlen(name), out, &off, sizeof(out)))
		return kmc_detail(KMC_E_TOO_LARGE, "the URI of %s is longer "
			"than %d bytes", abs, KMC_URI_MAX);
	out[off] = '\0';
	p = strdup(out);	/* *ret is written only on success */
	if (!p)
		return KMC_E_NOMEM;
	*ret = p;
	return 0;
}

int kmc_ref_format(const char *dir, const char *name, char **ret)
{
	char abs[PATH_MAX], b64[KMC_URI_MAX * 2];
	_cleanup_(freep) char *uri = NULL;
	size_t n, cap;
	char *out;
	int w;

	KMC_GUARD(kmc_uri_format(dir, name, &uri));
	KMC_GUARD(uri_dir(dir, abs, sizeof(abs)));
	n = strlen(uri);
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)uri, n,
		sodium_base64_VARIANT_ORIGINAL);
	/* Headers are for people; control bytes would forge lines. */
	for (char *c = abs; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = '?';
	cap = strlen(abs) + strlen(name) + strlen(b64) + strlen(b64) / 64 + 200;
	out = malloc(cap);
	KMC_ENSURE(out, KMC_E_NOMEM);
	/* Notes for people go before the armour: PEM readers skip them, while
	   headers inside would look like a legacy encrypted PEM to OpenSSL. */
	w = snprintf(out, cap, "# kmcvault key reference: the key stays in the "
		"vault\n# vault: %s\n# item: %s\n-----BEGIN " KMC_REF_LABEL
		"-----\n", abs, name);
	for (size_t i = 0; i < strlen(b64); i += 64)
		w += snprintf(out + w, cap - (size_t)w, "%.64s\n", b64 + i);
	snprintf(out + w, cap - (size_t)w, "-----END " KMC_REF_LABEL "-----\n");
	*ret = out;
	return 0;
}

/* Percent-decode [p, end) into a new string; NUL bytes are refused. */
static int decode(const char *p, const char *end, char **ret)
{
	char *out = malloc((size_t)(end - p) + 1), *o = out;

	KMC_ENSURE(out, KMC_E_NOMEM);
	while (p < end) {
		if (*p == '%') {
			if (end - p < 3 || kmc_hexval(p[1]) < 0 || kmc_hexval(p[2]) < 0 ||
			    (kmc_hexval(p[1]) == 0 && kmc_hexval(p[2]) == 0)) {
				free(out);
				return KMC_E_STRING;
			}
			*o++ = (char)(kmc_hexval(p[1]) << 4 | kmc_hexval(p[2]));
			p += 3;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	*ret = out;
	return 0;
}

static int uri_parse(const char *uri, size_t len, char **ret_dir,
	char **ret_name);

int kmc_uri_parse(const char *uri, size_t len, char **ret_dir,
	char **ret_name)
{
	int r;

	kmc_detail_clear();
	r = uri_parse(uri, len, ret_dir, ret_name);
	/* "%.*s" would stop at the NUL and show a URI that looks right. */
	if (r == KMC_E_STRING && memchr(uri, '\0', len))
		return kmc_detail(r, "a kmc: URI holding a NUL byte (byte %zu)",
			(size_t)((const char *)memchr(uri, '\0', len) - uri) + 1);
	if (r == KMC_E_STRING)
		return kmc_detail(r, "%.*s is not kmc://<absolute vault dir>"
			"?item=<name> (one query parameter, percent-encoded)",
			len > 200 ? 200 : (int)len, uri);
	if (r == KMC_E_NAME)
		return kmc_detail(r, "the item in %.*s is not a valid name",
			len > 200 ? 200 : (int)len, uri);
	return r;
}

static int uri_parse(const char *uri, size_t len, char **ret_dir,
	char **ret_name)
{
	const char *end = uri + len, *q, *path;
	_cleanup_(freep) char *dir = NULL;
	_cleanup_(freep) char *name = NULL;

	KMC_ENSURE(len <= KMC_URI_MAX, KMC_E_TOO_LARGE);
	KMC_ENSURE(!memchr(uri, '\0', len), KMC_E_STRING);
	KMC_ENSURE(len > 6 && memcmp(uri, "kmc://", 6) == 0, KMC_E_STRING);
	path = uri + 6;
	q = memchr(path, '?', (size_t)(end - path));
	KMC_ENSURE(q, KMC_E_STRING);
	KMC_ENSURE((size_t)(end - q) > 6 && memcmp(q, "?item=", 6) == 0,
		KMC_E_STRING);
	/* One query parameter, no fragment: anything else is a typo. */
	KMC_ENSURE(!memchr(q + 6, '&', (size_t)(end - q - 6)) &&
		!memchr(q + 6, '#', (size_t)(end - q - 6)) &&
		!memchr(q + 6, '?', (size_t)(end - q - 6)), KMC_E_STRING);
	if (q > path) {
		KMC_ENSURE(path[0] == '/', KMC_E_STRING);
		KMC_GUARD(decode(path, q, &dir));
	}
	KMC_GUARD(decode(q + 6, end, &name));
	KMC_GUARD(kmc_name_check(name));
	*ret_dir = TAKE_PTR(dir);
	*ret_name = TAKE_PTR(name);
	return 0;
}
