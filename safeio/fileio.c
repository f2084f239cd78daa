/*
 * fileio.c - checked opens, bounded reads, atomic and staged writes, and
 * opening a path with no link in it (rules in fileio.h).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
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
#include "../kmc/crypto.h"

static int check_owner(const struct stat *st, int allow_root)
{
	if (st->st_uid == geteuid())
		return 0;
	if (allow_root && st->st_uid == 0)
		return 0;
	return KMC_E_PERM;
}

static const char *user_name(uid_t uid, char *buf, size_t size);

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
	if (check_owner(&st, rule->allow_root_owner) < 0)
		return kmc_detail(KMC_E_PERM, "%s is owned by uid %u, not by "
			"uid %u who runs this; run as its owner (sudo -u %s) "
			"or give a file of your own", show, (unsigned)st.st_uid,
			(unsigned)geteuid(), user_name(st.st_uid, pwbuf,
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

int kmc_read_all(int fd, uint8_t *buf, size_t max, size_t *ret_len)
{
	size_t got = 0;
	uint8_t extra;

	while (got < max) {
		ssize_t n = read(fd, buf + got, max - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got == max) {
		/* The file may have grown since fstat(): check for more. */
		ssize_t n;

		do
			n = read(fd, &extra, 1);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
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
	r = snprintf(tmp, sizeof(tmp), ".%s.tmp-%02x%02x%02x%02x%02x%02x", name,
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
			   killed between the two. */
			if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) < 0)
				r = errno == EEXIST ? KMC_E_EXISTS : -errno;
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
	return kmc_write_new_ex(dirfd, name, data, len, meta, 0);
}

int kmc_write_new_ex(int dirfd, const char *name, const void *data,
	size_t len, const kmc_file_meta *meta, unsigned flags)
{
	int fd, r;

	if (!(flags & KMC_WRITE_NOREPLACE) && unlinkat(dirfd, name, 0) < 0 &&
	    errno != ENOENT)
		return -errno;
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		O_NOFOLLOW, meta->mode);
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

int kmc_file_write_new(const char *path, const void *data, size_t len,
	mode_t mode)
{
	char parent[PATH_MAX];
	const char *slash, *name;
	int dirfd, r;

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
	r = kmc_write_new_ex(dirfd, name, data, len, &(kmc_file_meta){ mode,
		(uid_t)-1, (gid_t)-1, NULL, 0 }, KMC_WRITE_NOREPLACE);
	if (r == 0 && fsync(dirfd) < 0) {
		r = -errno;
		(void)unlinkat(dirfd, name, 0);
	}
	close(dirfd);
	if (r == -EEXIST)
		return kmc_detail(KMC_E_EXISTS, "%s exists; refusing to overwrite "
			"it", path);
	if (r < 0)
		return kmc_detail(r, "writing %s: %s", path, kmc_strerror(r));
	return 0;
}

int kmc_dir_empty(int dirfd, const char *name, int *ret_empty)
{
	struct dirent *e;
	DIR *d;
	int fd, empty = 1;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = 0;
	closedir(d);
	*ret_empty = empty;
	return 0;
}

/* The login name of uid for advice, or "?" (getpwuid_r: the library
   may run in threads). */
static const char *user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd pw, *res = NULL;

	if (getpwuid_r(uid, &pw, buf, size, &res) != 0 || !res ||
	    !res->pw_name)
		return "?";
	return res->pw_name;
}

/* The absolute path of an open directory, for messages; show if the
   kernel does not say. */
static void dir_name(int fd, const char *show, char *buf, size_t size)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, size - 1);
	if (n > 0 && buf[0] == '/') {
		buf[n] = '\0';
		return;
	}
	if (!realpath(show, buf) || strlen(buf) >= size)
		snprintf(buf, size, "%s", show);
}

/* path's parent, in place: "/a/b" becomes "/a", "/a" becomes "/". */
static void path_up(char *path)
{
	char *slash = strrchr(path, '/');

	if (!slash)
		return;
	if (slash == path)
		slash[1] = '\0';
	else
		*slash = '\0';
}

/*
 * The rule for a folder above a vault or a host key, as OpenSSH's
 * safe_path(): owned by root or the user, and not writable by group or
 * others, who could otherwise rename what is in it and swap the vault
 * (or its host key) for an old or a forged copy. One exception: a
 * sticky folder such as /tmp, where only an entry's owner (or the
 * folder's, or root) may rename or remove it; the entry below is ours
 * or root's, which this same walk checks one level down.
 */
enum { PARENT_SAFE, PARENT_OWNER, PARENT_MODE };

static int parent_fault(const struct stat *st, uid_t user)
{
	if (st->st_uid != 0 && st->st_uid != user)
		return PARENT_OWNER;
	if ((st->st_mode & 022) && !(st->st_mode & S_ISVTX))
		return PARENT_MODE;
	return PARENT_SAFE;
}

static int check_parent(const struct stat *st, uid_t user,
	const char *name, const char *what)
{
	char pwbuf[1024];
	int fault = parent_fault(st, user);

	if (fault == PARENT_OWNER)
		return kmc_detail(KMC_E_PERM, "directory %s above %s belongs to "
			"uid %u (%s), who could swap what is in it; move %s to "
			"a folder that only root and uid %u control", name, what,
			(unsigned)st->st_uid,
			user_name(st->st_uid, pwbuf, sizeof(pwbuf)), what,
			(unsigned)user);
	if (fault == PARENT_MODE)
		return kmc_detail(KMC_E_PERM, "directory %s above %s has mode "
			"%04o and no sticky bit, so others could swap what is in "
			"it; move %s to a folder that only root and uid %u can "
			"write", name, what, (unsigned)(st->st_mode & 07777), what,
			(unsigned)user);
	return 0;
}

/* Walk from fd (itself checked when self) up to / by "..", so the
   folders checked are the ones the descriptor hangs from, not what a
   path names now; user is whose folders they may be besides root's.
   O_PATH: a parent need not be readable, only searchable, as for any
   open. */
static int check_chain(int fd, int self, uid_t user, const char *show,
	const char *what)
{
	_cleanup_(kmc_closep) int cur = -1;
	char name[PATH_MAX];
	struct stat st, up;
	int r;

	dir_name(fd, show, name, sizeof(name));
	cur = openat(fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0 || fstat(cur, &st) < 0) {
		r = -errno;
		return kmc_detail(r, "%s: %s", name, kmc_strerror(r));
	}
	if (self)
		KMC_GUARD(check_parent(&st, user, name, what));
	for (;;) {
		int next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (next < 0 || fstat(next, &up) < 0) {
			r = -errno;
			if (next >= 0)
				close(next);
			return kmc_detail(r, "the directory above %s: %s", name,
				kmc_strerror(r));
		}
		close(cur);
		cur = next;
		/* "/" is its own parent. */
		if (up.st_dev == st.st_dev && up.st_ino == st.st_ino)
			return 0;
		path_up(name);
		KMC_GUARD(check_parent(&up, user, name, what));
		st = up;
	}
}

int kmc_check_parents(int fd, const char *show, const char *what)
{
	return check_chain(fd, 1, geteuid(), show, what);
}

int kmc_check_dir(int fd, const char *show, const kmc_dir_rule *rule)
{
	static const kmc_dir_rule own_folder = { 0 };
	char pwbuf[1024], what[PATH_MAX + 64];
	struct stat st;
	int r;

	if (!rule)
		rule = &own_folder;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		return kmc_detail(r, "%s: %s", show, kmc_strerror(r));
	}
	if (!S_ISDIR(st.st_mode))
		return kmc_detail(KMC_E_PERM, "%s is not a directory", show);
	if (rule->holds)
		snprintf(what, sizeof(what), "%s", rule->holds);
	else
		snprintf(what, sizeof(what), "the vault %s", show);
	/*
	 * The folders above first: an owner or a mode seen below a folder
	 * that others can change would be theirs to choose. Of a folder
	 * owned by another user, they must be safe for that user: then it
	 * is that user's, and not ours to take; as docs/provider.md says
	 * for a service's vault, run as its owner rather than change it.
	 */
	r = check_owner(&st, rule->allow_root_owner);
	KMC_GUARD(check_chain(fd, 0, r < 0 ? st.st_uid : geteuid(), show,
		what));
	if (r < 0)
		return kmc_detail(KMC_E_PERM, "directory %s%s%s belongs to uid %u "
			"(%s), not to uid %u who runs this; run as that user "
			"instead (sudo -u %s)", show, rule->holds ? " holding " : "",
			rule->holds ? rule->holds : "", (unsigned)st.st_uid,
			user_name(st.st_uid, pwbuf, sizeof(pwbuf)),
			(unsigned)geteuid(), user_name(st.st_uid, pwbuf,
			sizeof(pwbuf)));
	if (!(st.st_mode & 022))
		return 0;
	/* A vault folder is the vault's own (init makes it 0700); a
	   sticky or a host key's folder may be shared: never chmod it. */
	if (!rule->holds && !(st.st_mode & S_ISVTX))
		return kmc_detail(KMC_E_PERM, "directory %s has mode %04o, "
			"which lets others replace its files; chmod 700 %s", show,
			(unsigned)(st.st_mode & 07777), show);
	return kmc_detail(KMC_E_PERM, "directory %s%s%s has mode %04o, which "
		"lets others replace files in it; move %s to a folder of its "
		"own that only you can write", show, rule->holds ? " holding " :
		"", rule->holds ? rule->holds : "",
		(unsigned)(st.st_mode & 07777), what);
}

/* At most this many links in one path, as the kernel allows. */
#define PATH_LINKS_MAX 40

/*
 * A link on the way to what (at name in the folder dirfd, linkfd its
 * O_PATH descriptor) is only as safe as the folder that holds it: whoever
 * may rename in that folder repoints the link. So that folder passes the
 * rule for a folder above a vault (parent_fault()). In a sticky folder
 * the link's owner may also replace it, so there it must be root's or
 * the user's; elsewhere its owner has no power over it (a link's target
 * cannot be changed, only the link renamed or removed by those who may
 * write the folder), and a link of another user's making is accepted.
 * The advice never touches the folder, which may be shared: give the
 * path without the link, or keep the link somewhere safe.
 */
static int check_link(int dirfd, int linkfd, const char *name,
	const char *what)
{
	char dir[PATH_MAX], link[PATH_MAX + NAME_MAX + 2], pwbuf[1024];
	struct stat dst, lst;
	uid_t user = geteuid();
	int fault, r;

	dir_name(dirfd, "?", dir, sizeof(dir));
	snprintf(link, sizeof(link), "%s%s%s", dir, strcmp(dir, "/") ? "/" :
		"", name);
	if (fstat(dirfd, &dst) < 0 || fstat(linkfd, &lst) < 0) {
		r = -errno;
		return kmc_detail(r, "the link %s: %s", link, kmc_strerror(r));
	}
	fault = parent_fault(&dst, user);
	if (fault == PARENT_OWNER)
		return kmc_detail(KMC_E_PERM, "directory %s holding the link %s "
			"on the way to %s belongs to uid %u (%s), who could repoint "
			"the link; give the path without the link, or move the link "
			"to a folder that only root and uid %u control", dir, link,
			what, (unsigned)dst.st_uid,
			user_name(dst.st_uid, pwbuf, sizeof(pwbuf)), (unsigned)user);
	if (fault == PARENT_MODE)
		return kmc_detail(KMC_E_PERM, "directory %s holding the link %s "
			"on the way to %s has mode %04o and no sticky bit, so others "
			"could repoint the link; give the path without the link, or "
			"move the link to a folder that only root and uid %u can "
			"write", dir, link, what, (unsigned)(dst.st_mode & 07777),
			(unsigned)user);
	if ((dst.st_mode & S_ISVTX) && lst.st_uid != 0 && lst.st_uid != user)
		return kmc_detail(KMC_E_PERM, "the link %s on the way to %s "
			"belongs to uid %u (%s), who may replace it in the sticky "
			"folder %s; give the path without the link, or use a link of "
			"root's or your own", link, what, (unsigned)lst.st_uid,
			user_name(lst.st_uid, pwbuf, sizeof(pwbuf)), dir);
	return 0;
}

int kmc_check_path_links(const char *path, const char *what)
{
	_cleanup_(kmc_closep) int cur = -1;
	char rest[2 * PATH_MAX], target[PATH_MAX], name[NAME_MAX + 1];
	unsigned links = 0;
	struct stat st;
	const char *p;
	ssize_t len;
	size_t n;
	int next, r;

	KMC_ENSURE(path && *path, KMC_E_INVALID);
	n = strlen(path);
	if (n >= sizeof(rest))
		return kmc_detail(-ENAMETOOLONG, "%s: %s", path,
			kmc_strerror(-ENAMETOOLONG));
	memcpy(rest, path, n + 1);
	cur = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY |
		O_CLOEXEC);
	if (cur < 0) {
		r = -errno;
		return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
	}
	for (p = rest;;) {
		p += strspn(p, "/");
		if (!*p)
			return 0;
		n = strcspn(p, "/");
		if (n > NAME_MAX)
			return kmc_detail(-ENAMETOOLONG, "%s: %s", path,
				kmc_strerror(-ENAMETOOLONG));
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		next = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			r = -errno;
			/* The last name may be what the caller is to make. */
			if (r == -ENOENT && !p[strspn(p, "/")])
				return 0;
			return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
		}
		if (fstat(next, &st) < 0) {
			r = -errno;
			close(next);
			return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
		}
		if (!S_ISLNK(st.st_mode)) {
			/* Not a folder with more to come: the next openat()
			   says ENOTDIR, as open() would. */
			close(cur);
			cur = next;
			continue;
		}
		if (++links > PATH_LINKS_MAX) {
			close(next);
			return kmc_detail(-ELOOP, "%s: more than %d symbolic links "
				"on the way to %s", path, PATH_LINKS_MAX, what);
		}
		r = check_link(cur, next, name, what);
		if (r < 0) {
			close(next);
			return r;
		}
		len = readlinkat(next, "", target, sizeof(target));
		r = len < 0 ? -errno : 0;
		close(next);
		if (r < 0)
			return kmc_detail(r, "the link %s in %s: %s", name, path,
				kmc_strerror(r));
		if ((size_t)len >= sizeof(target) ||
		    (size_t)len + strlen(p) >= sizeof(rest))
			return kmc_detail(-ENAMETOOLONG, "%s: %s", path,
				kmc_strerror(-ENAMETOOLONG));
		/* What is left of the path goes on from the link's target. */
		memmove(rest + len, p, strlen(p) + 1);
		memcpy(rest, target, (size_t)len);
		p = rest;
		if (rest[0] == '/') {
			close(cur);
			cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (cur < 0) {
				r = -errno;
				return kmc_detail(r, "/: %s", kmc_strerror(r));
			}
		}
	}
}

int kmc_path_absolute(const char *path, char *buf, size_t size)
{
	char cwd[PATH_MAX];
	int n;

	if (path[0] == '/') {
		n = snprintf(buf, size, "%s", path);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		n = snprintf(buf, size, "%s/%s", cwd, path);
	}
	KMC_ENSURE(n > 0 && (size_t)n < size, KMC_E_TOO_LARGE);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	return 0;
}

int kmc_open_parent(const char *path, int *ret_dirfd, char **ret_base)
{
	_cleanup_(freep) char *copy = NULL;
	char *slash, *base;
	const char *parent;
	size_t n;
	int fd;

	KMC_ENSURE(path && *path, KMC_E_INVALID);
	copy = strdup(path);
	KMC_ENSURE(copy, KMC_E_NOMEM);
	/* Trailing slashes name the same directory. */
	n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	slash = strrchr(copy, '/');
	if (!slash) {
		parent = ".";
		base = copy;
	} else if (slash == copy) {
		parent = "/";
		base = slash + 1;
	} else {
		*slash = '\0';
		parent = copy;
		base = slash + 1;
	}
	KMC_ENSURE(*base && strcmp(base, ".") && strcmp(base, ".."),
		KMC_E_INVALID);
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	base = strdup(base);
	if (!base) {
		close(fd);
		return KMC_E_NOMEM;
	}
	*ret_dirfd = fd;
	*ret_base = base;
	return 0;
}

/*
 * Without openat2 (kernels before 5.6, or valgrind): walk the path one
 * component at a time, each opened with O_NOFOLLOW, so a link anywhere
 * in it is refused (ELOOP or ENOTDIR), as RESOLVE_NO_SYMLINKS would.
 */
static int open_walk(const char *path, int flags)
{
	char buf[PATH_MAX];
	char *p, *slash;
	int dirfd, fd, n;

	n = snprintf(buf, sizeof(buf), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	p = buf;
	if (*p == '/') {
		dirfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		while (*p == '/')
			p++;
	} else {
		dirfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dirfd < 0)
		return -1;
	while ((slash = strchr(p, '/')) != NULL) {
		int next;

		*slash = '\0';
		if (*p) {
			next = openat(dirfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				O_CLOEXEC);
			if (next < 0) {
				int e = errno == ENOTDIR ? ELOOP : errno;

				close(dirfd);
				errno = e;
				return -1;
			}
			close(dirfd);
			dirfd = next;
		}
		p = slash + 1;
	}
	fd = openat(dirfd, p, flags | O_NOFOLLOW);
	n = errno;
	close(dirfd);
	errno = n;
	return fd;
}

int kmc_open_no_links(const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_NO_SYMLINKS,
	};
	long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS)
		return open_walk(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
			O_NONBLOCK);
	return (int)fd;
}
