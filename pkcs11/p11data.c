/*
 * p11data.c - small data objects on a token (CKO_DATA, CKA_TOKEN,
 * CKA_PRIVATE), found by label: read, made, replaced. Generic: what the
 * value means is the caller's (the vault keeps a counter there that only
 * moves forward).
 */
#include <stdlib.h>
#include <string.h>
#include "token.h"

/* The data objects labelled label in t's session, at most
   P11_DATA_COPIES (a write cut off between its create and its destroy
   leaves two). */
static int data_find(token *t, const char *label,
	CK_OBJECT_HANDLE found[P11_DATA_COPIES + 1], CK_ULONG *ret_n)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_ULONG got = 0;
	CK_RV rv;

	rv = t->mod->C_FindObjectsInit(t->session, tmpl, 3);
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "searching the token");
	rv = t->mod->C_FindObjects(t->session, found, P11_DATA_COPIES + 1,
		&got);
	(void)t->mod->C_FindObjectsFinal(t->session);
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "searching the token");
	if (got > P11_DATA_COPIES)
		return kmc_detail(KMC_E_P11, "the token holds more than %d data "
			"objects labelled %s", P11_DATA_COPIES, label);
	*ret_n = got;
	return 0;
}

static int data_get(token *t, const char *label, p11_data *ret)
{
	CK_OBJECT_HANDLE h[P11_DATA_COPIES + 1];
	CK_ULONG n = 0;
	CK_RV rv;

	KMC_GUARD(data_find(t, label, h, &n));
	for (CK_ULONG i = 0; i < n; i++) {
		/* Read straight into the room there is, in one call rather
		   than one for the length and one for the value: a value
		   that does not fit is CKR_BUFFER_TOO_SMALL (PKCS#11 2.40,
		   C_GetAttributeValue), so it is still bounded. */
		CK_ATTRIBUTE a = { CKA_VALUE, ret->val[i], P11_DATA_MAX };

		rv = t->mod->C_GetAttributeValue(t->session, h[i], &a, 1);
		if (rv == CKR_BUFFER_TOO_SMALL)
			return kmc_detail(KMC_E_TOO_LARGE, "the token's data "
				"object %s holds more than %d bytes", label,
				P11_DATA_MAX);
		if (rv != CKR_OK)
			return p11_ck_fail(rv, "reading a data object");
		/* A module that says OK with a length past the room. */
		if (a.ulValueLen > P11_DATA_MAX)
			return kmc_detail(KMC_E_TOO_LARGE, "the token's data "
				"object %s holds %lu bytes, more than %d", label,
				(unsigned long)a.ulValueLen, P11_DATA_MAX);
		ret->len[i] = a.ulValueLen;
	}
	ret->n = n;
	return 0;
}

/* A new object first, then the old ones go: a write cut off in between
   leaves both, which a reader sees and the next write removes. Tokens
   keep a data object's value read-only once made (SoftHSM2 does). */
static int data_put(token *t, const char *label, const uint8_t *val,
	size_t len)
{
	static const char app[] = "kmcvault";
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_OBJECT_HANDLE old[P11_DATA_COPIES + 1], h = 0;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_APPLICATION, (void *)app, sizeof(app) - 1 },
		{ CKA_VALUE, (void *)val, len },
	};
	CK_ULONG n = 0;
	CK_RV rv;

	KMC_GUARD(data_find(t, label, old, &n));
	rv = t->mod->C_CreateObject(t->session, tmpl,
		sizeof(tmpl) / sizeof(tmpl[0]), &h);
	if (rv != CKR_OK)
		return p11_ck_fail(rv, "writing a data object");
	for (CK_ULONG i = 0; i < n; i++) {
		rv = t->mod->C_DestroyObject(t->session, old[i]);
		if (rv != CKR_OK)
			return p11_ck_fail(rv, "removing an older data object");
	}
	return 0;
}

/* Run one of the above with the token uri names, logged in with pin, and
   once more from a cold start when a cached session went bad. */
static int with_token(const char *uri, const p11_pin *pin, const char *label,
	p11_data *ret, const uint8_t *val, size_t len)
{
	_cleanup_(p11_uri_freep) P11KitUri *u = NULL;
	token *t = NULL;
	int r;

	p11_sigpipe_block();
	token_cache_lock();
	p11_last_rv_clear();
	for (int pass = 0; pass < 2; pass++) {
		r = token_session_ready(uri, pin, &u, &t);
		if (r == 0)
			r = val ? data_put(t, label, val, len) :
				data_get(t, label, ret);
		if (r != KMC_E_P11 || !t || !t->reused)
			break;
		token_forget(t);
		t = NULL;
		kmc_detail_clear();
		p11_last_rv_clear();
	}
	/* A token not reached, tried again (p11_unreached_pause()). */
	for (int i = 0; i < P11_UNREACHED_TRIES && p11_unreached(r); i++) {
		p11_unreached_again(&t, i);
		r = token_session_ready(uri, pin, &u, &t);
		if (r == 0)
			r = val ? data_put(t, label, val, len) :
				data_get(t, label, ret);
	}
	if (t)
		token_done(t);
	token_cache_unlock();
	p11_sigpipe_restore();
	return r;
}

int p11_data_get(const char *uri, const p11_pin *pin, const char *label,
	p11_data *ret)
{
	ret->n = 0;
	return with_token(uri, pin, label, ret, NULL, 0);
}

int p11_data_put(const char *uri, const p11_pin *pin, const char *label,
	const uint8_t *val, size_t len)
{
	return with_token(uri, pin, label, NULL, val, len);
}
