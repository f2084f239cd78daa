/*
 * test_mk.c - master-key rotation (vault/mk.c): kmc_mk_rotate, list,
 * rewrap and retire, and handles opened before a rotation that follow it.
 *
 * Every test gets its own temp dir holding the host key (host.key, also
 * $KMC_HOST_KEY), the vault (v) and what else it needs: another vault (w),
 * config files, a throwaway PKI made here for the imports that give
 * records old versions. Host-protected vaults only: no Argon2 cost.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit_files.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <kmc.h>
#include <kmc/admin.h>
#include <kmc/tls.h>
/* The keystore parser (what is left in kmc.ks and StandbyKsf.ks after a
   retire) and the store walk (old versions, which no public call opens). */
#include "../../vault/vault.h"

typedef struct fixture {
	char tmp[256];
	char vdir[512];		/* tmp/v */
	char wdir[512];		/* tmp/w, another vault */
	char hk[512];		/* tmp/host.key */
	char ks[600];		/* tmp/v/kmc.ks */
	char sb[600];		/* tmp/v/StandbyKsf.ks */
	char conf[512];		/* tmp/app.conf */
	char pki[512];		/* tmp/pki */
} fixture;

/* ---- files ----------------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *ret_len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	p[st.st_size] = 0;
	*ret_len = (size_t)st.st_size;
	return p;
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	uint8_t *p = slurp(from, &len);

	write_file(to, p, len, 0600);
	free(p);
}

/* A file's bytes, kept to show later that nothing changed. */
typedef struct saved {
	char path[600];
	uint8_t *p;
	size_t len;
	struct stat st;
} saved;

static void save(saved *s, const char *path)
{
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->p = slurp(path, &s->len);
	assert_int_equal(stat(path, &s->st), 0);
}

/* The file is as saved: same bytes, same inode (not even rewritten). */
static void assert_unchanged(saved *s)
{
	struct stat st;
	size_t len;
	uint8_t *p = slurp(s->path, &len);

	assert_int_equal(stat(s->path, &st), 0);
	assert_int_equal(len, s->len);
	assert_memory_equal(p, s->p, len);
	assert_true(st.st_ino == s->st.st_ino);
	free(p);
	free(s->p);
	s->p = NULL;
}

/* No staged ".NAME.kmc-new" beside the config files. */
static void assert_nothing_staged(const fixture *f)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/.app.conf.kmc-new", f->tmp);
	assert_int_equal(access(path, F_OK), -1);
}

/* ---- fixture --------------------------------------------------------- */

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (unit_tree_make("mk", f->tmp, f->vdir, f->hk) != 0)
		return -1;
	snprintf(f->wdir, sizeof(f->wdir), "%s/w", f->tmp);
	snprintf(f->ks, sizeof(f->ks), "%s/kmc.ks", f->vdir);
	snprintf(f->sb, sizeof(f->sb), "%s/StandbyKsf.ks", f->vdir);
	snprintf(f->conf, sizeof(f->conf), "%s/app.conf", f->tmp);
	snprintf(f->pki, sizeof(f->pki), "%s/pki", f->tmp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	if (f) {
		unit_tree_remove(f->tmp);
		free(f);
	}
	return 0;
}

static void init_at(const fixture *f, const char *dir)
{
	assert_int_equal(unit_host_vault(dir, f->hk, NULL), 0);
}

static kmc_vault *open_at(const char *dir, unsigned flags)
{
	kmc_vault *v = NULL;

	assert_int_equal(kmc_vault_open(dir, flags, &v), 0);
	assert_non_null(v);
	return v;
}

static kmc_vault *open_vault(const fixture *f, unsigned flags)
{
	return open_at(f->vdir, flags);
}

static void put(kmc_vault *v, const char *name, const char *value)
{
	assert_int_equal(kmc_item_put(v, name, KMC_ITEM_PASSWORD, value,
		strlen(value)), 0);
}

static void assert_item(kmc_vault *v, const char *name, const char *want)
{
	kmc_secret *s = NULL;

	assert_int_equal(kmc_item_get_secret(v, name, &s), 0);
	assert_int_equal(kmc_secret_len(s), strlen(want));
	assert_memory_equal(kmc_secret_data(s), want, strlen(want));
	kmc_secret_free(s);
}

static char *encrypt(kmc_vault *v, const char *secret)
{
	char *s = NULL;

	assert_int_equal(kmc_string_encrypt(v, secret, strlen(secret), &s), 0);
	return s;
}

static void assert_decrypts(kmc_vault *v, const char *string,
	const char *want)
{
	kmc_secret *s = NULL;

	assert_int_equal(kmc_string_decrypt(v, string, &s), 0);
	assert_int_equal(kmc_secret_len(s), strlen(want));
	assert_memory_equal(kmc_secret_data(s), want, strlen(want));
	kmc_secret_free(s);
}

/* The master-key id a ciphertext string names. */
static uint32_t string_mk(const char *s)
{
	assert_memory_equal(s, "kmc:v1:", 7);
	return (uint32_t)strtoul(s + 7, NULL, 10);
}

static uint32_t rotate(kmc_vault *v)
{
	uint32_t id = 0;

	assert_int_equal(kmc_mk_rotate(v, &id), 0);
	return id;
}

static kmc_rewrap_result rewrap(kmc_vault *v, const char *const *conf,
	size_t n)
{
	kmc_rewrap_params p = KMC_REWRAP_PARAMS_INIT;
	kmc_rewrap_result res = { 0 };

	p.conf = conf;
	p.n_conf = n;
	assert_int_equal(kmc_mk_rewrap(v, &p, &res), 0);
	return res;
}

static void assert_detail_has(const char *what)
{
	if (!strstr(kmc_error_detail(), what))
		fail_msg("detail \"%s\" does not say \"%s\"",
			kmc_error_detail(), what);
}

/* ---- what kmc_mk_list and kmc_item_list say -------------------------- */

typedef struct mk_table {
	size_t n;
	kmc_mk_info k[KMC_MAX_MASTER_KEYS];
} mk_table;

static int mk_one(const kmc_mk_info *info, void *arg)
{
	mk_table *t = arg;

	assert_true(t->n < KMC_MAX_MASTER_KEYS);
	t->k[t->n++] = *info;
	return 0;
}

static mk_table mk_list(kmc_vault *v)
{
	mk_table t = { 0 };

	assert_int_equal(kmc_mk_list(v, mk_one, &t), 0);
	return t;
}

/* The master key that seals each current item, by name. */
typedef struct sealers {
	size_t n;
	char names[32][KMC_NAME_MAX + 1];
	uint32_t mk[32];
} sealers;

static int sealer_one(const kmc_item_info *info, void *arg)
{
	sealers *s = arg;

	assert_true(s->n < 32);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", info->name);
	s->mk[s->n++] = info->mk_id;
	return 0;
}

static uint32_t sealer_of(kmc_vault *v, const char *name)
{
	sealers s = { 0 };

	assert_int_equal(kmc_item_list(v, sealer_one, &s), 0);
	for (size_t i = 0; i < s.n; i++)
		if (strcmp(s.names[i], name) == 0)
			return s.mk[i];
	fail_msg("no item %s", name);
	return 0;
}

/* Every current item is sealed by master key id. */
static void assert_all_sealed_by(kmc_vault *v, uint32_t id)
{
	sealers s = { 0 };

	assert_int_equal(kmc_item_list(v, sealer_one, &s), 0);
	assert_true(s.n > 0);
	for (size_t i = 0; i < s.n; i++)
		if (s.mk[i] != id)
			fail_msg("item %s is sealed by master key %u, not %u",
				s.names[i], (unsigned)s.mk[i], (unsigned)id);
}

/* Every old version opens through v and is sealed by master key id;
   how many there are. */
typedef struct history_ctx {
	kmc_vault *v;
	uint32_t want;
	size_t n;
} history_ctx;

static int history_one(const uint8_t *key, size_t key_len, const uint8_t *rec,
	size_t len, void *arg)
{
	history_ctx *c = arg;
	const uint8_t *nul = memchr(key, 0, key_len);
	char name[KMC_NAME_MAX + 1];
	kmc_secret *s = NULL;
	record_info info;

	assert_non_null(nul);
	snprintf(name, sizeof(name), "%.*s", (int)(nul - key),
		(const char *)key);
	assert_int_equal(record_open(c->v, name, rec, len, &info, &s), 0);
	kmc_secret_free(s);
	if (info.mk_id != c->want)
		fail_msg("an old version of %s is sealed by master key %u, "
			"not %u", name, (unsigned)info.mk_id, (unsigned)c->want);
	c->n++;
	return 0;
}

static size_t assert_history_sealed_by(kmc_vault *v, uint32_t id)
{
	history_ctx c = { v, id, 0 };

	assert_int_equal(store_walk_db(&v->st, STORE_DB_HISTORY, history_one,
		&c), 0);
	return c.n;
}

/* ---- a PKI for imports ----------------------------------------------- */

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer,
	EVP_PKEY *issuer_key, long serial)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX ctx;

	assert_non_null(x);
	assert_non_null(name);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		(const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_subject_name(x, name), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer ?
		X509_get_subject_name(issuer) : name), 1);
	X509_NAME_free(name);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 30 * 86400));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (!issuer) {
		add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, &ctx, NID_basic_constraints, "CA:FALSE");
		add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature");
		add_ext(x, &ctx, NID_ext_key_usage, "serverAuth");
		add_ext(x, &ctx, NID_subject_alt_name, "DNS:localhost");
	}
	add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	assert_true(X509_sign(x, issuer_key ? issuer_key : key,
		EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *dir, const char *name, X509 *x,
	EVP_PKEY *key)
{
	char path[700];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	if (x)
		assert_int_equal(PEM_write_X509(fp, x), 1);
	else
		assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0,
			NULL, NULL), 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, x ? 0644 : 0600), 0);
}

/* pki/ca.crt, pki/server.crt, pki/server.key (EC P-256, plain). */
static void make_pki(const fixture *f)
{
	EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *ca, *leaf;

	assert_non_null(ca_key);
	assert_non_null(key);
	assert_int_equal(mkdir(f->pki, 0700), 0);
	ca = make_cert("kmc mk test CA", ca_key, NULL, NULL, 1);
	leaf = make_cert("localhost", key, ca, ca_key, 2);
	write_pem(f->pki, "ca.crt", ca, NULL);
	write_pem(f->pki, "server.crt", leaf, NULL);
	write_pem(f->pki, "server.key", NULL, key);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
}

/* Import bundle "srv" from the PKI, writing conf (may be NULL). */
static void import_srv(const fixture *f, kmc_vault *v, const char *conf,
	unsigned flags)
{
	kmc_import_params p = KMC_IMPORT_PARAMS_INIT;
	char ca[700], crt[700], key[700];

	snprintf(ca, sizeof(ca), "%s/ca.crt", f->pki);
	snprintf(crt, sizeof(crt), "%s/server.crt", f->pki);
	snprintf(key, sizeof(key), "%s/server.key", f->pki);
	p.name = "srv";
	p.ca_file = ca;
	p.cert_file = crt;
	p.key_file = key;
	p.conf_file = conf;
	p.flags = flags;
	if (kmc_import(v, &p) != 0)
		fail_msg("import: %s", kmc_error_detail());
}

/* The parts of bundle srv (no CRL): srv, key, cert, ca, meta. */
#define SRV_PARTS 5

/* ---- rotate and list --------------------------------------------------- */

static void test_rotate_makes_new_active(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *r;
	mk_table t;
	char *s1, *s2;

	init_at(f, f->vdir);
	v = open_vault(f, KMC_OPEN_WRITE);
	put(v, "a", "alpha");
	s1 = encrypt(v, "one");
	assert_int_equal(string_mk(s1), 1);
	t = mk_list(v);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.k[0].id, 1);
	assert_true(t.k[0].active);

	assert_int_equal(rotate(v), 2);
	t = mk_list(v);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.k[0].id, 1);
	assert_false(t.k[0].active);
	assert_int_equal(t.k[1].id, 2);
	assert_true(t.k[1].active);
	assert_true(t.k[1].created >= t.k[0].created);

	/* New writes are the new key's; old ones still open. */
	put(v, "b", "beta");
	assert_int_equal(sealer_of(v, "a"), 1);
	assert_int_equal(sealer_of(v, "b"), 2);
	s2 = encrypt(v, "two");
	assert_int_equal(string_mk(s2), 2);
	assert_item(v, "a", "alpha");
	assert_item(v, "b", "beta");
	assert_decrypts(v, s1, "one");
	/* Replacing an item seals it under the active key. */
	put(v, "a", "alpha2");
	assert_int_equal(sealer_of(v, "a"), 2);
	kmc_vault_close(v);

	/* What was committed is what a new handle finds. */
	r = open_vault(f, 0);
	t = mk_list(r);
	assert_int_equal(t.n, 2);
	assert_true(t.k[1].active);
	assert_item(r, "a", "alpha2");
	assert_item(r, "b", "beta");
	assert_decrypts(r, s1, "one");
	assert_decrypts(r, s2, "two");
	kmc_vault_close(r);
	free(s1);
	free(s2);
}

static void test_list_counts_records_and_history(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	mk_table t;

	init_at(f, f->vdir);
	make_pki(f);
	v = open_vault(f, KMC_OPEN_WRITE);
	put(v, "a", "alpha");
	put(v, "b", "beta");
	import_srv(f, v, NULL, 0);
	t = mk_list(v);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.k[0].items, 2 + SRV_PARTS);
	assert_int_equal(t.k[0].old_versions, 0);

	/* Replaced after the rotation: the old versions stay key 1's. */
	assert_int_equal(rotate(v), 2);
	import_srv(f, v, NULL, KMC_IMPORT_REPLACE);
	put(v, "c", "gamma");
	t = mk_list(v);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.k[0].id, 1);
	assert_int_equal(t.k[0].items, 2);
	assert_int_equal(t.k[0].old_versions, SRV_PARTS);
	assert_int_equal(t.k[1].id, 2);
	assert_int_equal(t.k[1].items, 1 + SRV_PARTS);
	assert_int_equal(t.k[1].old_versions, 0);

	/* Replaced again: the versions key 2 sealed become history too. */
	import_srv(f, v, NULL, KMC_IMPORT_REPLACE);
	t = mk_list(v);
	assert_int_equal(t.k[0].old_versions, SRV_PARTS);
	assert_int_equal(t.k[1].items, 1 + SRV_PARTS);
	assert_int_equal(t.k[1].old_versions, SRV_PARTS);
	kmc_vault_close(v);
}

/* ---- handles opened before the rotation ------------------------------- */

static void test_reader_follows_rotation(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *r;
	char *s1, *s2;

	init_at(f, f->vdir);
	v = open_vault(f, KMC_OPEN_WRITE);
	put(v, "a", "alpha");
	s1 = encrypt(v, "one");
	kmc_vault_close(v);

	/* A server's handle, opened while key 1 was the only one. */
	r = open_vault(f, 0);
	assert_item(r, "a", "alpha");

	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(rotate(v), 2);
	put(v, "b", "beta");
	s2 = encrypt(v, "two");
	assert_int_equal(rewrap(v, NULL, 0).records, 1);
	assert_int_equal(sealer_of(v, "a"), 2);
	kmc_vault_close(v);

	/* The kept handle meets key 2 in a re-sealed record, a new record
	   and a new string, and finds it in the keystores. */
	assert_item(r, "a", "alpha");
	assert_item(r, "b", "beta");
	assert_decrypts(r, s2, "two");
	assert_decrypts(r, s1, "one");
	kmc_vault_close(r);
	free(s1);
	free(s2);
}

/* A handle opened before a rotation lists the keys as they are now, and
   counts every record under the key that seals it. */
static void test_reader_lists_keys_as_they_are(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *r;
	mk_table t;

	init_at(f, f->vdir);
	v = open_vault(f, KMC_OPEN_WRITE);
	put(v, "a", "alpha");
	put(v, "b", "beta");
	kmc_vault_close(v);
	r = open_vault(f, 0);
	t = mk_list(r);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.k[0].items, 2);

	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(rotate(v), 2);
	put(v, "c", "gamma");
	assert_int_equal(rotate(v), 3);
	(void)rewrap(v, NULL, 0);
	assert_int_equal(kmc_mk_retire(v, 1, NULL, 0), 0);
	kmc_vault_close(v);

	t = mk_list(r);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.k[0].id, 2);
	assert_false(t.k[0].active);
	assert_int_equal(t.k[0].items, 0);
	assert_int_equal(t.k[1].id, 3);
	assert_true(t.k[1].active);
	assert_int_equal(t.k[1].items, 3);
	kmc_vault_close(r);
}

/* Keystores of another vault put in place under a kept handle: nothing
   they seal opens, and the handle's own keys still work. */
static void test_reader_ignores_foreign_keystore(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *w, *r;
	char saved_ks[700], saved_sb[700], wks[700], wsb[700];
	char *own, *foreign2, *own2;
	kmc_secret *s = NULL;
	int rc;

	init_at(f, f->vdir);
	init_at(f, f->wdir);
	v = open_vault(f, KMC_OPEN_WRITE);
	put(v, "a", "alpha");
	own = encrypt(v, "own");
	kmc_vault_close(v);
	w = open_at(f->wdir, KMC_OPEN_WRITE);
	assert_int_equal(rotate(w), 2);
	foreign2 = encrypt(w, "foreign");
	assert_int_equal(string_mk(foreign2), 2);
	kmc_vault_close(w);

	r = open_vault(f, 0);
	snprintf(saved_ks, sizeof(saved_ks), "%s/kmc.ks.saved", f->tmp);
	snprintf(saved_sb, sizeof(saved_sb), "%s/sb.saved", f->tmp);
	snprintf(wks, sizeof(wks), "%s/kmc.ks", f->wdir);
	snprintf(wsb, sizeof(wsb), "%s/StandbyKsf.ks", f->wdir);
	copy_file(f->ks, saved_ks);
	copy_file(f->sb, saved_sb);
	copy_file(wks, f->ks);
	copy_file(wsb, f->sb);

	rc = kmc_string_decrypt(r, foreign2, &s);
	assert_int_not_equal(rc, 0);
	assert_null(s);
	assert_item(r, "a", "alpha");
	assert_decrypts(r, own, "own");
	/* Twice: a lookup that failed did not half-add a key. */
	assert_int_not_equal(kmc_string_decrypt(r, foreign2, &s), 0);
	/* Nor do they name its keys, or the key it seals with. */
	assert_int_equal(mk_list(r).n, 1);
	{
		char *mine = encrypt(r, "mine");

		assert_int_equal(string_mk(mine), 1);
		assert_decrypts(r, mine, "mine");
		free(mine);
	}

	/* The vault's own keystores back and rotated: the handle follows,
	   and the other vault's string still does not open. */
	copy_file(saved_ks, f->ks);
	copy_file(saved_sb, f->sb);
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(rotate(v), 2);
	own2 = encrypt(v, "own2");
	kmc_vault_close(v);
	assert_decrypts(r, own2, "own2");
	assert_int_not_equal(kmc_string_decrypt(r, foreign2, &s), 0);
	assert_null(s);
	kmc_vault_close(r);
	free(own);
	free(own2);
	free(foreign2);
}

/* A handle opened before a rotation (and a retire) that encrypts seals
   under the active key, not the one it found at its open: a string
   sealed by a retired key opens nowhere. */
static void test_reader_encrypts_under_active_key(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *r, *fresh;
	char *s;

	init_at(f, f->vdir);
	r = open_vault(f, 0);
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(rotate(v), 2);
	(void)rewrap(v, NULL, 0);
	assert_int_equal(kmc_mk_retire(v, 1, NULL, 0), 0);
	kmc_vault_close(v);

	s = encrypt(r, "late");
	assert_int_equal(string_mk(s), 2);
	fresh = open_vault(f, 0);
	assert_decrypts(fresh, s, "late");
	kmc_vault_close(fresh);
	kmc_vault_close(r);
	free(s);
}

/* ---- rewrap ------------------------------------------------------------ */

static void test_rewrap_history_and_idempotent(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	kmc_rewrap_result res;
	mk_table t;

	init_at(f, f->vdir);
	make_pki(f);
	v = open_vault(f, KMC_OPEN_WRITE);
	put(v, "a", "alpha");
	import_srv(f, v, NULL, 0);
	import_srv(f, v, NULL, KMC_IMPORT_REPLACE);
	assert_int_equal(assert_history_sealed_by(v, 1), SRV_PARTS);
	assert_int_equal(rotate(v), 2);

	res = rewrap(v, NULL, 0);
	assert_int_equal(res.records, 1 + 2 * SRV_PARTS);
	assert_int_equal(res.strings, 0);
	assert_int_equal(res.files, 0);
	assert_all_sealed_by(v, 2);
	assert_int_equal(assert_history_sealed_by(v, 2), SRV_PARTS);
	t = mk_list(v);
	assert_int_equal(t.k[0].items + t.k[0].old_versions, 0);
	assert_int_equal(t.k[1].items, 1 + SRV_PARTS);
	assert_int_equal(t.k[1].old_versions, SRV_PARTS);

	/* Again: nothing left to do. */
	res = rewrap(v, NULL, 0);
	assert_int_equal(res.records, 0);
	assert_int_equal(res.strings + res.files + res.skipped, 0);

	/* Without key 1, every record, old versions too, still opens. */
	assert_int_equal(kmc_mk_retire(v, 1, NULL, 0), 0);
	kmc_vault_close(v);
	v = open_vault(f, 0);
	assert_item(v, "a", "alpha");
	{
		EVP_PKEY *pkey = NULL;

		assert_int_equal(kmc_key_load(v, "srv", &pkey), 0);
		EVP_PKEY_free(pkey);
	}
	assert_int_equal(assert_history_sealed_by(v, 2), SRV_PARTS);
	kmc_vault_close(v);
}

/* A rewrap that fails partway says how many records it re-sealed (the
   batches committed before the failure), and run again once the cause is
   gone, it goes on. Here the items' batch commits, and an old version
   that was altered stops the walk of the history. */
static void test_rewrap_failure_counts_what_was_done(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	kmc_rewrap_result res = { 0 };
	uint8_t *rec;
	size_t len;
	store_txn t;

	init_at(f, f->vdir);
	v = open_vault(f, KMC_OPEN_WRITE);
	put(v, "a", "alpha");
	put(v, "b", "beta");
	put(v, "z", "zeta");
	/* z's record, its tag altered, as an old version only. */
	assert_int_equal(store_txn_begin(&v->st, &t), 0);
	assert_int_equal(store_txn_get(&t, "z", &rec, &len), 0);
	rec[len - 1] ^= 0x5a;
	assert_int_equal(store_txn_put(&t, "z", rec, len), 0);
	assert_int_equal(store_txn_keep(&t, "z", 1), 0);
	assert_int_equal(store_txn_del(&t, "z"), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	free(rec);
	assert_int_equal(rotate(v), 2);

	assert_int_equal(kmc_mk_rewrap(v, NULL, &res), KMC_E_AUTH);
	assert_detail_has("item z (old version 1)");
	assert_int_equal(sealer_of(v, "a"), 2);
	assert_int_equal(sealer_of(v, "b"), 2);
	assert_int_equal(res.records, 2);

	/* The damaged version removed, the run goes on: a and b are done. */
	assert_int_equal(kmc_item_remove(v, "z"), 0);
	res = rewrap(v, NULL, 0);
	assert_int_equal(res.records, 0);
	assert_int_equal(kmc_mk_retire(v, 1, NULL, 0), 0);
	kmc_vault_close(v);
}

/* Each kmc: string in text, in order: its start offset, length, line. */
typedef struct token {
	size_t off, len;
	unsigned line;
} token;

static size_t find_tokens(const char *text, size_t len, token *out,
	size_t max)
{
	size_t n = 0;
	unsigned line = 1;

	for (size_t i = 0; i < len; i++) {
		size_t e;

		if (text[i] == '\n')
			line++;
		if (len - i < 7 || memcmp(text + i, "kmc:v1:", 7) != 0)
			continue;
		for (e = i + 7; e < len && (strchr("-_:", text[e]) ||
		     (text[e] >= 'A' && text[e] <= 'Z') ||
		     (text[e] >= 'a' && text[e] <= 'z') ||
		     (text[e] >= '0' && text[e] <= '9')); e++)
			;
		assert_true(n < max);
		out[n++] = (token){ i, e - i, line };
		i = e - 1;
	}
	return n;
}

/* A group the config file can be given that is not the default one,
   where there is such a group. */
static gid_t other_group(void)
{
	gid_t groups[64];
	int n;

	if (geteuid() == 0)
		return 4242;
	n = getgroups(64, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] != getegid())
			return groups[i];
	return getegid();
}

static void test_rewrap_conf_file(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	kmc_rewrap_result res;
	char *s1, *s1b, *text, *after, *rebuilt;
	const char *conf[] = { f->conf };
	token before_t[8], after_t[8];
	size_t len, alen, n, k = 0;
	struct stat st, st2;
	gid_t gid = other_group();
	int xattr;

	init_at(f, f->vdir);
	v = open_vault(f, KMC_OPEN_WRITE);
	s1 = encrypt(v, "db-secret");
	s1b = encrypt(v, "api-token");
	/* CRLF lines, a comment, two strings, a last line without end. */
	assert_true(asprintf(&text, "# app.conf\r\nname = demo\r\n"
		"password = %s\r\n\r\ntoken=%s # trailing\r\nlast = 1",
		s1, s1b) > 0);
	len = strlen(text);
	write_file(f->conf, text, len, 0640);
	assert_int_equal(chown(f->conf, (uid_t)-1, gid), 0);
	/* An extended attribute, where the file system takes one. */
	xattr = setxattr(f->conf, "user.kmc-test", "kept", 4, 0) == 0;
	assert_int_equal(stat(f->conf, &st), 0);

	assert_int_equal(rotate(v), 2);
	res = rewrap(v, conf, 1);
	assert_int_equal(res.strings, 2);
	assert_int_equal(res.files, 1);
	assert_int_equal(res.skipped, 0);
	assert_nothing_staged(f);

	/* Mode, group and attributes kept, the file replaced. */
	assert_int_equal(stat(f->conf, &st2), 0);
	assert_int_equal(st2.st_mode & 07777, 0640);
	assert_int_equal(st2.st_gid, gid);
	assert_int_equal(st2.st_uid, st.st_uid);
	assert_true(st2.st_ino != st.st_ino);
	if (xattr) {
		char val[8] = "";

		assert_int_equal(getxattr(f->conf, "user.kmc-test", val,
			sizeof(val)), 4);
		assert_memory_equal(val, "kept", 4);
	}

	/* The strings are key 2's and open to the same secrets; with the old
	   strings put back, the bytes are the original ones: every other
	   byte, CRLF included, is as it was. */
	after = (char *)slurp(f->conf, &alen);
	n = find_tokens(text, len, before_t, 8);
	assert_int_equal(n, 2);
	assert_int_equal(find_tokens(after, alen, after_t, 8), 2);
	rebuilt = calloc(1, alen + len + 1);
	assert_non_null(rebuilt);
	for (size_t i = 0, o = 0; i < n; i++) {
		char tok[8200];

		snprintf(tok, sizeof(tok), "%.*s", (int)after_t[i].len,
			after + after_t[i].off);
		assert_int_equal(string_mk(tok), 2);
		assert_decrypts(v, tok, i == 0 ? "db-secret" : "api-token");
		memcpy(rebuilt + k, after + o, after_t[i].off - o);
		k += after_t[i].off - o;
		memcpy(rebuilt + k, text + before_t[i].off, before_t[i].len);
		k += before_t[i].len;
		o = after_t[i].off + after_t[i].len;
		if (i == n - 1) {
			memcpy(rebuilt + k, after + o, alen - o);
			k += alen - o;
		}
	}
	assert_int_equal(k, len);
	assert_memory_equal(rebuilt, text, len);
	assert_non_null(strstr(after, "\r\nlast = 1"));

	/* Again: nothing to seal, the file is not even rewritten. */
	{
		saved s;

		save(&s, f->conf);
		res = rewrap(v, conf, 1);
		assert_int_equal(res.strings + res.files + res.records, 0);
		assert_unchanged(&s);
	}
	kmc_vault_close(v);
	free(rebuilt);
	free(after);
	free(text);
	free(s1);
	free(s1b);
}

typedef struct skips {
	size_t n;
	unsigned line[8];
	char file[8][600];
	char why[8][200];
} skips;

static void skipped_cb(const char *file, unsigned line, const char *why,
	void *arg)
{
	skips *s = arg;

	assert_true(s->n < 8);
	snprintf(s->file[s->n], sizeof(s->file[0]), "%s", file);
	snprintf(s->why[s->n], sizeof(s->why[0]), "%s", why);
	s->line[s->n++] = line;
}

/* Strings that do not open here are left as they are and reported with
   their line: another vault's (under an id this vault holds, and under
   the active one's id), and a malformed one. */
static void test_rewrap_conf_skips_foreign_and_malformed(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *w;
	kmc_rewrap_params p = KMC_REWRAP_PARAMS_INIT;
	kmc_rewrap_result res = { 0 };
	const char *conf[] = { f->conf };
	char *own, *w1, *w2, *text, *after, *tail;
	size_t len, alen;
	skips sk = { 0 };

	init_at(f, f->vdir);
	init_at(f, f->wdir);
	w = open_at(f->wdir, KMC_OPEN_WRITE);
	w1 = encrypt(w, "theirs-1");
	assert_int_equal(rotate(w), 2);
	w2 = encrypt(w, "theirs-2");
	kmc_vault_close(w);
	v = open_vault(f, KMC_OPEN_WRITE);
	own = encrypt(v, "mine");
	assert_int_equal(rotate(v), 2);
	assert_true(asprintf(&text, "a = %s\n"	/* 1: rewrapped */
		"# another vault's, key 1 and key 2:\n"
		"b = %s\n"			/* 3 */
		"c = %s\n"			/* 4 */
		"d = kmc:v1:notanumber\n"	/* 5: malformed */
		"e = plain\n", own, w1, w2) > 0);
	len = strlen(text);
	write_file(f->conf, text, len, 0600);

	p.conf = conf;
	p.n_conf = 1;
	p.skipped = skipped_cb;
	p.arg = &sk;
	assert_int_equal(kmc_mk_rewrap(v, &p, &res), 0);
	assert_int_equal(res.strings, 1);
	assert_int_equal(res.files, 1);
	assert_int_equal(res.skipped, 3);
	assert_int_equal(sk.n, 3);
	assert_int_equal(sk.line[0], 3);
	assert_int_equal(sk.line[1], 4);
	assert_int_equal(sk.line[2], 5);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(sk.file[i], f->conf);
	assert_non_null(strstr(sk.why[2], "well-formed"));

	/* Lines 2 to 6 are byte for byte what they were. */
	after = (char *)slurp(f->conf, &alen);
	tail = strchr(text, '\n');
	assert_true(alen >= strlen(tail));
	assert_string_equal(after + alen - strlen(tail), tail);
	assert_int_equal(string_mk(after + 4), 2);
	kmc_vault_close(v);
	free(after);
	free(text);
	free(own);
	free(w1);
	free(w2);
}

/* A --conf file rewrap cannot use fails the call before anything
   changes: no record re-sealed, no file rewritten, the good one beside
   it included. */
static void test_rewrap_bad_conf_changes_nothing(void **state)
{
	static const struct {
		const char *what;
		int err;
	} bad[] = {
		{ "missing", -ENOENT },
		{ "world-writable", KMC_E_PERM },
		{ "group-writable", KMC_E_PERM },
		{ "NUL byte", KMC_E_INVALID },
		{ "over 1 MiB", KMC_E_TOO_LARGE },
	};
	fixture *f = *state;
	kmc_vault *v;
	char *s1, *text, bad_path[700];
	const char *conf[] = { f->conf, bad_path };
	kmc_rewrap_params p = KMC_REWRAP_PARAMS_INIT;
	kmc_rewrap_result res;

	init_at(f, f->vdir);
	v = open_vault(f, KMC_OPEN_WRITE);
	put(v, "a", "alpha");
	s1 = encrypt(v, "one");
	assert_true(asprintf(&text, "x = %s\n", s1) > 0);
	write_file(f->conf, text, strlen(text), 0600);
	assert_int_equal(rotate(v), 2);
	snprintf(bad_path, sizeof(bad_path), "%s/bad.conf", f->tmp);
	p.conf = conf;
	p.n_conf = 2;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		saved good, b = { 0 }, ks, sb;

		(void)unlink(bad_path);
		if (bad[i].err == KMC_E_PERM)
			write_file(bad_path, text, strlen(text),
				i == 1 ? 0666 : 0620);
		else if (bad[i].err == KMC_E_INVALID)
			write_file(bad_path, "y = 1\n\0z = 2\n", 12, 0600);
		else if (bad[i].err == KMC_E_TOO_LARGE) {
			size_t n = 1024 * 1024 + 1;
			char *big = malloc(n);

			assert_non_null(big);
			memset(big, '#', n);
			memcpy(big, text, strlen(text));
			big[n - 1] = '\n';
			write_file(bad_path, big, n, 0600);
			free(big);
		}
		save(&good, f->conf);
		save(&ks, f->ks);
		save(&sb, f->sb);
		if (bad[i].err != -ENOENT)
			save(&b, bad_path);

		res = (kmc_rewrap_result){ 0 };
		if (kmc_mk_rewrap(v, &p, &res) != bad[i].err)
			fail_msg("%s: kmc_mk_rewrap gave %s (%s)", bad[i].what,
				kmc_strerror(kmc_mk_rewrap(v, &p, &res)),
				kmc_error_detail());
		assert_detail_has(bad_path);
		assert_int_equal(res.records + res.strings + res.files, 0);
		assert_int_equal(sealer_of(v, "a"), 1);
		assert_unchanged(&good);
		assert_unchanged(&ks);
		assert_unchanged(&sb);
		if (b.p)
			assert_unchanged(&b);
		assert_nothing_staged(f);
	}
	kmc_vault_close(v);
	free(text);
	free(s1);
}

/* ---- retire ------------------------------------------------------------ */

static void test_retire_refusals(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	saved ks, sb;

	init_at(f, f->vdir);
	make_pki(f);
	v = open_vault(f, KMC_OPEN_WRITE);
	put(v, "a", "alpha");
	import_srv(f, v, NULL, 0);
	assert_int_equal(rotate(v), 2);
	save(&ks, f->ks);
	save(&sb, f->sb);

	assert_int_equal(kmc_mk_retire(v, 99, NULL, 0), KMC_E_NOT_FOUND);
	assert_detail_has("no master key 99");
	assert_int_equal(kmc_mk_retire(v, 0, NULL, 0), KMC_E_NOT_FOUND);
	assert_int_equal(kmc_mk_retire(v, 2, NULL, 0), KMC_E_IN_USE);
	assert_detail_has("active");
	assert_int_equal(kmc_mk_retire(v, 1, NULL, 0), KMC_E_IN_USE);
	assert_detail_has("still seals 6 item records (0 of them old versions)");
	assert_detail_has("rewrap");

	/* Old versions alone are a use too: the bundle replaced (its old
	   versions stay key 1's), the password written again. */
	import_srv(f, v, NULL, KMC_IMPORT_REPLACE);
	put(v, "a", "alpha2");
	assert_all_sealed_by(v, 2);
	assert_int_equal(kmc_mk_retire(v, 1, NULL, 0), KMC_E_IN_USE);
	assert_detail_has("still seals 5 item records (5 of them old versions)");
	assert_unchanged(&ks);
	assert_unchanged(&sb);
	assert_int_equal(mk_list(v).n, 2);
	assert_item(v, "a", "alpha2");
	kmc_vault_close(v);
}

/* After the records: a string in a --conf file, or in the config file a
   bundle's import wrote, still sealed by the key keeps it. */
static void test_retire_refused_for_conf_strings(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	char *s1, *text, srv_conf[700], away[700], *sc;
	const char *conf[] = { f->conf };
	token tk[4];
	size_t len;
	saved ks;
	char line[32];

	init_at(f, f->vdir);
	make_pki(f);
	snprintf(srv_conf, sizeof(srv_conf), "%s/srv.conf", f->tmp);
	snprintf(away, sizeof(away), "%s/srv.conf.away", f->tmp);
	v = open_vault(f, KMC_OPEN_WRITE);
	import_srv(f, v, srv_conf, 0);
	s1 = encrypt(v, "one");
	assert_true(asprintf(&text, "# app\n\nx = %s\n", s1) > 0);
	write_file(f->conf, text, strlen(text), 0600);
	assert_int_equal(rotate(v), 2);

	/* The records only: the bundle's file away (a bundle's file that is
	   gone is skipped), app.conf not named. */
	assert_int_equal(rename(srv_conf, away), 0);
	assert_true(rewrap(v, NULL, 0).records == SRV_PARTS);
	assert_int_equal(rename(away, srv_conf), 0);
	save(&ks, f->ks);

	assert_int_equal(kmc_mk_retire(v, 1, conf, 1), KMC_E_IN_USE);
	assert_detail_has(f->conf);
	assert_detail_has("line 3");
	/* Not named: the bundle's file still holds one. */
	sc = (char *)slurp(srv_conf, &len);
	assert_int_equal(find_tokens(sc, len, tk, 4), 1);
	assert_int_equal(string_mk(sc + tk[0].off), 1);
	assert_int_equal(kmc_mk_retire(v, 1, NULL, 0), KMC_E_IN_USE);
	assert_detail_has(srv_conf);
	snprintf(line, sizeof(line), "line %u", tk[0].line);
	assert_detail_has(line);
	assert_unchanged(&ks);
	assert_int_equal(mk_list(v).n, 2);

	/* Rewrap the two files, and it goes. */
	assert_int_equal(rewrap(v, conf, 1).files, 2);
	assert_int_equal(kmc_mk_retire(v, 1, conf, 1), 0);
	assert_int_equal(mk_list(v).n, 1);
	kmc_vault_close(v);
	free(sc);
	free(text);
	free(s1);
}

static int contains(const uint8_t *hay, size_t n, const uint8_t *needle,
	size_t m)
{
	return memmem(hay, n, needle, m) != NULL;
}

static void test_retire_removes_key_from_both_keystores(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *fresh;
	keystore *ks = malloc(sizeof(*ks));
	uint8_t wrapped1[KS_MK_WRAPPED_LEN], *raw;
	const char *conf[] = { f->conf };
	const ks_master_key *m;
	kmc_secret *s = NULL;
	char *s1, *text;
	size_t len;

	assert_non_null(ks);
	init_at(f, f->vdir);
	v = open_vault(f, KMC_OPEN_WRITE);
	put(v, "a", "alpha");
	s1 = encrypt(v, "one");
	assert_true(asprintf(&text, "x = %s\n", s1) > 0);
	write_file(f->conf, text, strlen(text), 0600);
	assert_int_equal(rotate(v), 2);
	raw = slurp(f->ks, &len);
	assert_int_equal(ks_parse(raw, len, ks), 0);
	m = ks_find_mk(ks, 1);
	assert_non_null(m);
	memcpy(wrapped1, m->wrapped, sizeof(wrapped1));
	free(raw);

	(void)rewrap(v, conf, 1);
	assert_int_equal(kmc_mk_retire(v, 1, conf, 1), 0);
	/* The handle that retired it no longer opens what it sealed. */
	assert_int_equal(kmc_string_decrypt(v, s1, &s), KMC_E_NOT_FOUND);
	kmc_vault_close(v);

	for (int i = 0; i < 2; i++) {
		raw = slurp(i ? f->sb : f->ks, &len);
		assert_int_equal(ks_parse(raw, len, ks), 0);
		assert_int_equal(ks->n_mks, 1);
		assert_int_equal(ks->mks[0].id, 2);
		assert_int_equal(ks->active_mk, 2);
		assert_null(ks_find_mk(ks, 1));
		assert_false(contains(raw, len, wrapped1, sizeof(wrapped1)));
		free(raw);
	}

	fresh = open_vault(f, 0);
	assert_item(fresh, "a", "alpha");
	assert_int_equal(mk_list(fresh).n, 1);
	assert_int_equal(kmc_string_decrypt(fresh, s1, &s), KMC_E_NOT_FOUND);
	assert_null(s);
	raw = slurp(f->conf, &len);
	assert_int_equal(string_mk((char *)raw + 4), 2);
	assert_decrypts(fresh, (char *)raw + 4, "one");
	free(raw);
	kmc_vault_close(fresh);
	free(ks);
	free(text);
	free(s1);
}

/* ---- handles and limits ------------------------------------------------ */

static void test_readonly_handle_refused(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *r;
	kmc_rewrap_params p = KMC_REWRAP_PARAMS_INIT;
	const char *conf[] = { f->conf };
	saved ks, sb, c;
	char *s1, *text;
	uint32_t id = 77;

	init_at(f, f->vdir);
	v = open_vault(f, KMC_OPEN_WRITE);
	put(v, "a", "alpha");
	s1 = encrypt(v, "one");
	assert_int_equal(rotate(v), 2);
	kmc_vault_close(v);
	assert_true(asprintf(&text, "x = %s\n", s1) > 0);
	write_file(f->conf, text, strlen(text), 0600);
	save(&ks, f->ks);
	save(&sb, f->sb);
	save(&c, f->conf);

	r = open_vault(f, 0);
	assert_int_equal(kmc_mk_rotate(r, &id), KMC_E_READONLY);
	assert_int_equal(id, 77);
	p.conf = conf;
	p.n_conf = 1;
	assert_int_equal(kmc_mk_rewrap(r, &p, NULL), KMC_E_READONLY);
	assert_int_equal(kmc_mk_retire(r, 1, NULL, 0), KMC_E_READONLY);
	assert_int_equal(sealer_of(r, "a"), 1);
	kmc_vault_close(r);
	assert_unchanged(&ks);
	assert_unchanged(&sb);
	assert_unchanged(&c);
	free(text);
	free(s1);
}

static void test_rotate_limit_and_retire_frees_a_slot(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *r;
	uint32_t id = 0;
	saved ks;
	mk_table t;

	init_at(f, f->vdir);
	v = open_vault(f, KMC_OPEN_WRITE);
	for (uint32_t want = 2; want <= KMC_MAX_MASTER_KEYS; want++)
		assert_int_equal(rotate(v), want);
	put(v, "a", "alpha");
	save(&ks, f->ks);
	assert_int_equal(kmc_mk_rotate(v, &id), KMC_E_LIMIT);
	assert_unchanged(&ks);
	t = mk_list(v);
	assert_int_equal(t.n, KMC_MAX_MASTER_KEYS);
	assert_true(t.k[KMC_MAX_MASTER_KEYS - 1].active);
	assert_int_equal(t.k[KMC_MAX_MASTER_KEYS - 1].id, KMC_MAX_MASTER_KEYS);
	kmc_vault_close(v);

	/* A server that opened holding all 64. */
	r = open_vault(f, 0);
	assert_item(r, "a", "alpha");

	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_mk_retire(v, 1, NULL, 0), 0);
	assert_int_equal(rotate(v), KMC_MAX_MASTER_KEYS + 1);
	put(v, "b", "beta");
	(void)rewrap(v, NULL, 0);
	t = mk_list(v);
	assert_int_equal(t.n, KMC_MAX_MASTER_KEYS);
	assert_int_equal(t.k[0].id, 2);
	assert_int_equal(kmc_mk_rotate(v, &id), KMC_E_LIMIT);
	kmc_vault_close(v);

	/* It follows to key 65 too. */
	assert_item(r, "b", "beta");
	assert_item(r, "a", "alpha");
	kmc_vault_close(r);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_rotate_makes_new_active),
		T(test_list_counts_records_and_history),
		T(test_reader_follows_rotation),
		T(test_reader_lists_keys_as_they_are),
		T(test_reader_ignores_foreign_keystore),
		T(test_reader_encrypts_under_active_key),
		T(test_rewrap_history_and_idempotent),
		T(test_rewrap_failure_counts_what_was_done),
		T(test_rewrap_conf_file),
		T(test_rewrap_conf_skips_foreign_and_malformed),
		T(test_rewrap_bad_conf_changes_nothing),
		T(test_retire_refusals),
		T(test_retire_refused_for_conf_strings),
		T(test_retire_removes_key_from_both_keystores),
		T(test_readonly_handle_refused),
		T(test_rotate_limit_and_retire_frees_a_slot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
