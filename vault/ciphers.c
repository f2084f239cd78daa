/*
 * ciphers.c - the options of kmc_ssl_ctx_use_ex(): read the caller's
 * kmc_tls_params whatever its size, and check its cipher strings part by
 * part before anything is set.
 *
 * OpenSSL takes a cipher list with unknown names in it as long as one
 * part selects something ("HIGH:AES256-SAH384" is HIGH), so a typo in a
 * server's configured list would silently leave the cipher out. Here
 * each part that adds ciphers must select at least one of its own, tried
 * alone on an SSL_CTX of its own, and the message names the part. An
 * exclusion ("!RC4", "-3DES") is not checked: excluding a cipher this
 * OpenSSL lacks removes nothing, and old lists carry such parts.
 */
#include <stddef.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "ciphers.h"
#include "x509.h"

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

/*
 * Whether list selects a cipher of TLS 1.2 or below (tls13 0), or
 * whether name is a TLS 1.3 suite (tls13 1), tried on an SSL_CTX of its
 * own: a list that starts "SUITEB" turns Suite B mode on in the SSL_CTX,
 * and from then on OpenSSL puts the Suite B ciphers in place of every
 * list set on it. 1 or 0; KMC_E_NOMEM.
 */
static int selects(const char *s, int tls13)
{
	SSL_CTX *c = SSL_CTX_new(TLS_server_method());
	int ok;

	KMC_ENSURE(c, KMC_E_NOMEM);
	ERR_set_mark();
	if (tls13)
		ok = SSL_CTX_set_ciphersuites(c, s) == 1 &&
			count_selected(c, 1, s) > 0;
	else
		ok = SSL_CTX_set_cipher_list(c, s) == 1 &&
			count_selected(c, 0, NULL) > 0;
	ERR_pop_to_mark();
	SSL_CTX_free(c);
	return ok;
}

static int list_part_check(const char *part)
{
	const char *name = part;
	int r;

	/* The directives OpenSSL 3 knows; it stops at any other. */
	if (*part == '@') {
		if (strcmp(part, "@STRENGTH") == 0 ||
		    (strncmp(part, "@SECLEVEL=", 10) == 0 &&
		     part[10] >= '0' && part[10] <= '5' && !part[11]))
			return 0;
		return kmc_detail(KMC_E_INVALID, "cipher list: %s is no "
			"directive OpenSSL knows (@STRENGTH, @SECLEVEL=0 to 5)",
			part);
	}
	if (*part == '!' || *part == '-')
		return 0;	/* an exclusion, see above */
	if (*part == '+')
		name = part + 1;
	/* OpenSSL reads "SUITEB..." only at the start of a list, and then
	   in place of all of it; elsewhere it selects nothing, silently. */
	if (strncmp(name, "SUITEB", 6) == 0)
		return kmc_detail(KMC_E_INVALID, "cipher list: %s stands for "
			"the whole list in OpenSSL: give it alone", name);
	r = *name ? selects(name, 0) : 0;
	if (r != 0)
		return r < 0 ? r : 0;
	r = selects(name, 1);
	KMC_GUARD(r);
	if (r)
		return kmc_detail(KMC_E_INVALID, "cipher list: %s is a TLS 1.3 "
			"suite: give it in the TLS 1.3 suites (ciphersuites), "
			"not the list for TLS 1.2 and below", name);
	return kmc_detail(KMC_E_INVALID, "cipher list: %s selects no cipher "
		"this OpenSSL has for TLS 1.2 or below (see openssl ciphers "
		"-v)", name);
}

/* s split at any of seps; each non-empty part, whitespace trimmed
   around it, to check(); how many there were into *ret_n. */
static int parts_each(const char *s, const char *seps,
	int (*check)(const char *), size_t *ret_n)
{
	char part[KMC_TLS_CIPHERS_MAX + 1];
	size_t parts = 0;

	while (*s) {
		size_t n = strcspn(s, seps), a = 0, b = n;

		while (a < b && (s[a] == ' ' || s[a] == '\t'))
			a++;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
			b--;
		if (b > a) {
			memcpy(part, s + a, b - a);
			part[b - a] = '\0';
			KMC_GUARD(check(part));
			parts++;
		}
		s += n;
		if (*s)
			s++;
	}
	*ret_n = parts;
	return 0;
}

static int suite_check(const char *part)
{
	int r = selects(part, 1);

	KMC_GUARD(r);
	if (r)
		return 0;
	r = strncmp(part, "SUITEB", 6) == 0 ? 0 : selects(part, 0);
	KMC_GUARD(r);
	if (r)
		return kmc_detail(KMC_E_INVALID, "TLS 1.3 suites: %s is a "
			"cipher of TLS 1.2 and below: give it in the cipher "
			"list; TLS 1.3 suites are named TLS_..., e.g. "
			"TLS_AES_256_GCM_SHA384", part);
	return kmc_detail(KMC_E_INVALID, "TLS 1.3 suites: %s is no TLS 1.3 "
		"suite this OpenSSL has (see openssl ciphers -v -tls1_3)", part);
}

int tls_params_read(const kmc_tls_params *p, kmc_tls_params *ret)
{
	kmc_tls_params q = KMC_TLS_PARAMS_INIT;
	size_t n;
	int r;

	if (p) {
		if (p->size < offsetof(kmc_tls_params, client_cert) +
		    sizeof(p->client_cert))
			return kmc_detail(KMC_E_INVALID, "kmc_tls_params.size is "
				"%zu: set it to sizeof(kmc_tls_params) "
				"(KMC_TLS_PARAMS_INIT)", p->size);
		KMC_GUARD(vault_params_known(p, p->size, sizeof(q),
			"kmc_tls_params"));
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
	if (q.cipher_list) {
		/* OpenSSL looks for it at the very first byte. */
		const char *t = q.cipher_list;

		/* A Suite B list alone: OpenSSL's own, taken whole. */
		size_t k = strcspn(t, ":, ;");

		if (strncmp(t, "SUITEB", 6) != 0 ||
		    t[k + strspn(t + k, " \t")] != '\0') {
			/* OpenSSL's own separators between the parts. */
			KMC_GUARD(parts_each(q.cipher_list, ":, ;",
				list_part_check, &n));
		}
		/* Each part selects something, yet exclusions may take it
		   all away again ("HIGH:!HIGH"). */
		r = selects(q.cipher_list, 0);
		KMC_GUARD(r);
		if (!r)
			return kmc_detail(KMC_E_INVALID, "cipher list %s leaves "
				"no cipher for TLS 1.2 or below", q.cipher_list);
	}
	if (q.ciphersuites) {
		KMC_GUARD(parts_each(q.ciphersuites, ":", suite_check, &n));
		/* Only separators and blanks (" ", ":"): no suite, as "". */
		if (n == 0)
			q.ciphersuites = "";
	}
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
