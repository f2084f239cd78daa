/*
 * ciphers.c - the options of kmc_ssl_ctx_use_ex(): read the caller's
 * kmc_tls_params whatever its size, and check its cipher strings part by
 * part before anything is set.
 *
 * OpenSSL takes a cipher list with unknown names in it as long as one
 * part selects something ("HIGH:AES256-SAH384" is HIGH), so a typo in a
 * server's configured list would silently leave the cipher out. Here
 * each part that adds ciphers must select at least one of its own, tried
 * alone on a scratch SSL_CTX, and the message names the part. An
 * exclusion ("!RC4", "-3DES") is not checked: excluding a cipher this
 * OpenSSL lacks removes nothing, and old lists carry such parts.
 */
#include <stddef.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "ciphers.h"
#include "x509.h"

static void SSL_CTX_freep(SSL_CTX **c)
{
	SSL_CTX_free(*c);
}

/* Only printable ASCII: a part is quoted in messages and logs. */
static int chars_check(const char *what, const char *s)
{
	size_t n = strnlen(s, KMC_TLS_CIPHERS_MAX + 1);

	if (n > KMC_TLS_CIPHERS_MAX)
		return kmc_detail(KMC_E_INVALID, "%s: longer than %d bytes",
			what, KMC_TLS_CIPHERS_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return kmc_detail(KMC_E_INVALID, "%s: byte %zu is not "
				"printable ASCII", what, i + 1);
	return 0;
}

/* How many ciphers ctx has of TLS 1.2 and below (tls13 0), or of TLS 1.3
   named name (tls13 1). */
static int count_selected(SSL_CTX *ctx, int tls13, const char *name)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
	int n = 0;

	for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
		/* A cipher's lowest version: only TLS 1.3 suites say 1.3. */
		int is13 = strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") == 0;

		if (!tls13 && !is13)
			n++;
		else if (tls13 && is13 &&
			 strcmp(SSL_CIPHER_standard_name(c), name) == 0)
			n++;
	}
	return n;
}

static int is_tls13_suite(SSL_CTX *scratch, const char *part)
{
	ERR_set_mark();
	if (SSL_CTX_set_ciphersuites(scratch, part) != 1) {
		ERR_pop_to_mark();
		return 0;
	}
	ERR_pop_to_mark();
	return count_selected(scratch, 1, part) > 0;
}

static int list_part_check(SSL_CTX *scratch, const char *part)
{
	const char *name = part;

	if (*part == '@' || *part == '!' || *part == '-')
		return 0;	/* a directive or an exclusion, see above */
	if (*part == '+')
		name = part + 1;
	ERR_set_mark();
	if (*name && SSL_CTX_set_cipher_list(scratch, name) == 1 &&
	    count_selected(scratch, 0, NULL) > 0) {
		ERR_pop_to_mark();
		return 0;
	}
	ERR_pop_to_mark();
	if (is_tls13_suite(scratch, name))
		return kmc_detail(KMC_E_INVALID, "cipher list: %s is a TLS 1.3 "
			"suite: give it in the TLS 1.3 suites (ciphersuites), "
			"not the list for TLS 1.2 and below", name);
	return kmc_detail(KMC_E_INVALID, "cipher list: %s selects no cipher "
		"this OpenSSL has for TLS 1.2 or below (see openssl ciphers "
		"-v)", name);
}

/* s split at any of seps; each non-empty part, whitespace trimmed
   around it, to check(). */
static int parts_each(SSL_CTX *scratch, const char *s, const char *seps,
	int (*check)(SSL_CTX *, const char *))
{
	char part[KMC_TLS_CIPHERS_MAX + 1];

	while (*s) {
		size_t n = strcspn(s, seps), a = 0, b = n;

		while (a < b && (s[a] == ' ' || s[a] == '\t'))
			a++;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
			b--;
		if (b > a) {
			memcpy(part, s + a, b - a);
			part[b - a] = '\0';
			KMC_GUARD(check(scratch, part));
		}
		s += n;
		if (*s)
			s++;
	}
	return 0;
}

static int suite_check(SSL_CTX *scratch, const char *part)
{
	if (is_tls13_suite(scratch, part))
		return 0;
	ERR_set_mark();
	if (SSL_CTX_set_cipher_list(scratch, part) == 1 &&
	    count_selected(scratch, 0, NULL) > 0) {
		ERR_pop_to_mark();
		return kmc_detail(KMC_E_INVALID, "TLS 1.3 suites: %s is a "
			"cipher of TLS 1.2 and below: give it in the cipher "
			"list; TLS 1.3 suites are named TLS_..., e.g. "
			"TLS_AES_256_GCM_SHA384", part);
	}
	ERR_pop_to_mark();
	return kmc_detail(KMC_E_INVALID, "TLS 1.3 suites: %s is no TLS 1.3 "
		"suite this OpenSSL has (see openssl ciphers -v -tls1_3)", part);
}

int tls_params_read(const kmc_tls_params *p, kmc_tls_params *ret)
{
	_cleanup_(SSL_CTX_freep) SSL_CTX *scratch = NULL;
	kmc_tls_params q = KMC_TLS_PARAMS_INIT;

	if (p) {
		if (p->size < offsetof(kmc_tls_params, client_cert) +
		    sizeof(p->client_cert))
			return kmc_detail(KMC_E_INVALID, "kmc_tls_params.size is "
				"%zu: set it to sizeof(kmc_tls_params) "
				"(KMC_TLS_PARAMS_INIT)", p->size);
		/* A caller's older, shorter struct leaves the rest default. */
		memcpy(&q, p, p->size < sizeof(q) ? p->size : sizeof(q));
		q.size = sizeof(q);
	}
	if (q.client_cert != KMC_CLIENT_CERT_REQUIRED &&
	    q.client_cert != KMC_CLIENT_CERT_OPTIONAL &&
	    q.client_cert != KMC_CLIENT_CERT_NONE)
		return kmc_detail(KMC_E_INVALID, "kmc_tls_params.client_cert "
			"is %d: not KMC_CLIENT_CERT_REQUIRED, _OPTIONAL or _NONE",
			(int)q.client_cert);
	if (q.cipher_list)
		KMC_GUARD(chars_check("cipher list", q.cipher_list));
	if (q.ciphersuites)
		KMC_GUARD(chars_check("TLS 1.3 suites", q.ciphersuites));
	if (q.cipher_list || (q.ciphersuites && *q.ciphersuites)) {
		scratch = SSL_CTX_new(TLS_server_method());
		KMC_ENSURE(scratch, KMC_E_NOMEM);
	}
	if (q.cipher_list) {
		/* OpenSSL's own separators between the parts. */
		KMC_GUARD(parts_each(scratch, q.cipher_list, ":, ;",
			list_part_check));
		/* Each part selects something, yet exclusions may take it
		   all away again ("HIGH:!HIGH"), or a directive be wrong. */
		ERR_set_mark();
		if (SSL_CTX_set_cipher_list(scratch, q.cipher_list) != 1 ||
		    count_selected(scratch, 0, NULL) == 0) {
			ERR_pop_to_mark();
			return kmc_detail(KMC_E_INVALID, "cipher list %s leaves "
				"no cipher for TLS 1.2 or below", q.cipher_list);
		}
		ERR_pop_to_mark();
	}
	if (q.ciphersuites)
		KMC_GUARD(parts_each(scratch, q.ciphersuites, ":",
			suite_check));
	*ret = q;
	return 0;
}

int tls_params_apply(SSL_CTX *ctx, const kmc_tls_params *q)
{
	/* Checked by tls_params_read(): only OpenSSL's own faults remain. */
	if (q->cipher_list && SSL_CTX_set_cipher_list(ctx, q->cipher_list) != 1)
		return kmc_detail(KMC_E_INVALID, "OpenSSL refused the cipher "
			"list: %s", ossl_reason());
	if (q->ciphersuites &&
	    SSL_CTX_set_ciphersuites(ctx, q->ciphersuites) != 1)
		return kmc_detail(KMC_E_INVALID, "OpenSSL refused the TLS 1.3 "
			"suites: %s", ossl_reason());
	/* Without suites a server still offering TLS 1.3 fails every
	   handshake, TLS 1.2 ones too ("no ciphers available"): OpenSSL
	   wants ciphers for the highest version it may speak. */
	if (q->ciphersuites && !*q->ciphersuites &&
	    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1)
		return kmc_detail(KMC_E_INVALID, "OpenSSL refused TLS 1.2 as "
			"the highest version: %s", ossl_reason());
	return 0;
}
