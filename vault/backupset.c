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

/* Read to more than this format's limit, which manifest_parse() holds it
   to once its version is known to be this one: a newer manifest may be
   longer, and is refused as newer, not as damaged. */
const kmc_file_rule backup_manifest_rule = {
	.forbidden = 077,
	.max_size = 16 * BACKUP_MANIFEST_MAX,
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
 * Kept beside kmc_write_atomic(), which takes the bytes in memory: these
 * stream into the temporary (an LMDB copy, a file read in chunks).
 *
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
	/* Where the file system refuses RENAME_NOREPLACE (NFS), a link. */
	if (r == 0)
		r = kmc_rename_noreplace(dirfd, tmp, dirfd, name);
	if (r == -EEXIST)
		r = KMC_E_EXISTS;
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
	uint64_t items, generation;
	int journal;
} store_facts;

/* The facts of the item store in dirfd (show in messages) of vault_id: a
 * backup's or one being staged, opened as store.c opens every store (its
 * meta pages checked before LMDB maps it), but read-only and without a
 * lock file. */
static int store_peek(int dirfd, const char *show,
	const uint8_t vault_id[KS_VAULT_ID_LEN], store_facts *ret)
{
	_cleanup_(freep) uint8_t *j = NULL;
	size_t jlen;
	store st;
	int r;

	memset(ret, 0, sizeof(*ret));
	KMC_GUARD(store_open(&st, show, dirfd, STORE_PEEK, vault_id));
	r = store_stat(&st, &ret->items, &ret->generation);
	if (r == 0) {
		r = store_meta_get(&st, "journal", &j, &jlen);
		ret->journal = r == 0;
		if (r == KMC_E_NOT_FOUND)
			r = 0;
	}
	store_close(&st);
	return r;
}

/* The folder dirfd (called show in messages) holds exactly what m says:
 * every byte, and a keystore pair and item store that belong together. */
int backup_check_set(int dirfd, const char *show, const backup_manifest *m)
{
	_cleanup_(freep) uint8_t *raw0 = NULL;
	_cleanup_(freep) uint8_t *raw1 = NULL;
	uint8_t **ks_raw[2] = { &raw0, &raw1 };
	_cleanup_(freep) keystore *ks = NULL;
	char path[PATH_MAX + 64];
	size_t ks_len[2];
	store_facts sf;
	int r;

	/* The keystores are read once: the bytes hashed against the
	   manifest are the bytes parsed, not a second read of a file that
	   may have changed in between. */
	for (size_t i = 0; i < BACKUP_FILES; i++) {
		uint8_t h[KMC_HASH_LEN];
		uint64_t size;

		backup_show_path(path, sizeof(path), show, backup_file_names[i]);
		if (i < 2) {
			kmc_hash_state hs;

			r = kmc_read_checked(dirfd, backup_file_names[i], path,
				&backup_ks_rule, ks_raw[i], &ks_len[i]);
			if (r == -ENOENT)
				return kmc_detail(KMC_E_CORRUPT, "%s is missing",
					path);
			KMC_GUARD(r);
			kmc_hash_init(&hs);
			kmc_hash_update(&hs, *ks_raw[i], ks_len[i]);
			kmc_hash_final(&hs, h);
			size = ks_len[i];
		} else {
			_cleanup_(kmc_closep) int fd = -1;
			struct stat st;

			fd = kmc_open_checked(dirfd, backup_file_names[i], path,
				backup_file_rule(i), &st);
			if (fd == -ENOENT)
				return kmc_detail(KMC_E_CORRUPT, "%s is missing",
					path);
			KMC_GUARD(fd);
			r = backup_hash_fd(fd, &size, h);
			if (r < 0)
				return kmc_detail(r, "%s: %s", path,
					kmc_strerror(r));
		}
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
		r = ks_parse(*ks_raw[i], ks_len[i], ks);
		if (r == KMC_E_VERSION)
			return kmc_detail(r, "%s has keystore format version "
				"%u, and this kmc reads version %u only: a newer "
				"kmcvault wrote it", path,
				(unsigned)ks->format_version, KS_FORMAT_VERSION);
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
	kmc_detail_clear();
	r = store_peek(dirfd, show, m->vault_id, &sf);
	if (r == KMC_E_WRONG_VAULT)
		return kmc_detail(KMC_E_WRONG_VAULT, "%s belongs to another vault "
			"than the keystores beside it", path);
	/* The meta check says what is wrong with which file: kept. */
	if (r < 0 && kmc_error_detail()[0])
		return r;
	if (r < 0)
		return kmc_detail(KMC_E_CORRUPT, "%s is not an item store this "
			"build can read", path);
	if (sf.items != m->items || sf.generation != m->store_generation)
		return kmc_detail(KMC_E_CORRUPT, "%s is not the item store the "
			"backup's manifest names", path);
	if (sf.journal)
		return kmc_detail(KMC_E_CORRUPT, "%s holds an unfinished change",
			path);
	return 0;
}

/* Remove a folder this file built: only the names it writes (a backup's
 * or a restore's stage), then the folder. */
void backup_remove_built(int parentfd, const char *name)
{
	static const char *const names[] = {
		KS_MASTER_NAME, KS_STANDBY_NAME, STORE_NAME, STORE_LOCK_NAME,
		BACKUP_MANIFEST_NAME,
	};

	kmc_remove_built(parentfd, name, names, ELEMENTSOF(names));
}
