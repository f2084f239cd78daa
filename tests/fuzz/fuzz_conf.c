/*
 * fuzz_conf.c - conf_update() with fixed entries on arbitrary text
 * (vault/conf.c).
 *
 * On success: the result is text ending in a newline; the lines that
 * are not assignments of an entry's key are those of the input, in
 * order (a last line without an ending gets the file's, so in a CRLF
 * file it gains a '\r'); each key with a value is assigned exactly once,
 * a removed key never, its line ending as the file's first line does
 * ("\r\n" or "\n"); and a second update changes nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const conf_entry entries[] = {
	{ "server_key_mm", "kmc:v1:1:AAAA" },
	{ "server_key", "/etc/kmc/keys/server.key" },
	{ "crl", NULL },
	{ "ca_crt", "" },
	{ "x", "a = b # not a comment" },
};
#define N_ENTRIES (sizeof(entries) / sizeof(entries[0]))

static int blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* The entry a line assigns, or -1; the rules of conf.c. */
static int line_entry(const uint8_t *l, size_t n, size_t *ret_indent)
{
	size_t i = 0, start, end;

	while (i < n && blank(l[i]))
		i++;
	if (i == n || l[i] == '#' || l[i] == ';')
		return -1;
	start = i;
	while (i < n && l[i] != '=' && !blank(l[i]))
		i++;
	end = i;
	while (i < n && blank(l[i]))
		i++;
	if (i == n || l[i] != '=' || end == start)
		return -1;
	for (size_t k = 0; k < N_ENTRIES; k++)
		if (strlen(entries[k].key) == end - start &&
		    memcmp(entries[k].key, l + start, end - start) == 0) {
			*ret_indent = start;
			return (int)k;
		}
	return -1;
}

/* Step to the next line: [*line, +*len), 0 at the end. */
static int next_line(const uint8_t **p, const uint8_t *end,
	const uint8_t **line, size_t *len)
{
	const uint8_t *nl;

	if (*p >= end)
		return 0;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	*line = *p;
	*len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	*p += *len + (nl ? 1 : 0);
	return 1;
}

/* The next line of [*p, end) that assigns no entry. */
static int next_other(const uint8_t **p, const uint8_t *end,
	const uint8_t **line, size_t *len)
{
	size_t indent;

	while (next_line(p, end, line, len))
		if (line_entry(*line, *len, &indent) < 0)
			return 1;
	return 0;
}

/* The file's line ending as conf.c takes it: that of the first line the
   update keeps (not one setting a removed key); a last line without
   '\n' that ends in '\r' counts as CRLF. */
static int file_crlf(const uint8_t *in, size_t len)
{
	const uint8_t *p = in, *l;
	size_t n, indent;

	while (next_line(&p, in + len, &l, &n)) {
		int k = line_entry(l, n, &indent);

		if (k >= 0 && !entries[k].value)
			continue;
		return n > 0 && l[n - 1] == '\r';
	}
	return 0;
}

static void check(const uint8_t *in, size_t in_len, const uint8_t *out,
	size_t out_len)
{
	const uint8_t *p = in, *q = out, *a, *b;
	size_t alen, blen, indent;
	int seen[N_ENTRIES] = { 0 };
	int crlf = file_crlf(in, in_len);

	if (memchr(out, '\0', out_len) ||
	    (out_len && out[out_len - 1] != '\n'))
		abort();
	for (;;) {
		int more_in = next_other(&p, in + in_len, &a, &alen);
		int more_out = next_other(&q, out + out_len, &b, &blen);

		if (more_in != more_out)
			abort();
		if (!more_in)
			break;
		/* The input's last line, without an ending, took the file's:
		   in a CRLF file a '\r' (unless it ended in one already). */
		if (crlf && a + alen == in + in_len && alen + 1 == blen &&
		    b[alen] == '\r' && (alen == 0 || a[alen - 1] != '\r'))
			blen--;
		if (alen != blen || memcmp(a, b, alen) != 0)
			abort();
	}
	q = out;
	while (next_line(&q, out + out_len, &b, &blen)) {
		int k = line_entry(b, blen, &indent);
		const conf_entry *e;
		size_t klen, vlen;

		if (k < 0)
			continue;
		e = &entries[k];
		if (!e->value || seen[k]++)
			abort();
		klen = strlen(e->key);
		vlen = strlen(e->value);
		if (crlf) {
			if (blen == 0 || b[blen - 1] != '\r')
				abort();
			blen--;
		}
		if (blen != indent + klen + 3 + vlen ||
		    memcmp(b + indent + klen, " = ", 3) != 0 ||
		    memcmp(b + indent + klen + 3, e->value, vlen) != 0)
			abort();
	}
	for (size_t k = 0; k < N_ENTRIES; k++)
		if (entries[k].value && seen[k] != 1)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *out = NULL, *again = NULL;
	size_t len = 0, again_len = 0;
	int r;

	r = conf_update(data, size, entries, N_ENTRIES, &out, &len);
	if (r != 0) {
		if (r != KMC_E_TOO_LARGE && r != KMC_E_CORRUPT)
			abort();
		if (r == KMC_E_CORRUPT && !memchr(data, '\0', size))
			abort();
		return 0;
	}
	if (memchr(data, '\0', size))
		abort();
	check(data, size, out, len);
	r = conf_update(out, len, entries, N_ENTRIES, &again, &again_len);
	if (r != 0 || again_len != len || memcmp(again, out, len) != 0)
		abort();
	free(again);
	free(out);
	return 0;
}
