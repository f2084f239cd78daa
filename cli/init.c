/*
 * init.c - kmc init: its own options (--protector and those of a new
 * protector) and its handler.
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

/* kmc init's own options: the protector and what a new one takes. */
static struct init_opts {
	const char *protector;
	struct protector_opts p;
} init_opts;

enum { INIT_PROTECTOR = CLI_OWN_OPT };

static const struct option init_options[] = {
	{ "protector", required_argument, NULL, INIT_PROTECTOR },
	PROTECTOR_NEW_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static int init_option(void *own, int opt, const char *arg)
{
	struct init_opts *o = own;

	if (opt == INIT_PROTECTOR) {
		o->protector = arg;
		return 0;
	}
	/* Only options of its table come here: none is left over. */
	return protector_option(&o->p, opt, arg);
}

static int cmd_init(cli_opts *a)
{
	const struct init_opts *io = &init_opts;
	kmc_options o = KMC_OPTIONS_INIT;
	_cleanup_(secret_freep) kmc_secret *pass = NULL;
	_cleanup_(secret_freep) kmc_secret *pin = NULL;
	_cleanup_(secret_freep) kmc_secret *rec = NULL;
	kmc_protector_type type = KMC_PROTECTOR_HOST;
	char buf[PATH_MAX];
	const char *dir = NULL;
	_cleanup_(kmc_status_free) kmc_status st = KMC_STATUS_INIT;
	int r, shown = 0;

	r = vault_dir(a, buf, sizeof(buf), &dir);
	if (r < 0)
		return r;
	if (io->protector) {
		r = protector_type(io->protector, &type);
		if (r < 0)
			return r;
	}
	if (type != KMC_PROTECTOR_PASSPHRASE &&
	    (a->passphrase.file || a->passphrase.fd >= 0))
		return cli_usage_fail("init: a passphrase was given for a %s "
			"protector; add --protector passphrase", io->protector ?
			io->protector : "host");
	r = protector_inputs(a, &io->p, type, &o, &pass, &pin);
	if (r < 0)
		return r;
	/* No --vault: NULL lets init make the default's missing parents. */
	r = kmc_vault_init_ex(a->vault, type, &o, &rec);
	if (r < 0)
		return cli_fail(r, "creating a vault in %s", dir);
	if (rec)
		shown = show_recovery(rec, 1);
	/* The vault exists now; describing it is a courtesy. */
	if (kmc_vault_status(dir, &st) == 0)
		cli_note("created vault %s (id %s), protected by %s "
			"(%s)", dir, st.vault_id,
			kmc_protector_type_name(st.protectors[0].type),
			st.protectors[0].detail);
	else
		cli_note("created vault %s", dir);
	/* The vault is made, but its only key is wiped unseen: it is of no
	   use (it holds nothing yet), and the command fails. */
	if (shown < 0)
		cli_note("nobody has the recovery key of %s: remove that folder "
			"and run init again", dir);
	return shown;
}

const command cli_cmd_init = {
	"init", NULL, cmd_init, CLI_UNLOCK,
	.options = init_options, .parse = init_option, .own = &init_opts,
	.min_operands = 0, 0,
	"init [--protector host|passphrase|pkcs11|tpm|recovery] [--host-key FILE]\n"
	"        [--passphrase-file FILE | --passphrase-fd N]\n"
	"        [--argon2-ops N] [--argon2-mem MIB]\n"
	"        [--pkcs11-uri URI [--pin-file F | --pin-fd N] [--create-key]\n"
	"         [--mechanism aes-cbc|aes-gcm|rsa-oaep]]",
	"Create a vault: kmc.ks, StandbyKsf.ks and the item store in a new\n"
	"(or empty) directory, mode 0700. The host protector (default) keeps\n"
	"the root key under a host key file, made 0400 on first use at\n"
	"--host-key, $KMC_HOST_KEY, or /etc/kmcvault/host.key for root\n"
	"(~/.config/kmcvault/host.key otherwise). The passphrase protector\n"
	"derives its key with Argon2id (default 3 passes over 256 MiB); the\n"
	"passphrase is asked twice on the terminal or read from a file or\n"
	"descriptor, and must have at least 8 characters. pkcs11 and tpm:\n"
	"see kmc protector add --help; recovery prints its key once."
};
