/*
 * tokenkey.c - keys that live on a PKCS#11 token, for unmodified servers:
 * the STORE loader and the key-reference decoder hand such a key out by
 * reference to this provider's own key management (RSA, EC), whose
 * private operations run on the token through the vault half:
 *
 *   KEYMGMT      load (the reference), has, match, the public half
 *                (export, get_params: bits, security bits, size, default
 *                digest, group, point, n, e), import of public keys only
 *                (so OpenSSL can compare a certificate's key with ours);
 *   SIGNATURE    (tokensig.c) RSA PKCS#1 v1.5 and PSS, ECDSA: sign and digest_sign on
 *                the token; verify is done by the default provider with
 *                the public half;
 *   ASYM_CIPHER  (tokencipher.c) RSA decrypt on the token (PKCS#1 v1.5, OAEP, and TLS's
 *                premaster padding with implicit rejection); encrypt by
 *                the default provider.
 *
 * No private key bytes ever come here. The public half is an EVP_PKEY of
 * another provider ("provider!=kmc"), which does the public operations.
 * Our key management refuses to export a private half and to import one:
 * OpenSSL then takes, for each operation, the implementation of the
 * provider that holds the key (3.0 tries the fetched one, then the key's
 * own), so keys of the default provider never run here and ours never
 * run there.
 *
 * Order: OpenSSL 3.0 answers a fetch by name ("EC", "RSA") with the first
 * implementation it stored, providers taken in the order they were
 * activated, and this key management makes no keys (ECDHE's, say): were
 * ours first, libssl would find no EC groups. So these algorithms are not
 * offered at the first question for each operation (prov_query), the pass
 * that stores the other providers' algorithms; from then on they are,
 * behind those. A token key met before then (the STORE loader's first
 * key) fetches the others' first and has ours offered at once. The
 * key-reference decoder needs ours offered before the decoding starts:
 * OpenSSL 3.0 lists the key managements a reference may go to when it
 * sets up the decoding, so a program whose very first question is that
 * key's (rather than, say, an SSL_CTX's) is told to use the kmc: URI.
 *
 * The reference handed out is not pointer-sized: a "file:" store offers
 * it to the default provider's key management, which takes only
 * references of pointer size and so refuses ours instead of misreading it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "tokenkey.h"

static tkey *tkey_new(int ec)
{
	tkey *k = OPENSSL_zalloc(sizeof(*k));

	if (k) {
		k->refs = 1;
		k->ec = ec;
	}
	return k;
}

void tkey_free(void *p)
{
	tkey *k = p;

	if (!k || __atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	OPENSSL_free(k->uri);
	EVP_PKEY_free(k->pub);
	OPENSSL_free(k);
}

static int offered;

int kmcprov_token_ops_offered(void)
{
	return __atomic_load_n(&offered, __ATOMIC_ACQUIRE);
}

/* The other providers' RSA and EC, stored ahead of ours (see above). */
static void others_first(void)
{
	EVP_KEYMGMT *km;
	EVP_SIGNATURE *sig;
	EVP_ASYM_CIPHER *ac;

	if (kmcprov_token_ops_offered())
		return;
	ERR_set_mark();
	km = EVP_KEYMGMT_fetch(NULL, "RSA", NULL);
	sig = EVP_SIGNATURE_fetch(NULL, "RSA", NULL);
	ac = EVP_ASYM_CIPHER_fetch(NULL, "RSA", NULL);
	EVP_KEYMGMT_free(km);
	EVP_SIGNATURE_free(sig);
	EVP_ASYM_CIPHER_free(ac);
	ERR_pop_to_mark();
	__atomic_store_n(&offered, 1, __ATOMIC_RELEASE);
}

/* uri without its pin-source, for a message (cut at size). */
static void uri_shown(const char *uri, char *buf, size_t size)
{
	const char *ps = strstr(uri, "pin-source=");
	size_t head = ps ? (size_t)(ps - uri) : strlen(uri);
	const char *tail = ps ? ps + strcspn(ps, "&") : "";

	/* Drop the "&" or "?" that joined it when nothing else follows. */
	if (ps && !*tail && head > 0)
		head--;
	else if (ps && *tail)
		tail++;
	snprintf(buf, size, "%.*s%s", (int)head, uri, tail);
}

/*
 * A server loads its key once, at start: reach the token then, so that
 * one started without it (the module missing, the token absent, its
 * `p11-kit server` down, the key deleted or replaced; a wrong PIN where
 * this process may read the PIN file) stops there, naming the token and
 * the cause, rather than start and fail every handshake
 * (kmc_token_key_check()).
 */
static int token_ready(const char *uri, const unsigned char *spki,
	size_t spki_len)
{
	const kmcprov_vault_api *v = kmcprov_vault();
	char shown[2100];
	int r;

	if (!v)
		return 0;
	/* What the module leaves in OpenSSL's queue stays out (tokensig.c). */
	ERR_set_mark();
	r = v->token_key_check(uri, spki, spki_len);
	ERR_pop_to_mark();
	if (r == 0)
		return 1;
	uri_shown(uri, shown, sizeof(shown));
	kmcprov_error(kmcprov_reason_of(r), "the token key %s cannot be used: "
		"%s", shown, v->error_detail()[0] ? v->error_detail() :
		v->strerror(r));
	return 0;
}

int kmcprov_token_key_emit(const char *uri, const unsigned char *spki,
	size_t spki_len, OSSL_CALLBACK *cb, void *cbarg)
{
	const unsigned char *p = spki;
	EVP_PKEY *pub = d2i_PUBKEY_ex(NULL, &p, (long)spki_len, NULL, OTHERS);
	int type = OSSL_OBJECT_PKEY, ok;
	OSSL_PARAM params[4];
	tkey *k = NULL;
	tkey_ref ref;

	if (!token_ready(uri, spki, spki_len)) {
		EVP_PKEY_free(pub);
		return -1;
	}
	if (pub && (EVP_PKEY_is_a(pub, "RSA") || EVP_PKEY_is_a(pub, "EC")))
		k = tkey_new(EVP_PKEY_is_a(pub, "EC"));
	if (!k || !(k->uri = OPENSSL_strdup(uri))) {
		EVP_PKEY_free(pub);
		tkey_free(k);
		kmcprov_error(KMCPROV_R_DAMAGED, "the token key %s: its recorded "
			"public half is not an RSA or EC key", uri);
		return -1;
	}
	k->pub = pub;
	others_first();
	params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
	params[1] = OSSL_PARAM_construct_utf8_string(
		OSSL_OBJECT_PARAM_DATA_TYPE, (char *)(k->ec ? "EC" : "RSA"), 0);
	ref.magic = TKEY_REF_MAGIC;
	ref.k = k;
	params[2] = OSSL_PARAM_construct_octet_string(
		OSSL_OBJECT_PARAM_REFERENCE, &ref, sizeof(ref));
	params[3] = OSSL_PARAM_construct_end();
	ok = cb(params, cbarg) ? 1 : 0;
	/* load() took its own reference. */
	tkey_free(k);
	return ok;
}

void tkey_fail(const kmcprov_vault_api *v, int r, const char *what,
	const tkey *k)
{
	const char *d = v->error_detail();
	char shown[2100];

	uri_shown(k->uri, shown, sizeof(shown));
	kmcprov_error(kmcprov_reason_of(r), "%s with the token key %s: %s",
		what, shown, d[0] ? d : v->strerror(r));
}

/* ---------------------------------------------------------------- */
/* KEYMGMT                                                           */

static void *rsa_new(void *provctx)
{
	(void)provctx;
	return tkey_new(0);
}

static void *ec_new(void *provctx)
{
	(void)provctx;
	return tkey_new(1);
}

static void *km_load(const void *ref, size_t ref_size)
{
	tkey *k;
	tkey_ref r;

	if (ref_size != sizeof(r))
		return NULL;
	memcpy(&r, ref, sizeof(r));
	if (r.magic != TKEY_REF_MAGIC)
		return NULL;
	k = r.k;
	__atomic_add_fetch(&k->refs, 1, __ATOMIC_ACQ_REL);
	return k;
}

static int km_has(const void *keydata, int selection)
{
	const tkey *k = keydata;

	if (!k)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && !k->uri)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) && !k->pub)
		return 0;
	return 1;
}

static int km_match(const void *a, const void *b, int selection)
{
	const tkey *x = a, *y = b;

	(void)selection;
	return x->pub && y->pub && EVP_PKEY_eq(x->pub, y->pub) == 1;
}

static const OSSL_PARAM rsa_types[] = {
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM ec_types[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *rsa_types_fn(int selection)
{
	(void)selection;
	return rsa_types;
}

static const OSSL_PARAM *ec_types_fn(int selection)
{
	(void)selection;
	return ec_types;
}

/* A public key only: a private one stays with its own provider. */
static int km_import(void *keydata, int selection, const OSSL_PARAM params[])
{
	tkey *k = keydata;
	EVP_PKEY_CTX *c;
	int ok;

	if (!k || k->pub || ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) &&
	    OSSL_PARAM_locate_const(params, k->ec ? OSSL_PKEY_PARAM_PRIV_KEY :
			OSSL_PKEY_PARAM_RSA_D)))
		return 0;
	c = EVP_PKEY_CTX_new_from_name(NULL, k->ec ? "EC" : "RSA", OTHERS);
	ok = c && EVP_PKEY_fromdata_init(c) == 1 &&
		EVP_PKEY_fromdata(c, &k->pub, EVP_PKEY_PUBLIC_KEY,
			(OSSL_PARAM *)params) == 1;
	EVP_PKEY_CTX_free(c);
	return ok;
}

static int km_export(void *keydata, int selection, OSSL_CALLBACK *cb,
	void *cbarg)
{
	tkey *k = keydata;

	/* The private half cannot leave the token. */
	if (!k || !k->pub || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY))
		return 0;
	return EVP_PKEY_export(k->pub, selection, cb, cbarg);
}

static int km_get_params(void *keydata, OSSL_PARAM params[])
{
	tkey *k = keydata;
	OSSL_PARAM *p;

	if (!k || !k->pub)
		return 0;
	/* What the public half knows; private parameters stay unset. */
	if (!EVP_PKEY_get_params(k->pub, params))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_DEFAULT_DIGEST);
	if (p && !OSSL_PARAM_set_utf8_string(p, EVP_PKEY_get_bits(k->pub) > 256 &&
			k->ec ? "SHA384" : "SHA256"))
		return 0;
	return 1;
}

static const OSSL_PARAM *rsa_gettable(void *provctx)
{
	static const OSSL_PARAM p[] = {
		OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
		OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
		OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
		OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
		OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
		OSSL_PARAM_END,
	};

	(void)provctx;
	return p;
}

static const OSSL_PARAM *ec_gettable(void *provctx)
{
	static const OSSL_PARAM p[] = {
		OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
		OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
		OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL,
			0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
			NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
		OSSL_PARAM_END,
	};

	(void)provctx;
	return p;
}

static const char *rsa_op_name(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ||
		operation_id == OSSL_OP_ASYM_CIPHER ? "RSA" : NULL;
}

static const char *ec_op_name(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}


static const OSSL_DISPATCH rsa_keymgmt[] = {
	FN(OSSL_FUNC_KEYMGMT_NEW, rsa_new),
	FN(OSSL_FUNC_KEYMGMT_FREE, tkey_free),
	FN(OSSL_FUNC_KEYMGMT_LOAD, km_load),
	FN(OSSL_FUNC_KEYMGMT_HAS, km_has),
	FN(OSSL_FUNC_KEYMGMT_MATCH, km_match),
	FN(OSSL_FUNC_KEYMGMT_IMPORT, km_import),
	FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, rsa_types_fn),
	FN(OSSL_FUNC_KEYMGMT_EXPORT, km_export),
	FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, rsa_types_fn),
	FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, km_get_params),
	FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, rsa_gettable),
	FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, rsa_op_name),
	{ 0, NULL },
};

static const OSSL_DISPATCH ec_keymgmt[] = {
	FN(OSSL_FUNC_KEYMGMT_NEW, ec_new),
	FN(OSSL_FUNC_KEYMGMT_FREE, tkey_free),
	FN(OSSL_FUNC_KEYMGMT_LOAD, km_load),
	FN(OSSL_FUNC_KEYMGMT_HAS, km_has),
	FN(OSSL_FUNC_KEYMGMT_MATCH, km_match),
	FN(OSSL_FUNC_KEYMGMT_IMPORT, km_import),
	FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, ec_types_fn),
	FN(OSSL_FUNC_KEYMGMT_EXPORT, km_export),
	FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, ec_types_fn),
	FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, km_get_params),
	FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, ec_gettable),
	FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, ec_op_name),
	{ 0, NULL },
};

const OSSL_ALGORITHM kmcprov_keymgmt[] = {
	{ RSA_NAMES, "provider=kmc", rsa_keymgmt, "kmc: RSA keys on a token" },
	{ EC_NAMES, "provider=kmc", ec_keymgmt, "kmc: EC keys on a token" },
	{ NULL, NULL, NULL, NULL },
};

/*
 * The RSA padding a caller set through OSSL_PARAM q (an int or a name),
 * into *ret: PKCS#1 v1.5 or, by the name other, other_mode. 0 when q
 * holds neither (the caller refuses the other ints it does not take).
 */
int kmcprov_pad_mode(const OSSL_PARAM *q, const char *other, int other_mode,
	int *ret)
{
	const char *s = NULL;

	if (q->data_type != OSSL_PARAM_UTF8_STRING)
		return OSSL_PARAM_get_int(q, ret);
	if (!OSSL_PARAM_get_utf8_string_ptr(q, &s))
		return 0;
	*ret = !strcmp(s, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) ? RSA_PKCS1_PADDING :
		!strcmp(s, other) ? other_mode : 0;
	return 1;
}
