/*
 * buf.h - bounded cursors for parsing and building binary formats.
 *
 * kmc_rbuf reads from caller-owned bytes: every getter checks what is left
 * and fails with KMC_E_CORRUPT instead of reading past the end.
 * kmc_wbuf grows a heap buffer up to a hard maximum; its first failure is
 * sticky, so a writer checks once at the end. A wbuf never holds secrets:
 * it reallocs.
 */
#ifndef KMC_BUF_H
#define KMC_BUF_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"

typedef struct kmc_rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
} kmc_rbuf;

#define KMC_RBUF(data, n) ((kmc_rbuf){ (const uint8_t *)(data), (n), 0 })

static inline size_t kmc_rbuf_left(const kmc_rbuf *b)
{
	KMC_ASSERT(b->off <= b->len);
	return b->len - b->off;
}

KMC_INTERNAL int kmc_rbuf_u8(kmc_rbuf *b, uint8_t *ret);
KMC_INTERNAL int kmc_rbuf_u16(kmc_rbuf *b, uint16_t *ret);
KMC_INTERNAL int kmc_rbuf_u32(kmc_rbuf *b, uint32_t *ret);
KMC_INTERNAL int kmc_rbuf_u64(kmc_rbuf *b, uint64_t *ret);
/* Point *ret at the next n bytes and step over them. */
KMC_INTERNAL int kmc_rbuf_bytes(kmc_rbuf *b, size_t n, const uint8_t **ret);
/* Copy the next n bytes into out. */
KMC_INTERNAL int kmc_rbuf_copy(kmc_rbuf *b, void *out, size_t n);

typedef struct kmc_wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t max;
	int err;
} kmc_wbuf;

#define KMC_WBUF(maximum) ((kmc_wbuf){ NULL, 0, 0, (maximum), 0 })

KMC_INTERNAL void kmc_wbuf_u8(kmc_wbuf *b, uint8_t v);
KMC_INTERNAL void kmc_wbuf_u16(kmc_wbuf *b, uint16_t v);
KMC_INTERNAL void kmc_wbuf_u32(kmc_wbuf *b, uint32_t v);
KMC_INTERNAL void kmc_wbuf_u64(kmc_wbuf *b, uint64_t v);
KMC_INTERNAL void kmc_wbuf_bytes(kmc_wbuf *b, const void *p, size_t n);
/* Reserve n bytes and return where they start, or NULL after a failure. */
KMC_INTERNAL uint8_t *kmc_wbuf_reserve(kmc_wbuf *b, size_t n);
KMC_INTERNAL void kmc_wbuf_free(kmc_wbuf *b);

#endif
