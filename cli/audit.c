/*
 * audit.c - kmc audit (reading the audit log) and kmc audit verify
 * (checking its chain). The log's logic is the library's
 * (kmc_audit_read(), kmc_audit_verify()).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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

/*
 * RFC 3339 in UTC, or a leading part of it that ends at a field:
 * 2026, 2026-12, 2026-12-01, 2026-12-01T10, ...T10:00, ...T10:00:00 and
 * the whole with its Z. Records are matched by comparing text, so a cut
 * inside a field ("2026-1" sorting after September) or a field out of
 * its range ("2026-13-01" after every December) would not fail: it
 * would quietly show the wrong records. NULL when s is such a time,
 * else what is wrong with it.
 */
static const char *since_fault(const char *s)
{
	static const char form[] = "dddd-dd-ddTdd:dd:ddZ";
	static const unsigned char mdays[12] = { 31, 29, 31, 30, 31, 30, 31,
		31, 30, 31, 30, 31 };
	size_t n = strlen(s);
	unsigned y, mo = 1, d;

	if (n > strlen(form))
		return "longer than a time";
	for (size_t i = 0; i < n; i++)
		if (form[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != form[i])
			return "not of the form";
	if (n != 4 && n != 7 && n != 10 && n != 13 && n != 16 && n != 19 &&
	    n != 20)
		return "cut inside a field (end with the year, month, day, "
			"hour, minute or second)";
	y = (unsigned)atoi(s);
	if (n >= 7 && ((mo = (unsigned)atoi(s + 5)) < 1 || mo > 12))
		return "the month is not 01 to 12";
	if (n >= 10) {
		d = (unsigned)atoi(s + 8);
		if (d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 &&
		    (y % 4 || (y % 100 == 0 && y % 400))))
			return "that day is not in that month";
	}
	if (n >= 13 && atoi(s + 11) > 23)
		return "the hour is not 00 to 23";
	if (n >= 16 && atoi(s + 14) > 59)
		return "the minute is not 00 to 59";
	if (n >= 19 && atoi(s + 17) > 60)
		return "the second is not 00 to 60";
	return NULL;
}

static int audit_option(void *own, int opt, const char *arg)
{
	struct audit_opts *o = own;

	if (opt == AUDIT_SINCE) {
		const char *fault = since_fault(arg);

		if (fault)
			return cli_usage_fail("--since %s: %s; give a UTC time "
				"as 2026-12-01 or 2026-12-01T10:00:00Z, or a "
				"leading part of one ending at a field", arg,
				fault);
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
