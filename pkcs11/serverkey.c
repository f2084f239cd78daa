/*
 * serverkey.c - token-resident server keys (see serverkey.h): make or
 * move a key pair into the token and read its public half. Using and
 * destroying them is serverkeyuse.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "token.h"
#include "serverkey.h"
#include "serverkeyint.h"
#include "../kmc/crypto.h"

/* DER OIDs of the named curves (CKA_EC_PARAMS). */
static const uint8_t oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
};
static const uint8_t oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22,
};

/* ---------------------------------------------------------------- */
/* Names for messages                                                */

static void token_name(const token *t, char *out, size_t size)
{
	size_t n = sizeof(t->label);

	while (n > 0 && t->label[n - 1] == ' ')
		n--;
	snprintf(out, size, "%.*s", (int)n, (const char *)t->label);
}

/* "object=LABEL id=HEX" of a URI, for messages. */
static void key_name(P11KitUri *u, char *out, size_t size)
{
	CK_ATTRIBUTE *l = p11k.uri_get_attribute(u, CKA_LABEL);
	CK_ATTRIBUTE *id = p11k.uri_get_attribute(u, CKA_ID);
	size_t off = 0;

	out[0] = '\0';
	if (l && l->ulValueLen < 200)
		off = (size_t)snprintf(out, size, "object=%.*s",
			(int)l->ulValueLen, (const char *)l->pValue);
	if (id && id->ulValueLen <= 64 && off < size) {
		off += (size_t)snprintf(out + off, size - off, "%sid=",
			off ? " " : "");
		for (CK_ULONG i = 0; i < id->ulValueLen && off + 3 < size; i++)
			off += (size_t)snprintf(out + off, size - off, "%02x",
				((const uint8_t *)id->pValue)[i]);
	}
	if (!out[0])
		snprintf(out, size, "(no object= or id=)");
}

int serverkey_gone(token *t, P11KitUri *u, CK_OBJECT_CLASS cls)
{
	char tn[40], kn[400];

	token_name(t, tn, sizeof(tn));
	key_name(u, kn, sizeof(kn));
	return kmc_detail(KMC_E_P11_KEY, "token %s has no %s key %s "
		"(deleted outside the vault?)", tn, cls == CKO_PUBLIC_KEY ?
		"public" : "private", kn);
}

/* ---------------------------------------------------------------- */
/* The public half                                                   */

/*
 * CKA_EC_POINT is a DER OCTET STRING holding the point (PKCS#11 2.40;
 * SoftHSM2 and tpm2-pkcs11 both wrap it); some tokens give it bare.
 */
static int ec_point_unwrap(uint8_t *p, size_t *len)
{
	size_t n = *len, hdr;

	if (n >= 1 && p[0] == 0x04 && (n == 65 || n == 97 || n == 133))
		return 0;
	if (n < 2 || p[0] != 0x04)
		return KMC_E_P11_KEY_TYPE;
	if (p[1] < 0x80) {
		hdr = 2;
		if (p[1] != n - 2)
			return KMC_E_P11_KEY_TYPE;
	} else if (p[1] == 0x81 && n >= 3) {
		hdr = 3;
		if (p[2] != n - 3)
			return KMC_E_P11_KEY_TYPE;
	} else {
		return KMC_E_P11_KEY_TYPE;
	}
	memmove(p, p + hdr, n - hdr);
	*len = n - hdr;
	return 0;
}

int serverkey_public_read(token *t, CK_OBJECT_HANDLE h, CK_KEY_TYPE type,
	p11_pubkey *ret)
{
	CK_RV rv;

	memset(ret, 0, sizeof(*ret));
	if (type == CKK_RSA) {
		CK_ATTRIBUTE a[2] = {
			{ CKA_MODULUS, ret->n, sizeof(ret->n) },
			{ CKA_PUBLIC_EXPONENT, ret->e, sizeof(ret->e) },
		};

		rv = t->mod->C_GetAttributeValue(t->session, h, a, 2);
		if (rv != CKR_OK)
			return p11_ck_fail(rv, "reading the RSA public key");
		ret->kind = P11_KEY_RSA;
		ret->n_len = a[0].ulValueLen;
		ret->e_len = a[1].ulValueLen;
		return 0;
	}
	if (type == CKK_EC) {
		CK_ATTRIBUTE a[2] = {
			{ CKA_EC_PARAMS, ret->ec_params, sizeof(ret->ec_params) },
			{ CKA_EC_POINT, ret->ec_point, sizeof(ret->ec_point) },
		};

		rv = t->mod->C_GetAttributeValue(t->session, h, a, 2);
		if (rv != CKR_OK)
			return p11_ck_fail(rv, "reading the EC public key");
		ret->kind = P11_KEY_EC;
		ret->ec_params_len = a[0].ulValueLen;
		ret->ec_point_len = a[1].ulValueLen;
		if (ec_point_unwrap(ret->ec_point, &ret->ec_point_len) < 0)
			return kmc_detail(KMC_E_P11_KEY_TYPE, "the token's EC point "
				"is in no form known here");
		return 0;
	}
	return kmc_detail(KMC_E_P11_KEY_TYPE, "the token key is neither RSA "
		"nor EC");
}

unsigned p11_pubkey_bits(const p11_pubkey *pub)
{
	if (pub->kind == P11_KEY_RSA) {
		size_t i = 0;
		unsigned bits;

		while (i < pub->n_len && pub->n[i] == 0)
			i++;
		if (i == pub->n_len)
			return 0;
		bits = (unsigned)(pub->n_len - i) * 8;
		for (uint8_t top = pub->n[i]; !(top & 0x80); top <<= 1)
			bits--;
		return bits;
	}
	if (pub->kind == P11_KEY_EC) {
		if (pub->ec_params_len == sizeof(oid_p256) &&
		    !memcmp(pub->ec_params, oid_p256, sizeof(oid_p256)))
			return 256;
		if (pub->ec_params_len == sizeof(oid_p384) &&
		    !memcmp(pub->ec_params, oid_p384, sizeof(oid_p384)))
			return 384;
	}
	return 0;
}

/* A server key stays in the token: sensitive, never extractable. */
int serverkey_sealed(token *t, P11KitUri *u, const key *k)
{
	CK_BBOOL extractable = CK_TRUE, sensitive = CK_FALSE;
	CK_ATTRIBUTE a[2] = {
		{ CKA_EXTRACTABLE, &extractable, sizeof(extractable) },
		{ CKA_SENSITIVE, &sensitive, sizeof(sensitive) },
	};
	CK_RV rv = t->mod->C_GetAttributeValue(t->session, k->h, a, 2);
	char tn[40], kn[400];

	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE &&
	    rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return p11_ck_fail(rv, "reading the key's attributes");
	if ((a[0].ulValueLen == sizeof(CK_BBOOL) && extractable) ||
	    (a[1].ulValueLen == sizeof(CK_BBOOL) && !sensitive)) {
		token_name(t, tn, sizeof(tn));
		key_name(u, kn, sizeof(kn));
		return kmc_detail(KMC_E_P11_KEY_TYPE, "token %s: the key %s can "
			"leave the token (extractable or not sensitive)", tn, kn);
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Making keys: ids, templates                                       */

static int object_exists(token *t, CK_ATTRIBUTE *a)
{
	CK_OBJECT_HANDLE h;
	CK_ULONG got = 0;
	CK_RV rv;

	rv = t->mod->C_FindObjectsInit(t->session, a, 1);
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "searching the token");
	rv = t->mod->C_FindObjects(t->session, &h, 1, &got);
	(void)t->mod->C_FindObjectsFinal(t->session);
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "searching the token");
	return got > 0;
}

/*
 * The new key's id and label in u, with no token reached: the URI's own,
 * else a random id and the label given. A caller with an intent gets the
 * key URI from them before any lock is taken.
 */
static int ids_preset(P11KitUri *u, const char *label)
{
	uint8_t id[P11_KEY_ID_LEN];

	if (!p11k.uri_get_attribute(u, CKA_ID)) {
		CK_ATTRIBUTE ida = { CKA_ID, id, sizeof(id) };

		randombytes_buf(id, sizeof(id));
		KMC_ENSURE(p11k.uri_set_attribute(u, &ida) == P11_KIT_URI_OK,
			KMC_E_NOMEM);
	}
	if (label && *label && !p11k.uri_get_attribute(u, CKA_LABEL)) {
		CK_ATTRIBUTE la = { CKA_LABEL, (void *)label, strlen(label) };

		KMC_ENSURE(strlen(label) <= TOKEN_KEY_ATTR, KMC_E_TOO_LARGE);
		KMC_ENSURE(p11k.uri_set_attribute(u, &la) == P11_KIT_URI_OK,
			KMC_E_NOMEM);
	}
	return 0;
}

/*
 * Settle the new key's id and label in u (ids_preset), and check them:
 * neither may name an object already there, as a second key of the same
 * name would make every later lookup ambiguous.
 */
static int ids_settle(token *t, P11KitUri *u, const char *label)
{
	CK_ATTRIBUTE *a;
	char tn[40], kn[400];
	int r;

	KMC_GUARD(ids_preset(u, label));
	a = p11k.uri_get_attribute(u, CKA_ID);
	KMC_ENSURE(a && a->ulValueLen <= TOKEN_KEY_ATTR, KMC_E_TOO_LARGE);
	r = object_exists(t, a);
	if (r == 0 && (a = p11k.uri_get_attribute(u, CKA_LABEL))) {
		KMC_ENSURE(a->ulValueLen <= TOKEN_KEY_ATTR, KMC_E_TOO_LARGE);
		r = object_exists(t, a);
	}
	if (r > 0) {
		token_name(t, tn, sizeof(tn));
		key_name(u, kn, sizeof(kn));
		return kmc_detail(KMC_E_EXISTS, "token %s already has an object "
			"with %s: choose another label or id", tn, kn);
	}
	return r;
}

/* The token must do mech with keys of bits (0: any size). */
static int mech_can(token *t, CK_MECHANISM_TYPE mech, CK_FLAGS flag,
	CK_ULONG bits, const char *what)
{
	CK_MECHANISM_INFO info;
	char tn[40];
	CK_RV rv = t->mod->C_GetMechanismInfo(t->slot, mech, &info);

	token_name(t, tn, sizeof(tn));
	if (rv != CKR_OK || !(info.flags & flag))
		return kmc_detail(KMC_E_P11_KEY_TYPE, "token %s cannot %s",
			tn, what);
	/* EC sizes are in bits of the order, RSA's in bits of the modulus;
	   both compare the same way. Some tokens leave them 0. */
	if (bits && info.ulMaxKeySize &&
	    (bits < info.ulMinKeySize || bits > info.ulMaxKeySize))
		return kmc_detail(KMC_E_P11_KEY_TYPE, "token %s cannot %s of %lu "
			"bits (it takes %lu to %lu)", tn, what, (unsigned long)bits,
			(unsigned long)info.ulMinKeySize,
			(unsigned long)info.ulMaxKeySize);
	return 0;
}

static void add_ids(P11KitUri *u, CK_ATTRIBUTE *tmpl, CK_ULONG *n)
{
	CK_ATTRIBUTE *a = p11k.uri_get_attribute(u, CKA_LABEL);

	if (a)
		tmpl[(*n)++] = *a;
	a = p11k.uri_get_attribute(u, CKA_ID);
	if (a)
		tmpl[(*n)++] = *a;
}

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
#define BOOL_ATTR(type, v) \
	((CK_ATTRIBUTE){ (type), (void *)&(v), sizeof(CK_BBOOL) })

/*
 * The attributes every private server key gets. strict: the uses too,
 * said either way (SoftHSM2 lets a key decrypt and unwrap by default; a
 * server key signs, and an RSA one decrypts). tpm2-pkcs11 refuses a key
 * pair template whose uses differ from those the TPM gives the key
 * (CKA_UNWRAP on an EC key), and a refused generation leaves its object
 * loaded in a TPM without a resource manager: so a pair is made with the
 * uses it must have, and the others are then turned off where the token
 * lets them be (uses_narrow).
 */
static void private_attrs(CK_KEY_TYPE kt, int strict, CK_ATTRIBUTE *tmpl,
	CK_ULONG *n)
{
	tmpl[(*n)++] = BOOL_ATTR(CKA_TOKEN, yes);
	tmpl[(*n)++] = BOOL_ATTR(CKA_PRIVATE, yes);
	tmpl[(*n)++] = BOOL_ATTR(CKA_SENSITIVE, yes);
	tmpl[(*n)++] = BOOL_ATTR(CKA_EXTRACTABLE, no);
	tmpl[(*n)++] = BOOL_ATTR(CKA_SIGN, yes);
	if (kt == CKK_RSA)
		tmpl[(*n)++] = BOOL_ATTR(CKA_DECRYPT, yes);
	if (!strict)
		return;
	if (kt != CKK_RSA)
		tmpl[(*n)++] = BOOL_ATTR(CKA_DECRYPT, no);
	tmpl[(*n)++] = BOOL_ATTR(CKA_UNWRAP, no);
}

static void public_attrs(CK_KEY_TYPE kt, int strict, CK_ATTRIBUTE *tmpl,
	CK_ULONG *n)
{
	tmpl[(*n)++] = BOOL_ATTR(CKA_TOKEN, yes);
	tmpl[(*n)++] = BOOL_ATTR(CKA_PRIVATE, no);
	tmpl[(*n)++] = BOOL_ATTR(CKA_VERIFY, yes);
	if (kt == CKK_RSA)
		tmpl[(*n)++] = BOOL_ATTR(CKA_ENCRYPT, yes);
	if (!strict)
		return;
	if (kt != CKK_RSA)
		tmpl[(*n)++] = BOOL_ATTR(CKA_ENCRYPT, no);
	tmpl[(*n)++] = BOOL_ATTR(CKA_WRAP, no);
}

static void uses_narrow(token *t, CK_KEY_TYPE kt, CK_OBJECT_HANDLE pub,
	CK_OBJECT_HANDLE priv)
{
	CK_ATTRIBUTE pa[1] = { BOOL_ATTR(CKA_UNWRAP, no) };
	CK_ATTRIBUTE ua[1] = { BOOL_ATTR(CKA_WRAP, no) };
	CK_ATTRIBUTE pe[1] = { BOOL_ATTR(CKA_DECRYPT, no) };
	CK_ATTRIBUTE ue[1] = { BOOL_ATTR(CKA_ENCRYPT, no) };

	/* Each on its own: a token may refuse one and take the other. */
	(void)t->mod->C_SetAttributeValue(t->session, priv, pa, 1);
	(void)t->mod->C_SetAttributeValue(t->session, pub, ua, 1);
	if (kt != CKK_RSA) {
		(void)t->mod->C_SetAttributeValue(t->session, priv, pe, 1);
		(void)t->mod->C_SetAttributeValue(t->session, pub, ue, 1);
	}
}

static int uri_out(P11KitUri *u, char **ret)
{
	char *s = NULL;

	p11k.uri_set_pin_value(u, NULL);
	if (p11k.uri_format(u, P11_KIT_URI_FOR_ANY, &s) != P11_KIT_URI_OK)
		return KMC_E_NOMEM;
	if (strlen(s) > P11_URI_MAX) {
		free(s);
		return KMC_E_TOO_LARGE;
	}
	*ret = s;
	return 0;
}

/*
 * After a call that made objects and failed (C_CreateObject,
 * C_GenerateKeyPair): a token may have kept what it had written before
 * the failure (SoftHSM2 does, when its object file cannot be finished).
 * The id ids_settle() chose named nothing before, so whatever has it now
 * is ours: destroyed, so that no private key is left that nothing names.
 * What this session finds is not all a token may have kept, though:
 * SoftHSM2, its object file written and the next write of it failing,
 * answers CKR_GENERAL_ERROR, keeps the object out of this process's view
 * and loads it in the next one. So unless sure (the token refused before
 * keeping anything, or the objects were made whole and are in view), the
 * caller's word stays (made 1): the key URI stays on the vault's list for
 * kmc repair, whose removal finds the key gone or removes it.
 * Returns r, with a word added to its detail when something stays.
 */
static int leftovers_destroy(token *t, P11KitUri *u, p11_key_intent *intent,
	int sure, int r)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY,
		CKO_PUBLIC_KEY };
	CK_ATTRIBUTE *id = p11k.uri_get_attribute(u, CKA_ID);
	char tn[40], kn[400], detail[600];
	int left = 0;

	if (!id)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(classes); i++) {
		CK_OBJECT_CLASS cls = classes[i];
		CK_ATTRIBUTE a[2] = { { CKA_CLASS, &cls, sizeof(cls) }, *id };
		CK_OBJECT_HANDLE h[4];
		CK_ULONG got = 0;

		if (t->mod->C_FindObjectsInit(t->session, a, 2) != CKR_OK) {
			left = 1;
			continue;
		}
		if (t->mod->C_FindObjects(t->session, h, ELEMENTSOF(h), &got) !=
		    CKR_OK)
			got = 0, left = 1;
		(void)t->mod->C_FindObjectsFinal(t->session);
		for (CK_ULONG k = 0; k < got; k++)
			if (t->mod->C_DestroyObject(t->session, h[k]) != CKR_OK)
				left = 1;
	}
	/* The caller's word: nothing of it is left on the token. */
	if (intent)
		intent->made = left || !sure;
	if (!left && (sure || !intent || !intent->fn))
		return r;
	snprintf(detail, sizeof(detail), "%s", kmc_error_detail());
	token_name(t, tn, sizeof(tn));
	key_name(u, kn, sizeof(kn));
	kmc_detail_clear();
	if (!left)
		return kmc_detail(r, "%s; what token %s may have kept of it (%s) "
			"out of this process's view is left to kmc repair",
			detail, tn, kn);
	return kmc_detail(r, "%s; and what token %s may have kept of it (%s) "
		"could not be removed again: remove it with the token's tools",
		detail, tn, kn);
}

/* The caller's word (serverkey.h), u settled and checked on the token:
   its key URI, as uri_out() will give it, with u's pin-value kept. */
static int intent_tell(P11KitUri *u, p11_key_intent *intent)
{
	const char *pv = p11k.uri_get_pin_value(u);
	char *pin = NULL, *s = NULL;
	int r;

	if (pv && !(pin = strdup(pv)))
		return KMC_E_NOMEM;
	r = uri_out(u, &s);
	if (pin) {
		p11k.uri_set_pin_value(u, pin);
		sodium_memzero(pin, strlen(pin));
		free(pin);
	}
	if (r < 0)
		return kmc_detail(r, "writing the new key's URI: %s",
			r == KMC_E_NOMEM ? "out of memory" : "too long");
	r = intent->fn(intent->arg, s);
	free(s);
	return r;
}

/* Just before the token makes objects. */
static void intent_made(p11_key_intent *intent)
{
	if (intent)
		intent->made = 1;
}

static int generate_in(token *t, P11KitUri *u, p11_key_spec spec,
	const char *label, p11_key_intent *intent, int check_only,
	p11_pubkey *pub)
{
	CK_OBJECT_CLASS pcls = CKO_PUBLIC_KEY, scls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = spec == P11_SPEC_P256 || spec == P11_SPEC_P384 ?
		CKK_EC : CKK_RSA;
	CK_ULONG bits = spec == P11_SPEC_RSA2048 ? 2048 :
		spec == P11_SPEC_RSA3072 ? 3072 : spec == P11_SPEC_P256 ? 256 : 384;
	static const uint8_t f4[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM m = { kt == CKK_RSA ? CKM_RSA_PKCS_KEY_PAIR_GEN :
		CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pt[12], st[12];
	CK_ULONG pn = 0, sn = 0;
	CK_OBJECT_HANDLE ph, sh;
	CK_RV rv;
	int r;

	KMC_GUARD(mech_can(t, m.mechanism, CKF_GENERATE_KEY_PAIR, bits,
		kt == CKK_RSA ? "make RSA keys" : "make EC keys"));
	KMC_GUARD(ids_settle(t, u, label));
	if (check_only)
		return 0;
	pt[pn++] = (CK_ATTRIBUTE){ CKA_CLASS, &pcls, sizeof(pcls) };
	pt[pn++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	public_attrs(kt, 0, pt, &pn);
	if (kt == CKK_RSA) {
		pt[pn++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) };
		pt[pn++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, (void *)f4,
			sizeof(f4) };
	} else if (spec == P11_SPEC_P256) {
		pt[pn++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_p256,
			sizeof(oid_p256) };
	} else {
		pt[pn++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_p384,
			sizeof(oid_p384) };
	}
	add_ids(u, pt, &pn);
	st[sn++] = (CK_ATTRIBUTE){ CKA_CLASS, &scls, sizeof(scls) };
	st[sn++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	private_attrs(kt, 0, st, &sn);
	add_ids(u, st, &sn);
	intent_made(intent);
	rv = t->mod->C_GenerateKeyPair(t->session, &m, pt, pn, st, sn, &ph, &sh);
	if (rv == CKR_OK)
		uses_narrow(t, kt, ph, sh);
	if (rv == CKR_DEVICE_MEMORY) {
		char tn[40];

		token_name(t, tn, sizeof(tn));
		return leftovers_destroy(t, u, intent, 1, kmc_detail(KMC_E_P11,
			"token %s has no room for another key "
			"(CKR_DEVICE_MEMORY)", tn));
	}
	if (rv != CKR_OK)
		return leftovers_destroy(t, u, intent, 0, p11_ck_fail(rv,
			"making the key pair in the token"));
	r = serverkey_public_read(t, ph, kt, pub);
	if (r < 0) {
		(void)t->mod->C_DestroyObject(t->session, sh);
		(void)t->mod->C_DestroyObject(t->session, ph);
	}
	return r;
}

/* Check a curve and parts before the token sees them. */
static int parts_check(const p11_key_parts *k, CK_KEY_TYPE *ret_kt,
	CK_ULONG *ret_bits)
{
	if (k->kind == P11_KEY_RSA) {
		KMC_ENSURE(k->n.len && k->n.len <= P11_RSA_MAX && k->e.len &&
			k->e.len <= 16 && k->d.len && k->p.len && k->q.len &&
			k->dp.len && k->dq.len && k->qinv.len, KMC_E_INVALID);
		*ret_kt = CKK_RSA;
		*ret_bits = (CK_ULONG)k->n.len * 8;
		return 0;
	}
	if (k->kind == P11_KEY_EC) {
		KMC_ENSURE(k->d.len && k->ec_point.len &&
			k->ec_point.len <= P11_EC_POINT_MAX, KMC_E_INVALID);
		if (k->ec_params.len == sizeof(oid_p256) &&
		    !memcmp(k->ec_params.p, oid_p256, sizeof(oid_p256)))
			*ret_bits = 256;
		else if (k->ec_params.len == sizeof(oid_p384) &&
		    !memcmp(k->ec_params.p, oid_p384, sizeof(oid_p384)))
			*ret_bits = 384;
		else
			return kmc_detail(KMC_E_P11_KEY_TYPE, "only P-256 and P-384 "
				"keys go to a token");
		*ret_kt = CKK_EC;
		return 0;
	}
	return kmc_detail(KMC_E_P11_KEY_TYPE, "only RSA and EC keys go to a "
		"token");
}

#define PART(type, b) \
	((CK_ATTRIBUTE){ (type), (void *)(b).p, (CK_ULONG)(b).len })

static int import_in(token *t, P11KitUri *u, const p11_key_parts *k,
	const char *label, p11_key_intent *intent, int check_only,
	p11_pubkey *pub)
{
	CK_OBJECT_CLASS pcls = CKO_PUBLIC_KEY, scls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt;
	CK_ULONG bits, pn = 0, sn = 0;
	CK_ATTRIBUTE pt[12], st[20];
	CK_OBJECT_HANDLE ph, sh;
	uint8_t point[P11_EC_POINT_MAX + 3];
	CK_RV rv;
	int r;

	KMC_GUARD(parts_check(k, &kt, &bits));
	KMC_GUARD(mech_can(t, kt == CKK_RSA ? CKM_RSA_PKCS : CKM_ECDSA,
		CKF_SIGN, 0, kt == CKK_RSA ? "sign with RSA keys" :
		"sign with EC keys"));
	KMC_GUARD(ids_settle(t, u, label));
	if (check_only)
		return 0;
	st[sn++] = (CK_ATTRIBUTE){ CKA_CLASS, &scls, sizeof(scls) };
	st[sn++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	private_attrs(kt, 1, st, &sn);
	add_ids(u, st, &sn);
	pt[pn++] = (CK_ATTRIBUTE){ CKA_CLASS, &pcls, sizeof(pcls) };
	pt[pn++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	public_attrs(kt, 1, pt, &pn);
	add_ids(u, pt, &pn);
	if (kt == CKK_RSA) {
		st[sn++] = PART(CKA_MODULUS, k->n);
		st[sn++] = PART(CKA_PUBLIC_EXPONENT, k->e);
		st[sn++] = PART(CKA_PRIVATE_EXPONENT, k->d);
		st[sn++] = PART(CKA_PRIME_1, k->p);
		st[sn++] = PART(CKA_PRIME_2, k->q);
		st[sn++] = PART(CKA_EXPONENT_1, k->dp);
		st[sn++] = PART(CKA_EXPONENT_2, k->dq);
		st[sn++] = PART(CKA_COEFFICIENT, k->qinv);
		pt[pn++] = PART(CKA_MODULUS, k->n);
		pt[pn++] = PART(CKA_PUBLIC_EXPONENT, k->e);
	} else {
		size_t plen = 0;

		st[sn++] = PART(CKA_EC_PARAMS, k->ec_params);
		st[sn++] = PART(CKA_VALUE, k->d);
		/* The point goes in as a DER OCTET STRING (PKCS#11 2.40). */
		point[plen++] = 0x04;
		if (k->ec_point.len >= 0x80)
			point[plen++] = 0x81;
		point[plen++] = (uint8_t)k->ec_point.len;
		memcpy(point + plen, k->ec_point.p, k->ec_point.len);
		plen += k->ec_point.len;
		pt[pn++] = PART(CKA_EC_PARAMS, k->ec_params);
		pt[pn++] = (CK_ATTRIBUTE){ CKA_EC_POINT, point, plen };
	}
	intent_made(intent);
	rv = t->mod->C_CreateObject(t->session, st, sn, &sh);
	if (rv == CKR_DEVICE_MEMORY) {
		char tn[40];

		token_name(t, tn, sizeof(tn));
		return leftovers_destroy(t, u, intent, 1, kmc_detail(KMC_E_P11,
			"token %s has no room for another key "
			"(CKR_DEVICE_MEMORY)", tn));
	}
	if (rv != CKR_OK)
		return leftovers_destroy(t, u, intent, 0, p11_ck_fail(rv,
			"moving the private key into the token"));
	rv = t->mod->C_CreateObject(t->session, pt, pn, &ph);
	if (rv != CKR_OK) {
		/* No half key left behind. */
		(void)t->mod->C_DestroyObject(t->session, sh);
		return leftovers_destroy(t, u, intent, 0, p11_ck_fail(rv,
			"storing the public key in the token"));
	}
	r = serverkey_public_read(t, ph, kt, pub);
	if (r < 0) {
		(void)t->mod->C_DestroyObject(t->session, sh);
		(void)t->mod->C_DestroyObject(t->session, ph);
	}
	return r;
}

/* ---------------------------------------------------------------- */
/* Entry points                                                      */

typedef struct make_args {
	int generate;
	p11_key_spec spec;
	const p11_key_parts *parts;
	const char *label;
	p11_key_intent *intent;
	p11_pubkey *pub;
} make_args;

/* The key made (check_only: every check the token can make first). */
static int make_in(token *t, P11KitUri *u, const make_args *a,
	int check_only)
{
	if (a->generate)
		return generate_in(t, u, a->spec, a->label, a->intent,
			check_only, a->pub);
	return import_in(t, u, a->parts, a->label, a->intent, check_only,
		a->pub);
}

static int key_make(const char *uri, const p11_pin *pin, const make_args *a,
	char **ret_uri)
{
	_cleanup_(p11_uri_freep) P11KitUri *u = NULL;
	token *t = NULL;
	int r;

	if (a->intent)
		a->intent->made = 0;
	p11_sigpipe_block();
	token_cache_lock();
	r = token_session_ready(uri, pin, &u, &t);
	/* With an intent: the token's checks, then the caller's word with
	   no lock held (its commit may reach a token), then the key, under
	   the id and label the word named (settled in u). */
	if (r == 0 && a->intent && a->intent->fn) {
		r = make_in(t, u, a, 1);
		token_done(t);
		t = NULL;
		token_cache_unlock();
		if (r == 0)
			r = intent_tell(u, a->intent);
		token_cache_lock();
		if (r == 0)
			r = token_session_ready(uri, pin, &u, &t);
	}
	if (r == 0)
		r = make_in(t, u, a, 0);
	if (r == 0) {
		/* The key is made: a URI that cannot be written would leave
		   it named nowhere, so it goes again. */
		r = uri_out(u, ret_uri);
		if (r < 0)
			r = leftovers_destroy(t, u, a->intent, 1, kmc_detail(r,
				"writing the new key's URI: %s", r == KMC_E_NOMEM ?
				"out of memory" : "too long"));
	}
	if (t)
		token_done(t);
	token_cache_unlock();
	p11_sigpipe_restore();
	return r;
}

int p11_key_generate(const char *uri, const p11_pin *pin, p11_key_spec spec,
	const char *label, p11_key_intent *intent, char **ret_uri,
	p11_pubkey *ret_pub)
{
	make_args a = { .generate = 1, .spec = spec, .label = label,
		.intent = intent, .pub = ret_pub };

	KMC_ENSURE(spec >= P11_SPEC_RSA2048 && spec <= P11_SPEC_P384,
		KMC_E_INVALID);
	return key_make(uri, pin, &a, ret_uri);
}

int p11_key_import(const char *uri, const p11_pin *pin,
	const p11_key_parts *parts, const char *label,
	p11_key_intent *intent, char **ret_uri, p11_pubkey *ret_pub)
{
	make_args a = { .parts = parts, .label = label, .intent = intent,
		.pub = ret_pub };

	return key_make(uri, pin, &a, ret_uri);
}
