/*
 * conf.c - setting entries in a "key = value" config file while keeping
 * every other line, comment and blank as it was.
 *
 * A line "  key = value" (spaces or tabs around '=' optional) whose key is
 * one of the entries gets the new value in place; later lines for the same
 * key are dropped, since they would override it; entries not found are
 * appended. An entry with a NULL value removes its key. Lines starting
 * with '#' or ';' are comments. Lines kmc writes end as the first line it
 * keeps does, "\r\n" or "\n", so a CRLF file stays CRLF throughout; a
 * kept line keeps its own ending. The input is at most CONF_MAX bytes with
 * lines of at most CONF_LINE_MAX, no NUL bytes; values may not hold
 * newlines.
 */
#include <string.h>
#include "conf.h"
#include "../kmc/buf.h"

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The key of a line, if it is an assignment: [*ret_key, +*ret_len). */
static int line_key(const char *line, size_t len, const char **ret_key,
	size_t *ret_len)
{
	size_t i = 0, start, end;

	while (i < len && is_blank(line[i]))
		i++;
	if (i == len || line[i] == '#' || line[i] == ';')
		return 0;
	start = i;
	while (i < len && line[i] != '=' && !is_blank(line[i]))
		i++;
	end = i;
	while (i < len && is_blank(line[i]))
		i++;
	if (i == len || line[i] != '=' || end == start)
		return 0;
	*ret_key = line + start;
	*ret_len = end - start;
	return 1;
}

static int entry_index(const conf_entry *e, size_t n, const char *key,
	size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(e[i].key) == len && memcmp(e[i].key, key, len) == 0)
			return (int)i;
	return -1;
}

static void put_entry(kmc_wbuf *out, const char *indent, size_t indent_len,
	const conf_entry *e, const char *eol)
{
	kmc_wbuf_bytes(out, indent, indent_len);
	kmc_wbuf_bytes(out, e->key, strlen(e->key));
	kmc_wbuf_bytes(out, " = ", 3);
	kmc_wbuf_bytes(out, e->value, strlen(e->value));
	kmc_wbuf_bytes(out, eol, strlen(eol));
}

/*
 * The file's line ending: that of its first line the update keeps (a line
 * that sets a removed key goes, and the next one then comes first), else
 * "\n". A last line without '\n' that ends in '\r' counts as CRLF: kmc
 * completes it with "\n", after which it reads as CRLF, so a second
 * update must find what the first one wrote.
 */
static const char *file_eol(const char *p, size_t len, const conf_entry *e,
	size_t n)
{
	const char *end = p + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t line_len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *key;
		size_t key_len;
		int idx = -1;

		if (line_key(p, line_len, &key, &key_len))
			idx = entry_index(e, n, key, key_len);
		if (idx < 0 || e[idx].value) {
			if (!nl)
				return line_len > 0 && p[line_len - 1] == '\r' ?
					"\r\n" : "\n";
			return nl > p && nl[-1] == '\r' ? "\r\n" : "\n";
		}
		p += line_len + (nl ? 1 : 0);
	}
	return "\n";
}

int conf_update(const uint8_t *in, size_t len, const conf_entry *e,
	size_t n, uint8_t **ret, size_t *ret_len)
{
	kmc_wbuf out = KMC_WBUF(CONF_MAX + CONF_ENTRIES_MAX * (CONF_LINE_MAX + 1));
	int done[CONF_ENTRIES_MAX] = { 0 };
	const char *p = (const char *)in, *end = p + len;
	const char *eol;
	int r;

	KMC_ENSURE(n <= CONF_ENTRIES_MAX, KMC_E_INVALID);
	KMC_ENSURE(len <= CONF_MAX, KMC_E_TOO_LARGE);
	KMC_ENSURE(!memchr(in, '\0', len), KMC_E_CORRUPT);
	for (size_t i = 0; i < n; i++) {
		KMC_ENSURE(e[i].key[0] && strlen(e[i].key) <= CONF_KEY_MAX &&
			!strpbrk(e[i].key, " \t=\n\r#;"), KMC_E_INVALID);
		/* The whole line, with the longest indentation a kept line may
		   have and a '\r' before its '\n', must stay within what this
		   parser reads back. */
		KMC_ENSURE(!e[i].value || (!strpbrk(e[i].value, "\n\r") &&
			strlen(e[i].key) + 3 + strlen(e[i].value) + CONF_INDENT_MAX
			+ 1 <= CONF_LINE_MAX), KMC_E_INVALID);
	}
	eol = file_eol(p, len, e, n);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t line_len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *key;
		size_t key_len;
		int idx = -1;

		if (line_len > CONF_LINE_MAX) {
			kmc_wbuf_free(&out);
			return KMC_E_TOO_LARGE;
		}
		if (line_key(p, line_len, &key, &key_len))
			idx = entry_index(e, n, key, key_len);
		if (idx < 0) {
			/* A last line without an ending gets the file's (its
			   own '\r' already starts one). */
			const char *ending = nl || p[line_len - 1] == '\r' ?
				"\n" : eol;

			kmc_wbuf_bytes(&out, p, line_len);
			kmc_wbuf_bytes(&out, ending, strlen(ending));
		} else if (!done[idx]) {
			size_t indent = (size_t)(key - p);

			done[idx] = 1;
			if (e[idx].value)
				put_entry(&out, p, indent > CONF_INDENT_MAX ?
					CONF_INDENT_MAX : indent, &e[idx], eol);
		}
		p += line_len + (nl ? 1 : 0);
	}
	for (size_t i = 0; i < n; i++)
		if (!done[i] && e[i].value)
			put_entry(&out, "", 0, &e[i], eol);
	if (out.err) {
		r = out.err;
		kmc_wbuf_free(&out);
		return r;
	}
	*ret = out.p;
	*ret_len = out.len;
	return 0;
}
