/*
 * serverkeyuse.c - calls on a token-resident server key (see
 * serverkey.h): its public half, signatures and RSA decryption made on
 * the token, and its removal. Making keys is serverkey.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sodium.h>
#include "token.h"
#include "serverkey.h"
#include "serverkeyint.h"
#include "tokenretry.h"
#include "tokenwatch.h"
#include "../kmc/crypto.h"

/* DigestInfo prefixes for PKCS#1 v1.5 (RFC 8017, 9.2 note 1). */
static const uint8_t di_sha1[] = {
	0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05,
	0x00, 0x04, 0x14,
};
static const uint8_t di_sha256[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
	0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};
static const uint8_t di_sha384[] = {
	0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
	0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30,
};
static const uint8_t di_sha512[] = {
	0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
	0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40,
};

typedef struct hash_info {
	CK_MECHANISM_TYPE mech;
	CK_RSA_PKCS_MGF_TYPE mgf;
	size_t len;
	const uint8_t *di;
	size_t di_len;
} hash_info;

static int hash_get(p11_hash h, hash_info *ret)
{
	switch ((int)h) {
	case P11_HASH_SHA1:
		*ret = (hash_info){ CKM_SHA_1, CKG_MGF1_SHA1, 20, di_sha1,
			sizeof(di_sha1) };
		return 0;
	case P11_HASH_SHA256:
		*ret = (hash_info){ CKM_SHA256, CKG_MGF1_SHA256, 32, di_sha256,
			sizeof(di_sha256) };
		return 0;
	case (int)P11_HASH_SHA384:
		*ret = (hash_info){ CKM_SHA384, CKG_MGF1_SHA384, 48, di_sha384,
			sizeof(di_sha384) };
		return 0;
	case (int)P11_HASH_SHA512:
		*ret = (hash_info){ CKM_SHA512, CKG_MGF1_SHA512, 64, di_sha512,
			sizeof(di_sha512) };
		return 0;
	}
	return kmc_detail(KMC_E_INVALID, "no such hash for a token key");
}

/*
 * Calls on an existing key: the key found (its handle as remembered in a
 * cached session, or searched for), then op. A failure on a reused
 * session is tried once more from a cold start, as p11_unprotect() does.
 */
typedef int (*key_op)(token *t, P11KitUri *u, const key *k, void *arg);

static const p11_pin no_login;
#define NO_LOGIN (&no_login)

static int key_once(const char *key_uri, const p11_pin *pin, P11KitUri **u,
	token **t, key_op op, void *arg)
{
	key k;
	int found;

	*t = NULL;
	/* No PIN wanted: what anyone may see, without a login (k NULL). */
	if (pin == NO_LOGIN) {
		KMC_GUARD(token_find(*u, key_uri, t));
		return op(*t, *u, NULL, arg);
	}
	KMC_GUARD(token_session_ready(key_uri, pin, u, t));
	found = token_key_get(*t, *u, CKO_PRIVATE_KEY, &k);
	if (!found) {
		KMC_GUARD(key_find(*t, *u, CKO_PRIVATE_KEY, &k, &found));
		if (!found)
			return serverkey_gone(*t, *u, CKO_PRIVATE_KEY);
		token_key_put(*t, *u, CKO_PRIVATE_KEY, &k);
	}
	return op(*t, *u, &k, arg);
}

/*
 * A token found gone is not tried again before tokenretry.c's delay: in
 * between, calls fail at once with its last error (the caller's
 * handshake fails fast rather than wait on a module that is giving up).
 * All calls hold the cache lock, so a thread that starts the module over
 * never does so under another's call.
 */
static int key_call(const char *key_uri, const p11_pin *pin, key_op op,
	void *arg)
{
	_cleanup_(p11_uri_freep) P11KitUri *u = NULL;
	char name[TOKEN_RETRY_NAME];
	token *t = NULL;
	int r, cut;

	KMC_GUARD(p11_uri_parse(key_uri, &u));
	p11_token_name(u, name, sizeof(name));
	p11_sigpipe_block();
	token_cache_lock();
	r = token_retry_check(name, token_retry_now());
	if (r < 0)
		goto out;
	p11_last_rv_clear();
	token_watch_arm(p11k.uri_get_module_path(u) ? p11k.uri_get_module_path(u) :
		p11k.uri_get_module_name(u));
	r = key_once(key_uri, pin, &u, &t, op, arg);
	/*
	 * Once more from a cold start: after a failure on a reused session
	 * (the token went and came back), and after one that says the token
	 * was not reached, which may pass: SoftHSM2 behind `p11-kit server`
	 * fails a login or a token query now and then while another
	 * process (a forked worker) starts on the same token.
	 */
	if (!token_watch_fired() &&
	    ((r == KMC_E_P11 && t && t->reused) || p11_unreached(r))) {
		if (t)
			token_forget(t);
		kmc_detail_clear();
		r = key_once(key_uri, pin, &u, &t, op, arg);
	}
	/*
	 * A token not reached is tried again (p11_unreached_pause(): SoftHSM2
	 * read half-way) before it counts as gone (a gone token then waits
	 * tokenretry.c's delay, so this is paid once, not per handshake).
	 */
	for (int i = 0; i < P11_UNREACHED_TRIES && !token_watch_fired() &&
	     p11_unreached(r); i++) {
		p11_unreached_again(&t, i);
		r = key_once(key_uri, pin, &u, &t, op, arg);
	}
	cut = r < 0 && token_watch_fired();
	token_watch_disarm();
	if (cut)
		r = kmc_detail(KMC_E_P11, "the token did not answer within %u s "
			"(KMC_TOKEN_TIMEOUT), so its `p11-kit server` connection was "
			"cut: %s", token_watch_bound(), kmc_error_detail());
	if (p11_unreached(r) || cut) {
		/* Start from a cold module next time. */
		if (t)
			token_forget(t);
		token_retry_failed(name, r, token_retry_now());
	} else if (r == 0) {
		token_retry_ok(name);
	}
	if (t)
		token_done(t);
out:
	token_cache_unlock();
	p11_sigpipe_restore();
	return r;
}

static int op_public(token *t, P11KitUri *u, const key *k, void *arg)
{
	key pub;
	int found;

	KMC_GUARD(serverkey_sealed(t, u, k));
	KMC_GUARD(key_find(t, u, CKO_PUBLIC_KEY, &pub, &found));
	/* An RSA private key carries its modulus and exponent too. */
	if (!found && k->type == CKK_RSA)
		pub = *k;
	else if (!found)
		return kmc_detail(KMC_E_P11_KEY, "the token has no public key "
			"beside the EC private key");
	return serverkey_public_read(t, pub.h, k->type, arg);
}

int p11_key_public(const char *key_uri, const p11_pin *pin, p11_pubkey *ret)
{
	return key_call(key_uri, pin, op_public, ret);
}

static int op_public_seen(token *t, P11KitUri *u, const key *k, void *arg)
{
	key pub;
	int found;

	(void)k;
	KMC_GUARD(key_find(t, u, CKO_PUBLIC_KEY, &pub, &found));
	if (!found)
		return serverkey_gone(t, u, CKO_PUBLIC_KEY);
	return serverkey_public_read(t, pub.h, pub.type, arg);
}

int p11_key_public_seen(const char *key_uri, p11_pubkey *ret)
{
	return key_call(key_uri, NO_LOGIN, op_public_seen, ret);
}

int p11_pin_source_foreign(const char *key_uri)
{
	_cleanup_(p11_uri_freep) P11KitUri *u = NULL;
	const char *src;
	struct stat st;

	if (p11_uri_parse(key_uri, &u) < 0)
		return 0;
	src = p11k.uri_get_pin_source(u);
	if (!src)
		return 0;
	if (strncmp(src, "file:", 5) == 0)
		src += 5;
	if (strncmp(src, "//", 2) == 0)
		src += 2;
	/* Not there or unreadable: the login says so, naming it. */
	if (stat(src, &st) < 0)
		return 0;
	return st.st_uid != geteuid() && st.st_uid != 0;
}

typedef struct sign_args {
	p11_sig mech;
	p11_hash hash;
	int salt_len;
	const uint8_t *dgst;
	size_t dgst_len;
	uint8_t *sig;
	size_t *sig_len;
} sign_args;

static int op_sign(token *t, P11KitUri *u, const key *k, void *arg)
{
	sign_args *a = arg;
	uint8_t in[19 + 64];
	size_t in_len = 0;
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM m = { 0, NULL, 0 };
	CK_ULONG len = *a->sig_len;
	hash_info h = { 0 };
	CK_RV rv;

	(void)u;
	if (a->hash != P11_HASH_NONE) {
		KMC_GUARD(hash_get(a->hash, &h));
		if (a->dgst_len != h.len)
			return kmc_detail(KMC_E_INVALID, "a digest of %zu bytes for "
				"a hash of %zu", a->dgst_len, h.len);
	}
	KMC_ENSURE(a->dgst_len <= 64, KMC_E_INVALID);
	if ((a->mech == P11_SIG_ECDSA) != (k->type == CKK_EC))
		return kmc_detail(KMC_E_P11_KEY_TYPE, "the token key is %s; "
			"this signature needs %s", k->type == CKK_EC ? "EC" : "RSA",
			a->mech == P11_SIG_ECDSA ? "EC" : "RSA");
	switch (a->mech) {
	case P11_SIG_RSA_PKCS:
		m.mechanism = CKM_RSA_PKCS;
		if (h.di) {
			memcpy(in, h.di, h.di_len);
			in_len = h.di_len;
		}
		break;
	case P11_SIG_RSA_PSS:
		KMC_ENSURE(h.len, KMC_E_INVALID);
		pss.hashAlg = h.mech;
		pss.mgf = h.mgf;
		pss.sLen = a->salt_len < 0 ? h.len : (CK_ULONG)a->salt_len;
		m.mechanism = CKM_RSA_PKCS_PSS;
		m.pParameter = &pss;
		m.ulParameterLen = sizeof(pss);
		break;
	case P11_SIG_ECDSA:
		m.mechanism = CKM_ECDSA;
		break;
	default:
		return KMC_E_INVALID;
	}
	memcpy(in + in_len, a->dgst, a->dgst_len);
	in_len += a->dgst_len;
	rv = t->mod->C_SignInit(t->session, &m, k->h);
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "starting the signature in the token");
	rv = t->mod->C_Sign(t->session, in, in_len, a->sig, &len);
	if (rv == CKR_BUFFER_TOO_SMALL) {
		/* The operation stays active: the session starts over. */
		token_forget(t);
		return kmc_detail(KMC_E_INVALID, "no room for the signature");
	}
	if (rv != CKR_OK) {
		token_forget(t);
		return p11_ck_fail(rv, "signing in the token");
	}
	*a->sig_len = len;
	return 0;
}

int p11_key_sign(const char *key_uri, const p11_pin *pin, p11_sig mech,
	p11_hash hash, int salt_len, const uint8_t *dgst, size_t dgst_len,
	uint8_t *sig, size_t *sig_len)
{
	sign_args a = { mech, hash, salt_len, dgst, dgst_len, sig, sig_len };

	return key_call(key_uri, pin, op_sign, &a);
}

typedef struct decrypt_args {
	p11_hash hash;
	const uint8_t *in;
	size_t in_len;
	kmc_secret **ret;
} decrypt_args;

static int op_decrypt(token *t, P11KitUri *u, const key *k, void *arg)
{
	_cleanup_(kmc_secret_freep) kmc_secret *out = NULL;
	decrypt_args *a = arg;
	CK_RSA_PKCS_OAEP_PARAMS oaep;
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	CK_ULONG len = P11_RSA_MAX;
	hash_info h;
	CK_RV rv;

	(void)u;
	if (k->type != CKK_RSA)
		return kmc_detail(KMC_E_P11_KEY_TYPE, "only RSA token keys "
			"decrypt");
	if (a->hash != P11_HASH_NONE) {
		KMC_GUARD(hash_get(a->hash, &h));
		memset(&oaep, 0, sizeof(oaep));
		oaep.hashAlg = h.mech;
		oaep.mgf = h.mgf;
		oaep.source = CKZ_DATA_SPECIFIED;
		m.mechanism = CKM_RSA_PKCS_OAEP;
		m.pParameter = &oaep;
		m.ulParameterLen = sizeof(oaep);
	}
	KMC_GUARD(kmc_secret_new(P11_RSA_MAX, &out));
	rv = t->mod->C_DecryptInit(t->session, &m, k->h);
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "starting the decryption in the token");
	rv = t->mod->C_Decrypt(t->session, (CK_BYTE_PTR)a->in, a->in_len,
		kmc_secret_data(out), &len);
	if (rv != CKR_OK) {
		token_forget(t);
		/* SoftHSM2 reports bad padding as CKR_GENERAL_ERROR. */
		if (rv == CKR_ENCRYPTED_DATA_INVALID ||
		    rv == CKR_ENCRYPTED_DATA_LEN_RANGE || rv == CKR_GENERAL_ERROR)
			return kmc_detail(KMC_E_AUTH, "the token key does not "
				"decrypt this (%s)", p11_ckr_name(rv));
		return p11_ck_fail(rv, "decrypting in the token");
	}
	KMC_GUARD(kmc_secret_shrink(out, len));
	*a->ret = TAKE_PTR(out);
	return 0;
}

int p11_key_decrypt(const char *key_uri, const p11_pin *pin,
	p11_hash oaep_hash, const uint8_t *in, size_t in_len, kmc_secret **ret)
{
	decrypt_args a = { oaep_hash, in, in_len, ret };

	KMC_ENSURE(in_len <= P11_RSA_MAX, KMC_E_INVALID);
	return key_call(key_uri, pin, op_decrypt, &a);
}

/* *ret_found set when an object of class cls was there. */
static int destroy_class(token *t, P11KitUri *u, CK_OBJECT_CLASS cls,
	int *ret_found)
{
	key k;
	int found;
	CK_RV rv;

	KMC_GUARD(key_find(t, u, cls, &k, &found));
	if (!found)
		return 0;
	*ret_found = 1;
	rv = t->mod->C_DestroyObject(t->session, k.h);
	if (rv != CKR_OK && rv != CKR_OBJECT_HANDLE_INVALID)
		return p11_ck_fail(rv, "destroying the token key");
	return 0;
}

int p11_key_destroy(const char *key_uri, const p11_pin *pin)
{
	_cleanup_(p11_uri_freep) P11KitUri *u = NULL;
	token *t = NULL;
	int found = 0, r;

	p11_sigpipe_block();
	token_cache_lock();
	r = token_session_ready(key_uri, pin, &u, &t);
	/* Without an id or label the URI would name every key. */
	if (r == 0 && !p11k.uri_get_attribute(u, CKA_ID) &&
	    !p11k.uri_get_attribute(u, CKA_LABEL))
		r = kmc_detail(KMC_E_INVALID, "%s names no one key", key_uri);
	if (r == 0)
		r = destroy_class(t, u, CKO_PRIVATE_KEY, &found);
	if (r == 0)
		r = destroy_class(t, u, CKO_PUBLIC_KEY, &found);
	/* Handles remembered for this key are stale now. */
	if (t)
		t->nkeys = 0;
	if (t)
		token_done(t);
	token_cache_unlock();
	p11_sigpipe_restore();
	return r < 0 ? r : found;
}
