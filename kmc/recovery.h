/*
 * recovery.h - recovery keys a person can type.
 *
 * 25 random bytes (200 bits) in Crockford base32, as 8 groups of 5
 * symbols, each group followed by a check symbol:
 *
 *	7KQ2M-X 0R8TD-F ...   written   7KQ2MX-0R8TDF-...
 *
 * The check of group g is (g + 1 + sum of (2i+1) * s_i) mod 32 over its
 * five symbols s_0..s_4: odd weights catch every single wrong symbol, and
 * the group index catches groups typed in the wrong order. Reading is
 * forgiving: case, spaces and dashes are ignored, O reads as 0 and I, L
 * as 1, so the error says which group is wrong.
 */
#ifndef KMC_RECOVERY_H
#define KMC_RECOVERY_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"

#define RECOVERY_BYTES 25
#define RECOVERY_GROUPS 8
/* 8 groups of 6 symbols, 7 dashes, NUL */
#define RECOVERY_TEXT_LEN (RECOVERY_GROUPS * 7)

/* kmc_recovery_encode - the text of 25 bytes, into a guarded secret. */
KMC_INTERNAL int kmc_recovery_encode(const uint8_t in[RECOVERY_BYTES],
	kmc_secret **ret) KMC_MUST_CHECK;

/*
 * kmc_recovery_decode - the 25 bytes of a typed recovery key, into a
 * guarded secret. Returns 0 or KMC_E_STRING, with a detail naming the
 * first group that does not check.
 */
KMC_INTERNAL int kmc_recovery_decode(const char *text, size_t len,
	kmc_secret **ret) KMC_MUST_CHECK;

#endif
