/*
 * chainverify.c - verifying import material: a chain to its CA
 * (chain_verify()) and a CRL (crl_verify()), the dates, the key that
 * matches the leaf, the signatures (cert_signed_by(), crl_signed_by()).
 * A check that fails for want of memory is reported as KMC_E_NOMEM,
 * never as a fault of the operator's files.
 */
#include <limits.h>
#include <stdio.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include "x509.h"

#define NOMEM_OR(show, r) \
	(ossl_nomem() ? kmc_detail(KMC_E_NOMEM, "%s: out of memory while "\
		"checking it", (show)) : (r))

/* The subject as messages name it, the form cert info prints (RFC
   2253: CN=web,O=Acme), not OpenSSL's one-line /CN=web/O=Acme. */
static void name_of(X509 *x, char *buf, size_t size)
{
	if (x509_name_text(X509_get_subject_name(x), buf, size) < 0)
		snprintf(buf, size, "(a name kmc could not print: out of memory)");
}

static int check_dates(const char *show, STACK_OF(X509) *certs)
{
	char subject[256], what[PATH_MAX + 300];
	int cmp;

	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		name_of(x, subject, sizeof(subject));
		snprintf(what, sizeof(what), "%s: certificate %s", show,
			subject);
		KMC_GUARD(time_cmp_now(X509_get0_notBefore(x), what,
			"notBefore", &cmp));
		if (cmp >= 0)
			return kmc_detail(KMC_E_VERIFY, "%s: certificate %s is "
				"not valid yet", show, subject);
		KMC_GUARD(time_cmp_now(X509_get0_notAfter(x), what, "notAfter",
			&cmp));
		if (cmp <= 0)
			return kmc_detail(KMC_E_VERIFY, "%s: certificate %s has "
				"expired", show, subject);
	}
	return 0;
}

int cert_signed_by(X509 *x, X509 *ca)
{
	ERR_clear_error();
	if (X509_verify(x, X509_get0_pubkey(ca)) == 1)
		return 1;
	if (ossl_nomem())
		return 0;
	ERR_clear_error();
	return X509_verify(x, X509_get0_pubkey(ca)) == 1;
}

int crl_signed_by(X509_CRL *crl, X509 *ca)
{
	ERR_clear_error();
	if (X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1)
		return 1;
	if (ossl_nomem())
		return 0;
	ERR_clear_error();
	return X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;
}

/*
 * The certificate in ca that signed crl into *ret, NULL when none did. A
 * CA file may hold two of the CRL's issuer name: a CA given a new key,
 * its old and new certificates side by side while clients move over.
 * Each is tried, not only the last, whose key may be the other one.
 */
int crl_issuer(const chain_files *f, STACK_OF(X509) *ca,
	X509_CRL *crl, X509 **ret)
{
	int named = 0;

	*ret = NULL;
	ERR_clear_error();
	for (int i = 0; i < sk_X509_num(ca); i++) {
		X509 *x = sk_X509_value(ca, i);

		if (X509_NAME_cmp(X509_get_subject_name(x),
				X509_CRL_get_issuer(crl)) != 0)
			continue;
		named = 1;
		if (cert_pubkey_lost(x))
			return kmc_detail(KMC_E_NOMEM, "%s: out of memory while "
				"reading the key of the CA in %s", f->crl, f->ca);
		ERR_clear_error();
		if (crl_signed_by(crl, x)) {
			*ret = x;
			return 0;
		}
		if (ossl_verify_failed_run()) {
			int r = kmc_detail(KMC_E_NOMEM, "%s: checking its "
				"signature under the CA in %s failed (%s): out of "
				"memory, or OpenSSL cannot verify", f->crl, f->ca,
				ossl_reason());

			ERR_clear_error();
			return r;
		}
		ERR_clear_error();
	}
	if (!named)
		return NOMEM_OR(f->crl, kmc_detail(KMC_E_VERIFY, "%s is not "
			"signed by the CA in %s (no certificate there is its "
			"issuer)", f->crl, f->ca));
	return kmc_detail(KMC_E_VERIFY, "%s is not signed by the CA in %s",
		f->crl, f->ca);
}

int crl_verify(const chain_files *f, STACK_OF(X509) *ca,
	STACK_OF(X509) *chain, X509_CRL *crl)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	X509 *issuer = NULL;
	char subject[256];
	int cmp = 0;

	KMC_GUARD(crl_issuer(f, ca, crl, &issuer));
	KMC_GUARD(time_cmp_now(X509_CRL_get0_lastUpdate(crl), f->crl,
		"thisUpdate", &cmp));
	if (cmp >= 0)
		return kmc_detail(KMC_E_VERIFY, "%s is not valid yet (its last "
			"update is in the future)", f->crl);
	if (next)
		KMC_GUARD(time_cmp_now(next, f->crl, "nextUpdate", &cmp));
	if (!next || cmp <= 0)
		return kmc_detail(KMC_E_VERIFY, "%s is out of date (its next "
			"update has passed); fetch a current CRL", f->crl);
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);
		X509_REVOKED *rev;

		if (X509_NAME_cmp(X509_get_issuer_name(x),
				X509_CRL_get_issuer(crl)) != 0)
			continue;
		if (X509_CRL_get0_by_cert(crl, &rev, x) == 1) {
			name_of(x, subject, sizeof(subject));
			return kmc_detail(KMC_E_VERIFY, "%s: certificate %s is "
				"revoked by %s", f->cert, subject, f->crl);
		}
	}
	return 0;
}

/*
 * chain's certificates after the leaf put in the order of the path ctx
 * verified, each certified by the one after it, as TLS 1.2 requires of
 * what a server sends (RFC 5246, 7.4.2): a server sends them as stored,
 * and an operator's file may list them in any order. Certificates the
 * path does not use keep their order, after it.
 */
static void chain_in_path_order(STACK_OF(X509) *chain, X509_STORE_CTX *ctx)
{
	STACK_OF(X509) *path = X509_STORE_CTX_get0_chain(ctx);
	int n = sk_X509_num(chain), next = 1;

	for (int p = 1; path && p < sk_X509_num(path); p++) {
		X509 *x = sk_X509_value(path, p);

		for (int i = next; i < n; i++) {
			if (X509_cmp(sk_X509_value(chain, i), x) != 0)
				continue;
			/* Move it to next, the rest after it shifting on. */
			x = sk_X509_value(chain, i);
			for (int j = i; j > next; j--)
				(void)sk_X509_set(chain, j, sk_X509_value(chain,
					j - 1));
			(void)sk_X509_set(chain, next++, x);
			break;
		}
	}
}

/* A fresh copy of x, read again from its bytes; NULL for want of
   memory (its bytes were read once: a failure now is not the file's). */
static X509 *cert_copy(X509 *x)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *y = NULL;
	int len;

	len = i2d_X509(x, &der);
	if (len > 0) {
		p = der;
		y = d2i_X509(NULL, &p, len);
	}
	OPENSSL_free(der);
	return y;
}

int cert_pubkey_lost(X509 *x)
{
	X509 *y;
	int lost;

	ERR_clear_error();
	if (X509_get0_pubkey(x)) {
		ERR_clear_error();
		return 0;
	}
	y = cert_copy(x);
	lost = !y || X509_get0_pubkey(y) != NULL;
	X509_free(y);
	ERR_clear_error();
	return lost;
}

int cert_ext_flags(X509 *x, uint32_t *ret)
{
	uint32_t flags;
	X509 *y;
	int again;

	ERR_clear_error();
	flags = X509_get_extension_flags(x);
	if (flags & EXFLAG_INVALID) {
		if (ossl_verify_failed_run()) {
			ERR_clear_error();
			return KMC_E_NOMEM;
		}
		y = cert_copy(x);
		again = y ? X509_get_extension_flags(y) : 0;
		X509_free(y);
		ERR_clear_error();
		if (!y || !(again & EXFLAG_INVALID))
			return KMC_E_NOMEM;
	}
	*ret = flags;
	return 0;
}

int cert_self_issued(X509 *x)
{
	X509 *y;
	int r;

	ERR_clear_error();
	r = X509_check_issued(x, x);
	if (r == X509_V_OK)
		return 1;
	if (r == X509_V_ERR_SUBJECT_ISSUER_MISMATCH) {
		ERR_clear_error();
		return 0;
	}
	/* Its own name as issuer, yet not issued by itself: its extensions
	   or its key's type could not be read, or it names another key as
	   its issuer's. Asked again of a fresh copy. */
	y = cert_copy(x);
	r = y ? X509_check_issued(y, y) : X509_V_ERR_OUT_OF_MEM;
	X509_free(y);
	ERR_clear_error();
	return r == X509_V_OK || r == X509_V_ERR_OUT_OF_MEM ? KMC_E_NOMEM : 0;
}

int cert_key_matches(X509 *x, EVP_PKEY *key)
{
	int r;

	if (cert_pubkey_lost(x))
		return KMC_E_NOMEM;
	for (int i = 0; i < 2; i++) {
		ERR_clear_error();
		if (X509_check_private_key(x, key) == 1)
			return 1;
		/* Not ossl_verify_failed_run(): keys of two types queue
		   EVP's "different key types" first. */
		r = ossl_nomem();
		ERR_clear_error();
		if (r)
			return KMC_E_NOMEM;
	}
	return 0;
}

/* The extensions of certs read and cached, as X509_verify_cert() would
   first read them (cert_ext_flags()): an allocation failing then marked
   a certificate invalid for good, and the chain was refused as one that
   does not chain ("unable to get local issuer certificate"). A
   certificate invalid of itself is left to X509_verify_cert() to
   refuse. */
static int extensions_read(const char *show, STACK_OF(X509) *certs)
{
	char subject[256];
	uint32_t flags;

	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if (cert_ext_flags(x, &flags) < 0 || cert_pubkey_lost(x)) {
			name_of(x, subject, sizeof(subject));
			ERR_clear_error();
			return kmc_detail(KMC_E_NOMEM, "%s: out of memory while "
				"reading the extensions or the key of certificate "
				"%s", show, subject);
		}
	}
	return 0;
}

/* Verify leaf's path to xstore's certificates in ctx, made anew, for a
   TLS server and failing that for a client: *verified 1 or 0. Returns 0
   or KMC_E_NOMEM. */
static int verify_path(X509_STORE_CTX *ctx, X509_STORE *xstore, X509 *leaf,
	STACK_OF(X509) *untrusted, int *verified)
{
	/* A TLS client's bundle (curl, an MQTT client) is as welcome as a
	   server's: a certificate fit for neither is refused. */
	static const int purposes[] = { X509_PURPOSE_SSL_SERVER,
		X509_PURPOSE_SSL_CLIENT };

	*verified = 0;
	for (size_t i = 0; i < sizeof(purposes) / sizeof(purposes[0]); i++) {
		if (i > 0 && X509_STORE_CTX_get_error(ctx) !=
				X509_V_ERR_INVALID_PURPOSE)
			break;
		X509_STORE_CTX_cleanup(ctx);
		ERR_clear_error();
		if (!X509_STORE_CTX_init(ctx, xstore, leaf, untrusted))
			return KMC_E_NOMEM;
		/* ca.crt may be an intermediate CA: trust what was given. */
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN |
			X509_V_FLAG_X509_STRICT);
		X509_STORE_CTX_set_purpose(ctx, purposes[i]);
		*verified = X509_verify_cert(ctx) == 1;
		if (*verified)
			break;
	}
	return 0;
}

int chain_verify(const chain_files *f, STACK_OF(X509) *ca,
	STACK_OF(X509) *chain, EVP_PKEY *key, X509_CRL *crl)
{
	X509_STORE *xstore = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	X509 *leaf = sk_X509_value(chain, 0);
	char subject[256];
	int r = 0, err, depth, verified;

	KMC_GUARD(check_dates(f->ca, ca));
	KMC_GUARD(check_dates(f->cert, chain));
	KMC_GUARD(extensions_read(f->ca, ca));
	KMC_GUARD(extensions_read(f->cert, chain));
	r = cert_key_matches(leaf, key);
	if (r != 1) {
		if (r < 0)
			return kmc_detail(KMC_E_NOMEM, "%s: out of memory while "
				"matching it to %s", f->key, f->cert);
		name_of(leaf, subject, sizeof(subject));
		return kmc_detail(KMC_E_VERIFY, "%s does not belong to the "
			"certificate %s in %s", f->key, subject, f->cert);
	}
	r = 0;
	xstore = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	untrusted = sk_X509_new_null();
	if (!xstore || !ctx || !untrusted)
		r = KMC_E_NOMEM;
	for (int i = 0; r == 0 && i < sk_X509_num(ca); i++)
		if (!X509_STORE_add_cert(xstore, sk_X509_value(ca, i)))
			r = KMC_E_NOMEM;
	for (int i = 1; r == 0 && i < sk_X509_num(chain); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(chain, i)))
			r = KMC_E_NOMEM;
	/* Once more when it fails with no allocation failure queued, as
	   cert_signed_by() does: OpenSSL reports some allocation failures
	   in a signature's check as a mismatch ("wrong public key type",
	   with no error of its own). A chain that fails twice is at fault,
	   unless the second failure tells otherwise. */
	if (r == 0)
		r = verify_path(ctx, xstore, leaf, untrusted, &verified);
	if (r == 0 && !verified && !ossl_nomem())
		r = verify_path(ctx, xstore, leaf, untrusted, &verified);
	if (r == 0) {
		/* A signature that failed for want of memory is not the
		   file's: OpenSSL reports it as any other signature failure. */
		err = verified ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
		if (r == 0 && !verified && (ossl_nomem() ||
		    ((err == X509_V_ERR_CERT_SIGNATURE_FAILURE ||
		      err == X509_V_ERR_CRL_SIGNATURE_FAILURE ||
		      err == X509_V_ERR_UNSPECIFIED ||
		      err == X509_V_ERR_OUT_OF_MEM) &&
		     ossl_verify_failed_run())))
			r = kmc_detail(KMC_E_NOMEM, "%s: out of memory while "
				"verifying its chain (%s)", f->cert,
				X509_verify_cert_error_string(err));
		if (r == 0 && !verified) {
			err = X509_STORE_CTX_get_error(ctx);
			depth = X509_STORE_CTX_get_error_depth(ctx);
			name_of(X509_STORE_CTX_get_current_cert(ctx) ?
				X509_STORE_CTX_get_current_cert(ctx) : leaf,
				subject, sizeof(subject));
			r = kmc_detail(KMC_E_VERIFY, "%s does not chain to the CA "
				"in %s: %s (certificate %s, depth %d)", f->cert,
				f->ca, X509_verify_cert_error_string(err), subject,
				depth);
		}
		if (r == 0)
			chain_in_path_order(chain, ctx);
	}
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(xstore);
	KMC_GUARD(r);
	if (crl)
		KMC_GUARD(crl_verify(f, ca, chain, crl));
	return 0;
}
