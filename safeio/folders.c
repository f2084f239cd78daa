/*
 * folders.c - the folders around vault files: every folder above a vault
 * or host key up to / (OpenSSH's safe_path rule), every symbolic link on
 * a path as given, and opening a path with no link anywhere in it (rules
 * in folders.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <kmc/admin.h>
#include "fileio.h"
#include "../kmc/crypto.h"

/* The login name of uid for advice, or "?" (getpwuid_r: the library
   may run in threads). */
const char *kmc_user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd pw, *res = NULL;

	if (getpwuid_r(uid, &pw, buf, size, &res) != 0 || !res ||
	    !res->pw_name)
		return "?";
	return res->pw_name;
}

/* Whom sudo -u is to name for uid: its login name, else sudo's '#uid'
   (quoted: a bare # starts a shell comment), never a "?" that names
   no one. */
const char *kmc_sudo_user(uid_t uid, char *buf, size_t size)
{
	const char *name = kmc_user_name(uid, buf, size);

	if (strcmp(name, "?"))
		return name;
	snprintf(buf, size, "'#%u'", (unsigned)uid);
	return buf;
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
	char pwbuf[1024], sudobuf[1024];
	int fault = parent_fault(st, user);

	/* Root making a service's vault in the service's home (sudo kmc
	   --vault /var/lib/postgresql/kmcvault init) is told the way the
	   guides give too: run as that user, whose it then is. */
	if (fault == PARENT_OWNER)
		return kmc_detail(KMC_E_PERM, "directory %s above %s belongs to "
			"uid %u (%s), who could swap what is in it; move %s to "
			"a folder that only root and uid %u control, or, if it is "
			"to be that user's, run as that user (sudo -u %s)", name,
			what, (unsigned)st->st_uid,
			kmc_user_name(st->st_uid, pwbuf, sizeof(pwbuf)), what,
			(unsigned)user, kmc_sudo_user(st->st_uid, sudobuf,
			sizeof(sudobuf)));
	if (fault == PARENT_MODE)
		return kmc_detail(KMC_E_PERM, "directory %s above %s has mode "
			"%04o and no sticky bit, so others could swap what is in "
			"it; move %s to a folder that only root and uid %u can "
			"write", name, what, (unsigned)(st->st_mode & 07777), what,
			(unsigned)user);
	return 0;
}

/* The name of the folder up levels above the directory fd, for a
   message: found only when there is one to give, since it costs a
   readlink of /proc on a path every vault command takes. */
static void chain_name(int fd, const char *show, unsigned up, char *buf,
	size_t size)
{
	dir_name(fd, show, buf, size);
	while (up--)
		path_up(buf);
}

/* Walk from fd (itself checked when self) up to / by "..", so the
   folders checked are the ones the descriptor hangs from, not what a
   path names now; user is whose folders they may be besides root's.
   O_PATH: a parent need not be readable, only searchable, as for any
   open. */
static int check_chain(int fd, int self, uid_t user, const char *show,
	const char *what)
{
	char name[PATH_MAX];
	struct stat st, up;
	unsigned level = 0;
	int cur = fd, r;

	if (fstat(fd, &st) < 0) {
		r = -errno;
		chain_name(fd, show, 0, name, sizeof(name));
		return kmc_detail(r, "%s: %s", name, kmc_strerror(r));
	}
	if (self && parent_fault(&st, user) != PARENT_SAFE) {
		chain_name(fd, show, 0, name, sizeof(name));
		return check_parent(&st, user, name, what);
	}
	for (;;) {
		int next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (next < 0 || fstat(next, &up) < 0) {
			r = -errno;
			if (next >= 0)
				close(next);
			if (cur != fd)
				close(cur);
			chain_name(fd, show, level, name, sizeof(name));
			return kmc_detail(r, "the directory above %s: %s", name,
				kmc_strerror(r));
		}
		if (cur != fd)
			close(cur);
		cur = next;
		level++;
		/* "/" is its own parent. */
		if (up.st_dev == st.st_dev && up.st_ino == st.st_ino) {
			close(cur);
			return 0;
		}
		if (parent_fault(&up, user) != PARENT_SAFE) {
			close(cur);
			chain_name(fd, show, level, name, sizeof(name));
			return check_parent(&up, user, name, what);
		}
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
	char pwbuf[1024], sudobuf[1024], what[PATH_MAX + 64];
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
	r = kmc_check_owner(&st, rule->allow_root_owner);
	KMC_GUARD(check_chain(fd, 0, r < 0 ? st.st_uid : geteuid(), show,
		what));
	if (r < 0)
		return kmc_detail(KMC_E_PERM, "directory %s%s%s belongs to uid %u "
			"(%s), not to uid %u who runs this; run as that user "
			"instead (sudo -u %s)", show, rule->holds ? " holding " : "",
			rule->holds ? rule->holds : "", (unsigned)st.st_uid,
			kmc_user_name(st.st_uid, pwbuf, sizeof(pwbuf)),
			(unsigned)geteuid(), kmc_sudo_user(st.st_uid, sudobuf,
			sizeof(sudobuf)));
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
			kmc_user_name(dst.st_uid, pwbuf, sizeof(pwbuf)), (unsigned)user);
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
			kmc_user_name(lst.st_uid, pwbuf, sizeof(pwbuf)), dir);
	return 0;
}

/*
 * A walk that stopped at the folder dirfd with r: -EACCES names the folder
 * that does not let this user in, its owner and mode, and who to run as.
 * A bare "Permission denied" leaves a service's operator (www-data at a
 * nginx reload, an operator in the vault owner's group) guessing which
 * folder and which user; the vault must be its user's anyway, so the
 * advice is to run as the owner, never to open the folder up.
 */
static int walk_fault(int dirfd, const char *path, int r)
{
	char where[PATH_MAX], pwbuf[1024], sudobuf[1024];
	struct stat st;

	if (r != -EACCES || fstat(dirfd, &st) < 0)
		return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
	dir_name(dirfd, path, where, sizeof(where));
	if (st.st_uid == geteuid())
		return kmc_detail(r, "%s: %s: directory %s (mode %04o) is "
			"yours but does not let you in; chmod u+rx %s", path,
			kmc_strerror(r), where, (unsigned)(st.st_mode & 07777),
			where);
	return kmc_detail(r, "%s: %s: directory %s belongs to uid %u (%s), "
		"mode %04o, and does not let uid %u in; run as that user "
		"instead (sudo -u %s)", path, kmc_strerror(r), where,
		(unsigned)st.st_uid, kmc_user_name(st.st_uid, pwbuf,
		sizeof(pwbuf)), (unsigned)(st.st_mode & 07777),
		(unsigned)geteuid(), kmc_sudo_user(st.st_uid, sudobuf,
		sizeof(sudobuf)));
}

/* The folder an O_PATH walk ended at, opened for reading. */
static int open_final(int cur, const char *path, int *ret_fd)
{
	int fd = openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return walk_fault(cur, path, -errno);
	*ret_fd = fd;
	return 0;
}

/* The walk's paths, on the heap: 12 KiB a server's stack would keep for
   its life once an open has walked a path. */
typedef struct walk_bufs {
	char rest[2 * PATH_MAX], target[PATH_MAX];
} walk_bufs;

/*
 * The walk of kmc_check_path_links() and kmc_open_dir_checked(): with
 * ret_fd, the folder the walk ends at, opened from the walk's own
 * descriptor, so the folder checked is the folder opened whatever a
 * link on the path says by then; a missing last name is then -ENOENT.
 */
static int path_walk(const char *path, const char *what, int *ret_fd)
{
	_cleanup_(kmc_closep) int cur = -1;
	_cleanup_(freep) walk_bufs *b = NULL;
	char *rest, *target, name[NAME_MAX + 1];
	unsigned links = 0;
	struct stat st;
	const char *p;
	ssize_t len;
	size_t n;
	int next, r;

	KMC_ENSURE(path && *path, KMC_E_INVALID);
	n = strlen(path);
	if (n >= sizeof(b->rest))
		return kmc_detail(-ENAMETOOLONG, "%s: %s", path,
			kmc_strerror(-ENAMETOOLONG));
	b = malloc(sizeof(*b));
	KMC_ENSURE(b, KMC_E_NOMEM);
	rest = b->rest;
	target = b->target;
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
			return ret_fd ? open_final(cur, path, ret_fd) : 0;
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
			if (r == -ENOENT && !ret_fd && !p[strspn(p, "/")])
				return 0;
			return walk_fault(cur, path, r);
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
		len = readlinkat(next, "", target, sizeof(b->target));
		r = len < 0 ? -errno : 0;
		close(next);
		if (r < 0)
			return kmc_detail(r, "the link %s in %s: %s", name, path,
				kmc_strerror(r));
		if ((size_t)len >= sizeof(b->target) ||
		    (size_t)len + strlen(p) >= sizeof(b->rest))
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

int kmc_check_path_links(const char *path, const char *what)
{
	return path_walk(path, what, NULL);
}

int kmc_open_dir_checked(const char *path, const char *what, int *ret_fd)
{
	return path_walk(path, what, ret_fd);
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

int kmc_path_parent(const char *path, char *buf, size_t size,
	const char **ret_base)
{
	char *slash;
	size_t n;

	KMC_ENSURE(path && *path, KMC_E_INVALID);
	n = strlen(path);
	KMC_ENSURE(n < size, KMC_E_TOO_LARGE);
	memcpy(buf, path, n + 1);
	/* Trailing slashes name the same directory. */
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash) {
		KMC_ENSURE(strcmp(buf, ".") && strcmp(buf, ".."), KMC_E_INVALID);
		*ret_base = path;
		snprintf(buf, size, ".");
		return 0;
	}
	KMC_ENSURE(slash[1] && strcmp(slash + 1, ".") &&
		strcmp(slash + 1, ".."), KMC_E_INVALID);
	*ret_base = path + (slash + 1 - buf);
	if (slash == buf)
		slash[1] = '\0';
	else
		*slash = '\0';
	return 0;
}

static int open_parent(const char *path, int flags, int *ret_dirfd,
	char **ret_base)
{
	char parent[PATH_MAX];
	const char *b;
	char *base;
	size_t n;
	int fd;

	KMC_GUARD(kmc_path_parent(path, parent, sizeof(parent), &b));
	/* The last name without the trailing slashes. */
	n = strcspn(b, "/");
	fd = open(parent, flags | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	base = strndup(b, n);
	if (!base) {
		close(fd);
		return KMC_E_NOMEM;
	}
	*ret_dirfd = fd;
	*ret_base = base;
	return 0;
}

int kmc_open_parent(const char *path, int *ret_dirfd, char **ret_base)
{
	return open_parent(path, O_RDONLY, ret_dirfd, ret_base);
}

int kmc_parent_denied(const char *path)
{
	char abs[PATH_MAX], pwbuf[1024], mebuf[1024];
	struct stat st;

	if (kmc_path_absolute(path, abs, sizeof(abs)) < 0)
		return kmc_detail(-EACCES, "%s: %s", path, kmc_strerror(-EACCES));
	for (char *p = abs + 1;; p++) {
		char c = *p;

		if (c && c != '/')
			continue;
		*p = '\0';
		if (stat(abs, &st) == 0 && S_ISDIR(st.st_mode) &&
		    faccessat(AT_FDCWD, abs, X_OK, AT_EACCESS) < 0 &&
		    errno == EACCES)
			return kmc_detail(-EACCES, "%s: %s: directory %s belongs "
				"to uid %u (%s), mode %04o, and does not let uid "
				"%u (%s) in; give a file in a folder that user may "
				"enter",
				path, kmc_strerror(-EACCES), abs,
				(unsigned)st.st_uid, kmc_user_name(st.st_uid,
				pwbuf, sizeof(pwbuf)), (unsigned)(st.st_mode &
				07777), (unsigned)geteuid(),
				kmc_user_name(geteuid(), mebuf, sizeof(mebuf)));
		if (!c)
			break;
		*p = c;
	}
	return kmc_detail(-EACCES, "%s: %s", path, kmc_strerror(-EACCES));
}

/* Only to open a file in: a folder the user may enter but not list
   (0711, 0710 of a group it is in) holds files it may read all the
   same, as open(2) of the path would. */
int kmc_open_parent_to_read(const char *path, int *ret_dirfd,
	char **ret_base)
{
	int r = open_parent(path, O_PATH, ret_dirfd, ret_base);

	return r == -EACCES ? kmc_parent_denied(path) : r;
}

/*
 * Without openat2 (kernels before 5.6, valgrind, seccomp filters): walk
 * the path one component at a time, each opened with O_NOFOLLOW, so a
 * link anywhere in it is refused (ELOOP or ENOTDIR), as
 * RESOLVE_NO_SYMLINKS would.
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

	/* ENOSYS: a kernel before 5.6; EPERM: a container's seccomp filter
	   that blocks syscalls it does not know; E2BIG: an open_how larger
	   than the kernel knows. The walk is as strict, so a real EPERM
	   comes back from it again. */
	if (fd < 0 && (errno == ENOSYS || errno == EPERM || errno == E2BIG))
		return open_walk(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
			O_NONBLOCK);
	return (int)fd;
}
