/*
 * batchread.c - the password-batch format, line by line (batchread.h).
 *
 * A line is NAME, one space or tab, then the password: the rest of the
 * line, spaces included. Empty lines and lines that begin with '#' are
 * skipped. Lines end in "\n"; the last may end the input instead. A line
 * ending in "\r" is refused, so a file saved with CRLF line ends never
 * stores passwords with a "\r" the user cannot see.
 */
#include <inttypes.h>
#include <string.h>
#include "batchread.h"
#include "vault.h"

int batch_reader_init(batch_reader *r, batch_line_fn fn, void *arg)
{
	memset(r, 0, sizeof(*r));
	r->fn = fn;
	r->arg = arg;
	r->lineno = 1;
	return kmc_secret_new(BATCH_LINE_MAX, &r->line);
}

void batch_reader_done(batch_reader *r)
{
	/* kmc_secret_free() wipes the whole line buffer. */
	kmc_secret_free(r->line);
	r->line = NULL;
	r->len = 0;
}

static int line_error(const batch_reader *r, int err, const char *what)
{
	return kmc_detail(err, "line %" PRIu64 ": %s", r->lineno, what);
}

static int line_error_n(const batch_reader *r, int err, const char *what,
	size_t n)
{
	return kmc_detail(err, "line %" PRIu64 ": %s %zu bytes", r->lineno,
		what, n);
}

/* The line in r->line[0..r->len): skip it, refuse it, or hand it on. */
static int end_line(batch_reader *r)
{
	const uint8_t *p = kmc_secret_data(r->line);
	const uint8_t *sp, *tab, *pw;
	char name[KMC_NAME_MAX + 1];
	size_t name_len, pw_len;
	int ret;

	if (r->len == 0 || p[0] == '#')
		return 0;
	sp = memchr(p, ' ', r->len);
	tab = memchr(p, '\t', r->len);
	if (!sp || (tab && tab < sp))
		sp = tab;
	/* The bytes are never shown: a line without a name may be a bare
	   password. */
	if (!sp)
		return line_error(r, KMC_E_INVALID, "no space or tab between "
			"the name and the password");
	name_len = (size_t)(sp - p);
	if (name_len == 0 || name_len > KMC_NAME_MAX)
		return line_error_n(r, KMC_E_NAME, "the name is not 1 to",
			(size_t)KMC_NAME_MAX);
	memcpy(name, p, name_len);
	name[name_len] = '\0';
	if (memchr(name, '\0', name_len) || kmc_name_check(name) < 0)
		return line_error(r, KMC_E_NAME, "the name is not of "
			"[A-Za-z0-9._@:/+-] starting with neither '.' nor '/'");
	pw = sp + 1;
	pw_len = r->len - name_len - 1;
	if (pw_len == 0)
		return line_error(r, KMC_E_EMPTY, "empty password");
	if (pw_len > KMC_BATCH_PASSWORD_MAX)
		return line_error_n(r, KMC_E_TOO_LARGE, "a password of more "
			"than", (size_t)KMC_BATCH_PASSWORD_MAX);
	if (memchr(pw, '\0', pw_len))
		return line_error(r, KMC_E_INVALID, "the password holds a NUL "
			"byte");
	if (pw[pw_len - 1] == '\r')
		return line_error(r, KMC_E_INVALID, "ends in a carriage return "
			"(CRLF line ends are refused)");
	ret = r->fn(r->arg, r->lineno, name, pw, pw_len);
	if (ret < 0)
		return ret;
	r->items++;
	return 0;
}

int batch_reader_feed(batch_reader *r, const uint8_t *data, size_t n)
{
	uint8_t *line = kmc_secret_data(r->line);

	while (n > 0) {
		const uint8_t *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;

		if (take > BATCH_LINE_MAX - r->len)
			return line_error_n(r, KMC_E_TOO_LARGE,
				"longer than", (size_t)BATCH_LINE_MAX);
		memcpy(line + r->len, data, take);
		r->len += take;
		if (!nl)
			return 0;
		KMC_GUARD(end_line(r));
		sodium_memzero(line, r->len);
		r->len = 0;
		r->lineno++;
		data = nl + 1;
		n -= take + 1;
	}
	return 0;
}

int batch_reader_end(batch_reader *r)
{
	int ret = end_line(r);

	sodium_memzero(kmc_secret_data(r->line), r->len);
	r->len = 0;
	return ret;
}
