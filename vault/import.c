/*
 * import.c - certImport: verify a CA certificate, a server certificate
 * chain, its private key and a CRL, then store them as a bundle, copy the
 * public files and the (encrypted) key to a keys folder and set the
 * entries of a config file, as one transaction (vault/journal.h).
 *
 * Every check runs before the first write. The copies are staged as
 * .NAME.kmc-new beside their targets, the vault commits items and the
 * journal in one LMDB transaction, then the renames publish the copies.
 *
 * The checks are in vault/importchk.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sodium.h>
#include "x509.h"
#include "import.h"
#include "conf.h"
#include "journal.h"
#include "trust.h"
#include "tokenkey.h"
#include "../safeio/fileio.h"
#include "../kmc/cstring.h"
#include "audit.h"

#define META_MAX 4096

void import_free(import_ctx *c)
{
	free(c->ca_raw);
	free(c->cert_raw);
	free(c->crl_raw);
	kmc_secret_free(c->key_raw);
	sk_X509_pop_free(c->ca, X509_free);
	sk_X509_pop_free(c->chain, X509_free);
	X509_CRL_free(c->crl);
	EVP_PKEY_free(c->pkey);
	kmc_secret_free(c->password);
	kmc_secret_free(c->pkcs8);
	/* copies[COPY_KEY] is encrypted, but wipe it all the same. */
	for (int i = 0; i < N_COPIES; i++) {
		if (c->copies[i].p)
			sodium_memzero(c->copies[i].p, c->copies[i].len);
		free(c->copies[i].p);
	}
	free(c->conf_new.p);
	free(c->conf_xattrs.p);
	free(c->mm);
	free(c->token_uri);
}

/* ---------------------------------------------------------------- */
/* Staging and committing                                            */

static int plan(import_ctx *c)
{
	char dir[PATH_MAX];
	const char *base;

	memset(&c->j, 0, sizeof(c->j));
	if (c->keys_dir_exists) {
		for (int i = 0; i < N_COPIES; i++) {
			if ((i == COPY_CRL && !c->crl) ||
			    (i == COPY_KEY && !c->copies[i].p)) {
				/* A CRL of a superseded import must not linger,
				   nor a key copy once the key is on a token. */
				KMC_GUARD(journal_add(&c->j, JOURNAL_REMOVE,
					c->keys_dir, copy_names[i]));
				continue;
			}
			KMC_GUARD(journal_add(&c->j, JOURNAL_FILE, c->keys_dir,
				copy_names[i]));
		}
	} else {
		import_split(c->keys_dir, dir, sizeof(dir), &base);
		KMC_GUARD(journal_add(&c->j, JOURNAL_FOLDER, dir, base));
	}
	if (c->conf[0]) {
		import_split(c->conf, dir, sizeof(dir), &base);
		KMC_GUARD(journal_add(&c->j, JOURNAL_FILE, dir, base));
	}
	return 0;
}

/* A system call's fault r while staging, said with what it struck
   (fmt: the file or folder) and why. Returns r. */
static __attribute__((format(printf, 2, 3))) int sys_fault(int r,
	const char *fmt, ...)
{
	char what[PATH_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return kmc_detail(r, "%s: %s", what, kmc_strerror(r));
}

static int stage_copies(import_ctx *c, int dirfd)
{
	for (int i = 0; i < N_COPIES; i++) {
		const journal_entry *e = NULL;
		char staged[300];
		const char *name = copy_names[i];
		int r;

		if (!c->copies[i].p)
			continue;
		if (c->keys_dir_exists) {
			for (size_t k = 0; k < c->j.n; k++)
				if (!strcmp(c->j.e[k].name, copy_names[i]) &&
				    !strcmp(c->j.e[k].dir, c->keys_dir))
					e = &c->j.e[k];
			KMC_ASSERT(e);
			KMC_GUARD(journal_staged_name(e, staged, sizeof(staged)));
			name = staged;
		}
		r = kmc_write_new(dirfd, name, c->copies[i].p, c->copies[i].len,
			&(kmc_file_meta){ COPY_MODE, (uid_t)-1, (gid_t)-1, NULL,
				0 });
		if (r < 0)
			return kmc_detail(r, "writing %s/%s: %s", c->keys_dir,
				copy_names[i], kmc_strerror(r));
	}
	if (fsync(dirfd) < 0)
		return sys_fault(-errno, "writing %s: syncing the folder",
			c->keys_dir);
	return 0;
}

static int stage(import_ctx *c)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	char staged[300];
	int r;

	if (c->make_parent[0] && mkdir(c->make_parent, 0700) < 0 &&
	    errno != EEXIST) {
		r = -errno;
		return kmc_detail(r, "creating %s: %s", c->make_parent,
			kmc_strerror(r));
	}

	for (size_t i = 0; i < c->j.n; i++) {
		const journal_entry *e = &c->j.e[i];
		_cleanup_(kmc_closep) int parent = -1;

		if (e->kind != JOURNAL_FOLDER)
			continue;
		KMC_GUARD(journal_staged_name(e, staged, sizeof(staged)));
		parent = open(e->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0)
			return sys_fault(-errno, "%s", e->dir);
		if (mkdirat(parent, staged, 0700) < 0) {
			r = -errno;
			return kmc_detail(r, "creating %s/%s: %s", e->dir, staged,
				kmc_strerror(r));
		}
		dirfd = openat(parent, staged, O_RDONLY | O_DIRECTORY |
			O_NOFOLLOW | O_CLOEXEC);
		if (dirfd < 0)
			return sys_fault(-errno, "%s/%s", e->dir, staged);
		KMC_GUARD(stage_copies(c, dirfd));
		if (fsync(parent) < 0)
			return sys_fault(-errno, "writing %s: syncing the folder "
				"%s", c->keys_dir, e->dir);
	}
	if (c->keys_dir_exists) {
		dirfd = open(c->keys_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
		if (dirfd < 0)
			return sys_fault(-errno, "%s", c->keys_dir);
		KMC_GUARD(stage_copies(c, dirfd));
	}
	if (c->conf[0]) {
		const journal_entry *e = &c->j.e[c->j.n - 1];
		_cleanup_(kmc_closep) int cdir = -1;

		KMC_GUARD(journal_staged_name(e, staged, sizeof(staged)));
		cdir = open(e->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cdir < 0)
			return sys_fault(-errno, "%s", e->dir);
		r = kmc_write_new(cdir, staged, c->conf_new.p, c->conf_new.len,
			&c->conf_meta);
		if (r == -EPERM)
			return kmc_detail(r, "writing %s: its new copy may not "
				"be given the old one's owner, group %u or extended "
				"attributes (only root, or a member of the group, "
				"can); nothing was changed", c->conf,
				(unsigned)c->conf_meta.gid);
		if (r < 0)
			return kmc_detail(r, "writing %s: %s", c->conf,
				kmc_strerror(r));
		if (fsync(cdir) < 0)
			return sys_fault(-errno, "writing %s: syncing the folder %s",
				c->conf, e->dir);
	}
	return 0;
}

static int bundle_put(kmc_vault *v, store_txn *t, const char *name,
	const char *part, kmc_item_type type, const void *data, size_t len)
{
	char full[KMC_NAME_MAX + 1];

	snprintf(full, sizeof(full), "%s/%s", name, part);
	return items_txn_put(v, t, full, type, data, len, 1);
}

static int commit(import_ctx *c, kmc_vault *v)
{
	char meta[META_MAX];
	char part[KMC_NAME_MAX + 1];
	store_txn t;
	int n, r;

	n = snprintf(meta, sizeof(meta), "keys_dir=%s\nconf=%s\n%s%s%s",
		c->keys_dir, c->conf, c->trust[0] ? "trust=" : "", c->trust,
		c->trust[0] ? "\n" : "");
	KMC_ENSURE(n > 0 && (size_t)n < sizeof(meta), KMC_E_TOO_LARGE);
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = items_txn_put(v, &t, c->name, KMC_ITEM_PASSWORD,
		kmc_secret_data(c->password), kmc_secret_len(c->password), 1);
	if (r == 0)
		r = bundle_put(v, &t, c->name, "key", c->key_item ? c->key_item :
			KMC_ITEM_PRIVATE_KEY, kmc_secret_data(c->pkcs8),
			kmc_secret_len(c->pkcs8));
	if (r == 0)
		r = bundle_put(v, &t, c->name, "cert", KMC_ITEM_CERTIFICATE,
			c->copies[COPY_CERT].p, c->copies[COPY_CERT].len);
	if (r == 0)
		r = bundle_put(v, &t, c->name, "ca", KMC_ITEM_CERTIFICATE,
			c->copies[COPY_CA].p, c->copies[COPY_CA].len);
	if (r == 0 && c->crl)
		r = bundle_put(v, &t, c->name, "crl", KMC_ITEM_CRL,
			c->copies[COPY_CRL].p, c->copies[COPY_CRL].len);
	if (r == 0 && !c->crl) {
		/* No CRL this time: the old one becomes history, like the
		   other parts, rather than vanishing. */
		snprintf(part, sizeof(part), "%s/crl", c->name);
		r = items_txn_retire(v, &t, part);
	}
	if (r == 0)
		r = bundle_put(v, &t, c->name, "meta", KMC_ITEM_BUNDLE, meta,
			(size_t)n);
	if (r == 0 && c->extra)
		r = c->extra(c, v, &t);
	if (r == 0)
		r = journal_mark_committed(&t, &c->j);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

/* Plan, stage, commit, publish; undo the staging on failure before the
   commit. */
int import_publish(import_ctx *c, kmc_vault *v)
{
	int r;

	KMC_GUARD(plan(c));
	KMC_GUARD(journal_begin(v, &c->j));
	r = stage(c);
	if (r == 0)
		r = commit(c, v);
	if (r < 0) {
		int saved = r;
		char detail[1024];

		snprintf(detail, sizeof(detail), "%s", kmc_error_detail());
		journal_abort(v, &c->j);
		/* An empty folder we made for the copies goes too. */
		if (c->make_parent[0])
			(void)rmdir(c->make_parent);
		if (detail[0])
			kmc_detail(saved, "%s", detail);
		return saved;
	}
	r = journal_apply(v, &c->j);
	if (r < 0) {
		char detail[1024];

		snprintf(detail, sizeof(detail), "%s", kmc_error_detail()[0] ?
			kmc_error_detail() : kmc_strerror(r));
		return kmc_detail(KMC_E_PENDING, "the vault holds the new bundle, "
			"but publishing its copies failed (%s); `kmc repair` "
			"finishes it", detail);
	}
	return 0;
}

/* The trust store the bundle names: the one given, which must exist, or
   on a replace the one the old version named. */
static int import_trust_store(import_ctx *c, kmc_vault *v)
{
	const kmc_import_params *p = c->p;
	trust_set *t = NULL;
	int r;

	if (p->size >= offsetof(kmc_import_params, trust_store) +
	    sizeof(p->trust_store) && p->trust_store) {
		KMC_GUARD(trust_load(v, p->trust_store, &t));
		trust_set_free(t);
		snprintf(c->trust, sizeof(c->trust), "%s", p->trust_store);
		return 0;
	}
	r = import_bundle_exists(v, c->name);
	KMC_GUARD(r);
	if (r) {
		r = kmc_cert_trust_store(v, c->name, c->trust,
			sizeof(c->trust));

		if (r == KMC_E_NOT_FOUND) {
			kmc_detail_clear();
			c->trust[0] = '\0';
			return 0;
		}
		return r;
	}
	return 0;
}

/* A new version of a bundle keeps its key where the live one's is: a
   key in the vault cannot become a key on a token by a replace or a
   promote (the item NAME/key keeps its type over its versions), nor the
   other way. Checked before anything goes to a token. */
static int key_kind_check(import_ctx *c, kmc_vault *v)
{
	_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;
	int r = vault_part_get(v, c->name, "key", KMC_ITEM_TOKEN_KEY, &s);

	if (r == KMC_E_NOT_FOUND || (r == 0 && c->token) ||
	    (r == KMC_E_TYPE && !c->token)) {
		kmc_detail_clear();
		return 0;
	}
	KMC_GUARD(r == KMC_E_TYPE || r == 0 ? 0 : r);
	kmc_detail_clear();
	if (c->token)
		return kmc_detail(KMC_E_TYPE, "the key of %s is in the vault: "
			"its new version cannot go to a token (--on-token); kmc "
			"rm %s first, or import it without --on-token", c->name,
			c->name);
	return kmc_detail(KMC_E_TYPE, "the key of %s lives on a token: its "
		"new version goes to a token too (--on-token URI), or kmc rm "
		"%s first", c->name, c->name);
}

static int bundle_get(kmc_vault *v, const char *name, const char *part,
	kmc_item_type type, kmc_secret **ret)
{
	char full[KMC_NAME_MAX + 1];

	snprintf(full, sizeof(full), "%s/%s", name, part);
	return kmc_item_get(v, full, type, ret);
}

/* The CRL bundle name holds, if any, must not be newer than crl: a
   server given an older CRL again would serve what it revoked since. */
static int crl_not_older_than_bundle(kmc_vault *v, const char *name,
	const char *crl_file, X509_CRL *crl, STACK_OF(X509) *ca)
{
	_cleanup_(kmc_secret_freep) kmc_secret *held = NULL;
	int r;

	/* None, or a damaged one: nothing to compare with, and crl update
	   is what replaces a damaged CRL. */
	r = bundle_get(v, name, "crl", KMC_ITEM_CRL, &held);
	if (r == KMC_E_NOT_FOUND || r == KMC_E_CORRUPT) {
		kmc_detail_clear();
		return 0;
	}
	KMC_GUARD(r);
	return crl_not_older_than_held(name, crl_file, crl, ca, held);
}

int kmc_import(kmc_vault *v, const kmc_import_params *p)
{
	AUDIT_OP(v, "kmc_import");
	_cleanup_(import_free) import_ctx c = { 0 };
	chain_files files;
	int r, exists;

	kmc_detail_clear();
	token_note_clear(v);
	KMC_ENSURE(p->size >= offsetof(kmc_import_params, flags) +
		sizeof(p->flags), KMC_E_INVALID);
	KMC_GUARD(vault_params_known(p, p->size, sizeof(*p),
		"kmc_import_params"));
	if (p->size >= offsetof(kmc_import_params, on_token) +
	    sizeof(p->on_token) && p->on_token) {
		c.token = p->on_token;
		KMC_ENSURE(c.token->size >= sizeof(kmc_token_params) &&
			c.token->uri, KMC_E_INVALID);
		KMC_GUARD(vault_params_known(c.token, c.token->size,
			sizeof(kmc_token_params), "kmc_token_params"));
	}
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	if (!p->ca_file || !p->cert_file || !p->key_file)
		return kmc_detail(KMC_E_INVALID, "an import needs the CA "
			"certificate, the server certificate and its key");
	c.p = p;
	snprintf(c.name, sizeof(c.name), "%s", p->name ? p->name : "server");
	if (strlen(p->name ? p->name : "server") > KMC_BUNDLE_NAME_MAX ||
	    kmc_name_check(c.name) < 0)
		return kmc_detail(KMC_E_NAME, "bundle name \"%s\" is not 1 to %d "
			"of [A-Za-z0-9._@:/+-]", c.name, KMC_BUNDLE_NAME_MAX);

	if (!strncmp(c.name, TRUST_ITEM_PREFIX, strlen(TRUST_ITEM_PREFIX)))
		return kmc_detail(KMC_E_NAME, "bundle name \"%s\": names that "
			"begin with %s are kept for trust stores", c.name,
			TRUST_ITEM_PREFIX);
	KMC_GUARD(bundle_name_guard_existing(v, c.name));
	if (!strncmp(c.name, KMC_CA_ITEM_PREFIX, strlen(KMC_CA_ITEM_PREFIX)))
		return kmc_detail(KMC_E_NAME, "bundle name \"%s\": names that "
			"begin with %s are kept for CAs", c.name,
			KMC_CA_ITEM_PREFIX);
	KMC_GUARD(import_read_material(&c));
	KMC_GUARD(import_check_key(&c));
	files = (chain_files){ p->ca_file, p->cert_file, p->key_file,
		p->crl_file };
	KMC_GUARD(chain_verify(&files, c.ca, c.chain, c.pkey, c.crl));
	exists = import_bundle_exists(v, c.name);
	KMC_GUARD(exists);
	if (!(p->flags & (KMC_IMPORT_REPLACE | KMC_IMPORT_STAGE)) && exists)
		return kmc_detail(KMC_E_EXISTS, "%s already holds %s; add "
			"--replace to supersede it (the old version is kept "
			"until removed)", v->dir, c.name);
	KMC_GUARD(import_trust_store(&c, v));
	KMC_GUARD(import_check_keys_dir(&c, v));
	if (exists) {
		KMC_GUARD(key_kind_check(&c, v));
		/* A new version (--replace, --stage) with an older CRL of the
		   same CA would take back what the live one revokes. */
		if (c.crl)
			KMC_GUARD(crl_not_older_than_bundle(v, c.name, p->crl_file,
				c.crl, c.ca));
		if (c.token) {
			uint8_t rnd[4];

			randombytes_buf(rnd, sizeof(rnd));
			snprintf(c.token_label, sizeof(c.token_label),
				"%s~%02x%02x%02x%02x", c.name, rnd[0], rnd[1],
				rnd[2], rnd[3]);
		}
	}

	/* The copies: certificates and CRL as PEM, whatever came in. */
	KMC_GUARD(certs_to_pem(c.ca, &c.copies[COPY_CA].p,
		&c.copies[COPY_CA].len));
	KMC_GUARD(certs_to_pem(c.chain, &c.copies[COPY_CERT].p,
		&c.copies[COPY_CERT].len));
	if (c.crl)
		KMC_GUARD(crl_to_pem(c.crl, &c.copies[COPY_CRL].p,
			&c.copies[COPY_CRL].len));
	if (c.token)
		KMC_GUARD(token_key_import(&c, v));
	if (p->flags & KMC_IMPORT_STAGE) {
		_cleanup_(token_refs_free) token_refs refs = { 0 };

		/* A staged version replaced drops its record, and so the
		   last name of its key on a token. */
		r = token_refs_collect(v, c.name, &refs);
		if (r == 0)
			r = import_stage(&c, v);
		if (r < 0 && c.token_uri)
			token_key_undo(&c, v);
		if (r == 0)
			token_refs_release(v, c.name, &refs);
		return r;
	}
	r = p->conf_file ? import_build_conf(&c, v) : 0;
	if (r == 0)
		r = import_publish(&c, v);
	/* Committed (KMC_E_PENDING: only the copies are left to publish),
	   the token key is the bundle's; else it goes again. */
	if (r < 0 && r != KMC_E_PENDING && c.token_uri)
		token_key_undo(&c, v);
	return r;
}

/* ---------------------------------------------------------------- */
/* CRL update                                                        */

/* The new CRL and the journal's commit mark, in one store transaction. */
static int crl_commit(kmc_vault *v, import_ctx *c, const char *name)
{
	store_txn t;
	int r;

	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = bundle_put(v, &t, name, "crl", KMC_ITEM_CRL, c->copies[COPY_CRL].p,
		c->copies[COPY_CRL].len);
	if (r < 0)
		goto abort;
	if (c->j.n > 0) {
		r = journal_mark_committed(&t, &c->j);
		if (r < 0)
			goto abort;
	}
	return store_txn_commit(&t);

abort:
	store_txn_abort(&t);
	return r;
}

int kmc_crl_update(kmc_vault *v, const char *name, const char *crl_file)
{
	AUDIT_OP(v, "kmc_crl_update");
	_cleanup_(import_free) import_ctx c = { 0 };
	_cleanup_(kmc_secret_freep) kmc_secret *meta = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *ca = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *cert = NULL;
	kmc_import_params p = KMC_IMPORT_PARAMS_INIT;
	char show_ca[KMC_NAME_MAX + 16], show_cert[KMC_NAME_MAX + 16];
	chain_files files;
	struct stat st;
	int r;

	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	KMC_ENSURE(strlen(name) <= KMC_BUNDLE_NAME_MAX, KMC_E_NAME);
	r = bundle_get(v, name, "meta", KMC_ITEM_BUNDLE, &meta);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "%s holds no imported bundle %s", v->dir,
			name);
	KMC_GUARD(r);
	if (bundle_without_cert(v, name))
		return kmc_detail(KMC_E_NOT_FOUND, "bundle %s has no certificate "
			"yet: kmc cert set %s -s SIGNED.crt -r CRL attaches it with "
			"its CRL", name, name);
	KMC_GUARD(bundle_get(v, name, "ca", KMC_ITEM_CERTIFICATE, &ca));
	KMC_GUARD(bundle_get(v, name, "cert", KMC_ITEM_CERTIFICATE, &cert));
	snprintf(c.name, sizeof(c.name), "%s", name);
	p.crl_file = crl_file;
	c.p = &p;
	snprintf(show_ca, sizeof(show_ca), "%s/ca", name);
	snprintf(show_cert, sizeof(show_cert), "%s/cert", name);
	KMC_GUARD(certs_parse(show_ca, kmc_secret_data(ca), kmc_secret_len(ca),
		&c.ca));
	KMC_GUARD(certs_parse(show_cert, kmc_secret_data(cert),
		kmc_secret_len(cert), &c.chain));
	KMC_GUARD(input_read(crl_file, INPUT_CRL, &c.crl_raw, &c.crl_len,
		NULL));
	KMC_GUARD(input_error(crl_file_parse(crl_file, c.crl_raw, c.crl_len,
		&c.crl)));
	files = (chain_files){ show_ca, show_cert, NULL, crl_file };
	KMC_GUARD(crl_verify(&files, c.ca, c.chain, c.crl));
	KMC_GUARD(crl_not_older_than_bundle(v, name, crl_file, c.crl,
		c.ca));
	KMC_GUARD(crl_to_pem(c.crl, &c.copies[COPY_CRL].p,
		&c.copies[COPY_CRL].len));

	if (bundle_meta_value(meta, "keys_dir", c.keys_dir,
		sizeof(c.keys_dir)) < 0 ||
	    bundle_meta_value(meta, "conf", c.conf, sizeof(c.conf)) < 0)
		return kmc_detail(KMC_E_CORRUPT, "bundle %s: damaged record of "
			"its copies", name);
	/* The copy is refreshed only where the import put it. */
	if (lstat(c.keys_dir, &st) == 0 && S_ISDIR(st.st_mode)) {
		c.keys_dir_exists = 1;
		KMC_GUARD(journal_add(&c.j, JOURNAL_FILE, c.keys_dir,
			copy_names[COPY_CRL]));
	}
	if (c.conf[0]) {
		conf_entry e = { "crl", NULL };
		char path[PATH_MAX + 16], dir[PATH_MAX];
		const char *base;
		_cleanup_(freep) uint8_t *old = NULL;
		_cleanup_(kmc_closep) int dirfd = -1;
		_cleanup_(kmc_closep) int fd = -1;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", c.keys_dir,
			copy_names[COPY_CRL]);
		e.value = path;
		import_split(c.conf, dir, sizeof(dir), &base);
		dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			fd = -errno;
		else
			fd = kmc_open_checked(dirfd, base, c.conf,
				&conf_file_rule, &st);
		if (fd == -ENOENT) {
			/* The config file went away: nothing to update. */
			kmc_detail_clear();
			c.conf[0] = '\0';
		} else if (fd < 0) {
			/* Anything else (no access, a link, a file where its
			   folder was, an I/O error) is a file still there that
			   would keep naming the old CRL: not skipped. */
			char d[512];

			snprintf(d, sizeof(d), "%s", kmc_error_detail()[0] ?
				kmc_error_detail() : kmc_strerror(fd));
			return kmc_detail(fd, "cannot update %s, the config "
				"file the import of %s updated: %s", c.conf, name,
				d);
		} else {
			old = malloc(CONF_MAX);
			KMC_ENSURE(old, KMC_E_NOMEM);
			r = kmc_read_all(fd, old, CONF_MAX, &len);
			if (r < 0)
				return kmc_detail(r, "%s: %s", c.conf,
					kmc_strerror(r));
			KMC_GUARD(import_conf_update(c.conf, old, len, &e, 1,
				&c.conf_new.p, &c.conf_new.len));
			KMC_GUARD(import_conf_keep_meta(&c, fd, &st));
			KMC_GUARD(journal_add(&c.j, JOURNAL_FILE, dir, base));
		}
	}

	if (c.j.n > 0) {
		KMC_GUARD(journal_begin(v, &c.j));
		r = stage(&c);
		if (r < 0)
			goto undo;
	}
	r = crl_commit(v, &c, name);
	if (r < 0)
		goto undo;
	if (c.j.n > 0 && (r = journal_apply(v, &c.j)) < 0)
		return kmc_detail(KMC_E_PENDING, "the vault holds the new CRL, but "
			"publishing its copy failed (%s); `kmc repair` finishes it",
			kmc_error_detail()[0] ? kmc_error_detail() : kmc_strerror(r));
	return 0;

undo:
	/* Nothing committed: the staged copies go, the old ones stay. */
	if (c.j.n > 0)
		journal_abort(v, &c.j);
	return r;
}
