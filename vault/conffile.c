/*
 * conffile.c - a config file read to be rewritten, and replaced in one
 * rename: owner, group, mode and extended attributes (so POSIX ACLs)
 * kept, so a service that reads it through its group or an ACL keeps
 * reading it. The text itself is conf.c's business.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "conf.h"
#include "../kmc/common.h"
#include "../safeio/fileio.h"
#include "../safeio/folders.h"

const kmc_file_rule conf_file_rule = {
	.forbidden = 022,	/* no one else may change it */
	.max_size = CONF_MAX,
	.allow_root_owner = 1,
};

void conf_file_free(conf_file *f)
{
	if (f->dirfd >= 0)
		close(f->dirfd);
	f->dirfd = -1;
	free(f->text);
	f->text = NULL;
	free(f->xattrs);
	f->xattrs = NULL;
}

int conf_file_read(const char *path, conf_file *f)
{
	_cleanup_(kmc_closep) int fd = -1;
	char dir[PATH_MAX];
	const char *slash;
	struct stat st;
	int r;

	*f = (conf_file){ .dirfd = -1 };
	r = kmc_path_absolute(path, f->path, sizeof(f->path));
	if (r < 0)
		return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
	slash = strrchr(f->path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash == f->path ? 1 :
		(int)(slash - f->path), f->path);
	f->base = slash + 1;
	f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0) {
		r = -errno;
		return kmc_detail(r, "%s: %s", dir, kmc_strerror(r));
	}
	fd = kmc_open_checked(f->dirfd, f->base, f->path, &conf_file_rule, &st);
	if (fd < 0) {
		if (!kmc_error_detail()[0])
			kmc_detail(fd, "%s: %s", f->path, kmc_strerror(fd));
		return fd;
	}
	f->text = malloc(CONF_MAX + 1);
	KMC_ENSURE(f->text, KMC_E_NOMEM);
	r = kmc_read_all(fd, f->text, CONF_MAX + 1, &f->len);
	if (r < 0)
		return kmc_detail(r, "%s: %s", f->path, kmc_strerror(r));
	if (f->len > CONF_MAX)
		return kmc_detail(KMC_E_TOO_LARGE, "%s is over %u bytes",
			f->path, CONF_MAX);
	/* Input the user names, not vault data: malformed input (exit 2),
	   as a NUL is at import and crl update. */
	if (memchr(f->text, '\0', f->len))
		return kmc_detail(KMC_E_INVALID, "%s holds a NUL byte: not a "
			"text config file", f->path);
	r = kmc_xattrs_get(fd, &f->xattrs, &f->xattrs_len);
	if (r < 0)
		return kmc_detail(r, "%s: reading its extended attributes: %s",
			f->path, kmc_strerror(r));
	f->meta = (kmc_file_meta){
		.mode = st.st_mode & 07777,
		.uid = st.st_uid == geteuid() ? (uid_t)-1 : st.st_uid,
		.gid = st.st_gid,
		.xattrs = f->xattrs,
		.xattrs_len = f->xattrs_len,
	};
	return 0;
}

int conf_file_replace(conf_file *f, const uint8_t *text, size_t len)
{
	char staged[NAME_MAX + 16];
	int r;

	if ((size_t)snprintf(staged, sizeof(staged), ".%s.kmc-new", f->base) >=
	    sizeof(staged))
		return kmc_detail(KMC_E_TOO_LARGE, "%s: name too long",
			f->path);
	r = kmc_write_new(f->dirfd, staged, text, len, &f->meta);
	if (r < 0)
		return kmc_detail(r, "writing %s beside %s: %s", staged,
			f->path, kmc_strerror(r));
	if (renameat(f->dirfd, staged, f->dirfd, f->base) < 0) {
		r = -errno;
		(void)unlinkat(f->dirfd, staged, 0);
		return kmc_detail(r, "replacing %s: %s", f->path,
			kmc_strerror(r));
	}
	f->replaced = 1;
	if (fsync(f->dirfd) < 0) {
		r = -errno;
		return kmc_detail(r, "%s was replaced, but syncing its folder "
			"failed: %s", f->path, kmc_strerror(r));
	}
	return 0;
}
