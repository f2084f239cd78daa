/*
 * cstring.h - the text form of a ciphertext string for configuration files:
 *
 *	kmc:v1:<mk-id>:<payload>
 *
 * mk-id is the decimal id of the master key (1 to 4294967295, no leading
 * zeros); payload is unpadded base64url of a sealed blob
 * (nonce || ciphertext || tag). The associated data of the seal binds the
 * vault id and the master-key id (see vault/strings.c), so a string only
 * opens in the vault that made it.
 */
#ifndef KMC_CSTRING_H
#define KMC_CSTRING_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"

#define KMC_CSTRING_PREFIX "kmc:v1:"
/* Longest string accepted: payload of the largest secret plus framing. */
#define KMC_CSTRING_MAX 8192

/*
 * kmc_cstring_format - *ret is a malloc'd NUL-terminated string.
 * Returns 0, KMC_E_TOO_LARGE, KMC_E_NOMEM.
 */
KMC_INTERNAL int kmc_cstring_format(uint32_t mk_id, const uint8_t *blob,
	size_t len, char **ret) KMC_MUST_CHECK;

/*
 * kmc_cstring_parse - parse len bytes of text (white space around it is
 * allowed); *ret_blob is malloc'd.
 * Returns 0; KMC_E_STRING, KMC_E_VERSION (a "kmc:vN:" other than v1),
 * KMC_E_TOO_LARGE, KMC_E_NOMEM.
 */
KMC_INTERNAL int kmc_cstring_parse(const char *text, size_t len,
	uint32_t *ret_mk_id, uint8_t **ret_blob, size_t *ret_len)
	KMC_MUST_CHECK;

#endif
