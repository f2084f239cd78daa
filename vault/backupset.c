/*
 * backupset.c - the files of a backup set: atomic copies, hashes, and
 * checking a folder against a manifest; shared by backup and restore.
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

#define COPY_CHUNK (64u * 1024u)

const kmc_file_rule backup_ks_rule = {
	.forbidden = 077,
	.max_size = KS_FILE_MAX,
	.allow_root_owner = 0,
};

static const kmc_file_rule store_rule = {
	.forbidden = 077,
	.max_size = STORE_MAP_SIZE,
	.allow_root_owner = 0,
};

const kmc_file_rule backup_manifest_rule = {
	.forbidden = 077,
	.max_size = BACKUP_MANIFEST_MAX,
	.allow_root_owner = 0,
};

const kmc_file_rule *backup_file_rule(size_t i)
{
	return i == 2 ? &store_rule : &backup_ks_rule;
}

/* ---------------------------------------------------------------- */
/* Files                                                             */

void backup_show_path(char *buf, size_t size, const char *dir,
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
int backup_publish(int dirfd, int fd, const char *tmp, const char *name)
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

int backup_create_temp(int dirfd, const char *name, char *tmp, size_t size)
{
	int fd;

	KMC_GUARD(temp_name(name, tmp, size));
	fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		O_NOFOLLOW, 0600);
	return fd < 0 ? -errno : fd;
}

/* Copy all of srcfd into a new dirfd/name, written atomically. */
int backup_copy_file(int srcfd, int dirfd, const char *name)
{
	_cleanup_(freep) uint8_t *buf = NULL;
	char tmp[NAME_MAX + 1];
	int fd, r = 0;

	buf = malloc(COPY_CHUNK);
	KMC_ENSURE(buf, KMC_E_NOMEM);
	fd = backup_create_temp(dirfd, name, tmp, sizeof(tmp));
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
	return backup_publish(dirfd, fd, tmp, name);
}

/* Size and BLAKE2b-256 of what fd holds from offset 0. */
int backup_hash_fd(int fd, uint64_t *ret_size, uint8_t out[KMC_HASH_LEN])
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
int backup_check_set(int dirfd, const char *show, const backup_manifest *m)
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

		backup_show_path(path, sizeof(path), show, backup_file_names[i]);
		fd = kmc_open_checked(dirfd, backup_file_names[i], path,
			backup_file_rule(i), &st);
		if (fd == -ENOENT)
			return kmc_detail(KMC_E_CORRUPT, "%s is missing", path);
		KMC_GUARD(fd);
		r = backup_hash_fd(fd, &size, h);
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
		backup_show_path(path, sizeof(path), show, backup_file_names[i]);
		KMC_GUARD(kmc_read_checked(dirfd, backup_file_names[i], path,
			&backup_ks_rule, ks_raw[i], &ks_len[i]));
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
	backup_show_path(path, sizeof(path), show, STORE_NAME);
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
void backup_remove_built(int parentfd, const char *name)
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
