/*
 * verify.c - kmc verify: the whole item store checked against its
 * digest, each record opened (vault/verify.c does the work).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

typedef struct verify_out {
	int json;
	int n;
} verify_out;

static int print_note(const kmc_verify_note *n, void *arg)
{
	verify_out *o = arg;

	if (o->json) {
		printf("%s{\"item\":", o->n ? "," : "");
		if (n->item)
			json_str(stdout, n->item);
		else
			printf("null");
		printf(",\"version\":%" PRIu32 ",\"what\":", n->version);
		json_str(stdout, n->what);
		printf("}");
	} else if (!n->item) {
		printf("disagrees      the digest: %s\n", n->what);
	} else {
		printf("disagrees      ");
		if (n->version)
			printf("version %" PRIu32 " of ", n->version);
		printf("item ");
		cli_put_escaped(stdout, n->item);
		printf(": %s\n", n->what);
	}
	o->n++;
	return 0;
}

static int cmd_verify(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	verify_out o = { a->json, 0 };
	uint64_t records = 0, bad = 0;
	int r;

	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	if (o.json) {
		printf("{\"vault\":");
		json_str(stdout, kmc_vault_dir(v));
		printf(",\"disagreements\":[");
	}
	r = kmc_vault_verify(v, print_note, &o, &records, &bad);
	if (o.json)
		printf("],\"records\":%" PRIu64 ",\"ok\":%s}\n", records,
			r == 0 && bad == 0 ? "true" : "false");
	else if (r == 0)
		printf("records        %" PRIu64 ", %" PRIu64 " disagreeing "
			"with the digest or failing to open\n", records, bad);
	if (r < 0)
		return cli_fail(r, "verifying %s", kmc_vault_dir(v));
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	if (bad) {
		cli_note("%s: the item store disagrees with its digest or holds "
			"records that do not open: put back a backup (kmc "
			"restore), or remove the items named (kmc rm)",
			kmc_vault_dir(v));
		return CLI_EXIT(EXIT_INTEGRITY);
	}
	return 0;
}

const command cli_cmd_verify = {
	"verify", NULL, cmd_verify, CLI_JSON | CLI_UNLOCK, .min_operands = 0, 0,
	"verify [--json]",
	"Check the whole item store: recompute its digest from every record\n"
	"(old versions too) and compare it with the stored one, and open\n"
	"every record under its master key. Each disagreement is named by\n"
	"item; exits 4 when there is any. Nothing is written."
};
