/*
 * crlorder.c - crl_not_older(): whether a CRL that is to replace another
 * of the same CA is not older than it. A CRL put back after a newer one
 * is still signed and, until its next update, current: accepted, it
 * would take back every revocation the newer one added. RFC 5280 (5.2.3)
 * orders a CA's CRLs by their CRL number, which relying parties keep the
 * highest of; without a number on both, by their last update. CRLs of
 * two CAs are not compared: another name, or under the same name another
 * key (a CA given a new key starts its numbers anew).
 *
 * The key is told by the CRLs themselves: equal authority key
 * identifiers name one key (cheap, and what RFC 5280 requires a CA to
 * write). Otherwise (`openssl ca` without crl_extensions writes none) by
 * the signatures: the new CRL has been verified under its CA's key, and
 * the held one is of that key when that key verifies it too. A CA
 * renewed with its key keeps its order; one given a new key does not
 * verify the old key's CRLs and starts anew. A held CRL the key does not
 * verify is not compared, whatever the reason: the vault's items are
 * authenticated, so it is another key's, and refusing it would refuse a
 * rotated CA its first CRL; a CRL put back must itself verify under the
 * CA's current key, so it is compared with that key's CRL.
 */
#include <stdio.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include "x509.h"

/* The CRL number of crl into *ret (NULL when it has none). Returns 0,
   KMC_E_NOMEM, KMC_E_VERIFY (one that does not read, or two). */
static int crl_number(const char *show, X509_CRL *crl, ASN1_INTEGER **ret)
{
	int crit = 0;

	ERR_clear_error();
	*ret = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	if (*ret || crit == -1)
		return 0;
	if (ossl_nomem())
		return KMC_E_NOMEM;
	/* Tried once more before it is blamed: OpenSSL's decoder loses some
	   allocation failures (as certmake.c's signing does), and the same
	   bytes decoded again fail again only if they are at fault. */
	ERR_clear_error();
	*ret = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	if (*ret || crit == -1)
		return 0;
	if (ossl_nomem())
		return KMC_E_NOMEM;
	return kmc_detail(KMC_E_VERIFY, "%s: its CRL number %s", show,
		crit == -2 ? "is given twice" : "does not read");
}

/* A CRL's last update as text, for the message. */
static void last_update_text(X509_CRL *crl, char *buf, size_t size)
{
	int64_t e;
	time_t tt;
	struct tm tm;

	if (x509_time_epoch(X509_CRL_get0_lastUpdate(crl), &e) < 0 ||
	    (tt = (time_t)e, !gmtime_r(&tt, &tm)))
		snprintf(buf, size, "a date that does not read");
	else
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The key identifier of the CA that signed crl into *ret, NULL when it
   names none (or one that does not read). 0 or KMC_E_NOMEM. */
static int signer_id(X509_CRL *crl, ASN1_OCTET_STRING **ret)
{
	AUTHORITY_KEYID *aki;
	int crit = 0;

	ERR_clear_error();
	aki = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, &crit,
		NULL);
	*ret = aki ? aki->keyid : NULL;
	if (aki)
		aki->keyid = NULL;
	AUTHORITY_KEYID_free(aki);
	return !aki && crit != -1 && ossl_nomem() ? KMC_E_NOMEM : 0;
}

/* 1 when ca's key, which verifies crl, verifies cur too; 0 when not;
   KMC_E_NOMEM when the check failed for want of memory rather than for
   the signature (chainverify.c tells them apart as crl_verify() does):
   taken as another key, an older CRL would be let in. */
static int signed_by_same_key(X509_CRL *cur, X509 *ca)
{
	int r;

	if (cert_pubkey_lost(ca))
		return KMC_E_NOMEM;
	if (crl_signed_by(cur, ca))
		return 1;
	r = ossl_verify_failed_run() ? KMC_E_NOMEM : 0;
	ERR_clear_error();
	return r;
}

/* 1 when crl and cur are of one CA key, 0 when not, KMC_E_NOMEM. */
static int same_ca(X509_CRL *crl, X509_CRL *cur, X509 *ca)
{
	ASN1_OCTET_STRING *a = NULL, *b = NULL;
	int r = X509_NAME_cmp(X509_CRL_get_issuer(crl),
		X509_CRL_get_issuer(cur));

	if (r != 0)
		return r == -2 ? KMC_E_NOMEM : 0;
	r = signer_id(crl, &a);
	if (r == 0)
		r = signer_id(cur, &b);
	if (r == 0)
		r = a && b && ASN1_OCTET_STRING_cmp(a, b) == 0;
	ASN1_OCTET_STRING_free(a);
	ASN1_OCTET_STRING_free(b);
	/* Not named, or named apart (a CA that changed how it derives its
	   key identifier keeps its key): the signatures tell. */
	if (r == 0)
		r = signed_by_same_key(cur, ca);
	return r;
}

/* n as decimal (hex past 128 bits, as openssl crl -text shows it) into
   buf. 0 or KMC_E_NOMEM. */
static int number_text(const ASN1_INTEGER *n, char *buf, size_t size)
{
	char *s = i2s_ASN1_INTEGER(NULL, n);

	if (!s)
		return KMC_E_NOMEM;
	snprintf(buf, size, "%s", s);
	OPENSSL_free(s);
	return 0;
}

int crl_not_older(const char *show, X509_CRL *crl, const char *show_cur,
	X509_CRL *cur, X509 *ca)
{
	ASN1_INTEGER *n = NULL, *m = NULL;
	char when[40], when_cur[40], num[64], num_cur[64], why[200];
	int r, older;

	r = same_ca(crl, cur, ca);
	if (r < 0)
		return kmc_detail(r, "%s: out of memory while comparing it "
			"with %s", show, show_cur);
	if (r == 0)
		return 0;
	r = crl_number(show, crl, &n);
	if (r == 0)
		r = crl_number(show_cur, cur, &m);
	if (r < 0) {
		ASN1_INTEGER_free(n);
		return r;
	}
	if (n && m)
		older = ASN1_INTEGER_cmp(n, m) < 0;
	else
		older = ASN1_TIME_compare(X509_CRL_get0_lastUpdate(crl),
			X509_CRL_get0_lastUpdate(cur)) < 0;
	r = 0;
	if (older && n && m) {
		r = number_text(n, num, sizeof(num));
		if (r == 0)
			r = number_text(m, num_cur, sizeof(num_cur));
		if (r == 0)
			snprintf(why, sizeof(why), "its CRL number %s is lower "
				"than %s; last update", num, num_cur);
	} else if (older) {
		snprintf(why, sizeof(why), "%s; last update", n || m ?
			"only one has a CRL number" : "neither has a CRL number");
	}
	if (older && r == 0) {
		last_update_text(crl, when, sizeof(when));
		last_update_text(cur, when_cur, sizeof(when_cur));
		r = kmc_detail(KMC_E_VERIFY, "%s is older than %s, which it "
			"would replace (%s %s, against %s): a CRL put back would "
			"take back what the newer one revokes; fetch the CA's "
			"current CRL", show, show_cur, why, when, when_cur);
	} else if (r < 0) {
		r = kmc_detail(r, "%s: out of memory while comparing it with "
			"%s", show, show_cur);
	}
	ASN1_INTEGER_free(n);
	ASN1_INTEGER_free(m);
	return r;
}

int crl_not_older_than_held(const char *name, const char *crl_file,
	X509_CRL *crl, STACK_OF(X509) *ca, const kmc_secret *held)
{
	char show[KMC_NAME_MAX + 40];
	X509_CRL *cur = NULL;
	X509 *issuer;
	int r;

	/* The CA certificate crl_verify() verifies crl under. None: crl
	   is not the CA's, which the caller's crl_verify() refuses (cert
	   renew checks after this). */
	r = crl_issuer(&(chain_files){ .ca = "the CA certificates",
		.crl = crl_file }, ca, crl, &issuer);
	if (r == KMC_E_VERIFY) {
		kmc_detail_clear();
		return 0;
	}
	KMC_GUARD(r);
	snprintf(show, sizeof(show), "the CRL %s holds (%s/crl)", name, name);
	r = crl_parse(show, kmc_secret_data(held), kmc_secret_len(held), &cur);
	if (r == KMC_E_CORRUPT) {
		kmc_detail_clear();
		return 0;
	}
	KMC_GUARD(r);
	r = crl_not_older(crl_file, crl, show, cur, issuer);
	X509_CRL_free(cur);
	return r;
}
