/*
 * journal.c - the intent log that makes a change across the vault, the
 * keys folder and a config file all or nothing (steps in journal.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "journal.h"
#include "../kmc/buf.h"
#include "../safeio/fileio.h"

#define JOURNAL_KEY "journal"
/* The highest version read; 1 is written when no JOURNAL_NEW entry
   needs 2, nor a JOURNAL_NEW_OWN entry 3. */
#define JOURNAL_VERSION 3
#define STATE_STAGED 1
#define STATE_COMMITTED 2
#define STAGED_SUFFIX ".kmc-new"

static int name_ok(const char *name, size_t n)
{
	return n >= 1 && n <= 200 && !memchr(name, '/', n) &&
		!memchr(name, '\0', n) && !(n == 1 && name[0] == '.') &&
		!(n == 2 && name[0] == '.' && name[1] == '.');
}

int journal_is_newer(const uint8_t *raw, size_t len)
{
	return len > 0 && raw[0] > JOURNAL_VERSION;
}

int journal_staged_name(const journal_entry *e, char *buf, size_t size)
{
	char tag[2 * JOURNAL_TAG_LEN + 2] = "";
	int n;

	if (e->kind == JOURNAL_NEW_OWN) {
		tag[0] = '.';
		vault_hex(e->tag, JOURNAL_TAG_LEN, tag + 1);
	}
	n = snprintf(buf, size, ".%s%s" STAGED_SUFFIX, e->name, tag);

	KMC_ENSURE(n > 0 && (size_t)n < size, KMC_E_TOO_LARGE);
	return 0;
}

int journal_add(journal *j, journal_kind kind, const char *dir,
	const char *name)
{
	journal_entry *e;

	KMC_ENSURE(j->n < JOURNAL_MAX_ENTRIES, KMC_E_LIMIT);
	KMC_ENSURE(dir[0] == '/' && strlen(dir) <= JOURNAL_DIR_MAX,
		KMC_E_INVALID);
	KMC_ENSURE(name_ok(name, strlen(name)), KMC_E_INVALID);
	e = &j->e[j->n++];
	e->kind = kind;
	snprintf(e->dir, sizeof(e->dir), "%s", dir);
	snprintf(e->name, sizeof(e->name), "%s", name);
	if (kind == JOURNAL_NEW_OWN)
		randombytes_buf(e->tag, sizeof(e->tag));
	return 0;
}

/* 1, 2 or 3: the least version that holds j's kinds (one encoding). */
static int journal_version_of(const journal *j)
{
	int version = 1;

	for (size_t i = 0; i < j->n; i++) {
		if (j->e[i].kind == JOURNAL_NEW_OWN)
			version = 3;
		else if (j->e[i].kind == JOURNAL_NEW && version < 2)
			version = 2;
	}
	return version;
}

int journal_encode(const journal *j, int state, uint8_t **ret,
	size_t *ret_len)
{
	kmc_wbuf b = KMC_WBUF(JOURNAL_MAX_ENTRIES * (JOURNAL_DIR_MAX + 270) + 8);

	kmc_wbuf_u8(&b, (uint8_t)journal_version_of(j));
	kmc_wbuf_u8(&b, (uint8_t)state);
	kmc_wbuf_u8(&b, (uint8_t)j->n);
	for (size_t i = 0; i < j->n; i++) {
		const journal_entry *e = &j->e[i];

		kmc_wbuf_u8(&b, (uint8_t)e->kind);
		kmc_wbuf_u16(&b, (uint16_t)strlen(e->dir));
		kmc_wbuf_bytes(&b, e->dir, strlen(e->dir));
		kmc_wbuf_u8(&b, (uint8_t)strlen(e->name));
		kmc_wbuf_bytes(&b, e->name, strlen(e->name));
		if (e->kind == JOURNAL_NEW_OWN)
			kmc_wbuf_bytes(&b, e->tag, sizeof(e->tag));
	}
	if (b.err) {
		int r = b.err;

		kmc_wbuf_free(&b);
		return r;
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}

int journal_parse(const uint8_t *p, size_t len, int *ret_state, journal *j)
{
	kmc_rbuf b = KMC_RBUF(p, len);
	static const uint8_t max_kind[] = { 0, JOURNAL_REMOVE, JOURNAL_NEW,
		JOURNAL_NEW_OWN };
	uint8_t version, state, n;

	memset(j, 0, sizeof(*j));
	KMC_GUARD(kmc_rbuf_u8(&b, &version));
	KMC_ENSURE(version >= 1 && version <= JOURNAL_VERSION, KMC_E_VERSION);
	KMC_GUARD(kmc_rbuf_u8(&b, &state));
	KMC_ENSURE(state == STATE_STAGED || state == STATE_COMMITTED,
		KMC_E_CORRUPT);
	KMC_GUARD(kmc_rbuf_u8(&b, &n));
	KMC_ENSURE(n >= 1 && n <= JOURNAL_MAX_ENTRIES, KMC_E_CORRUPT);
	for (size_t i = 0; i < n; i++) {
		journal_entry *e = &j->e[i];
		const uint8_t *s;
		uint16_t dlen;
		uint8_t kind, nlen;

		KMC_GUARD(kmc_rbuf_u8(&b, &kind));
		KMC_ENSURE(kind >= JOURNAL_FILE && kind <= max_kind[version],
			KMC_E_CORRUPT);
		e->kind = (journal_kind)kind;
		KMC_GUARD(kmc_rbuf_u16(&b, &dlen));
		KMC_ENSURE(dlen >= 1 && dlen <= JOURNAL_DIR_MAX, KMC_E_CORRUPT);
		KMC_GUARD(kmc_rbuf_bytes(&b, dlen, &s));
		KMC_ENSURE(s[0] == '/' && !memchr(s, '\0', dlen), KMC_E_CORRUPT);
		memcpy(e->dir, s, dlen);
		e->dir[dlen] = '\0';
		KMC_GUARD(kmc_rbuf_u8(&b, &nlen));
		KMC_GUARD(kmc_rbuf_bytes(&b, nlen, &s));
		KMC_ENSURE(name_ok((const char *)s, nlen), KMC_E_CORRUPT);
		memcpy(e->name, s, nlen);
		e->name[nlen] = '\0';
		if (kind == JOURNAL_NEW_OWN) {
			KMC_GUARD(kmc_rbuf_bytes(&b, JOURNAL_TAG_LEN, &s));
			memcpy(e->tag, s, JOURNAL_TAG_LEN);
		}
	}
	KMC_ENSURE(kmc_rbuf_left(&b) == 0, KMC_E_CORRUPT);
	j->n = n;
	/* One encoding for each journal: version 2 or 3 only when it needs
	   it. */
	if (journal_version_of(j) != version) {
		memset(j, 0, sizeof(*j));
		return KMC_E_CORRUPT;
	}
	*ret_state = state;
	return 0;
}

static int journal_store(kmc_vault *v, store_txn *t, const journal *j,
	int state)
{
	_cleanup_(freep) uint8_t *raw = NULL;
	size_t len;

	(void)v;
	KMC_GUARD(journal_encode(j, state, &raw, &len));
	return store_txn_meta_put(t, JOURNAL_KEY, raw, len);
}

int journal_begin(kmc_vault *v, const journal *j)
{
	store_txn t;
	int r;

	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = journal_store(v, &t, j, STATE_STAGED);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

int journal_mark_committed(store_txn *t, const journal *j)
{
	return journal_store(NULL, t, j, STATE_COMMITTED);
}

static int open_dir_nofollow(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* The names a staged folder may hold: what an import writes there. */
static void remove_staged_folder(int dirfd, const char *staged)
{
	int fd = openat(dirfd, staged, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		O_CLOEXEC);

	if (fd >= 0) {
		DIR *d = fdopendir(fd);
		struct dirent *de;

		if (d) {
			while ((de = readdir(d)))
				if (de->d_name[0] != '.' || strstr(de->d_name,
						".tmp-"))
					(void)unlinkat(fd, de->d_name, 0);
			closedir(d);
		} else {
			close(fd);
		}
	}
	(void)unlinkat(dirfd, staged, AT_REMOVEDIR);
}

void journal_abort(kmc_vault *v, const journal *j)
{
	for (size_t i = 0; i < j->n; i++) {
		const journal_entry *e = &j->e[i];
		char staged[300];
		int dirfd;

		if (e->kind == JOURNAL_REMOVE ||
		    journal_staged_name(e, staged, sizeof(staged)) < 0)
			continue;
		dirfd = open_dir_nofollow(e->dir);
		if (dirfd < 0)
			continue;
		if (e->kind == JOURNAL_FOLDER)
			remove_staged_folder(dirfd, staged);
		else
			(void)unlinkat(dirfd, staged, 0);
		(void)fsync(dirfd);
		close(dirfd);
	}
	journal_forget(v);
}

void journal_forget(kmc_vault *v)
{
	store_txn t;

	/* If this fails too, the next writable open undoes it again. */
	if (store_txn_begin(&v->st, &t) == 0) {
		if (store_txn_meta_del(&t, JOURNAL_KEY) < 0 ||
		    store_txn_commit(&t) < 0)
			store_txn_abort(&t);
	}
}

#define APPLY_KEPT 1	/* a JOURNAL_NEW target was there already, stays */
#define APPLY_LOST 2	/* a JOURNAL_NEW target's folder is gone */

/* *ret_state: 0, or APPLY_KEPT or APPLY_LOST for a JOURNAL_NEW entry. */
static int apply_one(const journal_entry *e, int *ret_state)
{
	char staged[300];
	int dirfd, r = 0;

	KMC_GUARD(journal_staged_name(e, staged, sizeof(staged)));
	dirfd = open_dir_nofollow(e->dir);
	/* A new file's folder is the user's (kmc ca crl --out), removed
	   since, say, with a script's temporary folder: the staged file
	   went with it and there is nothing left to put in place. Failing
	   instead would fail every writable open until the folder is made
	   again. The vault's own folders (keys, config) never pass. */
	if ((e->kind == JOURNAL_NEW || e->kind == JOURNAL_NEW_OWN) &&
	    (dirfd == -ENOENT || dirfd == -ENOTDIR)) {
		*ret_state = APPLY_LOST;
		return 0;
	}
	if (dirfd < 0)
		return kmc_detail(dirfd, "%s: %s", e->dir, kmc_strerror(dirfd));
	if (e->kind == JOURNAL_REMOVE) {
		if (unlinkat(dirfd, e->name, 0) < 0 && errno != ENOENT)
			r = -errno;
	} else if (e->kind == JOURNAL_NEW || e->kind == JOURNAL_NEW_OWN) {
		/* Atomic: no window in which a file made at the name since
		   the caller looked is replaced. A staged file still there
		   beside an existing target was never renamed (a rename
		   leaves no staged file), so the target is another's; or,
		   where the file system takes a link for the rename, a kill
		   came between the link and the staged name's removal, and
		   the target is this file. Either way the staged name goes. */
		r = kmc_rename_noreplace(dirfd, staged, dirfd, e->name);
		if (r == -EEXIST) {
			*ret_state = APPLY_KEPT;
			r = 0;
			if (unlinkat(dirfd, staged, 0) < 0 && errno != ENOENT)
				r = -errno;
		} else if (r == -ENOENT) {
			r = 0;
		}
	} else if (renameat(dirfd, staged, dirfd, e->name) < 0) {
		/* Gone already: an earlier run of this got that far. */
		if (errno != ENOENT)
			r = -errno;
	}
	if (r == 0 && fsync(dirfd) < 0)
		r = -errno;
	close(dirfd);
	if (r < 0)
		return kmc_detail(r, "%s/%s: %s", e->dir, e->name,
			kmc_strerror(r));
	return 0;
}

int journal_apply(kmc_vault *v, const journal *j)
{
	const journal_entry *kept = NULL, *lost = NULL;
	store_txn t;
	int r;

	for (size_t i = 0; i < j->n; i++) {
		int k = 0;

		KMC_GUARD(apply_one(&j->e[i], &k));
		if (k == APPLY_KEPT && !kept)
			kept = &j->e[i];
		if (k == APPLY_LOST && !lost)
			lost = &j->e[i];
	}
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = store_txn_meta_del(&t, JOURNAL_KEY);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	KMC_GUARD(store_txn_commit(&t));
	if (kept)
		return kmc_detail(KMC_E_EXISTS, "%s/%s appeared while kmc wrote "
			"it and was left as it is", kept->dir, kept->name);
	if (lost)
		return kmc_detail(KMC_E_NOT_FOUND, "%s/%s: its folder is gone, "
			"so it was not written", lost->dir, lost->name);
	return 0;
}

int journal_recover(kmc_vault *v)
{
	_cleanup_(freep) uint8_t *raw = NULL;
	_cleanup_(freep) journal *j = NULL;
	size_t len;
	int state, r;

	r = store_meta_get(&v->st, JOURNAL_KEY, &raw, &len);
	if (r == KMC_E_NOT_FOUND)
		return 0;
	KMC_GUARD(r);
	j = malloc(sizeof(*j));
	KMC_ENSURE(j, KMC_E_NOMEM);
	r = journal_parse(raw, len, &state, j);
	if (r == KMC_E_VERSION && raw[0] > JOURNAL_VERSION)
		return kmc_detail(r, "%s/items.mdb: the journal of an unfinished "
			"change has version %u, and this kmc reads versions 1 "
			"to %u only: a newer kmcvault made the change, so "
			"finish it with that one (kmc repair); nothing was "
			"changed", v->dir,
			(unsigned)raw[0], JOURNAL_VERSION);
	if (r < 0)
		return kmc_detail(r, "%s/items.mdb: the journal of an unfinished "
			"change is damaged", v->dir);
	if (state == STATE_STAGED) {
		journal_abort(v, j);
		return 0;
	}
	/* A new file that found its name taken, or its folder gone, is
	   done with: the file there stays, and the command that wanted it
	   is long gone. */
	r = journal_apply(v, j);
	if (r == KMC_E_EXISTS || r == KMC_E_NOT_FOUND) {
		kmc_detail_clear();
		r = 0;
	}
	return r;
}
