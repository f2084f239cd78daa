/*
 * tokenkey.c - bundles whose private key lives on a PKCS#11 token: kmc
 * key gen --on-token, the NAME/key record of where the key is (format in
 * tokenkey.h and docs/format.md), and the refusal of what needs the
 * key's bytes (unwrap, export). The token work is pkcs11/serverkey.c's.
 *
 * Order of a key gen: every check the vault can make first (name free,
 * type, writable); then the key is made on the token; then the vault's
 * items are committed in one transaction. Should that commit fail, the
 * token key is destroyed again, so neither side keeps half of a key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include "import.h"
#include "keygen.h"
#include "tokenkey.h"
#include "tokenpending.h"
#include "audit.h"
#include "x509.h"
#include "../pkcs11/serverkey.h"

#define RECORD_HEAD "kmc-token-key=1\n"

static void pkey_freep(EVP_PKEY **k)
{
	EVP_PKEY_free(*k);
}

/* ---------------------------------------------------------------- */
/* The public half                                                   */

static int pub_to_pkey(const p11_pubkey *pub, EVP_PKEY **ret)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *c = NULL;
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY *k = NULL;
	unsigned bits = p11_pubkey_bits(pub);
	int ok = 0;

	if (!b)
		return KMC_E_NOMEM;
	if (pub->kind == P11_KEY_RSA) {
		n = BN_bin2bn(pub->n, (int)pub->n_len, NULL);
		e = BN_bin2bn(pub->e, (int)pub->e_len, NULL);
		ok = n && e && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n) &&
			OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e);
		c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else if (bits == 256 || bits == 384) {
		ok = OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME,
			bits == 256 ? "P-256" : "P-384", 0) &&
			OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY,
			pub->ec_point, pub->ec_point_len);
		c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	}
	if (ok)
		params = OSSL_PARAM_BLD_to_param(b);
	ok = params && c && EVP_PKEY_fromdata_init(c) == 1 &&
		EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, params) == 1;
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(c);
	BN_free(n);
	BN_free(e);
	if (!ok)
		return kmc_detail(KMC_E_P11_KEY_TYPE, "the token's public key does "
			"not make an RSA or P-256/P-384 key: %s", ossl_reason());
	*ret = k;
	return 0;
}

int token_key_public(const token_key_rec *rec, EVP_PKEY **ret)
{
	const uint8_t *p;
	EVP_PKEY *k = NULL;

	/* The record is the vault's own, its tag checked: memory running
	   out is not damage. d2i_PUBKEY goes through OpenSSL 3.0's
	   decoders, which drop some allocation failures from the queue:
	   the same bytes tried again fail again only if they are at
	   fault. */
	ERR_clear_error();
	for (int tries = 0; tries < 2 && !k; tries++) {
		p = rec->spki;
		k = d2i_PUBKEY(NULL, &p, (long)rec->spki_len);
		if (!k && ossl_nomem()) {
			ERR_clear_error();
			return KMC_E_NOMEM;
		}
	}
	if (!k || p != rec->spki + rec->spki_len) {
		EVP_PKEY_free(k);
		ERR_clear_error();
		return kmc_detail(KMC_E_CORRUPT, "the token key record's public "
			"key does not parse");
	}
	*ret = k;
	return 0;
}

/* ---------------------------------------------------------------- */
/* The record                                                        */

static int record_make(const char *uri, int type, EVP_PKEY *pub,
	char **ret, size_t *ret_len)
{
	uint8_t *der = NULL;
	int n = i2d_PUBKEY(pub, &der);
	size_t b64, cap;
	char *out;

	if (n <= 0 || (size_t)n > TOKEN_KEY_SPKI_MAX) {
		OPENSSL_free(der);
		if (n <= 0)
			return kmc_detail(KMC_E_NOMEM, "encoding the token key's "
				"public half: %s", ossl_reason());
		return kmc_detail(KMC_E_TOO_LARGE, "the token key's public "
			"half is %d bytes, over the record's %u", n,
			(unsigned)TOKEN_KEY_SPKI_MAX);
	}
	b64 = sodium_base64_encoded_len((size_t)n,
		sodium_base64_VARIANT_ORIGINAL);
	cap = strlen(RECORD_HEAD) + strlen(uri) + b64 + 64;
	out = malloc(cap);
	if (!out) {
		OPENSSL_free(der);
		return KMC_E_NOMEM;
	}
	snprintf(out, cap, RECORD_HEAD "uri=%s\ntype=%s\nspki=", uri,
		kmc_key_type_name(type));
	sodium_bin2base64(out + strlen(out), b64, der, (size_t)n,
		sodium_base64_VARIANT_ORIGINAL);
	strcat(out, "\n");
	OPENSSL_free(der);
	*ret = out;
	*ret_len = strlen(out);
	return 0;
}

static int record_parse(const char *name, const kmc_secret *s,
	token_key_rec *ret)
{
	char head[8], type[16], b64[TOKEN_KEY_SPKI_MAX * 2];
	size_t len = 0;
	int t;

	/* Text: a NUL anywhere (a value read as a C string would stop
	   there, a URI naming another key) is damage. */
	if (memchr(kmc_secret_data(s), '\0', kmc_secret_len(s)) ||
	    bundle_meta_value(s, "kmc-token-key", head, sizeof(head)) < 0 ||
	    strcmp(head, "1") != 0 ||
	    bundle_meta_value(s, "uri", ret->uri, sizeof(ret->uri)) < 0 ||
	    strncmp(ret->uri, "pkcs11:", 7) != 0 ||
	    bundle_meta_value(s, "type", type, sizeof(type)) < 0 ||
	    keygen_type_parse(type, &t) < 0 ||
	    bundle_meta_value(s, "spki", b64, sizeof(b64)) < 0 ||
	    sodium_base642bin(ret->spki, sizeof(ret->spki), b64, strlen(b64),
		NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len == 0) {
		kmc_detail_clear();
		return kmc_detail(KMC_E_CORRUPT, "item %s/key: not a token key "
			"record of format 1", name);
	}
	ret->type = t;
	ret->spki_len = len;
	return 0;
}

int token_key_parse(const char *name, const kmc_secret *s,
	token_key_rec *ret)
{
	return record_parse(name, s, ret);
}

int token_key_read(kmc_vault *v, const char *name, token_key_rec *ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;

	KMC_GUARD(vault_part_get(v, name, "key", KMC_ITEM_TOKEN_KEY, &s));
	return record_parse(name, s, ret);
}

int token_key_instead(kmc_vault *v, const char *name, int *r,
	token_key_rec *ret)
{
	char detail[512];
	int t;

	if (*r != KMC_E_TYPE)
		return 0;
	snprintf(detail, sizeof(detail), "%s", kmc_error_detail());
	t = token_key_read(v, name, ret);
	if (t == 0) {
		kmc_detail_clear();
		return 1;
	}
	/* A token key record that does not parse: that is the fault, not
	   the type of the item. */
	if (t == KMC_E_CORRUPT) {
		*r = t;
		return 0;
	}
	kmc_detail_clear();
	(void)kmc_detail(*r, "%s", detail);
	return 0;
}

int token_key_refused(kmc_vault *v, const char *name, const char *what,
	int r)
{
	token_key_rec rec;
	char detail[512];

	if (r != KMC_E_TYPE)
		return r;
	/* Another type than either: the first error stands as it was. */
	snprintf(detail, sizeof(detail), "%s", kmc_error_detail());
	r = token_key_read(v, name, &rec);
	/* A token key record that does not parse: damage, named. */
	if (r == KMC_E_CORRUPT)
		return r;
	if (r < 0) {
		r = KMC_E_TYPE;
		kmc_detail_clear();
		(void)kmc_detail(r, "%s", detail);
		return r;
	}
	kmc_detail_clear();
	return kmc_detail(KMC_E_TYPE, "the key of %s lives on a PKCS#11 token "
		"(%s) and never leaves it, so it cannot be %s", name, rec.uri,
		what);
}

int kmc_token_key_uri(kmc_vault *v, const char *name, char *buf, size_t size)
{
	token_key_rec rec;

	kmc_detail_clear();
	KMC_GUARD(token_key_read(v, name, &rec));
	KMC_ENSURE(strlen(rec.uri) < size, KMC_E_TOO_LARGE);
	memcpy(buf, rec.uri, strlen(rec.uri) + 1);
	return 0;
}

int kmc_token_key_info(kmc_vault *v, const char *name, char *uri,
	size_t uri_size, unsigned char *spki, size_t *spki_len)
{
	token_key_rec rec;

	kmc_detail_clear();
	KMC_GUARD(token_key_read(v, name, &rec));
	KMC_ENSURE(strlen(rec.uri) < uri_size && rec.spki_len <= *spki_len,
		KMC_E_TOO_LARGE);
	memcpy(uri, rec.uri, strlen(rec.uri) + 1);
	memcpy(spki, rec.spki, rec.spki_len);
	*spki_len = rec.spki_len;
	return 0;
}

/*
 * Whether the DER SubjectPublicKeyInfo spki holds pub's modulus or point.
 * Byte search, not OpenSSL: the provider calls kmc_token_key_check()
 * while a server loads a key, before its own RSA and EC are offered, and
 * a key made through OpenSSL then would settle which implementations it
 * finds for good (provider/tokenkey.c says why the order matters). A
 * modulus or point is hundreds of random bits: no other key holds it.
 */
static int spki_holds(const unsigned char *spki, size_t len,
	const p11_pubkey *pub)
{
	if (pub->kind == P11_KEY_RSA)
		return pub->n_len && memmem(spki, len, pub->n, pub->n_len);
	return pub->ec_point_len && memmem(spki, len, pub->ec_point,
		pub->ec_point_len);
}

int kmc_token_key_check(const char *key_uri, const unsigned char *spki,
	size_t spki_len)
{
	p11_pubkey pub;

	kmc_detail_clear();
	/* The token there, holding the key the vault recorded: no login. */
	KMC_GUARD(p11_key_public_seen(key_uri, &pub));
	if (!spki_holds(spki, spki_len, &pub))
		goto replaced;
	/* The private key, logged in, when this process may read the PIN: a
	   server's master reading keys for workers of another user may not
	   (docs/integrations/token-keys.md); those log in at first use. */
	if (p11_pin_source_foreign(key_uri))
		return 0;
	KMC_GUARD(p11_key_public(key_uri, NULL, &pub));
	if (spki_holds(spki, spki_len, &pub))
		return 0;
replaced:
	/* Same id and label, another key: its certificate no longer fits. */
	return kmc_detail(KMC_E_P11_KEY, "the token's key is not the one "
		"the vault recorded (replaced on the token outside the vault?)");
}

/* The public numbers are pkcs11/'s own. */
_Static_assert(KMC_TOKEN_SIG_RSA_PKCS == P11_SIG_RSA_PKCS &&
	KMC_TOKEN_SIG_RSA_PSS == P11_SIG_RSA_PSS &&
	KMC_TOKEN_SIG_ECDSA == P11_SIG_ECDSA &&
	KMC_TOKEN_HASH_NONE == P11_HASH_NONE &&
	KMC_TOKEN_HASH_SHA1 == P11_HASH_SHA1 &&
	KMC_TOKEN_HASH_SHA256 == P11_HASH_SHA256 &&
	KMC_TOKEN_HASH_SHA384 == (int)P11_HASH_SHA384 &&
	KMC_TOKEN_HASH_SHA512 == (int)P11_HASH_SHA512, "token numbers agree");

int kmc_token_key_sign(const char *key_uri, int mech, int hash,
	int salt_len, const unsigned char *dgst, size_t dgst_len,
	unsigned char *sig, size_t *sig_len)
{
	kmc_detail_clear();
	KMC_ENSURE(mech >= KMC_TOKEN_SIG_RSA_PKCS && mech <= KMC_TOKEN_SIG_ECDSA &&
		hash >= KMC_TOKEN_HASH_NONE && hash <= KMC_TOKEN_HASH_SHA512,
		KMC_E_INVALID);
	return p11_key_sign(key_uri, NULL, (p11_sig)mech, (p11_hash)hash,
		salt_len, dgst, dgst_len, sig, sig_len);
}

int kmc_token_key_decrypt(const char *key_uri, int oaep_hash,
	const unsigned char *in, size_t in_len, kmc_secret **ret)
{
	kmc_detail_clear();
	KMC_ENSURE(oaep_hash >= KMC_TOKEN_HASH_NONE &&
		oaep_hash <= KMC_TOKEN_HASH_SHA512, KMC_E_INVALID);
	return p11_key_decrypt(key_uri, NULL, (p11_hash)oaep_hash, in, in_len,
		ret);
}

/* ---------------------------------------------------------------- */
/* kmc key gen --on-token                                            */

static int spec_of(kmc_key_type type, p11_key_spec *ret)
{
	switch (type) {
	case KMC_KEY_RSA2048: *ret = P11_SPEC_RSA2048; return 0;
	case KMC_KEY_RSA3072: *ret = P11_SPEC_RSA3072; return 0;
	case KMC_KEY_P256: *ret = P11_SPEC_P256; return 0;
	case KMC_KEY_P384: *ret = P11_SPEC_P384; return 0;
	default:
		break;
	}
	return kmc_detail(KMC_E_INVALID, "--type %s: keys on a token are "
		"rsa2048, rsa3072, p256 or p384", kmc_key_type_name(type) ?
		kmc_key_type_name(type) : "?");
}

/* The vault's word before the token makes a key (p11_key_intent): the
   key URI listed, so that a kill before the commit leaves it to kmc
   repair. */
typedef struct intent_ctx {
	kmc_vault *v;
	char item[KMC_NAME_MAX + 1];
} intent_ctx;

static int intent_fn(void *arg, const char *uri)
{
	intent_ctx *c = arg;

	return token_pending_intent(c->v, uri, c->item);
}

static void intent_init(intent_ctx *c, p11_key_intent *in, kmc_vault *v,
	const char *name)
{
	c->v = v;
	snprintf(c->item, sizeof(c->item), "%s/key", name);
	*in = (p11_key_intent){ intent_fn, c, 0 };
}

/* A label or id the token holds already: when the vault lists keys
   waiting to be destroyed, one may be a cut-off key gen's; say so. */
static int exists_hint(kmc_vault *v, int r)
{
	token_pending l = { 0 };
	char detail[1024];

	if (r != KMC_E_EXISTS)
		return r;
	snprintf(detail, sizeof(detail), "%s", kmc_error_detail());
	if (token_pending_read(&v->st, &l) == 0 && l.n) {
		kmc_detail_clear();
		(void)kmc_detail(r, "%s (the vault lists %zu key%s on a token "
			"waiting to be destroyed, maybe a cut-off key gen's or "
			"import's: kmc repair removes those no record names)",
			detail, l.n, l.n == 1 ? "" : "s");
	} else {
		kmc_detail_clear();
		(void)kmc_detail(r, "%s", detail);
	}
	token_pending_free(&l);
	return r;
}

/* The meta of a bundle whose key was made on a token: born, and token. */
static const char token_meta[] = "keys_dir=\nconf=\nborn=1\ntoken=1\n";

int kmc_key_gen_on_token(kmc_vault *v, const char *name, kmc_key_type type,
	const kmc_token_params *tp)
{
	AUDIT_OP(v, "kmc_key_gen_on_token");
	_cleanup_(pkey_freep) EVP_PKEY *pub = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *pw = NULL;
	_cleanup_(freep) char *uri = NULL;
	_cleanup_(freep) char *rec = NULL;
	p11_pin pin = { 0 };
	p11_pubkey pk;
	p11_key_spec spec = P11_SPEC_P256;
	p11_key_intent in;
	intent_ctx ic;
	size_t rec_len = 0;
	int r;

	kmc_detail_clear();
	KMC_ENSURE(tp->size >= sizeof(*tp) && tp->uri, KMC_E_INVALID);
	KMC_GUARD(vault_params_known(tp, tp->size, sizeof(*tp),
		"kmc_token_params"));
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	KMC_GUARD(born_name_check(name));
	KMC_GUARD(spec_of(type, &spec));
	r = import_bundle_exists(v, name);
	KMC_GUARD(r);
	if (r)
		return kmc_detail(KMC_E_EXISTS, "%s already holds %s; kmc rm %s "
			"first, or choose another name", v->dir, name, name);
	KMC_GUARD(import_make_password(&pw));
	pin = (p11_pin){ tp->pin, tp->pin_cb, tp->pin_arg };
	intent_init(&ic, &in, v, name);
	r = p11_key_generate(tp->uri, &pin, spec, name, &in, &uri, &pk);
	if (r < 0) {
		/* Refused before the token made anything: no longer
		   listed; else what it may have kept of it stays. */
		token_pending_intent_end(v, !in.made);
		return exists_hint(v, r);
	}
	r = pub_to_pkey(&pk, &pub);
	if (r == 0)
		r = record_make(uri, type, pub, &rec, &rec_len);
	if (r == 0)
		r = born_commit(v, name, pw, KMC_ITEM_TOKEN_KEY, rec, rec_len,
			token_meta);
	if (r < 0) {
		/* Keep the error of the step that failed, not the cleanup's. */
		char detail[512];

		snprintf(detail, sizeof(detail), "%s", kmc_error_detail());
		if (p11_key_destroy(uri, &pin) < 0) {
			kmc_detail_clear();
			token_pending_intent_end(v, 0);
			return kmc_detail(r, "%s; and the key made on the token "
				"(%s) could not be removed again: kmc repair "
				"removes it, or remove it with the token's tools",
				detail, uri);
		}
		kmc_detail_clear();
		token_pending_intent_end(v, 1);
		if (detail[0])
			(void)kmc_detail(r, "%s", detail);
	}
	return r;
}

/* ---------------------------------------------------------------- */
/* kmc import --on-token                                             */

#define PART_MAX 512

typedef struct parts_mem {
	kmc_secret *mem;	/* 8 numbers of PART_MAX bytes, guarded */
	uint8_t point[P11_EC_POINT_MAX];
	p11_key_parts parts;
} parts_mem;

static int bn_part(EVP_PKEY *k, const char *param, uint8_t *buf,
	p11_bytes *out)
{
	BIGNUM *bn = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(k, param, &bn) != 1)
		return KMC_E_TYPE;
	n = BN_num_bytes(bn) <= PART_MAX ? BN_bn2bin(bn, buf) : -1;
	BN_clear_free(bn);
	if (n <= 0)
		return KMC_E_TYPE;
	*out = (p11_bytes){ buf, (size_t)n };
	return 0;
}

static const uint8_t oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
};
static const uint8_t oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22,
};

static int key_parts(EVP_PKEY *k, parts_mem *m)
{
	static const char *const rsa[] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	p11_bytes *rsa_out[] = { &m->parts.n, &m->parts.e, &m->parts.d,
		&m->parts.p, &m->parts.q, &m->parts.dp, &m->parts.dq,
		&m->parts.qinv };
	uint8_t *buf;
	int r = 0;

	KMC_GUARD(kmc_secret_new(8 * PART_MAX, &m->mem));
	buf = kmc_secret_data(m->mem);
	if (EVP_PKEY_is_a(k, "RSA")) {
		m->parts.kind = P11_KEY_RSA;
		for (size_t i = 0; r == 0 && i < ELEMENTSOF(rsa); i++)
			r = bn_part(k, rsa[i], buf + i * PART_MAX, rsa_out[i]);
	} else if (EVP_PKEY_is_a(k, "EC")) {
		char group[32];
		size_t len = 0;

		m->parts.kind = P11_KEY_EC;
		if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME,
				group, sizeof(group), NULL) != 1)
			r = KMC_E_TYPE;
		else if (!strcmp(group, "prime256v1") || !strcmp(group, "P-256"))
			m->parts.ec_params = (p11_bytes){ oid_p256,
				sizeof(oid_p256) };
		else if (!strcmp(group, "secp384r1") || !strcmp(group, "P-384"))
			m->parts.ec_params = (p11_bytes){ oid_p384,
				sizeof(oid_p384) };
		else
			r = KMC_E_TYPE;
		if (r == 0)
			r = bn_part(k, OSSL_PKEY_PARAM_PRIV_KEY, buf, &m->parts.d);
		if (r == 0 && EVP_PKEY_get_octet_string_param(k,
				OSSL_PKEY_PARAM_PUB_KEY, m->point, sizeof(m->point),
				&len) != 1)
			r = KMC_E_TYPE;
		m->parts.ec_point = (p11_bytes){ m->point, len };
	} else {
		r = KMC_E_TYPE;
	}
	return r;
}

int token_key_import(import_ctx *c, kmc_vault *v)
{
	parts_mem m = { 0 };
	p11_pin pin = { c->token->pin, c->token->pin_cb, c->token->pin_arg };
	_cleanup_(kmc_secret_freep) kmc_secret *rec_s = NULL;
	_cleanup_(freep) char *rec = NULL;
	p11_pubkey pk;
	p11_key_intent in;
	intent_ctx ic;
	size_t rec_len = 0;
	int type, r;

	intent_init(&ic, &in, v, c->name);
	r = key_parts(c->pkey, &m);
	if (r == KMC_E_TYPE)
		r = kmc_detail(r, "%s: only RSA and P-256/P-384 keys go to a "
			"token", c->p->key_file);
	if (r == 0)
		r = p11_key_import(c->token->uri, &pin, &m.parts,
			c->token_label[0] ? c->token_label : c->name, &in,
			&c->token_uri, &pk);
	kmc_secret_free(m.mem);
	if (r < 0) {
		/* Refused before the token made anything: no longer
		   listed; else what it may have kept of it stays. */
		token_pending_intent_end(v, !in.made);
		return exists_hint(v, r);
	}
	type = pk.kind == P11_KEY_EC ? (p11_pubkey_bits(&pk) == 384 ?
		KMC_KEY_P384 : KMC_KEY_P256) : p11_pubkey_bits(&pk) > 3072 ?
		KMC_KEY_RSA4096 : p11_pubkey_bits(&pk) > 2048 ? KMC_KEY_RSA3072 :
		KMC_KEY_RSA2048;
	r = record_make(c->token_uri, type, c->pkey, &rec, &rec_len);
	if (r == 0)
		r = kmc_secret_dup(rec, rec_len, &rec_s);
	if (r < 0) {
		token_key_undo(c, v);
		return r;
	}
	kmc_secret_free(c->pkcs8);
	c->pkcs8 = TAKE_PTR(rec_s);
	c->key_item = KMC_ITEM_TOKEN_KEY;
	/* No copy of the key anywhere: neither the vault nor the folder. */
	if (c->copies[COPY_KEY].p) {
		sodium_memzero(c->copies[COPY_KEY].p, c->copies[COPY_KEY].len);
		free(c->copies[COPY_KEY].p);
		c->copies[COPY_KEY].p = NULL;
		c->copies[COPY_KEY].len = 0;
	}
	return 0;
}

void token_key_undo(import_ctx *c, kmc_vault *v)
{
	p11_pin pin = { c->token->pin, c->token->pin_cb, c->token->pin_arg };
	char detail[1024];
	int err = kmc_error_detail()[0] ? 1 : 0;

	snprintf(detail, sizeof(detail), "%s", kmc_error_detail());
	if (p11_key_destroy(c->token_uri, &pin) < 0) {
		/* Say so: a key on the token that no vault names, listed
		   for kmc repair. */
		kmc_detail_clear();
		token_pending_intent_end(v, 0);
		(void)kmc_detail(KMC_E_P11, "%s%sthe key put on the token (%s) "
			"could not be removed again: kmc repair removes it, or "
			"remove it with the token's tools", detail, err ? "; " :
			"", c->token_uri);
		return;
	}
	kmc_detail_clear();
	token_pending_intent_end(v, 1);
	if (err)
		(void)kmc_detail(KMC_E_P11, "%s", detail);
}

/* ---------------------------------------------------------------- */
/* Signing a request with the token key (kmc csr)                    */

int token_key_sign_req(const token_key_rec *rec,
	const kmc_token_params *tp, X509_REQ *req)
{
	int ec = rec->type == KMC_KEY_P256 || rec->type == KMC_KEY_P384;
	int big = rec->type == KMC_KEY_P384;
	const EVP_MD *md = big ? EVP_sha384() : EVP_sha256();
	int nid = ec ? (big ? NID_ecdsa_with_SHA384 : NID_ecdsa_with_SHA256) :
		NID_sha256WithRSAEncryption;
	uint8_t dg[EVP_MAX_MD_SIZE], sig[P11_RSA_MAX];
	unsigned dlen = 0;
	size_t slen = sizeof(sig);
	unsigned char *tbs = NULL;
	ASN1_BIT_STRING *bs = NULL;
	X509_ALGOR *alg = X509_ALGOR_new();
	p11_pin pin = { tp ? tp->pin : NULL, tp ? tp->pin_cb : NULL,
		tp ? tp->pin_arg : NULL };
	int n, r;

	KMC_ENSURE(alg, KMC_E_NOMEM);
	if (!X509_ALGOR_set0(alg, OBJ_nid2obj(nid), ec ? V_ASN1_UNDEF :
			V_ASN1_NULL, NULL) ||
	    !X509_REQ_set1_signature_algo(req, alg)) {
		X509_ALGOR_free(alg);
		return KMC_E_NOMEM;
	}
	X509_ALGOR_free(alg);
	n = i2d_re_X509_REQ_tbs(req, &tbs);
	KMC_ENSURE(n > 0, KMC_E_NOMEM);
	r = EVP_Digest(tbs, (size_t)n, dg, &dlen, md, NULL) ? 0 : KMC_E_NOMEM;
	OPENSSL_free(tbs);
	KMC_GUARD(r);
	/* The PIN: the caller's, else the key URI's pin-source (or a login
	   this process has). */
	KMC_GUARD(p11_key_sign(rec->uri, tp && (tp->pin || tp->pin_cb) ? &pin :
		NULL, ec ? P11_SIG_ECDSA :
		P11_SIG_RSA_PKCS, big ? P11_HASH_SHA384 : P11_HASH_SHA256, -1,
		dg, dlen, sig, &slen));
	if (ec) {
		/* PKCS#11 gives r || s; X.509 wants the DER of ECDSA-Sig-Value. */
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *br = BN_bin2bn(sig, (int)slen / 2, NULL);
		BIGNUM *bsv = BN_bin2bn(sig + slen / 2, (int)slen / 2, NULL);
		unsigned char *der = NULL;
		int dn = -1;

		if (es && br && bsv && ECDSA_SIG_set0(es, br, bsv)) {
			br = bsv = NULL;
			dn = i2d_ECDSA_SIG(es, &der);
		}
		BN_free(br);
		BN_free(bsv);
		ECDSA_SIG_free(es);
		KMC_ENSURE(dn > 0 && (size_t)dn <= sizeof(sig), KMC_E_NOMEM);
		memcpy(sig, der, (size_t)dn);
		OPENSSL_free(der);
		slen = (size_t)dn;
	}
	bs = ASN1_BIT_STRING_new();
	if (!bs || !ASN1_BIT_STRING_set(bs, sig, (int)slen)) {
		ASN1_BIT_STRING_free(bs);
		return KMC_E_NOMEM;
	}
	/* Whole bytes: no unused bits (as X509_REQ_sign leaves it). */
	bs->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bs->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	X509_REQ_set0_signature(req, bs);
	return 0;
}
