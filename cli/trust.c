/*
 * trust.c - kmc trust add, rm, list, sync and kmc cert set-trust (kmc
 * trust export: cli/export.c):
 * trust stores of CA certificates under aliases.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static struct trust_opts {
	const char *store, *file, *crl;
	int replace, pin_leaf, stop, none;
} trust_opts;

enum {
	TR_STORE = CLI_OWN_OPT, TR_REPLACE, TR_PIN_LEAF, TR_FILE,
	TR_STOP, TR_NONE, TR_CRL,
};

static const struct option add_options[] = {
	{ "store", required_argument, NULL, TR_STORE },
	{ "replace", no_argument, NULL, TR_REPLACE },
	{ "pin-leaf", no_argument, NULL, TR_PIN_LEAF },
	{ "crl", required_argument, NULL, TR_CRL },
	{ NULL, 0, NULL, 0 },
};

static const struct option store_options[] = {
	{ "store", required_argument, NULL, TR_STORE },
	{ NULL, 0, NULL, 0 },
};

static const struct option sync_options[] = {
	{ "file", required_argument, NULL, TR_FILE },
	{ "stop", no_argument, NULL, TR_STOP },
	{ NULL, 0, NULL, 0 },
};

static const struct option set_trust_options[] = {
	{ "none", no_argument, NULL, TR_NONE },
	{ NULL, 0, NULL, 0 },
};

static int trust_option(void *own, int opt, const char *arg)
{
	struct trust_opts *o = own;

	switch (opt) {
	case TR_STORE: o->store = arg; break;
	case TR_REPLACE: o->replace = 1; break;
	case TR_PIN_LEAF: o->pin_leaf = 1; break;
	case TR_FILE: o->file = arg; break;
	case TR_STOP: o->stop = 1; break;
	case TR_NONE: o->none = 1; break;
	case TR_CRL: o->crl = arg; break;
	}
	return 0;
}

static const char *store_shown(const char *store)
{
	return store ? store : KMC_TRUST_DEFAULT;
}

static int cmd_trust_add(cli_opts *a)
{
	const struct trust_opts *o = &trust_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	unsigned flags = (o->replace ? KMC_TRUST_REPLACE : 0) |
		(o->pin_leaf ? KMC_TRUST_PIN_LEAF : 0);
	int r;

	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_trust_add(v, o->store, a->argv[0], a->argv[1], o->crl, flags);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "trust add");
	if (r < 0)
		return cli_fail(r, "trust add refused, nothing was changed");
	cli_note("trust store %s now trusts %s as %s%s", store_shown(o->store),
		a->argv[1], a->argv[0], o->crl ? ", its clients checked against "
		"the CRL given" : ": no CRL, so no client it issued is checked "
		"for revocation (kmc trust crl adds one)");
	return 0;
}

static int cmd_trust_crl(cli_opts *a)
{
	const struct trust_opts *o = &trust_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	int r;

	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_trust_crl(v, o->store, a->argv[0], a->argv[1]);
	if (r < 0)
		return cli_fail(r, "trust crl refused, nothing was changed");
	cli_note("the clients of %s in trust store %s are now checked against "
		"%s", a->argv[0], store_shown(o->store), a->argv[1]);
	return 0;
}

static int cmd_trust_rm(cli_opts *a)
{
	const struct trust_opts *o = &trust_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	int r;

	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_trust_remove(v, o->store, a->argv[0]);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "trust rm");
	if (r < 0)
		return cli_fail(r, "trust rm refused, nothing was changed");
	cli_note("trust store %s no longer trusts %s", store_shown(o->store),
		a->argv[0]);
	return 0;
}

typedef struct list_out {
	int json;
	int n, n_files;
	const char *store;	/* of the last line printed */
} list_out;

static int list_file(const char *store, const char *path, void *arg)
{
	list_out *o = arg;

	if (o->json)
		return 0;
	printf("# store %s keeps ", store);
	cli_put_escaped(stdout, path);
	putchar('\n');
	return 0;
}

static int list_one(const kmc_trust_info *t, void *arg)
{
	list_out *o = arg;
	const kmc_cert_info *c = t->cert;
	char na[64];

	iso_time(c->not_after, na, sizeof(na));
	if (o->json) {
		printf("%s{\"store\":", o->n ? "," : "");
		json_str(stdout, t->store);
		printf(",\"alias\":");
		json_str(stdout, t->alias);
		printf(",\"pinned_leaf\":%s,\"crl\":%s,\"crl_next_update\":",
			t->pinned_leaf ? "true" : "false",
			t->has_crl ? "true" : "false");
		if (t->has_crl && t->crl_next_update) {
			char nu[64];

			iso_time(t->crl_next_update, nu, sizeof(nu));
			printf("\"%s\"", nu);
		} else {
			printf("null");
		}
		printf(",");
		cert_json_fields(c);
		printf("}");
	} else {
		printf("%-16s %-24s %-20s ", t->store, t->alias, na);
		cli_put_escaped(stdout, c->subject);
		printf("%s%s\n", t->pinned_leaf ? " (pinned leaf)" : "",
			t->has_crl ? " (with a CRL)" : "");
	}
	o->n++;
	return 0;
}

static int cmd_trust_list(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	list_out o = { .json = a->json };
	int r;

	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	if (o.json)
		printf("[");
	else
		printf("%-16s %-24s %-20s %s\n", "STORE", "ALIAS", "EXPIRES",
			"SUBJECT");
	r = kmc_trust_list(v, trust_opts.store, list_one, list_file, &o);
	if (r < 0)
		return cli_fail(r, "trust list");
	if (o.json)
		printf("]\n");
	return fflush(stdout) == 0 ? 0 :
		cli_fail(-errno, "writing to standard output");
}

static int cmd_trust_sync(cli_opts *a)
{
	const struct trust_opts *o = &trust_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	int r;

	if (!o->file)
		return cli_usage_fail("trust sync needs --file FILE");
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_trust_sync(v, a->argv[0], o->file, o->stop);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "trust sync");
	if (r < 0)
		return cli_fail(r, "trust sync refused, nothing was changed");
	if (o->stop)
		cli_note("trust store %s no longer keeps %s (the file stays as "
			"it is)", a->argv[0], o->file);
	else
		cli_note("trust store %s keeps %s: written now, and again with "
			"every trust add and rm", a->argv[0], o->file);
	return 0;
}

static int cmd_cert_set_trust(cli_opts *a)
{
	const struct trust_opts *o = &trust_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	const char *store = a->argc > 1 ? a->argv[1] : NULL;
	int r;

	if (!store == !o->none)
		return cli_usage_fail("cert set-trust NAME takes a STORE or "
			"--none");
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_cert_set_trust(v, a->argv[0], store);
	if (r < 0)
		return cli_fail(r, "cert set-trust refused, nothing was changed");
	if (store)
		cli_note("%s now accepts clients of its CA and of trust store %s",
			a->argv[0], store);
	else
		cli_note("%s now accepts clients of its own CA only", a->argv[0]);
	return 0;
}

const command cli_cmd_trust_add = {
	"trust", "add", cmd_trust_add, CLI_UNLOCK,
	.options = add_options, .parse = trust_option, .own = &trust_opts,
	.min_operands = 2, 2,
	"trust add ALIAS FILE [--store STORE] [--crl CRL] [--replace]\n"
	"          [--pin-leaf]",
	"Trust the one certificate in FILE (PEM or DER) under ALIAS in trust\n"
	"store STORE (default \"default\"; made when new). It must be a CA\n"
	"certificate (basicConstraints CA:TRUE, keyCertSign) within its\n"
	"dates; a self-signed leaf only with --pin-leaf. An ALIAS that exists\n"
	"is refused unless --replace, and so is a certificate already there\n"
	"under another alias. --crl CRL: the certificate's CRL (as kmc trust\n"
	"crl). The store's sync files are rewritten in the same transaction;\n"
	"servers of bundles that name the store reload."
};

const command cli_cmd_trust_crl = {
	"trust", "crl", cmd_trust_crl, CLI_UNLOCK,
	.options = store_options, .parse = trust_option, .own = &trust_opts,
	.min_operands = 2, 2, "trust crl ALIAS CRL [--store STORE]",
	"Check the clients of the certificate ALIAS of STORE against the CRL\n"
	"in file CRL (PEM or DER): signed by that certificate, current. It\n"
	"replaces the one ALIAS had; servers reload and refuse the clients it\n"
	"revokes. Without one, no client of a trusted CA is checked for\n"
	"revocation."
};

const command cli_cmd_trust_rm = {
	"trust", "rm", cmd_trust_rm, CLI_UNLOCK,
	.options = store_options, .parse = trust_option, .own = &trust_opts,
	.min_operands = 1, 1, "trust rm ALIAS [--store STORE]",
	"Stop trusting ALIAS in STORE (default \"default\"); its sync files\n"
	"are rewritten in the same transaction."
};

const command cli_cmd_trust_list = {
	"trust", "list", cmd_trust_list, CLI_UNLOCK | CLI_JSON,
	.options = store_options, .parse = trust_option, .own = &trust_opts,
	.min_operands = 0, 0, "trust list [--store STORE] [--json]",
	"List the certificates of STORE, or of every store: store, alias,\n"
	"expiry and subject, and the files each store keeps in sync."
};

const command cli_cmd_trust_sync = {
	"trust", "sync", cmd_trust_sync, CLI_UNLOCK,
	.options = sync_options, .parse = trust_option, .own = &trust_opts,
	.min_operands = 1, 1, "trust sync STORE --file FILE [--stop]",
	"Keep FILE a PEM bundle of STORE's certificates, for servers that read\n"
	"a CA file (nginx ssl_client_certificate, PostgreSQL ssl_ca_file,\n"
	"HAProxy ca-file): written now, and again atomically in the same\n"
	"transaction as every trust add and rm, keeping its owner, group,\n"
	"mode and extended attributes (a new file is 0644). At most 8 files a\n"
	"store. --stop: no longer keep FILE (it stays as it is)."
};

const command cli_cmd_cert_set_trust = {
	"cert", "set-trust", cmd_cert_set_trust, CLI_UNLOCK,
	.options = set_trust_options, .parse = trust_option,
	.own = &trust_opts, .min_operands = 1, 2,
	"cert set-trust NAME STORE|--none",
	"Make the server of the imported NAME accept clients of the\n"
	"certificates of trust store STORE besides its own CA (kmc_ssl_ctx_use),\n"
	"or with --none of its own CA only. Servers reload on the change."
};
