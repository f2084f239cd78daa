/*
 * cli.h - the kmc command's shared helpers. The command sees only the
 * public headers; every decision about keys lives in the library.
 */
#ifndef KMC_CLI_H
#define KMC_CLI_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <kmc.h>
#include <kmc/admin.h>

/* Exit codes, documented in docs/cli.md and kmc --help. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* anything not below */
	EXIT_USAGE = 2,		/* bad arguments, no way to ask for a secret */
	EXIT_AUTH = 3,		/* wrong passphrase, host key, no protector */
	EXIT_INTEGRITY = 4,	/* altered, damaged or foreign data */
	EXIT_PERM = 5,		/* unsafe owner, mode, link */
	EXIT_IO = 6,		/* system and store faults */
	EXIT_NOT_FOUND = 7,	/* no such vault or item */
	EXIT_EXISTS = 8,	/* a vault or item that must be new exists */
	EXIT_VERIFY = 9,	/* material failed a check: dates, chain, key
				   match, CRL, key type */
};

/*
 * Internal results of the prompt, beyond kmc_error: below the library's
 * codes, as those are below errno's, so that none is taken for another.
 */
#define CLI_E_BASE (-50000)
#define CLI_NO_TTY (CLI_E_BASE - 1)
#define CLI_INTERRUPTED (CLI_E_BASE - 2)
/*
 * Returned by cli_fail() and friends: already reported, exit with code.
 * CLI_EXIT_CODE() gives the exit code back from such a result, which
 * CLI_IS_EXIT() tells from any other.
 */
#define CLI_EXIT_BASE (-60000)
#define CLI_EXIT(code) (CLI_EXIT_BASE - (code))
#define CLI_IS_EXIT(r) ((r) <= CLI_EXIT_BASE)
#define CLI_EXIT_CODE(r) (CLI_EXIT_BASE - (r))

typedef struct cli_secret_src {
	const char *file;
	int fd;
	const char *hint;	/* the options that supply it */
} cli_secret_src;

int cli_read_secret(const cli_secret_src *src, const char *what, int confirm,
	size_t max, kmc_secret **ret);
int cli_passphrase_cb(char *buf, size_t size, void *arg);
int cli_pin_cb(char *buf, size_t size, void *arg);

/*
 * Printing for people (cli/escape.c): every byte that is not printable
 * text comes out as a C escape (\n, \x1b, ...), so a name or path can
 * neither forge a line nor drive the terminal. Never for secrets.
 */
void cli_put_escaped(FILE *f, const char *s);
/* s escaped into buf (cut at a whole escape when it does not fit). */
char *cli_escape(const char *s, char *buf, size_t size);
/* "kmc: " fmt [": " tail] "\n" on stderr, all of it escaped. */
void cli_vreport(const char *fmt, va_list ap, const char *tail);
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "kmc: <context>: <detail>" and return CLI_EXIT(code for err). */
int cli_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int cli_usage_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
