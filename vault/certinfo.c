/*
 * certinfo.c - kmc_cert_info_get(), _version() and _sans(): a bundle's
 * or a file's certificates, described (and cert_describe(), which trust
 * and CA listings describe theirs with). Apart from tls.c because the kmc
 * command needs these and nothing of libssl: a program that never sets up
 * an SSL_CTX (the command, linked with --as-needed) then does not load
 * libssl at all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <kmc/tls.h>
#include "x509.h"
#include "../kmc/buf.h"

/* 0 for a time that does not read: the description still shows the rest. */
static int64_t asn1_epoch(const ASN1_TIME *t)
{
	int64_t e;

	return x509_time_epoch(t, &e) == 0 ? e : 0;
}

/* The most of one DNS, e-mail, URI or directory name a list shows: a
   URI kmc cert issue takes may be 1024 bytes; longer ones end "...". */
#define SAN_ITEM_MAX 1024

/* One name of a SAN list as text into item (SAN_ITEM_MAX and its type's
   prefix), "" for none. */
static void san_text(const GENERAL_NAME *g, char *item, size_t size)
{
	const unsigned char *d = NULL;
	const char *kind = NULL;
	char oid[80];
	char *dn = NULL;
	int len = 0;

	item[0] = '\0';
	switch (g->type) {
	case GEN_DNS: case GEN_EMAIL: case GEN_URI:
		kind = g->type == GEN_DNS ? "DNS" : g->type == GEN_EMAIL ?
			"email" : "URI";
		d = ASN1_STRING_get0_data(g->d.ia5);
		len = ASN1_STRING_length(g->d.ia5);
		break;
	case GEN_DIRNAME:
		/* As openssl x509 -text shows it: DirName:/CN=x/O=y */
		dn = X509_NAME_oneline(g->d.dirn, NULL, 0);
		kind = "DirName";
		d = (const unsigned char *)(dn ? dn : "?");
		len = (int)strlen((const char *)d);
		break;
	case GEN_RID:
		OBJ_obj2txt(oid, sizeof(oid), g->d.rid, 1);
		snprintf(item, size, "RID:%s", oid);
		break;
	case GEN_OTHERNAME:
		OBJ_obj2txt(oid, sizeof(oid), g->d.otherName->type_id, 1);
		snprintf(item, size, "othername:%s", oid);
		break;
	case GEN_IPADD:
		d = ASN1_STRING_get0_data(g->d.ip);
		len = ASN1_STRING_length(g->d.ip);
		if (len == 4)
			snprintf(item, size, "IP:%u.%u.%u.%u", d[0], d[1], d[2],
				d[3]);
		else if (len == 16)
			for (size_t o = (size_t)snprintf(item, size, "IP:"), k = 0;
			     k < 16; k += 2)
				o += (size_t)snprintf(item + o, size - o, "%s%x",
					k ? ":" : "", (unsigned)(d[k] << 8 | d[k + 1]));
		else
			snprintf(item, size, "IP:<invalid>");
		d = NULL;
		break;
	default:	/* x400Address, ediPartyName */
		snprintf(item, size, "%s:<unsupported>", g->type == GEN_X400 ?
			"X400Name" : "EdiPartyName");
		break;
	}
	if (d) {
		size_t o = (size_t)snprintf(item, size, "%s:", kind);
		int cut = len > SAN_ITEM_MAX;

		if (cut)
			len = SAN_ITEM_MAX - 3;
		/* An IA5String is ASCII: a NUL must not cut "good\0.evil"
		   to "good", and a byte above 0x7f is not UTF-8 text that
		   JSON output could carry. A ',' is shown as '?' too: the
		   names are joined with ", ", and one name holding
		   ", DNS:evil" would read as a second SAN. */
		for (int k = 0; k < len && o + 1 < size; k++)
			item[o++] = d[k] >= 0x20 && d[k] < 0x7f && d[k] != ',' ?
				(char)d[k] : '?';
		item[o] = '\0';
		if (cut)
			snprintf(item + o, size - o, "...");
	}
	OPENSSL_free(dn);
	/* Control characters in a SAN would forge lines of output. */
	for (char *c = item; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* A bound no SAN list of a certificate kmc reads reaches (they come in
   items or files of KMC_ITEM_MAX, and a name's text is at most some five
   times its DER: a 6-byte IP address shown as "IP:255.255.255.255, "). */
#define SANS_MAX (8u * KMC_ITEM_MAX)

/* Every SAN extension of x, though X.509 allows one: a list that showed
   only the first would hide the names of a second from whoever reads it. */
static int sans_list(X509 *x, char **ret)
{
	kmc_wbuf b = KMC_WBUF(SANS_MAX);
	char item[SAN_ITEM_MAX + 32];
	int r = 0;

	for (int at = -1; r == 0 && (at = X509_get_ext_by_NID(x,
	     NID_subject_alt_name, at)) >= 0;) {
		GENERAL_NAMES *gens = X509V3_EXT_d2i(X509_get_ext(x, at));
		int n = gens ? sk_GENERAL_NAME_num(gens) : 1;

		if (!gens && ossl_nomem())
			r = KMC_E_NOMEM;
		for (int i = 0; r == 0 && i < n; i++) {
			if (gens)
				san_text(sk_GENERAL_NAME_value(gens, i), item,
					sizeof(item));
			else
				snprintf(item, sizeof(item), "<invalid>");
			if (!item[0])
				continue;
			if (b.len)
				kmc_wbuf_bytes(&b, ", ", 2);
			kmc_wbuf_bytes(&b, item, strlen(item));
		}
		GENERAL_NAMES_free(gens);
	}
	kmc_wbuf_u8(&b, 0);
	if (r == 0)
		r = b.err;
	if (r < 0) {
		kmc_wbuf_free(&b);
		return r;
	}
	*ret = (char *)b.p;
	return 0;
}

/* As many whole names of sans as fit in buf, and ", ..." when not all
   did: a caller that shows the field shows a cut list as one. */
static void sans_fit(const char *sans, char *buf, size_t size)
{
	static const char more[] = ", ...";
	size_t n = strlen(sans), end = 0;

	if (n < size) {
		memcpy(buf, sans, n + 1);
		return;
	}
	for (const char *p = sans; (p = strstr(p, ", ")) &&
	     (size_t)(p - sans) + sizeof(more) <= size; p += 2)
		end = (size_t)(p - sans);
	snprintf(buf, size, "%.*s%s", (int)end, sans, end ? more : "...");
}

/* A serial as openssl x509 -serial prints it: whole bytes of hex, so a
   zero is "00", not BN_bn2hex's "0". One longer than the field (X.509
   allows 20 bytes, a field of 132 holds 64) keeps the bytes that fit and
   ends "...": a cut serial must not read as another whole one. */
static void serial_text(const char *hex, char *buf, size_t size)
{
	size_t n, neg;

	if (!hex) {
		buf[0] = '\0';
		return;
	}
	if (!strcmp(hex, "0"))
		hex = "00";
	n = strlen(hex);
	if (n < size) {
		memcpy(buf, hex, n + 1);
		return;
	}
	neg = hex[0] == '-';
	n = (size - 4 - neg) & ~(size_t)1;
	snprintf(buf, size, "%.*s...", (int)(n + neg), hex);
}

int cert_describe(X509 *x, kmc_cert_info *info)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	BIO *bio;
	char *p, *sans = NULL;
	long n;

	memset(info, 0, sizeof(*info));
	bio = BIO_new(BIO_s_mem());
	/* No serial or digest (out of memory) is no description: shown
	   blank, the operator had nothing to match a CRL or a pin with. */
	if (!bio || !hex)
		goto nomem;
	if (x509_name_text(X509_get_subject_name(x), info->subject,
			sizeof(info->subject)) < 0 ||
	    x509_name_text(X509_get_issuer_name(x), info->issuer,
			sizeof(info->issuer)) < 0)
		goto nomem;
	if (sans_list(x, &sans) < 0)
		goto nomem;
	sans_fit(sans, info->sans, sizeof(info->sans));
	serial_text(hex, info->serial, sizeof(info->serial));
	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1)
		goto nomem;
	for (size_t i = 0, o = 0; i < mdlen; i++)
		o += (size_t)snprintf(info->sha256 + o, sizeof(info->sha256) - o,
			"%s%02X", i ? ":" : "", md[i]);
	info->not_before = asn1_epoch(X509_get0_notBefore(x));
	info->not_after = asn1_epoch(X509_get0_notAfter(x));
	if (!PEM_write_bio_X509(bio, x))
		goto nomem;
	n = BIO_get_mem_data(bio, &p);
	info->pem = malloc((size_t)n + 1);
	if (!info->pem)
		goto nomem;
	memcpy(info->pem, p, (size_t)n);
	info->pem[n] = '\0';
	BIO_free(bio);
	OPENSSL_free(hex);
	BN_free(bn);
	free(sans);
	return 0;
nomem:
	free(sans);
	BIO_free(bio);
	OPENSSL_free(hex);
	BN_free(bn);
	return KMC_E_NOMEM;
}

static void sk_X509_pop_freep(STACK_OF(X509) **s)
{
	sk_X509_pop_free(*s, X509_free);
}

void kmc_cert_info_free(kmc_cert_info *info, size_t n)
{
	if (!info)
		return;
	for (size_t i = 0; i < n; i++)
		free(info[i].pem);
	free(info);
}

/* A date that does not read would be described as 0, 1970-01-01: as
   though the certificate had expired fifty years ago (or been valid since
   then). Refused instead, naming it; bad is KMC_E_INVALID for a file,
   KMC_E_CORRUPT for the vault's (which cert check refuses too). */
static int dates_readable(const char *show, int bad, STACK_OF(X509) *certs)
{
	char subject[256], text[80];
	int64_t e;

	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		const ASN1_TIME *nb = X509_get0_notBefore(x);
		const ASN1_TIME *na = X509_get0_notAfter(x);
		int nb_bad = x509_time_epoch(nb, &e) < 0;

		if (!nb_bad && x509_time_epoch(na, &e) == 0)
			continue;
		KMC_GUARD(x509_name_text(X509_get_subject_name(x), subject,
			sizeof(subject)));
		x509_time_text(nb_bad ? nb : na, text, sizeof(text));
		return kmc_detail(bad, "%s: certificate %d (%s): its %s date "
			"(%s) does not read as a date", show, i + 1, subject,
			nb_bad ? "notBefore" : "notAfter", text);
	}
	return 0;
}

/* Describe each certificate of certs into a new array. */
static int describe_all(const char *show, int bad, STACK_OF(X509) *certs,
	kmc_cert_info **ret_info, size_t *ret_n)
{
	kmc_cert_info *info;
	int r, n;

	KMC_GUARD(dates_readable(show, bad, certs));
	n = sk_X509_num(certs);
	info = calloc((size_t)n, sizeof(*info));
	KMC_ENSURE(info, KMC_E_NOMEM);
	for (int i = 0; i < n; i++) {
		r = cert_describe(sk_X509_value(certs, i), &info[i]);
		if (r < 0) {
			kmc_cert_info_free(info, (size_t)i);
			return r;
		}
	}
	*ret_info = info;
	*ret_n = (size_t)n;
	return 0;
}

int kmc_cert_info_version(kmc_vault *v, const char *name, uint32_t version,
	kmc_cert_info **ret_info, size_t *ret_n)
{
	_cleanup_(kmc_secret_freep) kmc_secret *item = NULL;
	_cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
	char full[KMC_NAME_MAX + 1];
	int n = snprintf(full, sizeof(full), "%s/cert", name);

	kmc_detail_clear();
	if (n < 0 || (size_t)n >= sizeof(full) ||
	    strlen(name) > KMC_BUNDLE_NAME_MAX)
		return kmc_detail(KMC_E_NAME, "bundle name %s is too long", name);
	KMC_GUARD(kmc_item_get_version(v, full, version, KMC_ITEM_CERTIFICATE,
		&item));
	KMC_GUARD(certs_parse(full, kmc_secret_data(item),
		kmc_secret_len(item), &certs));
	return describe_all(full, KMC_E_CORRUPT, certs, ret_info, ret_n);
}

/* The vault's certificate of name: a bundle's, or a certificate item's. */
typedef struct info_job {
	const char *name;
	kmc_secret *item;
	int no_cert_yet;	/* a bundle whose key awaits its certificate */
} info_job;

static int info_read(kmc_vault *v, void *arg)
{
	info_job *j = arg;
	int r = KMC_E_NOT_FOUND;

	if (strlen(j->name) <= KMC_BUNDLE_NAME_MAX)
		r = vault_part_get(v, j->name, "cert", KMC_ITEM_CERTIFICATE,
			&j->item);
	if (r == KMC_E_NOT_FOUND) {
		int t = bundle_without_cert(v, j->name);

		if (t < 0)
			return t;
		if (t) {
			j->no_cert_yet = 1;
			return kmc_detail(r, "bundle %s has no certificate yet: "
				"kmc csr %s, then kmc cert set %s -s SIGNED.crt",
				j->name, j->name, j->name);
		}
	}
	if (r == KMC_E_NOT_FOUND && kmc_name_check(j->name) == 0)
		r = kmc_item_get(v, j->name, KMC_ITEM_CERTIFICATE, &j->item);
	return r;
}

static void info_undo(void *arg)
{
	info_job *j = arg;

	kmc_secret_free(j->item);
	j->item = NULL;
	j->no_cert_yet = 0;
}

int kmc_cert_info_get(kmc_vault *v, const char *name_or_file,
	kmc_cert_info **ret_info, size_t *ret_n)
{
	_cleanup_(kmc_secret_freep) kmc_secret *item = NULL;
	_cleanup_(freep) uint8_t *raw = NULL;
	_cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
	info_job job = { name_or_file, NULL, 0 };
	size_t len = 0;
	int r = KMC_E_NOT_FOUND, bad = KMC_E_INVALID;

	kmc_detail_clear();
	/* The bundle's certificate, else the item of that name, as of one
	   version of the vault: read across a kmc rm and import of the
	   bundle, the first could be gone and the second be the bundle's
	   password item, refused as "not a certificate". */
	if (v) {
		r = vault_read_one_version(v, name_or_file, info_read,
			info_undo, &job);
		item = TAKE_PTR(job.item);
		if (job.no_cert_yet)
			return r;
	}
	if (r == 0) {
		KMC_GUARD(certs_parse(name_or_file, kmc_secret_data(item),
			kmc_secret_len(item), &certs));
		bad = KMC_E_CORRUPT;
	} else if (r == KMC_E_NOT_FOUND) {
		kmc_detail_clear();
		r = input_read(name_or_file, INPUT_CERT, &raw, &len, NULL);
		if (r == -ENOENT)
			return kmc_detail(KMC_E_NOT_FOUND, "%s is neither a "
				"certificate item%s nor a file", name_or_file,
				v ? "" : " (no vault open)");
		KMC_GUARD(r);
		KMC_GUARD(input_error(certs_parse(name_or_file, raw, len,
			&certs)));
	} else {
		return r;
	}
	return describe_all(name_or_file, bad, certs, ret_info, ret_n);
}

int kmc_cert_info_sans(const kmc_cert_info *info, char **ret_sans)
{
	BIO *bio;
	X509 *x;
	int r;

	kmc_detail_clear();
	KMC_ENSURE(info->pem, KMC_E_INVALID);
	bio = BIO_new_mem_buf(info->pem, -1);
	KMC_ENSURE(bio, KMC_E_NOMEM);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!x)
		return ossl_nomem() ? KMC_E_NOMEM : kmc_detail(KMC_E_INVALID,
			"the description holds no certificate");
	r = sans_list(x, ret_sans);
	X509_free(x);
	return r;
}
