/*
 * promote.c - kmc promote and kmc cert renew: a staged version made live,
 * the previous one made live again, a new certificate for the stored key.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

static int previous;

static const struct option promote_options[] = {
	{ "previous", no_argument, NULL, CLI_OWN_OPT },
	{ NULL, 0, NULL, 0 },
};

static int promote_option(void *own, int opt, const char *arg)
{
	(void)opt;
	(void)arg;
	*(int *)own = 1;
	return 0;
}

/* The certificate now live, for the closing note. */
static void note_live(kmc_vault *v, const char *name)
{
	kmc_cert_info *info = NULL;
	size_t n = 0;

	if (kmc_cert_info_get(v, name, &info, &n) == 0 && n > 0)
		cli_note("%s now serves certificate %s, issued by %s, serial %s",
			name, info[0].subject, info[0].issuer, info[0].serial);
	kmc_cert_info_free(info, n);
}

static int cmd_promote(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	const char *name = a->argv[0];
	int staged = 0, kept = 0, r;

	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_promote(v, name, previous);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "promote");
	if (r < 0)
		return cli_fail(r, "promote refused, nothing was changed");
	note_live(v, name);
	cli_token_note(v);
	/* A bundle that was not live yet replaced nothing. */
	if (kmc_bundle_versions(v, name, &staged, &kept) == 0 && kept)
		cli_note("the version it replaced is kept: kmc promote %s "
			"--previous goes back to it", name);
	return 0;
}

static struct renew_opts {
	const char *cert, *ca, *crl;
} renew_opts;

static const struct option renew_options[] = {
	{ "cert", required_argument, NULL, 's' },
	{ "ca", required_argument, NULL, 'c' },
	{ "crl", required_argument, NULL, 'r' },
	{ NULL, 0, NULL, 0 },
};

static int renew_option(void *own, int opt, const char *arg)
{
	struct renew_opts *o = own;

	switch (opt) {
	case 's': o->cert = arg; break;
	case 'c': o->ca = arg; break;
	case 'r': o->crl = arg; break;
	}
	return 0;
}

static int cmd_cert_renew(cli_opts *a)
{
	const struct renew_opts *o = &renew_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	int r;

	if (!o->cert)
		return cli_usage_fail("cert renew needs -s NEW.crt");
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_cert_renew(v, a->argv[0], o->cert, o->ca, o->crl);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "cert renew");
	if (r < 0)
		return cli_fail(r, "cert renew refused, nothing was changed");
	note_live(v, a->argv[0]);
	cli_note("the version it replaced is kept: kmc promote %s --previous "
		"goes back to it", a->argv[0]);
	cli_token_note(v);
	return 0;
}

const command cli_cmd_promote = {
	"promote", NULL, cmd_promote, CLI_UNLOCK,
	.options = promote_options, .parse = promote_option, .own = &previous,
	.min_operands = 1, 1, "promote NAME [--previous]",
	"Make the version of NAME that kmc import --stage staged the live one,\n"
	"in one transaction: its items, the keys-folder copies and the config\n"
	"file's entries, as an import makes them, after checking it again\n"
	"(dates, chain, key, CRL). The version that was live is kept:\n"
	"--previous makes it live again (and a second --previous goes back).\n"
	"Servers polling the vault generation reload; provider users reload\n"
	"on SIGHUP."
};

const command cli_cmd_cert_renew = {
	"cert", "renew", cmd_cert_renew, CLI_UNLOCK,
	.options = renew_options, .short_options = "s:c:r:",
	.parse = renew_option, .own = &renew_opts, .min_operands = 1, 1,
	"cert renew NAME -s NEW.crt [-c CA.crt] [-r CA.crl]",
	"A new certificate (leaf first, then intermediates) for the key NAME\n"
	"holds already: checked against that key, the CA (-c, else NAME's) and\n"
	"the CRL (-r, else NAME's), within its dates; no key password needed.\n"
	"Published as kmc promote publishes; the version before is kept\n"
	"(kmc promote NAME --previous)."
};
