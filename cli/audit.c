/*
 * audit.c - kmc audit (reading the audit log) and kmc audit verify
 * (checking its chain). The log's logic is the library's
 * (kmc_audit_read(), kmc_audit_verify()).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

enum { AUDIT_SINCE = CLI_OWN_OPT, AUDIT_ITEM };

static struct audit_opts {
	const char *since;
	const char *item;
} audit_opts;

static const struct option audit_options[] = {
	{ "since", required_argument, NULL, AUDIT_SINCE },
	{ "item", required_argument, NULL, AUDIT_ITEM },
	{ NULL, 0, NULL, 0 },
};

static int audit_option(void *own, int opt, const char *arg)
{
	struct audit_opts *o = own;

	if (opt == AUDIT_SINCE) {
		/* Checked by kmc_audit_read(), before any record is read. */
		o->since = arg;
	} else {
		o->item = arg;
	}
	return 0;
}

typedef struct print_ctx {
	int json;
	uint64_t n;
	int write_err;	/* errno of a failed write to stdout, else 0 */
} print_ctx;

/* Standard output failed (a reader gone, /dev/full): stop the walk,
   rather than read the rest of a long log for nobody. */
static int stop_on_write_error(print_ctx *p)
{
	if (!ferror(stdout))
		return 0;
	p->write_err = errno ? errno : EIO;
	return -p->write_err;
}

static int print_one(const kmc_audit_record *r, void *arg)
{
	print_ctx *p = arg;

	p->n++;
	if (p->json) {
		printf("%s\n", r->line);
		return stop_on_write_error(p);
	}
	printf("%" PRIu64 " %s ", r->seq, r->time);
	cli_put_escaped(stdout, r->user);
	printf(" (uid %u) pid %ld ", r->uid, r->pid);
	cli_put_escaped(stdout, r->op);
	for (size_t i = 0; i < r->n_items; i++) {
		printf(i ? ", " : ": ");
		cli_put_escaped(stdout, r->item_names[i]);
		printf(" v%" PRIu32, r->item_versions[i]);
		if (r->item_removed[i])
			printf(" (removed)");
		if (r->item_reads[i])
			printf(" (%" PRIu64 " more reads)", r->item_reads[i]);
	}
	if (r->more_items)
		printf(", and %zu more items", r->more_items);
	printf(" -> ");
	cli_put_escaped(stdout, r->result);
	printf("\n");
	return stop_on_write_error(p);
}

static int cmd_audit(cli_opts *a)
{
	char buf[PATH_MAX];
	const char *dir;
	print_ctx p = { a->json, 0, 0 };
	int r;

	r = vault_dir(a, buf, sizeof(buf), &dir);
	if (r < 0)
		return r;
	r = kmc_audit_read(dir, audit_opts.since, audit_opts.item, print_one,
		&p, NULL);
	if (p.write_err)
		return cli_fail(-p.write_err, "writing to standard output");
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	if (r < 0)
		return cli_fail(r, "reading the audit log of %s", dir);
	return 0;
}

static int cmd_audit_verify(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	kmc_audit_state st;
	int r;

	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_audit_verify(v, &st);
	if (a->json) {
		printf("{\"intact\":%s,\"records\":%" PRIu64 ",\"first_seq\":%"
			PRIu64 ",\"head_seq\":%" PRIu64 ",\"head\":\"%s\","
			"\"segments\":%zu,\"torn_bytes\":%" PRIu64 ",\"error\":",
			r == 0 ? "true" : "false", st.records, st.first_seq,
			st.head_seq, st.head, st.segments, st.torn_bytes);
		if (r < 0)
			json_str(stdout, kmc_error_detail());
		else
			printf("null");
		printf("}\n");
		fflush(stdout);
	}
	if (r < 0)
		return cli_fail(r, "verifying the audit log of %s",
			kmc_vault_dir(v));
	if (!a->json)
		cli_note("%s: audit log intact: %" PRIu64 " records (seq %"
			PRIu64 " to %" PRIu64 ") in %zu segment%s and audit.log",
			kmc_vault_dir(v), st.records, st.first_seq, st.head_seq,
			st.segments, st.segments == 1 ? "" : "s");
	return 0;
}

const command cli_cmd_audit_verify = {
	"audit", "verify", cmd_audit_verify, CLI_UNLOCK | CLI_JSON,
	.min_operands = 0, 0, "audit verify [--json]",
	"Check the whole audit log: every record's MAC (under a key the root\n"
	"key gives), that sequence numbers follow on and each record names\n"
	"the hash of the one before, across every kept segment. Exits 13\n"
	"naming the file, line and seq of the first fault."
};

const command cli_cmd_audit = {
	"audit", NULL, cmd_audit, CLI_JSON,
	.options = audit_options, .parse = audit_option, .own = &audit_opts,
	.min_operands = 0, 0, "audit [--since TIME] [--item NAME] [--json]",
	"Print the audit log, oldest first: who (uid, user, pid) did what\n"
	"(the API call), to which items and versions, and the result. No\n"
	"secret is needed; kmc audit verify checks the chain. --json prints\n"
	"each record as written, one JSON object a line."
};
