/*
 * secretio.c - reading passwords and passphrases from descriptors and
 * files straight into guarded memory.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include "fileio.h"

static const kmc_file_rule secret_file_rule = {
	.forbidden = 077,
	.max_size = 1024u * 1024u,
	.allow_root_owner = 1,
};

static int strip_newline(kmc_secret *s)
{
	size_t n = kmc_secret_len(s);
	const unsigned char *p = kmc_secret_data(s);

	/* "\n" or "\r\n"; a lone "\r" belongs to the secret. */
	if (n > 0 && p[n - 1] == '\n') {
		n--;
		if (n > 0 && p[n - 1] == '\r')
			n--;
	}
	KMC_GUARD(kmc_secret_shrink(s, n));
	KMC_ENSURE(n > 0, KMC_E_EMPTY);
	return 0;
}

int kmc_secret_read_fd(int fd, size_t max, kmc_secret **ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;
	size_t len;
	int r;

	kmc_detail_clear();
	KMC_ENSURE(max > 0, KMC_E_INVALID);
	/* The library's own cap bounds any max (and max + 2 below). */
	if (max > secret_file_rule.max_size)
		max = secret_file_rule.max_size;
	/* Room for the newline that is then removed. */
	KMC_GUARD(kmc_secret_new(max + 2, &s));
	r = kmc_read_all(fd, kmc_secret_data(s), max + 2, &len);
	if (r == 0)
		r = kmc_secret_shrink(s, len);
	if (r == 0)
		r = strip_newline(s);
	if (r == 0 && kmc_secret_len(s) > max)
		r = KMC_E_TOO_LARGE;
	if (r == KMC_E_TOO_LARGE)
		return kmc_detail(r, "descriptor %d: more than %zu bytes", fd,
			max);
	if (r == KMC_E_EMPTY)
		return kmc_detail(r, "descriptor %d: empty", fd);
	KMC_GUARD(r);
	*ret = TAKE_PTR(s);
	return 0;
}

int kmc_secret_read_file(const char *path, size_t max, kmc_secret **ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;
	_cleanup_(kmc_closep) int dirfd = -1;
	_cleanup_(freep) char *base = NULL;
	kmc_file_rule rule = secret_file_rule;
	int r;

	kmc_detail_clear();
	KMC_ENSURE(max > 0, KMC_E_INVALID);
	if (max > secret_file_rule.max_size)
		max = secret_file_rule.max_size;
	rule.max_size = max + 2;
	r = kmc_open_parent_to_read(path, &dirfd, &base);
	if (r == -EACCES)
		return r;	/* the detail names the folder */
	if (r < 0)
		return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
	r = kmc_read_checked_secret(dirfd, base, path, &rule, &s);
	if (r == KMC_E_TOO_LARGE)
		return kmc_detail(r, "%s: more than %zu bytes", path, max);
	KMC_GUARD(r);
	r = strip_newline(s);
	if (r == 0 && kmc_secret_len(s) > max)
		r = KMC_E_TOO_LARGE;
	if (r == KMC_E_TOO_LARGE)
		return kmc_detail(r, "%s: more than %zu bytes", path, max);
	if (r == KMC_E_EMPTY)
		return kmc_detail(r, "%s is empty", path);
	KMC_GUARD(r);
	*ret = TAKE_PTR(s);
	return 0;
}
