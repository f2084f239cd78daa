/*
 * certmake.c - certificates and CRLs the vault signs itself: a CA's own
 * (kmc ca init), a leaf it issues or a self-signed one (kmc cert issue),
 * and a CA's CRL (kmc ca crl). The extensions are those RFC 5280 and
 * `openssl verify -x509_strict` ask for: a CA's basicConstraints and
 * keyUsage critical, SKI on every certificate, AKI on every one a CA
 * signs and on its CRLs, and a CRL number.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <sodium.h>
#include "ca.h"
#include "x509.h"

void certmake_serial(uint8_t out[CA_SERIAL_MAX])
{
	do {
		randombytes_buf(out, CA_SERIAL_MAX);
		out[0] &= 0x7f;
	} while (out[0] == 0);
}

const EVP_MD *certmake_digest(EVP_PKEY *key)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_ED25519:
		return NULL;
	case EVP_PKEY_EC:
		return EVP_PKEY_get_bits(key) > 256 ? EVP_sha384() :
			EVP_sha256();
	default:
		return EVP_sha256();
	}
}

int certmake_end(const char *option, long days, int64_t now, int64_t limit,
	const char *limit_what, int64_t *ret)
{
	char date[32];
	time_t tt;
	struct tm tm;

	if (days <= 0)
		return kmc_detail(KMC_E_INVALID, "%s %ld: give 1 day or more",
			option, days);
	if (now > CA_TIME_END || days > (CA_TIME_END - now) / 86400)
		return kmc_detail(KMC_E_INVALID, "%s %ld: that ends after "
			"9999-12-31, the last day X.509 can write (at most "
			"%lld days from today)", option, days,
			(long long)((CA_TIME_END - now) / 86400));
	if (limit && now + days * 86400 > limit) {
		tt = (time_t)limit;
		gmtime_r(&tt, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
		return kmc_detail(KMC_E_INVALID, "%s %ld: that ends after %s "
			"expires (%s); at most %lld days", option, days,
			limit_what, date, (long long)((limit - now) / 86400));
	}
	*ret = now + days * 86400;
	return 0;
}

static int set_serial(X509 *x, const uint8_t *serial, size_t len)
{
	BIGNUM *bn = BN_bin2bn(serial, (int)len, NULL);
	ASN1_INTEGER *i = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	int ok = i && X509_set_serialNumber(x, i) == 1;

	ASN1_INTEGER_free(i);
	BN_free(bn);
	return ok ? 0 : KMC_E_NOMEM;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = e && X509_add_ext(x, e, -1) == 1;

	X509_EXTENSION_free(e);
	if (ok)
		return 0;
	if (ossl_nomem())
		return KMC_E_NOMEM;
	return kmc_detail(KMC_E_INVALID, "the certificate's %s extension "
		"(%s): %s", OBJ_nid2sn(nid), value, ossl_reason());
}

static int extensions(const cert_plan *p, X509 *x)
{
	X509V3_CTX ctx;
	int rsa = EVP_PKEY_get_base_id(p->key) == EVP_PKEY_RSA;

	X509V3_set_ctx(&ctx, p->issuer ? p->issuer : x, x, NULL, NULL, 0);
	if (p->ca) {
		KMC_GUARD(add_ext(x, &ctx, NID_basic_constraints,
			"critical,CA:TRUE"));
		KMC_GUARD(add_ext(x, &ctx, NID_key_usage,
			"critical,keyCertSign,cRLSign"));
	} else {
		KMC_GUARD(add_ext(x, &ctx, NID_basic_constraints,
			"critical,CA:FALSE"));
		/* A self-signed leaf has no keyUsage: OpenSSL takes one
		   without keyCertSign as not signed by itself, and then
		   no client could trust it as its own anchor. */
		if (p->issuer)
			KMC_GUARD(add_ext(x, &ctx, NID_key_usage,
				rsa && p->kind == CA_KIND_SERVER ?
				"critical,digitalSignature,keyEncipherment" :
				"critical,digitalSignature"));
		KMC_GUARD(add_ext(x, &ctx, NID_ext_key_usage,
			p->kind == CA_KIND_SERVER ? "serverAuth" :
			"clientAuth"));
	}
	KMC_GUARD(add_ext(x, &ctx, NID_subject_key_identifier, "hash"));
	if (p->issuer)
		KMC_GUARD(add_ext(x, &ctx, NID_authority_key_identifier,
			"keyid:always"));
	if (p->san && sk_GENERAL_NAME_num(p->san) > 0 &&
	    X509_add1_ext_i2d(x, NID_subject_alt_name, p->san,
		/* Critical when the subject is empty (RFC 5280 4.2.1.6). */
		X509_NAME_entry_count(p->subject) == 0, X509V3_ADD_DEFAULT) != 1)
		return ossl_nomem() ? KMC_E_NOMEM : kmc_detail(KMC_E_INVALID,
			"the certificate's subjectAltName: %s", ossl_reason());
	return 0;
}

int certmake_cert(const cert_plan *p, X509 **ret)
{
	X509 *x = X509_new();
	EVP_PKEY *signer = p->issuer_key ? p->issuer_key : p->key;
	int r = KMC_E_NOMEM;

	ERR_clear_error();
	if (!x || X509_set_version(x, X509_VERSION_3) != 1 ||
	    set_serial(x, p->serial, p->serial_len) < 0 ||
	    X509_set_subject_name(x, p->subject) != 1 ||
	    X509_set_issuer_name(x, p->issuer ?
		X509_get_subject_name(p->issuer) : p->subject) != 1 ||
	    !X509_time_adj_ex(X509_getm_notBefore(x), 0, 0,
		&(time_t){ (time_t)p->not_before }) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), 0, 0,
		&(time_t){ (time_t)p->not_after }) ||
	    X509_set_pubkey(x, p->key) != 1)
		goto fail;
	r = extensions(p, x);
	if (r < 0)
		goto fail;
	/* Tried once more before it is blamed: as certmake_crl's. */
	if (X509_sign(x, signer, certmake_digest(signer)) <= 0 &&
	    (ossl_nomem() || (ERR_clear_error(),
	     X509_sign(x, signer, certmake_digest(signer)) <= 0))) {
		r = ossl_nomem() ? KMC_E_NOMEM : kmc_detail(KMC_E_INVALID,
			"signing the certificate: %s", ossl_reason());
		goto fail;
	}
	*ret = x;
	return 0;
fail:
	X509_free(x);
	return r;
}

static int crl_ext(X509_CRL *crl, int nid, void *value)
{
	return X509_CRL_add1_ext_i2d(crl, nid, value, 0, X509V3_ADD_DEFAULT) == 1 ?
		0 : KMC_E_NOMEM;
}

static int add_revoked(X509_CRL *crl, const ca_entry *e)
{
	X509_REVOKED *rv = X509_REVOKED_new();
	BIGNUM *bn = BN_bin2bn(e->serial, e->serial_len, NULL);
	ASN1_INTEGER *serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	ASN1_TIME *when = ASN1_TIME_set(NULL, (time_t)e->revoked_at);
	ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();
	int ok = rv && serial && when && reason &&
		X509_REVOKED_set_serialNumber(rv, serial) == 1 &&
		X509_REVOKED_set_revocationDate(rv, when) == 1 &&
		ASN1_ENUMERATED_set(reason, e->reason) == 1 &&
		/* "unspecified" is said by saying nothing (RFC 5280 5.3.1). */
		(e->reason == 0 || X509_REVOKED_add1_ext_i2d(rv,
			NID_crl_reason, reason, 0, X509V3_ADD_DEFAULT) == 1) &&
		X509_CRL_add0_revoked(crl, rv) == 1;

	if (!ok)
		X509_REVOKED_free(rv);
	ASN1_ENUMERATED_free(reason);
	ASN1_TIME_free(when);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return ok ? 0 : KMC_E_NOMEM;
}

int certmake_crl(const ca_rec *c, uint64_t crl_number, X509 *x,
	EVP_PKEY *key, int64_t now, int64_t next, X509_CRL **ret)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *last = ASN1_TIME_set(NULL, (time_t)now);
	ASN1_TIME *nxt = ASN1_TIME_set(NULL, (time_t)next);
	ASN1_INTEGER *number = ASN1_INTEGER_new();
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
	int r = KMC_E_NOMEM;

	ERR_clear_error();
	if (!crl || !last || !nxt || !number || !akid || !ski ||
	    X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(x)) != 1 ||
	    X509_CRL_set1_lastUpdate(crl, last) != 1 ||
	    X509_CRL_set1_nextUpdate(crl, nxt) != 1 ||
	    ASN1_INTEGER_set_uint64(number, crl_number) != 1 ||
	    !(akid->keyid = ASN1_OCTET_STRING_dup(ski)) ||
	    crl_ext(crl, NID_crl_number, number) < 0 ||
	    crl_ext(crl, NID_authority_key_identifier, akid) < 0)
		goto out;
	for (size_t i = 0; i < c->n; i++)
		if ((c->e[i].flags & CA_FLAG_REVOKED) &&
		    add_revoked(crl, &c->e[i]) < 0)
			goto out;
	if (X509_CRL_sort(crl) != 1)
		goto out;
	/* OpenSSL 3.0's signature providers return some allocation
	   failures with no trace of them queued: the same key and bytes
	   signed again fail again only if they are at fault. */
	if (X509_CRL_sign(crl, key, certmake_digest(key)) <= 0 &&
	    (ossl_nomem() || (ERR_clear_error(),
	     X509_CRL_sign(crl, key, certmake_digest(key)) <= 0))) {
		r = ossl_nomem() ? KMC_E_NOMEM : kmc_detail(KMC_E_INVALID,
			"signing the CRL: %s", ossl_reason());
		goto out;
	}
	*ret = crl;
	crl = NULL;
	r = 0;
out:
	X509_CRL_free(crl);
	ASN1_TIME_free(last);
	ASN1_TIME_free(nxt);
	ASN1_INTEGER_free(number);
	AUTHORITY_KEYID_free(akid);
	return r;
}
