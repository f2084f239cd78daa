/*
 * folders.h - the folders around vault files (folders.c): who may change
 * a folder above a vault or host key, or a link on the way to one.
 * Included by fileio.h; nothing else includes it directly.
 */
#ifndef KMC_FOLDERS_H
#define KMC_FOLDERS_H

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
 * is root's or the user's; then go on from its target. kmc_check_dir()
 * sees only the folders the path resolves to, never one that holds a
 * link on it. what
 * names the thing the path leads to, for messages. A missing last name
 * is no fault (init makes it).
 * Returns 0; KMC_E_PERM; -ELOOP past 40 links; -errno.
 */
KMC_INTERNAL int kmc_check_path_links(const char *path, const char *what)
	KMC_MUST_CHECK;

/*
 * kmc_open_dir_checked - the same walk, and the folder it ends at opened
 * (O_RDONLY|O_DIRECTORY) from the walk's own descriptor: the folder the
 * links were checked on is the one opened, even if a link is repointed
 * meanwhile (opening by name, then walking, would check one folder and
 * use another).
 * Returns 0 and *ret_fd; KMC_E_PERM; -ENOENT; -ENOTDIR; -ELOOP; -errno.
 */
KMC_INTERNAL int kmc_open_dir_checked(const char *path, const char *what,
	int *ret_fd) KMC_MUST_CHECK;

/*
 * kmc_path_parent - the folder holding path's last name, into buf ("." or
 * "/" where the path says no more), and *ret_base that name inside path
 * (trailing slashes follow it there). KMC_E_INVALID for "." or "..".
 * Returns 0; KMC_E_INVALID; KMC_E_TOO_LARGE.
 */
KMC_INTERNAL int kmc_path_parent(const char *path, char *buf, size_t size,
	const char **ret_base) KMC_MUST_CHECK;

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
 * kmc_parent_denied - path's folder could not be entered: the first folder
 * on the way (from "/", the current folder's path for a relative one)
 * that this user may not search, named with its owner and mode, as the
 * kmc_error detail. Returns -EACCES.
 */
KMC_INTERNAL int kmc_parent_denied(const char *path);
/* The same, the parent opened O_PATH: only for openat() of a file to
   read in it, which a folder of mode 0711 allows and O_RDONLY does not. */
KMC_INTERNAL int kmc_open_parent_to_read(const char *path, int *ret_dirfd,
	char **ret_base) KMC_MUST_CHECK;

/*
 * kmc_open_no_links - open path read-only (O_CLOEXEC|O_NOCTTY|O_NONBLOCK)
 * when no component of it is a symbolic link: openat2's
 * RESOLVE_NO_SYMLINKS, or a walk one component at a time where openat2
 * is missing or blocked (ENOSYS, EPERM from a seccomp filter, E2BIG).
 * Returns the fd, or -1 with errno set (ELOOP for a link anywhere in the
 * path), as open() does.
 */
KMC_INTERNAL int kmc_open_no_links(const char *path) KMC_MUST_CHECK;

#endif
