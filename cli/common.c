/*
 * common.c - what every command shares: errors and exit codes, opening the vault, output.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include "cli.h"

/* ---------------------------------------------------------------- */
/* Errors                                                            */

/*
 * The exit code (docs/cli.md) for each fault. A system fault (-errno) not
 * named here is EXIT_IO; anything else not named, EXIT_FAIL.
 */
static const struct {
	int err;
	int code;
} exit_codes[] = {
	{ KMC_E_UNLOCK, EXIT_AUTH },
	{ KMC_E_NEED_PASSPHRASE, EXIT_AUTH },
	{ KMC_E_HOST_KEY, EXIT_AUTH },
	{ KMC_E_P11_PIN, EXIT_AUTH },
	{ KMC_E_P11_PIN_LOCKED, EXIT_AUTH },
	{ KMC_E_P11_MODULE, EXIT_NOT_FOUND },
	{ KMC_E_P11_TOKEN, EXIT_NOT_FOUND },
	{ KMC_E_P11_KEY, EXIT_NOT_FOUND },
	{ KMC_E_P11_KEY_TYPE, EXIT_VERIFY },
	{ KMC_E_P11, EXIT_IO },
	{ KMC_E_LIMIT, EXIT_FAIL },
	{ KMC_E_AUTH, EXIT_INTEGRITY },
	{ KMC_E_CORRUPT, EXIT_INTEGRITY },
	{ KMC_E_NO_KEYSTORE, EXIT_INTEGRITY },
	{ KMC_E_WRONG_VAULT, EXIT_INTEGRITY },
	{ KMC_E_VERSION, EXIT_INTEGRITY },
	{ KMC_E_PERM, EXIT_PERM },
	{ -EACCES, EXIT_PERM },
	{ -EPERM, EXIT_PERM },
	{ KMC_E_NOT_FOUND, EXIT_NOT_FOUND },
	{ KMC_E_NOT_VAULT, EXIT_NOT_FOUND },
	{ -ENOENT, EXIT_NOT_FOUND },
	{ KMC_E_EXISTS, EXIT_EXISTS },
	{ KMC_E_VERIFY, EXIT_VERIFY },
	{ KMC_E_TYPE, EXIT_VERIFY },
	{ KMC_E_INVALID, EXIT_USAGE },
	{ KMC_E_NAME, EXIT_USAGE },
	{ KMC_E_TOO_LARGE, EXIT_USAGE },
	{ KMC_E_EMPTY, EXIT_USAGE },
	{ KMC_E_STRING, EXIT_USAGE },
	{ KMC_E_STORE, EXIT_IO },
	{ KMC_E_PENDING, EXIT_IO },
	{ KMC_E_IN_USE, EXIT_IN_USE },
	{ KMC_E_ROLLBACK, EXIT_ROLLBACK },
	{ KMC_E_AUDIT, EXIT_AUDIT },
	/* A terminal that went away or a signal while prompting. */
	{ CLI_NO_TTY, EXIT_IO },
	{ CLI_INTERRUPTED, EXIT_IO },
};

static int exit_code_for(int err)
{
	for (size_t k = 0; k < ELEMENTS(exit_codes); k++)
		if (exit_codes[k].err == err)
			return exit_codes[k].code;
	return KMC_IS_ERRNO(err) ? EXIT_IO : EXIT_FAIL;
}

int cli_fail(int err, const char *fmt, ...)
{
	const char *detail = kmc_error_detail();
	va_list ap;

	/* The command's own faults, which kmc_strerror() does not know. */
	if (err == CLI_INTERRUPTED)
		detail = "interrupted by a signal";
	else if (err == CLI_NO_TTY)
		detail = "no terminal";

	/* The detail names items and paths: escaped with the rest. */
	va_start(ap, fmt);
	cli_vreport(fmt, ap, detail[0] ? detail : kmc_strerror(err));
	va_end(ap);
	return CLI_EXIT(exit_code_for(err));
}

int cli_usage_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vreport(fmt, ap, NULL);
	va_end(ap);
	return CLI_EXIT(EXIT_USAGE);
}

/* ---------------------------------------------------------------- */
/* Opening                                                           */

/*
 * The vault a command works on: --vault, else the default. A default
 * that cannot be worked out (an over-long $KMC_VAULT, no home) fails
 * with its cause; falling back to some other folder, such as the
 * current one, would read or write a vault nobody named.
 */
int vault_dir(const cli_opts *a, char *buf, size_t size,
	const char **ret)
{
	int r;

	if (a->vault) {
		*ret = a->vault;
		return 0;
	}
	r = kmc_default_vault_dir(buf, size);
	if (r < 0)
		return cli_fail(r, "finding the vault (give --vault DIR)");
	*ret = buf;
	return 0;
}

/* The vault's status, read without unlocking (status, protector list). */
int read_status(cli_opts *a, char *buf, size_t size, const char **ret_dir,
	kmc_status *ret)
{
	int r;

	r = vault_dir(a, buf, size, ret_dir);
	if (r < 0)
		return r;
	r = kmc_vault_status(*ret_dir, ret);
	if (r < 0)
		return cli_fail(r, "reading the vault %s", *ret_dir);
	return 0;
}

/* The folder and options that open the vault (cli.h). */
int unlock_prepare(cli_opts *a, cli_unlock *u)
{
	int r;

	*u = (cli_unlock){ .o = KMC_OPTIONS_INIT };
	r = vault_dir(a, u->buf, sizeof(u->buf), &u->dir);
	if (r < 0)
		return r;
	u->o.host_key = a->host_key;
	u->o.passphrase_cb = cli_passphrase_cb;
	u->o.passphrase_arg = (void *)u->dir;
	if (a->passphrase.file || a->passphrase.fd >= 0) {
		r = cli_read_secret(&a->passphrase, "passphrase", 0,
			PASSPHRASE_MAX, &u->pass);
		if (r < 0)
			return r;
		u->o.passphrase = u->pass;
	}
	if (a->pin.file || a->pin.fd >= 0) {
		r = cli_read_secret(&a->pin, "token PIN", 0, 256, &u->pin);
		if (r < 0)
			return r;
		u->o.pin = u->pin;
	}
	if (a->use_recovery) {
		r = cli_read_secret(&a->recovery, "recovery key", 0, 256,
			&u->rec);
		if (r < 0)
			return r;
		u->o.recovery_key = u->rec;
	}
	u->o.pin_cb = cli_pin_cb;
	return 0;
}

/* The secrets wiped and freed; safe after a failed unlock_prepare(). */
void unlock_done(cli_unlock *u)
{
	kmc_secret_free(u->pass);
	kmc_secret_free(u->pin);
	kmc_secret_free(u->rec);
	u->pass = u->pin = u->rec = NULL;
}

static void restore_noted(kmc_vault *v);

static int open_vault_in(cli_opts *a, unsigned flags, int prompt,
	cli_unlock *up, kmc_vault **ret)
{
	cli_unlock u;
	const char *dir;
	int r;

	r = unlock_prepare(a, up);
	if (r < 0)
		return r;
	u = *up;
	dir = u.dir;
	if (!prompt) {
		u.o.passphrase_cb = NULL;
		u.o.pin_cb = NULL;
	}
	r = kmc_vault_open_ex(dir, flags, &u.o, ret);
	if (r == KMC_E_NEED_PASSPHRASE) {
		cli_note("opening the vault %s: %s; %s, give %s, or %s, or a "
			"recovery key with %s", dir, kmc_error_detail()[0] ?
			kmc_error_detail() : "it needs its passphrase", prompt ?
			"with no terminal to ask" : "this command never asks",
			a->passphrase.hint, a->pin.hint, a->recovery.hint);
		return CLI_EXIT(EXIT_AUTH);
	}
	if (r < 0)
		return cli_fail(r, "opening the vault %s", dir);
	if (kmc_vault_unlock_notes(*ret)[0])
		cli_note("opened %s with protector %u after: %s",
			dir, kmc_vault_opened_by(*ret), kmc_vault_unlock_notes(*ret));
	if (kmc_vault_repaired(*ret))
		cli_note("repaired%s%s in %s from its twin",
			(kmc_vault_repaired(*ret) & 1) ? " kmc.ks" : "",
			(kmc_vault_repaired(*ret) & 2) ? " StandbyKsf.ks" : "",
			dir);
	restore_noted(*ret);
	/* --pin-file/--pin-fd also logs in to destroy a token key whose
	   URI has no pin-source (kmc rm, rm --old, promote, repair). */
	if (u.pin && (r = kmc_token_pin_set(*ret, u.pin)) < 0)
		return cli_fail(r, "keeping the token PIN");
	return 0;
}

/* The open finished a restore that was cut off: what it did to the
   trust sync files, said here for every command (kmc repair's also
   fails on it: restore_exit()). */
static void restore_noted(kmc_vault *v)
{
	uint64_t n = 0;

	if (kmc_restore_note(v, &n) < 0)
		cli_note("finishing a restore that was cut off: %s",
			kmc_error_detail());
	else if (n)
		cli_note("finished a restore that was cut off in %s: %" PRIu64
			" trust sync file(s) written again to hold the restored "
			"trust stores: reload the servers that read them",
			kmc_vault_dir(v), n);
}

int restore_exit(const kmc_vault *v)
{
	int r = kmc_restore_note(v, NULL);

	return r < 0 ? CLI_EXIT(exit_code_for(r)) : 0;
}


static int open_vault_as(cli_opts *a, unsigned flags, int prompt,
	kmc_vault **ret)
{
	_cleanup_(unlock_done) cli_unlock u = { .dir = NULL };

	return open_vault_in(a, flags, prompt, &u, ret);
}

int open_vault(cli_opts *a, unsigned flags, kmc_vault **ret)
{
	return open_vault_as(a, flags, 1, ret);
}

int open_vault_keep(cli_opts *a, unsigned flags, cli_unlock *u,
	kmc_vault **ret)
{
	return open_vault_in(a, flags, 1, u, ret);
}

/* For checks run by cron or a monitoring agent: a prompt there would
   hang the job (or take a key typed for something else), so only what
   the options and the host key give is tried. */
int open_vault_no_prompt(cli_opts *a, unsigned flags, kmc_vault **ret)
{
	return open_vault_as(a, flags, 0, ret);
}

/*
 * After EAGAIN on standard output: wait until it takes more. A parent may
 * hand kmc a non-blocking pipe (O_NONBLOCK is shared with it): a reader
 * slower than kmc must not cut a secret or a keystore short. 0, or -1
 * with errno set.
 */
int cli_wait_stdout(void)
{
	struct pollfd pfd = { .fd = STDOUT_FILENO, .events = POLLOUT };
	int r;

	do
		r = poll(&pfd, 1, -1);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -1 : 0;
}

/* stdout's writes when it is non-blocking: all of buf, waiting while it
   is full; -1 with errno set on any other fault (fflush reports it). */
static ssize_t stdout_write_all(void *cookie, const char *buf, size_t len)
{
	size_t done = 0;

	(void)cookie;
	while (done < len) {
		ssize_t n = write(STDOUT_FILENO, buf + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
			    cli_wait_stdout() == 0)
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/*
 * A standard output a parent made non-blocking: stdio would drop what
 * does not fit at once (EAGAIN) and a table or JSON would end short. So
 * stdout's stream then writes through stdout_write_all(), which waits for
 * the reader as the secrets' write_out() does. 0, or -1 when the stream
 * cannot be made (stdout is left as it was).
 */
int cli_stdout_waits(void)
{
	static cookie_io_functions_t io = { .write = stdout_write_all };
	int fl = fcntl(STDOUT_FILENO, F_GETFL);
	FILE *f;

	if (fl < 0 || !(fl & O_NONBLOCK))
		return 0;
	f = fopencookie(NULL, "w", io);
	if (!f)
		return -1;
	if (isatty(STDOUT_FILENO))
		(void)setvbuf(f, NULL, _IOLBF, 0);
	stdout = f;
	return 0;
}

/* Write all of buf to stdout; a closed pipe is an I/O fault. */
int write_out(const void *buf, size_t len)
{
	if (stdout_write_all(NULL, buf, len) < 0)
		return cli_fail(-errno, "writing to standard output");
	return 0;
}

/* A secret on stdout: exact bytes, plus a newline for a person only. */
int print_secret(const kmc_secret *s)
{
	int r = write_out(kmc_secret_data(s), kmc_secret_len(s));

	if (r == 0 && isatty(STDOUT_FILENO))
		r = write_out("\n", 1);
	return r;
}

/*
 * Passwords and config-file secrets are text to the programs that get
 * them (ssl_passphrase_command's output, C strings): a NUL byte would cut
 * them short there without a word, so refuse one here.
 */
int refuse_nul(const kmc_secret *s, const char *what,
	const cli_secret_src *src)
{
	const unsigned char *nul = memchr(kmc_secret_data(s), '\0',
		kmc_secret_len(s));

	if (!nul)
		return 0;
	if (src->file)
		return cli_usage_fail("the %s in %s holds a NUL byte (byte %zu); "
			"it must be text", what, src->file,
			(size_t)(nul - kmc_secret_data(s)) + 1);
	return cli_usage_fail("the %s holds a NUL byte (byte %zu); it must be "
		"text", what, (size_t)(nul - kmc_secret_data(s)) + 1);
}
