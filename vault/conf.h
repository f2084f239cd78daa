/*
 * conf.h - updating "key = value" config files (vault/conf.c).
 */
#ifndef KMC_CONF_H
#define KMC_CONF_H

#include <stddef.h>
#include <stdint.h>
#include "../kmc/common.h"

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

#endif
