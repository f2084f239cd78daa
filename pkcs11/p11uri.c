/*
 * p11uri.c - RFC 7512 PKCS#11 URIs through p11-kit: parsed within a
 * bound, stored without a pin-value, shown without either PIN field, and
 * the token they name as tokenretry.c keys on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "token.h"

void p11_uri_freep(P11KitUri **u)
{
	if (*u)
		p11k.uri_free(*u);
}

/* Whether every '%' of s starts two hex digits: p11-kit 0.24 answers
   "bad encoding" both for a bad escape and for a malloc that failed while
   decoding (p11_url_decode returns NULL for either), and "unexpected" for
   a key it could not copy. A URI whose escapes are sound was refused for
   want of memory, and is told so. */
static int escapes_ok(const char *s)
{
	static const char HEX[] = "0123456789abcdefABCDEF";

	for (; *s; s++) {
		if (*s != '%')
			continue;
		if (!s[1] || !strchr(HEX, s[1]) || !s[2] || !strchr(HEX, s[2]))
			return 0;
		s += 2;
	}
	return 1;
}

int p11_uri_parse(const char *s, P11KitUri **ret)
{
	P11KitUri *u;
	int r;

	KMC_ENSURE(strlen(s) <= P11_URI_MAX, KMC_E_TOO_LARGE);
	/* Every use of a token starts with its URI: p11-kit loads here. */
	KMC_GUARD(p11kit_load());
	u = p11k.uri_new();
	KMC_ENSURE(u, KMC_E_NOMEM);
	r = p11k.uri_parse(s, P11_KIT_URI_FOR_ANY, u);
	if (r != P11_KIT_URI_OK) {
		p11k.uri_free(u);
		if (r == P11_KIT_URI_UNEXPECTED ||
			(r == P11_KIT_URI_BAD_ENCODING && escapes_ok(s)))
			return kmc_detail(KMC_E_NOMEM, "reading the PKCS#11 "
				"URI %s: out of memory", s);
		return kmc_detail(KMC_E_STRING, "%s is not a PKCS#11 URI: %s", s,
			p11k.uri_message(r));
	}
	*ret = u;
	return 0;
}

int p11_uri_clean(const char *s, char **ret)
{
	_cleanup_(p11_uri_freep) P11KitUri *u = NULL;
	char *out = NULL;

	KMC_GUARD(p11_uri_parse(s, &u));
	/* A pin-value is used once and never stored; pin-source stays. */
	p11k.uri_set_pin_value(u, NULL);
	if (p11k.uri_format(u, P11_KIT_URI_FOR_ANY, &out) != P11_KIT_URI_OK)
		return KMC_E_NOMEM;
	KMC_ENSURE(strlen(out) <= P11_URI_MAX, KMC_E_TOO_LARGE);
	*ret = out;
	return 0;
}

void p11_uri_shown(P11KitUri *u, char *buf, size_t size)
{
	const char *src = p11k.uri_get_pin_source(u);
	const char *val = p11k.uri_get_pin_value(u);
	char *keep_src = src ? strdup(src) : NULL;
	char *keep_val = val ? strdup(val) : NULL;
	char *out = NULL;

	snprintf(buf, size, "a PKCS#11 URI");
	if ((src && !keep_src) || (val && !keep_val))
		goto out;
	p11k.uri_set_pin_source(u, NULL);
	p11k.uri_set_pin_value(u, NULL);
	if (p11k.uri_format(u, P11_KIT_URI_FOR_ANY, &out) == P11_KIT_URI_OK)
		snprintf(buf, size, "%s", out);
	free(out);
	p11k.uri_set_pin_source(u, keep_src);
	p11k.uri_set_pin_value(u, keep_val);
out:
	free(keep_src);
	if (keep_val) {
		sodium_memzero(keep_val, strlen(keep_val));
		free(keep_val);
	}
}

void p11_token_name(P11KitUri *u, char *buf, size_t size)
{
	const char *path = p11k.uri_get_module_path(u);
	const char *name = p11k.uri_get_module_name(u);
	char *tok = NULL;

	if (p11k.uri_format(u, P11_KIT_URI_FOR_TOKEN, &tok) != P11_KIT_URI_OK)
		tok = NULL;
	snprintf(buf, size, "%s module-path=%s module-name=%s",
		tok ? tok : "pkcs11:", path ? path : "", name ? name : "");
	free(tok);
}
