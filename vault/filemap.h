/*
 * filemap.h - where this process has a file mapped (/proc/self/maps).
 */
#ifndef KMC_FILEMAP_H
#define KMC_FILEMAP_H

#include <stddef.h>
#include <stdint.h>
#include "../kmc/common.h"

/*
 * file_map_find - the first mapping in this process of the file open as
 * fd, from its offset 0 and at most max_len bytes long, into *ret_base
 * and *ret_len (set only on success).
 * Returns 0; KMC_E_NOT_FOUND when no such mapping is listed (or there is
 * no /proc); -errno when fd cannot be examined.
 */
KMC_INTERNAL int file_map_find(int fd, size_t max_len, uintptr_t *ret_base,
	size_t *ret_len) KMC_MUST_CHECK;

/*
 * file_map_line - parse one line of /proc/self/maps, [p, end) without its
 * newline: "start-end perms offset major:minor inode [path]", all hex but
 * the inode. Returns 1 and sets every output, or 0 (outputs unspecified)
 * when the line is not of that form or a number overflows.
 */
KMC_INTERNAL int file_map_line(const char *p, const char *end,
	unsigned long long *ret_start, unsigned long long *ret_end,
	unsigned long long *ret_off, unsigned long long *ret_dev,
	unsigned long long *ret_ino) KMC_MUST_CHECK;

#endif
