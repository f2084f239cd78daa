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
		unsigned need = 0;

		switch (opt) {
		case LO_VAULT: need = 0; a->vault = optarg; break;
		case LO_JSON: need = OPT_JSON; a->json = 1; break;
		case LO_PROTECTOR: need = OPT_PROTECTOR; a->protector = optarg;
			break;
		case LO_HOST_KEY: need = OPT_HOST_KEY; a->host_key = optarg;
			break;
		case LO_PP_FILE: need = OPT_PASSPHRASE;
			a->passphrase.file = optarg; break;
		case LO_PP_FD: need = OPT_PASSPHRASE;
			if (parse_fd(optarg, &a->passphrase.fd) < 0)
				return cli_usage_fail("--passphrase-fd: not a "
					"descriptor number: %s", optarg);
			break;
		case LO_PW_FILE: need = OPT_PASSWORD;
			a->password.file = optarg; break;
		case LO_PW_FD: need = OPT_PASSWORD;
			if (parse_fd(optarg, &a->password.fd) < 0)
				return cli_usage_fail("--password-fd: not a "
					"descriptor number: %s", optarg);
			break;
		case LO_ARGON2_OPS: need = OPT_ARGON2;
			if (parse_uint(optarg, 64, &v) < 0 || v == 0)
				return cli_usage_fail("--argon2-ops: 1 to 64, "
					"not %s", optarg);
			a->argon2_ops = (uint32_t)v;
			break;
		case LO_ARGON2_MEM: need = OPT_ARGON2;
			if (parse_uint(optarg, 4096, &v) < 0 || v < 8)
				return cli_usage_fail("--argon2-mem: 8 to 4096 "
					"MiB, not %s", optarg);
			a->argon2_mem = v * 1024 * 1024;
			break;
		case 'c': need = OPT_IMPORT; a->ca = optarg; break;
		case 's': need = OPT_IMPORT; a->cert = optarg; break;
		case 'k': need = OPT_IMPORT; a->key = optarg; break;
		case 'r': need = OPT_CRL; a->crl = optarg; break;
		case LO_NAME: need = OPT_IMPORT; a->name = optarg; break;
		case LO_KEYS_DIR: need = OPT_IMPORT; a->keys_dir = optarg; break;
		case LO_CONF: need = OPT_IMPORT; a->conf = optarg; break;
		case LO_REPLACE: need = OPT_IMPORT; a->replace = 1; break;
		case LO_OUT: need = OPT_OUT; a->out = optarg; break;
		case LO_FORMAT: need = OPT_OUT; a->format = optarg; break;
		case LO_OLD: need = OPT_OLD; a->old = 1; break;
		case LO_URI: need = OPT_URI; a->uri = 1; break;
		case LO_PIN_FILE: need = OPT_PASSPHRASE; a->pin.file = optarg;
			break;
		case LO_PIN_FD: need = OPT_PASSPHRASE;
			if (parse_fd(optarg, &a->pin.fd) < 0)
				return cli_usage_fail("--pin-fd: not a descriptor "
					"number: %s", optarg);
			break;
		case LO_REC_FILE: need = OPT_PASSPHRASE;
			a->recovery.file = optarg; a->use_recovery = 1; break;
		case LO_REC_FD: need = OPT_PASSPHRASE;
			if (parse_fd(optarg, &a->recovery.fd) < 0)
				return cli_usage_fail("--recovery-fd: not a descriptor "
					"number: %s", optarg);
			a->use_recovery = 1;
			break;
		case LO_RECOVERY: need = OPT_PASSPHRASE; a->use_recovery = 1;
			break;
		case LO_P11_URI: need = OPT_TOKEN; a->pkcs11_uri = optarg;
			if (uri_has_pin_value(optarg))
				return cli_usage_fail("--pkcs11-uri holds a pin-value, "
					"which anyone on this host can read in ps while kmc "
					"runs; give the PIN with --pin-file FILE, --pin-fd "
					"N, or pin-source=FILE in the URI (RFC 7512)");
			break;
		case LO_CREATE_KEY: need = OPT_TOKEN; a->create_key = 1; break;
		case LO_MECH: need = OPT_TOKEN; a->mechanism = optarg; break;
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
