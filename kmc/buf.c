/*
 * buf.c - the bounded read and write cursors of buf.h: every get checks
 * what is left, every put what the maximum allows.
 */
#include <string.h>
#include "buf.h"

int kmc_rbuf_bytes(kmc_rbuf *b, size_t n, const uint8_t **ret)
{
	KMC_ENSURE(kmc_rbuf_left(b) >= n, KMC_E_CORRUPT);
	*ret = b->p + b->off;
	b->off += n;
	return 0;
}

int kmc_rbuf_copy(kmc_rbuf *b, void *out, size_t n)
{
	const uint8_t *p;

	KMC_GUARD(kmc_rbuf_bytes(b, n, &p));
	memcpy(out, p, n);
	return 0;
}

/* Integers are big-endian on disk. */
static int rbuf_uint(kmc_rbuf *b, size_t n, uint64_t *ret)
{
	const uint8_t *p;
	uint64_t v = 0;

	KMC_GUARD(kmc_rbuf_bytes(b, n, &p));
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	*ret = v;
	return 0;
}

int kmc_rbuf_u8(kmc_rbuf *b, uint8_t *ret)
{
	uint64_t v;

	KMC_GUARD(rbuf_uint(b, 1, &v));
	*ret = (uint8_t)v;
	return 0;
}

int kmc_rbuf_u16(kmc_rbuf *b, uint16_t *ret)
{
	uint64_t v;

	KMC_GUARD(rbuf_uint(b, 2, &v));
	*ret = (uint16_t)v;
	return 0;
}

int kmc_rbuf_u32(kmc_rbuf *b, uint32_t *ret)
{
	uint64_t v;

	KMC_GUARD(rbuf_uint(b, 4, &v));
	*ret = (uint32_t)v;
	return 0;
}

int kmc_rbuf_u64(kmc_rbuf *b, uint64_t *ret)
{
	return rbuf_uint(b, 8, ret);
}

uint8_t *kmc_wbuf_reserve(kmc_wbuf *b, size_t n)
{
	static uint8_t empty;

	if (b->err)
		return NULL;
	/* Nothing to reserve: a valid pointer, never NULL + 0. */
	if (n == 0)
		return b->p ? b->p + b->len : &empty;
	if (n > b->max || b->len > b->max - n) {
		b->err = KMC_E_TOO_LARGE;
		return NULL;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (cap < b->len + n)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = KMC_E_NOMEM;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	b->len += n;
	return b->p + b->len - n;
}

void kmc_wbuf_bytes(kmc_wbuf *b, const void *p, size_t n)
{
	uint8_t *dst = kmc_wbuf_reserve(b, n);

	if (dst && n)
		memcpy(dst, p, n);
}

static void wbuf_uint(kmc_wbuf *b, size_t n, uint64_t v)
{
	uint8_t *dst = kmc_wbuf_reserve(b, n);

	if (!dst)
		return;
	for (size_t i = n; i > 0; i--) {
		dst[i - 1] = (uint8_t)v;
		v >>= 8;
	}
}

void kmc_wbuf_u8(kmc_wbuf *b, uint8_t v)
{
	wbuf_uint(b, 1, v);
}

void kmc_wbuf_u16(kmc_wbuf *b, uint16_t v)
{
	wbuf_uint(b, 2, v);
}

void kmc_wbuf_u32(kmc_wbuf *b, uint32_t v)
{
	wbuf_uint(b, 4, v);
}

void kmc_wbuf_u64(kmc_wbuf *b, uint64_t v)
{
	wbuf_uint(b, 8, v);
}

void kmc_wbuf_free(kmc_wbuf *b)
{
	free(b->p);
	*b = KMC_WBUF(b->max);
}
