/*
 * fileio.c - checked opens, bounded reads, atomic and staged writes,
 * extended attributes kept across a rewrite (rules in fileio.h). The
 * folders around a file are folders.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <linux/limits.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <kmc/admin.h>
#include "fileio.h"
#include "fsize.h"
#include "../kmc/crypto.h"

/*
 * A file this user may not open: whose it is and its mode, so that the
 * operator who gave it (a root-owned 0600 password file to sudo -u
 * postgres kmc) learns what to change; never advice to open it up, and
 * not to run as its owner either (root, for a service's vault, is
 * refused there).
 */
int kmc_denied_at(int dirfd, const char *name, const char *show)
{
	char pwbuf[1024], mebuf[1024];
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		/* Its folder does not let us in (sudo -u postgres kmc ...
		   --password-file /home/op/pw, a 0700 home): name that. */
		if (errno == EACCES)
			return kmc_parent_denied(show);
		return kmc_detail(-EACCES, "%s: %s", show,
			kmc_strerror(-EACCES));
	}
	if (st.st_uid == geteuid())
		return kmc_detail(-EACCES, "%s: %s: it is yours, but its mode "
			"%04o does not let you read it", show,
			kmc_strerror(-EACCES), (unsigned)(st.st_mode & 07777));
	return kmc_detail(-EACCES, "%s: %s: it belongs to uid %u (%s), mode "
		"%04o, which does not let uid %u (%s) read it; give a file that "
		"user may read",
		show, kmc_strerror(-EACCES), (unsigned)st.st_uid,
		kmc_user_name(st.st_uid, pwbuf, sizeof(pwbuf)),
		(unsigned)(st.st_mode & 07777), (unsigned)geteuid(),
		kmc_user_name(geteuid(), mebuf, sizeof(mebuf)));
}

int kmc_open_checked(int dirfd, const char *name, const char *show,
	const kmc_file_rule *rule, struct stat *ret_st)
{
	_cleanup_(kmc_closep) int fd = -1;
	struct stat st;
	char pwbuf[1024];
	int r;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
		O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP)
			return kmc_detail(KMC_E_PERM, "%s is a symbolic link; "
				"replace it with the file itself", show);
		r = -errno;
		if (r == -EACCES)
			return kmc_denied_at(dirfd, name, show);
		return kmc_detail(r, "%s: %s", show, kmc_strerror(r));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		return kmc_detail(r, "%s: %s", show, kmc_strerror(r));
	}
	if (!S_ISREG(st.st_mode))
		return kmc_detail(KMC_E_PERM, "%s is not a regular file", show);
	/* Not "chown it": the file is often a service's (its config, its
	   vault), which would then no longer read it. */
	if (kmc_check_owner(&st, rule->allow_root_owner) < 0)
		return kmc_detail(KMC_E_PERM, "%s is owned by uid %u, not by "
			"uid %u who runs this; run as its owner (sudo -u %s) "
			"or give a file of your own", show, (unsigned)st.st_uid,
			(unsigned)geteuid(), kmc_sudo_user(st.st_uid, pwbuf,
			sizeof(pwbuf)));
	if (st.st_mode & rule->forbidden)
		return kmc_detail(KMC_E_PERM, "%s has mode %04o, which lets "
			"others %s it; chmod %04o %s", show,
			(unsigned)(st.st_mode & 07777),
			(st.st_mode & 022) ? "change" : "read",
			(unsigned)(st.st_mode & 0777 & ~rule->forbidden), show);
	/* A second name for a keystore is a way to swap it under us. None
	   (0) is a file a writer replaced after we opened it: still whole. */
	if (st.st_nlink > 1)
		return kmc_detail(KMC_E_PERM, "%s has %lu hard links; a vault "
			"file must have one", show, (unsigned long)st.st_nlink);
	if ((uint64_t)st.st_size > rule->max_size)
		return kmc_detail(KMC_E_TOO_LARGE, "%s is larger than %zu bytes",
			show, rule->max_size);
	*ret_st = st;
	return TAKE_FD(fd);
}

ssize_t kmc_read_wait(int fd, void *buf, size_t n)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		ssize_t got = read(fd, buf, n);

		if (got >= 0)
			return got;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		/* A non-blocking descriptor whose writer is not done. */
		while (poll(&pfd, 1, -1) < 0)
			if (errno != EINTR)
				return -errno;
	}
}

int kmc_read_all(int fd, uint8_t *buf, size_t max, size_t *ret_len)
{
	size_t got = 0;
	uint8_t extra;

	while (got < max) {
		ssize_t n = kmc_read_wait(fd, buf + got, max - got);

		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got == max) {
		/* The file may have grown since fstat(): check for more. */
		ssize_t n = kmc_read_wait(fd, &extra, 1);

		if (n < 0)
			return (int)n;
		KMC_ENSURE(n == 0, KMC_E_TOO_LARGE);
	}
	*ret_len = got;
	return 0;
}

int kmc_read_checked(int dirfd, const char *name, const char *show,
	const kmc_file_rule *rule, uint8_t **ret, size_t *ret_len)
{
	_cleanup_(kmc_closep) int fd = -1;
	_cleanup_(freep) uint8_t *buf = NULL;
	struct stat st;
	size_t len;
	int r;

	fd = kmc_open_checked(dirfd, name, show, rule, &st);
	KMC_GUARD(fd);
	buf = malloc(rule->max_size ? rule->max_size : 1);
	KMC_ENSURE(buf, KMC_E_NOMEM);
	r = kmc_read_all(fd, buf, rule->max_size, &len);
	if (r < 0)
		return kmc_detail(r, "%s: %s", show, kmc_strerror(r));
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int kmc_read_checked_secret(int dirfd, const char *name, const char *show,
	const kmc_file_rule *rule, kmc_secret **ret)
{
	_cleanup_(kmc_closep) int fd = -1;
	_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;
	struct stat st;
	size_t len;
	int r;

	fd = kmc_open_checked(dirfd, name, show, rule, &st);
	KMC_GUARD(fd);
	KMC_GUARD(kmc_secret_new(rule->max_size, &s));
	r = kmc_read_all(fd, kmc_secret_data(s), rule->max_size, &len);
	if (r < 0)
		return kmc_detail(r, "%s: %s", show, kmc_strerror(r));
	KMC_GUARD(kmc_secret_shrink(s, len));
	*ret = TAKE_PTR(s);
	return 0;
}

int kmc_write_full(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	/* Not written at all, as on a full disk, rather than SIGXFSZ. */
	if (kmc_fsize_past(fd, len))
		return -EFBIG;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int kmc_rename_noreplace(int fromdir, const char *from, int todir,
	const char *to)
{
	if (renameat2(fromdir, from, todir, to, RENAME_NOREPLACE) == 0)
		return 0;
	/* EINVAL: the file system refuses the flag; ENOSYS: a kernel
	   older than renameat2. */
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (linkat(fromdir, from, todir, to, 0) < 0)
		return -errno;
	/* The file has its name: a failure to drop the old one leaves a
	   second name, not a failed rename. */
	(void)unlinkat(fromdir, from, 0);
	return 0;
}

int kmc_write_atomic(int dirfd, const char *name, const void *data,
	size_t len, mode_t mode, int noreplace)
{
	int published;

	return kmc_write_atomic_ex(dirfd, name, data, len, mode, noreplace,
		&published);
}

int kmc_write_atomic_ex(int dirfd, const char *name, const void *data,
	size_t len, mode_t mode, int noreplace, int *ret_published)
{
	char tmp[256];
	uint8_t rnd[6];
	int fd, r;

	*ret_published = 0;
	KMC_GUARD(kmc_crypto_init());
	kmc_random(rnd, sizeof(rnd));
	/* At most 200 bytes of name: the temporary must fit NAME_MAX too,
	   and the random part alone keeps it unique. */
	r = snprintf(tmp, sizeof(tmp), ".%.200s.tmp-%02x%02x%02x%02x%02x%02x", name,
		rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	KMC_ENSURE(r > 0 && (size_t)r < sizeof(tmp), KMC_E_TOO_LARGE);

	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	r = kmc_write_full(fd, data, len);
	if (r == 0 && fchmod(fd, mode) < 0)	/* umask may have cut it */
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0) {
		if (noreplace) {
			/* Refuses an existing target atomically, and leaves no
			   second name behind as link() + unlink() would if
			   killed between the two (which it falls back on only
			   where the file system refuses the flag). */
			r = kmc_rename_noreplace(dirfd, tmp, dirfd, name);
			if (r == -EEXIST)
				r = KMC_E_EXISTS;
		} else if (renameat(dirfd, tmp, dirfd, name) < 0) {
			r = -errno;
		}
	}
	if (r < 0)
		(void)unlinkat(dirfd, tmp, 0);
	if (r == 0)
		*ret_published = 1;
	if (r == 0 && fsync(dirfd) < 0)
		r = -errno;
	return r;
}

/*
 * The extended attributes of fd, packed as name NUL, u32 length, value;
 * POSIX ACLs are system.posix_acl_* attributes and come along. A file
 * system without them gives an empty set.
 */
int kmc_xattrs_get(int fd, uint8_t **ret, size_t *ret_len)
{
	_cleanup_(freep) char *names = NULL;
	_cleanup_(freep) uint8_t *out = NULL;
	ssize_t n;
	size_t len = 0;

	n = flistxattr(fd, NULL, 0);
	if (n < 0 && (errno == ENOTSUP || errno == ENOSYS))
		n = 0;
	if (n < 0)
		return -errno;
	KMC_ENSURE(n <= XATTR_LIST_MAX, KMC_E_TOO_LARGE);
	names = malloc((size_t)n + 1);
	KMC_ENSURE(names, KMC_E_NOMEM);
	if (n > 0) {
		n = flistxattr(fd, names, (size_t)n);
		/* ERANGE: one was added since; take it as a change under us. */
		if (n < 0)
			return -errno;
	}
	for (size_t i = 0; i < (size_t)n; i += strlen(names + i) + 1) {
		const char *name = names + i;
		size_t name_len = strnlen(name, (size_t)n - i);
		ssize_t vlen;
		uint8_t *grown;
		uint32_t v32;

		KMC_ENSURE(name_len < (size_t)n - i, KMC_E_CORRUPT);
		vlen = fgetxattr(fd, name, NULL, 0);
		if (vlen < 0 && errno == ENODATA)
			continue;	/* removed since the list */
		if (vlen < 0)
			return -errno;
		KMC_ENSURE(vlen <= XATTR_SIZE_MAX, KMC_E_TOO_LARGE);
		grown = realloc(out, len + name_len + 1 + 4 + (size_t)vlen);
		KMC_ENSURE(grown, KMC_E_NOMEM);
		out = grown;
		memcpy(out + len, name, name_len + 1);
		vlen = fgetxattr(fd, name, out + len + name_len + 1 + 4,
			(size_t)vlen);
		if (vlen < 0)
			return -errno;
		v32 = (uint32_t)vlen;
		memcpy(out + len + name_len + 1, &v32, 4);
		len += name_len + 1 + 4 + (size_t)vlen;
	}
	*ret = TAKE_PTR(out);
	*ret_len = len;
	return 0;
}

static int xattrs_set(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		size_t name_len = strnlen((const char *)p, len);
		uint32_t v32;

		KMC_ENSURE(name_len + 1 + 4 <= len, KMC_E_CORRUPT);
		memcpy(&v32, p + name_len + 1, 4);
		KMC_ENSURE(v32 <= len - name_len - 1 - 4, KMC_E_CORRUPT);
		if (fsetxattr(fd, (const char *)p, p + name_len + 1 + 4, v32,
				0) < 0)
			return -errno;
		p += name_len + 1 + 4 + v32;
		len -= name_len + 1 + 4 + v32;
	}
	return 0;
}

int kmc_write_new(int dirfd, const char *name, const void *data, size_t len,
	const kmc_file_meta *meta)
{
	int fd, r;

	if (!meta->keep_existing && unlinkat(dirfd, name, 0) < 0 &&
	    errno != ENOENT)
		return -errno;
	/* Private while it is written and still ours: a caller of the
	   library may run under umask 0, and the group the mode lets read
	   is given only below; the mode comes last. */
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = kmc_write_full(fd, data, len);
	/* Owner first: a chown clears set-id bits that the mode sets again,
	   and an ACL's mask is what the mode's group bits say last. */
	if (r == 0 && (meta->uid != (uid_t)-1 || meta->gid != (gid_t)-1) &&
	    fchown(fd, meta->uid, meta->gid) < 0)
		r = -errno;
	if (r == 0 && meta->xattrs)
		r = xattrs_set(fd, meta->xattrs, meta->xattrs_len);
	if (r == 0 && fchmod(fd, meta->mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(dirfd, name, 0);
	return r;
}

/*
 * Write a file with no name (O_TMPFILE) in dirfd and give it name with
 * linkat(), which refuses a name that exists as RENAME_NOREPLACE does. A
 * crash before the link leaves nothing, where a named temporary would
 * stay behind holding part of the data (a plaintext key, for unwrap
 * --out). *ret_published as kmc_write_atomic_ex().
 * Returns 0; -EEXIST; -errno; 1 when the file system or a missing /proc
 * does not allow it, nothing written (the caller takes a named
 * temporary instead).
 */
static int write_nameless(int dirfd, const char *name, const void *data,
	size_t len, mode_t mode, int *ret_published)
{
	_cleanup_(kmc_closep) int fd = -1;
	char proc[64];
	int r;

	*ret_published = 0;
	fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	if (fd < 0)
		return 1;	/* the named way reports any real fault */
	r = kmc_write_full(fd, data, len);
	if (r == 0 && fchmod(fd, mode) < 0)	/* umask may have cut it */
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0)
		return r;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) < 0) {
		/* No /proc: AT_EMPTY_PATH, which wants CAP_DAC_READ_SEARCH. */
		if (errno != ENOENT || linkat(fd, "", dirfd, name,
		    AT_EMPTY_PATH) < 0)
			return errno == ENOENT || errno == EPERM ? 1 : -errno;
	}
	*ret_published = 1;
	if (fsync(dirfd) < 0)
		return -errno;
	return 0;
}

int file_write_new(const char *path, const void *data, size_t len,
	mode_t mode)
{
	char parent[PATH_MAX];
	const char *slash, *name;
	int dirfd, published, r;

	if (!*path || (!data && len))
		return kmc_detail(KMC_E_INVALID, "writing a new file: no path");
	slash = strrchr(path, '/');
	name = slash ? slash + 1 : path;
	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return kmc_detail(KMC_E_INVALID, "%s: not a file name", path);
	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == path)
		snprintf(parent, sizeof(parent), "/");
	else if ((size_t)(slash - path) >= sizeof(parent))
		return kmc_detail(KMC_E_INVALID, "%s: path too long", path);
	else
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		return kmc_detail(r, "creating %s: opening its folder %s: %s",
			path, parent, kmc_strerror(r));
	}
	/* Written whole beside the name, then given it without replacing
	   anything (not even a link): a crash leaves the whole file or
	   none, never part of a key under the name asked for. */
	r = write_nameless(dirfd, name, data, len, mode, &published);
	if (r == 1)
		r = kmc_write_atomic_ex(dirfd, name, data, len, mode, 1,
			&published);
	/* Only the folder's fsync failed: undo, so a failure made nothing. */
	if (r < 0 && published)
		(void)unlinkat(dirfd, name, 0);
	close(dirfd);
	if (r == -EEXIST || r == KMC_E_EXISTS)
		return kmc_detail(KMC_E_EXISTS, "%s exists; refusing to overwrite "
			"it", path);
	if (r < 0)
		return kmc_detail(r, "writing %s: %s", path, kmc_strerror(r));
	return 0;
}

void kmc_remove_built(int parentfd, const char *name,
	const char *const *names, size_t n)
{
	int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		O_CLOEXEC);

	if (fd >= 0) {
		DIR *d = fdopendir(fd);
		struct dirent *e;

		if (d) {
			while ((e = readdir(d))) {
				int known = e->d_name[0] == '.' &&
					strstr(e->d_name, ".tmp-");

				for (size_t i = 0; !known && i < n; i++)
					known = strcmp(e->d_name, names[i]) == 0;
				if (known)
					(void)unlinkat(fd, e->d_name, 0);
			}
			closedir(d);
		} else {
			close(fd);
		}
	}
	(void)unlinkat(parentfd, name, AT_REMOVEDIR);
}

int kmc_dir_empty(int dirfd, const char *name, int *ret_empty)
{
	struct dirent *e;
	DIR *d;
	int fd, r, empty = 1;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	/* readdir() says NULL both at the end and on an error, which only
	   errno tells apart: a folder that could not be read is not empty. */
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (!e)
			break;
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = 0;
	}
	r = -errno;
	closedir(d);
	if (r < 0)
		return r;
	*ret_empty = empty;
	return 0;
}

int kmc_publish_dir(int parentfd, const char *tmp, const char *name,
	int *ret_published)
{
	int r;

	*ret_published = 0;
	if (renameat(parentfd, tmp, parentfd, name) < 0)
		return -errno;
	if (fsync(parentfd) == 0) {
		*ret_published = 1;
		return 0;
	}
	/* Not durable: take it back, so a failure means nothing made. */
	r = -errno;
	if (renameat(parentfd, name, parentfd, tmp) < 0)
		*ret_published = 1;
	return r;
}
