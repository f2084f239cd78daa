/*
 * trustcommit.c - one change to a trust store: its record and the
 * rewrite of every sync file it keeps (kmc trust sync) as one
 * transaction (vault/journal.h), as an import's copies are; and, after
 * kmc restore, the sync files brought back in line with the restored
 * stores.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "trust.h"
#include "journal.h"
#include "../safeio/fileio.h"
#include "audit.h"

/* A sync file: no link, nobody else may change it; a CA bundle is public,
   so any mode that keeps that. */
static const kmc_file_rule sync_file_rule = {
	.forbidden = 022,
	.max_size = 64u * 1024u * 1024u,
	.allow_root_owner = 1,
};

/* ---------------------------------------------------------------- */
/* One change: the record, and every sync file, all or nothing        */

typedef struct sync_plan {
	journal j;
	kmc_file_meta meta[KMC_TRUST_FILES_MAX];
	uint8_t *xattrs[KMC_TRUST_FILES_MAX];
} sync_plan;

static void sync_plan_free(sync_plan *s)
{
	for (size_t i = 0; i < KMC_TRUST_FILES_MAX; i++)
		free(s->xattrs[i]);
}

/* What each file is now: its metadata kept, or a new 0644 file. */
static int plan_file(sync_plan *s, const char *path)
{
	char dir[PATH_MAX];
	const char *base;
	_cleanup_(kmc_closep) int dirfd = -1;
	_cleanup_(kmc_closep) int fd = -1;
	size_t i = s->j.n;
	struct stat st;
	int r;

	import_split(path, dir, sizeof(dir), &base);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		return kmc_detail(r, "trust sync file %s: its folder: %s", path,
			kmc_strerror(r));
	}
	fd = kmc_open_checked(dirfd, base, path, &sync_file_rule, &st);
	if (fd == -ENOENT) {
		kmc_detail_clear();
		s->meta[i] = (kmc_file_meta){ 0644, (uid_t)-1, (gid_t)-1, NULL,
			0 };
	} else if (fd < 0) {
		if (!kmc_error_detail()[0])
			kmc_detail(fd, "trust sync file %s: %s", path,
				kmc_strerror(fd));
		return fd;
	} else {
		size_t xlen = 0;

		r = kmc_xattrs_get(fd, &s->xattrs[i], &xlen);
		if (r < 0)
			return kmc_detail(r, "%s: reading its extended "
				"attributes: %s", path, kmc_strerror(r));
		s->meta[i] = (kmc_file_meta){
			.mode = st.st_mode & 07777,
			.uid = st.st_uid == geteuid() ? (uid_t)-1 : st.st_uid,
			.gid = st.st_gid,
			.xattrs = s->xattrs[i],
			.xattrs_len = xlen,
		};
	}
	return journal_add(&s->j, JOURNAL_FILE, dir, base);
}

static int stage_files(const sync_plan *s, const char *pem, size_t len)
{
	for (size_t i = 0; i < s->j.n; i++) {
		const journal_entry *e = &s->j.e[i];
		_cleanup_(kmc_closep) int dirfd = -1;
		char staged[300];
		int r;

		KMC_GUARD(journal_staged_name(e, staged, sizeof(staged)));
		dirfd = open(e->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0) {
			r = -errno;
			return kmc_detail(r, "writing %s/%s: %s", e->dir,
				e->name, kmc_strerror(r));
		}
		r = kmc_write_new(dirfd, staged, pem, len, &s->meta[i]);
		if (r == -EPERM)
			return kmc_detail(r, "writing the new copy of %s/%s: "
				"operation not permitted (its folder must take a "
				"new file, and the copy the old one's owner, group "
				"and extended attributes)", e->dir, e->name);
		if (r < 0)
			return kmc_detail(r, "writing %s/%s: %s", e->dir, e->name,
				kmc_strerror(r));
		if (fsync(dirfd) < 0) {
			r = -errno;
			return kmc_detail(r, "writing %s/%s: syncing the folder "
				"%s: %s", e->dir, e->name, e->dir, kmc_strerror(r));
		}
	}
	return 0;
}

static int put_record(kmc_vault *v, const char *item, const uint8_t *rec,
	size_t len, const journal *j)
{
	store_txn t;
	int r;

	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = items_txn_put(v, &t, item, KMC_ITEM_TRUST, rec, len, 0);
	if (r == 0 && j->n > 0)
		r = journal_mark_committed(&t, j);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

/* Store t as item, and (with files) rewrite every sync file to match. */
int trust_commit(kmc_vault *v, const char *item, const trust_set *t,
	int files)
{
	_cleanup_(sync_plan_free) sync_plan s = { 0 };
	_cleanup_(freep) uint8_t *rec = NULL;
	_cleanup_(freep) char *pem = NULL;
	size_t len, pem_len = 0;
	int r;

	KMC_GUARD(trust_encode(t, &rec, &len));
	if (files) {
		KMC_GUARD(trust_to_pem(t, &pem, &pem_len));
		for (size_t i = 0; i < t->n_files; i++)
			KMC_GUARD(plan_file(&s, t->files[i]));
	}
	if (s.j.n > 0) {
		KMC_GUARD(journal_begin(v, &s.j));
		r = stage_files(&s, pem, pem_len);
		if (r == 0)
			r = put_record(v, item, rec, len, &s.j);
		if (r < 0) {
			char detail[1024];

			snprintf(detail, sizeof(detail), "%s", kmc_error_detail());
			journal_abort(v, &s.j);
			if (detail[0])
				kmc_detail(r, "%s", detail);
			return r;
		}
		r = journal_apply(v, &s.j);
		if (r < 0)
			return kmc_detail(KMC_E_PENDING, "the vault holds the new "
				"trust store, but rewriting its sync files failed "
				"(%s); `kmc repair` finishes it",
				kmc_error_detail()[0] ? kmc_error_detail() :
				kmc_strerror(r));
		return 0;
	}
	return put_record(v, item, rec, len, &s.j);
}


/* ---------------------------------------------------------------- */
/* After a restore                                                    */

/* Whether the sync file path holds exactly pem (a file that cannot be
   read safely does not: its rewrite says why). */
static int file_holds(const char *path, const char *pem, size_t len)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	_cleanup_(freep) uint8_t *raw = NULL;
	char dir[PATH_MAX];
	const char *base;
	size_t n;
	int r;

	import_split(path, dir, sizeof(dir), &base);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return 0;
	r = kmc_read_checked(dirfd, base, path, &sync_file_rule, &raw, &n);
	kmc_detail_clear();
	return r == 0 && n == len && memcmp(raw, pem, len) == 0;
}

/* One store: its files rewritten (write) when any of them differs from
   it; *ret_files counts those that did. */
static int resync_store(kmc_vault *v, const char *sname, int write,
	uint64_t *ret_files)
{
	trust_set *t = NULL;
	char item[KMC_NAME_MAX + 1], *pem = NULL;
	size_t len = 0, stale = 0;
	int r;

	r = trust_load(v, sname, &t);
	if (r == 0 && t->n_files > 0)
		r = trust_to_pem(t, &pem, &len);
	for (size_t i = 0; r == 0 && t->n_files > 0 && i < t->n_files; i++)
		stale += !file_holds(t->files[i], pem, len);
	if (r == 0 && stale && !write)
		*ret_files += stale;
	if (r == 0 && stale && write) {
		snprintf(item, sizeof(item), "%s%s", TRUST_ITEM_PREFIX, sname);
		r = trust_commit(v, item, t, 1);
		if (r == 0)
			*ret_files += stale;
	}
	free(pem);
	trust_set_free(t);
	return r;
}

int trust_resync(kmc_vault *v, int write, uint64_t *ret_files)
{
	AUDIT_OP(v, "kmc_vault_restore: trust sync files");
	trust_names s = { 0 };
	uint64_t n = 0;
	int r;

	r = trust_names_of(v, TRUST_ITEM_PREFIX, KMC_ITEM_TRUST, &s);
	for (size_t i = 0; r == 0 && i < s.n; i++) {
		r = resync_store(v, s.name[i], write, &n);
		/* A store removed meanwhile keeps no file. */
		if (r == KMC_E_NOT_FOUND) {
			kmc_detail_clear();
			r = 0;
		}
	}
	free(s.name);
	KMC_GUARD(r);
	*ret_files = n;
	return 0;
}
