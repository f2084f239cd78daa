/*
 * handle.c - the kmc_vault handle: open, unlock, lock, close. The
 * master keys an unlocked handle holds are in vault/handlemk.c.
 *
 *	DIR/            0700, the user's
 *	  kmc.ks        0600, the keystore (vault/keystore.h, vault/kspair.c)
 *	  StandbyKsf.ks 0600, its twin: same bytes when healthy
 *	  items.mdb     0600, the item store (vault/store.h)
 *	  items.mdb-lock
 *
 * Writers serialize on flock() of the directory; readers need no lock
 * because every replacement is a rename.
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
#include "../safeio/fileio.h"
#include "protector.h"
#include "journal.h"
#include "bind.h"
#include "backup.h"
#include "audit.h"
#include "tokenpending.h"

/* ---------------------------------------------------------------- */
/* Unlocking                                                         */

typedef struct unlock_ctx {
	const kmc_options *opts;
	kmc_secret *pass;	/* asked for once, reused for the twin */
	int pass_refused;
	char notes[1024];	/* what failed before one worked */
	/* The folder of the host key that opened, as read, and the key's
	   path as given or recorded: the binding reads the state file
	   beside the key through it rather than walk the path again. */
	int *host_dirfd;
	char host_key[PATH_MAX];
} unlock_ctx;

static int get_passphrase(unlock_ctx *u, const kmc_secret **ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;
	int n;

	if (u->opts && u->opts->passphrase) {
		*ret = u->opts->passphrase;
		return 0;
	}
	if (u->pass) {
		*ret = u->pass;
		return 0;
	}
	KMC_ENSURE(!u->pass_refused, KMC_E_NEED_PASSPHRASE);
	if (!u->opts || !u->opts->passphrase_cb) {
		u->pass_refused = 1;
		return KMC_E_NEED_PASSPHRASE;
	}
	KMC_GUARD(kmc_secret_new(PASSPHRASE_MAX, &s));
	n = u->opts->passphrase_cb((char *)kmc_secret_data(s), PASSPHRASE_MAX,
		u->opts->passphrase_arg);
	if (n < 0) {
		u->pass_refused = 1;
		return KMC_E_NEED_PASSPHRASE;
	}
	KMC_ENSURE((size_t)n <= PASSPHRASE_MAX, KMC_E_INVALID);
	KMC_GUARD(kmc_secret_shrink(s, (size_t)n));
	u->pass = TAKE_PTR(s);
	*ret = u->pass;
	return 0;
}

/* Add to u->notes why protector s did not open the vault. */
static void note(unlock_ctx *u, const ks_slot *s, int r)
{
	size_t n = strlen(u->notes);
	const char *d = kmc_error_detail();

	snprintf(u->notes + n, sizeof(u->notes) - n, "%sprotector %u (%s): %s",
		n ? "; " : "", (unsigned)s->id,
		kmc_protector_type_name((kmc_protector_type)s->type),
		d[0] ? d : kmc_strerror(r));
}
/*
 * Try the slots of one keystore, cheapest and least interactive first:
 * host, then tokens, then a recovery key if one was given, then
 * passphrases (Argon2id, perhaps a prompt). Returns the root key and the
 * slot that opened it; u->notes says what failed on the way.
 */
static int ks_unlock(const keystore *ks, unlock_ctx *u, kmc_secret **ret_rk,
	unsigned *ret_slot)
{
	static const kmc_options no_opts = KMC_OPTIONS_INIT;
	const kmc_options *o = u->opts ? u->opts : &no_opts;
	char env_key[PATH_MAX];
	const char *host_key = o->host_key;
	/* The error of the strongest kind tried: passphrase > recovery >
	   token > host; a missing passphrase only when nothing else said. */
	int err[4] = { 0, 0, 0, 0 };

	u->notes[0] = '\0';
	if (!host_key)
		KMC_GUARD(vault_env_host_key(env_key, &host_key));

	for (int pass = 0; pass < 4; pass++) {
		for (size_t i = 0; i < ks->n_slots; i++) {
			const ks_slot *s = &ks->slots[i];
			const kmc_secret *pw;
			int r;

			kmc_detail_clear();
			if (pass == 0 && s->type == KMC_PROTECTOR_HOST) {
				r = host_slot_unlock(ks->vault_id, s, host_key,
					ret_rk, u->host_dirfd);
				if (r == 0 && (host_key ? snprintf(u->host_key,
					    sizeof(u->host_key), "%s", host_key) < 0 :
					    host_slot_path(s, u->host_key,
						    sizeof(u->host_key)) < 0))
					u->host_key[0] = '\0';
			} else if (pass == 1 && (s->type == KMC_PROTECTOR_PKCS11 ||
				   s->type == KMC_PROTECTOR_TPM)) {
				r = p11_slot_unlock(ks->vault_id, s, o, ret_rk);
			} else if (pass == 2 && s->type == KMC_PROTECTOR_RECOVERY &&
				   o->recovery_key) {
				r = recovery_slot_unlock(ks->vault_id, s,
					o->recovery_key, ret_rk);
			} else if (pass == 3 &&
				   s->type == KMC_PROTECTOR_PASSPHRASE) {
				/* Out of range: named, before any prompt. */
				KMC_GUARD(pass_slot_check(s));
				r = get_passphrase(u, &pw);
				if (r == 0)
					r = pass_slot_unlock(ks->vault_id, s, pw,
						ret_rk);
				if (r == KMC_E_UNLOCK)
					kmc_detail(r, "wrong passphrase");
			} else {
				continue;
			}
			if (r == 0) {
				*ret_slot = s->id;
				return 0;
			}
			/* A damaged slot is the keystore's fault: try the twin. */
			if (r == KMC_E_CORRUPT)
				return kmc_detail(r, "protector %u is damaged",
					(unsigned)s->id);
			note(u, s, r);
			if (!err[pass] || err[pass] == KMC_E_NEED_PASSPHRASE)
				err[pass] = r;
		}
	}
	for (int pass = 3; pass >= 0; pass--)
		if (err[pass] && err[pass] != KMC_E_NEED_PASSPHRASE)
			return kmc_detail(err[pass], "%s", u->notes);
	for (int pass = 3; pass >= 0; pass--)
		if (err[pass])
			return kmc_detail(err[pass], "%s", u->notes);
	if (o->recovery_key)
		return kmc_detail(KMC_E_UNLOCK, "the vault has no recovery "
			"protector");
	return kmc_detail(KMC_E_UNLOCK, "no protector of a type this build "
		"knows, or a recovery protector only (give the recovery key)");
}

/* Unlock one keystore file completely: root key, MAC, master keys. */
static int vault_unlock_file(kmc_vault *v, const ks_file *f, unlock_ctx *u)
{
	_cleanup_(kmc_secret_freep) kmc_secret *rk = NULL;
	unsigned slot = 0;
	int r;

	KMC_GUARD(ks_unlock(f->ks, u, &rk, &slot));
	r = ks_verify_mac(f->raw, f->len, kmc_secret_data(rk));
	if (r < 0)
		return kmc_detail(KMC_E_CORRUPT, "%s fails its MAC: it was "
			"altered", f->show);
	r = vault_load_mks(v, f->ks, rk);
	if (r < 0) {
		vault_drop_keys(v);
		if (r == KMC_E_CORRUPT)
			return kmc_detail(r, "%s: a master key does not open",
				f->show);
		return kmc_detail(r, "%s: loading the master keys: %s", f->show,
			kmc_strerror(r));
	}
	/* A writer keeps the root key while its handle is open: read-only
	   pages of its own. A reader drops it at the end of the open. */
	if (v->flags & KMC_OPEN_WRITE) {
		r = kmc_secret_readonly(rk);
		if (r < 0) {
			vault_drop_keys(v);
			return r;
		}
	}
	v->opened_by = slot;
	snprintf(v->notes, sizeof(v->notes), "%s", u->notes);
	v->rk = TAKE_PTR(rk);
	return 0;
}

static int vault_lock(kmc_vault *v)
{
	int op = LOCK_EX | ((v->flags & KMC_OPEN_NOWAIT) ? LOCK_NB : 0);

	while (flock(v->dirfd, op) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			return kmc_detail(KMC_E_BUSY, "%s: another process is "
				"changing the vault", v->dir);
		return -errno;
	}
	return 0;
}

/*
 * The store's one commit hook: the audit log first, then the binding, so
 * that the binding vouches for an audit head holding the change's record
 * (its "pending" record before the commit, its outcome after).
 */
static int vault_on_commit(void *arg, store_phase phase,
	const store_change *c)
{
	kmc_vault *v = arg;
	int r;

	/* First: a refusal here has written nothing yet. */
	r = token_pending_on_commit(v, phase, c);
	if (r != 0)
		return r;
	r = audit_on_commit(v, phase, c);
	if (phase != STORE_PREPARE)
		return bind_on_commit(v, phase, c);
	if (r != 0)
		return r;
	r = bind_on_commit(v, phase, c);
	/* Refused after its record: the record gets its outcome (which
	   never fails the caller: the next writable open writes it). */
	if (r != 0) {
		int ra = audit_on_commit(v, STORE_ABORTED, c);

		(void)ra;
	}
	return r;
}

/* The token protector that opened the vault: its URI into by. */
static void token_used(const kmc_vault *v, const kmc_options *o,
	char *buf, size_t size, bind_opener *by)
{
	for (size_t i = 0; i < v->ks->n_slots; i++) {
		const ks_slot *s = &v->ks->slots[i];

		if (s->id != v->opened_by || (s->type != KMC_PROTECTOR_PKCS11 &&
		    s->type != KMC_PROTECTOR_TPM))
			continue;
		if (p11_slot_uri(s, buf, size) < 0) {
			kmc_detail_clear();
			return;
		}
		by->token_uri = buf;
		by->pin = o->pin;
		by->pin_in_uri = strstr(buf, "pin-source=") != NULL;
	}
}

/* The host key file that opened the vault into buf, or NULL when it was
   opened by another protector. */
static const char *host_key_used(const kmc_vault *v, const kmc_options *o,
	char buf[PATH_MAX])
{
	char env_key[PATH_MAX];
	const char *p = o->host_key;

	for (size_t i = 0; i < v->ks->n_slots; i++) {
		const ks_slot *s = &v->ks->slots[i];

		if (s->id != v->opened_by || s->type != KMC_PROTECTOR_HOST)
			continue;
		if (!p && vault_env_host_key(env_key, &p) < 0)
			return NULL;
		if (p) {
			snprintf(buf, PATH_MAX, "%s", p);
			return buf;
		}
		return host_slot_path(s, buf, PATH_MAX) == 0 ? buf : NULL;
	}
	return NULL;
}

void kmc_vault_close(kmc_vault *v)
{
	if (!v)
		return;
	audit_detach(v);	/* read counts: before the store goes */
	store_close(&v->st);
	/* A reader's kept keys go together: their mapping made writable
	   once, not twice a key (each is still wiped at its free). */
	kmc_secret_group_end(v->mkwrap);
	for (size_t i = 0; i < v->n_mks; i++)
		kmc_secret_group_end(v->mks[i].keys);
	kmc_secret_group_end(bind_kept_key(v));
	bind_close(v);
	vault_drop_keys(v);
	free(v->ks);
	free(v->token_note);
	free(v->token_intent);
	kmc_secret_free(v->token_pin);
	free(v->trust_resync_detail);
	if (v->dirfd >= 0)
		close(v->dirfd);	/* also drops the writer lock */
	free(v->dir);
	free(v);
}

static void kmc_vault_closep(kmc_vault **v)
{
	kmc_vault_close(*v);
}

/*
 * The end of a reader's open: the keys it keeps (the master-key wrapping
 * key, each master key's item and string keys, the binding's key) made
 * read-only together, in one mapping of guarded pages rather than one
 * each: some 20 system calls fewer over the open and its close, each of
 * them a change to the page tables (docs/performance.md, row 4). Until
 * here they sat in arena slots, locked and wiped like every secret; keys
 * a reader meets later (a master key born after the open) are made
 * read-only alone, as a writer's are. Without memory for the group, each
 * alone as before.
 */
static int vault_keys_readonly(kmc_vault *v)
{
	kmc_secret *keys[KMC_MAX_MASTER_KEYS + 2];
	kmc_secret *bk = bind_kept_key(v);
	size_t n = 0;
	int r;

	v->ro_at_end = 0;
	if (v->mkwrap)
		keys[n++] = v->mkwrap;
	for (size_t i = 0; i < v->n_mks; i++)
		keys[n++] = v->mks[i].keys;
	if (bk)
		keys[n++] = bk;
	if (n == 0)
		return 0;
	r = kmc_secret_readonly_group(keys, n);
	for (size_t i = 0; r == KMC_E_NOMEM && i < n; i++)
		if (kmc_secret_readonly(keys[i]) < 0)
			return KMC_E_NOMEM;
	return r == KMC_E_NOMEM ? 0 : r;
}

/* An open's paths and keystores, on the heap: a server's stack keeps
   every page its deepest call touched for the process's life, and these
   were 26 KiB of it (docs/performance.md, row boot10k). */
typedef struct open_work {
	char dbuf[PATH_MAX];
	ks_file f[2];
	unlock_ctx u;
	char hk[PATH_MAX], uri[2049];
} open_work;

int kmc_vault_open_ex(const char *dir, unsigned flags,
	const kmc_options *opts, kmc_vault **ret_vault)
{
	_cleanup_(kmc_vault_closep) kmc_vault *v = NULL;
	_cleanup_(freep) open_work *w = NULL;
	ks_file *f;
	kmc_options o;
	_cleanup_(kmc_closep) int host_dirfd = -1;
	unlock_ctx *u;
	int order[2], n, r, used = -1, restored = 0;

	kmc_detail_clear();
	KMC_GUARD(kmc_crypto_init());
	KMC_ENSURE(!opts || opts->size >= sizeof(size_t), KMC_E_INVALID);
	w = calloc(1, sizeof(*w));
	KMC_ENSURE(w, KMC_E_NOMEM);
	f = w->f;
	u = &w->u;
	u->opts = &o;
	u->host_dirfd = &host_dirfd;
	KMC_GUARD(vault_options_copy(opts, &o));
	if (!dir) {
		KMC_GUARD(kmc_default_vault_dir(w->dbuf, sizeof(w->dbuf)));
		dir = w->dbuf;
	}
	v = calloc(1, sizeof(*v));
	KMC_ENSURE(v, KMC_E_NOMEM);
	v->dirfd = -1;
	v->flags = flags;
	v->ro_at_end = !(flags & KMC_OPEN_WRITE);
	v->dir = strdup(dir);
	KMC_ENSURE(v->dir, KMC_E_NOMEM);
	KMC_GUARD(vault_open_dir(dir, &v->dirfd));
	if (flags & KMC_OPEN_WRITE) {
		KMC_GUARD(vault_lock(v));
		/* A restore cut off by a crash is finished or undone first:
		   it replaces the very files read below. */
		restored = restore_recover(v->dirfd, dir);
		KMC_GUARD(restored);
	} else if (restore_pending(v->dirfd)) {
		/* A reader meeting a restore at work is not told to repair. */
		if (restore_under_way(v->dirfd))
			return kmc_detail(KMC_E_PENDING, "%s: a restore is under "
				"way; try again once it is done", dir);
		return kmc_detail(KMC_E_PENDING, "%s: a restore was cut off "
			"halfway; kmc repair finishes it", dir);
	}

	r = ks_load_pair(v->dirfd, dir, f, order, &n);
	if (r == 0 && (f[0].state == KMC_KS_UNSAFE ||
		       f[1].state == KMC_KS_UNSAFE))
		r = ks_pair_error(v->dirfd, dir, f);
	if (r == 0 && n == 0)
		r = ks_pair_error(v->dirfd, dir, f);
	/*
	 * The store before the keys: a keystore of another vault is refused
	 * before any prompt, and no twin is repaired from a keystore the
	 * store has not accepted.
	 */
	if (r == 0)
		r = ks_store_open(&v->st, v->dirfd, dir, f, order, n);
	v->st.dir = v->dir;	/* a failed commit names it */
	/*
	 * The newest first. The older twin is tried only when the newest is
	 * proven damaged (MAC or master key), never after a wrong passphrase:
	 * that would only ask Argon2 twice for the same answer.
	 */
	for (int i = 0; r == 0 && i < n; i++) {
		r = vault_unlock_file(v, &f[order[i]], u);
		if (r == 0) {
			used = order[i];
			break;
		}
		if (r != KMC_E_CORRUPT)
			break;
		f[order[i]].state = KMC_KS_DAMAGED;
		if (i + 1 == n) {
			/* Every candidate was forged or damaged. */
			r = kmc_detail(KMC_E_NO_KEYSTORE, "%s: no keystore "
				"verifies (%s); restore one from a backup", dir,
				kmc_error_detail());
			break;
		}
		r = 0;
	}
	kmc_secret_free(u->pass);
	if (r == 0)
		v->ks = TAKE_PTR(f[used].ks);
	/* The binding, once, while the root key is known: a store, keystores
	   or folder older than the vault last was are refused here. */
	if (r == 0) {
		bind_opener by = { .host_key = host_key_used(v, &o, w->hk),
			.host_dirfd = -1 };

		/* The host key's folder as the unlock opened and checked it,
		   when it is the folder of the key the binding names. */
		if (by.host_key && host_dirfd >= 0 &&
		    strcmp(by.host_key, u->host_key) == 0)
			by.host_dirfd = host_dirfd;

		token_used(v, &o, w->uri, sizeof(w->uri), &by);
		r = bind_open(v, f[used].raw, f[used].len, &by,
			(flags & KMC_OPEN_ACCEPT_ROLLBACK) || restored);
		/* A reader that met a restore swapping the files in (its
		   mark stays until the restored vault is bound): a change
		   under way, not a rollback. */
		if (r == KMC_E_ROLLBACK && !(flags & KMC_OPEN_WRITE) &&
		    restore_pending(v->dirfd))
			r = kmc_detail(KMC_E_PENDING, "%s: a restore is under "
				"way; try again once it is done", dir);
	}
	/*
	 * Repair from the keystore that opened, master first: only once the
	 * binding has accepted it, so that an open refused as a rollback
	 * leaves both files as they were (a twin older than the binding is
	 * never copied over a newer or damaged one it could not read).
	 */
	for (int i = 0; r == 0 && i < 2 && (flags & KMC_OPEN_WRITE); i++) {
		if (i == used || (f[i].len == f[used].len &&
		    memcmp(f[i].raw, f[used].raw, f[i].len) == 0))
			continue;
		r = kmc_write_atomic(v->dirfd, f[i].name, f[used].raw,
			f[used].len, 0600, 0);
		if (r < 0)
			kmc_detail(r, "repairing %s: %s", f[i].show,
				kmc_strerror(r));
		else
			v->repaired |= 1u << i;
	}
	ks_file_free(&f[0]);
	ks_file_free(&f[1]);
	KMC_GUARD(r);
	if (v->ro_at_end)
		KMC_GUARD(vault_keys_readonly(v));
	kmc_detail_clear();
	/* A read that sees another generation or root asks the binding. */
	store_set_root_check(&v->st, bind_root_check, v);

	/* Every handle signs audit records (readers record their reads);
	   before the recoveries below, whose changes are recorded too. */
	KMC_GUARD(audit_attach(v));
	store_set_commit_hook(&v->st, vault_on_commit, v);
	/* A twin rewritten above only puts back what the newest keystore
	   already says: recorded, best effort, not a change to refuse. */
	if (v->repaired)
		audit_repaired(v, v->repaired);
	audit_op(v, "open (finishing a cut-off change)");
	/* An import cut off by a crash is finished or undone before use;
	   a store of the first releases gets its history database, and a
	   store of releases before the digest gets its tree. */
	if (flags & KMC_OPEN_WRITE) {
		KMC_GUARD(store_history_make(&v->st));
		KMC_GUARD(journal_recover(v));
		/* After the journal: one kmc cannot finish is left as it is,
		   and one finished before the tree exists is in the build. */
		KMC_GUARD(storetree_make(&v->st));
		KMC_GUARD(bind_settle(v));
		/* A restore is over once what it put back is bound, and the
		   trust sync files hold its stores. */
		if (restored) {
			restore_sync_trust(v, restored > 1);
			KMC_GUARD(restore_finish(v->dirfd, dir));
		}
	}
	audit_op(v, NULL);
	/* Only a writer re-seals the keystore; readers need no root key. */
	if (!(flags & KMC_OPEN_WRITE)) {
		kmc_secret_free(v->rk);
		v->rk = NULL;
	}
	*ret_vault = TAKE_PTR(v);
	return 0;
}

int kmc_vault_open(const char *dir, unsigned flags, kmc_vault **ret_vault)
{
	return kmc_vault_open_ex(dir, flags, NULL, ret_vault);
}

int kmc_vault_generation(kmc_vault *v, uint64_t *ret)
{
	kmc_detail_clear();
	KMC_GUARD(store_same_file(&v->st, v->dirfd, v->dir));
	return store_stat(&v->st, NULL, ret);
}

const char *kmc_vault_dir(const kmc_vault *v)
{
	return v->dir;
}

unsigned kmc_vault_opened_by(const kmc_vault *v)
{
	return v->opened_by;
}

unsigned kmc_vault_repaired(const kmc_vault *v)
{
	return v->repaired;
}

const char *kmc_vault_unlock_notes(const kmc_vault *v)
{
	return v->notes;
}
