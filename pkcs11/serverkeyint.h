/*
 * serverkeyint.h - what serverkey.c lends serverkeyuse.c; nothing else
 * includes it.
 */
#ifndef KMC_P11_SERVERKEYINT_H
#define KMC_P11_SERVERKEYINT_H

#include "token.h"
#include "serverkey.h"

/* KMC_E_P11_KEY: the token has no key of class cls (public or private)
   the URI u names; the detail names token and key. */
KMC_INTERNAL int serverkey_gone(token *t, P11KitUri *u, CK_OBJECT_CLASS cls)
	KMC_MUST_CHECK;
/* The public half of the public-key object h, of key type type. */
KMC_INTERNAL int serverkey_public_read(token *t, CK_OBJECT_HANDLE h,
	CK_KEY_TYPE type, p11_pubkey *ret) KMC_MUST_CHECK;
/* 0 when the private key k is sensitive and never extractable, else
   KMC_E_P11_KEY_TYPE naming it. */
KMC_INTERNAL int serverkey_sealed(token *t, P11KitUri *u, const key *k)
	KMC_MUST_CHECK;

#endif
