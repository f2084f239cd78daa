/*
 * conf.h - updating "key = value" config files (vault/conf.c).
 */
#ifndef KMC_CONF_H
#define KMC_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include "../kmc/common.h"
#include "../safeio/fileio.h"

#define CONF_MAX (1024u * 1024u)
#define CONF_LINE_MAX (64u * 1024u)
#define CONF_ENTRIES_MAX 16
#define CONF_KEY_MAX 256
#define CONF_INDENT_MAX 64	/* kept indentation of a replaced line */

typedef struct conf_entry {
	const char *key;
	const char *value;	/* NULL: remove the key */
} conf_entry;

/*
 * conf_update - the text of in with entries set; *ret is malloc'd.
 * Returns 0; KMC_E_TOO_LARGE, KMC_E_CORRUPT (a NUL byte), KMC_E_INVALID
 * (a key or value that cannot be written), KMC_E_NOMEM.
 */
KMC_INTERNAL int conf_update(const uint8_t *in, size_t len,
	const conf_entry *e, size_t n, uint8_t **ret, size_t *ret_len)
	KMC_MUST_CHECK;

/* A config file kmc reads or rewrites: no one else may change it. */
KMC_INTERNAL extern const kmc_file_rule conf_file_rule;

/* A config file read to be rewritten (vault/conffile.c). */
typedef struct conf_file {
	char path[PATH_MAX];	/* absolute */
	int dirfd;		/* its folder */
	const char *base;	/* its name there */
	uint8_t *text;		/* no NUL byte, at most CONF_MAX */
	size_t len;
	uint8_t *xattrs;
	size_t xattrs_len;
	kmc_file_meta meta;	/* what the rewritten file keeps */
	int replaced;		/* conf_file_replace() renamed the new
				   text in place, even if it then failed */
} conf_file;

/*
 * conf_file_read - open path as conf_file_rule allows and read it.
 * Returns 0; -ENOENT when absent; KMC_E_PERM, KMC_E_TOO_LARGE,
 * KMC_E_INVALID (a NUL byte), KMC_E_NOMEM, -errno; each with a detail
 * naming the file. conf_file_free() in every case.
 */
KMC_INTERNAL int conf_file_read(const char *path, conf_file *f)
	KMC_MUST_CHECK;
/*
 * conf_file_replace - put text in place of f's file in one rename
 * (written and fsynced as .NAME.kmc-new beside it first), keeping its
 * owner, group, mode and attributes. Returns 0 or -errno with a detail;
 * f->replaced says whether the file holds the new text (it does when
 * only the sync of its folder failed).
 */
KMC_INTERNAL int conf_file_replace(conf_file *f, const uint8_t *text,
	size_t len) KMC_MUST_CHECK;
KMC_INTERNAL void conf_file_free(conf_file *f);

#endif
