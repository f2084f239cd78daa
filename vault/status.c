/*
 * status.c - kmc_vault_status(): what a vault folder holds, read without
 * a secret and without changing anything.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdlib.h>
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
#include "../safeio/fileio.h"
#include "protector.h"
#include "backup.h"
#include "bind.h"
#include "audit.h"
#include "tokenpending.h"
#include "journal.h"

/* ---------------------------------------------------------------- */
/* Status                                                            */

static int ks_shows_generation(const ks_file *f)
{
	return ks_valid(f) || f->state == KMC_KS_FOREIGN ||
		f->state == KMC_KS_UNVERIFIED;
}

/*
 * Status asks for no secret, yet a checksum anyone can recompute says
 * nothing of a forgery: check each valid keystore's MAC with a host
 * protector, the one kind that opens without a prompt or a token. A file
 * whose MAC fails is damaged; one nothing could check is unverified and
 * is ranked against nothing, since its generation is only its own word.
 * *ret_shown is the file to show: the newest verified, else the newest
 * unverified. Returns 0, KMC_E_NOMEM, or KMC_E_NO_KEYSTORE when every
 * valid one failed its MAC.
 */
static int ks_verify_quietly(const char *dir, ks_file f[2], int *ret_shown)
{
	char env_key[PATH_MAX];
	const char *host_key = NULL;
	int order[2], shown = -1;

	/* A $KMC_HOST_KEY that does not fit checks nothing: unverified. */
	if (vault_env_host_key(env_key, &host_key) < 0)
		kmc_detail_clear();

	for (int i = 0; i < 2; i++) {
		const keystore *ks = f[i].ks;
		int checked = 0;

		if (!ks_valid(&f[i]))
			continue;
		for (size_t j = 0; j < ks->n_slots && !checked; j++) {
			_cleanup_(kmc_secret_freep) kmc_secret *rk = NULL;
			int r;

			if (ks->slots[j].type != KMC_PROTECTOR_HOST)
				continue;
			/* The right host key that fails the slot: altered. */
			r = host_slot_unlock(ks->vault_id, &ks->slots[j],
				host_key, &rk, NULL);
			/* Out of memory is not "unverified": say it. */
			if (r == KMC_E_NOMEM)
				return r;
			if (r < 0 && r != KMC_E_CORRUPT)
				continue;
			checked = 1;
			if (r < 0 || ks_verify_mac(f[i].raw, f[i].len,
					kmc_secret_data(rk)) < 0) {
				f[i].state = KMC_KS_DAMAGED;
				f[i].err = KMC_E_CORRUPT;
			}
		}
		if (!checked)
			f[i].state = KMC_KS_UNVERIFIED;
	}
	kmc_detail_clear();
	if (ks_rank(f, order) > 0)
		shown = order[0];
	for (int i = 0; shown < 0 && i < 2; i++)
		if (f[i].state == KMC_KS_UNVERIFIED && (shown < 0 ||
		    f[i].ks->generation > f[shown].ks->generation))
			shown = i;
	if (shown < 0)
		return kmc_detail(KMC_E_NO_KEYSTORE, "%s: neither kmc.ks nor "
			"StandbyKsf.ks verifies: both were altered; restore "
			"one from a backup", dir);
	*ret_shown = shown;
	return 0;
}

/*
 * Hand s to a caller whose struct is ret->size bytes: what fits is
 * copied, and a list whose pointer does not fit is released here.
 */
static void status_out(kmc_status *s, kmc_status *ret)
{
	size_t n = ret->size < sizeof(*s) ? ret->size : sizeof(*s);

	if (n < offsetof(kmc_status, protectors) + sizeof(s->protectors)) {
		free(s->protectors);
		s->protectors = NULL;
	}
	if (n < offsetof(kmc_status, master_keys) + sizeof(s->master_keys)) {
		free(s->master_keys);
		s->master_keys = NULL;
	}
	s->size = n;
	memcpy(ret, s, n);
}

/* The keys on a token waiting to be destroyed: a list that does not
   parse counts as one (kmc repair drops it). */
static int pending_destroys(store *st, uint64_t *ret)
{
	token_pending l = { 0 };
	int r = token_pending_read(st, &l);

	if (r == KMC_E_CORRUPT || r == KMC_E_VERSION) {
		kmc_detail_clear();
		*ret = 1;
		return 0;
	}
	KMC_GUARD(r);
	*ret = l.n;
	token_pending_free(&l);
	return 0;
}

int kmc_vault_status(const char *dir, kmc_status *ret)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	char dbuf[PATH_MAX];
	ks_file f[2] = { 0 };
	kmc_status s;
	const keystore *ks;
	int order[2], n, r, shown = 0, bstate;
	uint8_t vault_id[KS_VAULT_ID_LEN], places, bound_hash[32];
	char host_key[PATH_MAX] = "";
	store st;

	kmc_detail_clear();
	if (ret->size == 0)
		return kmc_detail(KMC_E_INVALID, "kmc_status.size is 0: set it "
			"to sizeof(kmc_status) (KMC_STATUS_INIT)");
	KMC_GUARD(kmc_crypto_init());
	if (!dir) {
		KMC_GUARD(kmc_default_vault_dir(dbuf, sizeof(dbuf)));
		dir = dbuf;
	}
	KMC_GUARD(vault_open_dir(dir, &dirfd));
	/*
	 * A report between a writer's two renames would show a stale twin
	 * that is a moment from healthy: wait for a writer, but at most
	 * five seconds, so a stuck one cannot hang a monitoring check.
	 */
	for (int i = 0; i < 50 && flock(dirfd, LOCK_SH | LOCK_NB) < 0; i++) {
		struct timespec pause = { 0, 100 * 1000 * 1000 };

		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		nanosleep(&pause, NULL);
	}
	r = ks_load_pair(dirfd, dir, f, order, &n);
	/* As every open: an unsafe file is named with its fix, not read. */
	if (r == 0 && (n == 0 || f[0].state == KMC_KS_UNSAFE ||
		       f[1].state == KMC_KS_UNSAFE))
		r = ks_pair_error(dirfd, dir, f);
	if (r == 0)
		r = ks_store_open(&st, dirfd, dir, f, order, n);
	if (r == 0) {
		r = ks_verify_quietly(dir, f, &shown);
		if (r < 0)
			store_close(&st);
	}
	if (r < 0) {
		ks_file_free(&f[0]);
		ks_file_free(&f[1]);
		return r;
	}
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	ks = f[shown].ks;
	s.protectors = calloc(ks->n_slots ? ks->n_slots : 1,
		sizeof(*s.protectors));
	s.master_keys = calloc(ks->n_mks ? ks->n_mks : 1,
		sizeof(*s.master_keys));
	if (!s.protectors || !s.master_keys) {
		kmc_status_free(&s);
		ks_file_free(&f[0]);
		ks_file_free(&f[1]);
		store_close(&st);
		return KMC_E_NOMEM;
	}
	vault_hex(ks->vault_id, KS_VAULT_ID_LEN, s.vault_id);
	memcpy(vault_id, ks->vault_id, KS_VAULT_ID_LEN);
	for (size_t i = 0; i < ks->n_slots && !host_key[0]; i++)
		if (ks->slots[i].type == KMC_PROTECTOR_HOST &&
		    host_slot_path(&ks->slots[i], host_key,
			    sizeof(host_key)) < 0)
			host_key[0] = '\0';
	s.format_version = ks->format_version;
	s.generation = ks->generation;
	s.master = f[0].state;
	s.standby = f[1].state;
	s.master_generation = ks_shows_generation(&f[0]) ?
		f[0].ks->generation : 0;
	s.standby_generation = ks_shows_generation(&f[1]) ?
		f[1].ks->generation : 0;
	s.n_protectors = ks->n_slots;
	for (size_t i = 0; i < ks->n_slots; i++) {
		s.protectors[i].id = ks->slots[i].id;
		s.protectors[i].type = (kmc_protector_type)ks->slots[i].type;
		slot_describe(&ks->slots[i], s.protectors[i].detail,
			sizeof(s.protectors[i].detail));
	}
	s.n_master_keys = ks->n_mks;
	for (size_t i = 0; i < ks->n_mks; i++) {
		s.master_keys[i].id = ks->mks[i].id;
		s.master_keys[i].active = ks->mks[i].id == ks->active_mk;
		s.master_keys[i].created = ks->mks[i].created;
	}
	ks_file_free(&f[0]);
	ks_file_free(&f[1]);
	kmc_detail_clear();
	r = store_stat(&st, &s.items, &s.store_generation);
	if (r == 0) {
		uint8_t *j;
		size_t jlen;

		/* Only its absence is "nothing pending": a journal that
		   could not be read (out of memory) is no healthy vault. */
		r = store_meta_get(&st, "journal", &j, &jlen);
		s.pending_change = r == 0;
		r = r == KMC_E_NOT_FOUND ? 0 : r;
		if (r == 0)
			kmc_detail_clear();
		if (s.pending_change) {
			/* A newer kmcvault's change: kmc repair refuses it. */
			if (journal_is_newer(j, jlen))
				s.pending_change = 2;
			free(j);
		}
		if (!s.pending_change && restore_pending(dirfd))
			s.pending_change = 1;
		if (r == 0)
			r = pending_destroys(&st, &s.token_destroys);
	}
	store_close(&st);
	if (r < 0) {
		kmc_status_free(&s);
		return r;
	}
	r = bind_status(dirfd, s.store_generation, vault_id, &bstate, &places,
		&s.bound_audit_seq, bound_hash);
	if (r < 0) {
		kmc_status_free(&s);
		return r;
	}
	if (s.bound_audit_seq) {
		r = audit_bound_absent(dirfd, dir, s.bound_audit_seq,
			bound_hash);
		if (r < 0) {
			kmc_status_free(&s);
			return r;
		}
		s.audit_bound_rewritten = r;
	}
	s.binding = (kmc_bind_state)bstate;
	if ((places & BIND_PLACE_HOST) && host_key[0]) {
		bind_place p;

		/* Failed (out of memory), it is no answer: "not detectable"
		   would tell the operator the folder goes unwatched. */
		r = bind_place_host(&p, host_key, vault_id);
		if (r == 0)
			snprintf(s.rollback_place, sizeof(s.rollback_place),
				"host state file %s", p.show);
		bind_place_free(&p);
		if (r < 0) {
			kmc_status_free(&s);
			return r;
		}
	} else if (places & BIND_PLACE_TOKEN) {
		char hex[2 * KS_VAULT_ID_LEN + 1];

		vault_hex(vault_id, KS_VAULT_ID_LEN, hex);
		snprintf(s.rollback_place, sizeof(s.rollback_place),
			"token counter object kmcvault-counter-%s", hex);
	}
	status_out(&s, ret);
	return 0;
}

/* Whether the caller's struct of s->size bytes holds field f. */
#define STATUS_HAS(s, f) ((s)->size >= offsetof(kmc_status, f) + \
	sizeof((s)->f))

/* Only the fields the caller's struct holds: an older caller's is
   shorter, and what lies past it is not a list of ours (status_out()
   released the lists that did not fit). */
void kmc_status_free(kmc_status *s)
{
	if (!s)
		return;
	if (STATUS_HAS(s, protectors)) {
		free(s->protectors);
		s->protectors = NULL;
	}
	if (STATUS_HAS(s, master_keys)) {
		free(s->master_keys);
		s->master_keys = NULL;
	}
	if (STATUS_HAS(s, n_protectors))
		s->n_protectors = 0;
	if (STATUS_HAS(s, n_master_keys))
		s->n_master_keys = 0;
}

const char *kmc_bind_state_name(kmc_bind_state state)
{
	switch (state) {
	case KMC_BIND_NONE:
		return "not bound yet";
	case KMC_BIND_OK:
		return "ok";
	case KMC_BIND_PENDING:
		return "change pending";
	case KMC_BIND_DAMAGED:
		return "damaged";
	case KMC_BIND_DISAGREES:
		return "disagrees";
	case KMC_BIND_NEWER:
		return "newer format";
	}
	return "unknown";
}
