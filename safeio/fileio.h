/*
 * fileio.h - opening and writing files the way a vault must.
 *
 * Reads: openat() without following a final link, then fstat() the
 * descriptor and check type, owner, mode, link count and size, so the
 * checks apply to the very file that is read. Writes: a temporary file in
 * the same directory (O_EXCL, mode given up front), write all, fsync,
 * renameat over the target, fsync the directory; the temporary is removed
 * on any failure.
 */
#ifndef KMC_FILEIO_H
#define KMC_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../kmc/common.h"

/* What a file must satisfy to be read. */
typedef struct kmc_file_rule {
	mode_t forbidden;	/* mode bits that must be clear, e.g. 077 */
	size_t max_size;
	int allow_root_owner;	/* root may own it besides the user */
} kmc_file_rule;

/*
 * kmc_open_checked - openat(dirfd, name, O_RDONLY|O_NOFOLLOW) and check the
 * descriptor against rule. *ret_st receives its fstat. show is the path
 * that error details name (see kmc_error_detail()).
 * Returns the fd; KMC_E_PERM (link, not regular, owner, mode, hard links);
 * KMC_E_TOO_LARGE; -errno (-ENOENT when absent).
 */
KMC_INTERNAL int kmc_open_checked(int dirfd, const char *name,
	const char *show, const kmc_file_rule *rule, struct stat *ret_st)
	KMC_MUST_CHECK;

/*
 * kmc_read_checked - kmc_open_checked() and read the whole file into a
 * malloc'd buffer (never a secret; see kmc_read_checked_secret()).
 */
KMC_INTERNAL int kmc_read_checked(int dirfd, const char *name,
	const char *show, const kmc_file_rule *rule, uint8_t **ret,
	size_t *ret_len) KMC_MUST_CHECK;
KMC_INTERNAL int kmc_read_checked_secret(int dirfd, const char *name,
	const char *show, const kmc_file_rule *rule, kmc_secret **ret)
	KMC_MUST_CHECK;

/* Read exactly up to max bytes from fd into buf; *ret_len is what was
 * read. Returns KMC_E_TOO_LARGE if more than max bytes are there. */
KMC_INTERNAL int kmc_read_all(int fd, uint8_t *buf, size_t max,
	size_t *ret_len) KMC_MUST_CHECK;

/*
 * kmc_write_atomic - replace dirfd/name with data, mode given. With
 * noreplace, fail with KMC_E_EXISTS rather than replace an existing file.
 * Returns 0, KMC_E_EXISTS or -errno.
 */
KMC_INTERNAL int kmc_write_atomic(int dirfd, const char *name,
	const void *data, size_t len, mode_t mode, int noreplace)
	KMC_MUST_CHECK;
/* The same, and *ret_published says whether the new file took the name
 * (a failure after that is the directory's fsync: the change happened
 * but may not survive a crash). */
KMC_INTERNAL int kmc_write_atomic_ex(int dirfd, const char *name,
	const void *data, size_t len, mode_t mode, int noreplace,
	int *ret_published) KMC_MUST_CHECK;

/* What a rewritten file keeps of the one it replaces. */
typedef struct kmc_file_meta {
	mode_t mode;
	uid_t uid;		/* (uid_t)-1: as created */
	gid_t gid;		/* (gid_t)-1: as created */
	const uint8_t *xattrs;	/* from kmc_xattrs_get(), or NULL */
	size_t xattrs_len;
} kmc_file_meta;

/*
 * kmc_xattrs_get - every extended attribute of fd (POSIX ACLs included),
 * packed for kmc_file_meta; *ret is malloc'd, NULL when there are none.
 * Returns 0, KMC_E_NOMEM, KMC_E_TOO_LARGE or -errno.
 */
KMC_INTERNAL int kmc_xattrs_get(int fd, uint8_t **ret, size_t *ret_len)
	KMC_MUST_CHECK;

/*
 * kmc_write_new - create dirfd/name afresh (an old one is removed first),
 * write, give it meta's owner and group (where not -1), extended
 * attributes and mode, fsync. Nothing is left behind on failure. For
 * staged files that a rename publishes later.
 * Returns 0, KMC_E_CORRUPT for a damaged xattrs blob, or -errno (-EPERM
 * when the owner, group or an attribute may not be given).
 */
KMC_INTERNAL int kmc_write_new(int dirfd, const char *name, const void *data,
	size_t len, const kmc_file_meta *meta) KMC_MUST_CHECK;

/*
 * kmc_write_new_ex - kmc_write_new; with KMC_WRITE_NOREPLACE a file that
 * exists at dirfd/name is left alone and -EEXIST returned (O_EXCL: never
 * replaced, not even a link).
 */
#define KMC_WRITE_NOREPLACE 1u
KMC_INTERNAL int kmc_write_new_ex(int dirfd, const char *name,
	const void *data, size_t len, const kmc_file_meta *meta, unsigned flags)
	KMC_MUST_CHECK;

/* kmc_write_full - write all len bytes to fd, again after EINTR and short
 * writes. Returns 0 or -errno. */
KMC_INTERNAL int kmc_write_full(int fd, const void *data, size_t len)
	KMC_MUST_CHECK;

/*
 * kmc_dir_empty - whether the folder dirfd/name (name "." for dirfd
 * itself) holds nothing but "." and "..", opened without following a
 * link. Returns 0 and sets *ret_empty; -errno.
 */
KMC_INTERNAL int kmc_dir_empty(int dirfd, const char *name, int *ret_empty)
	KMC_MUST_CHECK;

/* What a directory that holds vault files must satisfy. */
typedef struct kmc_dir_rule {
	/* What lives in the folder, for messages ("the host key /x/k");
	   NULL: the folder is a vault, its own (made 0700 by init). */
	const char *holds;
	int allow_root_owner;	/* root may own it besides the user */
} kmc_dir_rule;

/*
 * kmc_check_dir - fstat checks for a directory fd: every folder above it
 * up to / as kmc_check_parents(), then the folder itself: owned by the
 * user (or root where allowed) and not writable by group or others, not
 * even when sticky. Messages name the folder and a fix that is safe for
 * a shared folder: chmod only a vault's own folder, never another
 * user's folder or one such as /tmp. rule NULL: a folder of the user's
 * own, as a vault's or a backup's.
 * Returns 0; KMC_E_PERM; -errno.
 */
KMC_INTERNAL int kmc_check_dir(int fd, const char *show,
	const kmc_dir_rule *rule) KMC_MUST_CHECK;

/*
 * kmc_check_parents - fd and every folder above it, walked by "..", are
 * owned by root or the user and are not writable by group or others
 * unless sticky (/tmp: there only an entry's owner may rename it, and
 * each entry on the way is checked to be ours or root's). what names
 * the thing they hold, for messages ("the vault /srv/v").
 * Returns 0; KMC_E_PERM; -errno.
 */
KMC_INTERNAL int kmc_check_parents(int fd, const char *show,
	const char *what) KMC_MUST_CHECK;

/*
 * kmc_check_path_links - walk path as given (from / or the working
 * folder), one name at a time without following links, and at each
 * symbolic link check that nobody else can repoint it: the folder holding
 * it passes kmc_check_parents()'s rule, and in a sticky folder the link
 * is root's or the user's; then go on from its target. kmc_check_dir() sees only the
 * folders the path resolves to, never one that holds a link on it. what
 * names the thing the path leads to, for messages. A missing last name
 * is no fault (init makes it).
 * Returns 0; KMC_E_PERM; -ELOOP past 40 links; -errno.
 */
KMC_INTERNAL int kmc_check_path_links(const char *path, const char *what)
	KMC_MUST_CHECK;

/*
 * kmc_path_absolute - path made absolute against the working directory,
 * trailing slashes dropped (paths recorded in keystores, bundles and
 * URIs must not depend on where a command ran).
 * Returns 0, KMC_E_TOO_LARGE, -errno.
 */
KMC_INTERNAL int kmc_path_absolute(const char *path, char *buf, size_t size)
	KMC_MUST_CHECK;

/* Split path into a parent directory fd and a final component. */
KMC_INTERNAL int kmc_open_parent(const char *path, int *ret_dirfd,
	char **ret_base) KMC_MUST_CHECK;

/*
 * kmc_open_no_links - open path read-only (O_CLOEXEC|O_NOCTTY|O_NONBLOCK)
 * when no component of it is a symbolic link: openat2's
 * RESOLVE_NO_SYMLINKS, or a walk one component at a time where the
 * kernel lacks openat2. Returns the fd, or -1 with errno set (ELOOP for
 * a link anywhere in the path), as open() does.
 */
KMC_INTERNAL int kmc_open_no_links(const char *path) KMC_MUST_CHECK;

static inline void kmc_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#endif
