/*
 * auditline.c - one audit record line (docs/format.md, *Audit log*): its
 * frame ({"v":1,"seq":N, ... ,"prev":"<hex>","mac":"<hex>"}, the version
 * read first) and its top-level fields.
 *
 * The writer puts "v" and "seq" first and "prev" and "mac" last, and
 * inside a JSON string a quote is always escaped, so the byte pair `,"`
 * occurs only between fields and a top-level key is found by looking for
 * `,"key":`. Item objects use keys no top-level field has.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "audit.h"

#define HEXLEN (2 * AUDIT_HASH_LEN)

/* ---- a line's fields ---------------------------------------------------- */

static const char *find_key(const char *text, size_t len, const char *key)
{
	char pat[40];
	int n = snprintf(pat, sizeof(pat), ",\"%s\":", key);

	if (n < 0 || (size_t)n >= sizeof(pat))
		return NULL;
	if (len >= (size_t)n && text[0] == '{' &&
	    memcmp(text + 1, pat + 1, (size_t)n - 1) == 0)
		return text + n;
	for (size_t i = 0; i + (size_t)n <= len; i++)
		if (memcmp(text + i, pat, (size_t)n) == 0)
			return text + i + n;
	return NULL;
}

int audit_parse_u64(const char *p, const char *end, uint64_t *ret,
	const char **ret_end)
{
	uint64_t v = 0;
	const char *s = p;

	while (p < end && *p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return KMC_E_CORRUPT;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	KMC_ENSURE(p > s && p - s <= 20 && (p - s == 1 || *s != '0'),
		KMC_E_CORRUPT);
	*ret = v;
	if (ret_end)
		*ret_end = p;
	return 0;
}

int audit_line_u64(const char *text, size_t len, const char *key,
	uint64_t *ret)
{
	const char *p = find_key(text, len, key);

	KMC_ENSURE(p, KMC_E_NOT_FOUND);
	return audit_parse_u64(p, text + len, ret, NULL);
}

/* Decode the JSON string at p (its opening quote) into out. */
int audit_json_string(const char *p, const char *end, char *out,
	size_t size, const char **ret_end)
{
	size_t n = 0;

	KMC_ENSURE(p < end && *p == '"' && size > 0, KMC_E_CORRUPT);
	for (p++; p < end && *p != '"'; p++) {
		char c = *p;

		if (c == '\\') {
			KMC_ENSURE(++p < end, KMC_E_CORRUPT);
			c = *p;
			if (c == 'u') {
				unsigned v = 0;

				KMC_ENSURE(end - p > 4, KMC_E_CORRUPT);
				for (int i = 1; i <= 4; i++) {
					char h = p[i];

					KMC_ENSURE((h >= '0' && h <= '9') ||
						(h >= 'a' && h <= 'f'), KMC_E_CORRUPT);
					v = v * 16 + (unsigned)(h <= '9' ? h - '0' :
						h - 'a' + 10);
				}
				/* The writer escapes control bytes, never a
				   NUL (no name holds one): \u0000 would cut
				   "db\u0000x" short to "db". */
				KMC_ENSURE(v > 0 && v < 0x80, KMC_E_CORRUPT);
				c = (char)v;
				p += 4;
			} else {
				KMC_ENSURE(c == '"' || c == '\\', KMC_E_CORRUPT);
			}
		}
		KMC_ENSURE(n + 1 < size, KMC_E_TOO_LARGE);
		out[n++] = c;
	}
	KMC_ENSURE(p < end, KMC_E_CORRUPT);
	out[n] = '\0';
	if (ret_end)
		*ret_end = p + 1;
	return 0;
}

int audit_line_str(const char *text, size_t len, const char *key, char *out,
	size_t size)
{
	const char *p = find_key(text, len, key);

	KMC_ENSURE(p, KMC_E_NOT_FOUND);
	return audit_json_string(p, text + len, out, size, NULL);
}

static int unhex(const char *p, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int v = 0;

		for (int j = 0; j < 2; j++) {
			char h = p[2 * i + j];

			if (h >= '0' && h <= '9')
				v = v * 16 + (h - '0');
			else if (h >= 'a' && h <= 'f')
				v = v * 16 + (h - 'a' + 10);
			else
				return KMC_E_CORRUPT;
		}
		out[i] = (uint8_t)v;
	}
	return 0;
}

int audit_line_version(const char *text, size_t len, uint64_t *ret)
{
	static const char vhead[] = "{\"v\":";
	const char *p;
	uint64_t v;

	KMC_ENSURE(len > strlen(vhead) &&
		memcmp(text, vhead, strlen(vhead)) == 0, KMC_E_CORRUPT);
	KMC_GUARD(audit_parse_u64(text + strlen(vhead), text + len, &v, &p));
	KMC_ENSURE(p < text + len && *p == ',', KMC_E_CORRUPT);
	*ret = v;
	return 0;
}

int audit_line_parse(const char *text, size_t len, audit_line *ret)
{
	static const char head[] = "{\"v\":1,\"seq\":";
	static const char mac[] = ",\"mac\":\"";
	static const char prev[] = ",\"prev\":\"";
	size_t tail = strlen(mac) + HEXLEN + 2;	/* ,"mac":"<hex>"} */
	size_t ptail = strlen(prev) + HEXLEN + 1;
	const char *p;
	audit_line l;

	uint64_t v;

	/* The version before the length it governs: a record of a newer
	   version may be longer, and is refused as newer, not damaged. */
	if (audit_line_version(text, len, &v) == 0 &&
	    v > AUDIT_FORMAT_VERSION)
		return KMC_E_VERSION;
	KMC_ENSURE(len >= strlen(head) + tail + ptail && len < AUDIT_LINE_MAX,
		KMC_E_CORRUPT);
	KMC_ENSURE(memcmp(text, head, strlen(head)) == 0, KMC_E_CORRUPT);
	KMC_GUARD(audit_parse_u64(text + strlen(head), text + len, &l.seq, &p));
	KMC_ENSURE(p < text + len && *p == ',', KMC_E_CORRUPT);
	l.mac_at = len - tail;
	KMC_ENSURE(memcmp(text + l.mac_at, mac, strlen(mac)) == 0 &&
		text[len - 2] == '"' && text[len - 1] == '}', KMC_E_CORRUPT);
	KMC_GUARD(unhex(text + l.mac_at + strlen(mac), l.mac, AUDIT_HASH_LEN));
	KMC_ENSURE(memcmp(text + l.mac_at - ptail, prev, strlen(prev)) == 0 &&
		text[l.mac_at - 1] == '"', KMC_E_CORRUPT);
	KMC_GUARD(unhex(text + l.mac_at - ptail + strlen(prev), l.prev,
		AUDIT_HASH_LEN));
	l.text = text;
	l.len = len;
	*ret = l;
	return 0;
}
