/*
 * carevoke.c - kmc ca revoke: a certificate of a vault's CA marked
 * revoked in the CA's record, by serial, by the bundle it was issued
 * to, or by its file (checked to be the CA's own first). The next
 * kmc ca crl lists it (vault/ca.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include "ca.h"
#include "x509.h"
#include "audit.h"

/* The CA's record, with its revocations, in one transaction. */
static int rec_commit(kmc_vault *v, const ca_parts *c)
{
	store_txn t;
	int r;

	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = ca_rec_put(v, &t, c->item, &c->rec);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

/* The CRL reason code of the name reason (NULL: unspecified). */
static int reason_code(const char *reason, int *ret)
{
	*ret = 0;
	if (reason && ca_reason_parse(reason, ret) < 0)
		return kmc_detail(KMC_E_INVALID, "--reason %s: not one of "
			"unspecified, keyCompromise, cACompromise, "
			"affiliationChanged, superseded, cessationOfOperation, "
			"privilegeWithdrawn, aACompromise", reason);
	return 0;
}

/* Whether s is hex as ca_serial_parse() takes it (0x, colons) but of
   more than CA_SERIAL_MAX octets once leading zeros are dropped: a
   serial no certificate can have, rather than a bundle's name. */
static int serial_too_long(const char *s)
{
	size_t digits = 0;

	if (!strncmp(s, "0x", 2) || !strncmp(s, "0X", 2))
		s += 2;
	s += strspn(s, "0:");
	for (; *s; s++) {
		if (kmc_hexval(*s) >= 0)
			digits++;
		else if (*s != ':')
			return 0;
	}
	return digits > 2 * CA_SERIAL_MAX;
}

int kmc_ca_revoke(kmc_vault *v, const char *ca, const char *what,
	const char *reason, size_t *ret_n)
{
	return kmc_ca_revoke_ex(v, ca, what, reason, ret_n, NULL);
}

int kmc_ca_revoke_ex(kmc_vault *v, const char *ca, const char *what,
	const char *reason, size_t *ret_n, char *ret_serial)
{
	AUDIT_OP(v, "kmc_ca_revoke");
	_cleanup_(ca_parts_free) ca_parts c = { 0 };
	uint8_t serial[CA_SERIAL_MAX];
	size_t slen = 0, n = 0, already = 0;
	ssize_t by_serial = -1, last = -1;
	int code = 0;
	int64_t now = (int64_t)time(NULL);

	KMC_GUARD(ca_writable(v));
	KMC_GUARD(reason_code(reason, &code));
	if (!*what)
		return kmc_detail(KMC_E_INVALID, "an empty serial or name; "
			"give the serial (hex, as kmc ca list %s prints it) "
			"or the bundle CA %s issued to", ca, ca);
	KMC_GUARD(ca_load(v, ca, 0, &c));
	if (ca_serial_parse(what, serial, &slen) == 0)
		by_serial = ca_rec_find(&c.rec, serial, slen);
	for (size_t i = 0; i < c.rec.n; i++) {
		if (strcmp(c.rec.e[i].name, what) != 0)
			continue;
		if (by_serial >= 0 && (size_t)by_serial != i)
			return kmc_detail(KMC_E_INVALID, "%s is both a bundle CA %s "
				"issued to and the serial of another of its "
				"certificates; give the serial", what, ca);
		if (c.rec.e[i].flags & CA_FLAG_REVOKED) {
			already++;
			continue;
		}
		c.rec.e[i].flags |= CA_FLAG_REVOKED;
		c.rec.e[i].revoked_at = now;
		c.rec.e[i].reason = (uint8_t)code;
		last = (ssize_t)i;
		n++;
	}
	if (n == 0 && already == 0 && by_serial >= 0) {
		ca_entry *e = &c.rec.e[by_serial];

		if (e->flags & CA_FLAG_REVOKED)
			already++;
		else {
			e->flags |= CA_FLAG_REVOKED;
			e->revoked_at = now;
			e->reason = (uint8_t)code;
			last = by_serial;
			n++;
		}
	}
	if (n == 0 && already > 0)
		return kmc_detail(KMC_E_EXISTS, "CA %s already revoked %s", ca,
			what);
	if (n == 0 && serial_too_long(what))
		return kmc_detail(KMC_E_NOT_FOUND, "CA %s issued no bundle %s, "
			"and as a serial it has more than the 20 octets (40 hex "
			"digits) RFC 5280 allows one (kmc ca list %s shows what "
			"it issued)", ca, what, ca);
	if (n == 0)
		return kmc_detail(KMC_E_NOT_FOUND, "CA %s issued no certificate "
			"with serial %s nor to a bundle of that name (kmc ca list "
			"%s shows what it issued)", ca, what, ca);
	KMC_GUARD(rec_commit(v, &c));
	if (ret_n)
		*ret_n = n;
	/* As ca list and cert info print it, whatever form what had (0x,
	   colons, lower case, leading zeros), so logs compare. */
	if (ret_serial && n == 1)
		ca_serial_text(c.rec.e[last].serial, c.rec.e[last].serial_len,
			ret_serial);
	else if (ret_serial)
		ret_serial[0] = '\0';
	return 0;
}

/*
 * Why a certificate did not verify under a CA's key: not signed by it
 * (a signature that does not match, a key of another type: errors of
 * the check itself, ERR_LIB_ASN1 and the key's own), or a failure of
 * the run that says nothing of the file. OpenSSL reports an allocation
 * failing in a verification as an allocation failure, but also as a
 * digest or key type it could not fetch (a provider's store that could
 * not be made, "SHA256 could not be fetched") or the CA's key that
 * would not decode: errors of EVP or the library's core, first in the
 * queue, which the CA's own key and a digest every build has never
 * give when memory is there.
 */
static int verify_failure(const char *path, const char *ca)
{
	if (ossl_verify_failed_run())
		return kmc_detail(KMC_E_NOMEM, "%s: checking its signature "
			"under CA %s's key failed (%s): out of memory, or "
			"OpenSSL cannot verify", path, ca, ossl_reason());
	return kmc_detail(KMC_E_VERIFY, "%s: not a certificate CA %s "
		"signed (its signature does not verify under the CA's key)",
		path, ca);
}

/* The certificate in the file path, which must be one CA c signed: its
   issuer is the CA's subject and the CA's key verifies its signature.
   Its serial into *e (as the record keeps one), its kind and end date
   too. */
static int revoke_cert_read(const ca_parts *c, const char *path,
	ca_entry *e)
{
	STACK_OF(X509) *certs = NULL;
	const ASN1_INTEGER *sn;
	BIGNUM *bn = NULL;
	uint8_t *data = NULL;
	size_t len;
	X509 *x;
	int r;

	r = input_read(path, INPUT_CERT, &data, &len, NULL);
	if (r == 0)
		r = certs_parse(path, data, len, &certs);
	free(data);
	if (r < 0)
		return input_error(r);
	if (sk_X509_num(certs) != 1) {
		r = kmc_detail(KMC_E_INVALID, "%s holds %d certificates; give "
			"the one to revoke alone", path, sk_X509_num(certs));
		goto out;
	}
	x = sk_X509_value(certs, 0);
	if (X509_cmp(x, c->cert) == 0) {
		r = kmc_detail(KMC_E_INVALID, "%s is CA %s's own certificate, "
			"which it cannot revoke", path, c->name);
		goto out;
	}
	/* Both, each said as it is: a relying party looks the CRL up by
	   the issuer's name, so one signed by the CA's key under another
	   name is not the CA's either. */
	if (X509_NAME_cmp(X509_get_issuer_name(x),
	    X509_get_subject_name(c->cert)) != 0) {
		ERR_clear_error();
		r = kmc_detail(KMC_E_VERIFY, "%s: not a certificate CA %s "
			"signed (its issuer is not the CA's subject)", path,
			c->name);
		goto out;
	}
	ERR_clear_error();
	if (!cert_signed_by(x, c->cert)) {
		r = verify_failure(path, c->name);
		ERR_clear_error();
		goto out;
	}
	sn = X509_get0_serialNumber(x);
	bn = ASN1_INTEGER_to_BN(sn, NULL);
	if (!bn) {
		/* Not "0 or 1" as ossl_nomem() says it: a positive r went
		   on as success with no serial read, and revoked an empty
		   one. */
		ERR_clear_error();
		r = kmc_detail(KMC_E_NOMEM, "%s: out of memory reading its "
			"serial", path);
		goto out;
	}
	if (BN_is_negative(bn) || BN_is_zero(bn) ||
	    BN_num_bytes(bn) > CA_SERIAL_MAX) {
		r = kmc_detail(KMC_E_INVALID, "%s: a serial no CA of the vault "
			"gives (not 1 to %d bytes, positive)", path,
			CA_SERIAL_MAX);
		goto out;
	}
	e->serial_len = (uint8_t)BN_bn2bin(bn, e->serial);
	/* Its extensions, read once (X509_cmp above read them already, and
	   a failure then sticks): X509_get_extended_key_usage() says 0 for
	   extensions that could not be read, and a client certificate was
	   recorded as a server's. Signed by the CA, they are the ones kmc
	   wrote: a failure is the run's (memory), not the file's. */
	if (X509_check_purpose(x, -1, 0) != 1) {
		r = kmc_detail(KMC_E_NOMEM, "%s: reading its extensions failed "
			"(%s): out of memory", path, ossl_reason());
		ERR_clear_error();
		goto out;
	}
	e->kind = (X509_get_extended_key_usage(x) & XKU_SSL_CLIENT) &&
		!(X509_get_extended_key_usage(x) & XKU_SSL_SERVER) ?
		CA_KIND_CLIENT : CA_KIND_SERVER;
	r = x509_time_epoch(X509_get0_notAfter(x), &e->not_after);
	if (r < 0)
		r = kmc_detail(KMC_E_INVALID, "%s: an end date kmc cannot read",
			path);
out:
	BN_free(bn);
	sk_X509_pop_free(certs, X509_free);
	return r;
}

int kmc_ca_revoke_cert(kmc_vault *v, const char *ca, const char *path,
	const char *reason)
{
	return kmc_ca_revoke_cert_ex(v, ca, path, reason, NULL);
}

int kmc_ca_revoke_cert_ex(kmc_vault *v, const char *ca, const char *path,
	const char *reason, char *ret_serial)
{
	AUDIT_OP(v, "kmc_ca_revoke_cert");
	_cleanup_(ca_parts_free) ca_parts c = { 0 };
	char serial[2 * CA_SERIAL_MAX + 1];
	ca_entry e = { 0 };
	ssize_t i;
	int code = 0, r;

	KMC_GUARD(ca_writable(v));
	KMC_GUARD(reason_code(reason, &code));
	KMC_GUARD(ca_load(v, ca, 0, &c));
	KMC_GUARD(revoke_cert_read(&c, path, &e));
	ca_serial_text(e.serial, e.serial_len, serial);
	i = ca_rec_find(&c.rec, e.serial, e.serial_len);
	if (i >= 0 && (c.rec.e[i].flags & CA_FLAG_REVOKED))
		return kmc_detail(KMC_E_EXISTS, "CA %s already revoked %s "
			"(serial %s)", ca, path, serial);
	if (i < 0) {
		/* Issued after the backup a restore put back: the record
		   learns it now, under a name no bundle of its has. */
		snprintf(e.name, sizeof(e.name), "%s", KMC_CA_CERT_FILE_NAME);
		e.flags = CA_FLAG_REVOKED;
		e.revoked_at = (int64_t)time(NULL);
		e.reason = (uint8_t)code;
		r = ca_rec_add(&c.rec, &e);
		if (r == KMC_E_LIMIT)
			return kmc_detail(r, "CA %s holds %d certificates, its "
				"most", ca, CA_CERTS_MAX);
		KMC_GUARD(r);
	} else {
		c.rec.e[i].flags |= CA_FLAG_REVOKED;
		c.rec.e[i].revoked_at = (int64_t)time(NULL);
		c.rec.e[i].reason = (uint8_t)code;
	}
	KMC_GUARD(rec_commit(v, &c));
	if (ret_serial)
		memcpy(ret_serial, serial, strlen(serial) + 1);
	return 0;
}
