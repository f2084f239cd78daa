/*
 * tls.c - bundles into OpenSSL: keys and SSL_CTX set-up (with the
 * bundle's trust store). Key export is in keyexport.c, certificate
 * descriptions in certinfo.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <kmc/tls.h>
#include "ciphers.h"
#include "x509.h"
#include "trust.h"
#include "audit.h"
#include "tokenkey.h"

/* The key in the vault, parsed. A server loads its keys in bulk: each
   read maps its record's page, its bucket's, a digest node's and the
   B-trees' upper pages, each with up to 15 neighbours (the kernel's
   fault-around, some 500 KiB a read), and they leave before the key is
   parsed: one madvise a load (a few us, against 150 us and more for the
   parse). */
static int key_in_vault(kmc_vault *v, const char *name, const kmc_secret *der,
	OSSL_LIB_CTX *libctx, const char *propq, EVP_PKEY **ret)
{
	int r;

	store_release_pages(&v->st, 1);
	r = key_from_pkcs8_ex(der, libctx, propq, ret);
	if (r == KMC_E_CORRUPT)
		return kmc_detail(r, "item %s/key: not a PKCS#8 private key",
			name);
	return r;
}

typedef struct key_job {
	const char *name;
	kmc_secret *der;	/* a key in the vault */
	int token;		/* else a key on a token, rec */
	token_key_rec rec;
} key_job;

/* One snapshot: a key in the vault, else the token key record, never
   the one read before a change and the other after it. */
static int key_read(kmc_vault *v, void *arg)
{
	key_job *j = arg;
	int r;

	store_set_bulk(&v->st, 1);
	r = vault_part_get(v, j->name, "key", KMC_ITEM_PRIVATE_KEY, &j->der);
	store_set_bulk(&v->st, 0);
	if (r < 0 && token_key_instead(v, j->name, &r, &j->rec)) {
		j->token = 1;
		return 0;
	}
	return r;
}

static void key_undo(void *arg)
{
	key_job *j = arg;

	kmc_secret_free(j->der);
	j->der = NULL;
	j->token = 0;
}

#define KEY_LOAD_TRIES 8

/*
 * The record is read in a snapshot, the key parsed or loaded after it
 * ends. A token key the provider loads is checked against the record
 * (KMC_E_BUSY when another process replaced it in between): read again,
 * unless the caller holds a snapshot of its own, whose reads would give
 * the same record; that caller reads again, or says so.
 */
static int key_load(kmc_vault *v, const char *name, OSSL_LIB_CTX *libctx,
	const char *propq, EVP_PKEY **ret)
{
	int r = KMC_E_BUSY;

	for (int i = 0; i < KEY_LOAD_TRIES && r == KMC_E_BUSY; i++) {
		key_job j = { .name = name };

		if (i)
			kmc_detail_clear();
		KMC_GUARD(vault_read_one_version(v, name, key_read, key_undo,
			&j));
		if (!j.token) {
			r = key_in_vault(v, name, j.der, libctx, propq, ret);
			kmc_secret_free(j.der);
			return r;
		}
		r = token_key_load(v, name, &j.rec, libctx, propq, ret);
		if (v->st.pinned)
			break;
	}
	return r;
}

int kmc_key_load(kmc_vault *v, const char *name, EVP_PKEY **ret)
{
	AUDIT_OP(v, "kmc_key_load");

	return key_load(v, name, NULL, NULL, ret);
}

int kmc_key_load_ex(kmc_vault *v, const char *name, OSSL_LIB_CTX *libctx,
	const char *propq, EVP_PKEY **ret)
{
	AUDIT_OP(v, "kmc_key_load");

	return key_load(v, name, libctx, propq, ret);
}

static void sk_X509_pop_freep(STACK_OF(X509) **s)
{
	sk_X509_pop_free(*s, X509_free);
}

static int verify_without_crl(int ok, X509_STORE_CTX *x)
{
	if (!ok && X509_STORE_CTX_get_error(x) == X509_V_ERR_UNABLE_TO_GET_CRL) {
		X509_STORE_CTX_set_error(x, X509_V_OK);
		return 1;
	}
	return ok;
}

/* The certificates of the trust store bundle name names, if any, as
   anchors and client-CA names beside its own CA. */
static int add_trust_store(X509_STORE *xstore, STACK_OF(X509_NAME) *names,
	kmc_vault *v, const char *name, int *ret_trusting, int *ret_crls)
{
	char sname[KMC_TRUST_NAME_MAX + 1];
	trust_set *t = NULL;
	int r;

	KMC_GUARD(kmc_cert_trust_store(v, name, sname, sizeof(sname)));
	if (!sname[0])
		return 0;
	r = trust_load(v, sname, &t);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "bundle %s names trust store %s, which the "
			"vault no longer holds (kmc cert set-trust %s --none, or "
			"add the store again)", name, sname, name);
	KMC_GUARD(r);
	for (size_t i = 0; r == 0 && i < t->n; i++) {
		X509 *x = t->c[i].x;
		X509_NAME *n = X509_NAME_dup(X509_get_subject_name(x));

		if (!n || !sk_X509_NAME_push(names, n)) {
			X509_NAME_free(n);
			r = KMC_E_NOMEM;
		} else if (X509_STORE_add_cert(xstore, x) != 1) {
			r = kmc_detail(KMC_E_INVALID, "trust store %s, alias %s: "
				"%s", sname, t->c[i].alias, ossl_reason());
		} else if (t->c[i].crl) {
			if (X509_STORE_add_crl(xstore, t->c[i].crl) != 1)
				r = kmc_detail(KMC_E_INVALID, "trust store %s, "
					"alias %s, its CRL: %s", sname,
					t->c[i].alias, ossl_reason());
			*ret_crls = 1;
		}
	}
	trust_set_free(t);
	*ret_trusting = 1;
	return r;
}

/* A bundle's parts, read together. */
typedef struct bundle_parts {
	kmc_secret *cert, *ca, *crl_pem;
	EVP_PKEY *pkey;
} bundle_parts;

static void bundle_parts_free(bundle_parts *b)
{
	kmc_secret_free(b->cert);
	kmc_secret_free(b->ca);
	kmc_secret_free(b->crl_pem);
	EVP_PKEY_free(b->pkey);
	*b = (bundle_parts){ 0 };
}

typedef struct parts_job {
	const char *name;
	const kmc_tls_params *q;
	bundle_parts b;
} parts_job;

static int parts_read(kmc_vault *v, void *arg)
{
	parts_job *j = arg;
	bundle_parts *b = &j->b;
	int r;

	r = vault_part_get(v, j->name, "cert", KMC_ITEM_CERTIFICATE,
		&b->cert);
	if (r == KMC_E_NOT_FOUND && bundle_without_cert(v, j->name))
		return kmc_detail(r, "bundle %s has no certificate yet: kmc csr "
			"%s, then kmc cert set %s -s SIGNED.crt", j->name, j->name,
			j->name);
	KMC_GUARD(r);
	KMC_GUARD(vault_part_get(v, j->name, "ca", KMC_ITEM_CERTIFICATE,
		&b->ca));
	r = vault_part_get(v, j->name, "crl", KMC_ITEM_CRL, &b->crl_pem);
	if (r < 0 && r != KMC_E_NOT_FOUND)
		return r;
	return kmc_key_load_ex(v, j->name, j->q->libctx, j->q->propq,
		&b->pkey);
}

static void parts_undo(void *arg)
{
	bundle_parts_free(&((parts_job *)arg)->b);
}

static int ctx_use(SSL_CTX *ctx, kmc_vault *v, const char *name,
	const kmc_tls_params *q)
{
	_cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
	_cleanup_(sk_X509_pop_freep) STACK_OF(X509) *cas = NULL;
	X509_STORE *xstore = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_NAME) *ca_names;
	_cleanup_(kmc_secret_freep) kmc_secret *crl_pem = NULL;
	parts_job job = { name, q, { 0 } };
	bundle_parts *b = &job.b;
	EVP_PKEY *pkey;
	X509_CRL *crl = NULL;
	int trusting = 0, store_crls = 0;
	int r;

	/* The certificate, CA, CRL and key of one version of the bundle. */
	r = vault_read_one_version(v, name, parts_read, parts_undo, &job);
	if (r < 0) {
		bundle_parts_free(b);
		return r;
	}
	r = certs_parse("certificate item", kmc_secret_data(b->cert),
		kmc_secret_len(b->cert), &chain);
	if (r == 0)
		r = certs_parse("CA item", kmc_secret_data(b->ca),
			kmc_secret_len(b->ca), &cas);
	/* The key and the CRL are used below; the rest is done with. */
	pkey = TAKE_PTR(b->pkey);
	crl_pem = TAKE_PTR(b->crl_pem);
	bundle_parts_free(b);
	if (r < 0) {
		EVP_PKEY_free(pkey);
		return r;
	}

	r = 0;
	if (SSL_CTX_use_certificate(ctx, sk_X509_value(chain, 0)) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		r = kmc_detail(KMC_E_INVALID, "bundle %s: OpenSSL refused the "
			"certificate or key: %s", name, ossl_reason());
	EVP_PKEY_free(pkey);
	for (int i = 1; r == 0 && i < sk_X509_num(chain); i++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)) != 1)
			r = KMC_E_NOMEM;
	ca_names = sk_X509_NAME_new_null();
	if (r == 0 && !ca_names)
		r = KMC_E_NOMEM;
	for (int i = 0; r == 0 && i < sk_X509_num(cas); i++) {
		X509 *x = sk_X509_value(cas, i);
		X509_NAME *n = X509_NAME_dup(X509_get_subject_name(x));

		if (!n || !sk_X509_NAME_push(ca_names, n)) {
			X509_NAME_free(n);
			r = KMC_E_NOMEM;
		} else if (X509_STORE_add_cert(xstore, x) != 1) {
			r = kmc_detail(KMC_E_INVALID, "bundle %s: %s", name,
				ossl_reason());
		}
	}
	if (r == 0)
		r = add_trust_store(xstore, ca_names, v, name, &trusting,
			&store_crls);
	if (r == 0) {
		SSL_CTX_set_client_CA_list(ctx, ca_names);
		ca_names = NULL;
	}
	sk_X509_NAME_pop_free(ca_names, X509_NAME_free);
	KMC_GUARD(r);
	if (crl_pem) {
		KMC_GUARD(crl_parse("CRL item", kmc_secret_data(crl_pem),
			kmc_secret_len(crl_pem), &crl));
		r = X509_STORE_add_crl(xstore, crl) == 1 ? 0 : KMC_E_INVALID;
		X509_CRL_free(crl);
		KMC_GUARD(r);
	}
	if (crl_pem || store_crls)
		X509_STORE_set_flags(xstore, X509_V_FLAG_CRL_CHECK);
	/* A CA that has a CRL (the bundle's, or a store's given one) has its
	   clients checked against it; one that has none (a store CA without
	   kmc trust crl, or the bundle's CA when only store CAs have CRLs)
	   is not refused for lacking it. */
	if (q->client_cert == KMC_CLIENT_CERT_NONE)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
			(q->client_cert == KMC_CLIENT_CERT_REQUIRED ?
			 SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
			(crl_pem || store_crls) && trusting ?
			verify_without_crl : NULL);
	return 0;
}

int kmc_ssl_ctx_use(SSL_CTX *ctx, kmc_vault *v, const char *name)
{
	kmc_tls_params q = KMC_TLS_PARAMS_INIT;

	return ctx_use(ctx, v, name, &q);
}

int kmc_ssl_ctx_use_ex(SSL_CTX *ctx, kmc_vault *v, const char *name,
	const kmc_tls_params *p)
{
	AUDIT_OP(v, "kmc_ssl_ctx_use_ex");
	kmc_tls_params q;

	kmc_detail_clear();
	/* All of p first: a refused option leaves ctx untouched. */
	KMC_GUARD(tls_params_read(p, &q));
	KMC_GUARD(tls_params_apply(ctx, &q));
	return ctx_use(ctx, v, name, &q);
}
