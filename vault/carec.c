/*
 * carec.c - a CA's record (format in vault/ca.h): parsed with every
 * length bounded, encoded back byte for byte; serials as text; the
 * revocation reasons a CRL may carry; the number of the next CRL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "ca.h"
#include "../kmc/buf.h"

/* RFC 5280's CRLReason codes, but certificateHold (a revocation that is
   undone) and removeFromCRL (delta CRLs only), which the vault never
   writes. */
static const char *const reasons[] = {
	[0] = "unspecified",
	[1] = "keyCompromise",
	[2] = "cACompromise",
	[3] = "affiliationChanged",
	[4] = "superseded",
	[5] = "cessationOfOperation",
	[9] = "privilegeWithdrawn",
	[10] = "aACompromise",
};

const char *ca_reason_name(int code)
{
	if (code < 0 || (size_t)code >= sizeof(reasons) / sizeof(reasons[0]))
		return NULL;
	return reasons[code];
}

int ca_reason_parse(const char *s, int *ret)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i] && !strcasecmp(reasons[i], s)) {
			*ret = (int)i;
			return 0;
		}
	return KMC_E_INVALID;
}

int ca_crl_number(const ca_rec *c, uint64_t now_us, uint64_t *ret)
{
	uint64_t n = c->next_crl > now_us ? c->next_crl : now_us;

	if (n >= CA_CRL_NUMBER_MAX)
		return KMC_E_LIMIT;
	*ret = n;
	return 0;
}

int ca_serial_valid(const uint8_t *serial, size_t len)
{
	return len >= 1 && len <= CA_SERIAL_MAX && serial[0] != 0;
}

int ca_serial_parse(const char *s, uint8_t out[CA_SERIAL_MAX],
	size_t *ret_len)
{
	uint8_t buf[2 * CA_SERIAL_MAX + 2];
	size_t nd = 0, n = 0, i = 0;
	int colons = strchr(s, ':') != NULL;

	if (!strncmp(s, "0x", 2) || !strncmp(s, "0X", 2))
		s += 2;
	/* Digits, with a colon after each pair but the last when any. */
	for (const char *p = s; *p; p++) {
		if (*p == ':') {
			if (!colons || nd % 2 || nd == 0 || !p[1])
				return KMC_E_INVALID;
			continue;
		}
		if (kmc_hexval(*p) < 0 || nd == sizeof(buf))
			return KMC_E_INVALID;
		if (colons && nd % 2 == 0 && p != s && p[-1] != ':')
			return KMC_E_INVALID;
		buf[nd++] = (uint8_t)kmc_hexval(*p);
	}
	if (nd == 0 || (colons && nd % 2))
		return KMC_E_INVALID;
	/* Leading zeros say nothing: the number is what counts. */
	while (i < nd && buf[i] == 0)
		i++;
	if (i == nd)
		return KMC_E_INVALID;
	if ((nd - i) % 2) {
		out[n++] = buf[i++];
	}
	for (; i < nd; i += 2) {
		if (n == CA_SERIAL_MAX)
			return KMC_E_INVALID;
		out[n++] = (uint8_t)(buf[i] << 4 | buf[i + 1]);
	}
	*ret_len = n;
	return 0;
}

void ca_serial_text(const uint8_t *serial, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[serial[i] >> 4];
		out[2 * i + 1] = hex[serial[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int serial_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
	size_t blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

void ca_rec_clear(ca_rec *c)
{
	free(c->e);
	memset(c, 0, sizeof(*c));
}

static int grow(ca_rec *c)
{
	size_t cap = c->cap ? c->cap * 2 : 16;
	ca_entry *e;

	if (c->n < c->cap)
		return 0;
	if (cap > CA_CERTS_MAX)
		cap = CA_CERTS_MAX;
	e = realloc(c->e, cap * sizeof(*e));
	KMC_ENSURE(e, KMC_E_NOMEM);
	c->e = e;
	c->cap = cap;
	return 0;
}

ssize_t ca_rec_find(const ca_rec *c, const uint8_t *serial, size_t len)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = serial_cmp(c->e[mid].serial, c->e[mid].serial_len,
			serial, len);

		if (d == 0)
			return (ssize_t)mid;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int ca_rec_add(ca_rec *c, const ca_entry *e)
{
	size_t pos;

	KMC_ASSERT(ca_serial_valid(e->serial, e->serial_len));
	if (ca_rec_find(c, e->serial, e->serial_len) >= 0)
		return KMC_E_EXISTS;
	if (c->n == CA_CERTS_MAX)
		return KMC_E_LIMIT;
	KMC_GUARD(grow(c));
	for (pos = c->n; pos > 0 && serial_cmp(c->e[pos - 1].serial,
		c->e[pos - 1].serial_len, e->serial, e->serial_len) > 0; pos--)
		;
	memmove(&c->e[pos + 1], &c->e[pos], (c->n - pos) * sizeof(c->e[0]));
	c->e[pos] = *e;
	c->n++;
	return 0;
}

static int name_ok(const char *s, size_t n)
{
	if (n == 0 || n > KMC_BUNDLE_NAME_MAX || strlen(s) != n)
		return 0;
	return kmc_name_check(s) == 0;
}

static int parse_entry(kmc_rbuf *b, ca_entry *e)
{
	const uint8_t *p;
	uint8_t len;
	uint64_t t;

	memset(e, 0, sizeof(*e));
	KMC_GUARD(kmc_rbuf_u8(b, &len));
	KMC_GUARD(kmc_rbuf_bytes(b, len, &p));
	KMC_ENSURE(ca_serial_valid(p, len), KMC_E_CORRUPT);
	memcpy(e->serial, p, len);
	e->serial_len = len;
	KMC_GUARD(kmc_rbuf_u8(b, &len));
	KMC_GUARD(kmc_rbuf_bytes(b, len, &p));
	KMC_ENSURE(len <= KMC_BUNDLE_NAME_MAX, KMC_E_CORRUPT);
	memcpy(e->name, p, len);
	e->name[len] = '\0';
	KMC_ENSURE(name_ok(e->name, len), KMC_E_CORRUPT);
	KMC_GUARD(kmc_rbuf_u8(b, &e->kind));
	KMC_ENSURE(e->kind == CA_KIND_SERVER || e->kind == CA_KIND_CLIENT,
		KMC_E_CORRUPT);
	KMC_GUARD(kmc_rbuf_u64(b, &t));
	e->not_after = (int64_t)t;
	KMC_GUARD(kmc_rbuf_u8(b, &e->flags));
	KMC_ENSURE((e->flags & ~CA_FLAG_REVOKED) == 0, KMC_E_CORRUPT);
	if (!(e->flags & CA_FLAG_REVOKED))
		return 0;
	KMC_GUARD(kmc_rbuf_u64(b, &t));
	e->revoked_at = (int64_t)t;
	KMC_GUARD(kmc_rbuf_u8(b, &e->reason));
	KMC_ENSURE(ca_reason_name(e->reason) != NULL, KMC_E_CORRUPT);
	return 0;
}

int ca_rec_parse(const uint8_t *p, size_t len, ca_rec *ret)
{
	kmc_rbuf b = KMC_RBUF(p, len);
	uint8_t ver;
	uint32_t n;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = kmc_rbuf_u8(&b, &ver);
	if (r == 0 && ver != CA_RECORD_VERSION)
		r = KMC_E_VERSION;
	if (r == 0)
		r = kmc_rbuf_u64(&b, &ret->next_crl);
	if (r == 0 && (ret->next_crl == 0 ||
	    ret->next_crl > CA_CRL_NUMBER_MAX))
		r = KMC_E_CORRUPT;
	if (r == 0)
		r = kmc_rbuf_u32(&b, &n);
	if (r == 0 && n > CA_CERTS_MAX)
		r = KMC_E_CORRUPT;
	/* Each entry takes at least 12 bytes: no allocation for a count
	   the bytes left cannot hold. */
	if (r == 0 && (size_t)n > kmc_rbuf_left(&b) / 12)
		r = KMC_E_CORRUPT;
	if (r == 0 && n > 0) {
		ret->e = malloc((size_t)n * sizeof(ret->e[0]));
		ret->cap = n;
		if (!ret->e)
			r = KMC_E_NOMEM;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		ca_entry *e = &ret->e[i];

		r = parse_entry(&b, e);
		if (r == 0 && i > 0 && serial_cmp(ret->e[i - 1].serial,
		    ret->e[i - 1].serial_len, e->serial, e->serial_len) >= 0)
			r = KMC_E_CORRUPT;
		if (r == 0)
			ret->n = i + 1;
	}
	if (r == 0 && kmc_rbuf_left(&b) != 0)
		r = KMC_E_CORRUPT;
	if (r < 0)
		ca_rec_clear(ret);
	return r;
}

int ca_rec_encode(const ca_rec *c, uint8_t **ret, size_t *ret_len)
{
	kmc_wbuf b = KMC_WBUF(KMC_ITEM_MAX);

	KMC_ASSERT(c->n <= CA_CERTS_MAX && c->next_crl > 0 &&
		c->next_crl <= CA_CRL_NUMBER_MAX);
	kmc_wbuf_u8(&b, CA_RECORD_VERSION);
	kmc_wbuf_u64(&b, c->next_crl);
	kmc_wbuf_u32(&b, (uint32_t)c->n);
	for (size_t i = 0; i < c->n; i++) {
		const ca_entry *e = &c->e[i];
		size_t nl = strlen(e->name);

		kmc_wbuf_u8(&b, e->serial_len);
		kmc_wbuf_bytes(&b, e->serial, e->serial_len);
		kmc_wbuf_u8(&b, (uint8_t)nl);
		kmc_wbuf_bytes(&b, e->name, nl);
		kmc_wbuf_u8(&b, e->kind);
		kmc_wbuf_u64(&b, (uint64_t)e->not_after);
		kmc_wbuf_u8(&b, e->flags);
		if (e->flags & CA_FLAG_REVOKED) {
			kmc_wbuf_u64(&b, (uint64_t)e->revoked_at);
			kmc_wbuf_u8(&b, e->reason);
		}
	}
	if (b.err) {
		int r = b.err;

		kmc_wbuf_free(&b);
		/* 4096 entries of at most 165 bytes fit in an item: only an
		   allocation fails here. */
		return r;
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}
