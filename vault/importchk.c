/*
 * importchk.c - certImport's checks: every file read, owner and mode,
 * chain, key against certificate, CRL, password, keys folder and config
 * file, before the first write (vault/import.c then stages and commits).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sodium.h>
#include "x509.h"
#include "import.h"
#include "conf.h"
#include "journal.h"
#include "../safeio/fileio.h"
#include "../kmc/cstring.h"

const char *const copy_names[] = {
	"ca.crt", "server.crt", "server.key", "ca.crl",
};

/* Paths end up in config files one per line: no line breaks. */
static int absolute(const char *path, char *buf, size_t size)
{
	KMC_GUARD(kmc_path_absolute(path, buf, size));
	KMC_ENSURE(!strpbrk(buf, "\n\r"), KMC_E_INVALID);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Checks                                                            */

int kmc_key_file_encrypted(const char *path, int *ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *key = NULL;

	kmc_detail_clear();
	KMC_GUARD(input_read(path, INPUT_KEY, NULL, NULL, &key));
	*ret = key_is_encrypted(kmc_secret_data(key), kmc_secret_len(key));
	return 0;
}

int import_read_material(import_ctx *c)
{
	const kmc_import_params *p = c->p;

	KMC_GUARD(input_read(p->ca_file, INPUT_CERT, &c->ca_raw, &c->ca_len,
		NULL));
	KMC_GUARD(input_read(p->cert_file, INPUT_CERT, &c->cert_raw,
		&c->cert_len, NULL));
	KMC_GUARD(input_read(p->key_file, INPUT_KEY, NULL, NULL, &c->key_raw));
	if (p->crl_file)
		KMC_GUARD(input_read(p->crl_file, INPUT_CRL, &c->crl_raw,
			&c->crl_len, NULL));
	KMC_GUARD(input_error(certs_parse(p->ca_file, c->ca_raw, c->ca_len,
		&c->ca)));
	KMC_GUARD(input_error(certs_parse(p->cert_file, c->cert_raw,
		c->cert_len, &c->chain)));
	if (p->crl_file)
		KMC_GUARD(input_error(crl_file_parse(p->crl_file, c->crl_raw,
			c->crl_len, &c->crl)));
	return 0;
}

static int check_password(const char *key_file, const kmc_secret *pw)
{
	const unsigned char *s = kmc_secret_data(pw);
	size_t n = kmc_secret_len(pw), chars = 0;

	/* Characters, not bytes: UTF-8 continuation bytes do not count. */
	for (size_t i = 0; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			chars++;
	if (chars > KMC_KEY_PASSWORD_MAX)
		return kmc_detail(KMC_E_TOO_LARGE, "the password of %s has %zu "
			"characters; at most %d are accepted", key_file, chars,
			KMC_KEY_PASSWORD_MAX);
	if (n == 0)
		return kmc_detail(KMC_E_EMPTY, "the password of %s is empty",
			key_file);
	return 0;
}

/* A password for a key given in the clear: 32 base64url characters. */
int import_make_password(kmc_secret **ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;
	uint8_t raw[24];
	KMC_CLEANUP_ERASE(raw);

	KMC_GUARD(kmc_secret_new(32, &s));
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64((char *)kmc_secret_data(s), 33, raw, sizeof(raw),
		sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	*ret = TAKE_PTR(s);
	return 0;
}

int import_check_key(import_ctx *c)
{
	const kmc_import_params *p = c->p;
	int encrypted = key_is_encrypted(kmc_secret_data(c->key_raw),
		kmc_secret_len(c->key_raw));

	if (p->password)
		KMC_GUARD(check_password(p->key_file, p->password));
	KMC_GUARD(input_error(key_parse(p->key_file, c->key_raw,
		encrypted ? p->password : NULL, &c->pkey)));
	KMC_GUARD(key_to_pkcs8(c->pkey, &c->pkcs8));
	if (encrypted) {
		/* The original goes to the keys folder, still encrypted. */
		KMC_GUARD(kmc_secret_dup(kmc_secret_data(p->password),
			kmc_secret_len(p->password), &c->password));
		c->copies[COPY_KEY].p = malloc(kmc_secret_len(c->key_raw));
		KMC_ENSURE(c->copies[COPY_KEY].p, KMC_E_NOMEM);
		memcpy(c->copies[COPY_KEY].p, kmc_secret_data(c->key_raw),
			kmc_secret_len(c->key_raw));
		c->copies[COPY_KEY].len = kmc_secret_len(c->key_raw);
		return 0;
	}
	/* A plain key never reaches the keys folder in the clear. */
	if (p->password)
		KMC_GUARD(kmc_secret_dup(kmc_secret_data(p->password),
			kmc_secret_len(p->password), &c->password));
	else
		KMC_GUARD(import_make_password(&c->password));
	return key_to_encrypted_pem(c->pkey, c->password,
		&c->copies[COPY_KEY].p, &c->copies[COPY_KEY].len);
}

int import_bundle_exists(kmc_vault *v, const char *name)
{
	static const char *const parts[] = BUNDLE_PARTS;
	char part[KMC_NAME_MAX + 1];

	int r = items_exists(v, name);

	for (size_t i = 0; r == 0 && i < ELEMENTSOF(parts); i++) {
		snprintf(part, sizeof(part), "%s/%s", name, parts[i]);
		r = items_exists(v, part);
	}
	return r;
}

int import_default_keys_dir(const import_ctx *c, kmc_vault *v, char *parent,
	size_t parent_size, char *buf, size_t size)
{
	char def[PATH_MAX], safe[KMC_BUNDLE_NAME_MAX + 1];
	int n;

	/* One folder per bundle; '/' in a name must not nest. */
	snprintf(safe, sizeof(safe), "%s", c->name);
	for (char *s = safe; *s; s++)
		if (*s == '/')
			*s = '_';
	KMC_GUARD(absolute(v->dir, def, sizeof(def)));
	n = snprintf(parent, parent_size, "%s/keys", def);
	KMC_ENSURE(n > 0 && (size_t)n < parent_size, KMC_E_TOO_LARGE);
	n = snprintf(buf, size, "%s/%s", parent, safe);
	KMC_ENSURE(n > 0 && (size_t)n < size, KMC_E_TOO_LARGE);
	return 0;
}

int import_check_keys_dir(import_ctx *c, kmc_vault *v)
{
	char parent[PATH_MAX];
	const char *base;
	struct stat st;
	int fd, r;

	if (c->p->keys_dir) {
		KMC_GUARD(absolute(c->p->keys_dir, c->keys_dir,
			sizeof(c->keys_dir)));
	} else {
		KMC_GUARD(import_default_keys_dir(c, v, parent, sizeof(parent),
			c->keys_dir, sizeof(c->keys_dir)));
		/* <vault>/keys is made when staging, once every check passed. */
		if (access(parent, F_OK) < 0 && errno == ENOENT)
			snprintf(c->make_parent, sizeof(c->make_parent), "%s",
				parent);
	}
	if (lstat(c->keys_dir, &st) == 0) {
		if (S_ISLNK(st.st_mode))
			return kmc_detail(KMC_E_PERM, "keys folder %s is a "
				"symbolic link; give the real folder", c->keys_dir);
		if (!S_ISDIR(st.st_mode))
			return kmc_detail(KMC_E_PERM, "keys folder %s is not a "
				"folder", c->keys_dir);
		/* A --keys-dir may be a shared folder (/etc/ssl/private):
		   never advise changing it, only a folder of its own. */
		if (st.st_uid != geteuid())
			return kmc_detail(KMC_E_PERM, "keys folder %s is owned by "
				"uid %u, not by you (uid %u); give --keys-dir a "
				"folder that does not exist yet (kmc makes it, 0700), "
				"or run as its owner", c->keys_dir,
				(unsigned)st.st_uid, (unsigned)geteuid());
		if ((st.st_mode & 0777) != 0700 && c->p->keys_dir)
			return kmc_detail(KMC_E_PERM, "keys folder %s has mode "
				"%04o and must be 0700; give --keys-dir a folder "
				"that does not exist yet (kmc makes it, 0700)",
				c->keys_dir, (unsigned)(st.st_mode & 07777));
		if ((st.st_mode & 0777) != 0700)
			return kmc_detail(KMC_E_PERM, "keys folder %s has mode "
				"%04o; it must be 0700 (chmod 700 %s: the vault made "
				"it for this import alone)", c->keys_dir,
				(unsigned)(st.st_mode & 07777), c->keys_dir);
		c->keys_dir_exists = 1;
		return 0;
	}
	if (errno != ENOENT) {
		r = -errno;
		return kmc_detail(r, "keys folder %s: %s", c->keys_dir,
			kmc_strerror(r));
	}
	import_split(c->keys_dir, parent, sizeof(parent), &base);
	if (c->make_parent[0])
		return 0;
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return kmc_detail(r, "the folder %s for the keys folder: %s",
			parent, kmc_strerror(r));
	}
	close(fd);
	return 0;
}

/*
 * What the rewritten config file keeps: mode, group, owner (which only
 * root can give away), extended attributes and so POSIX ACLs. A service
 * that reads it through its group or an ACL keeps reading it.
 */
int import_conf_keep_meta(import_ctx *c, int fd, const struct stat *st)
{
	int r;

	r = kmc_xattrs_get(fd, &c->conf_xattrs.p, &c->conf_xattrs.len);
	if (r < 0)
		return kmc_detail(r, "%s: reading its extended attributes: %s",
			c->conf, kmc_strerror(r));
	c->conf_meta = (kmc_file_meta){
		.mode = st->st_mode & 07777,
		.uid = st->st_uid == geteuid() ? (uid_t)-1 : st->st_uid,
		.gid = st->st_gid,
		.xattrs = c->conf_xattrs.p,
		.xattrs_len = c->conf_xattrs.len,
	};
	return 0;
}

int import_build_conf(import_ctx *c, kmc_vault *v)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	_cleanup_(kmc_closep) int fd = -1;
	_cleanup_(freep) uint8_t *old = NULL;
	char dir[PATH_MAX], paths[N_COPIES][PATH_MAX + 16];
	const char *base;
	struct stat st;
	size_t len = 0;
	conf_entry e[5];
	int r;

	KMC_GUARD(absolute(c->p->conf_file, c->conf, sizeof(c->conf)));
	/* Written by the import: never in a vault's folder, where the
	   vault could take it for its own (.kmc-restore, kmc.bind). */
	KMC_GUARD(out_folder_check(c->conf));
	import_split(c->conf, dir, sizeof(dir), &base);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		return kmc_detail(r, "%s: %s", dir, kmc_strerror(r));
	}
	fd = kmc_open_checked(dirfd, base, c->conf, &conf_file_rule, &st);
	if (fd == -ENOENT) {
		/* A new config file: private, the user's. */
		kmc_detail_clear();
		c->conf_meta = (kmc_file_meta){ 0600, (uid_t)-1, (gid_t)-1,
			NULL, 0 };
	} else {
		KMC_GUARD(fd);
		old = malloc(CONF_MAX);
		KMC_ENSURE(old, KMC_E_NOMEM);
		r = kmc_read_all(fd, old, CONF_MAX, &len);
		if (r < 0)
			return kmc_detail(r, "%s: %s", c->conf, kmc_strerror(r));
		KMC_GUARD(import_conf_keep_meta(c, fd, &st));
	}
	/* A key on a token has no keys-folder copy, and no password. */
	if (!c->key_item)
		KMC_GUARD(kmc_string_encrypt(v, kmc_secret_data(c->password),
			kmc_secret_len(c->password), &c->mm));
	for (int i = 0; i < N_COPIES; i++)
		snprintf(paths[i], sizeof(paths[i]), "%s/%s", c->keys_dir,
			copy_names[i]);
	e[0] = (conf_entry){ "ca_crt", paths[COPY_CA] };
	e[1] = (conf_entry){ "server_crt", paths[COPY_CERT] };
	e[2] = (conf_entry){ "server_key", c->key_item ? NULL :
		paths[COPY_KEY] };
	e[3] = (conf_entry){ "crl", c->crl ? paths[COPY_CRL] : NULL };
	e[4] = (conf_entry){ "server_key_mm", c->mm };
	return import_conf_update(c->conf, old ? old : (const uint8_t *)"",
		len, e, 5, &c->conf_new.p, &c->conf_new.len);
}

int import_conf_update(const char *conf, const uint8_t *in, size_t len,
	const conf_entry *e, size_t n, uint8_t **ret, size_t *ret_len)
{
	int r = conf_update(in, len, e, n, ret, ret_len);

	/* The config file is input the user names, not vault data: a NUL
	   in it is malformed input (exit 2), as in a certificate file. */
	if (r < 0)
		return kmc_detail(r == KMC_E_CORRUPT ? KMC_E_INVALID : r,
			"%s: cannot update it: %s", conf,
			r == KMC_E_CORRUPT ? "it holds a NUL byte" :
			r == KMC_E_TOO_LARGE ? "too large, or a line over 64 KiB" :
			kmc_strerror(r));
	return 0;
}
