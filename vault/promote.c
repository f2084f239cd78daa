/*
 * promote.c - certificates over time: a staged version beside the live
 * one (kmc import --stage), made live in one transaction (kmc_promote),
 * the version before it kept to roll back to (--previous), and a new
 * certificate for the key already stored (kmc_cert_renew).
 *
 * A bundle's versions are slots of items, each the same six parts:
 *	live      NAME, NAME/key, NAME/cert, NAME/ca, NAME/crl, NAME/meta
 *	staged    NAME/.s/pw, NAME/.s/key, ... NAME/.s/info
 *	previous  NAME/.p/pw, ...
 * Servers read only the live slot. Promote, rollback and renew publish a
 * slot through import's own path (copies, config file, journal), and in
 * the same store transaction move the slots about, so a reader sees the
 * old version or the new one, never a mix.
 *
 * A slot's key part is a private key, or the record of a key on a token
 * (KMC_ITEM_TOKEN_KEY, vault/tokenkey.c): that key is published without
 * a keys-folder copy, and the token objects that promote and renew leave
 * named by no record (an overwritten previous slot, a staged one) are
 * destroyed after the commit (vault/tokenrefs.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "import.h"
#include "x509.h"
#include "trust.h"
#include "tokenkey.h"
#include "../safeio/folders.h"
#include "audit.h"

enum { P_PW, P_KEY, P_CERT, P_CA, P_CRL, P_INFO, N_PARTS };

static const char *const part_names[N_PARTS] = {
	"pw", "key", "cert", "ca", "crl", "info"
};
static const kmc_item_type part_types[N_PARTS] = {
	KMC_ITEM_PASSWORD, KMC_ITEM_PRIVATE_KEY, KMC_ITEM_CERTIFICATE,
	KMC_ITEM_CERTIFICATE, KMC_ITEM_CRL, KMC_ITEM_BUNDLE,
};

#define SLOT_STAGED ".s"
#define SLOT_PREVIOUS ".p"

typedef struct material {
	kmc_secret *s[N_PARTS];		/* P_CRL may be NULL */
	kmc_item_type key_type;		/* of s[P_KEY]; 0: a private key */
} material;

static void material_free(material *m)
{
	for (int i = 0; i < N_PARTS; i++) {
		kmc_secret_free(m->s[i]);
		m->s[i] = NULL;
	}
}

/* The item of part i of a slot (NULL: the live one). */
static int part_item(const char *name, const char *slot, int i, char *buf,
	size_t size)
{
	int n;

	if (!slot && i == P_PW)
		n = snprintf(buf, size, "%s", name);
	else if (!slot)
		n = snprintf(buf, size, "%s/%s", name,
			i == P_INFO ? "meta" : part_names[i]);
	else
		n = snprintf(buf, size, "%s/%s/%s", name, slot, part_names[i]);
	if (n < 0 || (size_t)n >= size)
		return kmc_detail(KMC_E_NAME, "bundle name %s is too long", name);
	return 0;
}

/* A slot's parts; KMC_E_NOT_FOUND (no detail) when it holds none. */
static int material_get(kmc_vault *v, const char *name, const char *slot,
	material *m)
{
	char item[KMC_NAME_MAX + 1];
	int r;

	for (int i = 0; i < N_PARTS; i++) {
		KMC_GUARD(part_item(name, slot, i, item, sizeof(item)));
		r = kmc_item_get(v, item, part_types[i], &m->s[i]);
		if (r == KMC_E_TYPE && i == P_KEY) {
			r = kmc_item_get(v, item, KMC_ITEM_TOKEN_KEY, &m->s[i]);
			if (r == 0)
				m->key_type = KMC_ITEM_TOKEN_KEY;
		}
		if (r == KMC_E_NOT_FOUND) {
			kmc_detail_clear();
			if (i == P_CRL)
				continue;	/* a bundle without a CRL */
			if (i > P_PW)
				r = kmc_detail(KMC_E_CORRUPT, "bundle %s: item %s "
					"is missing", name, item);
		}
		if (r < 0) {
			material_free(m);
			return r;
		}
	}
	return 0;
}

/* Write m as a slot's parts inside t (history kept for the live one);
   a slot without a CRL loses the one it had. */
static int material_put(kmc_vault *v, store_txn *t, const char *name,
	const char *slot, const material *m)
{
	char item[KMC_NAME_MAX + 1];
	int r;

	for (int i = 0; i < N_PARTS; i++) {
		kmc_item_type type = i == P_KEY && m->key_type ? m->key_type :
			part_types[i];

		KMC_GUARD(part_item(name, slot, i, item, sizeof(item)));
		if (!m->s[i]) {
			r = slot ? items_txn_del(v, t, item) :
				items_txn_retire(v, t, item);
			if (r == KMC_E_NOT_FOUND)
				r = 0;
			KMC_GUARD(r);
			continue;
		}
		r = items_txn_put(v, t, item, type, kmc_secret_data(m->s[i]),
			kmc_secret_len(m->s[i]), !slot);
		if (r == KMC_E_TYPE && slot) {
			/* A slot keeps no history: its key part may go from a
			   key in the vault to one on a token, or back. */
			kmc_detail_clear();
			r = items_txn_del(v, t, item);
			if (r == 0)
				r = items_txn_put(v, t, item, type,
					kmc_secret_data(m->s[i]),
					kmc_secret_len(m->s[i]), 0);
		}
		KMC_GUARD(r);
	}
	return 0;
}

static int slot_del(kmc_vault *v, store_txn *t, const char *name,
	const char *slot)
{
	char item[KMC_NAME_MAX + 1];

	for (int i = 0; i < N_PARTS; i++) {
		int r;

		KMC_GUARD(part_item(name, slot, i, item, sizeof(item)));
		r = items_txn_del(v, t, item);
		if (r < 0 && r != KMC_E_NOT_FOUND)
			return r;
	}
	return 0;
}

static int secret_of(const void *p, size_t len, kmc_secret **ret)
{
	KMC_GUARD(kmc_secret_new(len, ret));
	memcpy(kmc_secret_data(*ret), p, len);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Staging                                                           */

/* A value of a bundle's meta lines, "" when it has none. */
static void info_value(const kmc_secret *info, const char *key, char *buf,
	size_t size)
{
	if (bundle_meta_value(info, key, buf, size) < 0)
		buf[0] = '\0';
}

/* The meta text of a bundle: where its copies go, its config file, the
   trust store it names. */
static int info_text(const import_ctx *c, kmc_secret **ret)
{
	char buf[PATH_MAX * 2 + 128];
	int n = snprintf(buf, sizeof(buf), "keys_dir=%s\nconf=%s\n%s%s%s",
		c->keys_dir, c->conf, c->trust[0] ? "trust=" : "", c->trust,
		c->trust[0] ? "\n" : "");

	KMC_ENSURE(n > 0 && (size_t)n < sizeof(buf), KMC_E_TOO_LARGE);
	return secret_of(buf, (size_t)n, ret);
}

int import_stage(import_ctx *c, kmc_vault *v)
{
	_cleanup_(material_free) material m = { 0 };
	_cleanup_(kmc_secret_freep) kmc_secret *live = NULL;
	char item[KMC_NAME_MAX + 1];
	store_txn t;
	int r;

	if (c->p->conf_file)
		KMC_GUARD(kmc_path_absolute(c->p->conf_file, c->conf,
			sizeof(c->conf)));
	/* A new version of a live bundle goes where the live one went,
	   unless told otherwise: its keys folder, its config file. */
	KMC_GUARD(part_item(c->name, NULL, P_INFO, item, sizeof(item)));
	r = kmc_item_get(v, item, KMC_ITEM_BUNDLE, &live);
	if (r == KMC_E_NOT_FOUND)
		kmc_detail_clear();
	else if (r < 0)
		return r;
	if (live && !c->p->conf_file)
		info_value(live, "conf", c->conf, sizeof(c->conf));
	if (live && !c->p->keys_dir) {
		char dir[PATH_MAX];

		/* A key kmc key gen made has no keys folder yet: then the
		   default the checks chose stays. */
		info_value(live, "keys_dir", dir, sizeof(dir));
		if (dir[0])
			snprintf(c->keys_dir, sizeof(c->keys_dir), "%s", dir);
	}
	KMC_GUARD(secret_of(kmc_secret_data(c->password),
		kmc_secret_len(c->password), &m.s[P_PW]));
	KMC_GUARD(secret_of(kmc_secret_data(c->pkcs8), kmc_secret_len(c->pkcs8),
		&m.s[P_KEY]));
	m.key_type = c->key_item;
	KMC_GUARD(secret_of(c->copies[COPY_CERT].p, c->copies[COPY_CERT].len,
		&m.s[P_CERT]));
	KMC_GUARD(secret_of(c->copies[COPY_CA].p, c->copies[COPY_CA].len,
		&m.s[P_CA]));
	if (c->crl)
		KMC_GUARD(secret_of(c->copies[COPY_CRL].p,
			c->copies[COPY_CRL].len, &m.s[P_CRL]));
	KMC_GUARD(info_text(c, &m.s[P_INFO]));
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = material_put(v, &t, c->name, SLOT_STAGED, &m);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

/* ---------------------------------------------------------------- */
/* Publishing a slot                                                 */

typedef struct move {
	const char *name;
	material *old_live;	/* NULL when the bundle was not live */
	int drop_staged;
} move;

/* In the commit's transaction: the live version that was becomes the
   previous one; a promoted staged version leaves its slot. */
static int move_slots(import_ctx *c, kmc_vault *v, store_txn *t)
{
	const move *mv = c->extra_arg;

	if (mv->old_live)
		KMC_GUARD(material_put(v, t, mv->name, SLOT_PREVIOUS,
			mv->old_live));
	if (mv->drop_staged)
		KMC_GUARD(slot_del(v, t, mv->name, SLOT_STAGED));
	return 0;
}

/*
 * Check the material of m as an import checks it (dates, chain, key,
 * CRL), with cert_show and ca_show naming its certificates, and publish
 * it as NAME's live version with mv moving the slots.
 */
static int publish(kmc_vault *v, const char *name, const material *m,
	const char *cert_show, const char *ca_show, const char *crl_show,
	move *mv)
{
	_cleanup_(import_free) import_ctx c = { 0 };
	kmc_import_params p = KMC_IMPORT_PARAMS_INIT;
	char keys_dir[PATH_MAX], conf[PATH_MAX], key_show[KMC_NAME_MAX + 16];
	char def[PATH_MAX], def_parent[PATH_MAX];
	chain_files files;

	snprintf(c.name, sizeof(c.name), "%s", name);
	snprintf(key_show, sizeof(key_show), "the key of %s", name);
	c.p = &p;
	KMC_GUARD(certs_parse(cert_show, kmc_secret_data(m->s[P_CERT]),
		kmc_secret_len(m->s[P_CERT]), &c.chain));
	KMC_GUARD(certs_parse(ca_show, kmc_secret_data(m->s[P_CA]),
		kmc_secret_len(m->s[P_CA]), &c.ca));
	if (m->s[P_CRL])
		KMC_GUARD(crl_parse(crl_show, kmc_secret_data(m->s[P_CRL]),
			kmc_secret_len(m->s[P_CRL]), &c.crl));
	if (m->key_type == KMC_ITEM_TOKEN_KEY) {
		token_key_rec tk;

		KMC_GUARD(token_key_parse(name, m->s[P_KEY], &tk));
		KMC_GUARD(token_key_public(&tk, &c.pkey));
		c.key_item = KMC_ITEM_TOKEN_KEY;
	} else {
		KMC_GUARD(key_from_pkcs8(m->s[P_KEY], &c.pkey));
	}
	files = (chain_files){ ca_show, cert_show, key_show,
		m->s[P_CRL] ? crl_show : NULL };
	KMC_GUARD(chain_verify(&files, c.ca, c.chain, c.pkey, c.crl));
	KMC_GUARD(secret_of(kmc_secret_data(m->s[P_PW]),
		kmc_secret_len(m->s[P_PW]), &c.password));
	KMC_GUARD(secret_of(kmc_secret_data(m->s[P_KEY]),
		kmc_secret_len(m->s[P_KEY]), &c.pkcs8));
	KMC_GUARD(certs_to_pem(c.ca, &c.copies[COPY_CA].p,
		&c.copies[COPY_CA].len));
	KMC_GUARD(certs_to_pem(c.chain, &c.copies[COPY_CERT].p,
		&c.copies[COPY_CERT].len));
	if (c.crl)
		KMC_GUARD(crl_to_pem(c.crl, &c.copies[COPY_CRL].p,
			&c.copies[COPY_CRL].len));
	/* The keys folder's key: encrypted under the bundle's password, as
	   an import of a plain key writes it; none for a key on a token (and
	   an older copy is removed). */
	if (!c.key_item)
		KMC_GUARD(key_to_encrypted_pem(c.pkey, c.password,
			&c.copies[COPY_KEY].p, &c.copies[COPY_KEY].len));
	info_value(m->s[P_INFO], "keys_dir", keys_dir, sizeof(keys_dir));
	info_value(m->s[P_INFO], "conf", conf, sizeof(conf));
	info_value(m->s[P_INFO], "trust", c.trust, sizeof(c.trust));
	if (!keys_dir[0])
		return kmc_detail(KMC_E_CORRUPT, "bundle %s: a damaged record of "
			"its copies", name);
	/* The default keys folder is checked, and <vault>/keys made, as an
	   import's: a bundle staged in a vault that held none has no
	   <vault>/keys yet. */
	KMC_GUARD(import_default_keys_dir(&c, v, def_parent, sizeof(def_parent),
		def, sizeof(def)));
	p.keys_dir = strcmp(keys_dir, def) ? keys_dir : NULL;
	p.conf_file = conf[0] ? conf : NULL;
	KMC_GUARD(import_check_keys_dir(&c, v));
	if (p.conf_file) {
		struct stat st;

		/* A config file gone since (and its folder) is skipped, as
		   kmc crl update skips it. */
		if (stat(conf, &st) < 0 && errno == ENOENT) {
			char dir[PATH_MAX];
			const char *base;

			import_split(conf, dir, sizeof(dir), &base);
			if (stat(dir, &st) < 0)
				p.conf_file = NULL;
		}
		if (p.conf_file)
			KMC_GUARD(import_build_conf(&c, v));
	}
	c.extra = move_slots;
	c.extra_arg = mv;
	return import_publish(&c, v);
}

static int writable(kmc_vault *v, const char *name)
{
	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	if (strlen(name) > KMC_BUNDLE_NAME_MAX || kmc_name_check(name) < 0)
		return kmc_detail(KMC_E_NAME, "bundle name \"%s\" is not 1 to %d "
			"of [A-Za-z0-9._@:/+-]", name, KMC_BUNDLE_NAME_MAX);
	return 0;
}

/* crl_not_older_than_held() with crl's issuer among the certificates
   of ca (the new version's CA: its key is the one crl is verified
   under). */
static int crl_not_older_than_live(const char *name, const char *crl_show,
	X509_CRL *crl, const char *ca_show, const kmc_secret *ca,
	const kmc_secret *held)
{
	STACK_OF(X509) *certs = NULL;
	int r;

	r = certs_parse(ca_show, kmc_secret_data(ca), kmc_secret_len(ca),
		&certs);
	if (r == 0)
		r = crl_not_older_than_held(name, crl_show, crl, certs, held);
	sk_X509_pop_free(certs, X509_free);
	return r;
}

int kmc_promote(kmc_vault *v, const char *name, int previous)
{
	AUDIT_OP(v, "kmc_promote");
	_cleanup_(material_free) material m = { 0 };
	_cleanup_(material_free) material live = { 0 };
	const char *slot = previous ? SLOT_PREVIOUS : SLOT_STAGED;
	char cert[KMC_NAME_MAX + 8], ca[KMC_NAME_MAX + 8], crl[KMC_NAME_MAX + 8];
	_cleanup_(token_refs_free) token_refs refs = { 0 };
	move mv = { name, NULL, !previous };
	int r;

	KMC_GUARD(writable(v, name));
	token_note_clear(v);
	r = material_get(v, name, slot, &m);
	if (r == KMC_E_NOT_FOUND && previous)
		return kmc_detail(r, "%s has no previous version of %s to go "
			"back to (kmc promote and kmc cert renew keep one)",
			v->dir, name);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "%s has nothing staged for %s (kmc import "
			"--stage stages a version)", v->dir, name);
	KMC_GUARD(r);
	/* A key kmc key gen made, without a certificate yet, serves
	   nothing: the staged version takes its place, as over no bundle
	   (its items kept as history). */
	r = previous ? 0 : bundle_without_cert(v, name);
	if (r >= 0)
		r = r ? KMC_E_NOT_FOUND : material_get(v, name, NULL, &live);
	if (r == KMC_E_NOT_FOUND && previous)
		return kmc_detail(r, "%s holds no imported bundle %s", v->dir,
			name);
	if (r < 0 && r != KMC_E_NOT_FOUND)
		return r;
	if (r == 0)
		mv.old_live = &live;
	part_item(name, slot, P_CERT, cert, sizeof(cert));
	part_item(name, slot, P_CA, ca, sizeof(ca));
	part_item(name, slot, P_CRL, crl, sizeof(crl));
	/* A CRL staged before the live one was updated would take back what
	   the live one revokes (--previous goes back on purpose). */
	if (r == 0 && !previous && m.s[P_CRL] && live.s[P_CRL]) {
		X509_CRL *staged = NULL;

		KMC_GUARD(crl_parse(crl, kmc_secret_data(m.s[P_CRL]),
			kmc_secret_len(m.s[P_CRL]), &staged));
		r = crl_not_older_than_live(name, crl, staged, ca, m.s[P_CA],
			live.s[P_CRL]);
		X509_CRL_free(staged);
		KMC_GUARD(r);
	}
	KMC_GUARD(token_refs_collect(v, name, &refs));
	r = publish(v, name, &m, cert, ca, crl, &mv);
	/* Committed (KMC_E_PENDING: only the copies are left to publish):
	   the previous slot it overwrote may have named a key last. */
	if (r == 0 || r == KMC_E_PENDING)
		token_refs_release(v, name, &refs);
	return r;
}

int kmc_cert_renew(kmc_vault *v, const char *name, const char *cert_file,
	const char *ca_file, const char *crl_file)
{
	AUDIT_OP(v, "kmc_cert_renew");
	_cleanup_(material_free) material m = { 0 };
	_cleanup_(material_free) material live = { 0 };
	_cleanup_(freep) uint8_t *raw = NULL;
	char ca_show[KMC_NAME_MAX + 8], crl_show[KMC_NAME_MAX + 8];
	_cleanup_(token_refs_free) token_refs refs = { 0 };
	size_t len = 0;
	move mv = { name, NULL, 0 };
	STACK_OF(X509) *certs = NULL;
	int r;

	KMC_GUARD(writable(v, name));
	token_note_clear(v);
	if (bundle_without_cert(v, name))
		return kmc_detail(KMC_E_NOT_FOUND, "bundle %s has no certificate "
			"yet to renew: kmc cert set %s -s SIGNED.crt attaches the "
			"first", name, name);
	r = material_get(v, name, NULL, &live);
	if (r == KMC_E_NOT_FOUND || (r == 0 && !live.s[P_KEY]))
		return kmc_detail(KMC_E_NOT_FOUND, "%s holds no imported bundle "
			"%s", v->dir, name);
	KMC_GUARD(r);
	mv.old_live = &live;
	/* The new certificate (and CA, CRL) as read and checked as input;
	   the key and its password stay the live ones. */
	KMC_GUARD(input_read(cert_file, INPUT_CERT, &raw, &len, NULL));
	KMC_GUARD(input_error(certs_parse(cert_file, raw, len, &certs)));
	sk_X509_pop_free(certs, X509_free);
	KMC_GUARD(secret_of(raw, len, &m.s[P_CERT]));
	free(TAKE_PTR(raw));
	snprintf(ca_show, sizeof(ca_show), "%s/ca", name);
	snprintf(crl_show, sizeof(crl_show), "%s/crl", name);
	if (ca_file) {
		KMC_GUARD(input_read(ca_file, INPUT_CERT, &raw, &len, NULL));
		KMC_GUARD(input_error(certs_parse(ca_file, raw, len, &certs)));
		sk_X509_pop_free(certs, X509_free);
		KMC_GUARD(secret_of(raw, len, &m.s[P_CA]));
		free(TAKE_PTR(raw));
		snprintf(ca_show, sizeof(ca_show), "%s", ca_file);
	} else {
		KMC_GUARD(secret_of(kmc_secret_data(live.s[P_CA]),
			kmc_secret_len(live.s[P_CA]), &m.s[P_CA]));
	}
	if (crl_file) {
		X509_CRL *crl = NULL;

		KMC_GUARD(input_read(crl_file, INPUT_CRL, &raw, &len, NULL));
		KMC_GUARD(input_error(crl_file_parse(crl_file, raw, len,
			&crl)));
		r = live.s[P_CRL] ? crl_not_older_than_live(name, crl_file, crl,
			ca_show, m.s[P_CA], live.s[P_CRL]) : 0;
		X509_CRL_free(crl);
		KMC_GUARD(r);
		KMC_GUARD(secret_of(raw, len, &m.s[P_CRL]));
		snprintf(crl_show, sizeof(crl_show), "%s", crl_file);
	} else if (live.s[P_CRL]) {
		KMC_GUARD(secret_of(kmc_secret_data(live.s[P_CRL]),
			kmc_secret_len(live.s[P_CRL]), &m.s[P_CRL]));
	}
	KMC_GUARD(secret_of(kmc_secret_data(live.s[P_PW]),
		kmc_secret_len(live.s[P_PW]), &m.s[P_PW]));
	KMC_GUARD(secret_of(kmc_secret_data(live.s[P_KEY]),
		kmc_secret_len(live.s[P_KEY]), &m.s[P_KEY]));
	m.key_type = live.key_type;
	KMC_GUARD(secret_of(kmc_secret_data(live.s[P_INFO]),
		kmc_secret_len(live.s[P_INFO]), &m.s[P_INFO]));
	KMC_GUARD(token_refs_collect(v, name, &refs));
	r = publish(v, name, &m, cert_file, ca_show, crl_show, &mv);
	if (r == 0 || r == KMC_E_PENDING)
		token_refs_release(v, name, &refs);
	return r;
}

int kmc_bundle_versions(kmc_vault *v, const char *name, int *ret_staged,
	int *ret_previous)
{
	char item[KMC_NAME_MAX + 1];
	int staged, previous;

	kmc_detail_clear();
	KMC_GUARD(part_item(name, SLOT_STAGED, P_INFO, item, sizeof(item)));
	staged = items_exists(v, item);
	KMC_GUARD(staged);
	KMC_GUARD(part_item(name, SLOT_PREVIOUS, P_INFO, item, sizeof(item)));
	previous = items_exists(v, item);
	KMC_GUARD(previous);
	*ret_staged = staged;
	*ret_previous = previous;
	return 0;
}
