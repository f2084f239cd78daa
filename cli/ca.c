/*
 * ca.c - kmc ca init, revoke, crl, list and kmc cert issue: a CA whose
 * key is born in the vault, and the certificates it issues.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"

static struct ca_opts {
	const char *subject, *san, *type, *ca, *out, *reason, *cert;
	const char *keys_dir, *conf, *trust;
	long days;
	int days_set, server, client, self_signed;
} ca_opts;

enum {
	CA_SUBJECT = CLI_OWN_OPT, CA_SAN, CA_TYPE, CA_DAYS, CA_CA, CA_OUT,
	CA_REASON, CA_SERVER, CA_CLIENT, CA_SELF, CA_KEYS_DIR, CA_CONF,
	CA_TRUST, CA_CERT,
};

static const struct option init_options[] = {
	{ "subject", required_argument, NULL, CA_SUBJECT },
	{ "type", required_argument, NULL, CA_TYPE },
	{ "days", required_argument, NULL, CA_DAYS },
	{ NULL, 0, NULL, 0 },
};

static const struct option issue_options[] = {
	{ "ca", required_argument, NULL, CA_CA },
	{ "server", no_argument, NULL, CA_SERVER },
	{ "client", no_argument, NULL, CA_CLIENT },
	{ "self-signed", no_argument, NULL, CA_SELF },
	{ "subject", required_argument, NULL, CA_SUBJECT },
	{ "san", required_argument, NULL, CA_SAN },
	{ "type", required_argument, NULL, CA_TYPE },
	{ "days", required_argument, NULL, CA_DAYS },
	{ "keys-dir", required_argument, NULL, CA_KEYS_DIR },
	{ "conf", required_argument, NULL, CA_CONF },
	{ "trust", required_argument, NULL, CA_TRUST },
	{ NULL, 0, NULL, 0 },
};

static const struct option revoke_options[] = {
	{ "reason", required_argument, NULL, CA_REASON },
	{ "cert", required_argument, NULL, CA_CERT },
	{ NULL, 0, NULL, 0 },
};

static const struct option crl_options[] = {
	{ "days", required_argument, NULL, CA_DAYS },
	{ "out", required_argument, NULL, CA_OUT },
	{ NULL, 0, NULL, 0 },
};

/* --days as given, sign and all: the library says what is wrong with a
   number, the parser only that it is none. */
static int parse_days(const char *arg, long *ret)
{
	const char *d = arg[0] == '-' ? arg + 1 : arg;
	unsigned long long v;

	if (parse_uint(d, 100000000ull, &v) < 0)
		return cli_usage_fail("--days %s: not a whole number of days "
			"(up to 100000000)", arg);
	*ret = arg[0] == '-' ? -(long)v : (long)v;
	return 0;
}

static int ca_option(void *own, int opt, const char *arg)
{
	struct ca_opts *o = own;

	switch (opt) {
	case CA_SUBJECT: o->subject = arg; break;
	case CA_SAN: o->san = arg; break;
	case CA_TYPE: o->type = arg; break;
	case CA_CA: o->ca = arg; break;
	case CA_OUT: o->out = arg; break;
	case CA_REASON: o->reason = arg; break;
	case CA_CERT: o->cert = arg; break;
	case CA_SERVER: o->server = 1; break;
	case CA_CLIENT: o->client = 1; break;
	case CA_SELF: o->self_signed = 1; break;
	case CA_KEYS_DIR: o->keys_dir = arg; break;
	case CA_CONF: o->conf = arg; break;
	case CA_TRUST: o->trust = arg; break;
	case CA_DAYS:
		o->days_set = 1;
		return parse_days(arg, &o->days);
	}
	return 0;
}

/* Run first by the command, not by the parser: --help goes first. */
static int issue_check(void *own)
{
	struct ca_opts *o = own;

	if (o->server == o->client)
		return cli_usage_fail("cert issue needs one of --server, "
			"--client");
	if (!o->ca == !o->self_signed)
		return cli_usage_fail("cert issue needs --ca CA or "
			"--self-signed, one of the two");
	if (!o->subject)
		return cli_usage_fail("cert issue needs --subject");
	return 0;
}

static int init_check(void *own)
{
	if (!((struct ca_opts *)own)->subject)
		return cli_usage_fail("ca init needs --subject");
	return 0;
}

static int crl_check(void *own)
{
	if (!((struct ca_opts *)own)->out)
		return cli_usage_fail("ca crl needs --out FILE");
	/* The CRL takes its file's name as the vault commits its number
	   (journalled): not a stream, and never a file named "-" where
	   standard output was meant. */
	if (!strcmp(((struct ca_opts *)own)->out, "-"))
		return cli_usage_fail("ca crl: --out needs a file, not standard "
			"output (./- for a file named -)");
	/* The library takes 0 for the default: --days 0 is the user's. */
	if (((struct ca_opts *)own)->days_set &&
	    ((struct ca_opts *)own)->days == 0)
		return cli_usage_fail("ca crl refused, nothing was changed: "
			"--days 0: give 1 day or more");
	return 0;
}

static int cmd_ca_init(cli_opts *a)
{
	const struct ca_opts *o = &ca_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	kmc_ca_params p = KMC_CA_PARAMS_INIT;
	int r;

	r = init_check(&ca_opts);
	if (r < 0)
		return r;
	p.subject = o->subject;
	p.key_type = o->type;
	if (o->days_set)
		p.days = o->days;
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_ca_init(v, a->argv[0], &p);
	if (r < 0)
		return cli_fail(r, "ca init refused, nothing was changed");
	cli_note("CA %s made: its key born in the vault, its certificate "
		"valid for %ld days (kmc ca list %s)", a->argv[0], p.days,
		a->argv[0]);
	return 0;
}

/*
 * A server certificate issued without --san takes its CN as its name
 * only when the CN is a host name or an address: say so when it names
 * none, for clients that check a server's name (browsers, verify-full)
 * look only at the names, and will refuse it.
 */
static void note_no_name(kmc_vault *v, const char *name)
{
	kmc_cert_info *info = NULL;
	size_t n = 0;

	if (kmc_cert_info_get(v, name, &info, &n) == 0 && n > 0 &&
	    !info[0].sans[0])
		cli_note("%s: the certificate names no host (its CN is no host "
			"name nor address, and no --san was given): clients "
			"that check the server's name will refuse it; to name "
			"one, kmc rm %s and issue it again with --san DNS:HOST",
			name, name);
	kmc_cert_info_free(info, n);
}

static int cmd_cert_issue(cli_opts *a)
{
	const struct ca_opts *o = &ca_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	kmc_issue_params p = KMC_ISSUE_PARAMS_INIT;
	char serial[KMC_SERIAL_TEXT_MAX];
	int r;

	r = issue_check(&ca_opts);
	if (r < 0)
		return r;
	p.name = a->argv[0];
	p.ca = o->ca;
	p.flags = (o->server ? KMC_ISSUE_SERVER : KMC_ISSUE_CLIENT) |
		(o->self_signed ? KMC_ISSUE_SELF_SIGNED : 0);
	p.subject = o->subject;
	p.san = o->san;
	p.key_type = o->type;
	if (o->days_set)
		p.days = o->days;
	p.keys_dir = o->keys_dir;
	p.conf_file = o->conf;
	p.trust_store = o->trust;
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_cert_issue(v, &p, serial);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "cert issue");
	if (r < 0)
		return cli_fail(r, "cert issue refused, nothing was changed");
	cli_note("%s: a %s certificate, serial %s, %s%s, valid for %ld days",
		a->argv[0], o->server ? "server" : "client", serial,
		o->self_signed ? "self-signed" : "signed by CA ",
		o->self_signed ? "" : o->ca, p.days);
	if (o->server && !o->san)
		note_no_name(v, a->argv[0]);
	return 0;
}

static int cmd_ca_revoke(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	char serial[KMC_SERIAL_TEXT_MAX];
	size_t n = 0;
	int r;

	if ((a->argc == 2) == !!ca_opts.cert)
		return cli_usage_fail("ca revoke: give SERIAL, NAME or --cert "
			"FILE, one of them");
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	if (ca_opts.cert) {
		r = kmc_ca_revoke_cert_ex(v, a->argv[0], ca_opts.cert,
			ca_opts.reason, serial);
		if (r < 0)
			return cli_fail(r, "ca revoke refused, nothing was "
				"changed");
		cli_note("CA %s revoked the certificate in %s (serial %s); the "
			"next kmc ca crl lists it", a->argv[0], ca_opts.cert,
			serial);
		return 0;
	}
	r = kmc_ca_revoke_ex(v, a->argv[0], a->argv[1], ca_opts.reason, &n,
		serial);
	if (r < 0)
		return cli_fail(r, "ca revoke refused, nothing was changed");
	/* The serial as ca list prints it, never as typed (0x00ab, ab:cd):
	   logs that grep for one find the other. */
	if (n == 1)
		cli_note("CA %s revoked 1 certificate (serial %s); the next "
			"kmc ca crl lists it", a->argv[0], serial);
	else
		cli_note("CA %s revoked %zu certificates (those it issued to "
			"%s; kmc ca list %s shows their serials); the next kmc "
			"ca crl lists them", a->argv[0], n, a->argv[1],
			a->argv[0]);
	return 0;
}

static int cmd_ca_crl(cli_opts *a)
{
	const struct ca_opts *o = &ca_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	uint64_t number = 0;
	int64_t next = 0, before;
	struct timespec ts;
	char na[64];
	int r;

	r = crl_check(&ca_opts);
	if (r < 0)
		return r;
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	before = (int64_t)time(NULL);
	r = kmc_ca_crl_ex(v, a->argv[0], o->days_set ? o->days : 0, o->out,
		&number, &next);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "ca crl");
	/* FILE exists: found so at first (nothing changed), or made by
	   another while the CRL was written (its number used, the file
	   left alone); not found: no such CA (nothing changed), or FILE's
	   folder removed while the CRL was written (its number used); the
	   detail says which. */
	if (r == KMC_E_EXISTS || r == KMC_E_NOT_FOUND)
		return cli_fail(r, "ca crl refused");
	if (r < 0)
		return cli_fail(r, "ca crl refused, nothing was changed");
	/* The default ends with the CA if that comes first (uncapped, it
	   ends 30 days after a clock read after before). */
	if (o->days_set || next >= before + KMC_CRL_DAYS_DEFAULT * 86400) {
		cli_note("%s: CRL number %" PRIu64 " of CA %s, next update in "
			"%ld days (kmc crl update NAME -r %s on the servers)",
			o->out, number, a->argv[0], o->days_set ? o->days :
			(long)KMC_CRL_DAYS_DEFAULT, o->out);
	} else {
		iso_time(next, na, sizeof(na));
		cli_note("%s: CRL number %" PRIu64 " of CA %s, next update %s, "
			"when the CA's certificate expires, not in %d days (kmc "
			"crl update NAME -r %s on the servers); no CRL of CA %s "
			"reaches past it: make a new CA (kmc ca init) before then",
			o->out, number, a->argv[0], na, KMC_CRL_DAYS_DEFAULT,
			o->out, a->argv[0]);
	}
	/* A number above the clock in microseconds came from the record:
	   the clock reads earlier than the CA's last CRL. */
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec >= 0 &&
	    number > (uint64_t)ts.tv_sec * 1000000u +
	    (uint64_t)ts.tv_nsec / 1000u)
		cli_note("warning: the system clock reads earlier than CA %s's "
			"last CRL; the number still grows, but a restore of an "
			"older backup while the clock is behind could repeat one: "
			"set the clock right", a->argv[0]);
	return 0;
}

typedef struct list_out {
	int json;
	size_t n_ca, n_issued;
} list_out;

static int list_ca(const kmc_ca_info *c, void *arg)
{
	list_out *o = arg;
	char na[64];

	iso_time(c->cert->not_after, na, sizeof(na));
	if (o->json) {
		/* The array opens with its first CA: a CA that cannot be
		   read leaves standard output empty, never a partial value. */
		printf("%s{\"ca\":", o->n_ca ? "]}," : "[");
		json_str(stdout, c->name);
		printf(",\"has_key\":%s,\"next_crl\":%" PRIu64 ",\"issued\":%zu,"
			"\"revoked\":%zu,", c->has_key ? "true" : "false",
			c->next_crl, c->issued, c->revoked);
		cert_json_fields(c->cert);
		printf(",\"certificates\":[");
	} else {
		printf("%sCA %s: expires %s, %zu issued, %zu revoked, next CRL "
			"number at least %" PRIu64 "%s\n  ", o->n_ca ? "\n" : "",
			c->name, na, c->issued, c->revoked, c->next_crl,
			c->has_key ? "" : " (no key: it cannot sign)");
		cli_put_escaped(stdout, c->cert->subject);
		printf("\n");
	}
	o->n_ca++;
	o->n_issued = 0;
	return 0;
}

static int list_issued(const kmc_ca_issued *i, void *arg)
{
	list_out *o = arg;
	char na[64], ra[64];

	iso_time(i->not_after, na, sizeof(na));
	if (i->revoked)
		iso_time(i->revoked_at, ra, sizeof(ra));
	if (o->json) {
		printf("%s{\"serial\":\"%s\",\"name\":", o->n_issued ? "," : "",
			i->serial);
		json_str(stdout, i->name);
		printf(",\"kind\":\"%s\",\"not_after\":\"%s\",\"revoked\":",
			i->client ? "client" : "server", na);
		if (i->revoked)
			printf("{\"at\":\"%s\",\"reason\":\"%s\"}", ra, i->reason);
		else
			printf("null");
		printf("}");
	} else {
		printf("  %s %-6s %-20s ", i->serial,
			i->client ? "client" : "server", na);
		cli_put_escaped(stdout, i->name);
		if (i->revoked)
			printf(" (revoked %s, %s)", ra, i->reason);
		printf("\n");
	}
	o->n_issued++;
	return 0;
}

static int cmd_ca_list(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	list_out o = { .json = a->json };
	int r;

	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_ca_list(v, a->argc ? a->argv[0] : NULL, list_ca, list_issued,
		&o);
	if (r < 0)
		return cli_fail(r, "ca list");
	if (o.json)
		printf("%s]\n", o.n_ca ? "]}" : "[");
	return fflush(stdout) == 0 ? 0 :
		cli_fail(-errno, "writing to standard output");
}

const command cli_cmd_ca_init = {
	"ca", "init", cmd_ca_init, CLI_UNLOCK,
	.options = init_options, .parse = ca_option, .own = &ca_opts, .min_operands = 1, 1,
	"ca init CA --subject /CN=... [--type TYPE] [--days N]",
	"Make CA, a certificate authority whose key is generated in the vault\n"
	"and never leaves it: a key of TYPE (rsa2048, rsa3072, rsa4096, p256,\n"
	"p384, ed25519; default p256) and a self-signed certificate with the\n"
	"subject given (\"/CN=Example Root CA/O=Example\"), valid for N days\n"
	"(default 3650), basicConstraints CA:TRUE and\n"
	"keyUsage keyCertSign, cRLSign (both critical). CA is named as a\n"
	"trust store is: 1 to 64 of [A-Za-z0-9._-]."
};

const command cli_cmd_cert_issue = {
	"cert", "issue", cmd_cert_issue, CLI_UNLOCK,
	.options = issue_options, .parse = ca_option, .own = &ca_opts, .min_operands = 1, 1,
	"cert issue NAME (--ca CA|--self-signed) (--server|--client)\n"
	"          --subject /CN=... [--san DNS:...,IP:...] [--type TYPE]\n"
	"          [--days N] [--keys-dir DIR] [--conf FILE] [--trust STORE]",
	"Make bundle NAME: a key of TYPE (default p256) generated in the vault\n"
	"and a certificate for it signed by the vault's CA (or by the key\n"
	"itself with --self-signed, for tests), with a random serial, the\n"
	"subject and alternative names given (a server without --san gets its\n"
	"CN when that is a host name or an address), extendedKeyUsage\n"
	"serverAuth or clientAuth, key identifiers, valid for N days (default\n"
	"365, within the CA's dates). The bundle is stored and published as\n"
	"kmc import does (keys folder, --conf entries, --trust), so every\n"
	"command and kmc_ssl_ctx_use() take it; the CA notes the serial."
};

const command cli_cmd_ca_revoke = {
	"ca", "revoke", cmd_ca_revoke, CLI_UNLOCK,
	.options = revoke_options, .parse = ca_option, .own = &ca_opts,
	.min_operands = 1, 2, "ca revoke CA SERIAL|NAME|--cert FILE [--reason REASON]",
	"Revoke the certificate CA issued with serial SERIAL (hex, as kmc ca\n"
	"list shows it; colons allowed), or every one it issued to bundle NAME\n"
	"that is not revoked yet, or the one in FILE, whose signature the CA's\n"
	"key must verify (also one its record no longer holds, after a kmc\n"
	"restore of an older backup). REASON: unspecified (default),\n"
	"keyCompromise, cACompromise, affiliationChanged, superseded,\n"
	"cessationOfOperation, privilegeWithdrawn, aACompromise. The next\n"
	"kmc ca crl lists it."
};

const command cli_cmd_ca_crl = {
	"ca", "crl", cmd_ca_crl, CLI_UNLOCK,
	.options = crl_options, .parse = ca_option, .own = &ca_opts, .min_operands = 1, 1,
	"ca crl CA --out FILE [--days N]",
	"Write to the new FILE (0644, never over a file that exists) a CRL of\n"
	"CA, signed by its key: every certificate it revoked, next update in\n"
	"N days (default 30), and a CRL number above every one it gave\n"
	"before, also before a restore of an older backup (the number is at\n"
	"least the clock's microseconds since 1970). Servers take it with kmc\n"
	"crl update NAME -r FILE. FILE is a file: --out - is refused (./- for\n"
	"a file named -)."
};

const command cli_cmd_ca_list = {
	"ca", "list", cmd_ca_list, CLI_UNLOCK | CLI_JSON,
	.min_operands = 0, 1, "ca list [CA] [--json]",
	"List the vault's CAs (or CA alone): subject, expiry, the least number\n"
	"its next CRL carries, and each certificate it issued: serial, kind,\n"
	"expiry, bundle, and when and why it was revoked."
};
