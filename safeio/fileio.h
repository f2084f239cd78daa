/*
 * fileio.h - opening and writing files the way a vault must.
 *
 * Reads: openat() without following a final link, then fstat() the
 * descriptor and check type, owner, mode, link count and size, so the
 * checks apply to the very file that is read. Writes: a temporary file in
 * the same directory (O_EXCL, mode given up front), write all, fsync,
 * renameat over the target, fsync the directory; the temporary is removed
 * on any failure. kmc_file_write_new() (include/kmc/admin.h) writes a
 * file with no name at all where it can (O_TMPFILE, then linkat).
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
 * read. Returns KMC_E_TOO_LARGE if more than max bytes are there. A
 * non-blocking fd is waited on (kmc_read_wait), not failed. */
KMC_INTERNAL int kmc_read_all(int fd, uint8_t *buf, size_t max,
	size_t *ret_len) KMC_MUST_CHECK;

/* read(2) of up to n bytes, again after EINTR, and after EAGAIN once fd
 * has more (or its end): a parent may hand a pipe it made non-blocking
 * (O_NONBLOCK is shared with it), and a secret its writer has not
 * written yet is not a read error. The bytes read (0 at the end), or
 * -errno. */
KMC_INTERNAL ssize_t kmc_read_wait(int fd, void *buf, size_t n)
	KMC_MUST_CHECK;

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

/*
 * kmc_rename_noreplace - rename fromdir/from to todir/to, never over a
 * name there (not even a dangling link): renameat2 RENAME_NOREPLACE, or
 * where the file system refuses the flag (EINVAL: NFS) a hard link,
 * which refuses an existing name as atomically, then the old name's
 * removal. A kill between those two leaves both names on the one file.
 * Returns 0, -EEXIST, or -errno (-ENOENT: from is not there).
 */
KMC_INTERNAL int kmc_rename_noreplace(int fromdir, const char *from,
	int todir, const char *to) KMC_MUST_CHECK;

/* What a rewritten file keeps of the one it replaces. */
typedef struct kmc_file_meta {
	mode_t mode;
	uid_t uid;		/* (uid_t)-1: as created */
	gid_t gid;		/* (gid_t)-1: as created */
	const uint8_t *xattrs;	/* from kmc_xattrs_get(), or NULL */
	size_t xattrs_len;
	int keep_existing;	/* kmc_write_new: -EEXIST for a file at
				   the name rather than remove it */
} kmc_file_meta;

/*
 * kmc_xattrs_get - every extended attribute of fd (POSIX ACLs included),
 * packed for kmc_file_meta; *ret is malloc'd, NULL when there are none.
 * Returns 0, KMC_E_NOMEM, KMC_E_TOO_LARGE or -errno.
 */
KMC_INTERNAL int kmc_xattrs_get(int fd, uint8_t **ret, size_t *ret_len)
	KMC_MUST_CHECK;

/*
 * kmc_write_new - create dirfd/name afresh (an old one is removed first,
 * but with meta->keep_existing, which fails with -EEXIST instead),
 * write, give it meta's owner and group (where not -1), extended
 * attributes and mode, fsync. Nothing is left behind on failure. For
 * staged files that a rename publishes later.
 * Returns 0, KMC_E_CORRUPT for a damaged xattrs blob, or -errno (-EPERM
 * when the owner, group or an attribute may not be given).
 */
KMC_INTERNAL int kmc_write_new(int dirfd, const char *name, const void *data,
	size_t len, const kmc_file_meta *meta) KMC_MUST_CHECK;

/* kmc_write_full - write all len bytes to fd, again after EINTR and short
 * writes. Returns 0 or -errno. */
KMC_INTERNAL int kmc_write_full(int fd, const void *data, size_t len)
	KMC_MUST_CHECK;

/*
 * kmc_remove_built - remove the folder parentfd/name that a failed build
 * made: only the n names it writes and the temporaries (".NAME.tmp-*")
 * of kmc_write_atomic() and its kind are unlinked, then the folder, which
 * stays if anything else is in it. Best effort: nothing is reported.
 */
KMC_INTERNAL void kmc_remove_built(int parentfd, const char *name,
	const char *const *names, size_t n);

/*
 * kmc_dir_empty - whether the folder dirfd/name (name "." for dirfd
 * itself) holds nothing but "." and "..", opened without following a
 * link. Returns 0 and sets *ret_empty; -errno.
 */
KMC_INTERNAL int kmc_dir_empty(int dirfd, const char *name, int *ret_empty)
	KMC_MUST_CHECK;

/* 0 when st is owned by the effective user (or root, where allowed),
   else KMC_E_PERM. */
static inline int kmc_check_owner(const struct stat *st, int allow_root)
{
	if (st->st_uid == geteuid() || (allow_root && st->st_uid == 0))
		return 0;
	return KMC_E_PERM;
}

/*
 * kmc_publish_dir - rename the folder tmp, built whole beside it, to name
 * (an absent or empty folder) in parentfd, and fsync parentfd. When the
 * fsync fails the rename is taken back, so a failure leaves nothing under
 * name; *ret_published is 1 only if name holds the folder (on success,
 * or when taking it back failed too).
 * Returns 0; -errno.
 */
KMC_INTERNAL int kmc_publish_dir(int parentfd, const char *tmp,
	const char *name, int *ret_published) KMC_MUST_CHECK;

/* The login name of uid for advice, or "?" (thread-safe). */
KMC_INTERNAL const char *kmc_user_name(uid_t uid, char *buf, size_t size);
/*
 * kmc_denied_at - name, in dirfd (shown as show), could not be opened:
 * EACCES. As the kmc_error detail: its owner and mode and the user, or
 * the folder on the way that does not let the user in. Returns -EACCES.
 */
KMC_INTERNAL int kmc_denied_at(int dirfd, const char *name,
	const char *show);
/* Whom to name in "sudo -u": the login name of uid, or '#uid' quoted. */
KMC_INTERNAL const char *kmc_sudo_user(uid_t uid, char *buf, size_t size);

#include "folders.h"

static inline void kmc_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

/*
 * file_write_new - kmc_file_write_new() (include/kmc/admin.h) but for
 * its refusal of a vault's folder (vault/outfile.c), which is the
 * vault's rule, not the file layer's.
 */
KMC_INTERNAL int file_write_new(const char *path, const void *data,
	size_t len, mode_t mode) KMC_MUST_CHECK;

#endif
