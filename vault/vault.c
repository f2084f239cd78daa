/*
 * vault.c - opening, creating and inspecting a vault directory.
 *
 *	DIR/            0700, the user's
 *	  kmc.ks        0600, the keystore (vault/keystore.h)
 *	  StandbyKsf.ks 0600, its twin: same bytes when healthy
 *	  items.mdb     0600, the item store (vault/store.h)
 *	  items.mdb-lock
 *
 * Keystores are written one after the other, master first, each by
 * write-temp, fsync, rename, fsync-directory. A crash leaves at worst one
 * file newer than the other; the opener takes the newest whose checksum
 * holds and whose MAC verifies once the root key is known, and a writable
 * open rewrites the twin from it. Writers serialize on flock() of the
 * directory; readers need no lock because every replacement is a rename.
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
#include "backup.h"
#include "../kmc/buf.h"
#include "../kmc/cstring.h"

#define MK_AD_LABEL "kmcvault/mk/v1"
#define STR_AD_LABEL "kmcvault/str/v1"
#define PASSPHRASE_MAX 1024
#define PASSPHRASE_MIN 8
#define ARGON2_MEM_FLOOR (8u * 1024u * 1024u)

/* The vault folder: the user's alone, and so is every folder above it
   but root's and sticky ones (kmc_check_dir()). */
static const kmc_dir_rule vault_dir_rule = {
	.holds = NULL,
	.allow_root_owner = 0,
};

static const kmc_file_rule ks_rule = {
	.forbidden = 077,
	.max_size = KS_FILE_MAX,
	.allow_root_owner = 0,
};

/* ---------------------------------------------------------------- */
/* Defaults                                                          */

/*
 * Where a vault or a host key goes when no path is given: the variable
 * if set, else a fixed path for root, else an XDG base directory
 * ($XDG_DATA_HOME, $XDG_CONFIG_HOME) or its fallback under $HOME.
 */
typedef struct default_loc {
	const char *env;	/* names a path explicitly */
	const char *what;	/* for messages */
	const char *root_path;
	const char *xdg;
	const char *fallback;	/* under $HOME when xdg is unset */
	const char *leaf;	/* below .../kmcvault, "" for the folder */
} default_loc;

static const default_loc default_locs[] = {
	[KMC_DEFAULT_VAULT] = { "KMC_VAULT", "the vault",
		"/var/lib/kmcvault", "XDG_DATA_HOME", ".local/share", "" },
	[KMC_DEFAULT_HOST_KEY] = { "KMC_HOST_KEY", "the host key",
		"/etc/kmcvault/host.key", "XDG_CONFIG_HOME", ".config",
		"/host.key" },
};

/*
 * Make the missing folders above path, 0700 as the XDG base directory
 * specification asks: for the built-in locations only
 * (~/.local/share/kmcvault, ~/.config/kmcvault/host.key), never above a
 * path the user named, where a typing error would grow a tree.
 */
static int mkdir_parents(const char *path)
{
	char buf[PATH_MAX];
	int n = snprintf(buf, sizeof(buf), "%s", path);

	KMC_ENSURE(n > 0 && (size_t)n < sizeof(buf), KMC_E_TOO_LARGE);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
			int r = -errno;

			return kmc_detail(r, "creating %s: %s", buf, kmc_strerror(r));
		}
		*p = '/';
	}
	return 0;
}

int kmc_default_path(kmc_default which, char *buf, size_t size,
	int make_parents)
{
	const default_loc *d = &default_locs[which];
	const char *env = secure_getenv(d->env);
	const char *base, *home = NULL;
	int n;

	/* An empty variable is unset, as the shell's ${VAR:-default}. */
	if (env && *env) {
		n = snprintf(buf, size, "%s", env);
		if (n < 0 || (size_t)n >= size)
			return kmc_detail(KMC_E_TOO_LARGE, "$%s is %zu bytes "
				"long; a path must be shorter than %zu", d->env,
				strlen(env), size);
		return 0;
	}
	if (geteuid() == 0) {
		n = snprintf(buf, size, "%s", d->root_path);
	} else {
		base = secure_getenv(d->xdg);
		if (!base || base[0] != '/') {
			home = secure_getenv("HOME");
			if (!home || home[0] != '/') {
				struct passwd *pw = getpwuid(geteuid());

				home = pw ? pw->pw_dir : NULL;
			}
			if (!home || home[0] != '/')
				return kmc_detail(KMC_E_INVALID, "no place for %s: "
					"$%s and $HOME are not absolute paths and "
					"uid %u has no home directory; set $%s",
					d->what, d->xdg, (unsigned)geteuid(),
					d->env);
		}
		if (home)
			n = snprintf(buf, size, "%s/%s/kmcvault%s", home,
				d->fallback, d->leaf);
		else
			n = snprintf(buf, size, "%s/kmcvault%s", base, d->leaf);
	}
	if (n < 0 || (size_t)n >= size)
		return kmc_detail(KMC_E_TOO_LARGE, "the default path of %s "
			"(from $%s or $HOME) is longer than %zu bytes", d->what,
			d->xdg, size - 1);
	if (make_parents)
		KMC_GUARD(mkdir_parents(buf));
	return 0;
}

int kmc_default_vault_dir(char *buf, size_t size)
{
	kmc_detail_clear();
	return kmc_default_path(KMC_DEFAULT_VAULT, buf, size, 0);
}

int kmc_default_host_key(char *buf, size_t size)
{
	kmc_detail_clear();
	return kmc_default_path(KMC_DEFAULT_HOST_KEY, buf, size, 0);
}

/*
 * A caller built against an older header passes a smaller kmc_options:
 * copy what it has and leave the rest unset, never read past its size.
 */
static void options_copy(const kmc_options *in, kmc_options *out)
{
	memset(out, 0, sizeof(*out));
	if (in)
		memcpy(out, in, in->size < sizeof(*out) ? in->size : sizeof(*out));
	out->size = sizeof(*out);
}

/* ---------------------------------------------------------------- */
/* Names                                                             */

int kmc_name_check(const char *name)
{
	size_t n = strnlen(name, KMC_NAME_MAX + 1);

	KMC_ENSURE(n >= 1 && n <= KMC_NAME_MAX, KMC_E_NAME);
	KMC_ENSURE(name[0] != '.' && name[0] != '/', KMC_E_NAME);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._@:/+-", c))
			continue;
		return KMC_E_NAME;
	}
	return 0;
}

static int name_guard(const char *name)
{
	if (kmc_name_check(name) < 0)
		return kmc_detail(KMC_E_NAME, "item name \"%.*s\" is not 1 to %d "
			"of [A-Za-z0-9._@:/+-] starting with neither '.' nor '/'",
			KMC_NAME_MAX, name, KMC_NAME_MAX);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Keystore files                                                    */

typedef struct ks_file {
	const char *name;
	char show[PATH_MAX + 32];
	kmc_keystore_state state;
	int err;		/* why it is damaged or unsafe */
	uint8_t *raw;
	size_t len;
	keystore *ks;
} ks_file;

static void ks_file_free(ks_file *f)
{
	free(f->raw);
	free(f->ks);
	f->raw = NULL;
	f->ks = NULL;
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
	if (r == KMC_E_TOO_LARGE) {
		f->state = KMC_KS_DAMAGED;
		f->err = KMC_E_CORRUPT;
		return 0;
	}
	KMC_GUARD(r);
	f->ks = malloc(sizeof(*f->ks));
	KMC_ENSURE(f->ks, KMC_E_NOMEM);
	r = ks_parse(f->raw, f->len, f->ks);
	if (r < 0) {
		f->state = KMC_KS_DAMAGED;
		f->err = r;
		return 0;
	}
	f->state = KMC_KS_OK;
	return 0;
}

static int ks_valid(const ks_file *f)
{
	return f->state == KMC_KS_OK || f->state == KMC_KS_STALE;
}

#define VAULT_ID_HEX (2 * KS_VAULT_ID_LEN + 1)

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Does the item store record vault_id? 0, KMC_E_WRONG_VAULT, or why not. */
static int store_says(int dirfd, const char *dir,
	const uint8_t vault_id[KS_VAULT_ID_LEN])
{
	store st;
	int r;

	kmc_detail_clear();
	r = store_open(&st, dir, dirfd, 0, vault_id);
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

	hex(f[0].ks->vault_id, KS_VAULT_ID_LEN, id0);
	hex(f[1].ks->vault_id, KS_VAULT_ID_LEN, id1);
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
			"%s/%s; restore this vault's keystore from a backup",
			f[0].show, id0, f[1].show, id1, dir, STORE_NAME);
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
static int ks_rank(ks_file f[2], int order[2])
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

/*
 * Load both keystores and rank them: *ret_order lists the valid ones,
 * newest first. Twins of two vault ids are told apart by the item store
 * (ks_pick_vault); the candidates left all carry one vault id, which the
 * caller still checks against the store before writing anything.
 */
static int ks_load_pair(int dirfd, const char *dir, ks_file f[2],
	int order[2], int *ret_n)
{
	f[0].name = KS_MASTER_NAME;
	f[1].name = KS_STANDBY_NAME;
	for (int i = 0; i < 2; i++)
		KMC_GUARD(ks_file_load(dirfd, dir, &f[i]));
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
static int ks_store_open(store *st, int dirfd, const char *dir,
	const ks_file f[2], const int order[2], int n)
{
	const ks_file *k = &f[order[0]];
	char id[VAULT_ID_HEX];
	int r;

	kmc_detail_clear();
	r = store_open(st, dir, dirfd, 0, k->ks->vault_id);
	if (r == KMC_E_WRONG_VAULT) {
		hex(k->ks->vault_id, KS_VAULT_ID_LEN, id);
		if (n == 2)
			return kmc_detail(r, "%s/%s belongs to another vault "
				"than %s and %s (vault id %s)", dir, STORE_NAME,
				f[0].show, f[1].show, id);
		return kmc_detail(r, "%s/%s belongs to another vault than %s "
			"(vault id %s)%s", dir, STORE_NAME, k->show, id,
			f[!order[0]].state == KMC_KS_MISSING ? "" :
			"; the twin cannot be used either");
	}
	if (r < 0 && !kmc_error_detail()[0])
		return kmc_detail(r, "%s/%s: %s", dir, STORE_NAME,
			kmc_strerror(r));
	return r;
}

/* The error for "no keystore could be used", with its detail. */
static int ks_pair_error(int dirfd, const char *dir, ks_file f[2])
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

/* ---------------------------------------------------------------- */
/* Unlocking                                                         */

static int mk_ad(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const ks_master_key *m, uint8_t *ad, size_t *ret_len)
{
	kmc_wbuf b = KMC_WBUF(64);

	kmc_wbuf_bytes(&b, MK_AD_LABEL, strlen(MK_AD_LABEL));
	kmc_wbuf_bytes(&b, vault_id, KS_VAULT_ID_LEN);
	kmc_wbuf_u32(&b, m->id);
	kmc_wbuf_u64(&b, (uint64_t)m->created);
	/* Out of memory is a result, not a broken invariant. */
	if (b.err) {
		int r = b.err;

		kmc_wbuf_free(&b);
		return r;
	}
	KMC_ASSERT(b.len <= 64);
	memcpy(ad, b.p, b.len);
	*ret_len = b.len;
	kmc_wbuf_free(&b);
	return 0;
}

static int mk_wrap_key(const kmc_secret *rk, uint8_t out[KMC_KEY_LEN])
{
	return kmc_subkey(out, kmc_secret_data(rk), 2, "kmc-mkwr");
}

static int mk_seal(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const kmc_secret *rk, const kmc_secret *mk, ks_master_key *m)
{
	uint8_t key[KMC_KEY_LEN], ad[64];
	size_t adlen;
	int r;

	KMC_GUARD(mk_ad(vault_id, m, ad, &adlen));
	KMC_GUARD(mk_wrap_key(rk, key));
	r = kmc_seal(key, ad, adlen, kmc_secret_data(mk), KMC_KEY_LEN,
		m->wrapped);
	kmc_wipe(key, sizeof(key));
	return r;
}

static int mk_derive(const kmc_secret *mk, uint32_t id, vault_mk *ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *keys = NULL;
	int r;

	KMC_GUARD(kmc_secret_new(2 * KMC_KEY_LEN, &keys));
	r = kmc_subkey(kmc_secret_data(keys), kmc_secret_data(mk), 1,
		"kmcitem1");
	if (r == 0)
		r = kmc_subkey(kmc_secret_data(keys) + KMC_KEY_LEN,
			kmc_secret_data(mk), 2, "kmcstr01");
	KMC_GUARD(r);
	kmc_secret_readonly(keys);
	ret->id = id;
	ret->keys = TAKE_PTR(keys);
	return 0;
}

static void vault_drop_keys(kmc_vault *v)
{
	for (size_t i = 0; i < v->n_mks; i++)
		kmc_secret_free(v->mks[i].keys);
	v->n_mks = 0;
	kmc_secret_free(v->rk);
	v->rk = NULL;
}

static int vault_load_mks(kmc_vault *v, const keystore *ks,
	const kmc_secret *rk)
{
	uint8_t key[KMC_KEY_LEN], ad[64];
	size_t adlen;
	int r = 0;

	KMC_GUARD(mk_wrap_key(rk, key));
	for (size_t i = 0; i < ks->n_mks && r == 0; i++) {
		const ks_master_key *m = &ks->mks[i];
		_cleanup_(kmc_secret_freep) kmc_secret *mk = NULL;

		if (m->flags & KS_MK_RETIRED)
			continue;
		r = mk_ad(ks->vault_id, m, ad, &adlen);
		if (r == 0)
			r = kmc_open_secret(key, ad, adlen, m->wrapped,
				KS_MK_WRAPPED_LEN, &mk);
		if (r == 0)
			r = mk_derive(mk, m->id, &v->mks[v->n_mks]);
		if (r == 0)
			v->n_mks++;
	}
	kmc_wipe(key, sizeof(key));
	/* The MAC held, so a master key that fails is a forged keystore. */
	return r == KMC_E_AUTH ? KMC_E_CORRUPT : r;
}

const vault_mk *vault_find_mk(const kmc_vault *v, uint32_t id)
{
	for (size_t i = 0; i < v->n_mks; i++)
		if (v->mks[i].id == id)
			return &v->mks[i];
	return NULL;
}

typedef struct unlock_ctx {
	const kmc_options *opts;
	kmc_secret *pass;	/* asked for once, reused for the twin */
	int pass_refused;
	char notes[1024];	/* what failed before one worked */
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
 * The host key named by $KMC_HOST_KEY, in buf, into *ret; NULL when it is
 * unset or empty: then the path the slot recorded applies. One that does
 * not fit is an error, never a silent fallback.
 */
static int env_host_key(char buf[PATH_MAX], const char **ret)
{
	const char *e = secure_getenv("KMC_HOST_KEY");

	*ret = NULL;
	if (!e || !*e)
		return 0;
	KMC_GUARD(kmc_default_path(KMC_DEFAULT_HOST_KEY, buf, PATH_MAX, 0));
	*ret = buf;
	return 0;
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
		KMC_GUARD(env_host_key(env_key, &host_key));

	for (int pass = 0; pass < 4; pass++) {
		for (size_t i = 0; i < ks->n_slots; i++) {
			const ks_slot *s = &ks->slots[i];
			const kmc_secret *pw;
			int r;

			kmc_detail_clear();
			if (pass == 0 && s->type == KMC_PROTECTOR_HOST) {
				r = host_slot_unlock(ks->vault_id, s, host_key,
					ret_rk);
			} else if (pass == 1 && (s->type == KMC_PROTECTOR_PKCS11 ||
				   s->type == KMC_PROTECTOR_TPM)) {
				r = p11_slot_unlock(ks->vault_id, s, o, ret_rk);
			} else if (pass == 2 && s->type == KMC_PROTECTOR_RECOVERY &&
				   o->recovery_key) {
				r = recovery_slot_unlock(ks->vault_id, s,
					o->recovery_key, ret_rk);
			} else if (pass == 3 &&
				   s->type == KMC_PROTECTOR_PASSPHRASE) {
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

static int open_dir(const char *dir, int *ret_fd)
{
	int fd, r;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			return kmc_detail(KMC_E_NOT_VAULT, "%s does not exist "
				"(kmc init makes a vault there)", dir);
		return kmc_detail(r, "%s: %s", dir, kmc_strerror(r));
	}
	r = kmc_check_dir(fd, dir, &vault_dir_rule);
	if (r == 0)
		r = kmc_check_path_links(dir, "the vault");
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

void kmc_vault_close(kmc_vault *v)
{
	if (!v)
		return;
	store_close(&v->st);
	vault_drop_keys(v);
	free(v->ks);
	if (v->dirfd >= 0)
		close(v->dirfd);	/* also drops the writer lock */
	free(v->dir);
	free(v);
}

static void kmc_vault_closep(kmc_vault **v)
{
	kmc_vault_close(*v);
}

int kmc_vault_open_ex(const char *dir, unsigned flags,
	const kmc_options *opts, kmc_vault **ret_vault)
{
	_cleanup_(kmc_vault_closep) kmc_vault *v = NULL;
	char dbuf[PATH_MAX];
	ks_file f[2] = { 0 };
	kmc_options o;
	unlock_ctx u = { .opts = &o };
	int order[2], n, r, used = -1;

	kmc_detail_clear();
	KMC_GUARD(kmc_crypto_init());
	KMC_ENSURE(!opts || opts->size >= sizeof(size_t), KMC_E_INVALID);
	options_copy(opts, &o);
	if (!dir) {
		KMC_GUARD(kmc_default_vault_dir(dbuf, sizeof(dbuf)));
		dir = dbuf;
	}
	v = calloc(1, sizeof(*v));
	KMC_ENSURE(v, KMC_E_NOMEM);
	v->dirfd = -1;
	v->flags = flags;
	v->dir = strdup(dir);
	KMC_ENSURE(v->dir, KMC_E_NOMEM);
	KMC_GUARD(open_dir(dir, &v->dirfd));
	if (flags & KMC_OPEN_WRITE) {
		KMC_GUARD(vault_lock(v));
		/* A restore cut off by a crash is finished or undone first:
		   it replaces the very files read below. */
		KMC_GUARD(restore_recover(v->dirfd, dir));
	} else if (restore_pending(v->dirfd)) {
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
	/*
	 * The newest first. The older twin is tried only when the newest is
	 * proven damaged (MAC or master key), never after a wrong passphrase:
	 * that would only ask Argon2 twice for the same answer.
	 */
	for (int i = 0; r == 0 && i < n; i++) {
		r = vault_unlock_file(v, &f[order[i]], &u);
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
	kmc_secret_free(u.pass);
	if (r == 0) {
		v->ks = TAKE_PTR(f[used].ks);
		/* Repair from the keystore that opened: master first. */
		for (int i = 0; r == 0 && i < 2; i++) {
			if (i == used || (f[i].len == f[used].len &&
			    memcmp(f[i].raw, f[used].raw, f[i].len) == 0))
				continue;
			if (!(flags & KMC_OPEN_WRITE))
				continue;
			r = kmc_write_atomic(v->dirfd, f[i].name, f[used].raw,
				f[used].len, 0600, 0);
			if (r < 0)
				kmc_detail(r, "repairing %s: %s", f[i].show,
					kmc_strerror(r));
			else
				v->repaired |= 1u << i;
		}
	}
	ks_file_free(&f[0]);
	ks_file_free(&f[1]);
	KMC_GUARD(r);
	kmc_detail_clear();

	/* An import cut off by a crash is finished or undone before use. */
	if (flags & KMC_OPEN_WRITE)
		KMC_GUARD(journal_recover(v));
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

/* ---------------------------------------------------------------- */
/* Creating                                                          */

static const char *const vault_files[] = {
	KS_MASTER_NAME, KS_STANDBY_NAME, STORE_NAME, STORE_LOCK_NAME,
};

/* Remove a half-built vault: only the names init makes, then the dir. */
static void init_cleanup(int parentfd, const char *tmp)
{
	int fd = openat(parentfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		O_CLOEXEC);

	if (fd >= 0) {
		DIR *d = fdopendir(fd);
		struct dirent *e;

		if (d) {
			while ((e = readdir(d)))
				for (size_t i = 0; i < ELEMENTSOF(vault_files); i++)
					if (strcmp(e->d_name, vault_files[i]) == 0 ||
					    (e->d_name[0] == '.' &&
					     strstr(e->d_name, ".tmp-")))
						(void)unlinkat(fd, e->d_name, 0);
			closedir(d);
		} else {
			close(fd);
		}
	}
	(void)unlinkat(parentfd, tmp, AT_REMOVEDIR);
}

/* The target may be absent or an empty directory of the user's. */
static int init_target_ok(int parentfd, const char *base, const char *dir)
{
	struct stat st;
	int empty;

	if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISLNK(st.st_mode))
		return kmc_detail(KMC_E_PERM, "%s is a symbolic link; give the "
			"real directory", dir);
	if (!S_ISDIR(st.st_mode))
		return kmc_detail(KMC_E_EXISTS, "%s exists and is not a "
			"directory", dir);
	KMC_GUARD(kmc_dir_empty(parentfd, base, &empty));
	if (!empty) {
		if (faccessat(parentfd, base, F_OK, 0) == 0) {
			char ks[PATH_MAX + 16];

			snprintf(ks, sizeof(ks), "%s/" KS_MASTER_NAME, base);
			if (faccessat(parentfd, ks, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
				return kmc_detail(KMC_E_EXISTS, "%s already "
					"holds a vault", dir);
		}
		return kmc_detail(KMC_E_EXISTS, "%s is not empty", dir);
	}
	return 0;
}

static int init_keystore(keystore *ks, kmc_protector_type type,
	const kmc_options *opts, kmc_secret *rk, kmc_secret **ret_recovery)
{
	_cleanup_(kmc_secret_freep) kmc_secret *mk = NULL;
	ks_master_key *m = &ks->mks[0];

	memset(ks, 0, sizeof(*ks));
	ks->format_version = KS_FORMAT_VERSION;
	kmc_random(ks->vault_id, sizeof(ks->vault_id));
	ks->generation = 1;
	ks->n_slots = 1;
	KMC_GUARD(slot_create(ks->vault_id, type, opts, rk, 1, &ks->slots[0],
		ret_recovery));
	KMC_GUARD(kmc_secret_new(KMC_KEY_LEN, &mk));
	kmc_random(kmc_secret_data(mk), KMC_KEY_LEN);
	ks->n_mks = 1;
	ks->active_mk = 1;
	m->id = 1;
	m->created = (int64_t)time(NULL);
	return mk_seal(ks->vault_id, rk, mk, m);
}

static int init_build(int parentfd, const char *tmp, const char *tmp_path,
	kmc_protector_type type, const kmc_options *opts,
	kmc_secret **ret_recovery)
{
	_cleanup_(kmc_secret_freep) kmc_secret *rk = NULL;
	_cleanup_(freep) keystore *ks = NULL;
	_cleanup_(freep) uint8_t *raw = NULL;
	_cleanup_(kmc_closep) int fd = -1;
	size_t len;
	store st;

	fd = openat(parentfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ks = malloc(sizeof(*ks));
	KMC_ENSURE(ks, KMC_E_NOMEM);
	KMC_GUARD(kmc_secret_new(KMC_KEY_LEN, &rk));
	kmc_random(kmc_secret_data(rk), KMC_KEY_LEN);
	KMC_GUARD(init_keystore(ks, type, opts, rk, ret_recovery));
	KMC_GUARD(ks_serialize(ks, kmc_secret_data(rk), &raw, &len));
	KMC_GUARD(kmc_write_atomic(fd, KS_MASTER_NAME, raw, len, 0600, 1));
	KMC_GUARD(kmc_write_atomic(fd, KS_STANDBY_NAME, raw, len, 0600, 1));
	KMC_GUARD(store_open(&st, tmp_path, fd, 1, ks->vault_id));
	store_close(&st);
	/* LMDB synced its own file; the directory entries need this. */
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

int kmc_vault_init(const char *dir, kmc_protector_type type,
	const kmc_options *opts)
{
	if (type == KMC_PROTECTOR_RECOVERY)
		return kmc_detail(KMC_E_INVALID, "a recovery protector must be "
			"shown to someone: use kmc_vault_init_ex()");
	return kmc_vault_init_ex(dir, type, opts, NULL);
}

int kmc_vault_init_ex(const char *dir, kmc_protector_type type,
	const kmc_options *opts, kmc_secret **ret_recovery)
{
	static const kmc_options no_opts = KMC_OPTIONS_INIT;
	kmc_options o;
	_cleanup_(kmc_closep) int parentfd = -1;
	_cleanup_(freep) char *base = NULL;
	char dbuf[PATH_MAX], host_key[PATH_MAX], tmp[NAME_MAX + 1];
	char tmp_path[PATH_MAX + NAME_MAX + 2], what[PATH_MAX + 16];
	const char *slash;
	uint8_t rnd[6];
	int r, host_key_new = 0;

	kmc_detail_clear();
	KMC_GUARD(kmc_crypto_init());
	if (!opts)
		opts = &no_opts;
	KMC_ENSURE(opts->size >= sizeof(size_t), KMC_E_INVALID);
	if (!dir) {
		/* ~/.local/share may not exist on a fresh account. */
		KMC_GUARD(kmc_default_path(KMC_DEFAULT_VAULT, dbuf, sizeof(dbuf),
			1));
	} else {
		int n = snprintf(dbuf, sizeof(dbuf), "%s", dir);

		KMC_ENSURE(n > 0 && (size_t)n < sizeof(dbuf), KMC_E_TOO_LARGE);
		/* "v/" names v: the temporary must go beside it, not in it. */
		while (n > 1 && dbuf[n - 1] == '/')
			dbuf[--n] = '\0';
	}
	dir = dbuf;
	if (type == KMC_PROTECTOR_HOST) {
		const char *hk = opts->host_key;
		char def[PATH_MAX];

		if (!hk) {
			/* ~/.config may not exist on a fresh account. */
			KMC_GUARD(kmc_default_path(KMC_DEFAULT_HOST_KEY, def,
				sizeof(def), 1));
			hk = def;
		}
		KMC_GUARD(kmc_path_absolute(hk, host_key, sizeof(host_key)));
		host_key_new = access(host_key, F_OK) < 0 && errno == ENOENT;
	} else if (type == KMC_PROTECTOR_PASSPHRASE) {
		/* Checked here too, so nothing is made for a bad one. */
		if (opts->passphrase &&
		    kmc_secret_len(opts->passphrase) > PASSPHRASE_MAX)
			return kmc_detail(KMC_E_TOO_LARGE, "the passphrase is "
				"longer than %d bytes", PASSPHRASE_MAX);
	} else if (type != KMC_PROTECTOR_PKCS11 && type != KMC_PROTECTOR_TPM &&
		   type != KMC_PROTECTOR_RECOVERY) {
		return kmc_detail(KMC_E_INVALID, "unknown protector type %d",
			(int)type);
	}
	options_copy(opts, &o);
	if (type == KMC_PROTECTOR_HOST)
		o.host_key = host_key;

	r = kmc_open_parent(dir, &parentfd, &base);
	if (r < 0)
		return kmc_detail(r, "%s: cannot open its parent directory: %s",
			dir, kmc_strerror(r));
	/* Where the vault opens later, the folders above it are checked;
	   refuse now rather than make a vault that will not open. */
	snprintf(what, sizeof(what), "the vault %s", dir);
	KMC_GUARD(kmc_check_parents(parentfd, dir, what));
	KMC_GUARD(kmc_check_path_links(dir, what));
	KMC_GUARD(init_target_ok(parentfd, base, dir));

	/* Build beside the target, then one rename makes it appear whole. */
	kmc_random(rnd, sizeof(rnd));
	r = snprintf(tmp, sizeof(tmp), ".%s.init-%02x%02x%02x%02x%02x%02x",
		base, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	KMC_ENSURE(r > 0 && (size_t)r < sizeof(tmp), KMC_E_TOO_LARGE);
	slash = strrchr(dir, '/');
	if (!slash)
		r = snprintf(tmp_path, sizeof(tmp_path), "%s", tmp);
	else
		r = snprintf(tmp_path, sizeof(tmp_path), "%.*s/%s",
			(int)(slash - dir), dir, tmp);
	KMC_ENSURE(r > 0 && (size_t)r < sizeof(tmp_path), KMC_E_TOO_LARGE);

	if (mkdirat(parentfd, tmp, 0700) < 0) {
		r = -errno;
		return kmc_detail(r, "%s: cannot create a directory beside it: "
			"%s", dir, kmc_strerror(r));
	}
	r = init_build(parentfd, tmp, tmp_path, type, &o, ret_recovery);
	if (r == 0 && renameat(parentfd, tmp, parentfd, base) < 0)
		r = -errno;
	if (r == 0 && fsync(parentfd) < 0) {
		/* Not durable: take it back, so failure means "no vault". */
		r = -errno;
		if (renameat(parentfd, base, parentfd, tmp) < 0)
			return kmc_detail(r, "the vault %s was created, but its "
				"folder could not be synced: %s", dir,
				kmc_strerror(r));
	}
	if (r < 0) {
		init_cleanup(parentfd, tmp);
		/* A host key this call made would outlive the failed init. */
		if (host_key_new)
			(void)unlink(host_key);
		if (!kmc_error_detail()[0])
			kmc_detail(r, "creating the vault %s: %s", dir,
				kmc_strerror(r));
		return r;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Protectors                                                        */

/*
 * Write next as the keystore's next generation: kmc.ks first, then
 * StandbyKsf.ks, each by write-temp, fsync, rename, fsync-directory. Once
 * kmc.ks is renamed the change has happened: a crash before the twin is
 * written leaves kmc.ks the newer one, which the next writable open
 * copies to StandbyKsf.ks.
 */
static int vault_ks_commit(kmc_vault *v, keystore *next, int *ret_committed)
{
	_cleanup_(freep) uint8_t *raw = NULL;
	store_txn t;
	size_t len;
	int r, published;

	*ret_committed = 0;
	next->generation = v->ks->generation + 1;
	KMC_GUARD(ks_serialize(next, kmc_secret_data(v->rk), &raw, &len));
	r = kmc_write_atomic_ex(v->dirfd, KS_MASTER_NAME, raw, len, 0600, 0,
		&published);
	if (r < 0 && !published)
		return kmc_detail(r, "writing %s/" KS_MASTER_NAME ": %s; nothing "
			"changed", v->dir, kmc_strerror(r));
	/* Once kmc.ks carries the new generation, the change has happened. */
	memcpy(v->ks, next, sizeof(*next));
	*ret_committed = 1;
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

int kmc_protector_add(kmc_vault *v, kmc_protector_type type,
	const kmc_options *opts, unsigned *ret_id, kmc_secret **ret_recovery)
{
	_cleanup_(freep) keystore *next = NULL;
	char host_key[PATH_MAX], def[PATH_MAX];
	kmc_options o;
	unsigned id = 0;
	int r, committed;

	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	if (v->ks->n_slots >= KMC_MAX_PROTECTORS)
		return kmc_detail(KMC_E_LIMIT, "%s has %d protectors, the most a "
			"keystore holds", v->dir, KMC_MAX_PROTECTORS);
	options_copy(opts, &o);
	if (type == KMC_PROTECTOR_HOST) {
		if (!o.host_key) {
			KMC_GUARD(kmc_default_path(KMC_DEFAULT_HOST_KEY, def,
				sizeof(def), 1));
			o.host_key = def;
		}
		KMC_GUARD(kmc_path_absolute(o.host_key, host_key, sizeof(host_key)));
		o.host_key = host_key;
	}
	for (size_t i = 0; i < v->ks->n_slots; i++)
		if (v->ks->slots[i].id > id)
			id = v->ks->slots[i].id;
	if (id >= 255)
		return kmc_detail(KMC_E_LIMIT, "%s: no protector id left", v->dir);
	next = malloc(sizeof(*next));
	KMC_ENSURE(next, KMC_E_NOMEM);
	memcpy(next, v->ks, sizeof(*next));
	r = slot_create(next->vault_id, type, &o, v->rk, (uint8_t)(id + 1),
		&next->slots[next->n_slots], ret_recovery);
	if (r < 0)
		return r;
	next->n_slots++;
	r = vault_ks_commit(v, next, &committed);
	if (!committed && ret_recovery && *ret_recovery) {
		/* A key for a slot that was never written must not be shown. */
		kmc_secret_free(*ret_recovery);
		*ret_recovery = NULL;
	}
	if (committed && ret_id)
		*ret_id = id + 1;
	return r;
}

int kmc_protector_remove(kmc_vault *v, unsigned id)
{
	_cleanup_(freep) keystore *next = NULL;
	int committed;
	size_t k;

	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	for (k = 0; k < v->ks->n_slots; k++)
		if (v->ks->slots[k].id == id)
			break;
	if (k == v->ks->n_slots)
		return kmc_detail(KMC_E_NOT_FOUND, "%s has no protector %u", v->dir,
			id);
	if (v->ks->n_slots == 1)
		return kmc_detail(KMC_E_LIMIT, "protector %u is the last one of %s; "
			"add another before removing it", id, v->dir);
	next = malloc(sizeof(*next));
	KMC_ENSURE(next, KMC_E_NOMEM);
	memcpy(next, v->ks, sizeof(*next));
	memmove(&next->slots[k], &next->slots[k + 1],
		(next->n_slots - k - 1) * sizeof(next->slots[0]));
	next->n_slots--;
	return vault_ks_commit(v, next, &committed);
}

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
	if (env_host_key(env_key, &host_key) < 0)
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
				host_key, &rk);
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

int kmc_vault_status(const char *dir, kmc_status *ret)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	char dbuf[PATH_MAX];
	ks_file f[2] = { 0 };
	kmc_status s;
	const keystore *ks;
	int order[2], n, r, shown = 0;
	store st;

	kmc_detail_clear();
	KMC_GUARD(kmc_crypto_init());
	if (!dir) {
		KMC_GUARD(kmc_default_vault_dir(dbuf, sizeof(dbuf)));
		dir = dbuf;
	}
	KMC_GUARD(open_dir(dir, &dirfd));
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
	ks = f[shown].ks;
	hex(ks->vault_id, KS_VAULT_ID_LEN, s.vault_id);
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

		s.pending_change = store_meta_get(&st, "journal", &j, &jlen) == 0;
		if (s.pending_change)
			free(j);
		if (restore_pending(dirfd))
			s.pending_change = 1;
	}
	store_close(&st);
	KMC_GUARD(r);
	*ret = s;
	return 0;
}

const char *kmc_protector_type_name(kmc_protector_type type)
{
	switch (type) {
	case KMC_PROTECTOR_HOST:
		return "host";
	case KMC_PROTECTOR_PASSPHRASE:
		return "passphrase";
	case KMC_PROTECTOR_PKCS11:
		return "pkcs11";
	case KMC_PROTECTOR_TPM:
		return "tpm";
	case KMC_PROTECTOR_RECOVERY:
		return "recovery";
	}
	return "unknown";
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

/* ---------------------------------------------------------------- */
/* Items                                                             */

static int item_put_check(kmc_vault *v, const char *name, kmc_item_type type,
	size_t len)
{
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	KMC_GUARD(name_guard(name));
	if (type < KMC_ITEM_PASSWORD || type > KMC_ITEM_BUNDLE)
		return kmc_detail(KMC_E_INVALID, "unknown item type %d",
			(int)type);
	if (len == 0)
		return kmc_detail(KMC_E_EMPTY, "item %s: empty value", name);
	if (len > KMC_ITEM_MAX)
		return kmc_detail(KMC_E_TOO_LARGE, "item %s: %zu bytes, more "
			"than %u", name, len, KMC_ITEM_MAX);
	return 0;
}

int vault_txn_put(kmc_vault *v, store_txn *t, const char *name,
	kmc_item_type type, const void *data, size_t len, int keep_history)
{
	_cleanup_(freep) uint8_t *old = NULL;
	_cleanup_(freep) uint8_t *rec = NULL;
	record_info info = { 0 }, prev;
	size_t old_len, rec_len;
	int r;

	KMC_GUARD(item_put_check(v, name, type, len));
	r = store_txn_get(t, name, &old, &old_len);
	info.version = 1;
	if (r == 0) {
		r = record_parse_header(old, old_len, &prev);
		if (r == 0)
			r = record_check_type(v, name, old, old_len, &prev,
				(uint8_t)type);
		if (r == KMC_E_TYPE)
			r = kmc_detail(KMC_E_TYPE, "item %s is a %s, not a %s "
				"(kmc rm it first)", name,
				kmc_item_type_name((kmc_item_type)prev.type),
				kmc_item_type_name(type));
		else if (r == KMC_E_AUTH)
			r = kmc_detail(r, "item %s fails authentication: its "
				"record was altered (kmc rm it first)", name);
		if (r == 0)
			info.version = prev.version + 1;
		if (r == 0 && keep_history)
			r = store_txn_keep(t, name, prev.version);
	} else if (r == KMC_E_NOT_FOUND) {
		r = 0;
	}
	KMC_GUARD(r);
	info.type = (uint8_t)type;
	info.mk_id = v->ks->active_mk;
	info.created = (int64_t)time(NULL);
	info.size = (uint32_t)len;
	KMC_GUARD(record_seal(v, name, &info, data, &rec, &rec_len));
	return store_txn_put(t, name, rec, rec_len);
}

int vault_txn_del(kmc_vault *v, store_txn *t, const char *name)
{
	size_t n;
	int r;

	(void)v;
	r = store_txn_del(t, name);
	if (r < 0 && r != KMC_E_NOT_FOUND)
		return r;
	KMC_GUARD(store_txn_drop_history(t, name, &n));
	return r == KMC_E_NOT_FOUND && n == 0 ? KMC_E_NOT_FOUND : 0;
}

int kmc_item_put(kmc_vault *v, const char *name, kmc_item_type type,
	const void *data, size_t len)
{
	store_txn t;
	int r;

	kmc_detail_clear();
	KMC_GUARD(item_put_check(v, name, type, len));
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = vault_txn_put(v, &t, name, type, data, len, 0);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

/* Whether name is an imported bundle: its NAME/meta item exists. */
static int is_bundle(kmc_vault *v, const char *name)
{
	char part[KMC_NAME_MAX + 1];
	uint8_t *meta;
	size_t len;

	if (strlen(name) > KMC_BUNDLE_NAME_MAX)
		return 0;
	snprintf(part, sizeof(part), "%s/meta", name);
	if (store_get(&v->st, part, &meta, &len) < 0)
		return 0;
	free(meta);
	return 1;
}

int kmc_item_remove(kmc_vault *v, const char *name)
{
	static const char *const parts[] = BUNDLE_PARTS;
	char part[KMC_NAME_MAX + 1];
	store_txn t;
	int r, bundle;

	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	KMC_GUARD(name_guard(name));
	bundle = is_bundle(v, name);
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = vault_txn_del(v, &t, name);
	for (size_t i = 0; bundle && i < ELEMENTSOF(parts); i++) {
		int rr;

		snprintf(part, sizeof(part), "%s/%s", name, parts[i]);
		rr = vault_txn_del(v, &t, part);
		if (rr == 0 && r == KMC_E_NOT_FOUND)
			r = 0;
		else if (rr < 0 && rr != KMC_E_NOT_FOUND)
			r = rr;
	}
	if (r < 0) {
		store_txn_abort(&t);
		if (r == KMC_E_NOT_FOUND)
			return kmc_detail(r, "no item %s in %s", name, v->dir);
		return r;
	}
	return store_txn_commit(&t);
}

int kmc_item_prune(kmc_vault *v, const char *name, size_t *ret_n)
{
	static const char *const parts[] = BUNDLE_PARTS;
	char part[KMC_NAME_MAX + 1];
	size_t n, total = 0;
	store_txn t;
	int r, bundle;

	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	KMC_GUARD(name_guard(name));
	/* For a bundle, its parts' old versions go too: an old private key
	   is exactly what a rotation wants gone. */
	bundle = is_bundle(v, name);
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = store_txn_drop_history(&t, name, &n);
	total += n;
	for (size_t i = 0; r == 0 && bundle && i < ELEMENTSOF(parts); i++) {
		snprintf(part, sizeof(part), "%s/%s", name, parts[i]);
		r = store_txn_drop_history(&t, part, &n);
		total += n;
	}
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	KMC_GUARD(store_txn_commit(&t));
	if (ret_n)
		*ret_n = total;
	return 0;
}

int kmc_item_get(kmc_vault *v, const char *name, kmc_item_type type,
	kmc_secret **ret)
{
	_cleanup_(freep) uint8_t *rec = NULL;
	record_info info;
	kmc_secret *s;
	size_t len;
	int r;

	kmc_detail_clear();
	KMC_GUARD(name_guard(name));
	r = store_get(&v->st, name, &rec, &len);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "no item %s in %s", name, v->dir);
	KMC_GUARD(r);
	r = record_parse_header(rec, len, &info);
	if (r < 0)
		return kmc_detail(r, "item %s: damaged record", name);
	r = record_check_type(v, name, rec, len, &info, (uint8_t)type);
	if (r == KMC_E_TYPE)
		return kmc_detail(KMC_E_TYPE, "item %s is a %s, not a %s", name,
			kmc_item_type_name((kmc_item_type)info.type),
			kmc_item_type_name(type));
	if (r == 0)
		r = record_open(v, name, rec, len, NULL, &s);
	if (r == KMC_E_AUTH)
		return kmc_detail(r, "item %s fails authentication: its record "
			"was altered, moved from another name or copied from "
			"another vault", name);
	KMC_GUARD(r);
	*ret = s;
	return 0;
}

int kmc_secret_get(kmc_vault *v, const char *name, kmc_secret **ret)
{
	return kmc_item_get(v, name, 0, ret);
}

typedef struct list_ctx {
	kmc_vault *v;
	int (*cb)(const kmc_item_info *info, void *arg);
	void *arg;
} list_ctx;

static int list_one(const char *name, size_t name_len, const uint8_t *rec,
	size_t len, void *arg)
{
	list_ctx *c = arg;
	char buf[KMC_NAME_MAX + 1];
	record_info ri;
	kmc_item_info info;

	if (name_len > KMC_NAME_MAX || memchr(name, '\0', name_len))
		return KMC_E_CORRUPT;
	memcpy(buf, name, name_len);
	buf[name_len] = '\0';
	if (record_parse_header(rec, len, &ri) < 0)
		return kmc_detail(KMC_E_CORRUPT, "item %s: damaged record", buf);
	info.name = buf;
	info.type = (kmc_item_type)ri.type;
	info.version = ri.version;
	info.mk_id = ri.mk_id;
	info.created = ri.created;
	info.size = ri.size;
	info.old_versions = 0;
	KMC_GUARD(store_history_count(&c->v->st, buf, &info.old_versions));
	return c->cb(&info, c->arg);
}

int kmc_item_list(kmc_vault *v,
	int (*cb)(const kmc_item_info *info, void *arg), void *arg)
{
	list_ctx c = { v, cb, arg };

	kmc_detail_clear();
	return store_walk(&v->st, list_one, &c);
}

const char *kmc_item_type_name(kmc_item_type type)
{
	switch (type) {
	case KMC_ITEM_PASSWORD:
		return "password";
	case KMC_ITEM_SECRET:
		return "secret";
	case KMC_ITEM_PRIVATE_KEY:
		return "private-key";
	case KMC_ITEM_CERTIFICATE:
		return "certificate";
	case KMC_ITEM_CRL:
		return "crl";
	case KMC_ITEM_BUNDLE:
		return "bundle";
	}
	return "unknown";
}

/* ---------------------------------------------------------------- */
/* Ciphertext strings                                                */

static void str_ad(const kmc_vault *v, uint32_t mk_id, uint8_t *ad,
	size_t *ret_len)
{
	size_t n = strlen(STR_AD_LABEL);

	memcpy(ad, STR_AD_LABEL, n);
	memcpy(ad + n, v->ks->vault_id, KS_VAULT_ID_LEN);
	n += KS_VAULT_ID_LEN;
	ad[n++] = (uint8_t)(mk_id >> 24);
	ad[n++] = (uint8_t)(mk_id >> 16);
	ad[n++] = (uint8_t)(mk_id >> 8);
	ad[n++] = (uint8_t)mk_id;
	*ret_len = n;
}

int kmc_encrypt_string(kmc_vault *v, const void *secret, size_t len,
	char **ret)
{
	uint8_t blob[KMC_STRING_SECRET_MAX + KMC_SEAL_OVERHEAD], ad[64];
	const vault_mk *mk = vault_find_mk(v, v->ks->active_mk);
	size_t adlen;

	kmc_detail_clear();
	KMC_ENSURE(len > 0, KMC_E_EMPTY);
	KMC_ENSURE(len <= KMC_STRING_SECRET_MAX, KMC_E_TOO_LARGE);
	KMC_ASSERT(mk);
	str_ad(v, mk->id, ad, &adlen);
	KMC_GUARD(kmc_seal(kmc_secret_data(mk->keys) + KMC_KEY_LEN, ad, adlen,
		secret, len, blob));
	return kmc_cstring_format(mk->id, blob, len + KMC_SEAL_OVERHEAD, ret);
}

int kmc_decrypt_string(kmc_vault *v, const char *string, kmc_secret **ret)
{
	_cleanup_(freep) uint8_t *blob = NULL;
	const vault_mk *mk;
	uint8_t ad[64];
	size_t len, adlen;
	uint32_t mk_id;
	int r;

	kmc_detail_clear();
	r = kmc_cstring_parse(string, strnlen(string, KMC_CSTRING_MAX + 1),
		&mk_id, &blob, &len);
	if (r < 0)
		return kmc_detail(r, "not a ciphertext string of the form "
			"kmc:v1:<master-key-id>:<base64url>");
	mk = vault_find_mk(v, mk_id);
	if (!mk)
		return kmc_detail(KMC_E_NOT_FOUND, "the string names master key "
			"%u, which this vault does not hold", (unsigned)mk_id);
	KMC_ENSURE(len >= KMC_SEAL_OVERHEAD && len - KMC_SEAL_OVERHEAD <=
		KMC_STRING_SECRET_MAX, KMC_E_STRING);
	str_ad(v, mk_id, ad, &adlen);
	r = kmc_open_secret(kmc_secret_data(mk->keys) + KMC_KEY_LEN, ad, adlen,
		blob, len, ret);
	if (r == KMC_E_AUTH)
		return kmc_detail(r, "the string fails authentication: altered, "
			"or made by another vault");
	return r;
}
