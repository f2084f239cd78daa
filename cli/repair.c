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


static int cmd_repair(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	char dir[PATH_MAX];
	_cleanup_(kmc_status_free) kmc_status st = KMC_STATUS_INIT;
	int r;

	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
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
	return status_healthy(&st) ? 0 : CLI_EXIT(EXIT_INTEGRITY);
}

const command cli_cmd_repair = {
	"repair", NULL, cmd_repair, CLI_UNLOCK, .min_operands = 0, 0,
	"repair",
	"Open the vault for writing: rewrite a missing, stale or damaged\n"
	"keystore from its twin, and finish (or undo) an import that was cut\n"
	"off. Exits 4 if something is still wrong."
};
