/*
 * kspair.c - the two keystore files, kmc.ks and StandbyKsf.ks: reading
 * both, ranking them, telling which one the item store names, and writing
 * the next generation to both.
 *
 * Keystores are written one after the other, master first, each by
 * write-temp, fsync, rename, fsync-directory. A crash leaves at worst one
 * file newer than the other; the opener takes the newest whose checksum
 * holds and whose MAC verifies once the root key is known, and a writable
 * open rewrites the twin from it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "vault.h"
#include "bind.h"
#include "audit.h"
#include "../safeio/fileio.h"

static const kmc_file_rule ks_rule = {
	.forbidden = 077,
	.max_size = KS_FILE_MAX,
	.allow_root_owner = 0,
};

/* ---------------------------------------------------------------- */
/* Keystore files                                                    */

void ks_file_free(ks_file *f)
{
	free(f->raw);
	free(f->ks);
	f->raw = NULL;
	f->ks = NULL;
}

/* A keystore over KS_FILE_MAX bytes: damaged, unless its header says a
   newer kmcvault wrote it (a newer format may be larger), which must
   never be taken for damage its older twin would repair. Only the
   header is read, from the file opened under the same rule. */
static int ks_file_too_large(int dirfd, ks_file *f)
{
	kmc_file_rule any_size = ks_rule;
	_cleanup_(kmc_closep) int fd = -1;
	uint8_t head[10];
	struct stat st;
	uint16_t v;
	ssize_t n;

	kmc_detail_clear();
	f->state = KMC_KS_DAMAGED;
	f->err = KMC_E_CORRUPT;
	any_size.max_size = SIZE_MAX;
	fd = kmc_open_checked(dirfd, f->name, f->show, &any_size, &st);
	if (fd < 0) {
		kmc_detail_clear();
		return 0;
	}
	do
		n = pread(fd, head, sizeof(head), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(head) || memcmp(head, KS_MAGIC, 8) != 0)
		return 0;
	v = (uint16_t)(head[8] << 8 | head[9]);
	if (v <= KS_FORMAT_VERSION)
		return 0;
	/* What ks_newer_error() names. */
	f->ks = calloc(1, sizeof(*f->ks));
	KMC_ENSURE(f->ks, KMC_E_NOMEM);
	f->ks->format_version = v;
	f->err = KMC_E_VERSION;
	return 0;
}

/* Read and parse one keystore; only I/O faults are returned as errors. */
static int ks_file_load(int dirfd, const char *dir, ks_file *f)
{
	int r;

	snprintf(f->show, sizeof(f->show), "%s/%s", dir, f->name);
	r = kmc_read_checked(dirfd, f->name, f->show, &ks_rule, &f->raw,
		&f->len);
	if (r == -ENOENT) {
		/* Expected while a twin is being repaired: no detail left. */
		kmc_detail_clear();
		f->state = KMC_KS_MISSING;
		return 0;
	}
	if (r == KMC_E_PERM) {
		f->state = KMC_KS_UNSAFE;
		f->err = r;
		return 0;
	}
	if (r == KMC_E_TOO_LARGE)
		return ks_file_too_large(dirfd, f);
	KMC_GUARD(r);
	/* Not cleared: ks_parse_used() fills what the file holds. */
	f->ks = malloc(sizeof(*f->ks));
	KMC_ENSURE(f->ks, KMC_E_NOMEM);
	r = ks_parse_used(f->raw, f->len, f->ks);
	if (r < 0) {
		f->state = KMC_KS_DAMAGED;
		f->err = r;
		return 0;
	}
	f->state = KMC_KS_OK;
	return 0;
}

int ks_valid(const ks_file *f)
{
	return f->state == KMC_KS_OK || f->state == KMC_KS_STALE;
}

#define VAULT_ID_HEX (2 * KS_VAULT_ID_LEN + 1)

/* Does the item store record vault_id? 0, KMC_E_WRONG_VAULT, or why not. */
static int store_says(int dirfd, const char *dir,
	const uint8_t vault_id[KS_VAULT_ID_LEN])
{
	store st;
	int r;

	kmc_detail_clear();
	r = store_open(&st, dir, dirfd, STORE_OPEN, vault_id);
	if (r == 0)
		store_close(&st);
	return r;
}

/*
 * Twins of two vault ids: one was copied in from another vault, and as
 * every root vault on a host shares the host key, it may even open. Its
 * own word (being kmc.ks, or of a higher generation) counts for nothing:
 * the item store records this vault's id and decides. A foreign file is
 * marked and never a candidate, so nothing is ever repaired from it.
 */
static int ks_pick_vault(int dirfd, const char *dir, ks_file f[2])
{
	char id0[VAULT_ID_HEX], id1[VAULT_ID_HEX], why[256];
	int r0, r1;

	vault_hex(f[0].ks->vault_id, KS_VAULT_ID_LEN, id0);
	vault_hex(f[1].ks->vault_id, KS_VAULT_ID_LEN, id1);
	r0 = store_says(dirfd, dir, f[0].ks->vault_id);
	r1 = r0 == 0 ? KMC_E_WRONG_VAULT :
		store_says(dirfd, dir, f[1].ks->vault_id);
	if (r0 == 0 || r1 == 0) {
		ks_file *foreign = &f[r0 == 0 ? 1 : 0];

		kmc_detail_clear();
		foreign->state = KMC_KS_FOREIGN;
		foreign->err = KMC_E_WRONG_VAULT;
		return 0;
	}
	if (r0 == KMC_E_WRONG_VAULT && r1 == KMC_E_WRONG_VAULT) {
		f[0].state = f[1].state = KMC_KS_FOREIGN;
		f[0].err = f[1].err = KMC_E_WRONG_VAULT;
		return kmc_detail(KMC_E_WRONG_VAULT, "%s (vault id %s) and "
			"%s (vault id %s) both belong to other vaults than "
			"%s/%s; move both out of %s (each may still open its "
			"vault's kmc: strings), then put this vault's back "
			"with kmc restore", f[0].show, id0, f[1].show, id1, dir,
			STORE_NAME, dir);
	}
	/* The store cannot say: guess nothing, write nothing. */
	r0 = r0 != KMC_E_WRONG_VAULT ? r0 : r1;
	snprintf(why, sizeof(why), "%s", kmc_error_detail()[0] ?
		kmc_error_detail() : kmc_strerror(r0));
	return kmc_detail(r0, "%s (vault id %s) and %s (vault id %s) belong "
		"to different vaults, and %s/%s, which says which is this "
		"one's, cannot be read (%s)", f[0].show, id0, f[1].show, id1,
		dir, STORE_NAME, why);
}

/* Rank the valid files newest first; an older one that differs is stale. */
int ks_rank(ks_file f[2], int order[2])
{
	int n = 0;

	if (ks_valid(&f[0]) && ks_valid(&f[1])) {
		int newer = f[1].ks->generation > f[0].ks->generation;

		order[0] = newer;
		order[1] = !newer;
		n = 2;
		f[0].state = f[1].state = KMC_KS_OK;
		if (f[0].len != f[1].len ||
		    memcmp(f[0].raw, f[1].raw, f[0].len) != 0)
			f[order[1]].state = KMC_KS_STALE;
	} else {
		for (int i = 0; i < 2; i++)
			if (ks_valid(&f[i])) {
				f[i].state = KMC_KS_OK;
				order[n++] = i;
			}
	}
	return n;
}

static int ks_newer_error(const ks_file *f)
{
	if (f->ks->format_version != KS_FORMAT_VERSION)
		return kmc_detail(KMC_E_VERSION, "%s has keystore format "
			"version %u, and this kmc reads version %u only: a newer "
			"kmcvault wrote it, so open the vault with that one; "
			"nothing was changed", f->show,
			(unsigned)f->ks->format_version, KS_FORMAT_VERSION);
	return kmc_detail(KMC_E_VERSION, "%s has keystore flags that this "
		"kmc (format version %u) does not know: a newer kmcvault wrote "
		"it, so open the vault with that one; nothing was changed",
		f->show, KS_FORMAT_VERSION);
}

/*
 * Load both keystores and rank them: *ret_order lists the valid ones,
 * newest first. Twins of two vault ids are told apart by the item store
 * (ks_pick_vault); the candidates left all carry one vault id, which the
 * caller still checks against the store before writing anything.
 */
int ks_load_pair(int dirfd, const char *dir, ks_file f[2],
	int order[2], int *ret_n)
{
	f[0].name = KS_MASTER_NAME;
	f[1].name = KS_STANDBY_NAME;
	for (int i = 0; i < 2; i++)
		KMC_GUARD(ks_file_load(dirfd, dir, &f[i]));
	/* A newer kmcvault wrote one: its twin, older, must never take its
	   place, so nothing opens (and nothing is repaired) here. */
	for (int i = 0; i < 2; i++)
		if (f[i].err == KMC_E_VERSION)
			return ks_newer_error(&f[i]);
	if (ks_valid(&f[0]) && ks_valid(&f[1]) &&
	    memcmp(f[0].ks->vault_id, f[1].ks->vault_id, KS_VAULT_ID_LEN) != 0)
		KMC_GUARD(ks_pick_vault(dirfd, dir, f));
	*ret_n = ks_rank(f, order);
	return 0;
}

/*
 * Open the item store for the candidates' vault id; when it records
 * another, say which keystores it disagrees with. One of the two sides
 * was copied in, and nothing tells which: name both.
 */
int ks_store_open(store *st, int dirfd, const char *dir,
	const ks_file f[2], const int order[2], int n)
{
	const ks_file *k = &f[order[0]];
	char id[VAULT_ID_HEX];
	int r;

	kmc_detail_clear();
	r = store_open(st, dir, dirfd, STORE_OPEN, k->ks->vault_id);
	if (r == KMC_E_WRONG_VAULT) {
		vault_hex(k->ks->vault_id, KS_VAULT_ID_LEN, id);
		if (n == 2)
			return kmc_detail(r, "%s/%s belongs to another vault "
				"than %s and %s (vault id %s)", dir, STORE_NAME,
				f[0].show, f[1].show, id);
		return kmc_detail(r, "%s/%s belongs to another vault than %s "
			"(vault id %s)%s", dir, STORE_NAME, k->show, id,
			f[!order[0]].state == KMC_KS_MISSING ? "" :
			"; the twin cannot be used either");
	}
	if (r == KMC_E_VERSION && kmc_error_detail()[0]) {
		char why[256];

		snprintf(why, sizeof(why), "%s", kmc_error_detail());
		return kmc_detail(r, "%s/%s %s; nothing was changed", dir,
			STORE_NAME, why);
	}
	if (r < 0 && !kmc_error_detail()[0])
		return kmc_detail(r, "%s/%s: %s", dir, STORE_NAME,
			kmc_strerror(r));
	return r;
}

/* The error for "no keystore could be used", with its detail. */
int ks_pair_error(int dirfd, const char *dir, ks_file f[2])
{
	for (int i = 0; i < 2; i++)
		if (f[i].state == KMC_KS_UNSAFE) {
			/* Re-read for the detail the first failure set. */
			uint8_t *raw;
			size_t len;
			int r = kmc_read_checked(dirfd, f[i].name, f[i].show,
				&ks_rule, &raw, &len);

			if (r == 0)
				free(raw);
			return KMC_E_PERM;
		}
	if (f[0].state == KMC_KS_MISSING && f[1].state == KMC_KS_MISSING) {
		if (faccessat(dirfd, STORE_NAME, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			return kmc_detail(KMC_E_NOT_VAULT, "%s holds no vault "
				"(kmc init makes one)", dir);
		return kmc_detail(KMC_E_NO_KEYSTORE, "%s: both kmc.ks and "
			"StandbyKsf.ks are missing", dir);
	}
	if (f[0].err == KMC_E_VERSION || f[1].err == KMC_E_VERSION)
		return kmc_detail(KMC_E_VERSION, "%s: the keystore was written "
			"by a newer kmcvault", dir);
	return kmc_detail(KMC_E_NO_KEYSTORE, "%s: kmc.ks is %s and "
		"StandbyKsf.ks is %s; restore one from a backup", dir,
		kmc_keystore_state_name(f[0].state),
		kmc_keystore_state_name(f[1].state));
}

int vault_peek(int dirfd, const char *dir, uint8_t id[KS_VAULT_ID_LEN],
	uint64_t *ret_generation, int *ret_found)
{
	ks_file f[2] = { 0 };
	int order[2], n, r;

	r = ks_load_pair(dirfd, dir, f, order, &n);
	if (r == 0) {
		*ret_found = n > 0;
		if (n > 0) {
			memcpy(id, f[order[0]].ks->vault_id, KS_VAULT_ID_LEN);
			*ret_generation = f[order[0]].ks->generation;
		}
	}
	ks_file_free(&f[0]);
	ks_file_free(&f[1]);
	return r;
}

int vault_peek_mk_max(int dirfd, const char *dir, uint32_t *ret_max)
{
	ks_file f[2] = { 0 };
	int order[2], n, r;

	*ret_max = 0;
	r = ks_load_pair(dirfd, dir, f, order, &n);
	if (r == 0 && n > 0) {
		const keystore *ks = f[order[0]].ks;

		for (size_t i = 0; i < ks->n_mks; i++)
			if (ks->mks[i].id > *ret_max)
				*ret_max = ks->mks[i].id;
	}
	ks_file_free(&f[0]);
	ks_file_free(&f[1]);
	return r;
}

/*
 * Write next as the keystore's next generation: kmc.ks first, then
 * StandbyKsf.ks, each by write-temp, fsync, rename, fsync-directory. Once
 * kmc.ks is renamed the change has happened: a crash before the twin is
 * written leaves kmc.ks the newer one, which the next writable open
 * copies to StandbyKsf.ks.
 */
int vault_ks_commit(kmc_vault *v, keystore *next, int *ret_committed)
{
	_cleanup_(freep) uint8_t *raw = NULL;
	store_txn t;
	size_t len;
	int r, published;

	*ret_committed = 0;
	next->generation = v->ks->generation + 1;
	KMC_GUARD(ks_serialize(next, kmc_secret_data(v->rk), &raw, &len));
	/* The record first: a change that cannot be recorded is not made. */
	KMC_GUARD(audit_keystore(v, 0, next->generation, 0));
	/* The binding first names the keystore to come: an open after a
	   crash accepts either. */
	r = bind_on_keystore(v, STORE_PREPARE, next->generation, raw, len);
	if (r < 0) {
		char d[512];

		snprintf(d, sizeof(d), "%s", kmc_error_detail()[0] ?
			kmc_error_detail() : kmc_strerror(r));
		return kmc_detail(r, "%s; nothing changed", d);
	}
	r = kmc_write_atomic_ex(v->dirfd, KS_MASTER_NAME, raw, len, 0600, 0,
		&published);
	if (r < 0 && !published) {
		r = kmc_detail(r, "writing %s/" KS_MASTER_NAME ": %s; nothing "
			"changed", v->dir, kmc_strerror(r));
		(void)audit_keystore(v, 1, next->generation, r);
		return r;
	}
	(void)audit_keystore(v, 1, next->generation, 0);
	/* Once kmc.ks carries the new generation, the change has happened. */
	memcpy(v->ks, next, sizeof(*next));
	*ret_committed = 1;
	(void)bind_on_keystore(v, STORE_COMMITTED, next->generation, raw, len);
	if (r == 0)
		r = kmc_write_atomic(v->dirfd, KS_STANDBY_NAME, raw, len, 0600, 0);
	if (r < 0)
		return kmc_detail(KMC_E_PENDING, "writing the keystores of %s: "
			"%s; the change is in kmc.ks, and `kmc repair` makes it "
			"whole", v->dir, kmc_strerror(r));
	/*
	 * Tell servers polling kmc_vault_generation(). Best effort: the
	 * change is made, and no server's key depends on a protector.
	 */
	if (store_txn_begin(&v->st, &t) == 0 && store_txn_commit(&t) < 0)
		kmc_detail_clear();
	return 0;
}

const char *kmc_keystore_state_name(kmc_keystore_state state)
{
	switch (state) {
	case KMC_KS_OK:
		return "ok";
	case KMC_KS_MISSING:
		return "missing";
	case KMC_KS_STALE:
		return "stale";
	case KMC_KS_DAMAGED:
		return "damaged";
	case KMC_KS_UNSAFE:
		return "unsafe";
	case KMC_KS_FOREIGN:
		return "foreign";
	case KMC_KS_UNVERIFIED:
		return "unverified";
	}
	return "unknown";
}
