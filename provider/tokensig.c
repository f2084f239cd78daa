/*
 * tokensig.c - signatures with a key on a token (see tokenkey.c): RSA
 * PKCS#1 v1.5 and PSS, ECDSA, sign and digest_sign on the token through
 * the vault half; verification by the other provider with the public
 * half.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include "tokenkey.h"

/* ---------------------------------------------------------------- */
/* SIGNATURE                                                         */

typedef struct sigctx {
	tkey *k;
	int pad;		/* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
	int saltlen;		/* RSA_PSS_SALTLEN_* or a length */
	EVP_MD *md;		/* NULL: none set */
	EVP_MD_CTX *mdctx;	/* digest_sign/verify */
} sigctx;

static void *sig_newctx(void *provctx, const char *propq)
{
	sigctx *c = OPENSSL_zalloc(sizeof(*c));

	(void)provctx;
	(void)propq;
	if (c) {
		c->pad = RSA_PKCS1_PADDING;
		c->saltlen = RSA_PSS_SALTLEN_AUTO;
	}
	return c;
}

static void sig_freectx(void *p)
{
	sigctx *c = p;

	if (!c)
		return;
	tkey_free(c->k);
	EVP_MD_free(c->md);
	EVP_MD_CTX_free(c->mdctx);
	OPENSSL_free(c);
}

static void *sig_dupctx(void *p)
{
	sigctx *c = p, *d = OPENSSL_memdup(c, sizeof(*c));

	if (!d)
		return NULL;
	d->mdctx = NULL;
	if (d->k)
		__atomic_add_fetch(&d->k->refs, 1, __ATOMIC_ACQ_REL);
	if (d->md && !EVP_MD_up_ref(d->md))
		d->md = NULL;
	if (c->mdctx && (!(d->mdctx = EVP_MD_CTX_new()) ||
	    !EVP_MD_CTX_copy_ex(d->mdctx, c->mdctx))) {
		sig_freectx(d);
		return NULL;
	}
	return d;
}

static int set_md(sigctx *c, const char *name)
{
	EVP_MD *md = EVP_MD_fetch(NULL, name, OTHERS);

	if (!md)
		return 0;
	EVP_MD_free(c->md);
	c->md = md;
	return 1;
}

static int sig_set_ctx_params(void *p, const OSSL_PARAM params[])
{
	sigctx *c = p;
	const OSSL_PARAM *q;

	if (!params)
		return 1;
	q = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (q) {
		const char *name = NULL;

		if (!OSSL_PARAM_get_utf8_string_ptr(q, &name) || !set_md(c, name))
			return 0;
	}
	q = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
	if (q) {
		int mode = 0;

		if (!kmcprov_pad_mode(q, OSSL_PKEY_RSA_PAD_MODE_PSS,
				RSA_PKCS1_PSS_PADDING, &mode))
			return 0;
		if (mode != RSA_PKCS1_PADDING && mode != RSA_PKCS1_PSS_PADDING)
			return 0;
		c->pad = mode;
	}
	q = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
	if (q) {
		const char *s = NULL;
		int len = 0;

		if (q->data_type == OSSL_PARAM_UTF8_STRING) {
			if (!OSSL_PARAM_get_utf8_string_ptr(q, &s))
				return 0;
			len = !strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) ?
				RSA_PSS_SALTLEN_DIGEST : !strcmp(s,
				OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) ? RSA_PSS_SALTLEN_MAX :
				!strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) ?
				RSA_PSS_SALTLEN_AUTO : atoi(s);
		} else if (!OSSL_PARAM_get_int(q, &len)) {
			return 0;
		}
		c->saltlen = len;
	}
	/* MGF1 is always the signature's own hash on the token. */
	q = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
	if (q) {
		const char *name = NULL;

		if (!OSSL_PARAM_get_utf8_string_ptr(q, &name) ||
		    (c->md && !EVP_MD_is_a(c->md, name)))
			return 0;
	}
	return 1;
}

static const OSSL_PARAM *sig_settable_ctx_params(void *ctx, void *provctx)
{
	static const OSSL_PARAM p[] = {
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
		OSSL_PARAM_END,
	};

	(void)ctx;
	(void)provctx;
	return p;
}

static int sig_get_ctx_params(void *p, OSSL_PARAM params[])
{
	sigctx *c = p;
	OSSL_PARAM *q;

	q = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (q && c->md && !OSSL_PARAM_set_utf8_string(q, EVP_MD_get0_name(c->md)))
		return 0;
	q = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
	if (q && q->data_type == OSSL_PARAM_INTEGER &&
	    !OSSL_PARAM_set_int(q, c->pad))
		return 0;
	return 1;
}

static const OSSL_PARAM *sig_gettable_ctx_params(void *ctx, void *provctx)
{
	static const OSSL_PARAM p[] = {
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
		OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL),
		OSSL_PARAM_END,
	};

	(void)ctx;
	(void)provctx;
	return p;
}

static int sig_init(void *p, void *keydata, const OSSL_PARAM params[])
{
	sigctx *c = p;
	tkey *k = keydata;

	if (k) {
		__atomic_add_fetch(&k->refs, 1, __ATOMIC_ACQ_REL);
		tkey_free(c->k);
		c->k = k;
	}
	if (!c->k || !c->k->pub)
		return 0;
	return sig_set_ctx_params(c, params);
}

static int sign_init(void *p, void *keydata, const OSSL_PARAM params[])
{
	sigctx *c = p;

	if (!sig_init(p, keydata, params))
		return 0;
	/* A public key imported for a comparison signs nothing. */
	return c->k->uri != NULL;
}

int tkey_hash_of(const EVP_MD *md, size_t len)
{
	if (md) {
		if (EVP_MD_is_a(md, "SHA1"))
			return KMC_TOKEN_HASH_SHA1;
		if (EVP_MD_is_a(md, "SHA256"))
			return KMC_TOKEN_HASH_SHA256;
		if (EVP_MD_is_a(md, "SHA384"))
			return KMC_TOKEN_HASH_SHA384;
		if (EVP_MD_is_a(md, "SHA512"))
			return KMC_TOKEN_HASH_SHA512;
		return -1;
	}
	return len == 20 ? KMC_TOKEN_HASH_SHA1 : len == 32 ?
		KMC_TOKEN_HASH_SHA256 : len == 48 ? KMC_TOKEN_HASH_SHA384 :
		len == 64 ? KMC_TOKEN_HASH_SHA512 : -1;
}

/* r || s as the token gives it, into DER ECDSA-Sig-Value in place. */
static int ecdsa_der(unsigned char *sig, size_t *len, size_t room)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(*len / 2), NULL);
	BIGNUM *s = BN_bin2bn(sig + *len / 2, (int)(*len / 2), NULL);
	unsigned char *der = NULL;
	int n = -1;

	if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
		r = s = NULL;
		n = i2d_ECDSA_SIG(es, &der);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	if (n <= 0 || (size_t)n > room) {
		OPENSSL_free(der);
		return 0;
	}
	memcpy(sig, der, (size_t)n);
	OPENSSL_free(der);
	*len = (size_t)n;
	return 1;
}

static int sig_sign(void *p, unsigned char *sig, size_t *siglen,
	size_t sigsize, const unsigned char *tbs, size_t tbslen)
{
	sigctx *c = p;
	const kmcprov_vault_api *v;
	unsigned char raw[1024];
	size_t rawlen = sizeof(raw), max = (size_t)EVP_PKEY_get_size(c->k->pub);
	int hash = tkey_hash_of(c->md, tbslen), mech, salt = -1, r;

	if (!sig) {
		*siglen = max;
		return 1;
	}
	v = kmcprov_vault();
	if (!v)
		return 0;
	if (c->k->ec)
		mech = KMC_TOKEN_SIG_ECDSA;
	else if (c->pad == RSA_PKCS1_PSS_PADDING)
		mech = KMC_TOKEN_SIG_RSA_PSS;
	else
		mech = KMC_TOKEN_SIG_RSA_PKCS;
	/* Raw PKCS#1 v1.5 of a caller's DigestInfo: no hash of ours. */
	if (hash < 0 && mech == KMC_TOKEN_SIG_RSA_PKCS && !c->md)
		hash = KMC_TOKEN_HASH_NONE;
	if (hash < 0)
		return 0;
	if (mech == KMC_TOKEN_SIG_RSA_PSS) {
		size_t hlen = tbslen, em = (size_t)(EVP_PKEY_get_bits(c->k->pub)
			- 1 + 7) / 8;

		salt = c->saltlen >= 0 ? c->saltlen :
			c->saltlen == RSA_PSS_SALTLEN_DIGEST ? (int)hlen :
			(int)(em - hlen - 2);	/* MAX, AUTO: the most that fits */
	}
	/* A module that uses OpenSSL itself (SoftHSM2 looks for an engine
	   when a worker first loads it) may leave errors in this thread's
	   queue; a server that finds them there fails the handshake. */
	ERR_set_mark();
	r = v->token_key_sign(c->k->uri, mech, hash, salt, tbs, tbslen, raw,
		&rawlen);
	ERR_pop_to_mark();
	if (r < 0) {
		tkey_fail(v, r, "signing", c->k);
		return 0;
	}
	if (c->k->ec && !ecdsa_der(raw, &rawlen, sizeof(raw)))
		return 0;
	if (rawlen > sigsize)
		return 0;
	memcpy(sig, raw, rawlen);
	*siglen = rawlen;
	return 1;
}

/* Verification: the other provider, with the public half. */
static int sig_verify(void *p, const unsigned char *sig, size_t siglen,
	const unsigned char *tbs, size_t tbslen)
{
	sigctx *c = p;
	EVP_PKEY_CTX *f = EVP_PKEY_CTX_new_from_pkey(NULL, c->k->pub, OTHERS);
	int ok;

	ok = f && EVP_PKEY_verify_init(f) == 1 &&
		(!c->md || EVP_PKEY_CTX_set_signature_md(f, c->md) == 1);
	if (ok && !c->k->ec) {
		ok = EVP_PKEY_CTX_set_rsa_padding(f, c->pad) == 1 &&
			(c->pad != RSA_PKCS1_PSS_PADDING ||
			 EVP_PKEY_CTX_set_rsa_pss_saltlen(f, c->saltlen) == 1);
	}
	ok = ok && EVP_PKEY_verify(f, sig, siglen, tbs, tbslen) == 1;
	EVP_PKEY_CTX_free(f);
	return ok;
}

static int dsig_init(sigctx *c, const char *mdname, void *keydata,
	const OSSL_PARAM params[], int signing)
{
	if (!(signing ? sign_init(c, keydata, params) :
			sig_init(c, keydata, params)))
		return 0;
	if (mdname && *mdname && !set_md(c, mdname))
		return 0;
	if (!c->md && !set_md(c, c->k->ec && EVP_PKEY_get_bits(c->k->pub) > 256 ?
			"SHA384" : "SHA256"))
		return 0;
	if (!c->mdctx && !(c->mdctx = EVP_MD_CTX_new()))
		return 0;
	return EVP_DigestInit_ex2(c->mdctx, c->md, NULL);
}

static int dsign_init(void *p, const char *mdname, void *keydata,
	const OSSL_PARAM params[])
{
	return dsig_init(p, mdname, keydata, params, 1);
}

static int dverify_init(void *p, const char *mdname, void *keydata,
	const OSSL_PARAM params[])
{
	return dsig_init(p, mdname, keydata, params, 0);
}

static int dsig_update(void *p, const unsigned char *data, size_t len)
{
	sigctx *c = p;

	return c->mdctx && EVP_DigestUpdate(c->mdctx, data, len);
}

static int dsign_final(void *p, unsigned char *sig, size_t *siglen,
	size_t sigsize)
{
	sigctx *c = p;
	unsigned char dg[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;

	if (!sig)
		return sig_sign(c, NULL, siglen, sigsize, NULL, 0);
	if (!c->mdctx || !EVP_DigestFinal_ex(c->mdctx, dg, &dlen))
		return 0;
	return sig_sign(c, sig, siglen, sigsize, dg, dlen);
}

static int dverify_final(void *p, const unsigned char *sig, size_t siglen)
{
	sigctx *c = p;
	unsigned char dg[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;

	if (!c->mdctx || !EVP_DigestFinal_ex(c->mdctx, dg, &dlen))
		return 0;
	return sig_verify(c, sig, siglen, dg, dlen);
}

static const OSSL_DISPATCH sig_functions[] = {
	FN(OSSL_FUNC_SIGNATURE_NEWCTX, sig_newctx),
	FN(OSSL_FUNC_SIGNATURE_FREECTX, sig_freectx),
	FN(OSSL_FUNC_SIGNATURE_DUPCTX, sig_dupctx),
	FN(OSSL_FUNC_SIGNATURE_SIGN_INIT, sign_init),
	FN(OSSL_FUNC_SIGNATURE_SIGN, sig_sign),
	FN(OSSL_FUNC_SIGNATURE_VERIFY_INIT, sig_init),
	FN(OSSL_FUNC_SIGNATURE_VERIFY, sig_verify),
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, dsign_init),
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, dsig_update),
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, dsign_final),
	FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, dverify_init),
	FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, dsig_update),
	FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, dverify_final),
	FN(OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, sig_get_ctx_params),
	FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, sig_gettable_ctx_params),
	FN(OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, sig_set_ctx_params),
	FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, sig_settable_ctx_params),
	{ 0, NULL },
};

const OSSL_ALGORITHM kmcprov_signature[] = {
	{ RSA_NAMES, "provider=kmc", sig_functions,
	  "kmc: RSA signatures on a token" },
	{ "ECDSA", "provider=kmc", sig_functions,
	  "kmc: ECDSA signatures on a token" },
	{ NULL, NULL, NULL, NULL },
};
