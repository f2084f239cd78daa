/*
 * options.c - the command line: options and operands of a command.
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

/* ---------------------------------------------------------------- */
/* Options                                                           */

enum {
	LO_VAULT = 256, LO_JSON, LO_PROTECTOR, LO_HOST_KEY, LO_PP_FILE,
	LO_PP_FD, LO_PW_FILE, LO_PW_FD, LO_ARGON2_OPS, LO_ARGON2_MEM, LO_HELP,
	LO_NAME, LO_KEYS_DIR, LO_CONF, LO_REPLACE, LO_OUT, LO_FORMAT, LO_OLD,
	LO_URI, LO_PIN_FILE, LO_PIN_FD, LO_REC_FILE, LO_REC_FD, LO_RECOVERY,
	LO_P11_URI, LO_CREATE_KEY, LO_MECH,
};

static const struct option long_options[] = {
	{ "vault", required_argument, NULL, LO_VAULT },
	{ "json", no_argument, NULL, LO_JSON },
	{ "protector", required_argument, NULL, LO_PROTECTOR },
	{ "host-key", required_argument, NULL, LO_HOST_KEY },
	{ "passphrase-file", required_argument, NULL, LO_PP_FILE },
	{ "passphrase-fd", required_argument, NULL, LO_PP_FD },
	{ "password-file", required_argument, NULL, LO_PW_FILE },
	{ "password-fd", required_argument, NULL, LO_PW_FD },
	{ "argon2-ops", required_argument, NULL, LO_ARGON2_OPS },
	{ "argon2-mem", required_argument, NULL, LO_ARGON2_MEM },
	{ "help", no_argument, NULL, LO_HELP },
	{ "ca", required_argument, NULL, 'c' },
	{ "cert", required_argument, NULL, 's' },
	{ "key", required_argument, NULL, 'k' },
	{ "crl", required_argument, NULL, 'r' },
	{ "name", required_argument, NULL, LO_NAME },
	{ "keys-dir", required_argument, NULL, LO_KEYS_DIR },
	{ "conf", required_argument, NULL, LO_CONF },
	{ "replace", no_argument, NULL, LO_REPLACE },
	{ "out", required_argument, NULL, LO_OUT },
	{ "format", required_argument, NULL, LO_FORMAT },
	{ "old", no_argument, NULL, LO_OLD },
	{ "uri", no_argument, NULL, LO_URI },
	{ "pin-file", required_argument, NULL, LO_PIN_FILE },
	{ "pin-fd", required_argument, NULL, LO_PIN_FD },
	{ "recovery-file", required_argument, NULL, LO_REC_FILE },
	{ "recovery-fd", required_argument, NULL, LO_REC_FD },
	{ "recovery", no_argument, NULL, LO_RECOVERY },
	{ "pkcs11-uri", required_argument, NULL, LO_P11_URI },
	{ "create-key", no_argument, NULL, LO_CREATE_KEY },
	{ "mechanism", required_argument, NULL, LO_MECH },
	{ NULL, 0, NULL, 0 },
};

/*
 * The command option each option belongs to (OPT_*; 0: every command
 * takes it). parse_args refuses one a command lacks, and kmc completion
 * offers only those a command takes.
 */
static const struct {
	int val;
	unsigned need;
} option_needs[] = {
	{ LO_JSON, OPT_JSON },
	{ LO_PROTECTOR, OPT_PROTECTOR },
	{ LO_HOST_KEY, OPT_HOST_KEY },
	{ LO_PP_FILE, OPT_PASSPHRASE },
	{ LO_PP_FD, OPT_PASSPHRASE },
	{ LO_PW_FILE, OPT_PASSWORD },
	{ LO_PW_FD, OPT_PASSWORD },
	{ LO_ARGON2_OPS, OPT_ARGON2 },
	{ LO_ARGON2_MEM, OPT_ARGON2 },
	{ 'c', OPT_IMPORT },
	{ 's', OPT_IMPORT },
	{ 'k', OPT_IMPORT },
	{ 'r', OPT_CRL },
	{ LO_NAME, OPT_IMPORT },
	{ LO_KEYS_DIR, OPT_IMPORT },
	{ LO_CONF, OPT_IMPORT },
	{ LO_REPLACE, OPT_IMPORT },
	{ LO_OUT, OPT_OUT },
	{ LO_FORMAT, OPT_OUT },
	{ LO_OLD, OPT_OLD },
	{ LO_URI, OPT_URI },
	{ LO_PIN_FILE, OPT_PASSPHRASE },
	{ LO_PIN_FD, OPT_PASSPHRASE },
	{ LO_REC_FILE, OPT_PASSPHRASE },
	{ LO_REC_FD, OPT_PASSPHRASE },
	{ LO_RECOVERY, OPT_PASSPHRASE },
	{ LO_P11_URI, OPT_TOKEN },
	{ LO_CREATE_KEY, OPT_TOKEN },
	{ LO_MECH, OPT_TOKEN },
};

static unsigned option_need(int val)
{
	for (size_t k = 0; k < ELEMENTS(option_needs); k++)
		if (option_needs[k].val == val)
			return option_needs[k].need;
	return 0;
}

const struct option *cli_long_options(void)
{
	return long_options;
}

int cli_takes_option(const command *c, const struct option *o)
{
	unsigned need = option_need(o->val);

	return !need || (c->options & need);
}

int parse_uint(const char *s, unsigned long long max,
	unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*ret = v;
	return 0;
}

static int parse_fd(const char *s, int *ret)
{
	unsigned long long v;

	if (parse_uint(s, INT_MAX, &v) < 0)
		return -1;
	*ret = (int)v;
	return 0;
}

/* The option as the user wrote it, for messages. */
static const char *opt_name(int opt, char *buf, size_t size)
{
	for (const struct option *o = long_options; o->name; o++)
		if (o->val == opt) {
			snprintf(buf, size, "--%s", o->name);
			return buf;
		}
	snprintf(buf, size, "-%c", opt);
	return buf;
}

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

int parse_args(const command *c, int argc, char **argv, args *a)
{
	char optbuf[64];
	unsigned char seen[512] = { 0 };
	unsigned long long v;
	int opt;

	a->passphrase = (cli_secret_src){ NULL, -1,
		"--passphrase-file FILE or --passphrase-fd N" };
	a->password = (cli_secret_src){ NULL, -1,
		"--password-file FILE or --password-fd N" };
	a->pin = (cli_secret_src){ NULL, -1,
		"--pin-file FILE or --pin-fd N (or pin-source in the URI)" };
	a->recovery = (cli_secret_src){ NULL, -1,
		"--recovery-file FILE or --recovery-fd N" };
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "hc:s:k:r:", long_options,
			NULL)) != -1) {
		unsigned need;

		/* An option given twice is a mistake (or a trick) that "the
		   last one wins" would hide: which vault, which password? */
		if (opt > 0 && (size_t)opt < sizeof(seen) && opt != 'h' &&
		    opt != LO_HELP && opt != ':' && opt != '?' && seen[opt]++)
			return cli_usage_fail("%s given twice",
				opt_name(opt, optbuf, sizeof(optbuf)));
		switch (opt) {
		case LO_VAULT: a->vault = optarg; break;
		case LO_JSON: a->json = 1; break;
		case LO_PROTECTOR: a->protector = optarg; break;
		case LO_HOST_KEY: a->host_key = optarg; break;
		case LO_PP_FILE: a->passphrase.file = optarg; break;
		case LO_PP_FD:
			if (parse_fd(optarg, &a->passphrase.fd) < 0)
				return cli_usage_fail("--passphrase-fd: not a "
					"descriptor number: %s", optarg);
			break;
		case LO_PW_FILE: a->password.file = optarg; break;
		case LO_PW_FD:
			if (parse_fd(optarg, &a->password.fd) < 0)
				return cli_usage_fail("--password-fd: not a "
					"descriptor number: %s", optarg);
			break;
		case LO_ARGON2_OPS:
			if (parse_uint(optarg, 64, &v) < 0 || v == 0)
				return cli_usage_fail("--argon2-ops: 1 to 64, "
					"not %s", optarg);
			a->argon2_ops = (uint32_t)v;
			break;
		case LO_ARGON2_MEM:
			if (parse_uint(optarg, 4096, &v) < 0 || v < 8)
				return cli_usage_fail("--argon2-mem: 8 to 4096 "
					"MiB, not %s", optarg);
			a->argon2_mem = v * 1024 * 1024;
			break;
		case 'c': a->ca = optarg; break;
		case 's': a->cert = optarg; break;
		case 'k': a->key = optarg; break;
		case 'r': a->crl = optarg; break;
		case LO_NAME: a->name = optarg; break;
		case LO_KEYS_DIR: a->keys_dir = optarg; break;
		case LO_CONF: a->conf = optarg; break;
		case LO_REPLACE: a->replace = 1; break;
		case LO_OUT: a->out = optarg; break;
		case LO_FORMAT: a->format = optarg; break;
		case LO_OLD: a->old = 1; break;
		case LO_URI: a->uri = 1; break;
		case LO_PIN_FILE: a->pin.file = optarg; break;
		case LO_PIN_FD:
			if (parse_fd(optarg, &a->pin.fd) < 0)
				return cli_usage_fail("--pin-fd: not a descriptor "
					"number: %s", optarg);
			break;
		case LO_REC_FILE:
			a->recovery.file = optarg;
			a->use_recovery = 1;
			break;
		case LO_REC_FD:
			if (parse_fd(optarg, &a->recovery.fd) < 0)
				return cli_usage_fail("--recovery-fd: not a descriptor "
					"number: %s", optarg);
			a->use_recovery = 1;
			break;
		case LO_RECOVERY: a->use_recovery = 1; break;
		case LO_P11_URI: a->pkcs11_uri = optarg;
			if (uri_has_pin_value(optarg))
				return cli_usage_fail("--pkcs11-uri holds a pin-value, "
					"which anyone on this host can read in ps while kmc "
					"runs; give the PIN with --pin-file FILE, --pin-fd "
					"N, or pin-source=FILE in the URI (RFC 7512)");
			break;
		case LO_CREATE_KEY: a->create_key = 1; break;
		case LO_MECH: a->mechanism = optarg; break;
		case 'h':
		case LO_HELP: a->help = 1; break;
		case ':':
			return cli_usage_fail("%s needs a value",
				argv[optind - 1]);
		default:
			return cli_usage_fail("%s%s%s: unknown option %s (see kmc "
				"%s%s%s --help)", c->name, c->sub ? " " : "",
				c->sub ? c->sub : "", argv[optind - 1], c->name,
				c->sub ? " " : "", c->sub ? c->sub : "");
		}
		need = option_need(opt);
		if (need && !(c->options & need))
			return cli_usage_fail("%s%s%s does not take %s", c->name,
				c->sub ? " " : "", c->sub ? c->sub : "",
				opt_name(opt, optbuf, sizeof(optbuf)));
	}
	if (a->passphrase.file && a->passphrase.fd >= 0)
		return cli_usage_fail("give --passphrase-file or --passphrase-fd, "
			"not both");
	if (a->password.file && a->password.fd >= 0)
		return cli_usage_fail("give --password-file or --password-fd, "
			"not both");
	a->argc = argc - optind;
	a->argv = argv + optind;
	if (a->help)
		return 0;
	if (a->argc < c->min_operands || a->argc > c->max_operands) {
		/* Our own text, lines and all: not escaped. */
		fprintf(stderr, "kmc: usage: kmc %s\n", c->usage);
		return CLI_EXIT(EXIT_USAGE);
	}
	return 0;
}
