/*
 * escape.c - names and paths made safe to print.
 *
 * Item names, vault paths, file names, certificate subjects and token
 * URIs reach kmc's messages from whoever chose them. A newline in one
 * would forge a second "kmc:" line; an ESC or a C1 control would drive
 * the terminal. Everything kmc prints for people goes through here, and
 * every byte that is not printable text comes out as a C escape: \n, \r,
 * \t, \\ and \xNN for other C0 controls, DEL, C1 controls (U+0080 to
 * U+009F, written as their two UTF-8 bytes) and bytes that are not part
 * of well-formed UTF-8. Other UTF-8 text is printed as it is. Secrets
 * (password get, decrypt, unwrap) never come here: they stay byte-exact.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

void cli_put_escaped(FILE *f, const char *s)
{
	/* At most 4 output bytes per input byte, and the NUL. */
	size_t n = strlen(s), size = n * 4 + 1;
	char *buf = malloc(size), small[256];

	if (!buf) {
		/* Out of memory: in pieces through a small buffer, never raw. */
		for (size_t i = 0; i < n; i += 60) {
			char part[61];

			snprintf(part, sizeof(part), "%s", s + i);
			fputs(kmc_escape(part, small, sizeof(small)), f);
		}
		return;
	}
	fputs(kmc_escape(s, buf, size), f);
	free(buf);
}

void cli_vreport(const char *fmt, va_list ap, const char *tail)
{
	char *text = NULL;

	fputs("kmc: ", stderr);
	if (vasprintf(&text, fmt, ap) < 0) {
		text = NULL;
		fputs("(out of memory for the message)", stderr);
	} else {
		cli_put_escaped(stderr, text);
	}
	free(text);
	if (tail) {
		fputs(": ", stderr);
		cli_put_escaped(stderr, tail);
	}
	fputc('\n', stderr);
}

void cli_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vreport(fmt, ap, NULL);
	va_end(ap);
}

void cli_token_note(const kmc_vault *v)
{
	const char *p = kmc_token_note(v), *nl;

	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p) - 1;
		cli_note("%.*s", (int)(nl - p + (*nl != '\n')), p);
	}
}
