/*
 * old_vault.c - a test helper for test_compat.sh: build a vault from the
 * format description in docs/format.md alone, with libsodium and LMDB and
 * none of kmcvault's code, as the first release wrote it: keystore format
 * 1 with one master key (id 1) and a host protector, item store format 1,
 * records of version 1, kmc:v1 strings. Options write the variants an
 * older or a newer kmcvault leaves behind, so that the test can check
 * what today's kmc reads and what it refuses.
 *
 *	old_vault [OPTION...] DIR HOSTKEY [NAME=TYPE:FILE[:ITEMVER[:RECVER]]...]
 *
 *	--ks-version N      format_version of both keystores (1)
 *	--master-version N  format_version of kmc.ks only; StandbyKsf.ks
 *	                    stays 1, one generation older
 *	--no-history        no history database, as the first stores had
 *	--store-format N    the meta "format" value (1)
 *	--journal VER:DIR   a pending journal of version VER, state 1, one
 *	                    staged file entry (DIR/.x.kmc-new)
 *	--pass-slot OPS MEM FILE  a passphrase protector (slot 2) with
 *	                    these Argon2id parameters (MEM in bytes), for the
 *	                    passphrase in FILE (no trailing newline)
 *	--old NAME=TYPE:FILE:ITEMVER  a superseded record in history
 *	--string FILE       print a kmc:v1 string of FILE's bytes
 *
 * TYPE is the record type byte (1 password ... 6 bundle). The host key
 * is made (32 random bytes, 0400) when HOSTKEY does not exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lmdb.h>
#include <sodium.h>

#define CREATED 1600000000LL	/* September 2020: an old vault */

static uint8_t vault_id[16], rk[32], mk[32], host_key[32];

static void die(const char *what)
{
	fprintf(stderr, "old_vault: %s\n", what);
	exit(1);
}

typedef struct buf {
	uint8_t p[65536];
	size_t n;
} buf;

static void put(buf *b, const void *p, size_t n)
{
	if (b->n + n > sizeof(b->p))
		die("buffer full");
	memcpy(b->p + b->n, p, n);
	b->n += n;
}
static void u8(buf *b, uint64_t v) { uint8_t x = (uint8_t)v; put(b, &x, 1); }
static void be(buf *b, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--)
		u8(b, v >> (8 * i));
}

/* nonce (24) || ciphertext || tag (16), XChaCha20-Poly1305 IETF. */
static void seal(buf *out, const uint8_t key[32], const uint8_t *m,
	size_t mlen, const uint8_t *ad, size_t adlen)
{
	uint8_t nonce[24];
	unsigned long long clen;

	randombytes_buf(nonce, sizeof(nonce));
	put(out, nonce, 24);
	if (out->n + mlen + 16 > sizeof(out->p))
		die("seal too large");
	crypto_aead_xchacha20poly1305_ietf_encrypt(out->p + out->n, &clen, m,
		mlen, ad, adlen, NULL, nonce, key);
	out->n += clen;
}

static void subkey(uint8_t out[32], const uint8_t key[32], uint64_t id,
	const char ctx[8])
{
	crypto_kdf_derive_from_key(out, 32, id, ctx, key);
}

static void read_file(const char *path, buf *b)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		die(path);
	b->n = 0;
	while ((n = read(fd, b->p + b->n, sizeof(b->p) - b->n)) > 0)
		b->n += (size_t)n;
	close(fd);
	if (n < 0)
		die(path);
}

static void write_file(const char *dir, const char *name, const buf *b)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, b->p, b->n) != (ssize_t)b->n || close(fd) < 0)
		die(path);
}

static void host_key_load(const char *path)
{
	buf b;
	int fd;

	if (access(path, F_OK) < 0) {
		randombytes_buf(host_key, 32);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0400);
		if (fd < 0 || write(fd, host_key, 32) != 32 || close(fd) < 0)
			die(path);
		return;
	}
	read_file(path, &b);
	if (b.n != 32)
		die("host key is not 32 bytes");
	memcpy(host_key, b.p, 32);
}

/* One slot: id, type, params, RK sealed under key with the slot's AD. */
static void slot(buf *ks, uint8_t id, uint8_t type, const buf *params,
	const uint8_t key[32])
{
	buf ad = { .n = 0 }, w = { .n = 0 };

	put(&ad, "kmcvault/rk/v1", 14);
	put(&ad, vault_id, 16);
	u8(&ad, id);
	u8(&ad, type);
	put(&ad, params->p, params->n);
	seal(&w, key, rk, 32, ad.p, ad.n);
	u8(ks, id);
	u8(ks, type);
	be(ks, params->n, 2);
	put(ks, params->p, params->n);
	be(ks, w.n, 2);
	put(ks, w.p, w.n);
}

struct pass_slot {
	int on;
	uint32_t ops;
	uint64_t mem;
	buf pass;
};

static void keystore(buf *ks, unsigned version, uint64_t generation,
	const char *host_path, const struct pass_slot *ps)
{
	uint8_t salt[16], key[32], hid[32], mackey[32], mkwrap[32];
	buf params = { .n = 0 }, ad = { .n = 0 }, w = { .n = 0 };
	crypto_generichash_state st;

	ks->n = 0;
	put(ks, "KMCKSTOR", 8);
	be(ks, version, 2);
	be(ks, 0, 2);
	put(ks, vault_id, 16);
	be(ks, generation, 8);
	u8(ks, ps->on ? 2 : 1);

	/* Host slot: salt || host_key_id || path_len || path. */
	randombytes_buf(salt, 16);
	crypto_generichash(hid, 32, (const uint8_t *)"kmcvault/host-id/v1", 19,
		host_key, 32);
	put(&params, salt, 16);
	put(&params, hid, 8);
	be(&params, strlen(host_path), 2);
	put(&params, host_path, strlen(host_path));
	crypto_generichash_init(&st, host_key, 32, 32);
	crypto_generichash_update(&st, (const uint8_t *)"kmcvault/host/v1", 16);
	crypto_generichash_update(&st, vault_id, 16);
	crypto_generichash_update(&st, salt, 16);
	crypto_generichash_final(&st, key, 32);
	slot(ks, 1, 1, &params, key);

	if (ps->on) {
		/* alg 1 || ops u32 || mem u64 (bytes) || salt. */
		params.n = 0;
		randombytes_buf(salt, 16);
		u8(&params, 1);
		be(&params, ps->ops, 4);
		be(&params, ps->mem, 8);
		put(&params, salt, 16);
		/* A range libsodium refuses is for the test of the refusal:
		   any key does, as the opener must not get this far. */
		if (crypto_pwhash(key, 32, (const char *)ps->pass.p, ps->pass.n,
			salt, ps->ops, (size_t)ps->mem,
			crypto_pwhash_ALG_ARGON2ID13) != 0)
			randombytes_buf(key, 32);
		slot(ks, 2, 2, &params, key);
	}

	/* One master key, id 1, active. */
	be(ks, 1, 1);
	be(ks, 1, 4);
	subkey(mkwrap, rk, 2, "kmc-mkwr");
	put(&ad, "kmcvault/mk/v1", 14);
	put(&ad, vault_id, 16);
	be(&ad, 1, 4);
	be(&ad, (uint64_t)CREATED, 8);
	seal(&w, mkwrap, mk, 32, ad.p, ad.n);
	if (w.n != 72)
		die("wrapped master key is not 72 bytes");
	be(ks, 1, 4);
	u8(ks, 0);
	be(ks, (uint64_t)CREATED, 8);
	put(ks, w.p, w.n);

	subkey(mackey, rk, 1, "kmc-ksmc");
	crypto_generichash(ks->p + ks->n, 32, ks->p, ks->n, mackey, 32);
	ks->n += 32;
	crypto_generichash(ks->p + ks->n, 32, ks->p, ks->n, NULL, 0);
	ks->n += 32;
}

/* A record: 24-byte header, then the plaintext sealed under the item key
   with AD "kmcvault/item/v1" || vault_id || name_len || name || header. */
static void record(buf *rec, const char *name, unsigned type, unsigned ver,
	unsigned recver, const buf *data)
{
	uint8_t ikey[32];
	buf ad = { .n = 0 };

	rec->n = 0;
	u8(rec, recver);
	u8(rec, type);
	be(rec, 0, 2);
	be(rec, ver, 4);
	be(rec, 1, 4);
	be(rec, (uint64_t)CREATED, 8);
	be(rec, data->n, 4);
	put(&ad, "kmcvault/item/v1", 16);
	put(&ad, vault_id, 16);
	u8(&ad, strlen(name));
	put(&ad, name, strlen(name));
	put(&ad, rec->p, 24);
	subkey(ikey, mk, 1, "kmcitem1");
	seal(rec, ikey, data->p, data->n, ad.p, ad.n);
}

static void string_of(const char *file)
{
	static buf data, s;
	uint8_t skey[32];
	buf ad = { .n = 0 };
	char out[16384];

	read_file(file, &data);
	s.n = 0;
	put(&ad, "kmcvault/str/v1", 15);
	put(&ad, vault_id, 16);
	be(&ad, 1, 4);
	subkey(skey, mk, 2, "kmcstr01");
	seal(&s, skey, data.p, data.n, ad.p, ad.n);
	sodium_bin2base64(out, sizeof(out), s.p, s.n,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	printf("kmc:v1:1:%s\n", out);
}

static void mdb_ok(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "old_vault: %s: %s\n", what, mdb_strerror(rc));
		exit(1);
	}
}

/* NAME=TYPE:FILE[:ITEMVER[:RECVER]] */
static void item_spec(char *spec, char **name, unsigned *type, char **file,
	unsigned *ver, unsigned *recver)
{
	char *eq = strchr(spec, '='), *p;

	if (!eq)
		die("an item is NAME=TYPE:FILE[:ITEMVER[:RECVER]]");
	*eq = '\0';
	*name = spec;
	*type = (unsigned)strtoul(eq + 1, &p, 10);
	if (*p != ':')
		die("an item is NAME=TYPE:FILE[:ITEMVER[:RECVER]]");
	*file = p + 1;
	*ver = 1;
	*recver = 1;
	if ((p = strchr(*file, ':'))) {
		*p = '\0';
		*ver = (unsigned)strtoul(p + 1, &p, 10);
		if (*p == ':')
			*recver = (unsigned)strtoul(p + 1, NULL, 10);
	}
}

int main(int argc, char **argv)
{
	unsigned ks_version = 1, master_version = 0, store_format = 1;
	unsigned journal_version = 0;
	const char *journal_dir = NULL, *strings[16], *olds[16];
	int no_history = 0, n_strings = 0, n_olds = 0, i;
	struct pass_slot ps = { 0 };
	static buf ks, data, rec;
	char dir[PATH_MAX], host_path[PATH_MAX], file[PATH_MAX + 16];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, items, history = 0;
	MDB_val k, v;

	if (sodium_init() < 0)
		die("sodium_init");
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		const char *o = argv[i];

		if (!strcmp(o, "--no-history")) {
			no_history = 1;
		} else if (i + 1 >= argc) {
			die("an option lacks its value");
		} else if (!strcmp(o, "--ks-version")) {
			ks_version = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(o, "--master-version")) {
			master_version = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(o, "--store-format")) {
			store_format = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(o, "--journal")) {
			char *c = strchr(argv[++i], ':');

			if (!c)
				die("--journal VER:DIR");
			*c = '\0';
			journal_version = (unsigned)atoi(argv[i]);
			journal_dir = c + 1;
		} else if (!strcmp(o, "--string") && n_strings < 16) {
			strings[n_strings++] = argv[++i];
		} else if (!strcmp(o, "--old") && n_olds < 16) {
			olds[n_olds++] = argv[++i];
		} else if (!strcmp(o, "--pass-slot") && i + 3 < argc) {
			ps.on = 1;
			ps.ops = (uint32_t)strtoul(argv[++i], NULL, 10);
			ps.mem = strtoull(argv[++i], NULL, 10);
			read_file(argv[++i], &ps.pass);
		} else {
			die("unknown option");
		}
	}
	if (argc - i < 2)
		die("usage: old_vault [OPTION...] DIR HOSTKEY [ITEM...]");
	snprintf(dir, sizeof(dir), "%s", argv[i++]);
	if (!realpath(argv[i], host_path)) {
		/* Not there yet: made below, beside an existing folder. */
		snprintf(host_path, sizeof(host_path), "%s", argv[i]);
		if (host_path[0] != '/')
			die("HOSTKEY must be absolute when it does not exist");
	}
	i++;
	host_key_load(host_path);
	randombytes_buf(vault_id, 16);
	randombytes_buf(rk, 32);
	randombytes_buf(mk, 32);

	if (mkdir(dir, 0700) < 0)
		die(dir);
	keystore(&ks, ks_version, 1, host_path, &ps);
	write_file(dir, "StandbyKsf.ks", &ks);
	if (master_version) {
		/* A newer kmc wrote kmc.ks and was cut off before the twin. */
		keystore(&ks, master_version, 2, host_path, &ps);
	}
	write_file(dir, "kmc.ks", &ks);

	snprintf(file, sizeof(file), "%s/items.mdb", dir);
	mdb_ok(mdb_env_create(&env), "env");
	mdb_ok(mdb_env_set_maxdbs(env, 8), "maxdbs");
	mdb_ok(mdb_env_set_mapsize(env, 4ull << 30), "mapsize");
	mdb_ok(mdb_env_open(env, file, MDB_NOSUBDIR, 0600), file);
	mdb_ok(mdb_txn_begin(env, NULL, 0, &txn), "txn");
	mdb_ok(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), "meta");
	mdb_ok(mdb_dbi_open(txn, "items", MDB_CREATE, &items), "items");
	if (!no_history)
		mdb_ok(mdb_dbi_open(txn, "history", MDB_CREATE, &history),
			"history");
	data.n = 0;
	be(&data, store_format, 4);
	k = (MDB_val){ 6, "format" };
	v = (MDB_val){ data.n, data.p };
	mdb_ok(mdb_put(txn, meta, &k, &v, 0), "format");
	k = (MDB_val){ 8, "vault_id" };
	v = (MDB_val){ 16, vault_id };
	mdb_ok(mdb_put(txn, meta, &k, &v, 0), "vault_id");
	data.n = 0;
	be(&data, (uint64_t)(argc - i + n_olds), 8);
	k = (MDB_val){ 10, "generation" };
	v = (MDB_val){ 8, data.p };
	mdb_ok(mdb_put(txn, meta, &k, &v, 0), "generation");
	if (journal_version) {
		data.n = 0;
		u8(&data, journal_version);
		u8(&data, 1);
		u8(&data, 1);
		u8(&data, 1);
		be(&data, strlen(journal_dir), 2);
		put(&data, journal_dir, strlen(journal_dir));
		u8(&data, 10);
		put(&data, ".x.kmc-new", 10);
		k = (MDB_val){ 7, "journal" };
		v = (MDB_val){ data.n, data.p };
		mdb_ok(mdb_put(txn, meta, &k, &v, 0), "journal");
	}
	for (; i < argc; i++) {
		char *name, *f;
		unsigned type, ver, recver;

		item_spec(argv[i], &name, &type, &f, &ver, &recver);
		read_file(f, &data);
		record(&rec, name, type, ver, recver, &data);
		k = (MDB_val){ strlen(name), name };
		v = (MDB_val){ rec.n, rec.p };
		mdb_ok(mdb_put(txn, items, &k, &v, 0), name);
	}
	for (int j = 0; j < n_olds; j++) {
		char *name, *f, key[256];
		unsigned type, ver, recver;
		size_t n;

		if (no_history)
			die("--old needs a history database");
		item_spec((char *)olds[j], &name, &type, &f, &ver, &recver);
		read_file(f, &data);
		record(&rec, name, type, ver, recver, &data);
		/* name || 0x00 || u32 version */
		n = strlen(name);
		if (n > 200)
			die("name too long");
		memcpy(key, name, n);
		key[n] = 0;
		key[n + 1] = (char)(ver >> 24);
		key[n + 2] = (char)(ver >> 16);
		key[n + 3] = (char)(ver >> 8);
		key[n + 4] = (char)ver;
		k = (MDB_val){ n + 5, key };
		v = (MDB_val){ rec.n, rec.p };
		mdb_ok(mdb_put(txn, history, &k, &v, 0), name);
	}
	mdb_ok(mdb_txn_commit(txn), "commit");
	mdb_env_close(env);
	for (int j = 0; j < n_strings; j++)
		string_of(strings[j]);
	sodium_memzero(rk, sizeof(rk));
	sodium_memzero(mk, sizeof(mk));
	sodium_memzero(host_key, sizeof(host_key));
	return 0;
}
