/*
 * backup.c - kmc backup, kmc restore: backup's own options and both
 * handlers.
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

/*
 * kmc backup's own options: --out DIR. --format is taken only to be
 * refused with the usage, as it always was.
 */
static struct backup_opts {
	const char *out, *format;
} backup_opts;

enum { BACKUP_OUT = CLI_OWN_OPT, BACKUP_FORMAT };

static const struct option backup_options[] = {
	{ "out", required_argument, NULL, BACKUP_OUT },
	{ "format", required_argument, NULL, BACKUP_FORMAT },
	{ NULL, 0, NULL, 0 },
};

static int backup_option(void *own, int opt, const char *arg)
{
	struct backup_opts *o = own;

	if (opt == BACKUP_OUT)
		o->out = arg;
	else
		o->format = arg;
	return 0;
}

static int cmd_backup(cli_opts *a)
{
	const struct backup_opts *bo = &backup_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	kmc_backup_info info = KMC_BACKUP_INFO_INIT;
	int r;

	if (!bo->out || bo->format)
		return cli_usage_fail("usage: kmc backup --out DIR");
	/* The writer lock, held for the copy: keystore and store match. */
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_vault_backup(v, bo->out, &info);
	if (r < 0)
		return cli_fail(r, "backing up %s to %s", kmc_vault_dir(v), bo->out);
	/* cli_note() escapes: the folder name is the user's, and a newline
	   or ESC in it must neither forge a line nor drive the terminal. */
	cli_note("backed up vault %s (generation %" PRIu64 ", %" PRIu64
		" items) to %s; it opens only with one of the vault's "
		"protectors (host key, passphrase, token, recovery key)",
		info.vault_id, info.generation, info.items, bo->out);
	if (info.leftovers_removed)
		cli_note("removed %" PRIu64 " hidden folder(s) (.NAME.backup-*) "
			"that killed backups of this vault left beside %s",
			info.leftovers_removed, bo->out);
	if (info.leftovers_kept > info.leftovers_busy)
		cli_note("%" PRIu64 " hidden folder(s) named as a killed "
			"backup's (.NAME.backup-*) beside %s are not provably this "
			"vault's and were left as they are: look at them, and "
			"remove those of no use", info.leftovers_kept -
			info.leftovers_busy, bo->out);
	if (info.leftovers_busy)
		cli_note("%" PRIu64 " hidden folder(s) of backups of this vault "
			"(.NAME.backup-*) beside %s were written to within the "
			"last %d minutes, as by a backup still under way (an older "
			"kmc's does not lock its folder), and were left as they "
			"are: a later backup removes those killed backups left",
			info.leftovers_busy, bo->out, KMC_BACKUP_LEFT_QUIET / 60);
	if (a->json) {
		json_backup_info(stdout, bo->out, &info, 0);
		if (fflush(stdout) != 0)
			return cli_fail(-errno, "writing to standard output");
	}
	return 0;
}

static int cmd_restore(cli_opts *a)
{
	_cleanup_(unlock_done) cli_unlock u = { .dir = NULL };
	kmc_backup_info info = KMC_BACKUP_INFO_INIT;
	const char *dir;
	int r;

	r = unlock_prepare(a, &u);
	if (r < 0)
		return r;
	dir = u.dir;
	r = kmc_vault_restore(dir, a->argv[0], &u.o, &info);
	if (r < 0)
		return cli_fail(r, "restoring %s into %s", a->argv[0], dir);
	if (!info.verified) {
		cli_note("no protector opened the backup (%s): its hashes "
			"were checked, its MACs were not", info.note);
		/* Nothing could bind it: where a state file (host key,
		   token) saw the vault further on, every open refuses it as
		   a rollback until it is bound. */
		cli_note("the restored vault is not bound yet: open it with a "
			"protector it had when the backup was made, by kmc "
			"repair --accept-rollback, before servers need it");
	}
	if (info.replaced_generation)
		cli_note("restored generation %" PRIu64 " over generation %"
			PRIu64 " in %s (vault %s, %" PRIu64 " items)",
			info.generation, info.replaced_generation, dir,
			info.vault_id, info.items);
	else
		cli_note("restored generation %" PRIu64 " in %s, which held "
			"no readable keystore (vault %s, %" PRIu64 " items)",
			info.generation, dir, info.vault_id, info.items);
	if (info.cas)
		cli_note("the restored vault's CAs (%" PRIu64 ", kmc ca list) "
			"are as the backup had them: certificates revoked after "
			"it are not revoked in their records, so revoke those "
			"again before the next kmc ca crl (CRL numbers still "
			"grow); those issued after it are unknown to them (kmc ca "
			"revoke CA --cert FILE revokes one)",
			info.cas);
	if (info.mk_lost_first) {
		int many = info.mk_lost_last > info.mk_lost_first;
		char ids[32];

		snprintf(ids, sizeof(ids), many ? "%" PRIu32 " to %" PRIu32 :
			"%" PRIu32, info.mk_lost_first, info.mk_lost_last);
		cli_note("master key%s %s of the vault replaced, made after the "
			"backup, %s gone: kmc:v1: strings sealed with %s no longer "
			"decrypt, and the next kmc mk rotate makes a new key %"
			PRIu32, many ? "s" : "", ids, many ? "are" : "is",
			many ? "them" : "it", info.mk_lost_first);
	}
	if (info.trust_files)
		cli_note("%" PRIu64 " trust sync file(s) written again to hold "
			"the restored trust stores (kmc trust list names them): "
			"reload the servers that read them", info.trust_files);
	if (info.trust_files_left)
		cli_note("%" PRIu64 " trust sync file(s) the restored trust "
			"stores keep hold other certificates and were left as "
			"they are: %s held no vault, and a restore there changes "
			"no file outside it (kmc trust list names them; kmc trust "
			"sync STORE --file F --stop, then again, writes one)",
			info.trust_files_left, dir);
	if (a->json) {
		json_backup_info(stdout, dir, &info, 1);
		if (fflush(stdout) != 0)
			return cli_fail(-errno, "writing to standard output");
	}
	return 0;
}

const command cli_cmd_backup = {
	"backup", NULL, cmd_backup, CLI_JSON | CLI_UNLOCK,
	.options = backup_options, .parse = backup_option, .own = &backup_opts,
	.min_operands = 0, 0, "backup --out DIR [--json]",
	"Copy the vault to the new folder DIR (0700; an existing DIR must be\n"
	"empty, and is never overwritten): kmc.ks, StandbyKsf.ks, a compacted\n"
	"items.mdb and backup.manifest (vault id, keystore generation, item\n"
	"count, a hash of each file), each 0600. The vault is opened for\n"
	"writing, so the copy is one consistent set: servers go on reading,\n"
	"and other writers wait until it is done. DIR appears whole or not at\n"
	"all. The host key, passphrase, token and recovery key are not in it;\n"
	"one of them is needed to open what it restores. Keys folders and\n"
	"config files an import wrote are not in it either. --json prints\n"
	"what was copied (docs/cli.md) on standard output."
};

const command cli_cmd_restore = {
	"restore", NULL, cmd_restore, CLI_JSON | CLI_UNLOCK,
	.min_operands = 1, 1,
	"restore BACKUP [--json]",
	"Put the backup in folder BACKUP back as the vault, in one step. The\n"
	"backup is checked first (manifest, every file's hash, keystores,\n"
	"store, vault id) and opened with the vault's protectors to check\n"
	"its MACs and every item; a backup of another vault is refused.\n"
	"The vault may be damaged or missing (it is created); a folder with\n"
	"a healthy vault of another id, or other files, is refused. A failure\n"
	"changes nothing; after a crash, kmc repair finishes the restore.\n"
	"Servers that keep the vault open read the old items until they\n"
	"open it again. --json prints what was restored (docs/cli.md) on\n"
	"standard output."
};
