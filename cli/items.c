/*
 * items.c - kmc password set/get, rm, encrypt, decrypt: the own options
 * of rm (--old) and password set (--password-file/-fd), the handlers.
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
#include <sys/stat.h>
#include "cli.h"

/* kmc rm's own option: --old. */
static int rm_old;

enum { RM_OLD = CLI_OWN_OPT };

static const struct option rm_options[] = {
	{ "old", no_argument, NULL, RM_OLD },
	{ NULL, 0, NULL, 0 },
};

static int rm_option(void *own, int opt, const char *arg)
{
	(void)opt;
	(void)arg;
	*(int *)own = 1;
	return 0;
}

/* kmc password set's own options: where the password comes from, or
   the file of many (--batch). */
static cli_secret_src set_password = { NULL, -1, "--password-file FILE or --password-fd N" };
static const char *set_batch;

enum { SET_PW_FILE = CLI_OWN_OPT, SET_PW_FD, SET_BATCH };

static const struct option set_options[] = {
	{ "password-file", required_argument, NULL, SET_PW_FILE },
	{ "password-fd", required_argument, NULL, SET_PW_FD },
	{ "batch", required_argument, NULL, SET_BATCH },
	{ NULL, 0, NULL, 0 },
};

static int set_option(void *own, int opt, const char *arg)
{
	cli_secret_src *src = own;

	if (opt == SET_PW_FD)
		return cli_parse_fd("--password-fd", arg, &src->fd);
	if (opt == SET_BATCH) {
		set_batch = arg;
		return 0;
	}
	src->file = arg;
	return 0;
}

static int set_check(void *own)
{
	const cli_secret_src *src = own;

	if (set_batch && (src->file || src->fd >= 0))
		return cli_usage_fail("--batch reads names and passwords from "
			"its file: give no --password-file or --password-fd");
	return cli_one_source(own, "--password-file", "--password-fd");
}

static int cmd_rm(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	size_t n;
	int r;

	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	if (rm_old) {
		r = kmc_item_prune(v, a->argv[0], &n);
		if (r < 0)
			return cli_fail(r, "removing old versions of %s",
				a->argv[0]);
		cli_note("removed %zu old version%s of %s", n,
			n == 1 ? "" : "s", a->argv[0]);
		cli_token_note(v);
		return 0;
	}
	r = kmc_item_remove(v, a->argv[0]);
	if (r < 0)
		return cli_fail(r, "removing %s", a->argv[0]);
	cli_token_note(v);
	return 0;
}


/* password set --batch FILE: every line, in one transaction, or none. */
static int cmd_password_set_batch(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	const char *from = strcmp(set_batch, "-") ? set_batch :
		"standard input";
	kmc_batch *b;
	uint64_t n = 0;
	int r;

	if (a->argc > 0)
		return cli_usage_fail("password set --batch takes no NAME: the "
			"names are in %s", from);
	/* Typed there, every password would be shown, with the vault's
	   writer lock held meanwhile. */
	if (!strcmp(set_batch, "-") && isatty(STDIN_FILENO))
		return cli_usage_fail("password set --batch -: standard input is "
			"a terminal, which would show the passwords as they are "
			"typed; give a file or a pipe");
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_batch_begin(v, &b);
	if (r < 0)
		return cli_fail(r, "starting a batch in %s", kmc_vault_dir(v));
	if (!strcmp(set_batch, "-"))
		r = kmc_batch_read_passwords(b, STDIN_FILENO, &n);
	else
		r = kmc_batch_read_passwords_file(b, set_batch, &n);
	if (r < 0) {
		kmc_batch_abort(b);
		return cli_fail(r, "reading the passwords from %s; nothing was "
			"stored", from);
	}
	r = kmc_batch_commit(b);
	if (r < 0)
		return cli_fail(r, "storing the %" PRIu64 " passwords of %s",
			n, from);
	cli_note("stored %" PRIu64 " password%s from %s in %s", n,
		n == 1 ? "" : "s", from, kmc_vault_dir(v));
	return 0;
}

static int cmd_password_set(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pw = NULL;
	const char *name = a->argv[0];
	int r;

	if (set_batch)
		return cmd_password_set_batch(a);
	if (a->argc != 1)
		return cli_usage_fail("usage: kmc %s",
			cli_cmd_password_set.usage);

	/* Ask before opening, so a typo in the prompt costs no unlock. */
	r = cli_read_secret(&set_password, "password", 1, PASSWORD_MAX,
		&pw);
	if (r < 0)
		return r;
	r = refuse_nul(pw, "password", &set_password);
	if (r < 0)
		return r;
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_item_put(v, name, KMC_ITEM_PASSWORD, kmc_secret_data(pw),
		kmc_secret_len(pw));
	if (r < 0)
		return cli_fail(r, "storing the password %s", name);
	cli_note("stored password %s in %s", name,
		kmc_vault_dir(v));
	return 0;
}

static int cmd_password_get(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pw = NULL;
	int r;

	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_item_get(v, a->argv[0], KMC_ITEM_PASSWORD, &pw);
	if (r < 0)
		return cli_fail(r, "reading the password %s", a->argv[0]);
	return print_secret(pw);
}

/* The secret to encrypt: the operand, else stdin (no echo on a tty). */
static int encrypt_input(cli_opts *a, kmc_secret **ret)
{
	cli_secret_src in = { NULL, STDIN_FILENO, "standard input" };
	size_t n;
	int r;

	if (a->argc == 1) {
		n = strlen(a->argv[0]);
		if (n == 0)
			return cli_usage_fail("encrypt: the secret is empty");
		r = kmc_secret_new(n, ret);
		if (r < 0)
			return cli_fail(r, "encrypt");
		memcpy(kmc_secret_data(*ret), a->argv[0], n);
		/* Keep it out of /proc/PID/cmdline from here on. */
		memset(a->argv[0], 0, n);
		return 0;
	}
	if (isatty(STDIN_FILENO))
		in.fd = -1;
	r = cli_read_secret(&in, "secret to encrypt", 0, KMC_STRING_SECRET_MAX,
		ret);
	if (r == 0)
		r = refuse_nul(*ret, "secret to encrypt", &in);
	return r;
}

static int cmd_encrypt(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pt = NULL;
	char *s = NULL;
	int r;

	r = encrypt_input(a, &pt);
	if (r < 0)
		return r;
	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_string_encrypt(v, kmc_secret_data(pt), kmc_secret_len(pt), &s);
	if (r < 0)
		return cli_fail(r, "encrypting");
	printf("%s\n", s);
	free(s);
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	return 0;
}

static int cmd_decrypt(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pt = NULL;
	char line[8448];
	const char *in;
	size_t n;
	int r;

	if (a->argc == 1) {
		in = a->argv[0];
	} else {
		errno = 0;
		n = fread(line, 1, sizeof(line) - 1, stdin);
		if (ferror(stdin))
			return cli_fail(errno ? -errno : -EIO,
				"reading standard input");
		if (n == sizeof(line) - 1)
			return cli_usage_fail("decrypt: the input is longer than "
				"any ciphertext string");
		/* A NUL would end the string early and hide what follows. */
		if (memchr(line, '\0', n))
			return cli_usage_fail("decrypt: standard input holds a NUL "
				"byte (byte %zu); give one ciphertext string",
				(size_t)((char *)memchr(line, '\0', n) - line) + 1);
		line[n] = '\0';
		in = line;
	}
	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_string_decrypt(v, in, &pt);
	if (r < 0)
		return cli_fail(r, "decrypting");
	return print_secret(pt);
}

const command cli_cmd_rm = {
	"rm", NULL, cmd_rm, CLI_UNLOCK, .options = rm_options,
	.parse = rm_option, .own = &rm_old, .min_operands = 1, 1,
	"rm NAME [--old]",
	"Remove the item NAME and its old versions; for an imported NAME or\n"
	"a trust store trust:STORE, its NAME/... items too. With --old,\n"
	"remove only the old versions\n"
	"that an import with --replace kept."
};

const command cli_cmd_password_set = {
	"password", "set", cmd_password_set, CLI_UNLOCK,
	.options = set_options, .parse = set_option, .check = set_check,
	.own = &set_password, .min_operands = 0, 1,
	"password set NAME [--password-file FILE | --password-fd N] | --batch FILE|-",
	"Store a password (at most 4096 bytes) that unlocks a server key.\n"
	"It is asked twice on the terminal, or read from a file (mode 0600\n"
	"or stricter) or a descriptor; one trailing newline is dropped.\n"
	"A password is text: one holding a NUL byte is refused.\n"
	"Storing under an existing name replaces it and raises its version.\n"
	"--batch stores many in one transaction, all or none: from FILE\n"
	"(mode 0600 or stricter) or standard input (-), one a line,\n"
	"\"NAME PASSWORD\": the name, one space or tab, then the rest of\n"
	"the line (1 to 4096 bytes, no NUL, no CR at its end); empty lines\n"
	"and lines starting with '#' are skipped. A bad line is named by\n"
	"its number, and nothing is stored."
};

const command cli_cmd_password_get = {
	"password", "get", cmd_password_get, CLI_UNLOCK,
	.min_operands = 1, 1, "password get NAME",
	"Print the password NAME alone on standard output, as PostgreSQL's\n"
	"ssl_passphrase_command expects (a newline follows on a terminal\n"
	"only).",
	.keyless = 1,
};

const command cli_cmd_encrypt = {
	"encrypt", NULL, cmd_encrypt, CLI_UNLOCK, .min_operands = 0, 1,
	"encrypt [SECRET]",
	"Print a ciphertext string kmc:v1:<mk-id>:<base64url> for a config\n"
	"file. The secret is read from standard input (no echo on a\n"
	"terminal); an operand works too, but others may see it in ps.\n"
	"A secret holding a NUL byte is refused."
};

const command cli_cmd_decrypt = {
	"decrypt", NULL, cmd_decrypt, CLI_UNLOCK, .min_operands = 0, 1,
	"decrypt [STRING]",
	"Print the secret inside a ciphertext string (the operand, else\n"
	"standard input: one string, white space around it ignored, a NUL\n"
	"byte refused). It opens only in the vault that made it.",
	.keyless = 1,
};
