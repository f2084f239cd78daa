/*
 * backup.c - a consistent copy of a vault, and putting one back.
 *
 * Backup (kmc_vault_backup) runs on a handle opened for writing, so it
 * holds the vault's writer lock (flock of the folder) from start to end:
 * the keystore it copies and the item store snapshot LMDB copies are a
 * matching set, because every change of either takes that lock. Readers
 * take no lock and go on; a writer waits for the one backup, as it would
 * for any other writer. The copy is built in a hidden sibling
 * .OUT.backup-XXXXXXXXXXXX, checked against its own manifest, and renamed
 * to OUT in one step, which fails if OUT exists and is not empty: OUT is
 * complete or absent. A killed backup may leave the hidden sibling, whose
 * name says it is incomplete; nothing reads it.
 *
 * Restore (kmc_vault_restore) cannot ask for a vault that opens - putting
 * back a damaged one is the point - so it takes the writer lock itself,
 * reads the vault id from whichever keystore still checks out, and
 * refuses a backup of another vault. The intent log of other multi-file
 * changes (vault/journal.c) lives inside items.mdb, which is the file
 * being replaced here and may be the damaged one; so the same protocol
 * runs with its log outside the store:
 *
 *   1. stage: copy the backup into DIR/.kmc-restore.d/ (each file
 *      written, fsynced, renamed), check it against the manifest, and
 *      open it as a vault to check every MAC when a protector opens it;
 *   2. commit: write DIR/.kmc-restore (temp, fsync, rename, fsync);
 *   3. apply: items.mdb-lock is removed and items.mdb, StandbyKsf.ks and
 *      kmc.ks are renamed from the stage over their names; the folder is
 *      fsynced, the stage and the mark removed.
 *
 * A failure or kill before 2 leaves the old vault, and the next writable
 * open (any command that changes the vault, kmc repair) removes the
 * stage. After 2, that open finishes step 3 first; a rename whose staged
 * file is gone is skipped, so this can run any number of times. While
 * the mark exists, read-only opens refuse with KMC_E_PENDING rather than
 * read a half-swapped set, and kmc status reports a pending change.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <lmdb.h>
#include "backup.h"
#include "../safeio/fileio.h"
#include "vault.h"

#define MANIFEST_MAGIC "kmcvault-backup"
#define COPY_CHUNK (64u * 1024u)

const char *const backup_file_names[BACKUP_FILES] = {
	KS_MASTER_NAME, KS_STANDBY_NAME, STORE_NAME,
};

static const kmc_file_rule ks_rule = {
	.forbidden = 077,
	.max_size = KS_FILE_MAX,
	.allow_root_owner = 0,
};

static const kmc_file_rule store_rule = {
	.forbidden = 077,
	.max_size = STORE_MAP_SIZE,
	.allow_root_owner = 0,
};

static const kmc_file_rule manifest_rule = {
	.forbidden = 077,
	.max_size = BACKUP_MANIFEST_MAX,
	.allow_root_owner = 0,
};

static const kmc_file_rule *file_rule(size_t i)
{
	return i == 2 ? &store_rule : &ks_rule;
}

/* ---------------------------------------------------------------- */
/* Manifest                                                          */

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int manifest_encode(const backup_manifest *m, char **ret, size_t *ret_len)
{
	char id[2 * KS_VAULT_ID_LEN + 1], h[2 * KMC_HASH_LEN + 1];
	uint8_t sum[KMC_HASH_LEN];
	char *buf;
	size_t n;
	int k;

	buf = malloc(BACKUP_MANIFEST_MAX);
	KMC_ENSURE(buf, KMC_E_NOMEM);
	hex(m->vault_id, KS_VAULT_ID_LEN, id);
	k = snprintf(buf, BACKUP_MANIFEST_MAX, MANIFEST_MAGIC " %d\n"
		"vault_id %s\ngeneration %" PRIu64 "\nstore_generation %" PRIu64
		"\nitems %" PRIu64 "\ncreated %" PRId64 "\n",
		BACKUP_MANIFEST_VERSION, id, m->generation, m->store_generation,
		m->items, m->created < 0 ? (int64_t)0 : m->created);
	KMC_ASSERT(k > 0 && k < BACKUP_MANIFEST_MAX);
	n = (size_t)k;
	for (size_t i = 0; i < BACKUP_FILES; i++) {
		hex(m->file[i].hash, KMC_HASH_LEN, h);
		k = snprintf(buf + n, BACKUP_MANIFEST_MAX - n, "file %s %" PRIu64
			" %s\n", backup_file_names[i], m->file[i].size, h);
		KMC_ASSERT(k > 0 && (size_t)k < BACKUP_MANIFEST_MAX - n);
		n += (size_t)k;
	}
	kmc_hash(sum, buf, n);
	hex(sum, KMC_HASH_LEN, h);
	k = snprintf(buf + n, BACKUP_MANIFEST_MAX - n, "checksum %s\n", h);
	KMC_ASSERT(k > 0 && (size_t)k < BACKUP_MANIFEST_MAX - n);
	*ret = buf;
	*ret_len = n + (size_t)k;
	return 0;
}

/* A cursor over the manifest's lines. */
typedef struct lines {
	const char *p;
	size_t left;
} lines;

/* The next line without its "\n"; KMC_E_CORRUPT when there is none. */
static int next_line(lines *l, const char **ret, size_t *ret_len)
{
	const char *nl = memchr(l->p, '\n', l->left);

	KMC_ENSURE(nl, KMC_E_CORRUPT);
	*ret = l->p;
	*ret_len = (size_t)(nl - l->p);
	l->left -= *ret_len + 1;
	l->p = nl + 1;
	return 0;
}

/* "WORD " at the start of the line: the rest in *ret. */
static int field(const char *line, size_t len, const char *word,
	const char **ret, size_t *ret_len)
{
	size_t w = strlen(word);

	KMC_ENSURE(len > w + 1 && memcmp(line, word, w) == 0 &&
		line[w] == ' ', KMC_E_CORRUPT);
	*ret = line + w + 1;
	*ret_len = len - w - 1;
	return 0;
}

static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	KMC_ENSURE(len >= 1 && len <= 20, KMC_E_CORRUPT);
	KMC_ENSURE(len == 1 || s[0] != '0', KMC_E_CORRUPT);
	for (size_t i = 0; i < len; i++) {
		KMC_ENSURE(s[i] >= '0' && s[i] <= '9', KMC_E_CORRUPT);
		KMC_ENSURE(v <= (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10,
			KMC_E_CORRUPT);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return 0;
}

static int parse_hex(const char *s, size_t len, uint8_t *out, size_t n)
{
	KMC_ENSURE(len == 2 * n, KMC_E_CORRUPT);
	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return KMC_E_CORRUPT;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(d << 4);
		else
			out[i / 2] |= (uint8_t)d;
	}
	return 0;
}

static int parse_u64_field(lines *l, const char *word, uint64_t *ret)
{
	const char *line, *v;
	size_t len, vlen;

	KMC_GUARD(next_line(l, &line, &len));
	KMC_GUARD(field(line, len, word, &v, &vlen));
	return parse_u64(v, vlen, ret);
}

int manifest_parse(const uint8_t *p, size_t len, backup_manifest *ret)
{
	lines l;
	backup_manifest m;
	const char *line, *v, *text = (const char *)p;
	uint8_t sum[KMC_HASH_LEN], want[KMC_HASH_LEN];
	size_t n, vlen, body;
	uint64_t x;

	KMC_ENSURE(len >= 2 && len <= BACKUP_MANIFEST_MAX, KMC_E_CORRUPT);
	KMC_ENSURE(!memchr(p, '\0', len) && p[len - 1] == '\n', KMC_E_CORRUPT);
	/* The checksum first: a changed byte is damage, whatever it hit. */
	body = len - 1;
	while (body > 0 && text[body - 1] != '\n')
		body--;
	l = (lines){ text + body, len - body };
	KMC_GUARD(next_line(&l, &line, &n));
	KMC_GUARD(field(line, n, "checksum", &v, &vlen));
	KMC_GUARD(parse_hex(v, vlen, want, KMC_HASH_LEN));
	kmc_hash(sum, p, body);
	KMC_ENSURE(kmc_memcmp(sum, want, KMC_HASH_LEN) == 0, KMC_E_CORRUPT);

	l = (lines){ text, body };
	memset(&m, 0, sizeof(m));
	KMC_GUARD(next_line(&l, &line, &n));
	KMC_GUARD(field(line, n, MANIFEST_MAGIC, &v, &vlen));
	KMC_GUARD(parse_u64(v, vlen, &x));
	KMC_ENSURE(x == BACKUP_MANIFEST_VERSION, KMC_E_VERSION);
	KMC_GUARD(next_line(&l, &line, &n));
	KMC_GUARD(field(line, n, "vault_id", &v, &vlen));
	KMC_GUARD(parse_hex(v, vlen, m.vault_id, KS_VAULT_ID_LEN));
	KMC_GUARD(parse_u64_field(&l, "generation", &m.generation));
	KMC_GUARD(parse_u64_field(&l, "store_generation", &m.store_generation));
	KMC_GUARD(parse_u64_field(&l, "items", &m.items));
	KMC_GUARD(parse_u64_field(&l, "created", &x));
	KMC_ENSURE(x <= INT64_MAX, KMC_E_CORRUPT);
	m.created = (int64_t)x;
	for (size_t i = 0; i < BACKUP_FILES; i++) {
		const char *name = backup_file_names[i], *sp;
		size_t nlen = strlen(name);

		KMC_GUARD(next_line(&l, &line, &n));
		KMC_GUARD(field(line, n, "file", &v, &vlen));
		KMC_ENSURE(vlen > nlen + 1 && memcmp(v, name, nlen) == 0 &&
			v[nlen] == ' ', KMC_E_CORRUPT);
		v += nlen + 1;
		vlen -= nlen + 1;
		sp = memchr(v, ' ', vlen);
		KMC_ENSURE(sp, KMC_E_CORRUPT);
		KMC_GUARD(parse_u64(v, (size_t)(sp - v), &m.file[i].size));
		vlen -= (size_t)(sp - v) + 1;
		KMC_GUARD(parse_hex(sp + 1, vlen, m.file[i].hash, KMC_HASH_LEN));
	}
	KMC_ENSURE(l.left == 0, KMC_E_CORRUPT);
	*ret = m;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Files                                                             */

static void show_path(char *buf, size_t size, const char *dir,
	const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

/* A name LMDB can open for dirfd/name: through /proc where it exists, so
 * the folder checked is the folder read. */
static int fd_path(int dirfd, const char *dir, const char *name, char *buf,
	size_t size)
{
	char pinned[64];
	int n;

	n = snprintf(pinned, sizeof(pinned), "/proc/self/fd/%d", dirfd);
	if (n > 0 && (size_t)n < sizeof(pinned) && access(pinned, F_OK) == 0)
		n = snprintf(buf, size, "%s/%s", pinned, name);
	else
		n = snprintf(buf, size, "%s/%s", dir, name);
	KMC_ENSURE(n > 0 && (size_t)n < size, KMC_E_TOO_LARGE);
	return 0;
}

static int temp_name(const char *name, char *buf, size_t size)
{
	uint8_t rnd[6];
	int n;

	kmc_random(rnd, sizeof(rnd));
	n = snprintf(buf, size, ".%s.tmp-%02x%02x%02x%02x%02x%02x", name, rnd[0],
		rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	KMC_ENSURE(n > 0 && (size_t)n < size, KMC_E_TOO_LARGE);
	return 0;
}

/*
 * Publish the temporary tmp (fd, written) as dirfd/name: fchmod, fsync,
 * close, rename without replacing, fsync the folder. The temporary goes
 * on any failure; fd is closed either way.
 */
static int publish(int dirfd, int fd, const char *tmp, const char *name)
{
	int r = 0;

	if (fchmod(fd, 0600) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) < 0)
		r = errno == EEXIST ? KMC_E_EXISTS : -errno;
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

static int create_temp(int dirfd, const char *name, char *tmp, size_t size)
{
	int fd;

	KMC_GUARD(temp_name(name, tmp, size));
	fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		O_NOFOLLOW, 0600);
	return fd < 0 ? -errno : fd;
}

/* Copy all of srcfd into a new dirfd/name, written atomically. */
static int copy_file(int srcfd, int dirfd, const char *name)
{
	_cleanup_(freep) uint8_t *buf = NULL;
	char tmp[NAME_MAX + 1];
	int fd, r = 0;

	buf = malloc(COPY_CHUNK);
	KMC_ENSURE(buf, KMC_E_NOMEM);
	fd = create_temp(dirfd, name, tmp, sizeof(tmp));
	KMC_GUARD(fd);
	for (;;) {
		ssize_t n = read(srcfd, buf, COPY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		if (n <= 0)
			break;
		r = kmc_write_full(fd, buf, (size_t)n);
		if (r < 0)
			break;
	}
	if (r < 0) {
		close(fd);
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return publish(dirfd, fd, tmp, name);
}

/* Size and BLAKE2b-256 of what fd holds from offset 0. */
static int hash_fd(int fd, uint64_t *ret_size, uint8_t out[KMC_HASH_LEN])
{
	_cleanup_(freep) uint8_t *buf = NULL;
	kmc_hash_state st;
	uint64_t size = 0;
	off_t off = 0;

	buf = malloc(COPY_CHUNK);
	KMC_ENSURE(buf, KMC_E_NOMEM);
	kmc_hash_init(&st);
	for (;;) {
		ssize_t n = pread(fd, buf, COPY_CHUNK, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			kmc_hash_final(&st, out);
			return r;
		}
		if (n == 0)
			break;
		kmc_hash_update(&st, buf, (size_t)n);
		off += n;
		size += (uint64_t)n;
	}
	kmc_hash_final(&st, out);
	*ret_size = size;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Checking a set of files against a manifest                        */

typedef struct store_facts {
	uint8_t vault_id[KS_VAULT_ID_LEN];
	uint64_t items, generation;
	int journal;
} store_facts;

/* Read the meta of an item store without a lock file and without
 * writing: a backup's, or one being staged. */
static int store_peek(const char *file, store_facts *ret)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi meta, items;
	MDB_val k, v;
	MDB_stat st;
	const uint8_t *p;
	int rc;

	memset(ret, 0, sizeof(*ret));
	rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(env, 8);
	if (rc == 0)
		rc = mdb_env_open(env, file, MDB_NOSUBDIR | MDB_RDONLY |
			MDB_NOLOCK | MDB_NOTLS, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", 0, &meta);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "items", 0, &items);
	if (rc == 0) {
		k = (MDB_val){ 6, "format" };
		rc = mdb_get(txn, meta, &k, &v);
		p = v.mv_data;
		if (rc == 0 && (v.mv_size != 4 || p[0] || p[1] || p[2] ||
				p[3] != STORE_FORMAT_VERSION))
			rc = MDB_INVALID;
	}
	if (rc == 0) {
		k = (MDB_val){ 8, "vault_id" };
		rc = mdb_get(txn, meta, &k, &v);
		if (rc == 0 && v.mv_size != KS_VAULT_ID_LEN)
			rc = MDB_INVALID;
		if (rc == 0)
			memcpy(ret->vault_id, v.mv_data, KS_VAULT_ID_LEN);
	}
	if (rc == 0) {
		k = (MDB_val){ 10, "generation" };
		rc = mdb_get(txn, meta, &k, &v);
		if (rc == 0 && v.mv_size != 8)
			rc = MDB_INVALID;
		for (int i = 0; rc == 0 && i < 8; i++)
			ret->generation = (ret->generation << 8) |
				((const uint8_t *)v.mv_data)[i];
	}
	if (rc == 0) {
		k = (MDB_val){ 7, "journal" };
		ret->journal = mdb_get(txn, meta, &k, &v) == 0;
		rc = mdb_stat(txn, items, &st);
		if (rc == 0)
			ret->items = st.ms_entries;
	}
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc == 0 ? 0 : KMC_E_CORRUPT;
}

/* The folder dirfd (called show in messages) holds exactly what m says:
 * every byte, and a keystore pair and item store that belong together. */
static int check_set(int dirfd, const char *show, const backup_manifest *m)
{
	_cleanup_(freep) uint8_t *raw0 = NULL;
	_cleanup_(freep) uint8_t *raw1 = NULL;
	uint8_t **ks_raw[2] = { &raw0, &raw1 };
	_cleanup_(freep) keystore *ks = NULL;
	char path[PATH_MAX + 64], file[PATH_MAX + 64];
	size_t ks_len[2];
	store_facts sf;
	int r;

	for (size_t i = 0; i < BACKUP_FILES; i++) {
		_cleanup_(kmc_closep) int fd = -1;
		uint8_t h[KMC_HASH_LEN];
		struct stat st;
		uint64_t size;

		show_path(path, sizeof(path), show, backup_file_names[i]);
		fd = kmc_open_checked(dirfd, backup_file_names[i], path,
			file_rule(i), &st);
		if (fd == -ENOENT)
			return kmc_detail(KMC_E_CORRUPT, "%s is missing", path);
		KMC_GUARD(fd);
		r = hash_fd(fd, &size, h);
		if (r < 0)
			return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
		if (size != m->file[i].size ||
		    kmc_memcmp(h, m->file[i].hash, KMC_HASH_LEN) != 0)
			return kmc_detail(KMC_E_CORRUPT, "%s does not match the "
				"backup's manifest: it was altered or damaged",
				path);
	}
	ks = malloc(sizeof(*ks));
	KMC_ENSURE(ks, KMC_E_NOMEM);
	for (size_t i = 0; i < 2; i++) {
		show_path(path, sizeof(path), show, backup_file_names[i]);
		KMC_GUARD(kmc_read_checked(dirfd, backup_file_names[i], path,
			&ks_rule, ks_raw[i], &ks_len[i]));
		r = ks_parse(*ks_raw[i], ks_len[i], ks);
		if (r == KMC_E_VERSION)
			return kmc_detail(r, "%s was written by a newer "
				"kmcvault", path);
		if (r < 0)
			return kmc_detail(KMC_E_CORRUPT, "%s is not a keystore "
				"this build can read", path);
		if (memcmp(ks->vault_id, m->vault_id, KS_VAULT_ID_LEN) != 0 ||
		    ks->generation != m->generation)
			return kmc_detail(KMC_E_CORRUPT, "%s is not the keystore "
				"the backup's manifest names", path);
	}
	if (ks_len[0] != ks_len[1] ||
	    memcmp(raw0, raw1, ks_len[0]) != 0)
		return kmc_detail(KMC_E_CORRUPT, "%s: kmc.ks and StandbyKsf.ks "
			"differ", show);
	show_path(path, sizeof(path), show, STORE_NAME);
	KMC_GUARD(fd_path(dirfd, show, STORE_NAME, file, sizeof(file)));
	if (store_peek(file, &sf) < 0)
		return kmc_detail(KMC_E_CORRUPT, "%s is not an item store this "
			"build can read", path);
	if (memcmp(sf.vault_id, m->vault_id, KS_VAULT_ID_LEN) != 0)
		return kmc_detail(KMC_E_WRONG_VAULT, "%s belongs to another vault "
			"than the keystores beside it", path);
	if (sf.items != m->items || sf.generation != m->store_generation)
		return kmc_detail(KMC_E_CORRUPT, "%s is not the item store the "
			"backup's manifest names", path);
	if (sf.journal)
		return kmc_detail(KMC_E_CORRUPT, "%s holds an unfinished change",
			path);
	return 0;
}

/* Remove a folder this file built: only the names it writes, then the
 * folder (which stays if anything else is in it). */
static void remove_built(int parentfd, const char *name)
{
	int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		O_CLOEXEC);

	if (fd >= 0) {
		DIR *d = fdopendir(fd);
		struct dirent *e;

		if (d) {
			while ((e = readdir(d))) {
				int known = strcmp(e->d_name, STORE_LOCK_NAME) == 0 ||
					strcmp(e->d_name, BACKUP_MANIFEST_NAME) == 0 ||
					(e->d_name[0] == '.' &&
					 strstr(e->d_name, ".tmp-"));

				for (size_t i = 0; i < BACKUP_FILES; i++)
					known |= strcmp(e->d_name,
						backup_file_names[i]) == 0;
				if (known)
					(void)unlinkat(dirfd(d), e->d_name, 0);
			}
			closedir(d);
		} else {
			close(fd);
		}
	}
	(void)unlinkat(parentfd, name, AT_REMOVEDIR);
}

/* ---------------------------------------------------------------- */
/* Backup                                                            */

static void info_from(const backup_manifest *m, kmc_backup_info *info)
{
	memset(info, 0, sizeof(*info));
	hex(m->vault_id, KS_VAULT_ID_LEN, info->vault_id);
	info->generation = m->generation;
	info->store_generation = m->store_generation;
	info->items = m->items;
	info->created = m->created;
}

/* A compacted copy of the store as dirfd/items.mdb; its size and hash. */
static int copy_store(kmc_vault *v, int dirfd, backup_file *ret)
{
	char tmp[NAME_MAX + 1];
	int fd, r;

	fd = create_temp(dirfd, STORE_NAME, tmp, sizeof(tmp));
	KMC_GUARD(fd);
	r = mdb_env_copyfd2(v->st.env, fd, MDB_CP_COMPACT);
	/* LMDB's own codes are positive too: only errno values pass. */
	if (r != 0)
		r = r > 0 && r < 4096 ? -r : KMC_E_STORE;
	if (r == 0)
		r = hash_fd(fd, &ret->size, ret->hash);
	if (r < 0) {
		close(fd);
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return publish(dirfd, fd, tmp, STORE_NAME);
}

static int write_file(int dirfd, const char *name, const void *data,
	size_t len)
{
	char tmp[NAME_MAX + 1];
	int fd, r;

	fd = create_temp(dirfd, name, tmp, sizeof(tmp));
	KMC_GUARD(fd);
	r = kmc_write_full(fd, data, len);
	if (r < 0) {
		close(fd);
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return publish(dirfd, fd, tmp, name);
}

static int backup_build(kmc_vault *v, int parentfd, const char *tmp,
	const char *show, const uint8_t *ks_raw, size_t ks_len,
	backup_manifest *m)
{
	_cleanup_(kmc_closep) int fd = -1;
	_cleanup_(freep) char *text = NULL;
	size_t len;

	fd = openat(parentfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < 2; i++) {
		KMC_GUARD(write_file(fd, backup_file_names[i], ks_raw, ks_len));
		m->file[i].size = ks_len;
		kmc_hash(m->file[i].hash, ks_raw, ks_len);
	}
	KMC_GUARD(copy_store(v, fd, &m->file[2]));
	KMC_GUARD(manifest_encode(m, &text, &len));
	KMC_GUARD(write_file(fd, BACKUP_MANIFEST_NAME, text, len));
	/* What landed is what a restore will check: check it now. */
	return check_set(fd, show, m);
}

/* The target of a backup may be absent or an empty folder. */
static int target_ok(int parentfd, const char *base, const char *dir)
{
	struct stat st;
	int r, empty;

	if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : kmc_detail(-errno, "%s: %s", dir,
			kmc_strerror(-errno));
	if (!S_ISDIR(st.st_mode))
		return kmc_detail(KMC_E_EXISTS, "%s exists and is not an empty "
			"folder; a backup never overwrites", dir);
	r = kmc_dir_empty(parentfd, base, &empty);
	if (r < 0)
		return kmc_detail(r, "%s: %s", dir, kmc_strerror(r));
	if (!empty)
		return kmc_detail(KMC_E_EXISTS, "%s exists and is not empty; a "
			"backup never overwrites", dir);
	return 0;
}

int kmc_vault_backup(kmc_vault *v, const char *out, kmc_backup_info *ret)
{
	_cleanup_(freep) uint8_t *raw = NULL;
	_cleanup_(freep) keystore *ks = NULL;
	_cleanup_(freep) char *base = NULL;
	_cleanup_(kmc_closep) int parentfd = -1;
	char show[PATH_MAX + 64], tmp[NAME_MAX + 1], tmp_show[PATH_MAX + NAME_MAX];
	const char *slash;
	backup_manifest m;
	uint8_t rnd[6], *j;
	size_t len, jlen;
	int r;

	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: a backup needs the writer "
			"lock: open the vault with KMC_OPEN_WRITE", v->dir);
	/* The keystore as the writable open left it: both twins the same,
	   verified under the root key, and no writer since (we hold the
	   lock). */
	show_path(show, sizeof(show), v->dir, KS_MASTER_NAME);
	KMC_GUARD(kmc_read_checked(v->dirfd, KS_MASTER_NAME, show, &ks_rule,
		&raw, &len));
	ks = malloc(sizeof(*ks));
	KMC_ENSURE(ks, KMC_E_NOMEM);
	if (ks_parse(raw, len, ks) < 0 ||
	    ks->generation != v->ks->generation ||
	    memcmp(ks->vault_id, v->ks->vault_id, KS_VAULT_ID_LEN) != 0 ||
	    ks_verify_mac(raw, len, kmc_secret_data(v->rk)) < 0)
		return kmc_detail(KMC_E_CORRUPT, "%s changed or fails its MAC "
			"after the vault was opened", show);
	r = store_meta_get(&v->st, "journal", &j, &jlen);
	if (r == 0) {
		free(j);
		return kmc_detail(KMC_E_PENDING, "%s: a change is pending; kmc "
			"repair finishes it", v->dir);
	}
	if (r != KMC_E_NOT_FOUND)
		return r;
	memset(&m, 0, sizeof(m));
	memcpy(m.vault_id, ks->vault_id, KS_VAULT_ID_LEN);
	m.generation = ks->generation;
	m.created = (int64_t)time(NULL);
	KMC_GUARD(store_stat(&v->st, &m.items, &m.store_generation));

	r = kmc_open_parent(out, &parentfd, &base);
	if (r < 0)
		return kmc_detail(r, "%s: cannot open its parent folder: %s", out,
			kmc_strerror(r));
	KMC_GUARD(target_ok(parentfd, base, out));
	kmc_random(rnd, sizeof(rnd));
	r = snprintf(tmp, sizeof(tmp), ".%s.backup-%02x%02x%02x%02x%02x%02x",
		base, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	KMC_ENSURE(r > 0 && (size_t)r < sizeof(tmp), KMC_E_TOO_LARGE);
	slash = strrchr(out, '/');
	snprintf(tmp_show, sizeof(tmp_show), "%.*s%s", slash ?
		(int)(slash - out + 1) : 0, out, tmp);
	if (mkdirat(parentfd, tmp, 0700) < 0) {
		r = -errno;
		return kmc_detail(r, "%s: cannot create a folder beside it: %s",
			out, kmc_strerror(r));
	}
	r = backup_build(v, parentfd, tmp, tmp_show, raw, len, &m);
	if (r == 0 && renameat(parentfd, tmp, parentfd, base) < 0) {
		r = -errno;
		if (r == -EEXIST || r == -ENOTEMPTY || r == -ENOTDIR ||
		    r == -EISDIR)
			r = kmc_detail(KMC_E_EXISTS, "%s appeared while the backup "
				"was made; a backup never overwrites", out);
	}
	if (r == 0 && fsync(parentfd) < 0) {
		/* Not durable: take it back, so a failure means no backup. */
		r = -errno;
		if (renameat(parentfd, base, parentfd, tmp) < 0)
			return kmc_detail(r, "the backup %s was written, but its "
				"folder could not be synced: %s", out,
				kmc_strerror(r));
	}
	if (r < 0) {
		remove_built(parentfd, tmp);
		if (!kmc_error_detail()[0])
			kmc_detail(r, "writing the backup %s: %s; no backup was "
				"made", out, kmc_strerror(r));
		return r;
	}
	if (ret)
		info_from(&m, ret);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Restore                                                           */

int restore_pending(int dirfd)
{
	return faccessat(dirfd, RESTORE_MARK_NAME, F_OK,
		AT_SYMLINK_NOFOLLOW) == 0;
}

/* Step 3: move the staged set over the vault's files; idempotent. */
static int restore_apply(int dirfd, const char *dir)
{
	_cleanup_(kmc_closep) int sfd = -1;
	static const char *const order[] = {
		STORE_NAME, KS_STANDBY_NAME, KS_MASTER_NAME,
	};
	int r = 0;

	sfd = openat(dirfd, RESTORE_STAGE_NAME, O_RDONLY | O_DIRECTORY |
		O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0 && errno != ENOENT)
		r = -errno;
	for (size_t i = 0; sfd >= 0 && r == 0 && i < ELEMENTSOF(order); i++) {
		if (faccessat(sfd, order[i], F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* moved by an earlier run */
		/* The old store's reader table must not be taken for the
		   new store's: LMDB makes a fresh one at the next open. */
		if (i == 0 && unlinkat(dirfd, STORE_LOCK_NAME, 0) < 0 &&
		    errno != ENOENT)
			r = -errno;
		if (r == 0 && renameat(sfd, order[i], dirfd, order[i]) < 0)
			r = -errno;
	}
	if (r == 0 && fsync(dirfd) < 0)
		r = -errno;
	if (r < 0)
		return kmc_detail(r, "%s: putting the restored files in place: "
			"%s", dir, kmc_strerror(r));
	if (sfd >= 0)
		remove_built(dirfd, RESTORE_STAGE_NAME);
	if (unlinkat(dirfd, RESTORE_MARK_NAME, 0) < 0 && errno != ENOENT)
		r = -errno;
	if (r == 0 && fsync(dirfd) < 0)
		r = -errno;
	if (r < 0)
		return kmc_detail(r, "%s: finishing the restore: %s", dir,
			kmc_strerror(r));
	return 0;
}

/* A killed write of the mark leaves its temporary: never a commit. */
static void remove_mark_temps(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "." RESTORE_MARK_NAME ".tmp-",
				strlen("." RESTORE_MARK_NAME ".tmp-")) == 0)
			(void)unlinkat(dirfd, e->d_name, 0);
	closedir(d);
}

int restore_recover(int dirfd, const char *dir)
{
	remove_mark_temps(dirfd);
	if (restore_pending(dirfd))
		return restore_apply(dirfd, dir);
	if (faccessat(dirfd, RESTORE_STAGE_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		remove_built(dirfd, RESTORE_STAGE_NAME);
	return 0;
}

static int lock_dir(int fd)
{
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* Only an empty folder or one that holds vault files is restored into. */
static int restore_target_ok(int dirfd, const char *dir)
{
	int r, empty;

	for (size_t i = 0; i < BACKUP_FILES; i++)
		if (faccessat(dirfd, backup_file_names[i], F_OK,
				AT_SYMLINK_NOFOLLOW) == 0)
			return 0;
	r = kmc_dir_empty(dirfd, ".", &empty);
	if (r < 0)
		return kmc_detail(r, "%s: %s", dir, kmc_strerror(r));
	if (!empty)
		return kmc_detail(KMC_E_NOT_VAULT, "%s holds files but no vault; "
			"restore into a vault or an empty or new folder", dir);
	return 0;
}

static int unlock_error(int r)
{
	return r == KMC_E_UNLOCK || r == KMC_E_NEED_PASSPHRASE ||
		r == KMC_E_HOST_KEY || r == KMC_E_P11_MODULE ||
		r == KMC_E_P11_TOKEN || r == KMC_E_P11_PIN ||
		r == KMC_E_P11_PIN_LOCKED || r == KMC_E_P11_KEY ||
		r == KMC_E_P11;
}

/*
 * Open the staged set as a vault (read-only) and open every item: the
 * keystore MAC and each record's tag. When no protector opens it, say
 * why in info->note and go on: the manifest's hashes were checked.
 */
static int verify_staged(const char *dir, const char *from,
	const kmc_options *opts, kmc_backup_info *info)
{
	kmc_vault *sv = NULL;
	char path[PATH_MAX + 64];
	int r, n;

	n = snprintf(path, sizeof(path), "%s/" RESTORE_STAGE_NAME, dir);
	KMC_ENSURE(n > 0 && (size_t)n < sizeof(path), KMC_E_TOO_LARGE);
	r = kmc_vault_open_ex(path, 0, opts, &sv);
	if (r < 0 && unlock_error(r)) {
		snprintf(info->note, sizeof(info->note), "%s",
			kmc_error_detail()[0] ? kmc_error_detail() :
			kmc_strerror(r));
		kmc_detail_clear();
		return 0;
	}
	if (r < 0) {
		char d[512];

		snprintf(d, sizeof(d), "%s", kmc_error_detail());
		return kmc_detail(r == KMC_E_NO_KEYSTORE ? KMC_E_CORRUPT : r,
			"the backup %s does not open: %s", from,
			d[0] ? d : kmc_strerror(r));
	}
	r = items_verify_all(sv, from);
	kmc_vault_close(sv);
	KMC_GUARD(r);
	info->verified = 1;
	return 0;
}

static int restore_stage(int dirfd, int bfd, const char *from,
	const backup_manifest *m)
{
	_cleanup_(kmc_closep) int sfd = -1;
	char path[PATH_MAX + 64];
	struct stat st;
	int r;

	if (mkdirat(dirfd, RESTORE_STAGE_NAME, 0700) < 0)
		return -errno;
	sfd = openat(dirfd, RESTORE_STAGE_NAME, O_RDONLY | O_DIRECTORY |
		O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return -errno;
	for (size_t i = 0; i < BACKUP_FILES; i++) {
		_cleanup_(kmc_closep) int fd = -1;

		show_path(path, sizeof(path), from, backup_file_names[i]);
		fd = kmc_open_checked(bfd, backup_file_names[i], path,
			file_rule(i), &st);
		if (fd == -ENOENT)
			return kmc_detail(KMC_E_CORRUPT, "%s is missing", path);
		KMC_GUARD(fd);
		r = copy_file(fd, sfd, backup_file_names[i]);
		if (r < 0)
			return kmc_detail(r, "staging %s: %s", path,
				kmc_strerror(r));
	}
	/* Checked where it now is, so what is checked is what goes in. */
	return check_set(sfd, from, m);
}

int kmc_vault_restore(const char *dir, const char *from,
	const kmc_options *opts, kmc_backup_info *ret)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	_cleanup_(kmc_closep) int bfd = -1;
	_cleanup_(freep) uint8_t *raw = NULL;
	char dbuf[PATH_MAX], path[PATH_MAX + 64], cur[2 * KS_VAULT_ID_LEN + 1];
	char want[2 * KS_VAULT_ID_LEN + 1], mark[256];
	uint8_t id[KS_VAULT_ID_LEN];
	kmc_backup_info info;
	backup_manifest m;
	uint64_t gen = 0;
	size_t len;
	int r, found = 0, created = 0, staged = 0, published;

	kmc_detail_clear();
	KMC_GUARD(kmc_crypto_init());
	if (!dir) {
		KMC_GUARD(kmc_default_vault_dir(dbuf, sizeof(dbuf)));
		dir = dbuf;
	}
	/* The backup first: nothing in the vault is touched for a bad one. */
	bfd = open(from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0) {
		r = -errno;
		return kmc_detail(r == -ENOENT ? KMC_E_NOT_FOUND : r, "the backup "
			"%s: %s", from, kmc_strerror(r));
	}
	KMC_GUARD(kmc_check_dir(bfd, from, NULL));
	show_path(path, sizeof(path), from, BACKUP_MANIFEST_NAME);
	r = kmc_read_checked(bfd, BACKUP_MANIFEST_NAME, path, &manifest_rule,
		&raw, &len);
	if (r == -ENOENT)
		return kmc_detail(KMC_E_CORRUPT, "%s is missing: %s is not a "
			"whole kmc backup", path, from);
	if (r == KMC_E_TOO_LARGE)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged", path);
	KMC_GUARD(r);
	r = manifest_parse(raw, len, &m);
	if (r == KMC_E_VERSION)
		return kmc_detail(r, "%s was written by a newer kmcvault", path);
	if (r < 0)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged", path);
	info_from(&m, &info);

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 && errno == ENOENT) {
		if (mkdir(dir, 0700) < 0) {
			r = -errno;
			return kmc_detail(r, "creating %s: %s", dir,
				kmc_strerror(r));
		}
		created = 1;
		dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dirfd < 0) {
		r = -errno;
		return kmc_detail(r, "%s: %s", dir, kmc_strerror(r));
	}
	r = kmc_check_dir(dirfd, dir, NULL);
	if (r == 0)
		r = lock_dir(dirfd);
	if (r == 0)
		r = restore_recover(dirfd, dir);
	if (r == 0)
		r = vault_peek(dirfd, dir, id, &gen, &found);
	if (r == 0 && found &&
	    memcmp(id, m.vault_id, KS_VAULT_ID_LEN) != 0) {
		hex(id, KS_VAULT_ID_LEN, cur);
		hex(m.vault_id, KS_VAULT_ID_LEN, want);
		r = kmc_detail(KMC_E_WRONG_VAULT, "%s is a backup of vault %s, "
			"but %s holds vault %s; restore never replaces another "
			"vault", from, want, dir, cur);
	}
	if (r == 0 && !found)
		r = restore_target_ok(dirfd, dir);
	if (r < 0)
		goto fail;
	kmc_detail_clear();
	info.replaced_generation = found ? gen : 0;

	staged = 1;
	r = restore_stage(dirfd, bfd, from, &m);
	if (r == 0)
		r = verify_staged(dir, from, opts, &info);
	/* The verifying open made a reader table in the stage: not moved. */
	if (r == 0) {
		show_path(path, sizeof(path), RESTORE_STAGE_NAME, STORE_LOCK_NAME);
		if (unlinkat(dirfd, path, 0) < 0 && errno != ENOENT)
			r = -errno;
	}
	if (r < 0)
		goto fail;

	hex(m.vault_id, KS_VAULT_ID_LEN, want);
	len = (size_t)snprintf(mark, sizeof(mark), "kmcvault-restore 1\n"
		"vault_id %s\ngeneration %" PRIu64 "\n", want, m.generation);
	r = kmc_write_atomic_ex(dirfd, RESTORE_MARK_NAME, mark, len, 0600, 0,
		&published);
	if (r < 0 && !published)
		goto fail;
	/* The commit point is passed: from here on, forward only. */
	r = restore_apply(dirfd, dir);
	if (r < 0)
		return kmc_detail(KMC_E_PENDING, "%s: the restore is committed "
			"but not finished (%s); kmc repair finishes it", dir,
			kmc_error_detail());
	if (ret)
		*ret = info;
	return 0;

fail:
	if (staged)
		remove_built(dirfd, RESTORE_STAGE_NAME);
	if (created)
		(void)rmdir(dir);
	if (!kmc_error_detail()[0])
		kmc_detail(r, "restoring %s into %s: %s; nothing was changed",
			from, dir, kmc_strerror(r));
	return r;
}
