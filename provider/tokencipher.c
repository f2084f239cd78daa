/*
 * tokencipher.c - RSA decryption with a key on a token (see tokenkey.c):
 * PKCS#1 v1.5, OAEP and TLS's premaster padding on the token through the
 * vault half; encryption by the other provider with the public half.
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
/* ASYM_CIPHER: RSA decryption                                       */

typedef struct cipherctx {
	tkey *k;
	int pad;
	EVP_MD *oaep_md;	/* NULL: SHA-1, OAEP's default */
	unsigned client_version, alt_version;	/* TLS premaster */
} cipherctx;

static void *ac_newctx(void *provctx)
{
	cipherctx *c = OPENSSL_zalloc(sizeof(*c));

	(void)provctx;
	if (c)
		c->pad = RSA_PKCS1_PADDING;
	return c;
}

static void ac_freectx(void *p)
{
	cipherctx *c = p;

	if (!c)
		return;
	tkey_free(c->k);
	EVP_MD_free(c->oaep_md);
	OPENSSL_free(c);
}

static int ac_set_ctx_params(void *p, const OSSL_PARAM params[])
{
	cipherctx *c = p;
	const OSSL_PARAM *q;

	if (!params)
		return 1;
	q = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
	if (q) {
		int mode = 0;

		if (!kmcprov_pad_mode(q, OSSL_PKEY_RSA_PAD_MODE_OAEP,
				RSA_PKCS1_OAEP_PADDING, &mode))
			return 0;
		if (mode != RSA_PKCS1_PADDING && mode != RSA_PKCS1_OAEP_PADDING &&
		    mode != RSA_PKCS1_WITH_TLS_PADDING)
			return 0;
		c->pad = mode;
	}
	q = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST);
	if (q) {
		const char *name = NULL;
		EVP_MD *md;

		if (!OSSL_PARAM_get_utf8_string_ptr(q, &name) ||
		    !(md = EVP_MD_fetch(NULL, name, OTHERS)))
			return 0;
		EVP_MD_free(c->oaep_md);
		c->oaep_md = md;
	}
	q = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST);
	if (q) {
		const char *name = NULL;

		if (!OSSL_PARAM_get_utf8_string_ptr(q, &name) ||
		    !EVP_MD_is_a(c->oaep_md ? c->oaep_md : EVP_sha1(), name))
			return 0;
	}
	q = OSSL_PARAM_locate_const(params,
		OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION);
	if (q && !OSSL_PARAM_get_uint(q, &c->client_version))
		return 0;
	q = OSSL_PARAM_locate_const(params,
		OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION);
	if (q && !OSSL_PARAM_get_uint(q, &c->alt_version))
		return 0;
	return 1;
}

static const OSSL_PARAM *ac_settable_ctx_params(void *ctx, void *provctx)
{
	static const OSSL_PARAM p[] = {
		OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
		OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, NULL),
		OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, NULL),
		OSSL_PARAM_END,
	};

	(void)ctx;
	(void)provctx;
	return p;
}

static int ac_get_ctx_params(void *p, OSSL_PARAM params[])
{
	cipherctx *c = p;
	OSSL_PARAM *q = OSSL_PARAM_locate(params,
		OSSL_ASYM_CIPHER_PARAM_PAD_MODE);

	if (q && q->data_type == OSSL_PARAM_INTEGER &&
	    !OSSL_PARAM_set_int(q, c->pad))
		return 0;
	return 1;
}

static const OSSL_PARAM *ac_gettable_ctx_params(void *ctx, void *provctx)
{
	static const OSSL_PARAM p[] = {
		OSSL_PARAM_int(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL),
		OSSL_PARAM_END,
	};

	(void)ctx;
	(void)provctx;
	return p;
}

static int ac_init(void *p, void *keydata, const OSSL_PARAM params[])
{
	cipherctx *c = p;
	tkey *k = keydata;

	if (!k || !k->pub || k->ec)
		return 0;
	__atomic_add_fetch(&k->refs, 1, __ATOMIC_ACQ_REL);
	tkey_free(c->k);
	c->k = k;
	return ac_set_ctx_params(c, params);
}

static int ac_decrypt_init(void *p, void *keydata, const OSSL_PARAM params[])
{
	cipherctx *c = p;

	return ac_init(p, keydata, params) && c->k->uri != NULL;
}

/*
 * TLS's RSA premaster (RFC 5246 7.4.7.1): whatever the padding says, the
 * answer is 48 bytes, random when the decryption or the version does not
 * check, so a client learns nothing from the handshake's failure.
 */
static int tls_premaster(cipherctx *c, unsigned char *out, size_t *outlen,
	size_t outsize, int r, const kmc_secret *pt,
	const kmcprov_vault_api *v)
{
	unsigned char fake[48];
	const unsigned char *m = r == 0 ? v->secret_data(pt) : NULL;
	int good;

	if (outsize < 48 || RAND_priv_bytes(fake, sizeof(fake)) != 1)
		return 0;
	fake[0] = (unsigned char)(c->client_version >> 8);
	fake[1] = (unsigned char)c->client_version;
	good = m && v->secret_len(pt) == 48 &&
		((m[0] == (c->client_version >> 8) &&
		  m[1] == (c->client_version & 0xff)) ||
		 (c->alt_version && m[0] == (c->alt_version >> 8) &&
		  m[1] == (c->alt_version & 0xff)));
	memcpy(out, good ? m : fake, 48);
	OPENSSL_cleanse(fake, sizeof(fake));
	*outlen = 48;
	return 1;
}

static int ac_decrypt(void *p, unsigned char *out, size_t *outlen,
	size_t outsize, const unsigned char *in, size_t inlen)
{
	cipherctx *c = p;
	const kmcprov_vault_api *v;
	kmc_secret *pt = NULL;
	int hash = KMC_TOKEN_HASH_NONE, r, ok;

	if (!out) {
		*outlen = (size_t)EVP_PKEY_get_size(c->k->pub);
		return 1;
	}
	v = kmcprov_vault();
	if (!v)
		return 0;
	if (c->pad == RSA_PKCS1_OAEP_PADDING) {
		hash = tkey_hash_of(c->oaep_md ? c->oaep_md : EVP_sha1(), 0);
		if (hash < 0)
			return 0;
	}
	/* The module's own OpenSSL errors stay out of the queue (tokensig.c). */
	ERR_set_mark();
	r = v->token_key_decrypt(c->k->uri, hash, in, inlen, &pt);
	ERR_pop_to_mark();
	if (c->pad == RSA_PKCS1_WITH_TLS_PADDING) {
		ok = tls_premaster(c, out, outlen, outsize, r, pt, v);
		if (pt)
			v->secret_free(pt);
		return ok;
	}
	if (r < 0) {
		tkey_fail(v, r, "decrypting", c->k);
		return 0;
	}
	ok = v->secret_len(pt) <= outsize;
	if (ok) {
		memcpy(out, v->secret_data(pt), v->secret_len(pt));
		*outlen = v->secret_len(pt);
	}
	v->secret_free(pt);
	return ok;
}

/* Encryption needs only the public half: the other provider does it. */
static int ac_encrypt(void *p, unsigned char *out, size_t *outlen,
	size_t outsize, const unsigned char *in, size_t inlen)
{
	cipherctx *c = p;
	EVP_PKEY_CTX *f = EVP_PKEY_CTX_new_from_pkey(NULL, c->k->pub, OTHERS);
	int ok;

	*outlen = outsize;
	ok = f && EVP_PKEY_encrypt_init(f) == 1 &&
		EVP_PKEY_CTX_set_rsa_padding(f, c->pad) == 1 &&
		(c->pad != RSA_PKCS1_OAEP_PADDING || !c->oaep_md ||
		 EVP_PKEY_CTX_set_rsa_oaep_md(f, c->oaep_md) == 1) &&
		EVP_PKEY_encrypt(f, out, outlen, in, inlen) == 1;
	EVP_PKEY_CTX_free(f);
	return ok;
}

static const OSSL_DISPATCH asym_functions[] = {
	FN(OSSL_FUNC_ASYM_CIPHER_NEWCTX, ac_newctx),
	FN(OSSL_FUNC_ASYM_CIPHER_FREECTX, ac_freectx),
	FN(OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, ac_decrypt_init),
	FN(OSSL_FUNC_ASYM_CIPHER_DECRYPT, ac_decrypt),
	FN(OSSL_FUNC_ASYM_CIPHER_ENCRYPT_INIT, ac_init),
	FN(OSSL_FUNC_ASYM_CIPHER_ENCRYPT, ac_encrypt),
	FN(OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS, ac_get_ctx_params),
	FN(OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS, ac_gettable_ctx_params),
	FN(OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS, ac_set_ctx_params),
	FN(OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS, ac_settable_ctx_params),
	{ 0, NULL },
};

const OSSL_ALGORITHM kmcprov_asym_cipher[] = {
	{ RSA_NAMES, "provider=kmc", asym_functions,
	  "kmc: RSA decryption on a token" },
	{ NULL, NULL, NULL, NULL },
};
