/*
 * escape.c - names and paths made safe to print (kmc_escape()).
 *
 * Item names, vault paths, file names, certificate subjects and token
 * URIs reach messages from whoever chose them. A newline in one would
 * forge a second line of a log; an ESC or a C1 control would drive the
 * terminal of whoever reads it. The kmc command and the provider print
 * every such text through here: each byte that is not printable text
 * comes out as a C escape: \n, \r, \t, \\ and \xNN for other C0
 * controls, DEL, C1 controls (U+0080 to U+009F, written as their two
 * UTF-8 bytes) and bytes that are not part of well-formed UTF-8. Other
 * UTF-8 text is kept as it is.
 */
#include <stdio.h>
#include <string.h>
#include <kmc.h>

#include "common.h"

/* The length of the well-formed, printable UTF-8 sequence at p, else 0. */
size_t kmc_utf8_len(const unsigned char *p, size_t left)
{
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > left)
		return 0;
	/* No overlong forms, no surrogates, nothing above U+10FFFF. */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	/* C1 controls: U+0080 to U+009F. */
	if (p[0] == 0xc2 && p[1] < 0xa0)
		return 0;
	return n;
}

/*
 * The escaped form of the first character at p, in out (NUL-terminated,
 * at most 5 bytes); *ret_used is how many bytes of p it took.
 */
static void escape_one(const unsigned char *p, size_t left, char out[6],
	size_t *ret_used)
{
	size_t n;

	*ret_used = 1;
	switch (p[0]) {
	case '\n': strcpy(out, "\\n"); return;
	case '\r': strcpy(out, "\\r"); return;
	case '\t': strcpy(out, "\\t"); return;
	case '\\': strcpy(out, "\\\\"); return;
	}
	if (p[0] >= 0x20 && p[0] < 0x7f) {
		out[0] = (char)p[0];
		out[1] = '\0';
		return;
	}
	if (p[0] >= 0x80 && (n = kmc_utf8_len(p, left)) > 0) {
		memcpy(out, p, n);
		out[n] = '\0';
		*ret_used = n;
		return;
	}
	snprintf(out, 6, "\\x%02x", p[0]);
}

char *kmc_escape(const char *s, char *buf, size_t size)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), used, w = 0;
	char out[6];

	if (size == 0)
		return buf;
	while (left > 0) {
		size_t n;

		escape_one(p, left, out, &used);
		n = strlen(out);
		if (w + n >= size)
			break;	/* cut at a whole escape, never inside one */
		memcpy(buf + w, out, n);
		w += n;
		p += used;
		left -= used;
	}
	buf[w] = '\0';
	return buf;
}

