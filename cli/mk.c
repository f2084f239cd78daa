/*
 * mk.c - kmc mk rotate, list, rewrap and retire: master-key rotation.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* --conf FILE, as often as needed, for rewrap and retire. */
#define MK_CONF_MAX 64

static struct mk_opts {
	const char *conf[MK_CONF_MAX];
	size_t n_conf;
} mk_opts;

enum { MK_CONF = CLI_REPEAT_OPT };

static const struct option mk_options[] = {
	{ "conf", required_argument, NULL, MK_CONF },
	{ NULL, 0, NULL, 0 },
};

static int mk_option(void *own, int opt, const char *arg)
{
	struct mk_opts *o = own;

	(void)opt;
	if (o->n_conf == MK_CONF_MAX)
		return cli_usage_fail("--conf: at most %d files", MK_CONF_MAX);
	o->conf[o->n_conf++] = arg;
	return 0;
}

static int parse_mk_id(const char *s, uint32_t *ret)
{
	unsigned long long v;

	if (parse_uint(s, UINT32_MAX, &v) < 0 || v == 0)
		return cli_usage_fail("ID is a master-key number (see kmc mk "
			"list), not %s", s);
	*ret = (uint32_t)v;
	return 0;
}

static int cmd_mk_rotate(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	uint32_t id = 0;
	int r;

	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_mk_rotate(v, &id);
	/* The library's detail says whether kmc.ks took the change. */
	if (r < 0)
		return cli_fail(r, "rotating the master key of %s",
			kmc_vault_dir(v));
	cli_note("master key %" PRIu32 " of %s is now the active one; what "
		"the older ones sealed still opens, and kmc mk rewrap seals it "
		"again under the new one", id, kmc_vault_dir(v));
	return 0;
}

typedef struct list_out {
	int json;
	int n;
} list_out;

static int list_one(const kmc_mk_info *m, void *arg)
{
	list_out *o = arg;
	char when[32];

	iso_time(m->created, when, sizeof(when));
	if (o->json)
		printf("%s{\"id\":%" PRIu32 ",\"active\":%s,\"created\":\"%s\","
			"\"items\":%" PRIu64 ",\"old_versions\":%" PRIu64 "}",
			o->n ? "," : "", m->id, m->active ? "true" : "false",
			when, m->items, m->old_versions);
	else
		printf("%-10" PRIu32 " %-7s %-21s %10" PRIu64 " %12" PRIu64 "\n",
			m->id, m->active ? "active" : "old", when, m->items,
			m->old_versions);
	o->n++;
	return 0;
}

static int cmd_mk_list(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	list_out o = { a->json, 0 };
	int r;

	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	if (o.json)
		printf("[");
	else
		printf("%-10s %-7s %-21s %10s %12s\n", "ID", "STATE", "CREATED",
			"ITEMS", "OLD-VERSIONS");
	r = kmc_mk_list(v, list_one, &o);
	if (r < 0)
		return cli_fail(r, "listing the master keys of %s",
			kmc_vault_dir(v));
	if (o.json)
		printf("]\n");
	return fflush(stdout) == 0 ? 0 :
		cli_fail(-errno, "writing to standard output");
}

static void skipped(const char *file, unsigned line, const char *why,
	void *arg)
{
	(void)arg;
	cli_note("left alone: the kmc: string on line %u of %s: %s", line,
		file, why);
}

static int cmd_mk_rewrap(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	kmc_rewrap_params p = KMC_REWRAP_PARAMS_INIT;
	kmc_rewrap_result res = { 0 };
	int r;

	p.conf = mk_opts.conf;
	p.n_conf = mk_opts.n_conf;
	p.skipped = skipped;
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_mk_rewrap(v, &p, &res);
	if (r < 0) {
		/* Said only when something was done: a bad --conf file
		   fails before any change, and it is what to fix. */
		if (res.records || res.files)
			cli_note("sealed again so far: %" PRIu64 " records, %"
				PRIu64 " strings in %" PRIu64 " config files; "
				"run kmc mk rewrap again to go on", res.records,
				res.strings, res.files);
		return cli_fail(r, "rewrapping %s", kmc_vault_dir(v));
	}
	cli_note("sealed again under the active master key: %" PRIu64
		" record%s, %" PRIu64 " string%s in %" PRIu64 " config file%s%s",
		res.records, res.records == 1 ? "" : "s", res.strings,
		res.strings == 1 ? "" : "s", res.files, res.files == 1 ? "" : "s",
		res.skipped ? "; some strings were left alone (above)" : "");
	return 0;
}

static int cmd_mk_retire(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	uint32_t id = 0;
	int r;

	r = parse_mk_id(a->argv[0], &id);
	if (r < 0)
		return r;
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_mk_retire(v, id, mk_opts.conf, mk_opts.n_conf);
	/* Only a refusal is known to have changed nothing: a failure of
	   the keystore writes may come after kmc.ks took the change, which
	   the library's detail then says. */
	if (r == KMC_E_IN_USE || r == KMC_E_NOT_FOUND)
		return cli_fail(r, "retiring master key %" PRIu32 " refused, "
			"nothing was changed", id);
	if (r < 0)
		return cli_fail(r, "retiring master key %" PRIu32, id);
	cli_note("master key %" PRIu32 " is gone from the keystores of %s; a "
		"copy of a keystore made before still holds it", id,
		kmc_vault_dir(v));
	return 0;
}

const command cli_cmd_mk_rotate = {
	"mk", "rotate", cmd_mk_rotate, CLI_UNLOCK, .min_operands = 0, 0,
	"mk rotate",
	"Make a new master key the active one: new items and strings are\n"
	"sealed by it; what the older ones sealed still opens. Servers that\n"
	"have the vault open pick the new key up when they meet it."
};

const command cli_cmd_mk_list = {
	"mk", "list", cmd_mk_list, CLI_UNLOCK | CLI_JSON,
	.min_operands = 0, 0, "mk list [--json]",
	"List the master keys: id, active or old, when made, and how many\n"
	"current item records and old versions each seals."
};

const command cli_cmd_mk_rewrap = {
	"mk", "rewrap", cmd_mk_rewrap, CLI_UNLOCK,
	.options = mk_options, .parse = mk_option, .own = &mk_opts,
	.min_operands = 0, 0, "mk rewrap [--conf FILE]...",
	"Seal every item record (old versions too) and every kmc: string in\n"
	"the config files that an older master key sealed again under the\n"
	"active one. The config files that imports updated are always done;\n"
	"--conf names others. 1000 records a transaction: servers keep\n"
	"reading, and after a kill it goes on where it stopped when run again.\n"
	"A string another vault made is left alone and reported."
};

const command cli_cmd_mk_retire = {
	"mk", "retire", cmd_mk_retire, CLI_UNLOCK,
	.options = mk_options, .parse = mk_option, .own = &mk_opts,
	.min_operands = 1, 1, "mk retire ID [--conf FILE]...",
	"Remove an old master key from both keystores. Refused while it is\n"
	"the active one, or seals a record or a kmc: string in a config file\n"
	"an import updated or --conf names (kmc mk rewrap fixes that)."
};
