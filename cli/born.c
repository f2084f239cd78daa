/*
 * born.c - kmc key gen, kmc csr and kmc cert set: a key born in the
 * vault, a request for its certificate, and the certificate attached.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* ---------------------------------------------------------------- */
/* kmc key gen NAME [--type T] [--on-token URI]                     */

static struct key_gen_opts {
	const char *type, *on_token;
} key_gen_opts;

enum { KG_TYPE = CLI_OWN_OPT, KG_ON_TOKEN };

static const struct option key_gen_options[] = {
	{ "type", required_argument, NULL, KG_TYPE },
	{ "on-token", required_argument, NULL, KG_ON_TOKEN },
	{ NULL, 0, NULL, 0 },
};

static int key_gen_option(void *own, int opt, const char *arg)
{
	struct key_gen_opts *o = own;

	if (opt == KG_TYPE)
		o->type = arg;
	else
		o->on_token = arg;
	return 0;
}

/*
 * On a token: the PIN given with --pin-file/--pin-fd is the token's (read
 * once, for the vault's unlock and the token both), else the URI's
 * pin-source or pin-value, else a prompt.
 */
static int key_gen_on_token(cli_opts *a, const char *name, int type)
{
	_cleanup_(unlock_done) cli_unlock u = { .dir = NULL };
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	kmc_token_params tp = { .size = sizeof(tp) };
	char uri[2100];
	int r;

	r = open_vault_keep(a, KMC_OPEN_WRITE, &u, &v);
	if (r < 0)
		return r;
	tp.uri = key_gen_opts.on_token;
	tp.pin = u.pin;
	tp.pin_cb = cli_pin_cb;
	r = kmc_key_gen_on_token(v, name, (kmc_key_type)type, &tp);
	if (r < 0)
		return cli_fail(r, "key gen refused, nothing was changed");
	if (kmc_token_key_uri(v, name, uri, sizeof(uri)) < 0)
		uri[0] = '\0';
	cli_note("made a %s key %s on the token: %s; its private half stays "
		"there, and the vault holds only where it is and its public half "
		"(no keys-folder copy of the key is ever written); next: kmc csr "
		"%s --subject /CN=...", kmc_key_type_name(type), name, uri, name);
	if (!strstr(uri, "pin-source="))
		cli_note("the key URI has no pin-source: a server that loads %s "
			"must be logged in to the token some other way", name);
	return 0;
}

static int cmd_key_gen(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	const char *name = a->argv[0];
	int type = KMC_KEY_P256, r;

	if (key_gen_opts.type) {
		for (type = 0; kmc_key_type_name(type); type++)
			if (!strcmp(key_gen_opts.type, kmc_key_type_name(type)))
				break;
		if (!kmc_key_type_name(type))
			return cli_usage_fail("--type: unknown key type '%s'; "
				"rsa2048, rsa3072, rsa4096, p256, p384 and ed25519 "
				"are accepted", key_gen_opts.type);
	}
	if (key_gen_opts.on_token)
		return key_gen_on_token(a, name, type);
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_key_gen(v, name, (kmc_key_type)type);
	if (r < 0)
		return cli_fail(r, "key gen refused, nothing was changed");
	cli_note("made a %s key %s in %s; next: kmc csr %s --subject /CN=... "
		"for a CA, then kmc cert set %s -s SIGNED.crt -c CA.crt",
		kmc_key_type_name(type), name, kmc_vault_dir(v), name, name);
	return 0;
}

const command cli_cmd_key_gen = {
	"key", "gen", cmd_key_gen, CLI_UNLOCK,
	.options = key_gen_options, .parse = key_gen_option,
	.own = &key_gen_opts,
	.min_operands = 1, 1, "key gen NAME [--type rsa2048|rsa3072|rsa4096|p256|p384|ed25519] [--on-token URI]",
	"A new private key for bundle NAME, generated in memory and sealed into\n"
	"the vault; it is never written in the clear. --type: p256 (the\n"
	"default), p384, ed25519, rsa2048, rsa3072 or rsa4096. NAME has no\n"
	"certificate yet: kmc csr NAME asks a CA for one and kmc cert set NAME\n"
	"attaches it, which writes the keys-folder copies and config entries.\n"
	"Until then kmc ref and servers refuse NAME.\n"
	"--on-token URI: the key pair is made on the PKCS#11 token URI names\n"
	"(rsa2048, rsa3072, p256, p384), sensitive and never extractable; the\n"
	"vault records where it is and its public half, and unwrap and export\n"
	"refuse it. The PIN: --pin-file/--pin-fd, the URI's pin-source or\n"
	"pin-value, else a prompt; only pin-source is recorded, for servers."
};

/* ---------------------------------------------------------------- */
/* kmc csr NAME --subject S [--san L] [--out FILE]                   */

static struct csr_opts {
	const char *subject, *san, *out;
} csr_opts;

enum { CSR_SUBJECT = CLI_OWN_OPT, CSR_SAN, CSR_OUT };

static const struct option csr_options[] = {
	{ "subject", required_argument, NULL, CSR_SUBJECT },
	{ "san", required_argument, NULL, CSR_SAN },
	{ "out", required_argument, NULL, CSR_OUT },
	{ NULL, 0, NULL, 0 },
};

static int csr_option(void *own, int opt, const char *arg)
{
	struct csr_opts *o = own;

	switch (opt) {
	case CSR_SUBJECT: o->subject = arg; break;
	case CSR_SAN: o->san = arg; break;
	case CSR_OUT: o->out = arg; break;
	}
	return 0;
}

static int cmd_csr(cli_opts *a)
{
	const struct csr_opts *o = &csr_opts;
	_cleanup_(unlock_done) cli_unlock u = { .dir = NULL };
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	kmc_token_params tp = { .size = sizeof(tp) };
	char *pem = NULL;
	size_t len = 0;
	int r;

	if (!o->subject)
		return cli_usage_fail("csr needs --subject /CN=NAME");
	r = open_vault_keep(a, 0, &u, &v);
	if (r < 0)
		return r;
	/* A key on a token: the PIN given with --pin-file/--pin-fd logs in
	   there (read once, for the vault's unlock and the token both), else
	   its URI's pin-source. */
	tp.pin = u.pin;
	r = kmc_csr_make_ex(v, a->argv[0], o->subject, o->san, &tp, &pem,
		&len);
	if (r < 0)
		return cli_fail(r, "csr");
	if (!o->out || !strcmp(o->out, "-"))
		r = write_out(pem, len);
	else if ((r = kmc_file_write_new(o->out, pem, len, 0644)) < 0)
		r = cli_fail(r, "csr");
	else
		cli_note("wrote the CSR of %s to %s", a->argv[0], o->out);
	free(pem);
	return r;
}

const command cli_cmd_csr = {
	"csr", NULL, cmd_csr, CLI_UNLOCK,
	.options = csr_options, .parse = csr_option, .own = &csr_opts,
	.min_operands = 1, 1,
	"csr NAME --subject /CN=HOST[/O=ORG...] [--san DNS:a,IP:b,...] [--out FILE]",
	"A certificate signing request (PEM) for the key of NAME, signed by it,\n"
	"to standard output or to FILE, which must not exist (mode 0644).\n"
	"--subject: /ATTR=value parts (C, ST, L, O, OU, CN, emailAddress, ...),\n"
	"\\ escaping the next character (\\/ for a slash). --san: comma-separated\n"
	"DNS:name, IP:address (IPv4 or IPv6), email:address, URI:uri.\n"
	"Nothing in the vault changes."
};

/* ---------------------------------------------------------------- */
/* kmc cert set NAME -s CRT [-c CA] [-r CRL] [--keys-dir D] ...      */

static struct set_opts {
	const char *cert, *ca, *crl, *keys_dir, *conf, *trust;
} set_opts;

enum { SET_KEYS_DIR = CLI_OWN_OPT, SET_CONF, SET_TRUST };

static const struct option set_options[] = {
	{ "cert", required_argument, NULL, 's' },
	{ "ca", required_argument, NULL, 'c' },
	{ "crl", required_argument, NULL, 'r' },
	{ "keys-dir", required_argument, NULL, SET_KEYS_DIR },
	{ "conf", required_argument, NULL, SET_CONF },
	{ "trust", required_argument, NULL, SET_TRUST },
	{ NULL, 0, NULL, 0 },
};

static int set_option(void *own, int opt, const char *arg)
{
	struct set_opts *o = own;

	switch (opt) {
	case 's': o->cert = arg; break;
	case 'c': o->ca = arg; break;
	case 'r': o->crl = arg; break;
	case SET_KEYS_DIR: o->keys_dir = arg; break;
	case SET_CONF: o->conf = arg; break;
	case SET_TRUST: o->trust = arg; break;
	}
	return 0;
}

static int cmd_cert_set(cli_opts *a)
{
	const struct set_opts *o = &set_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	kmc_import_params p = KMC_IMPORT_PARAMS_INIT;
	kmc_cert_info *info = NULL;
	size_t n = 0;
	int r;

	if (!o->cert)
		return cli_usage_fail("cert set needs -s SIGNED.crt");
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	p.name = a->argv[0];
	p.cert_file = o->cert;
	p.ca_file = o->ca;
	p.crl_file = o->crl;
	p.keys_dir = o->keys_dir;
	p.conf_file = o->conf;
	p.trust_store = o->trust;
	r = kmc_cert_set(v, &p);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "cert set");
	if (r < 0)
		return cli_fail(r, "cert set refused, nothing was changed");
	if (kmc_cert_info_get(v, p.name, &info, &n) == 0 && n > 0)
		cli_note("%s now serves certificate %s, issued by %s, serial %s",
			p.name, info[0].subject, info[0].issuer, info[0].serial);
	kmc_cert_info_free(info, n);
	return 0;
}

const command cli_cmd_cert_set = {
	"cert", "set", cmd_cert_set, CLI_UNLOCK,
	.options = set_options, .short_options = "s:c:r:",
	.parse = set_option, .own = &set_opts, .min_operands = 1, 1,
	"cert set NAME -s SIGNED.crt [-c CA.crt] [-r CA.crl] [--keys-dir DIR]\n"
	"        [--conf FILE] [--trust STORE]",
	"Attach the certificate a CA signed (leaf first, then intermediates)\n"
	"to NAME, a key made by kmc key gen that has none yet. Checked as an\n"
	"import checks it: dates, chain to the CA (-c; without it the\n"
	"certificate must be self-signed), the vault's key matching it, the\n"
	"CRL (-r). Then published as kmc import publishes: the keys-folder\n"
	"copies (--keys-dir, else <vault>/keys/NAME; the key encrypted under\n"
	"NAME's password), the --conf entries, --trust, in one transaction.\n"
	"A NAME that has a certificate is refused: kmc cert renew replaces it."
};
