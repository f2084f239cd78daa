/*
 * born.c - bundles whose key is born in the vault: kmc key gen makes the
 * key, kmc csr asks a CA to sign it, kmc cert set attaches what the CA
 * signed.
 *
 * A bundle before its certificate holds three items:
 *	NAME        the password its keys-folder copy will be encrypted
 *	            under (32 random characters, as an import of a plain
 *	            key makes)
 *	NAME/key    the key, PKCS#8 DER
 *	NAME/meta   "keys_dir=\nconf=\nborn=1\n": no copies anywhere yet
 * The key is generated inside OpenSSL, moved to guarded memory as PKCS#8
 * and sealed; it is never written in the clear. kmc cert set then
 * publishes the certificate through import's own path (copies, config
 * file, journal), checked as an import checks it.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "import.h"
#include "keygen.h"
#include "tokenkey.h"
#include "trust.h"
#include "x509.h"
#include "audit.h"

#define BORN_META "keys_dir=\nconf=\nborn=1\n"
/* A CA's items (ca:NAME/...): never a bundle's name. */
#define CA_ITEM_PREFIX KMC_CA_ITEM_PREFIX

/* The name rules and no trust: or ca: prefix. */
static int born_prefix_check(const char *name)
{
	if (strlen(name) > KMC_BUNDLE_NAME_MAX || kmc_name_check(name) < 0)
		return kmc_detail(KMC_E_NAME, "bundle name \"%s\" is not 1 to %d "
			"of [A-Za-z0-9._@:/+-]", name, KMC_BUNDLE_NAME_MAX);
	if (!strncmp(name, TRUST_ITEM_PREFIX, strlen(TRUST_ITEM_PREFIX)) ||
	    !strncmp(name, CA_ITEM_PREFIX, strlen(CA_ITEM_PREFIX)))
		return kmc_detail(KMC_E_NAME, "bundle name \"%s\": names that "
			"begin with %s or %s are kept for trust stores and CAs",
			name, TRUST_ITEM_PREFIX, CA_ITEM_PREFIX);
	return 0;
}

int born_name_check(const char *name)
{
	KMC_GUARD(born_prefix_check(name));
	return bundle_name_guard(name);
}

static int writable(kmc_vault *v)
{
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	return 0;
}

static void pkey_freep(EVP_PKEY **k)
{
	EVP_PKEY_free(*k);
}

/* ---------------------------------------------------------------- */
/* kmc key gen                                                       */

int born_commit(kmc_vault *v, const char *name, const kmc_secret *pw,
	kmc_item_type key_type, const void *key, size_t key_len,
	const char *meta)
{
	char full[KMC_NAME_MAX + 1];
	store_txn t;
	int r;

	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = items_txn_put(v, &t, name, KMC_ITEM_PASSWORD, kmc_secret_data(pw),
		kmc_secret_len(pw), 1);
	if (r == 0) {
		snprintf(full, sizeof(full), "%s/key", name);
		r = items_txn_put(v, &t, full, key_type, key, key_len, 1);
	}
	if (r == 0) {
		snprintf(full, sizeof(full), "%s/meta", name);
		r = items_txn_put(v, &t, full, KMC_ITEM_BUNDLE, meta,
			strlen(meta), 1);
	}
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

int kmc_key_gen(kmc_vault *v, const char *name, kmc_key_type type)
{
	AUDIT_OP(v, "kmc_key_gen");
	_cleanup_(pkey_freep) EVP_PKEY *k = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *pkcs8 = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *pw = NULL;
	int r;

	kmc_detail_clear();
	KMC_GUARD(writable(v));
	KMC_GUARD(born_name_check(name));
	if (!kmc_key_type_name(type))
		return kmc_detail(KMC_E_INVALID, "key type %d is not one of "
			"kmc_key_type", (int)type);
	r = import_bundle_exists(v, name);
	KMC_GUARD(r);
	if (r)
		return kmc_detail(KMC_E_EXISTS, "%s already holds %s; kmc rm %s "
			"first, or choose another name", v->dir, name, name);
	KMC_GUARD(keygen_generate(type, &k));
	KMC_GUARD(keygen_pkcs8(k, &pkcs8));
	KMC_GUARD(import_make_password(&pw));
	return born_commit(v, name, pw, KMC_ITEM_PRIVATE_KEY,
		kmc_secret_data(pkcs8), kmc_secret_len(pkcs8), BORN_META);
}

/* ---------------------------------------------------------------- */
/* kmc csr                                                           */

static void req_freep(X509_REQ **r)
{
	X509_REQ_free(*r);
}

static void name_freep(X509_NAME **n)
{
	X509_NAME_free(*n);
}

static void gens_freep(GENERAL_NAMES **g)
{
	GENERAL_NAMES_free(*g);
}

static void exts_freep(STACK_OF(X509_EXTENSION) **e)
{
	sk_X509_EXTENSION_pop_free(*e, X509_EXTENSION_free);
}

/* The digest a signature by k takes: none for Ed25519, SHA-384 for
   P-384 (as its strength), SHA-256 otherwise. */
static const EVP_MD *sign_md(EVP_PKEY *k)
{
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519)
		return NULL;
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
	    EVP_PKEY_get_bits(k) == 384)
		return EVP_sha384();
	return EVP_sha256();
}

static int req_pem(X509_REQ *req, char **ret, size_t *ret_len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	KMC_ENSURE(b, KMC_E_NOMEM);
	if (!PEM_write_bio_X509_REQ(b, req) ||
	    (n = BIO_get_mem_data(b, &p)) <= 0 || !(out = malloc((size_t)n + 1))) {
		BIO_free(b);
		return KMC_E_NOMEM;
	}
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	BIO_free(b);
	*ret = out;
	*ret_len = (size_t)n;
	return 0;
}

int kmc_csr_make(kmc_vault *v, const char *name, const char *subject,
	const char *san, char **ret, size_t *ret_len)
{
	return kmc_csr_make_ex(v, name, subject, san, NULL, ret, ret_len);
}

int kmc_csr_make_ex(kmc_vault *v, const char *name, const char *subject,
	const char *san, const kmc_token_params *tp, char **ret,
	size_t *ret_len)
{
	AUDIT_OP(v, "kmc_csr_make");
	_cleanup_(kmc_secret_freep) kmc_secret *der = NULL;
	_cleanup_(pkey_freep) EVP_PKEY *k = NULL;
	_cleanup_(req_freep) X509_REQ *req = NULL;
	_cleanup_(name_freep) X509_NAME *subj = NULL;
	_cleanup_(gens_freep) GENERAL_NAMES *gens = NULL;
	_cleanup_(exts_freep) STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	token_key_rec tk;
	int on_token = 0, r;

	kmc_detail_clear();
	if (tp) {
		KMC_ENSURE(tp->size >= sizeof(*tp), KMC_E_INVALID);
		KMC_GUARD(vault_params_known(tp, tp->size, sizeof(*tp),
			"kmc_token_params"));
	}
	KMC_GUARD(subject_parse(subject, &subj));
	if (san)
		KMC_GUARD(san_parse(san, &gens));
	if (strlen(name) > KMC_BUNDLE_NAME_MAX || kmc_name_check(name) < 0)
		return kmc_detail(KMC_E_NAME, "bundle name \"%s\" is not 1 to %d "
			"of [A-Za-z0-9._@:/+-]", name, KMC_BUNDLE_NAME_MAX);
	r = vault_part_get(v, name, "key", KMC_ITEM_PRIVATE_KEY, &der);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "%s holds no key %s (kmc key gen %s makes "
			"one)", v->dir, name, name);
	/* A key on a token signs there; the request carries its public
	   half, as the vault recorded it. */
	if (token_key_instead(v, name, &r, &tk)) {
		KMC_GUARD(token_key_public(&tk, &k));
		on_token = 1;
	} else {
		KMC_GUARD(r);
		r = key_from_pkcs8(der, &k);
		if (r == KMC_E_CORRUPT)
			return kmc_detail(r, "%s/key: not a PKCS#8 key", name);
		KMC_GUARD(r);
	}

	ERR_clear_error();
	req = X509_REQ_new();
	KMC_ENSURE(req, KMC_E_NOMEM);
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_subject_name(req, subj) ||
	    !X509_REQ_set_pubkey(req, k))
		return KMC_E_NOMEM;
	if (gens) {
		exts = sk_X509_EXTENSION_new_null();
		KMC_ENSURE(exts, KMC_E_NOMEM);
		ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
		KMC_ENSURE(ext, KMC_E_NOMEM);
		if (!sk_X509_EXTENSION_push(exts, ext)) {
			X509_EXTENSION_free(ext);
			return KMC_E_NOMEM;
		}
		KMC_ENSURE(X509_REQ_add_extensions(req, exts), KMC_E_NOMEM);
	}
	if (on_token)
		KMC_GUARD(token_key_sign_req(&tk, tp, req));
	/* A key the vault holds and a fixed digest: only the process's
	   resources can fail here. */
	else if (X509_REQ_sign(req, k, sign_md(k)) <= 0)
		return kmc_detail(KMC_E_NOMEM, "signing the CSR of %s failed: %s",
			name, ossl_reason());
	return req_pem(req, ret, ret_len);
}

/* ---------------------------------------------------------------- */
/* kmc cert set                                                      */

/* The CA certificates: ca_file's, or the leaf's own when it is
   self-signed and no CA was named. */
static int cert_set_ca(import_ctx *c, const char *cert_file)
{
	const kmc_import_params *p = c->p;
	X509 *leaf = sk_X509_value(c->chain, 0);
	char issuer[256];
	int self = 0;

	if (p->ca_file) {
		KMC_GUARD(input_read(p->ca_file, INPUT_CERT, &c->ca_raw,
			&c->ca_len, NULL));
		return input_error(certs_parse(p->ca_file, c->ca_raw, c->ca_len,
			&c->ca));
	}
	/* A certificate that issued itself: its own CA, when -c is not
	   given (not "give -c" for want of memory). */
	if (sk_X509_num(c->chain) == 1 &&
	    (self = cert_self_issued(leaf)) < 0)
		return kmc_detail(KMC_E_NOMEM, "%s: out of memory while "
			"checking whether it issued itself", cert_file);
	if (sk_X509_num(c->chain) == 1 && self) {
		c->ca = sk_X509_new_null();
		KMC_ENSURE(c->ca && X509_up_ref(leaf), KMC_E_NOMEM);
		if (!sk_X509_push(c->ca, leaf)) {
			X509_free(leaf);
			return KMC_E_NOMEM;
		}
		return 0;
	}
	if (x509_name_text(X509_get_issuer_name(leaf), issuer,
			sizeof(issuer)) < 0)
		snprintf(issuer, sizeof(issuer), "?");
	return kmc_detail(KMC_E_INVALID, "%s is issued by %s: give that CA's "
		"certificate with -c CA.crt", cert_file, issuer);
}

int kmc_cert_set(kmc_vault *v, const kmc_import_params *p)
{
	AUDIT_OP(v, "kmc_cert_set");
	_cleanup_(import_free) import_ctx c = { 0 };
	_cleanup_(kmc_secret_freep) kmc_secret *meta = NULL;
	char key_show[KMC_NAME_MAX + 16];
	chain_files files;
	token_key_rec tk;
	int r;

	kmc_detail_clear();
	KMC_ENSURE(p->size >= offsetof(kmc_import_params, trust_store) +
		sizeof(p->trust_store), KMC_E_INVALID);
	KMC_GUARD(vault_params_known(p, p->size, sizeof(*p),
		"kmc_import_params"));
	KMC_GUARD(writable(v));
	if (!p->name)
		return kmc_detail(KMC_E_NAME, "cert set needs the bundle's name");
	/* A bundle that exists: one an earlier version's key gen made under
	   a name now refused (web/meta) takes its certificate too, as its
	   import --replace does (bundle_name_guard_existing()). */
	KMC_GUARD(born_prefix_check(p->name));
	KMC_GUARD(bundle_name_guard_existing(v, p->name));
	if (!p->cert_file)
		return kmc_detail(KMC_E_INVALID, "cert set needs the signed "
			"certificate");
	if (p->key_file || p->password || p->flags)
		return kmc_detail(KMC_E_INVALID, "cert set takes no key, key "
			"password or import flags: the key is the one %s holds",
			p->name);
	c.p = p;
	snprintf(c.name, sizeof(c.name), "%s", p->name);

	r = vault_part_get(v, p->name, "meta", KMC_ITEM_BUNDLE, &meta);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "%s holds no key %s (kmc key gen %s makes "
			"one)", v->dir, p->name, p->name);
	KMC_GUARD(r);
	snprintf(key_show, sizeof(key_show), "%s/cert", p->name);
	r = items_exists(v, key_show);
	KMC_GUARD(r);
	if (r)
		return kmc_detail(KMC_E_EXISTS, "%s has a certificate already; "
			"kmc cert renew %s -s NEW.crt replaces it", p->name,
			p->name);
	snprintf(key_show, sizeof(key_show), "the key of %s", p->name);
	r = kmc_item_get(v, p->name, KMC_ITEM_PASSWORD, &c.password);
	if (r == KMC_E_NOT_FOUND)
		r = kmc_detail(KMC_E_CORRUPT, "bundle %s: item %s is missing",
			p->name, p->name);
	KMC_GUARD(r);
	r = vault_part_get(v, p->name, "key", KMC_ITEM_PRIVATE_KEY, &c.pkcs8);
	if (r == KMC_E_NOT_FOUND)
		r = kmc_detail(KMC_E_CORRUPT, "bundle %s: item %s/key is "
			"missing", p->name, p->name);
	if (token_key_instead(v, p->name, &r, &tk)) {
		/* The key is on a token: its record is rewritten as it is,
		   and the certificate is checked against its public half. */
		KMC_GUARD(vault_part_get(v, p->name, "key", KMC_ITEM_TOKEN_KEY,
			&c.pkcs8));
		KMC_GUARD(token_key_public(&tk, &c.pkey));
		c.key_item = KMC_ITEM_TOKEN_KEY;
	} else {
		KMC_GUARD(r);
		r = key_from_pkcs8(c.pkcs8, &c.pkey);
		if (r == KMC_E_CORRUPT)
			return kmc_detail(r, "%s/key: not a PKCS#8 key", p->name);
		KMC_GUARD(r);
	}

	/* The material, checked as an import checks it. */
	KMC_GUARD(input_read(p->cert_file, INPUT_CERT, &c.cert_raw,
		&c.cert_len, NULL));
	KMC_GUARD(input_error(certs_parse(p->cert_file, c.cert_raw,
		c.cert_len, &c.chain)));
	KMC_GUARD(cert_set_ca(&c, p->cert_file));
	if (p->crl_file) {
		KMC_GUARD(input_read(p->crl_file, INPUT_CRL, &c.crl_raw,
			&c.crl_len, NULL));
		KMC_GUARD(input_error(crl_file_parse(p->crl_file, c.crl_raw,
			c.crl_len, &c.crl)));
	}
	files = (chain_files){ p->ca_file ? p->ca_file : p->cert_file,
		p->cert_file, key_show, p->crl_file };
	KMC_GUARD(chain_verify(&files, c.ca, c.chain, c.pkey, c.crl));
	if (p->trust_store) {
		trust_set *t = NULL;

		KMC_GUARD(trust_load(v, p->trust_store, &t));
		trust_set_free(t);
		snprintf(c.trust, sizeof(c.trust), "%s", p->trust_store);
	} else if (bundle_meta_value(meta, "trust", c.trust,
			sizeof(c.trust)) < 0) {
		/* None named since key gen (kmc cert set-trust names one). */
		c.trust[0] = '\0';
	}
	KMC_GUARD(import_check_keys_dir(&c, v));

	/* The copies, as an import of a plain key writes them. */
	KMC_GUARD(certs_to_pem(c.ca, &c.copies[COPY_CA].p,
		&c.copies[COPY_CA].len));
	KMC_GUARD(certs_to_pem(c.chain, &c.copies[COPY_CERT].p,
		&c.copies[COPY_CERT].len));
	if (c.crl)
		KMC_GUARD(crl_to_pem(c.crl, &c.copies[COPY_CRL].p,
			&c.copies[COPY_CRL].len));
	if (!c.key_item)
		KMC_GUARD(key_to_encrypted_pem(c.pkey, c.password,
			&c.copies[COPY_KEY].p, &c.copies[COPY_KEY].len));
	if (p->conf_file)
		KMC_GUARD(import_build_conf(&c, v));
	return import_publish(&c, v);
}

int kmc_bundle_has_cert(kmc_vault *v, const char *name, int *ret)
{
	char meta[KMC_NAME_MAX + 8];
	int r;

	kmc_detail_clear();
	if (strlen(name) > KMC_BUNDLE_NAME_MAX || kmc_name_check(name) < 0)
		return kmc_detail(KMC_E_NAME, "bundle name \"%s\" is not 1 to %d "
			"of [A-Za-z0-9._@:/+-]", name, KMC_BUNDLE_NAME_MAX);
	snprintf(meta, sizeof(meta), "%s/meta", name);
	r = items_exists(v, meta);
	KMC_GUARD(r);
	if (!r)
		return kmc_detail(KMC_E_NOT_FOUND, "%s holds no bundle %s",
			v->dir, name);
	r = bundle_without_cert(v, name);
	KMC_GUARD(r);
	*ret = !r;
	return 0;
}
