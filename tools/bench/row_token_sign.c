/*
 * row_token_sign.c - row token-sign: one RSA 2048 signature (PKCS#1
 * v1.5, SHA-256, of a 32-byte digest) with the token key of token_key.c,
 * through the kmc provider (the key loaded once through OSSL_STORE
 * kmc://VAULT?item=NAME; each sign a new EVP_PKEY_CTX, sign_init, padding
 * and digest set, EVP_PKEY_sign, as a server does per handshake) against
 * a raw C_SignInit + C_Sign with the same token object, in a session of
 * this process already open and logged in, through p11-kit. PKCS#1 v1.5
 * is deterministic: both sides must give the same bytes, which proves
 * they used the same key.
 */
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include "bench.h"

#define SIGN_BATCH 20		/* signatures a sample */
#define SIGN_SAMPLES 31
#define SIGN_SAMPLES_QUICK 9
#define SIG_MAX 512

/* DigestInfo of SHA-256 (RFC 8017, 9.2 note 1), then the digest. */
static const CK_BYTE di_sha256[19] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
	0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

typedef struct sign_sides {
	/* kmcvault: the provider */
	OSSL_LIB_CTX *libctx;
	EVP_PKEY *key;
	/* the peer: a raw session */
	CK_FUNCTION_LIST *mod;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE obj;
	/* both */
	unsigned char dgst[32];
	unsigned char sig_a[SIG_MAX], sig_b[SIG_MAX];
	size_t len_a, len_b;
} sign_sides;

static void ck(CK_RV rv, const char *what)
{
	if (rv != CKR_OK)
		die("row token-sign", "%s: PKCS#11 error 0x%lx", what,
			(unsigned long)rv);
}

static void provider_sign(sign_sides *s)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(s->libctx, s->key, NULL);

	s->len_a = sizeof(s->sig_a);
	if (!c || EVP_PKEY_sign_init(c) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) != 1 ||
	    EVP_PKEY_sign(c, s->sig_a, &s->len_a, s->dgst,
			sizeof(s->dgst)) != 1) {
		ERR_print_errors_fp(stderr);
		die("row token-sign", "EVP_PKEY_sign with the token key failed");
	}
	EVP_PKEY_CTX_free(c);
}

static void raw_sign(sign_sides *s)
{
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	CK_BYTE in[sizeof(di_sha256) + 32];
	CK_ULONG len = sizeof(s->sig_b);

	memcpy(in, di_sha256, sizeof(di_sha256));
	memcpy(in + sizeof(di_sha256), s->dgst, sizeof(s->dgst));
	ck(s->mod->C_SignInit(s->session, &m, s->obj), "C_SignInit");
	ck(s->mod->C_Sign(s->session, in, sizeof(in), s->sig_b, &len),
		"C_Sign");
	s->len_b = len;
}

static double sample_provider(void *arg)
{
	double t0 = now();

	for (int i = 0; i < SIGN_BATCH; i++)
		provider_sign(arg);
	return (now() - t0) / SIGN_BATCH;
}

static double sample_raw(void *arg)
{
	double t0 = now();

	for (int i = 0; i < SIGN_BATCH; i++)
		raw_sign(arg);
	return (now() - t0) / SIGN_BATCH;
}

static void provider_load(sign_sides *s, bench_env *e, const char *uri)
{
	OSSL_STORE_CTX *st;

	/* A library context of its own: the rest of the bench is untouched. */
	s->libctx = OSSL_LIB_CTX_new();
	if (!s->libctx ||
	    !OSSL_PROVIDER_set_default_search_path(s->libctx, e->provider_dir) ||
	    !OSSL_PROVIDER_load(s->libctx, "kmc") ||
	    !OSSL_PROVIDER_load(s->libctx, "default")) {
		ERR_print_errors_fp(stderr);
		die("row token-sign", "loading the kmc provider from %s",
			e->provider_dir);
	}
	st = OSSL_STORE_open_ex(uri, s->libctx, NULL, NULL, NULL, NULL, NULL,
		NULL);
	while (st && !s->key && !OSSL_STORE_eof(st)) {
		OSSL_STORE_INFO *i = OSSL_STORE_load(st);

		if (!i)
			break;
		if (OSSL_STORE_INFO_get_type(i) == OSSL_STORE_INFO_PKEY)
			s->key = OSSL_STORE_INFO_get1_PKEY(i);
		OSSL_STORE_INFO_free(i);
	}
	OSSL_STORE_close(st);
	if (!s->key) {
		ERR_print_errors_fp(stderr);
		die("row token-sign", "no key from %s", uri);
	}
}

static void raw_open(sign_sides *s)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, TOKEN_KEY, strlen(TOKEN_KEY) },
	};
	CK_SLOT_ID slots[64];
	CK_ULONG n = sizeof(slots) / sizeof(slots[0]), got = 0;
	char label[33];
	CK_RV rv;

	s->mod = p11_kit_module_load(P11_MODULE, 0);
	if (!s->mod)
		die("row token-sign: loading " P11_MODULE, "%s",
			p11_kit_message() ? p11_kit_message() : "no reason given");
	ck(p11_kit_module_initialize(s->mod), "C_Initialize");
	ck(s->mod->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
	snprintf(label, sizeof(label), "%-32s", P11_TOKEN);
	for (CK_ULONG i = 0; i < n && !s->session; i++) {
		CK_TOKEN_INFO ti;

		if (s->mod->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    memcmp(ti.label, label, 32) == 0)
			ck(s->mod->C_OpenSession(slots[i], CKF_SERIAL_SESSION,
				NULL, NULL, &s->session), "C_OpenSession");
	}
	if (!s->session)
		die("row token-sign", "no token " P11_TOKEN " in " P11_MODULE);
	/* Login is per application: the provider's session may hold it. */
	rv = s->mod->C_Login(s->session, CKU_USER, (CK_UTF8CHAR *)P11_PIN,
		strlen(P11_PIN));
	if (rv != CKR_USER_ALREADY_LOGGED_IN)
		ck(rv, "C_Login");
	ck(s->mod->C_FindObjectsInit(s->session, tmpl, 2), "C_FindObjectsInit");
	ck(s->mod->C_FindObjects(s->session, &s->obj, 1, &got), "C_FindObjects");
	ck(s->mod->C_FindObjectsFinal(s->session), "C_FindObjectsFinal");
	if (got != 1)
		die("row token-sign", "the token has no private key " TOKEN_KEY);
}

int row_token_sign(row *r, bench_env *e)
{
	const token_key_env *tk;
	sign_sides *s;

	r->what = "RSA-2048 sign on token: provider vs C_Sign";
	r->about = "one RSA 2048 signature, PKCS#1 v1.5 with SHA-256 of a "
		"32-byte digest, with the\n   SoftHSM2 token key of row "
		"token-tls: through the kmc provider (key loaded\n   once by "
		"OSSL_STORE kmc://VAULT?item=NAME; per signature a new "
		"EVP_PKEY_CTX,\n   EVP_PKEY_sign_init, padding and digest set, "
		"EVP_PKEY_sign) vs C_SignInit +\n   C_Sign (CKM_RSA_PKCS of "
		"DigestInfo || digest) in a session of this process\n   "
		"already open and logged in, through p11-kit. Both give the "
		"same bytes.";
	r->per = "batches of " STR(SIGN_BATCH) " (per sign)";
	tk = bench_token_key(r, e, "row token-sign");
	if (!tk)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		die("row token-sign", "out of memory");
	randombytes_buf(s->dgst, sizeof(s->dgst));
	provider_load(s, e, tk->store_uri);
	raw_open(s);
	provider_sign(s);
	raw_sign(s);
	if (s->len_a != s->len_b || memcmp(s->sig_a, s->sig_b, s->len_a) != 0)
		die("row token-sign", "the provider and C_Sign gave different "
			"signatures of the same digest: not the same key");
	fprintf(stderr, "kmc-bench: row token-sign: EVP_PKEY_sign through the "
		"provider vs C_Sign\n");
	measure(r, (side){ sample_provider, s }, (side){ sample_raw, s },
		e->quick ? SIGN_SAMPLES_QUICK : SIGN_SAMPLES);
	(void)s->mod->C_CloseSession(s->session);
	(void)p11_kit_module_finalize(s->mod);
	p11_kit_module_release(s->mod);
	EVP_PKEY_free(s->key);
	OSSL_LIB_CTX_free(s->libctx);
	free(s);
	return 1;
}
