/*
 * init.c - kmc_vault_init(): a new vault built in a temporary folder and
 * renamed into place, so a failed init leaves nothing behind.
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
#include "../safeio/fileio.h"
#include "../safeio/fsize.h"
#include "protector.h"
#include "audit.h"

/* ---------------------------------------------------------------- */
/* Creating                                                          */

static const char *const vault_files[] = {
	KS_MASTER_NAME, KS_STANDBY_NAME, STORE_NAME, STORE_LOCK_NAME,
	BIND_NAME,
	AUDIT_NAME,
};

/* The target may be absent or an empty directory of the user's. Not
 * backup.c's target_ok(): a link is refused as such, and a folder with a
 * vault in it is named so. */
static int init_target_ok(int parentfd, const char *base, const char *dir)
{
	struct stat st;
	int r, empty;

	if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		return kmc_detail(r, "%s: %s", dir, kmc_strerror(r));
	}
	if (S_ISLNK(st.st_mode))
		return kmc_detail(KMC_E_PERM, "%s is a symbolic link; give the "
			"real directory", dir);
	if (!S_ISDIR(st.st_mode))
		return kmc_detail(KMC_E_EXISTS, "%s exists and is not a "
			"directory", dir);
	r = kmc_dir_empty(parentfd, base, &empty);
	if (r < 0)
		return kmc_detail(r, "%s: %s", dir, kmc_strerror(r));
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
	return vault_mk_seal(ks->vault_id, rk, mk, m);
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
	int r;

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
	KMC_GUARD(store_open(&st, tmp_path, fd, STORE_CREATE, ks->vault_id));
	/* Bound from birth: the first open checks it like any other. The
	   state file beside the host key comes with the first change, so
	   that an init cut off leaves nothing outside its folder. */
	r = bind_init(fd, &st, ks->vault_id, ks->generation, raw, len, rk);
	store_close(&st);
	KMC_GUARD(r);
	KMC_GUARD(audit_first(fd, rk, "kmc_vault_init"));
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
	KMC_GUARD(vault_options_copy(opts, &o));
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
	/* The folder built beside it, .BASE.init-XXXXXXXXXXXX, is 19 bytes
	   longer and must fit NAME_MAX too. */
	if (strlen(base) > NAME_MAX - 19)
		return kmc_detail(KMC_E_TOO_LARGE, "%s: the name is %zu bytes; a "
			"vault's may have at most %d, as the folder it is built "
			"in beside it (.NAME.init- and 12 hex digits) adds 19",
			dir, strlen(base), NAME_MAX - 19);

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
	if (r == 0) {
		int published;

		r = kmc_publish_dir(parentfd, tmp, base, &published);
		if (r < 0 && published)
			return kmc_detail(r, "the vault %s was created, but its "
				"folder could not be synced: %s", dir,
				kmc_strerror(r));
	}
	if (r < 0) {
		/* A half-built vault: only the names init makes go. */
		kmc_remove_built(parentfd, tmp, vault_files,
			ELEMENTSOF(vault_files));
		/* A host key this call made would outlive the failed init. */
		if (host_key_new)
			(void)unlink(host_key);
		/* Its store's first pages (store.c) or a keystore: named by
		   the folder being built, which is gone now. */
		if (r == -EFBIG && kmc_fsize_limit())
			kmc_detail(r, "creating the vault %s: it would pass this "
				"process's file size limit of %llu bytes "
				"(RLIMIT_FSIZE, ulimit -f); nothing was made", dir,
				kmc_fsize_limit());
		else if (!kmc_error_detail()[0])
			kmc_detail(r, "creating the vault %s: %s", dir,
				kmc_strerror(r));
		return r;
	}
	return 0;
}
