/*
 * trustrec.c - a trust store's record (format in vault/trust.h): parsed
 * with every length bounded, encoded back, and shown as PEM.
 */
#include <string.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "trust.h"
#include "x509.h"
#include "../kmc/buf.h"

int trust_name_check(const char *name, int alias)
{
	size_t n = strlen(name);

	if (n == 0 || n > KMC_TRUST_NAME_MAX || name[0] == '.')
		return KMC_E_NAME;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
			continue;
		if (alias && (c == '@' || c == '+'))
			continue;
		return KMC_E_NAME;
	}
	return 0;
}

void trust_set_clear(trust_set *t)
{
	for (size_t i = 0; i < t->n; i++) {
		X509_free(t->c[i].x);
		free(t->c[i].der);
		X509_CRL_free(t->c[i].crl);
		free(t->c[i].crl_der);
	}
	memset(t, 0, sizeof(*t));
}

int trust_crl_set(trust_cert *c, X509_CRL *crl)
{
	unsigned char *p = NULL;
	int n = 0;

	if (crl) {
		n = i2d_X509_CRL(crl, &p);
		if (n <= 0)
			return KMC_E_NOMEM;
		if ((unsigned)n > TRUST_CRL_MAX) {
			OPENSSL_free(p);
			return KMC_E_TOO_LARGE;
		}
	}
	free(c->crl_der);
	c->crl_der = NULL;
	c->crl_len = 0;
	if (crl) {
		c->crl_der = malloc((size_t)n);
		if (!c->crl_der) {
			OPENSSL_free(p);
			return KMC_E_NOMEM;
		}
		memcpy(c->crl_der, p, (size_t)n);
		c->crl_len = (size_t)n;
		OPENSSL_free(p);
	}
	X509_CRL_free(c->crl);
	c->crl = crl;
	c->flags = crl ? c->flags | TRUST_FLAG_CRL : c->flags & ~TRUST_FLAG_CRL;
	return 0;
}

int trust_cert_set(trust_cert *c, X509 *x)
{
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);

	if (n <= 0)
		return KMC_E_NOMEM;
	if ((unsigned)n > KMC_TRUST_CERT_MAX) {
		OPENSSL_free(p);
		return KMC_E_TOO_LARGE;
	}
	free(c->der);
	c->der = malloc((size_t)n);
	if (!c->der) {
		OPENSSL_free(p);
		return KMC_E_NOMEM;
	}
	memcpy(c->der, p, (size_t)n);
	c->der_len = (size_t)n;
	OPENSSL_free(p);
	X509_free(c->x);
	c->x = x;
	return 0;
}

static int parse_files(kmc_rbuf *b, trust_set *t)
{
	uint8_t n;

	KMC_GUARD(kmc_rbuf_u8(b, &n));
	KMC_ENSURE(n <= KMC_TRUST_FILES_MAX, KMC_E_CORRUPT);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p;
		uint16_t len;

		KMC_GUARD(kmc_rbuf_u16(b, &len));
		KMC_ENSURE(len >= 2 && len <= TRUST_PATH_MAX, KMC_E_CORRUPT);
		KMC_GUARD(kmc_rbuf_bytes(b, len, &p));
		KMC_ENSURE(p[0] == '/' && !memchr(p, '\0', len), KMC_E_CORRUPT);
		memcpy(t->files[i], p, len);
		t->files[i][len] = '\0';
		for (size_t k = 0; k < i; k++)
			KMC_ENSURE(strcmp(t->files[k], t->files[i]) != 0,
				KMC_E_CORRUPT);
		t->n_files = i + 1;
	}
	return 0;
}

static int parse_cert(kmc_rbuf *b, trust_set *t)
{
	trust_cert *c = &t->c[t->n];
	const uint8_t *p, *d;
	uint8_t alen, flags;
	uint32_t dlen;

	KMC_GUARD(kmc_rbuf_u8(b, &alen));
	KMC_GUARD(kmc_rbuf_bytes(b, alen, &p));
	KMC_ENSURE(alen > 0 && alen <= KMC_TRUST_NAME_MAX, KMC_E_CORRUPT);
	memcpy(c->alias, p, alen);
	c->alias[alen] = '\0';
	KMC_ENSURE(strlen(c->alias) == alen &&
		trust_name_check(c->alias, 1) == 0, KMC_E_CORRUPT);
	/* In name order, so also unique. */
	KMC_ENSURE(t->n == 0 || strcmp(t->c[t->n - 1].alias, c->alias) < 0,
		KMC_E_CORRUPT);
	KMC_GUARD(kmc_rbuf_u8(b, &flags));
	/* A flag this kmc does not know: a newer kmcvault wrote it. */
	KMC_ENSURE((flags & ~(TRUST_FLAG_PINNED | TRUST_FLAG_CRL)) == 0,
		KMC_E_VERSION);
	c->flags = flags;
	KMC_GUARD(kmc_rbuf_u32(b, &dlen));
	KMC_ENSURE(dlen > 0 && dlen <= KMC_TRUST_CERT_MAX, KMC_E_CORRUPT);
	KMC_GUARD(kmc_rbuf_bytes(b, dlen, &p));
	d = p;
	c->x = d2i_X509(NULL, &d, (long)dlen);
	if (!c->x)
		return ossl_nomem() ? KMC_E_NOMEM : KMC_E_CORRUPT;
	t->n++;
	KMC_ENSURE(d == p + dlen, KMC_E_CORRUPT);
	c->der = malloc(dlen);
	KMC_ENSURE(c->der, KMC_E_NOMEM);
	memcpy(c->der, p, dlen);
	c->der_len = dlen;
	if (!(flags & TRUST_FLAG_CRL))
		return 0;
	KMC_GUARD(kmc_rbuf_u32(b, &dlen));
	KMC_ENSURE(dlen > 0 && dlen <= TRUST_CRL_MAX, KMC_E_CORRUPT);
	KMC_GUARD(kmc_rbuf_bytes(b, dlen, &p));
	d = p;
	c->crl = d2i_X509_CRL(NULL, &d, (long)dlen);
	if (!c->crl)
		return ossl_nomem() ? KMC_E_NOMEM : KMC_E_CORRUPT;
	KMC_ENSURE(d == p + dlen, KMC_E_CORRUPT);
	c->crl_der = malloc(dlen);
	KMC_ENSURE(c->crl_der, KMC_E_NOMEM);
	memcpy(c->crl_der, p, dlen);
	c->crl_len = dlen;
	return 0;
}

int trust_parse(const uint8_t *p, size_t len, trust_set *ret)
{
	kmc_rbuf b = KMC_RBUF(p, len);
	uint8_t ver;
	uint16_t n;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = kmc_rbuf_u8(&b, &ver);
	if (r == 0 && ver != TRUST_RECORD_VERSION)
		r = KMC_E_VERSION;
	if (r == 0)
		r = parse_files(&b, ret);
	if (r == 0)
		r = kmc_rbuf_u16(&b, &n);
	if (r == 0 && n > KMC_TRUST_CERTS_MAX)
		r = KMC_E_CORRUPT;
	for (size_t i = 0; r == 0 && i < n; i++)
		r = parse_cert(&b, ret);
	if (r == 0 && kmc_rbuf_left(&b) != 0)
		r = KMC_E_CORRUPT;
	if (r < 0)
		trust_set_clear(ret);
	return r;
}

int trust_encode(const trust_set *t, uint8_t **ret, size_t *ret_len)
{
	kmc_wbuf b = KMC_WBUF(KMC_ITEM_MAX);

	kmc_wbuf_u8(&b, TRUST_RECORD_VERSION);
	kmc_wbuf_u8(&b, (uint8_t)t->n_files);
	for (size_t i = 0; i < t->n_files; i++) {
		kmc_wbuf_u16(&b, (uint16_t)strlen(t->files[i]));
		kmc_wbuf_bytes(&b, t->files[i], strlen(t->files[i]));
	}
	kmc_wbuf_u16(&b, (uint16_t)t->n);
	for (size_t i = 0; i < t->n; i++) {
		const trust_cert *c = &t->c[i];

		KMC_ASSERT(c->der && c->der_len > 0 &&
			c->der_len <= KMC_TRUST_CERT_MAX);
		kmc_wbuf_u8(&b, (uint8_t)strlen(c->alias));
		kmc_wbuf_bytes(&b, c->alias, strlen(c->alias));
		kmc_wbuf_u8(&b, (uint8_t)c->flags);
		kmc_wbuf_u32(&b, (uint32_t)c->der_len);
		kmc_wbuf_bytes(&b, c->der, c->der_len);
		if (c->flags & TRUST_FLAG_CRL) {
			KMC_ASSERT(c->crl_der && c->crl_len > 0);
			kmc_wbuf_u32(&b, (uint32_t)c->crl_len);
			kmc_wbuf_bytes(&b, c->crl_der, c->crl_len);
		}
	}
	if (b.err) {
		int r = b.err;

		kmc_wbuf_free(&b);
		/* A failed allocation is no record too large. */
		if (r != KMC_E_TOO_LARGE)
			return r;
		return kmc_detail(r, "the trust store's record would be over %u "
			"bytes", KMC_ITEM_MAX);
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}

int trust_to_pem(const trust_set *t, char **ret, size_t *ret_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;
	int ok = bio != NULL;

	for (size_t i = 0; ok && i < t->n; i++)
		ok = BIO_printf(bio, "# %s\n", t->c[i].alias) > 0 &&
			PEM_write_bio_X509(bio, t->c[i].x) == 1;
	n = ok ? BIO_get_mem_data(bio, &p) : 0;
	out = ok ? malloc((size_t)n + 1) : NULL;
	if (!out) {
		BIO_free(bio);
		return KMC_E_NOMEM;
	}
	if (n > 0)
		memcpy(out, p, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
	*ret = out;
	*ret_len = (size_t)n;
	return 0;
}
