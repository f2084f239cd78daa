/*
 * p11.c - the key work of the pkcs11 and tpm protectors: finding, checking
 * and making the token key, and encrypting and decrypting a protector's
 * secret with it (AES-CBC, AES-GCM, RSA-OAEP). Reaching the token is
 * token.c's.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "token.h"
#include "../kmc/crypto.h"

/* ---------------------------------------------------------------- */
/* Keys                                                              */

/* The object= and id= of a URI, added to a template. */
static void add_uri_ids(P11KitUri *u, CK_ATTRIBUTE *tmpl, CK_ULONG *n)
{
	CK_ATTRIBUTE *a = p11k.uri_get_attribute(u, CKA_LABEL);

	if (a)
		tmpl[(*n)++] = *a;
	a = p11k.uri_get_attribute(u, CKA_ID);
	if (a)
		tmpl[(*n)++] = *a;
}

/*
 * The one key of class cls (and, unless type is (CK_KEY_TYPE)-1, of key
 * type type) that the URI names. With the type in the search the token
 * answers it, and no C_GetAttributeValue is needed to read it back.
 */
static int key_search(token *t, P11KitUri *u, CK_OBJECT_CLASS cls,
	CK_KEY_TYPE type, key *ret, int *ret_found)
{
	CK_ATTRIBUTE tmpl[4];
	CK_ULONG n = 0, got = 0;
	CK_OBJECT_HANDLE found[2];
	CK_RV rv;

	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	if (type != (CK_KEY_TYPE)-1)
		tmpl[n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &type, sizeof(type) };
	add_uri_ids(u, tmpl, &n);
	rv = t->mod->C_FindObjectsInit(t->session, tmpl, n);
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "searching the token");
	rv = t->mod->C_FindObjects(t->session, found, 2, &got);
	(void)t->mod->C_FindObjectsFinal(t->session);
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "searching the token");
	if (got > 1)
		return kmc_detail(KMC_E_P11_KEY, "the URI names more than one key: "
			"add object= or id= to it");
	*ret_found = got == 1;
	if (got == 1 && type != (CK_KEY_TYPE)-1) {
		ret->h = found[0];
		ret->type = type;
	} else if (got == 1) {
		CK_ATTRIBUTE ta = { CKA_KEY_TYPE, &ret->type, sizeof(ret->type) };

		ret->h = found[0];
		rv = t->mod->C_GetAttributeValue(t->session, ret->h, &ta, 1);
		if (rv != CKR_OK)
			return p11_ck_fail(rv, "reading the key type");
	}
	return 0;
}

int key_find(token *t, P11KitUri *u, CK_OBJECT_CLASS cls, key *ret,
	int *ret_found)
{
	return key_search(t, u, cls, (CK_KEY_TYPE)-1, ret, ret_found);
}

/* The key must stay in the token: sensitive and never extractable. */
static int key_check_inside(token *t, const key *k)
{
	CK_BBOOL extractable = CK_TRUE, sensitive = CK_FALSE;
	CK_ATTRIBUTE a[2] = {
		{ CKA_EXTRACTABLE, &extractable, sizeof(extractable) },
		{ CKA_SENSITIVE, &sensitive, sizeof(sensitive) },
	};
	CK_RV rv = t->mod->C_GetAttributeValue(t->session, k->h, a, 2);

	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE &&
	    rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return p11_ck_fail(rv, "reading the key's attributes");
	if (a[0].ulValueLen == sizeof(CK_BBOOL) && extractable)
		return kmc_detail(KMC_E_P11_KEY_TYPE, "the token key is extractable: "
			"its value can leave the token, so it cannot protect the "
			"vault; make one with --create-key");
	if (a[1].ulValueLen == sizeof(CK_BBOOL) && !sensitive)
		return kmc_detail(KMC_E_P11_KEY_TYPE, "the token key is not "
			"sensitive; make one with --create-key");
	return 0;
}

static int key_generate_aes(token *t, P11KitUri *u, key *ret)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ATTRIBUTE tmpl[12];
	CK_ULONG n = 0;
	CK_RV rv;

	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_VALUE_LEN, &len, sizeof(len) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof(yes) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, sizeof(yes) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &no, sizeof(no) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_ENCRYPT, &yes, sizeof(yes) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_DECRYPT, &yes, sizeof(yes) };
	add_uri_ids(u, tmpl, &n);
	rv = t->mod->C_GenerateKey(t->session, &m, tmpl, n, &ret->h);
	if (rv == CKR_FUNCTION_NOT_SUPPORTED || rv == CKR_MECHANISM_INVALID)
		return kmc_detail(KMC_E_P11_KEY, "this token cannot make AES keys "
			"(%s); make one with its own tool (for a TPM: tpm2_ptool "
			"addkey --algorithm aes256) and name it in the URI",
			p11_ckr_name(rv));
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "making the token key");
	ret->type = CKK_AES;
	return 0;
}

static int mech_supported(token *t, CK_MECHANISM_TYPE m)
{
	CK_MECHANISM_INFO info;

	return t->mod->C_GetMechanismInfo(t->slot, m, &info) == CKR_OK &&
		(info.flags & CKF_ENCRYPT) && (info.flags & CKF_DECRYPT);
}

/* ---------------------------------------------------------------- */
/* Encrypt and decrypt the slot secret                               */

static void mech_params(const p11_wrapped *w, CK_MECHANISM *m,
	CK_GCM_PARAMS *gcm, CK_RSA_PKCS_OAEP_PARAMS *oaep)
{
	m->mechanism = w->mech;
	m->pParameter = NULL;
	m->ulParameterLen = 0;
	if (w->mech == P11_MECH_AES_CBC) {
		m->pParameter = (void *)w->iv;
		m->ulParameterLen = w->iv_len;
	} else if (w->mech == P11_MECH_AES_GCM) {
		memset(gcm, 0, sizeof(*gcm));
		gcm->pIv = (unsigned char *)w->iv;
		gcm->ulIvLen = w->iv_len;
		gcm->ulIvBits = w->iv_len * 8;
		gcm->ulTagBits = 128;
		m->pParameter = gcm;
		m->ulParameterLen = sizeof(*gcm);
	} else if (w->mech == P11_MECH_RSA_OAEP) {
		memset(oaep, 0, sizeof(*oaep));
		oaep->hashAlg = w->hash == P11_HASH_SHA1 ? CKM_SHA_1 : CKM_SHA256;
		oaep->mgf = w->hash == P11_HASH_SHA1 ? CKG_MGF1_SHA1 :
			CKG_MGF1_SHA256;
		oaep->source = CKZ_DATA_SPECIFIED;
		m->pParameter = oaep;
		m->ulParameterLen = sizeof(*oaep);
	}
}

static int token_decrypt(token *t, const key *k, const p11_wrapped *w,
	kmc_secret **ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *out = NULL;
	CK_GCM_PARAMS gcm;
	CK_RSA_PKCS_OAEP_PARAMS oaep;
	CK_MECHANISM m;
	CK_ULONG len = P11_CT_MAX;
	CK_RV rv;

	KMC_GUARD(kmc_secret_new(P11_CT_MAX, &out));
	mech_params(w, &m, &gcm, &oaep);
	rv = t->mod->C_DecryptInit(t->session, &m, k->h);
	/* An unwrap asks no C_GetMechanismInfo first: the token says here
	   whether it has the slot's mechanism. */
	if (rv == CKR_MECHANISM_INVALID)
		return kmc_detail(KMC_E_P11_KEY_TYPE, "this token has no %s, the "
			"mechanism this slot was made with (%s)",
			p11_mech_name(w->mech, w->hash), p11_ckr_name(rv));
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "starting the decryption in the token");
	rv = t->mod->C_Decrypt(t->session, (CK_BYTE_PTR)w->ct, w->ct_len,
		kmc_secret_data(out), &len);
	if (rv != CKR_OK) {
		/* Some tokens leave a failed operation active: start over. */
		token_forget(t);
		/* SoftHSM2 says CKR_GENERAL_ERROR for a GCM tag or an OAEP
		   padding that does not check: the data is not this key's. */
		if (rv == CKR_ENCRYPTED_DATA_INVALID ||
		    rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
		    (rv == CKR_GENERAL_ERROR && w->mech != P11_MECH_AES_CBC))
			return kmc_detail(KMC_E_P11_KEY, "the token key does not "
				"decrypt this slot (%s): another key of the same "
				"name?", p11_ckr_name(rv));
		return p11_ck_fail(rv, "decrypting in the token");
	}
	if (len != P11_SECRET_LEN)
		return kmc_detail(KMC_E_P11_KEY, "the token key does not decrypt "
			"this slot: another key of the same name?");
	KMC_GUARD(kmc_secret_shrink(out, len));
	*ret = TAKE_PTR(out);
	return 0;
}

static int token_encrypt_aes(token *t, const key *k, p11_wrapped *w,
	const uint8_t secret[P11_SECRET_LEN])
{
	CK_GCM_PARAMS gcm;
	CK_RSA_PKCS_OAEP_PARAMS oaep;
	CK_MECHANISM m;
	CK_ULONG len = sizeof(w->ct);
	CK_RV rv;

	mech_params(w, &m, &gcm, &oaep);
	rv = t->mod->C_EncryptInit(t->session, &m, k->h);
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "starting the encryption in the token");
	rv = t->mod->C_Encrypt(t->session, (CK_BYTE_PTR)secret, P11_SECRET_LEN,
		w->ct, &len);
	if (rv != CKR_OK) {
		token_forget(t);
		return p11_ck_fail(rv, "encrypting in the token");
	}
	w->ct_len = len;
	return 0;
}

/* ---------------------------------------------------------------- */
/* RSA: the caller encrypts with the public key (see p11.h)          */

static int rsa_public(token *t, P11KitUri *u, uint8_t *n, size_t *nlen,
	uint8_t *e, size_t *elen)
{
	key pub;
	int found;
	CK_ATTRIBUTE a[2] = {
		{ CKA_MODULUS, n, *nlen },
		{ CKA_PUBLIC_EXPONENT, e, *elen },
	};
	CK_RV rv;

	KMC_GUARD(key_find(t, u, CKO_PUBLIC_KEY, &pub, &found));
	if (!found)
		return kmc_detail(KMC_E_P11_KEY, "the token has no public key "
			"beside the RSA private key the URI names");
	rv = t->mod->C_GetAttributeValue(t->session, pub.h, a, 2);
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "reading the RSA public key");
	*nlen = a[0].ulValueLen;
	*elen = a[1].ulValueLen;
	return 0;
}

/* ---------------------------------------------------------------- */
/* The two entry points                                              */

/*
 * OAEP with SHA-256 where the token takes it, else SHA-1 (SoftHSM2 2.6
 * refuses SHA-256 parameters): encrypt with the public key, and keep the
 * first hash the token decrypts.
 */
static int rsa_protect(const char *uri, const p11_pin *pin, P11KitUri **u,
	token **t, key *k, p11_rsa_encrypt_fn rsa_encrypt, p11_wrapped *w,
	const uint8_t secret[P11_SECRET_LEN])
{
	uint8_t n[1024], e[16];
	size_t nlen = sizeof(n), elen = sizeof(e);
	int found, r = KMC_E_P11;

	KMC_ENSURE(rsa_encrypt, KMC_E_INVALID);
	KMC_GUARD(rsa_public(*t, *u, n, &nlen, e, &elen));
	w->mech = P11_MECH_RSA_OAEP;
	for (int h = P11_HASH_SHA256; h >= P11_HASH_SHA1; h--) {
		_cleanup_(kmc_secret_freep) kmc_secret *check = NULL;

		w->hash = (p11_hash)h;
		w->ct_len = sizeof(w->ct);
		KMC_GUARD(rsa_encrypt(n, nlen, e, elen, h == P11_HASH_SHA1, secret,
			P11_SECRET_LEN, w->ct, &w->ct_len));
		r = token_decrypt(*t, k, w, &check);
		if (r == 0 || h == P11_HASH_SHA1)
			break;
		/* A failed decrypt drops the session: open it again. */
		kmc_detail_clear();
		KMC_GUARD(token_session_ready(uri, pin, u, t));
		KMC_GUARD(key_find(*t, *u, CKO_PRIVATE_KEY, k, &found));
		KMC_ENSURE(found, KMC_E_P11_KEY);
	}
	return r;
}

int p11_protect(const char *uri, const p11_pin *pin, int create,
	const char *want, p11_rsa_encrypt_fn rsa_encrypt,
	const uint8_t secret[P11_SECRET_LEN], p11_wrapped *w)
{
	_cleanup_(p11_uri_freep) P11KitUri *u = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *check = NULL;
	token *t = NULL;
	key k;
	int found = 0, r;

	memset(w, 0, sizeof(*w));
	/* Settled before the token is touched: no key is made for nothing. */
	if (want && strcmp(want, "aes-cbc") && strcmp(want, "aes-gcm") &&
	    strcmp(want, "rsa-oaep"))
		return kmc_detail(KMC_E_INVALID, "unknown mechanism %s: aes-cbc, "
			"aes-gcm or rsa-oaep", want);
	if (create && want && strcmp(want, "rsa-oaep") == 0)
		return kmc_detail(KMC_E_P11_KEY_TYPE, "--create-key makes an AES "
			"key, which rsa-oaep does not fit; make an RSA key with the "
			"token's own tool");
	p11_sigpipe_block();
	token_cache_lock();
	r = token_session_ready(uri, pin, &u, &t);
	if (r == 0)
		r = key_find(t, u, CKO_SECRET_KEY, &k, &found);
	if (r == 0 && !found)
		r = key_find(t, u, CKO_PRIVATE_KEY, &k, &found);
	/* A key is made only where it will be usable: check the token
	   has the mechanism first (p11-kit's network client has no AES). */
	if (r == 0 && !found && create &&
	    !mech_supported(t, want && !strcmp(want, "aes-gcm") ?
			CKM_AES_GCM : CKM_AES_CBC))
		r = kmc_detail(KMC_E_P11_KEY_TYPE, "this token has no %s, so "
			"--create-key would make an AES key nothing can use; use an "
			"RSA key (rsa-oaep)", want && !strcmp(want, "aes-gcm") ?
			"AES-GCM" : "AES-CBC");
	else if (r == 0 && !found && create)
		r = key_generate_aes(t, u, &k);
	else if (r == 0 && !found)
		r = kmc_detail(KMC_E_P11_KEY, "no key matching %s in the token "
			"(--create-key makes one on an HSM; on a TPM, make it with "
			"tpm2_ptool addkey --algorithm aes256)", uri);
	if (r == 0)
		r = key_check_inside(t, &k);
	if (r == 0 && k.type == CKK_AES) {
		if (want && strcmp(want, "aes-gcm") == 0) {
			if (!mech_supported(t, CKM_AES_GCM))
				r = kmc_detail(KMC_E_P11_KEY_TYPE, "this token has "
					"no AES-GCM; use the default aes-cbc");
			w->mech = P11_MECH_AES_GCM;
			w->iv_len = 12;
		} else if (!want || strcmp(want, "aes-cbc") == 0) {
			if (!mech_supported(t, CKM_AES_CBC))
				r = kmc_detail(KMC_E_P11_KEY_TYPE, "this token has "
					"no AES-CBC");
			w->mech = P11_MECH_AES_CBC;
			w->iv_len = 16;
		} else {
			r = kmc_detail(KMC_E_P11_KEY_TYPE, "mechanism %s does not "
				"fit an AES key (aes-cbc or aes-gcm)", want);
		}
		if (r == 0) {
			randombytes_buf(w->iv, w->iv_len);
			r = token_encrypt_aes(t, &k, w, secret);
		}
	} else if (r == 0 && k.type == CKK_RSA) {
		if (want && strcmp(want, "rsa-oaep") != 0)
			r = kmc_detail(KMC_E_P11_KEY_TYPE, "mechanism %s does not "
				"fit an RSA key (rsa-oaep)", want);
		if (r == 0)
			r = rsa_protect(uri, pin, &u, &t, &k, rsa_encrypt, w,
				secret);
	} else if (r == 0) {
		r = kmc_detail(KMC_E_P11_KEY_TYPE, "the token key is neither AES nor "
			"RSA");
	}
	/* Prove the round trip before the slot is written. */
	if (r == 0)
		r = token_decrypt(t, &k, w, &check);
	if (r == 0 && sodium_memcmp(kmc_secret_data(check), secret,
			P11_SECRET_LEN) != 0)
		r = kmc_detail(KMC_E_P11, "the token did not give back what it "
			"encrypted");
	if (t)
		token_done(t);
	token_cache_unlock();
	p11_sigpipe_restore();
	return r;
}

/*
 * One try: the token's session (cached or new), the key (its handle as
 * found before in that session, or searched for), the decryption.
 */
static int unprotect_once(const char *uri, const p11_pin *pin,
	const p11_wrapped *w, P11KitUri **u, token **t, kmc_secret **ret)
{
	CK_OBJECT_CLASS cls = w->mech == P11_MECH_RSA_OAEP ? CKO_PRIVATE_KEY :
		CKO_SECRET_KEY;
	CK_KEY_TYPE type = w->mech == P11_MECH_RSA_OAEP ? CKK_RSA : CKK_AES;
	key k;
	int found = 0;

	*t = NULL;
	KMC_GUARD(token_session_ready(uri, pin, u, t));
	found = token_key_get(*t, *u, cls, &k);
	if (!found) {
		/* The slot's key type in the search: the token checks it,
		   and the key's type need not be read back. */
		KMC_GUARD(key_search(*t, *u, cls, type, &k, &found));
		if (!found) {
			/* Only now, to tell the two faults apart: a key of
			   another type, or none at all. */
			KMC_GUARD(key_find(*t, *u, cls, &k, &found));
			if (!found)
				return kmc_detail(KMC_E_P11_KEY, "no key matching "
					"%s in the token", uri);
			return kmc_detail(KMC_E_P11_KEY_TYPE, "the key %s names "
				"is not of the type this slot was made with", uri);
		}
		token_key_put(*t, *u, cls, &k);
	}
	return token_decrypt(*t, &k, w, ret);
}

int p11_unprotect(const char *uri, const p11_pin *pin, const p11_wrapped *w,
	kmc_secret **ret)
{
	_cleanup_(p11_uri_freep) P11KitUri *u = NULL;
	token *t = NULL;
	int r;

	p11_sigpipe_block();
	token_cache_lock();
	p11_last_rv_clear();
	r = unprotect_once(uri, pin, w, &u, &t, ret);
	/*
	 * A cached session can have gone under us (the token was removed,
	 * its server restarted, the login dropped: CKR_SESSION_HANDLE_INVALID,
	 * CKR_DEVICE_REMOVED, CKR_USER_NOT_LOGGED_IN...): drop it and try
	 * once from a cold start, which reports a token really gone plainly.
	 */
	if (r == KMC_E_P11 && t && t->reused) {
		token_forget(t);
		kmc_detail_clear();
		p11_last_rv_clear();
		r = unprotect_once(uri, pin, w, &u, &t, ret);
	}
	/* A token not reached, tried again (p11_unreached_pause(): another
	   process's kmc on a SoftHSM2 token made opens fail now and then
	   with "no token matching" or a login's CKR_GENERAL_ERROR). */
	for (int i = 0; i < P11_UNREACHED_TRIES && p11_unreached(r); i++) {
		p11_unreached_again(&t, i);
		r = unprotect_once(uri, pin, w, &u, &t, ret);
	}
	if (t)
		token_done(t);
	token_cache_unlock();
	p11_sigpipe_restore();
	return r;
}

const char *p11_mech_name(unsigned long mech, p11_hash hash)
{
	switch (mech) {
	case P11_MECH_AES_CBC:
		return "aes-cbc";
	case P11_MECH_AES_GCM:
		return "aes-gcm";
	case P11_MECH_RSA_OAEP:
		return hash == P11_HASH_SHA1 ? "rsa-oaep-sha1" : "rsa-oaep-sha256";
	}
	return "unknown";
}
