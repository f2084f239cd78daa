/*
 * import.c - kmc import, kmc crl update: their own options (struct
 * import_opts, -r of crl update) and handlers.
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


/*
 * kmc import's own options (certImport's -c -s -k -r and the rest);
 * kmc crl update takes -r alone.
 */
static struct import_opts {
	const char *ca, *cert, *key, *crl, *name, *keys_dir, *conf, *trust;
	const char *on_token;
	int replace, stage;
	cli_secret_src password;
} import_opts = { .password = { NULL, -1, "--password-file FILE or --password-fd N" } };

enum {
	IMP_NAME = CLI_OWN_OPT, IMP_KEYS_DIR, IMP_CONF, IMP_REPLACE,
	IMP_PW_FILE, IMP_PW_FD, IMP_TRUST, IMP_STAGE, IMP_ON_TOKEN,
};

static const struct option import_options[] = {
	{ "ca", required_argument, NULL, 'c' },
	{ "cert", required_argument, NULL, 's' },
	{ "key", required_argument, NULL, 'k' },
	{ "crl", required_argument, NULL, 'r' },
	{ "name", required_argument, NULL, IMP_NAME },
	{ "keys-dir", required_argument, NULL, IMP_KEYS_DIR },
	{ "conf", required_argument, NULL, IMP_CONF },
	{ "replace", no_argument, NULL, IMP_REPLACE },
	{ "password-file", required_argument, NULL, IMP_PW_FILE },
	{ "password-fd", required_argument, NULL, IMP_PW_FD },
	{ "trust", required_argument, NULL, IMP_TRUST },
	{ "stage", no_argument, NULL, IMP_STAGE },
	{ "on-token", required_argument, NULL, IMP_ON_TOKEN },
	{ NULL, 0, NULL, 0 },
};

static int import_option(void *own, int opt, const char *arg)
{
	struct import_opts *o = own;

	switch (opt) {
	case 'c': o->ca = arg; break;
	case 's': o->cert = arg; break;
	case 'k': o->key = arg; break;
	case 'r': o->crl = arg; break;
	case IMP_NAME: o->name = arg; break;
	case IMP_KEYS_DIR: o->keys_dir = arg; break;
	case IMP_CONF: o->conf = arg; break;
	case IMP_REPLACE: o->replace = 1; break;
	case IMP_PW_FILE: o->password.file = arg; break;
	case IMP_TRUST: o->trust = arg; break;
	case IMP_STAGE: o->stage = 1; break;
	case IMP_ON_TOKEN: o->on_token = arg; break;
	case IMP_PW_FD:
		return cli_parse_fd("--password-fd", arg, &o->password.fd);
	}
	return 0;
}

static int import_check(void *own)
{
	struct import_opts *o = own;

	return cli_one_source(&o->password, "--password-file",
		"--password-fd");
}

/* kmc crl update: -r NEW_CRL. */
static const char *crl_file;

static const struct option crl_options[] = {
	{ "crl", required_argument, NULL, 'r' },
	{ NULL, 0, NULL, 0 },
};

static int crl_option(void *own, int opt, const char *arg)
{
	(void)opt;
	*(const char **)own = arg;
	return 0;
}

static int cmd_import(cli_opts *a)
{
	const struct import_opts *io = &import_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pw = NULL;
	_cleanup_(unlock_done) cli_unlock u = { .dir = NULL };
	kmc_token_params tp = { .size = sizeof(tp) };
	kmc_import_params p = KMC_IMPORT_PARAMS_INIT;
	kmc_cert_info *info = NULL;
	size_t n = 0;
	char what[PATH_MAX + 32];
	int encrypted, r;

	if (!io->ca || !io->cert || !io->key)
		return cli_usage_fail("import needs -c CA_CERT, -s SERVER_CERT "
			"and -k SERVER_KEY (see kmc import --help)");
	/* The key is checked before anything is asked or opened. */
	r = kmc_key_file_encrypted(io->key, &encrypted);
	if (r < 0)
		return cli_fail(r, "import");
	if (encrypted || io->password.file || io->password.fd >= 0) {
		snprintf(what, sizeof(what), "password of %s", io->key);
		/* Bytes: room for 100 characters of UTF-8; the library
		   counts characters. */
		r = cli_read_secret(&io->password, what, 0, 400, &pw);
		if (r < 0)
			return r;
		r = refuse_nul(pw, what, &io->password);
		if (r < 0)
			return r;
	}
	r = open_vault_keep(a, KMC_OPEN_WRITE, &u, &v);
	if (r < 0)
		return r;
	if (io->on_token) {
		tp.uri = io->on_token;
		tp.pin = u.pin;
		tp.pin_cb = cli_pin_cb;
		p.on_token = &tp;
	}
	p.name = io->name;
	p.ca_file = io->ca;
	p.cert_file = io->cert;
	p.key_file = io->key;
	p.crl_file = io->crl;
	p.keys_dir = io->keys_dir;
	p.conf_file = io->conf;
	p.password = pw;
	p.flags = (io->replace ? KMC_IMPORT_REPLACE : 0) |
		(io->stage ? KMC_IMPORT_STAGE : 0);
	p.trust_store = io->trust;
	r = kmc_import(v, &p);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "import");
	if (r < 0)
		return cli_fail(r, "import refused, nothing was changed");
	if (io->stage) {
		cli_note("staged a new version of %s in %s%s: nothing serves it "
			"until kmc promote %s", io->name ? io->name : "server",
			kmc_vault_dir(v), io->on_token ? ", its key moved to the "
			"token (no copy kept; delete the original)" : "",
			io->name ? io->name : "server");
		cli_token_note(v);
		return 0;
	}
	if (io->on_token) {
		char uri[2100];

		if (kmc_token_key_uri(v, io->name ? io->name : "server", uri,
				sizeof(uri)) < 0)
			uri[0] = '\0';
		cli_note("imported %s into %s, its key moved to the token: %s; "
			"the vault and the keys folder keep no copy of the key (no "
			"server.key is written; delete the original)", io->name ?
			io->name : "server", kmc_vault_dir(v), uri);
	} else {
		cli_note("imported %s into %s%s", io->name ? io->name :
			"server", kmc_vault_dir(v), encrypted ? "" :
			" (the key came unencrypted: its copy is encrypted under a "
			"new password kept in the vault; delete the plain "
			"original)");
	}
	if (kmc_cert_info_get(v, io->name ? io->name : "server", &info, &n) == 0
	    && n > 0)
		cli_note("certificate %s, issued by %s, serial %s",
			info[0].subject, info[0].issuer, info[0].serial);
	kmc_cert_info_free(info, n);
	return 0;
}

static int cmd_crl_update(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	int r;

	if (!crl_file)
		return cli_usage_fail("crl update needs -r NEW_CRL");
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_crl_update(v, a->argv[0], crl_file);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "crl update");
	if (r < 0)
		return cli_fail(r, "crl update refused, nothing was changed");
	cli_note("the CRL of %s is now %s", a->argv[0], crl_file);
	return 0;
}

const command cli_cmd_import = {
	"import", NULL, cmd_import, CLI_UNLOCK,
	.options = import_options, .short_options = "c:s:k:r:",
	.parse = import_option, .check = import_check, .own = &import_opts,
	.min_operands = 0, 0,
	"import -c CA.crt -s SERVER.crt -k SERVER.key [-r CA.crl] [--name NAME]\n"
	"        [--keys-dir DIR] [--conf FILE] [--replace] [--trust STORE] [--stage]\n"
	"        [--password-file FILE | --password-fd N] [--on-token URI]",
	"Verify, then import a CA certificate, a server certificate (with any\n"
	"intermediates after it), its private key and optionally a CRL, as\n"
	"certImport does. Every file must be a regular file reached without\n"
	"symbolic links and owned by you or root; the key at most mode 0640;\n"
	"an existing keys folder yours and mode 0700. The chain must lead to\n"
	"the CA, every certificate be within its dates, the key open with its\n"
	"password (at most 100 characters) and match the certificate; a CRL\n"
	"must be the CA's, current, and not revoke the chain. Keys: encrypted\n"
	"or plain PKCS#8 (PEM, DER), legacy encrypted PEM, PKCS#1, SEC1; RSA\n"
	"2048-4096, EC P-256/P-384, Ed25519.\n\n"
	"Stores under NAME (default server): the password as NAME (so\n"
	"`kmc password get NAME` serves ssl_passphrase_command), the key as\n"
	"NAME/key, certificates as NAME/cert and NAME/ca, the CRL as NAME/crl.\n"
	"Writes ca.crt, server.crt, server.key (still encrypted) and ca.crl,\n"
	"mode 0400, to the keys folder (default <vault>/keys/NAME), and with\n"
	"--conf sets ca_crt, server_crt, server_key, crl and server_key_mm\n"
	"(the password as a ciphertext string) in a key = value file, keeping\n"
	"every other line. All of it happens, or none of it.\n"
	"--replace supersedes an existing NAME; old versions stay until\n"
	"`kmc rm --old`. --trust STORE: the server also accepts clients of\n"
	"the certificates of trust store STORE (kmc trust add); a replace\n"
	"without it keeps the store the old version named.\n"
	"--stage: verify as ever, then keep it as NAME's staged version, which\n"
	"nothing serves and nothing outside the vault shows until kmc promote\n"
	"NAME (a staged version already there is replaced).\n"
	"--on-token URI: after the checks, the key moves into the PKCS#11\n"
	"token URI names (sensitive, never extractable, labelled NAME, or\n"
	"NAME~XXXXXXXX for a later version); the vault records where it is,\n"
	"no server.key copy is written, and unwrap and export refuse it. With\n"
	"--replace or --stage the key replaced stays on the token until kmc\n"
	"rm NAME --old prunes its version. The PIN as for kmc key gen\n"
	"--on-token.\n"
	"tools/certImport.sh takes certImport's -c -s -k -r -h."
};

const command cli_cmd_crl_update = {
	"crl", "update", cmd_crl_update, CLI_UNLOCK,
	.options = crl_options, .short_options = "r:", .parse = crl_option,
	.own = &crl_file, .min_operands = 1, 1, "crl update NAME -r NEW.crl",
	"Replace the CRL of the imported NAME, after checking it is signed by\n"
	"NAME's CA, current, and does not revoke NAME's own certificate. The\n"
	"copy in the keys folder and the config file's crl entry follow.\n"
	"A server using kmc_ssl_ctx_use() sees the vault generation grow."
};
