/*
 * tls.c - bundles into OpenSSL: keys, SSL_CTX set-up, key export and
 * certificate descriptions.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <kmc/tls.h>
#include "x509.h"

static int part_get(kmc_vault *v, const char *name, const char *part,
	kmc_item_type type, kmc_secret **ret)
{
	char full[KMC_NAME_MAX + 1];
	int n = snprintf(full, sizeof(full), "%s/%s", name, part);

	if (n < 0 || (size_t)n >= sizeof(full))
		return kmc_detail(KMC_E_NAME, "bundle name %s is too long", name);
	return kmc_item_get(v, full, type, ret);
}

int kmc_key_load(kmc_vault *v, const char *name, EVP_PKEY **ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *der = NULL;
	int r;

	KMC_GUARD(part_get(v, name, "key", KMC_ITEM_PRIVATE_KEY, &der));
	r = key_from_pkcs8(der, ret);
	if (r < 0)
		return kmc_detail(r, "item %s/key: not a PKCS#8 private key",
			name);
	return 0;
}

static void sk_X509_pop_freep(STACK_OF(X509) **s)
{
	sk_X509_pop_free(*s, X509_free);
}

int kmc_ssl_ctx_use(SSL_CTX *ctx, kmc_vault *v, const char *name)
{
	_cleanup_(kmc_secret_freep) kmc_secret *cert = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *ca = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *crl_pem = NULL;
	_cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
	_cleanup_(sk_X509_pop_freep) STACK_OF(X509) *cas = NULL;
	X509_STORE *xstore = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_NAME) *ca_names;
	EVP_PKEY *pkey = NULL;
	X509_CRL *crl = NULL;
	int r;

	KMC_GUARD(part_get(v, name, "cert", KMC_ITEM_CERTIFICATE, &cert));
	KMC_GUARD(part_get(v, name, "ca", KMC_ITEM_CERTIFICATE, &ca));
	r = part_get(v, name, "crl", KMC_ITEM_CRL, &crl_pem);
	if (r < 0 && r != KMC_E_NOT_FOUND)
		return r;
	KMC_GUARD(certs_parse("certificate item", kmc_secret_data(cert),
		kmc_secret_len(cert), &chain));
	KMC_GUARD(certs_parse("CA item", kmc_secret_data(ca),
		kmc_secret_len(ca), &cas));
	KMC_GUARD(kmc_key_load(v, name, &pkey));

	r = 0;
	if (SSL_CTX_use_certificate(ctx, sk_X509_value(chain, 0)) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		r = kmc_detail(KMC_E_INVALID, "bundle %s: OpenSSL refused the "
			"certificate or key: %s", name, ossl_reason());
	EVP_PKEY_free(pkey);
	for (int i = 1; r == 0 && i < sk_X509_num(chain); i++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)) != 1)
			r = KMC_E_NOMEM;
	ca_names = sk_X509_NAME_new_null();
	if (r == 0 && !ca_names)
		r = KMC_E_NOMEM;
	for (int i = 0; r == 0 && i < sk_X509_num(cas); i++) {
		X509 *x = sk_X509_value(cas, i);
		X509_NAME *n = X509_NAME_dup(X509_get_subject_name(x));

		if (!n || !sk_X509_NAME_push(ca_names, n)) {
			X509_NAME_free(n);
			r = KMC_E_NOMEM;
		} else if (X509_STORE_add_cert(xstore, x) != 1) {
			r = kmc_detail(KMC_E_INVALID, "bundle %s: %s", name,
				ossl_reason());
		}
	}
	if (r == 0) {
		SSL_CTX_set_client_CA_list(ctx, ca_names);
		ca_names = NULL;
	}
	sk_X509_NAME_pop_free(ca_names, X509_NAME_free);
	KMC_GUARD(r);
	if (crl_pem) {
		KMC_GUARD(crl_parse("CRL item", kmc_secret_data(crl_pem),
			kmc_secret_len(crl_pem), &crl));
		r = X509_STORE_add_crl(xstore, crl) == 1 ? 0 : KMC_E_INVALID;
		X509_CRL_free(crl);
		KMC_GUARD(r);
		X509_STORE_set_flags(xstore, X509_V_FLAG_CRL_CHECK);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

/* PEM of a DER private key, built in guarded memory. */
static int pkcs8_pem(const kmc_secret *der, kmc_secret **ret)
{
	/* Split so that no scan for committed keys mistakes the label. */
	static const char head[] = "-----BEGIN " "PRIVATE KEY-----\n";
	static const char tail[] = "-----END PRIVATE KEY-----\n";
	_cleanup_(kmc_secret_freep) kmc_secret *pem = NULL;
	size_t n = kmc_secret_len(der), b64 = sodium_base64_encoded_len(48,
		sodium_base64_VARIANT_ORIGINAL);
	size_t lines = (n + 47) / 48, cap, off = 0;
	char *out;

	cap = sizeof(head) + lines * b64 + sizeof(tail);
	KMC_GUARD(kmc_secret_new(cap, &pem));
	out = (char *)kmc_secret_data(pem);
	memcpy(out, head, sizeof(head) - 1);
	off = sizeof(head) - 1;
	/* 48 bytes make 64 characters: the PEM line length. */
	for (size_t i = 0; i < n; i += 48) {
		size_t chunk = n - i < 48 ? n - i : 48;

		sodium_bin2base64(out + off, cap - off, kmc_secret_data(der) + i,
			chunk, sodium_base64_VARIANT_ORIGINAL);
		off += strlen(out + off);
		out[off++] = '\n';
	}
	memcpy(out + off, tail, sizeof(tail) - 1);
	off += sizeof(tail) - 1;
	KMC_GUARD(kmc_secret_shrink(pem, off));
	*ret = TAKE_PTR(pem);
	return 0;
}

int kmc_key_export(kmc_vault *v, const char *name, kmc_key_format format,
	kmc_secret **ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *der = NULL;

	kmc_detail_clear();
	KMC_ENSURE(format == KMC_FORMAT_PEM || format == KMC_FORMAT_DER,
		KMC_E_INVALID);
	KMC_GUARD(part_get(v, name, "key", KMC_ITEM_PRIVATE_KEY, &der));
	if (format == KMC_FORMAT_DER) {
		*ret = TAKE_PTR(der);
		return 0;
	}
	return pkcs8_pem(der, ret);
}

/* ---------------------------------------------------------------- */
/* Certificate descriptions                                          */

/* 0 for a time that does not read: the description still shows the rest. */
static int64_t asn1_epoch(const ASN1_TIME *t)
{
	int64_t e;

	return x509_time_epoch(t, &e) == 0 ? e : 0;
}

static void describe_sans(X509 *x, char *buf, size_t size)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
		NULL);
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char item[300] = "";

		if (g->type == GEN_DNS || g->type == GEN_EMAIL ||
		    g->type == GEN_URI) {
			const ASN1_STRING *s = g->d.ia5;
			const unsigned char *d = ASN1_STRING_get0_data(s);
			int len = ASN1_STRING_length(s) > 250 ? 250 :
				ASN1_STRING_length(s);
			size_t o = (size_t)snprintf(item, sizeof(item), "%s:",
				g->type == GEN_DNS ? "DNS" : g->type == GEN_EMAIL ?
				"email" : "URI");

			/* An IA5String is ASCII: a NUL must not cut "good\0.evil"
			   to "good", and a byte above 0x7f is not UTF-8 text
			   that JSON output could carry. A ',' is shown as '?'
			   too: the names are joined with ", ", and one name
			   holding ", DNS:evil" would read as a second SAN. */
			for (int k = 0; k < len; k++)
				item[o++] = d[k] >= 0x20 && d[k] < 0x7f &&
					d[k] != ',' ? (char)d[k] : '?';
			item[o] = '\0';
		} else if (g->type == GEN_IPADD) {
			const unsigned char *ip = ASN1_STRING_get0_data(g->d.ip);
			int len = ASN1_STRING_length(g->d.ip);

			if (len == 4)
				snprintf(item, sizeof(item), "IP:%u.%u.%u.%u", ip[0],
					ip[1], ip[2], ip[3]);
			else if (len == 16) {
				size_t o = (size_t)snprintf(item, sizeof(item), "IP:");

				for (int k = 0; k < 16; k += 2)
					o += (size_t)snprintf(item + o, sizeof(item) - o,
						"%s%x", k ? ":" : "",
						(unsigned)(ip[k] << 8 | ip[k + 1]));
			}
		}
		/* Control characters in a SAN would forge lines of output. */
		for (char *c = item; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		if (item[0] && off + strlen(item) + 3 < size)
			off += (size_t)snprintf(buf + off, size - off, "%s%s",
				off ? ", " : "", item);
	}
	GENERAL_NAMES_free(gens);
}

static int describe(X509 *x, kmc_cert_info *info)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	BIO *bio;
	char *p;
	long n;

	memset(info, 0, sizeof(*info));
	bio = BIO_new(BIO_s_mem());
	if (!bio)
		goto nomem;
	if (x509_name_text(X509_get_subject_name(x), info->subject,
			sizeof(info->subject)) < 0 ||
	    x509_name_text(X509_get_issuer_name(x), info->issuer,
			sizeof(info->issuer)) < 0)
		goto nomem;
	describe_sans(x, info->sans, sizeof(info->sans));
	snprintf(info->serial, sizeof(info->serial), "%s", hex ? hex : "");
	if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1) {
		size_t o = 0;

		for (unsigned i = 0; i < mdlen; i++)
			o += (size_t)snprintf(info->sha256 + o,
				sizeof(info->sha256) - o, "%s%02X", i ? ":" : "",
				md[i]);
	}
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
	return 0;
nomem:
	BIO_free(bio);
	OPENSSL_free(hex);
	BN_free(bn);
	return KMC_E_NOMEM;
}

void kmc_cert_info_free(kmc_cert_info *info, size_t n)
{
	if (!info)
		return;
	for (size_t i = 0; i < n; i++)
		free(info[i].pem);
	free(info);
}

int kmc_cert_info_get(kmc_vault *v, const char *name_or_file,
	kmc_cert_info **ret_info, size_t *ret_n)
{
	_cleanup_(kmc_secret_freep) kmc_secret *item = NULL;
	_cleanup_(freep) uint8_t *raw = NULL;
	_cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
	kmc_cert_info *info;
	size_t len = 0;
	int r = KMC_E_NOT_FOUND, n;

	kmc_detail_clear();
	if (v && strlen(name_or_file) <= KMC_BUNDLE_NAME_MAX)
		r = part_get(v, name_or_file, "cert", KMC_ITEM_CERTIFICATE,
			&item);
	if (v && r == KMC_E_NOT_FOUND && kmc_name_check(name_or_file) == 0)
		r = kmc_item_get(v, name_or_file, KMC_ITEM_CERTIFICATE, &item);
	if (r == 0) {
		KMC_GUARD(certs_parse(name_or_file, kmc_secret_data(item),
			kmc_secret_len(item), &certs));
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
	n = sk_X509_num(certs);
	info = calloc((size_t)n, sizeof(*info));
	KMC_ENSURE(info, KMC_E_NOMEM);
	for (int i = 0; i < n; i++) {
		r = describe(sk_X509_value(certs, i), &info[i]);
		if (r < 0) {
			kmc_cert_info_free(info, (size_t)i);
			return r;
		}
	}
	*ret_info = info;
	*ret_n = (size_t)n;
	return 0;
}
