/*
 * export.c - kmc export and kmc trust export: a key as PKCS#8 or a
 * PKCS#12 keystore, a trust store as PEM or a PKCS#12 truststore; their
 * own options (format, file, mode, where the password comes from).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static struct export_opts {
	const char *format, *out, *item, *alias, *store, *mode;
	cli_secret_src password;
	int no_password;
} export_opts = {
	.password = { NULL, -1, "--password-file FILE or --password-fd N" },
};

enum {
	EX_FORMAT = CLI_OWN_OPT, EX_OUT, EX_MODE, EX_PW_FILE, EX_PW_FD,
	EX_PW_ITEM, EX_NO_PW, EX_ALIAS, EX_STORE,
};

#define PASSWORD_OPTIONS \
	{ "password-file", required_argument, NULL, EX_PW_FILE }, \
	{ "password-fd", required_argument, NULL, EX_PW_FD }, \
	{ "password-item", required_argument, NULL, EX_PW_ITEM }

static const struct option export_options[] = {
	{ "format", required_argument, NULL, EX_FORMAT },
	{ "out", required_argument, NULL, EX_OUT },
	{ "mode", required_argument, NULL, EX_MODE },
	{ "no-password", no_argument, NULL, EX_NO_PW },
	{ "alias", required_argument, NULL, EX_ALIAS },
	PASSWORD_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static const struct option trust_export_options[] = {
	{ "store", required_argument, NULL, EX_STORE },
	{ "format", required_argument, NULL, EX_FORMAT },
	{ "out", required_argument, NULL, EX_OUT },
	PASSWORD_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static int export_option(void *own, int opt, const char *arg)
{
	struct export_opts *o = own;

	switch (opt) {
	case EX_FORMAT: o->format = arg; break;
	case EX_OUT: o->out = arg; break;
	case EX_MODE: o->mode = arg; break;
	case EX_PW_FILE: o->password.file = arg; break;
	case EX_PW_FD:
		return cli_parse_fd("--password-fd", arg, &o->password.fd);
	case EX_PW_ITEM: o->item = arg; break;
	case EX_NO_PW: o->no_password = 1; break;
	case EX_ALIAS: o->alias = arg; break;
	case EX_STORE: o->store = arg; break;
	}
	return 0;
}

static int export_check(void *own)
{
	struct export_opts *o = own;
	int given = (o->password.file != NULL) + (o->password.fd >= 0) +
		(o->item != NULL) + o->no_password;

	if (given > 1)
		return cli_usage_fail("give one of --password-file, "
			"--password-fd, --password-item and --no-password");
	return 0;
}

/* Where the export goes: a new file, or standard output unless it is a
   terminal (a key, or binary, never lands on a screen). */
static int check_out(const char *cmd, const char *out)
{
	if (!out && isatty(STDOUT_FILENO))
		return cli_usage_fail("%s: refusing to write to a terminal; give "
			"--out FILE or send it to a pipe", cmd);
	return 0;
}

/* The password given by file or descriptor, into *ret; none: NULL. */
static int read_password(const struct export_opts *o, kmc_secret **ret)
{
	int r;

	*ret = NULL;
	if (!o->password.file && o->password.fd < 0)
		return 0;
	r = cli_read_secret(&o->password, "export password", 0, PASSWORD_MAX,
		ret);
	if (r == 0)
		r = refuse_nul(*ret, "export password", &o->password);
	return r;
}

static int finish(const char *cmd, const kmc_export_params *p,
	kmc_secret *data, const char *item, int made)
{
	int r = 0;

	if (!p->out)
		r = write_out(kmc_secret_data(data), kmc_secret_len(data));
	/* Standard output that failed got no keystore, or part of one:
	   the item made for it stays, as after any export cut off. */
	if (made && r < 0)
		cli_note("%s: nothing usable was written; the new password stays "
			"as item %s, the next export takes it", cmd, item);
	else if (made)
		cli_note("%s: a new password, kept as item %s (kmc password get "
			"%s)", cmd, item, item);
	return r < 0 ? r : 0;
}

static int cmd_export(cli_opts *a)
{
	const struct export_opts *o = &export_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pw = NULL;
	_cleanup_(secret_freep) kmc_secret *data = NULL;
	kmc_export_params p = KMC_EXPORT_PARAMS_INIT;
	char item[KMC_NAME_MAX + 64];
	const char *out;
	int made = 0, r;

	if (!o->format)
		return cli_usage_fail("export needs --format pkcs8-der, "
			"pkcs8-pem or pkcs12");
	if (!strcmp(o->format, "pkcs8-der"))
		p.format = KMC_EXPORT_PKCS8_DER;
	else if (!strcmp(o->format, "pkcs8-pem"))
		p.format = KMC_EXPORT_PKCS8_PEM;
	else if (!strcmp(o->format, "pkcs12"))
		p.format = KMC_EXPORT_PKCS12;
	else
		return cli_usage_fail("export: --format pkcs8-der, pkcs8-pem or "
			"pkcs12, not %s", o->format);
	if (o->mode && (!strcmp(o->mode, "0600") || !strcmp(o->mode, "600")))
		p.mode = 0600;
	else if (o->mode && (!strcmp(o->mode, "0640") ||
	    !strcmp(o->mode, "640")))
		p.mode = 0640;
	else if (o->mode)
		return cli_usage_fail("export: --mode 0600 or 0640, not %s",
			o->mode);
	if (p.format == KMC_EXPORT_PKCS12 && o->no_password)
		return cli_usage_fail("export: a PKCS#12 keystore always has a "
			"password; --no-password is for pkcs8-der and pkcs8-pem");
	if (p.format != KMC_EXPORT_PKCS12 && !o->no_password && !o->item &&
	    !o->password.file && o->password.fd < 0)
		return cli_usage_fail("export: --format %s needs "
			"--password-file, --password-fd, --password-item, or "
			"--no-password for the key in the clear", o->format);
	/* "-" is standard output, as for trust export and csr: never a key
	   in the clear in a file of that name in the current folder. */
	out = o->out && strcmp(o->out, "-") ? o->out : NULL;
	r = check_out("export", out);
	if (r < 0)
		return r;
	r = read_password(o, &pw);
	if (r < 0)
		return r;
	snprintf(item, sizeof(item), "%s/keystore-password", a->argv[0]);
	p.password = pw;
	p.password_item = o->item;
	if (!pw && !o->item && p.format == KMC_EXPORT_PKCS12)
		p.password_item = item;
	p.flags = o->no_password ? KMC_EXPORT_NO_PASSWORD : 0;
	p.alias = o->alias;
	p.out = out;
	/* Writable only when a password item may have to be made. */
	r = open_vault(a, p.password_item ? KMC_OPEN_WRITE : 0, &v);
	if (r < 0)
		return r;
	r = kmc_export(v, a->argv[0], &p, out ? NULL : &data, &made);
	if (r < 0 && made)
		cli_note("export: the new password stays as item %s; the next "
			"export takes it", p.password_item);
	if (r < 0)
		return cli_fail(r, "exporting %s", a->argv[0]);
	return finish("export", &p, data, p.password_item, made);
}

static int cmd_trust_export(cli_opts *a)
{
	const struct export_opts *o = &export_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pw = NULL;
	_cleanup_(secret_freep) kmc_secret *data = NULL;
	kmc_export_params p = KMC_EXPORT_PARAMS_INIT;
	char item[KMC_NAME_MAX + 64];
	int made = 0, r;

	p.format = KMC_EXPORT_PEM;
	if (o->format && !strcmp(o->format, "pkcs12"))
		p.format = KMC_EXPORT_PKCS12;
	else if (o->format && strcmp(o->format, "pem"))
		return cli_usage_fail("trust export: --format pem or pkcs12, not "
			"%s", o->format);
	if (p.format == KMC_EXPORT_PEM && (o->item || o->password.file ||
	    o->password.fd >= 0))
		return cli_usage_fail("trust export: PEM takes no password; "
			"--format pkcs12 does");
	if (!o->out)
		return cli_usage_fail("trust export needs --out FILE (- for "
			"standard output)");
	p.out = strcmp(o->out, "-") ? o->out : NULL;
	if (!p.out && p.format == KMC_EXPORT_PKCS12) {
		r = check_out("trust export", NULL);
		if (r < 0)
			return r;
	}
	r = read_password(o, &pw);
	if (r < 0)
		return r;
	snprintf(item, sizeof(item), "trust:%s/truststore-password",
		o->store ? o->store : KMC_TRUST_DEFAULT);
	p.password = pw;
	p.password_item = o->item;
	if (!pw && !o->item && p.format == KMC_EXPORT_PKCS12)
		p.password_item = item;
	r = open_vault(a, p.password_item ? KMC_OPEN_WRITE : 0, &v);
	if (r < 0)
		return r;
	r = kmc_trust_export(v, o->store, &p, p.out ? NULL : &data, &made);
	if (r < 0 && made)
		cli_note("trust export: the new password stays as item %s; the "
			"next export takes it", p.password_item);
	if (r < 0)
		return cli_fail(r, "trust export");
	return finish("trust export", &p, data, p.password_item, made);
}

const command cli_cmd_export = {
	"export", NULL, cmd_export, CLI_UNLOCK, .options = export_options,
	.parse = export_option, .check = export_check, .own = &export_opts,
	.min_operands = 1, 1,
	"export NAME --format pkcs8-der|pkcs8-pem|pkcs12 [--out FILE]\n"
	"        [--mode 0600|0640] [--alias A] [--password-file F |\n"
	"        --password-fd N | --password-item ITEM | --no-password]",
	"Write the private key of NAME for a program that wants a file:\n"
	"pkcs8-der (JDBC's client.pk8) or pkcs8-pem, encrypted with PBES2\n"
	"(AES-256-CBC, PBKDF2-HMAC-SHA256) under the password given, or in\n"
	"the clear with --no-password only; or pkcs12, a keystore with the\n"
	"key, its certificate chain and CA (AES-256-CBC, SHA-256 MAC) that\n"
	"Java lists as a PrivateKeyEntry under --alias (default NAME).\n"
	"The password (at most 100 characters) comes from a file or\n"
	"descriptor, or from the password item ITEM; an ITEM that does not\n"
	"exist yet is made first with a new random password, printed\n"
	"nowhere (kmc password get ITEM). pkcs12 without a password option\n"
	"keeps its password in NAME/keystore-password. The file is created\n"
	"0600 (--mode 0640 for a group) and never over one that exists;\n"
	"without --out (or with --out -), standard output when it is not a\n"
	"terminal."
};

const command cli_cmd_trust_export = {
	"trust", "export", cmd_trust_export, CLI_UNLOCK,
	.options = trust_export_options, .parse = export_option,
	.check = export_check, .own = &export_opts,
	.min_operands = 0, 0,
	"trust export [--store STORE] [--format pem|pkcs12] --out FILE|-\n"
	"        [--password-file F | --password-fd N | --password-item ITEM]",
	"Write the certificates of STORE for clients: pem (default), one PEM\n"
	"bundle, each after a \"# ALIAS\" line; or pkcs12, a truststore that\n"
	"Java (keytool -list) shows as one trustedCertEntry an alias, its\n"
	"password as kmc export's (without an option, kept in\n"
	"trust:STORE/truststore-password). To a new FILE (0644, never over\n"
	"one that exists) or, with -, to standard output."
};
