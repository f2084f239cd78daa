/*
 * protector.c - kmc protector add, remove, list, and the options of a
 * new protector that init shares (protector_option()).
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
#include <sys/uio.h>
#include "cli.h"

/* ---------------------------------------------------------------- */
/* Commands                                                          */

/*
 * Whether an RFC 7512 URI carries a pin-value attribute (path or query).
 * The command line is world-readable in /proc/PID/cmdline for the whole
 * run, so a PIN there is refused rather than used.
 */
static int uri_has_pin_value(const char *uri)
{
	static const char attr[] = "pin-value";
	const size_t n = sizeof(attr) - 1;

	for (const char *p = uri;; p++) {
		if (!strncasecmp(p, attr, n) && (p[n] == '=' || p[n] == '\0'))
			return 1;
		p += strcspn(p, ":;?&");
		if (!*p)
			return 0;
	}
}

int protector_option(struct protector_opts *p, int opt, const char *arg)
{
	unsigned long long v;

	switch (opt) {
	case PO_ARGON2_OPS:
		if (parse_uint(arg, 64, &v) < 0 || v == 0)
			return cli_usage_fail("--argon2-ops: 1 to 64, not %s", arg);
		p->argon2_ops = (uint32_t)v;
		return 0;
	case PO_ARGON2_MEM:
		if (parse_uint(arg, 4096, &v) < 0 || v < 8)
			return cli_usage_fail("--argon2-mem: 8 to 4096 MiB, not %s",
				arg);
		p->argon2_mem = v * 1024 * 1024;
		return 0;
	case PO_P11_URI:
		p->pkcs11_uri = arg;
		if (uri_has_pin_value(arg))
			return cli_usage_fail("--pkcs11-uri holds a pin-value, "
				"which anyone on this host can read in ps while kmc "
				"runs; give the PIN with --pin-file FILE, --pin-fd "
				"N, or pin-source=FILE in the URI (RFC 7512)");
		return 0;
	case PO_CREATE_KEY:
		p->create_key = 1;
		return 0;
	case PO_MECH:
		p->mechanism = arg;
		return 0;
	}
	abort();	/* an option of no table */
}

/* kmc protector add: the new protector's options. */
static struct protector_opts add_opts;

static const struct option add_options[] = {
	PROTECTOR_NEW_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static int add_option(void *own, int opt, const char *arg)
{
	return protector_option(own, opt, arg);
}

int protector_type(const char *name, kmc_protector_type *ret)
{
	static const struct { const char *name; kmc_protector_type type; } t[] = {
		{ "host", KMC_PROTECTOR_HOST },
		{ "passphrase", KMC_PROTECTOR_PASSPHRASE },
		{ "pkcs11", KMC_PROTECTOR_PKCS11 },
		{ "tpm", KMC_PROTECTOR_TPM },
		{ "recovery", KMC_PROTECTOR_RECOVERY },
	};

	for (size_t i = 0; i < ELEMENTS(t); i++)
		if (!strcmp(name, t[i].name)) {
			*ret = t[i].type;
			return 0;
		}
	return cli_usage_fail("unknown protector %s: host, passphrase, pkcs11, "
		"tpm or recovery", name);
}

/* Gather what a new protector of type needs; secrets go to *owned. */
int protector_inputs(cli_opts *a, const struct protector_opts *p,
	kmc_protector_type type, kmc_options *o, kmc_secret **pass,
	kmc_secret **pin)
{
	int r;

	o->host_key = a->host_key;
	if (type == KMC_PROTECTOR_PASSPHRASE) {
		r = cli_read_secret(&a->passphrase, "new vault passphrase", 1,
			PASSPHRASE_MAX, pass);
		if (r < 0)
			return r;
		o->passphrase = *pass;
		o->argon2_ops = p->argon2_ops;
		o->argon2_mem = p->argon2_mem;
	}
	if (type == KMC_PROTECTOR_PKCS11 || type == KMC_PROTECTOR_TPM) {
		if (!p->pkcs11_uri)
			return cli_usage_fail("a %s protector needs --pkcs11-uri "
				"'pkcs11:token=...;object=...'",
				type == KMC_PROTECTOR_TPM ? "tpm" : "pkcs11");
		o->pkcs11_uri = p->pkcs11_uri;
		o->pkcs11_create_key = p->create_key;
		o->pkcs11_mechanism = p->mechanism;
		if (a->pin.file || a->pin.fd >= 0) {
			r = cli_read_secret(&a->pin, "token PIN", 0, 256, pin);
			if (r < 0)
				return r;
			o->pin = *pin;
		}
		o->pin_cb = cli_pin_cb;
	} else if (p->pkcs11_uri || p->create_key || p->mechanism) {
		return cli_usage_fail("--pkcs11-uri, --create-key and --mechanism "
			"are for pkcs11 and tpm protectors");
	}
	return 0;
}

/*
 * A recovery key is shown once, to a person: say so plainly. It goes out
 * straight from guarded memory: printf would leave a copy in stdio's
 * buffer on the heap, which nothing wipes. Key and newline go in one
 * writev (no copy, no allocation that could fail), so that a failure
 * means the key was not shown; that is reported and returned.
 */
int show_recovery(const kmc_secret *key, unsigned id)
{
	const unsigned char *p = kmc_secret_data(key);
	size_t n = kmc_secret_len(key);
	struct iovec iov[2] = {
		{ (void *)p, n },
		{ (void *)"\n", 1 },
	};
	ssize_t w;
	int r = 0;

	do
		w = writev(STDOUT_FILENO, iov, 2);
	while (w < 0 && (errno == EINTR || ((errno == EAGAIN ||
		errno == EWOULDBLOCK) && cli_wait_stdout() == 0)));
	if (w < 0)
		return cli_fail(-errno, "writing to standard output");
	/* A short write: the rest as write_out() writes anything. */
	if ((size_t)w < n)
		r = write_out(p + w, n - (size_t)w);
	if (r == 0 && (size_t)w <= n)
		r = write_out("\n", 1);
	if (r < 0)
		return r;
	if (id)
		fprintf(stderr, "kmc: above is the recovery key of protector %u. "
			"It is", id);
	else
		fprintf(stderr, "kmc: above is the recovery key of the new "
			"protector (see kmc protector list). It is");
	fprintf(stderr, " shown this once and opens the vault alone "
		"(--recovery): write it down and keep it apart from the vault.\n");
	return 0;
}

static int cmd_protector_add(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pass = NULL;
	_cleanup_(secret_freep) kmc_secret *pin = NULL;
	_cleanup_(secret_freep) kmc_secret *rec = NULL;
	kmc_options o = KMC_OPTIONS_INIT;
	kmc_protector_type type = KMC_PROTECTOR_HOST;
	cli_opts opener;
	unsigned id = 0;
	int r, shown = 0;

	r = protector_type(a->argv[0], &type);
	if (r < 0)
		return r;
	/* --passphrase-file and --pin-file name the NEW protector's secret;
	   the vault opens with its existing protectors (or a prompt). */
	opener = *a;
	/* --host-key names the new protector's key, not the one that opens. */
	if (type == KMC_PROTECTOR_HOST)
		opener.host_key = NULL;
	if (type == KMC_PROTECTOR_PASSPHRASE) {
		opener.passphrase.file = NULL;
		opener.passphrase.fd = -1;
	}
	if (type == KMC_PROTECTOR_PKCS11 || type == KMC_PROTECTOR_TPM) {
		opener.pin.file = NULL;
		opener.pin.fd = -1;
	}
	/* The new protector's secrets first: open_vault() takes the writer
	   lock, and a prompt that waits on someone who walked away would
	   hold off every other writer meanwhile. */
	r = protector_inputs(a, &add_opts, type, &o, &pass, &pin);
	if (r < 0)
		return r;
	r = open_vault(&opener, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_protector_add(v, type, &o, &id, &rec);
	/* A recovery key that reached the keystore is shown, whatever else
	   went wrong: a slot nobody can use would be worse. */
	if (rec)
		shown = show_recovery(rec, id);
	if (r < 0)
		return cli_fail(r, "adding a %s protector to %s", a->argv[0],
			kmc_vault_dir(v));
	cli_note("added protector %u (%s) to %s", id, a->argv[0],
		kmc_vault_dir(v));
	/* The key is wiped now: say what is left to do with its slot. */
	if (shown < 0)
		cli_note("nobody has the key of protector %u: remove it (kmc "
			"protector remove %u) and add another", id, id);
	return shown;
}

static int cmd_protector_remove(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	unsigned long long id;
	int r;

	if (parse_uint(a->argv[0], 255, &id) < 0 || id == 0)
		return cli_usage_fail("protector remove: ID is a protector number "
			"(see kmc protector list), not %s", a->argv[0]);
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_protector_remove(v, (unsigned)id);
	if (r < 0)
		return cli_fail(r, "removing protector %llu", id);
	cli_note("removed protector %llu from %s", id,
		kmc_vault_dir(v));
	return 0;
}

static int cmd_protector_list(cli_opts *a)
{
	char buf[PATH_MAX];
	const char *dir = NULL;
	_cleanup_(kmc_status_free) kmc_status s = KMC_STATUS_INIT;
	int r;

	r = read_status(a, buf, sizeof(buf), &dir, &s);
	if (r < 0)
		return r;
	if (a->json)
		printf("[");
	for (size_t i = 0; i < s.n_protectors; i++) {
		if (a->json) {
			printf("%s{\"id\":%u,\"type\":\"%s\",\"detail\":",
				i ? "," : "", s.protectors[i].id,
				kmc_protector_type_name(s.protectors[i].type));
			json_str(stdout, s.protectors[i].detail);
			printf("}");
		} else {
			printf("%-3u %-10s ", s.protectors[i].id,
				kmc_protector_type_name(s.protectors[i].type));
			cli_put_escaped(stdout, s.protectors[i].detail);
			putchar('\n');
		}
	}
	if (a->json)
		printf("]\n");
	return fflush(stdout) == 0 ? 0 :
		cli_fail(-errno, "writing to standard output");
}

const command cli_cmd_protector_add = {
	"protector", "add", cmd_protector_add, CLI_UNLOCK,
	.options = add_options, .parse = add_option, .own = &add_opts,
	.min_operands = 1, 1,
	"protector add host|passphrase|pkcs11|tpm|recovery [OPTIONS]",
	"Add a way to open the vault; any one protector opens it. The vault\n"
	"is opened with the protectors it has (host key, token, prompt).\n"
	"  host        --host-key FILE (made 0400 if absent)\n"
	"  passphrase  --passphrase-file F | --passphrase-fd N | prompt\n"
	"              (asked before the vault is opened and locked),\n"
	"              [--argon2-ops N] [--argon2-mem MIB]\n"
	"  pkcs11      --pkcs11-uri 'pkcs11:token=T;object=K[?module-path=P]'\n"
	"              (RFC 7512: token, object, id, module-name, module-path,\n"
	"              pin-source); the PIN from --pin-file, --pin-fd, the\n"
	"              URI's pin-source, or a prompt. A pin-source is kept\n"
	"              so a server opens at boot with no flags; a pin-value\n"
	"              is refused, since others can read it in ps.\n"
	"              --create-key makes a sensitive, non-extractable AES-256\n"
	"              key when none matches; an extractable key is refused.\n"
	"              --mechanism aes-cbc (default, every token), aes-gcm\n"
	"              (SoftHSM2), rsa-oaep (an RSA key: SHA-256, else SHA-1).\n"
	"  tpm         the same through tpm2-pkcs11 (module-name=tpm2_pkcs11\n"
	"              unless the URI names a module); see\n"
	"              docs/integrations/tpm.md\n"
	"  recovery    prints a high-entropy key once, 8 groups of 6 with a\n"
	"              check symbol each; --recovery opens the vault with it.\n"
	"Modules load only from /usr/lib, /usr/lib64, /usr/local/lib, /lib or\n"
	"/opt."
};

const command cli_cmd_protector_list = {
	"protector", "list", cmd_protector_list, CLI_JSON, .min_operands = 0, 0,
	"protector list [--json]",
	"List the protectors: id, type, and what it uses (host key path,\n"
	"Argon2id cost, token URI and mechanism). Nothing is unlocked."
};

const command cli_cmd_protector_remove = {
	"protector", "remove", cmd_protector_remove, CLI_UNLOCK,
	.min_operands = 1, 1, "protector remove ID",
	"Remove protector ID; the last one is never removed. Note: a copy of\n"
	"the keystore made before still opens with the removed protector."
};
