/*
 * repair.c - kmc repair.
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


/* kmc repair's own option: --accept-rollback. */
static struct repair_opts {
	int accept_rollback;
} repair_opts;

enum { REPAIR_ACCEPT_ROLLBACK = CLI_OWN_OPT };

static const struct option repair_options[] = {
	{ "accept-rollback", no_argument, NULL, REPAIR_ACCEPT_ROLLBACK },
	{ NULL, 0, NULL, 0 },
};

static int repair_option(void *own, int opt, const char *arg)
{
	struct repair_opts *o = own;

	(void)arg;
	if (opt == REPAIR_ACCEPT_ROLLBACK)
		o->accept_rollback = 1;
	return 0;
}

static int cmd_repair(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	char dir[PATH_MAX];
	_cleanup_(kmc_status_free) kmc_status st = KMC_STATUS_INIT;
	int r, failed;

	r = open_vault(a, KMC_OPEN_WRITE | (repair_opts.accept_rollback ?
		KMC_OPEN_ACCEPT_ROLLBACK : 0), &v);
	if (r < 0)
		return r;
	/* Keys a change cut off after its commit left on a token. */
	r = kmc_token_destroys_finish(v, NULL);
	cli_token_note(v);
	if (r < 0)
		return cli_fail(r, "destroying the keys on a token the vault "
			"lists as waiting");
	/* A restore cut off that this open finished: a trust sync file it
	   could not write fails the repair (the open said which). */
	failed = restore_exit(v);
	/* The status waits for writers: let go of ours first. */
	snprintf(dir, sizeof(dir), "%s", kmc_vault_dir(v));
	kmc_vault_close(TAKE_VAULT(v));
	r = kmc_vault_status(dir, &st);
	if (r < 0)
		return cli_fail(r, "reading the vault %s", dir);
	cli_note("%s: kmc.ks %s, StandbyKsf.ks %s, %s",
		dir, kmc_keystore_state_name(st.master),
		kmc_keystore_state_name(st.standby), st.pending_change ?
		"a change is still pending" : "no change pending");
	if (st.token_destroys)
		cli_note("%s: %" PRIu64 " key%s on a token still waiting to be "
			"destroyed (kmc repair tries again)", dir,
			st.token_destroys, st.token_destroys == 1 ? "" : "s");
	if (failed)
		return failed;
	return status_healthy(&st) ? 0 : CLI_EXIT(EXIT_INTEGRITY);
}

const command cli_cmd_repair = {
	"repair", NULL, cmd_repair, CLI_UNLOCK,
	.options = repair_options, .parse = repair_option, .own = &repair_opts,
	.min_operands = 0, 0,
	"repair [--accept-rollback]",
	"Open the vault for writing: rewrite a missing, stale or damaged\n"
	"keystore from its twin, finish (or undo) an import that was cut\n"
	"off, finish a binding (kmc.bind) left pending, and destroy the keys\n"
	"on a token a cut-off change left (killed after its commit, or a\n"
	"key gen or import killed before it), each one no record of the\n"
	"vault names. A restore it finishes writes the trust sync files\n"
	"again; one it cannot write is an error (exit 5 or 6). Exits 4 if\n"
	"something is still wrong. --accept-rollback: where the item store,\n"
	"the keystores or the whole folder are older than kmc.bind (or the\n"
	"state file beside the host key) says the vault last was, which an\n"
	"open refuses with exit 12, accept what is on disk now as a\n"
	"deliberate restore: bind the vault to it again."
};
