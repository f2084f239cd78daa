/*
 * kmc.c - the kmc command: parse arguments, call the library, print.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "cli.h"

#define PASSWORD_MAX 4096
#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define PASSPHRASE_MAX 1024

/* ---------------------------------------------------------------- */
/* Errors                                                            */

/*
 * The exit code (docs/cli.md) for each fault. A system fault (-errno) not
 * named here is EXIT_IO; anything else not named, EXIT_FAIL.
 */
static const struct {
	int err;
	int code;
} exit_codes[] = {
	{ KMC_E_UNLOCK, EXIT_AUTH },
	{ KMC_E_NEED_PASSPHRASE, EXIT_AUTH },
	{ KMC_E_HOST_KEY, EXIT_AUTH },
	{ KMC_E_P11_PIN, EXIT_AUTH },
	{ KMC_E_P11_PIN_LOCKED, EXIT_AUTH },
	{ KMC_E_P11_MODULE, EXIT_NOT_FOUND },
	{ KMC_E_P11_TOKEN, EXIT_NOT_FOUND },
	{ KMC_E_P11_KEY, EXIT_NOT_FOUND },
	{ KMC_E_P11_KEY_TYPE, EXIT_VERIFY },
	{ KMC_E_P11, EXIT_IO },
	{ KMC_E_LIMIT, EXIT_FAIL },
	{ KMC_E_AUTH, EXIT_INTEGRITY },
	{ KMC_E_CORRUPT, EXIT_INTEGRITY },
	{ KMC_E_NO_KEYSTORE, EXIT_INTEGRITY },
	{ KMC_E_WRONG_VAULT, EXIT_INTEGRITY },
	{ KMC_E_VERSION, EXIT_INTEGRITY },
	{ KMC_E_PERM, EXIT_PERM },
	{ -EACCES, EXIT_PERM },
	{ -EPERM, EXIT_PERM },
	{ KMC_E_NOT_FOUND, EXIT_NOT_FOUND },
	{ KMC_E_NOT_VAULT, EXIT_NOT_FOUND },
	{ -ENOENT, EXIT_NOT_FOUND },
	{ KMC_E_EXISTS, EXIT_EXISTS },
	{ KMC_E_VERIFY, EXIT_VERIFY },
	{ KMC_E_TYPE, EXIT_VERIFY },
	{ KMC_E_INVALID, EXIT_USAGE },
	{ KMC_E_NAME, EXIT_USAGE },
	{ KMC_E_TOO_LARGE, EXIT_USAGE },
	{ KMC_E_EMPTY, EXIT_USAGE },
	{ KMC_E_STRING, EXIT_USAGE },
	{ KMC_E_STORE, EXIT_IO },
	{ KMC_E_PENDING, EXIT_IO },
	/* A terminal that went away or a signal while prompting. */
	{ CLI_NO_TTY, EXIT_IO },
	{ CLI_INTERRUPTED, EXIT_IO },
};

static int exit_code_for(int err)
{
	for (size_t k = 0; k < ELEMENTS(exit_codes); k++)
		if (exit_codes[k].err == err)
			return exit_codes[k].code;
	return KMC_IS_ERRNO(err) ? EXIT_IO : EXIT_FAIL;
}

int cli_fail(int err, const char *fmt, ...)
{
	const char *detail = kmc_error_detail();
	va_list ap;

	/* The detail names items and paths: escaped with the rest. */
	va_start(ap, fmt);
	cli_vreport(fmt, ap, detail[0] ? detail : kmc_strerror(err));
	va_end(ap);
	return CLI_EXIT(exit_code_for(err));
}

int cli_usage_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vreport(fmt, ap, NULL);
	va_end(ap);
	return CLI_EXIT(EXIT_USAGE);
}

/* ---------------------------------------------------------------- */
/* Options                                                           */

enum {
	OPT_VAULT = 1 << 0,
	OPT_JSON = 1 << 1,
	OPT_PROTECTOR = 1 << 2,
	OPT_HOST_KEY = 1 << 3,
	OPT_PASSPHRASE = 1 << 4,	/* --passphrase-file, --passphrase-fd */
	OPT_PASSWORD = 1 << 5,		/* --password-file, --password-fd */
	OPT_ARGON2 = 1 << 6,
	OPT_IMPORT = 1 << 7,		/* -c -s -k --name --keys-dir --conf ... */
	OPT_CRL = 1 << 8,		/* -r */
	OPT_OUT = 1 << 9,		/* --out, --format */
	OPT_OLD = 1 << 10,
	OPT_URI = 1 << 11,
	OPT_TOKEN = 1 << 12,	/* --pkcs11-uri, --create-key, --mechanism */
};

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

typedef struct args {
	const char *vault;
	int json;
	const char *protector;
	const char *host_key;
	cli_secret_src passphrase;
	cli_secret_src password;
	cli_secret_src pin;
	cli_secret_src recovery;
	int use_recovery;
	const char *pkcs11_uri, *mechanism;
	int create_key;
	uint32_t argon2_ops;
	uint64_t argon2_mem;
	const char *ca, *cert, *key, *crl, *name, *keys_dir, *conf, *out;
	const char *format;
	int replace, old, uri;
	int help;
	int argc;		/* operands left after the options */
	char **argv;
} args;

typedef struct command {
	const char *name;
	const char *sub;	/* second word, e.g. "set" of "password set" */
	int (*run)(args *a);
	unsigned options;
	int min_operands, max_operands;
	const char *usage;
	const char *help;
} command;

static int parse_uint(const char *s, unsigned long long max,
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

static int parse_args(const command *c, int argc, char **argv, args *a)
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

/* ---------------------------------------------------------------- */
/* Opening                                                           */

/*
 * The vault a command works on: --vault, else the default. A default
 * that cannot be worked out (an over-long $KMC_VAULT, no home) fails
 * with its cause; falling back to some other folder, such as the
 * current one, would read or write a vault nobody named.
 */
static int vault_dir(const args *a, char *buf, size_t size,
	const char **ret)
{
	int r;

	if (a->vault) {
		*ret = a->vault;
		return 0;
	}
	r = kmc_default_vault_dir(buf, size);
	if (r < 0)
		return cli_fail(r, "finding the vault (give --vault DIR)");
	*ret = buf;
	return 0;
}

static void vault_closep(kmc_vault **v)
{
	kmc_vault_close(*v);
}

static void secret_freep(kmc_secret **s)
{
	kmc_secret_free(*s);
}

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Hand a vault on and leave NULL behind for the cleanup handler. */
static kmc_vault *take_vault(kmc_vault **v)
{
	kmc_vault *t = *v;

	*v = NULL;
	return t;
}
#define TAKE_VAULT(v) take_vault(&(v))

/* The PIN, passphrase and recovery key given by file or descriptor. */
static int read_unlock_secrets(args *a, kmc_options *o, kmc_secret **pass,
	kmc_secret **pin, kmc_secret **rec)
{
	int r;

	if (a->passphrase.file || a->passphrase.fd >= 0) {
		r = cli_read_secret(&a->passphrase, "passphrase", 0,
			PASSPHRASE_MAX, pass);
		if (r < 0)
			return r;
		o->passphrase = *pass;
	}
	if (a->pin.file || a->pin.fd >= 0) {
		r = cli_read_secret(&a->pin, "token PIN", 0, 256, pin);
		if (r < 0)
			return r;
		o->pin = *pin;
	}
	if (a->use_recovery) {
		r = cli_read_secret(&a->recovery, "recovery key", 0, 256, rec);
		if (r < 0)
			return r;
		o->recovery_key = *rec;
	}
	o->pin_cb = cli_pin_cb;
	return 0;
}

static int open_vault(args *a, unsigned flags, kmc_vault **ret)
{
	kmc_options o = KMC_OPTIONS_INIT;
	_cleanup_(secret_freep) kmc_secret *pass = NULL;
	_cleanup_(secret_freep) kmc_secret *pin = NULL;
	_cleanup_(secret_freep) kmc_secret *rec = NULL;
	char buf[PATH_MAX];
	const char *dir = NULL;
	int r;

	r = vault_dir(a, buf, sizeof(buf), &dir);
	if (r < 0)
		return r;
	r = read_unlock_secrets(a, &o, &pass, &pin, &rec);
	if (r < 0)
		return r;
	o.host_key = a->host_key;
	o.passphrase_cb = cli_passphrase_cb;
	o.passphrase_arg = (void *)dir;
	r = kmc_vault_open_ex(dir, flags, &o, ret);
	if (r == KMC_E_NEED_PASSPHRASE) {
		cli_note("opening the vault %s: %s; with no terminal "
			"to ask, give %s, or %s, or a recovery key with %s", dir,
			kmc_error_detail()[0] ? kmc_error_detail() :
			"it needs its passphrase", a->passphrase.hint, a->pin.hint,
			a->recovery.hint);
		return CLI_EXIT(EXIT_AUTH);
	}
	if (r < 0)
		return cli_fail(r, "opening the vault %s", dir);
	if (kmc_vault_unlock_notes(*ret)[0])
		cli_note("opened %s with protector %u after: %s",
			dir, kmc_vault_opened_by(*ret), kmc_vault_unlock_notes(*ret));
	if (kmc_vault_repaired(*ret))
		cli_note("repaired%s%s in %s from its twin",
			(kmc_vault_repaired(*ret) & 1) ? " kmc.ks" : "",
			(kmc_vault_repaired(*ret) & 2) ? " StandbyKsf.ks" : "",
			dir);
	return 0;
}


/* Write all of buf to stdout; a closed pipe is an I/O fault. */
static int write_out(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cli_fail(-errno, "writing to standard output");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Create path (mode, never replacing a file that exists), write all of
 * data, fsync; remove it again on any failure. For unwrap --out and ref
 * --out: files the user asked for by name.
 */
static int write_new_file(const char *path, const void *data, size_t len,
	mode_t mode, const char *what)
{
	const unsigned char *p = data;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		mode);
	if (fd < 0) {
		r = -errno;
		if (r == -EEXIST)
			return cli_fail(KMC_E_EXISTS, "%s: %s exists; refusing to "
				"overwrite it", what, path);
		return cli_fail(r, "%s: creating %s", what, path);
	}
	while (r == 0 && len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno != EINTR) {
			r = -errno;
		} else if (w > 0) {
			p += w;
			len -= (size_t)w;
		}
	}
	/* The umask may have cut the mode asked for. */
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		unlink(path);
		return cli_fail(r, "%s: writing %s", what, path);
	}
	return 0;
}

/* A secret on stdout: exact bytes, plus a newline for a person only. */
static int print_secret(const kmc_secret *s)
{
	int r = write_out(kmc_secret_data(s), kmc_secret_len(s));

	if (r == 0 && isatty(STDOUT_FILENO))
		r = write_out("\n", 1);
	return r;
}

/*
 * Passwords and config-file secrets are text to the programs that get
 * them (ssl_passphrase_command's output, C strings): a NUL byte would cut
 * them short there without a word, so refuse one here.
 */
static int refuse_nul(const kmc_secret *s, const char *what,
	const cli_secret_src *src)
{
	const unsigned char *nul = memchr(kmc_secret_data(s), '\0',
		kmc_secret_len(s));

	if (!nul)
		return 0;
	if (src->file)
		return cli_usage_fail("the %s in %s holds a NUL byte (byte %zu); "
			"it must be text", what, src->file,
			(size_t)(nul - kmc_secret_data(s)) + 1);
	return cli_usage_fail("the %s holds a NUL byte (byte %zu); it must be "
		"text", what, (size_t)(nul - kmc_secret_data(s)) + 1);
}

/* ---------------------------------------------------------------- */
/* JSON                                                              */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void iso_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm))
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(buf, size, "%" PRId64, t);
}

/* ---------------------------------------------------------------- */
/* Commands                                                          */

static int protector_type(const char *name, kmc_protector_type *ret)
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
static int protector_inputs(args *a, kmc_protector_type type,
	kmc_options *o, kmc_secret **pass, kmc_secret **pin)
{
	int r;

	o->host_key = a->host_key;
	if (type == KMC_PROTECTOR_PASSPHRASE) {
		r = cli_read_secret(&a->passphrase, "new vault passphrase", 1,
			PASSPHRASE_MAX, pass);
		if (r < 0)
			return r;
		o->passphrase = *pass;
		o->argon2_ops = a->argon2_ops;
		o->argon2_mem = a->argon2_mem;
	}
	if (type == KMC_PROTECTOR_PKCS11 || type == KMC_PROTECTOR_TPM) {
		if (!a->pkcs11_uri)
			return cli_usage_fail("a %s protector needs --pkcs11-uri "
				"'pkcs11:token=...;object=...'",
				type == KMC_PROTECTOR_TPM ? "tpm" : "pkcs11");
		o->pkcs11_uri = a->pkcs11_uri;
		o->pkcs11_create_key = a->create_key;
		o->pkcs11_mechanism = a->mechanism;
		if (a->pin.file || a->pin.fd >= 0) {
			r = cli_read_secret(&a->pin, "token PIN", 0, 256, pin);
			if (r < 0)
				return r;
			o->pin = *pin;
		}
		o->pin_cb = cli_pin_cb;
	} else if (a->pkcs11_uri || a->create_key || a->mechanism) {
		return cli_usage_fail("--pkcs11-uri, --create-key and --mechanism "
			"are for pkcs11 and tpm protectors");
	}
	return 0;
}

/* A recovery key is shown once, to a person: say so plainly. */
static void show_recovery(const kmc_secret *key, unsigned id)
{
	printf("%.*s\n", (int)kmc_secret_len(key),
		(const char *)kmc_secret_data(key));
	fflush(stdout);
	if (id)
		fprintf(stderr, "kmc: above is the recovery key of protector %u. "
			"It is", id);
	else
		fprintf(stderr, "kmc: above is the recovery key of the new "
			"protector (see kmc protector list). It is");
	fprintf(stderr, " shown this once and opens the vault alone "
		"(--recovery): write it down and keep it apart from the vault.\n");
}

static int cmd_init(args *a)
{
	kmc_options o = KMC_OPTIONS_INIT;
	_cleanup_(secret_freep) kmc_secret *pass = NULL;
	_cleanup_(secret_freep) kmc_secret *pin = NULL;
	_cleanup_(secret_freep) kmc_secret *rec = NULL;
	kmc_protector_type type = KMC_PROTECTOR_HOST;
	char buf[PATH_MAX];
	const char *dir = NULL;
	_cleanup_(kmc_status_free) kmc_status st = KMC_STATUS_INIT;
	int r;

	r = vault_dir(a, buf, sizeof(buf), &dir);
	if (r < 0)
		return r;
	if (a->protector) {
		r = protector_type(a->protector, &type);
		if (r < 0)
			return r;
	}
	if (type != KMC_PROTECTOR_PASSPHRASE &&
	    (a->passphrase.file || a->passphrase.fd >= 0))
		return cli_usage_fail("init: a passphrase was given for a %s "
			"protector; add --protector passphrase", a->protector ?
			a->protector : "host");
	r = protector_inputs(a, type, &o, &pass, &pin);
	if (r < 0)
		return r;
	/* No --vault: NULL lets init make the default's missing parents. */
	r = kmc_vault_init_ex(a->vault, type, &o, &rec);
	if (r < 0)
		return cli_fail(r, "creating a vault in %s", dir);
	if (rec)
		show_recovery(rec, 1);
	/* The vault exists now; describing it is a courtesy. */
	if (kmc_vault_status(dir, &st) == 0)
		cli_note("created vault %s (id %s), protected by %s "
			"(%s)", dir, st.vault_id,
			kmc_protector_type_name(st.protectors[0].type),
			st.protectors[0].detail);
	else
		cli_note("created vault %s", dir);
	return 0;
}

static int cmd_protector_add(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pass = NULL;
	_cleanup_(secret_freep) kmc_secret *pin = NULL;
	_cleanup_(secret_freep) kmc_secret *rec = NULL;
	kmc_options o = KMC_OPTIONS_INIT;
	kmc_protector_type type = KMC_PROTECTOR_HOST;
	args opener;
	unsigned id = 0;
	int r;

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
	r = open_vault(&opener, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = protector_inputs(a, type, &o, &pass, &pin);
	if (r < 0)
		return r;
	r = kmc_protector_add(v, type, &o, &id, &rec);
	/* A recovery key that reached the keystore is shown, whatever else
	   went wrong: a slot nobody can use would be worse. */
	if (rec)
		show_recovery(rec, id);
	if (r < 0)
		return cli_fail(r, "adding a %s protector to %s", a->argv[0],
			kmc_vault_dir(v));
	cli_note("added protector %u (%s) to %s", id, a->argv[0],
		kmc_vault_dir(v));
	return 0;
}

static int cmd_protector_remove(args *a)
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

static int cmd_protector_list(args *a)
{
	char buf[PATH_MAX];
	const char *dir = NULL;
	_cleanup_(kmc_status_free) kmc_status s = KMC_STATUS_INIT;
	int r;

	r = vault_dir(a, buf, sizeof(buf), &dir);
	if (r < 0)
		return r;
	r = kmc_vault_status(dir, &s);
	if (r < 0)
		return cli_fail(r, "reading the vault %s", dir);
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
	return fflush(stdout) == 0 ? 0 : cli_fail(-errno, "writing");
}

/*
 * Nothing to repair: both keystores ok, or both unverified (no protector
 * opens without a prompt) at one generation; and no change pending.
 */
static int status_healthy(const kmc_status *s)
{
	if (s->pending_change)
		return 0;
	if (s->master == KMC_KS_UNVERIFIED && s->standby == KMC_KS_UNVERIFIED)
		return s->master_generation == s->standby_generation;
	return s->master == KMC_KS_OK && s->standby == KMC_KS_OK;
}

static const char *ks_note(kmc_keystore_state state)
{
	switch (state) {
	case KMC_KS_UNVERIFIED:
		return "; not verified: needs the key";
	case KMC_KS_FOREIGN:
		return "; belongs to another vault";
	default:
		return "";
	}
}

static int cmd_status(args *a)
{
	char buf[PATH_MAX], when[64];
	const char *dir = NULL;
	_cleanup_(kmc_status_free) kmc_status s = KMC_STATUS_INIT;
	int healthy, r;

	r = vault_dir(a, buf, sizeof(buf), &dir);
	if (r < 0)
		return r;
	r = kmc_vault_status(dir, &s);
	if (r < 0)
		return cli_fail(r, "reading the vault %s", dir);
	healthy = status_healthy(&s);
	if (a->json) {
		printf("{\"vault\":");
		json_str(stdout, dir);
		printf(",\"vault_id\":\"%s\",\"format_version\":%u,"
			"\"generation\":%" PRIu64 ",\"healthy\":%s,"
			"\"keystores\":{\"kmc.ks\":{\"state\":\"%s\","
			"\"generation\":%" PRIu64 "},\"StandbyKsf.ks\":{"
			"\"state\":\"%s\",\"generation\":%" PRIu64 "}},"
			"\"protectors\":[", s.vault_id, s.format_version,
			s.generation, healthy ? "true" : "false",
			kmc_keystore_state_name(s.master), s.master_generation,
			kmc_keystore_state_name(s.standby), s.standby_generation);
		for (size_t i = 0; i < s.n_protectors; i++) {
			printf("%s{\"id\":%u,\"type\":\"%s\",\"detail\":",
				i ? "," : "", s.protectors[i].id,
				kmc_protector_type_name(s.protectors[i].type));
			json_str(stdout, s.protectors[i].detail);
			printf("}");
		}
		printf("],\"master_keys\":[");
		for (size_t i = 0; i < s.n_master_keys; i++)
			printf("%s{\"id\":%" PRIu32 ",\"active\":%s,"
				"\"created\":%" PRId64 "}", i ? "," : "",
				s.master_keys[i].id,
				s.master_keys[i].active ? "true" : "false",
				s.master_keys[i].created);
		printf("],\"items\":%" PRIu64 ",\"store_generation\":%" PRIu64
			",\"pending_change\":%s}\n", s.items, s.store_generation,
			s.pending_change ? "true" : "false");
	} else {
		printf("vault          ");
		cli_put_escaped(stdout, dir);
		putchar('\n');
		printf("vault id       %s\n", s.vault_id);
		printf("format         %u\n", s.format_version);
		printf("generation     %" PRIu64 "\n", s.generation);
		printf("kmc.ks         %s (generation %" PRIu64 "%s)\n",
			kmc_keystore_state_name(s.master), s.master_generation,
			ks_note(s.master));
		printf("StandbyKsf.ks  %s (generation %" PRIu64 "%s)\n",
			kmc_keystore_state_name(s.standby),
			s.standby_generation, ks_note(s.standby));
		for (size_t i = 0; i < s.n_protectors; i++) {
			printf("protector      %u %s: ", s.protectors[i].id,
				kmc_protector_type_name(s.protectors[i].type));
			cli_put_escaped(stdout, s.protectors[i].detail);
			putchar('\n');
		}
		for (size_t i = 0; i < s.n_master_keys; i++) {
			iso_time(s.master_keys[i].created, when, sizeof(when));
			printf("master key     %" PRIu32 "%s, created %s\n",
				s.master_keys[i].id,
				s.master_keys[i].active ? " (active)" : "", when);
		}
		printf("items          %" PRIu64 " (store generation %" PRIu64
			")\n", s.items, s.store_generation);
		if (s.pending_change)
			printf("pending        an import was cut off; kmc repair "
				"finishes or undoes it\n");
	}
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	if (!healthy) {
		cli_note("%s needs repair: run kmc repair (any "
			"command that changes the vault does the same)", dir);
		return CLI_EXIT(EXIT_INTEGRITY);
	}
	return 0;
}

typedef struct list_ctx {
	int json;
	int n;
} list_ctx;

static int list_one(const kmc_item_info *i, void *arg)
{
	list_ctx *c = arg;
	char when[64], name[4 * KMC_NAME_MAX + 1];

	iso_time(i->created, when, sizeof(when));
	if (c->json) {
		printf("%s{\"name\":", c->n ? "," : "");
		json_str(stdout, i->name);
		printf(",\"type\":\"%s\",\"version\":%" PRIu32 ",\"mk_id\":%"
			PRIu32 ",\"size\":%zu,\"created\":%" PRId64
			",\"old_versions\":%" PRIu32 "}",
			kmc_item_type_name(i->type), i->version, i->mk_id,
			i->size, i->created, i->old_versions);
	} else {
		printf("%-32s %-12s v%-4" PRIu32 " %7zu B  %s",
			cli_escape(i->name, name, sizeof(name)),
			kmc_item_type_name(i->type), i->version, i->size, when);
		if (i->old_versions)
			printf("  (+%" PRIu32 " old)", i->old_versions);
		printf("\n");
	}
	c->n++;
	return 0;
}

static int cmd_list(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	list_ctx c = { a->json, 0 };
	int r;

	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	if (c.json)
		printf("[");
	r = kmc_item_list(v, list_one, &c);
	if (c.json)
		printf("]\n");
	if (r < 0)
		return cli_fail(r, "listing %s", kmc_vault_dir(v));
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	return 0;
}

static int cmd_rm(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	size_t n;
	int r;

	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	if (a->old) {
		r = kmc_item_prune(v, a->argv[0], &n);
		if (r < 0)
			return cli_fail(r, "removing old versions of %s",
				a->argv[0]);
		cli_note("removed %zu old version%s of %s", n,
			n == 1 ? "" : "s", a->argv[0]);
		return 0;
	}
	r = kmc_item_remove(v, a->argv[0]);
	if (r < 0)
		return cli_fail(r, "removing %s", a->argv[0]);
	return 0;
}

static int cmd_repair(args *a)
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

static int cmd_password_set(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pw = NULL;
	const char *name = a->argv[0];
	int r;

	/* Ask before opening, so a typo in the prompt costs no unlock. */
	r = cli_read_secret(&a->password, "password", 1, PASSWORD_MAX, &pw);
	if (r < 0)
		return r;
	r = refuse_nul(pw, "password", &a->password);
	if (r < 0)
		return r;
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_item_put(v, name, KMC_ITEM_PASSWORD, kmc_secret_data(pw),
		kmc_secret_len(pw));
	if (r < 0)
		return cli_fail(r, "storing the password %s", name);
	cli_note("stored password %s in %s", name,
		kmc_vault_dir(v));
	return 0;
}

static int cmd_password_get(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pw = NULL;
	int r;

	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_item_get(v, a->argv[0], KMC_ITEM_PASSWORD, &pw);
	if (r < 0)
		return cli_fail(r, "reading the password %s", a->argv[0]);
	return print_secret(pw);
}

/* The secret to encrypt: the operand, else stdin (no echo on a tty). */
static int encrypt_input(args *a, kmc_secret **ret)
{
	cli_secret_src in = { NULL, STDIN_FILENO, "standard input" };
	size_t n;
	int r;

	if (a->argc == 1) {
		n = strlen(a->argv[0]);
		if (n == 0)
			return cli_usage_fail("encrypt: the secret is empty");
		r = kmc_secret_new(n, ret);
		if (r < 0)
			return cli_fail(r, "encrypt");
		memcpy(kmc_secret_data(*ret), a->argv[0], n);
		/* Keep it out of /proc/PID/cmdline from here on. */
		memset(a->argv[0], 0, n);
		return 0;
	}
	if (isatty(STDIN_FILENO))
		in.fd = -1;
	r = cli_read_secret(&in, "secret to encrypt", 0, KMC_STRING_SECRET_MAX,
		ret);
	if (r == 0)
		r = refuse_nul(*ret, "secret to encrypt", &in);
	return r;
}

static int cmd_encrypt(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pt = NULL;
	char *s = NULL;
	int r;

	r = encrypt_input(a, &pt);
	if (r < 0)
		return r;
	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_string_encrypt(v, kmc_secret_data(pt), kmc_secret_len(pt), &s);
	if (r < 0)
		return cli_fail(r, "encrypting");
	printf("%s\n", s);
	free(s);
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	return 0;
}

static int cmd_decrypt(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pt = NULL;
	char line[8448];
	const char *in;
	size_t n;
	int r;

	if (a->argc == 1) {
		in = a->argv[0];
	} else {
		n = fread(line, 1, sizeof(line) - 1, stdin);
		if (ferror(stdin))
			return cli_fail(-EIO, "reading standard input");
		if (n == sizeof(line) - 1)
			return cli_usage_fail("decrypt: the input is longer than "
				"any ciphertext string");
		/* A NUL would end the string early and hide what follows. */
		if (memchr(line, '\0', n))
			return cli_usage_fail("decrypt: standard input holds a NUL "
				"byte (byte %zu); give one ciphertext string",
				(size_t)((char *)memchr(line, '\0', n) - line) + 1);
		line[n] = '\0';
		in = line;
	}
	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_string_decrypt(v, in, &pt);
	if (r < 0)
		return cli_fail(r, "decrypting");
	return print_secret(pt);
}

static int cmd_import(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pw = NULL;
	kmc_import_params p = KMC_IMPORT_PARAMS_INIT;
	kmc_cert_info *info = NULL;
	size_t n = 0;
	char what[PATH_MAX + 32];
	int encrypted, r;

	if (!a->ca || !a->cert || !a->key)
		return cli_usage_fail("import needs -c CA_CERT, -s SERVER_CERT "
			"and -k SERVER_KEY (see kmc import --help)");
	/* The key is checked before anything is asked or opened. */
	r = kmc_key_file_encrypted(a->key, &encrypted);
	if (r < 0)
		return cli_fail(r, "import");
	if (encrypted || a->password.file || a->password.fd >= 0) {
		snprintf(what, sizeof(what), "password of %s", a->key);
		/* Bytes: room for 100 characters of UTF-8; the library
		   counts characters. */
		r = cli_read_secret(&a->password, what, 0, 400, &pw);
		if (r < 0)
			return r;
		r = refuse_nul(pw, what, &a->password);
		if (r < 0)
			return r;
	}
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	p.name = a->name;
	p.ca_file = a->ca;
	p.cert_file = a->cert;
	p.key_file = a->key;
	p.crl_file = a->crl;
	p.keys_dir = a->keys_dir;
	p.conf_file = a->conf;
	p.password = pw;
	p.flags = a->replace ? KMC_IMPORT_REPLACE : 0;
	r = kmc_import(v, &p);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "import");
	if (r < 0)
		return cli_fail(r, "import refused, nothing was changed");
	cli_note("imported %s into %s%s", a->name ? a->name :
		"server", kmc_vault_dir(v), encrypted ? "" :
		" (the key came unencrypted: its copy is encrypted under a new "
		"password kept in the vault; delete the plain original)");
	if (kmc_cert_info_get(v, a->name ? a->name : "server", &info, &n) == 0
	    && n > 0)
		cli_note("certificate %s, issued by %s, serial %s",
			info[0].subject, info[0].issuer, info[0].serial);
	kmc_cert_info_free(info, n);
	return 0;
}

static int cmd_crl_update(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	int r;

	if (!a->crl)
		return cli_usage_fail("crl update needs -r NEW_CRL");
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_crl_update(v, a->argv[0], a->crl);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "crl update");
	if (r < 0)
		return cli_fail(r, "crl update refused, nothing was changed");
	cli_note("the CRL of %s is now %s", a->argv[0], a->crl);
	return 0;
}

static int cmd_unwrap(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *key = NULL;
	kmc_key_format fmt = KMC_FORMAT_PEM;
	int r;

	if (a->format && !strcmp(a->format, "der"))
		fmt = KMC_FORMAT_DER;
	else if (a->format && strcmp(a->format, "pem"))
		return cli_usage_fail("unwrap: --format pem or der, not %s",
			a->format);
	if (!a->out && isatty(STDOUT_FILENO))
		return cli_usage_fail("unwrap: refusing to print a private key on "
			"a terminal; give --out FILE or send it to a pipe");
	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_key_export(v, a->argv[0], fmt, &key);
	if (r < 0)
		return cli_fail(r, "unwrapping %s", a->argv[0]);
	if (!a->out)
		return write_out(kmc_secret_data(key), kmc_secret_len(key)) < 0 ?
			CLI_EXIT(EXIT_IO) : 0;
	return write_new_file(a->out, kmc_secret_data(key), kmc_secret_len(key),
		0600, "unwrap");
}

static void print_sans_json(const char *sans)
{
	const char *p = sans;
	int first = 1;

	printf("[");
	while (*p) {
		const char *end = strstr(p, ", ");
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char item[512];

		snprintf(item, sizeof(item), "%.*s", (int)n, p);
		printf("%s", first ? "" : ",");
		json_str(stdout, item);
		first = 0;
		p += n + (end ? 2 : 0);
	}
	printf("]");
}

static int cmd_cert_info(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	kmc_cert_info *info = NULL;
	const char *what = a->argv[0];
	char nb[64], na[64];
	struct stat st;
	size_t n = 0;
	int r;

	/* A file of that name wins; otherwise it names a vault item. */
	if (lstat(what, &st) < 0) {
		r = open_vault(a, 0, &v);
		if (r < 0)
			return r;
	}
	r = kmc_cert_info_get(v, what, &info, &n);
	if (r < 0)
		return cli_fail(r, "cert info");
	if (a->json)
		printf("[");
	for (size_t i = 0; i < n; i++) {
		kmc_cert_info *c = &info[i];

		iso_time(c->not_before, nb, sizeof(nb));
		iso_time(c->not_after, na, sizeof(na));
		if (a->json) {
			printf("%s{\"subject\":", i ? "," : "");
			json_str(stdout, c->subject);
			printf(",\"issuer\":");
			json_str(stdout, c->issuer);
			printf(",\"sans\":");
			print_sans_json(c->sans);
			printf(",\"serial\":\"%s\",\"sha256\":\"%s\","
				"\"not_before\":\"%s\",\"not_after\":\"%s\","
				"\"expires\":%" PRId64 ",\"pem\":", c->serial,
				c->sha256, nb, na, c->not_after * 1000);
			json_str(stdout, c->pem);
			printf("}");
		} else {
			printf("certificate %zu of %zu\n", i + 1, n);
			/* Names come from the certificate, made by anyone. */
			printf("  subject     ");
			cli_put_escaped(stdout, c->subject);
			printf("\n  issuer      ");
			cli_put_escaped(stdout, c->issuer);
			printf("\n  SANs        ");
			cli_put_escaped(stdout, c->sans[0] ? c->sans : "(none)");
			printf("\n  serial      ");
			cli_put_escaped(stdout, c->serial);
			putchar('\n');
			printf("  sha256      %s\n", c->sha256);
			printf("  not before  %s\n", nb);
			printf("  expires     %s (%" PRId64 " ms since the epoch)\n",
				na, c->not_after * 1000);
			printf("%s", c->pem);
		}
	}
	if (a->json)
		printf("]\n");
	kmc_cert_info_free(info, n);
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	return 0;
}

static int cmd_ref(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *check = NULL;
	char *text = NULL;
	int r;

	if (!!a->uri == !!a->out)
		return cli_usage_fail("ref: give --uri or --out FILE");
	/* Refer only to a key that is there and opens. */
	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_key_export(v, a->argv[0], KMC_FORMAT_DER, &check);
	if (r < 0)
		return cli_fail(r, "ref: %s", a->argv[0]);
	r = a->uri ? kmc_uri_format(kmc_vault_dir(v), a->argv[0], &text) :
		kmc_ref_format(kmc_vault_dir(v), a->argv[0], &text);
	if (r < 0)
		return cli_fail(r, "ref: %s", a->argv[0]);
	if (a->uri) {
		printf("%s\n", text);
		free(text);
		return fflush(stdout) == 0 ? 0 : cli_fail(-errno, "writing");
	}
	/* It holds no secret, so 0644 is fine; never overwrite. */
	r = write_new_file(a->out, text, strlen(text), 0644, "ref");
	free(text);
	return r;
}

static int cmd_backup(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	kmc_backup_info info = KMC_BACKUP_INFO_INIT;
	int r;

	if (!a->out || a->format)
		return cli_usage_fail("usage: kmc backup --out DIR");
	/* The writer lock, held for the copy: keystore and store match. */
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_vault_backup(v, a->out, &info);
	if (r < 0)
		return cli_fail(r, "backing up %s to %s", kmc_vault_dir(v), a->out);
	fprintf(stderr, "kmc: backed up vault %s (generation %" PRIu64 ", %"
		PRIu64 " items) to %s; it opens only with one of the vault's "
		"protectors (host key, passphrase, token, recovery key)\n",
		info.vault_id, info.generation, info.items, a->out);
	return 0;
}

static int cmd_restore(args *a)
{
	kmc_options o = KMC_OPTIONS_INIT;
	_cleanup_(secret_freep) kmc_secret *pass = NULL;
	_cleanup_(secret_freep) kmc_secret *pin = NULL;
	_cleanup_(secret_freep) kmc_secret *rec = NULL;
	char buf[PATH_MAX];
	const char *dir = NULL;
	kmc_backup_info info = KMC_BACKUP_INFO_INIT;
	int r;

	r = vault_dir(a, buf, sizeof(buf), &dir);
	if (r < 0)
		return r;
	r = read_unlock_secrets(a, &o, &pass, &pin, &rec);
	if (r < 0)
		return r;
	o.host_key = a->host_key;
	o.passphrase_cb = cli_passphrase_cb;
	o.passphrase_arg = (void *)dir;
	r = kmc_vault_restore(dir, a->argv[0], &o, &info);
	if (r < 0)
		return cli_fail(r, "restoring %s into %s", a->argv[0], dir);
	if (!info.verified)
		fprintf(stderr, "kmc: no protector opened the backup (%s): its "
			"hashes were checked, its MACs were not\n", info.note);
	if (info.replaced_generation)
		fprintf(stderr, "kmc: restored generation %" PRIu64 " over "
			"generation %" PRIu64 " in %s (vault %s, %" PRIu64
			" items)\n", info.generation, info.replaced_generation,
			dir, info.vault_id, info.items);
	else
		fprintf(stderr, "kmc: restored generation %" PRIu64 " in %s, "
			"which held no readable keystore (vault %s, %" PRIu64
			" items)\n", info.generation, dir, info.vault_id,
			info.items);
	return 0;
}

static int cmd_version(args *a)
{
	(void)a;
	printf("kmc %s\n", kmc_version());
	return 0;
}

static const command commands[] = {
	{ "init", NULL, cmd_init,
	  OPT_PROTECTOR | OPT_HOST_KEY | OPT_PASSPHRASE | OPT_ARGON2 | OPT_TOKEN,
	  0, 0,
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
	  "see kmc protector add --help; recovery prints its key once." },
	{ "protector", "add", cmd_protector_add,
	  OPT_HOST_KEY | OPT_PASSPHRASE | OPT_ARGON2 | OPT_TOKEN, 1, 1,
	  "protector add host|passphrase|pkcs11|tpm|recovery [OPTIONS]",
	  "Add a way to open the vault; any one protector opens it. The vault\n"
	  "is opened with the protectors it has (host key, token, prompt).\n"
	  "  host        --host-key FILE (made 0400 if absent)\n"
	  "  passphrase  --passphrase-file F | --passphrase-fd N | prompt,\n"
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
	  "Modules load only from /usr/lib, /usr/local/lib, /lib or /opt." },
	{ "protector", "list", cmd_protector_list, OPT_JSON, 0, 0,
	  "protector list [--json]",
	  "List the protectors: id, type, and what it uses (host key path,\n"
	  "Argon2id cost, token URI and mechanism). Nothing is unlocked." },
	{ "protector", "remove", cmd_protector_remove,
	  OPT_HOST_KEY | OPT_PASSPHRASE, 1, 1, "protector remove ID",
	  "Remove protector ID; the last one is never removed. Note: a copy of\n"
	  "the keystore made before still opens with the removed protector." },
	{ "status", NULL, cmd_status, OPT_JSON, 0, 0, "status [--json]",
	  "Report the vault id, the health and generation of each keystore,\n"
	  "the protectors, the master keys and the item count, without\n"
	  "unlocking anything. Exits 4 when a keystore needs repair." },
	{ "list", NULL, cmd_list, OPT_JSON | OPT_HOST_KEY | OPT_PASSPHRASE, 0, 0,
	  "list [--json]",
	  "List items: name, type, version, size and when it was stored.\n"
	  "Nothing is decrypted." },
	{ "rm", NULL, cmd_rm, OPT_HOST_KEY | OPT_PASSPHRASE | OPT_OLD, 1, 1,
	  "rm NAME [--old]",
	  "Remove the item NAME and its old versions; for an imported NAME,\n"
	  "its NAME/... items too. With --old, remove only the old versions\n"
	  "that an import with --replace kept." },
	{ "password", "set", cmd_password_set,
	  OPT_HOST_KEY | OPT_PASSPHRASE | OPT_PASSWORD, 1, 1,
	  "password set NAME [--password-file FILE | --password-fd N]",
	  "Store a password (at most 4096 bytes) that unlocks a server key.\n"
	  "It is asked twice on the terminal, or read from a file (mode 0600\n"
	  "or stricter) or a descriptor; one trailing newline is dropped.\n"
	  "A password is text: one holding a NUL byte is refused.\n"
	  "Storing under an existing name replaces it and raises its version." },
	{ "password", "get", cmd_password_get, OPT_HOST_KEY | OPT_PASSPHRASE,
	  1, 1, "password get NAME",
	  "Print the password NAME alone on standard output, as PostgreSQL's\n"
	  "ssl_passphrase_command expects (a newline follows on a terminal\n"
	  "only)." },
	{ "encrypt", NULL, cmd_encrypt, OPT_HOST_KEY | OPT_PASSPHRASE, 0, 1,
	  "encrypt [SECRET]",
	  "Print a ciphertext string kmc:v1:<mk-id>:<base64url> for a config\n"
	  "file. The secret is read from standard input (no echo on a\n"
	  "terminal); an operand works too, but others may see it in ps.\n"
	  "A secret holding a NUL byte is refused." },
	{ "decrypt", NULL, cmd_decrypt, OPT_HOST_KEY | OPT_PASSPHRASE, 0, 1,
	  "decrypt [STRING]",
	  "Print the secret inside a ciphertext string (the operand, else\n"
	  "standard input: one string, white space around it ignored, a NUL\n"
	  "byte refused). It opens only in the vault that made it." },
	{ "import", NULL, cmd_import,
	  OPT_IMPORT | OPT_CRL | OPT_PASSWORD | OPT_HOST_KEY | OPT_PASSPHRASE,
	  0, 0,
	  "import -c CA.crt -s SERVER.crt -k SERVER.key [-r CA.crl] [--name NAME]\n"
	  "        [--keys-dir DIR] [--conf FILE] [--replace]\n"
	  "        [--password-file FILE | --password-fd N]",
	  "Verify, then import a CA certificate, a server certificate (with any\n"
	  "intermediates after it), its private key and optionally a CRL, as\n"
	  "certImport does. Every file must be a regular file reached without\n"
	  "symbolic links and owned by you or root; the key at most mode 0640;\n"
	  "an existing keys folder yours and mode 0700. The chain must lead to\n"
	  "the CA, every certificate be within its dates, the key open with its\n"
	  "password (at most 100 characters) and match the certificate; a CRL\n"
	  "must be the CA's, current, and not revoke the chain. Keys: encrypted\n"
	  "or plain PKCS#8 (PEM, DER), legacy encrypted PEM, PKCS#1, SEC1; RSA\n"
	  "2048-4096, EC P-256/P-384, Ed25519.\n\n"
	  "Stores under NAME (default server): the password as NAME (so\n"
	  "`kmc password get NAME` serves ssl_passphrase_command), the key as\n"
	  "NAME/key, certificates as NAME/cert and NAME/ca, the CRL as NAME/crl.\n"
	  "Writes ca.crt, server.crt, server.key (still encrypted) and ca.crl,\n"
	  "mode 0400, to the keys folder (default <vault>/keys/NAME), and with\n"
	  "--conf sets ca_crt, server_crt, server_key, crl and server_key_mm\n"
	  "(the password as a ciphertext string) in a key = value file, keeping\n"
	  "every other line. All of it happens, or none of it.\n"
	  "--replace supersedes an existing NAME; old versions stay until\n"
	  "`kmc rm --old`. tools/certImport.sh takes certImport's -c -s -k -r -h." },
	{ "crl", "update", cmd_crl_update,
	  OPT_CRL | OPT_HOST_KEY | OPT_PASSPHRASE, 1, 1, "crl update NAME -r NEW.crl",
	  "Replace the CRL of the imported NAME, after checking it is signed by\n"
	  "NAME's CA, current, and does not revoke NAME's own certificate. The\n"
	  "copy in the keys folder and the config file's crl entry follow.\n"
	  "A server using kmc_ssl_ctx_use() sees the vault generation grow." },
	{ "unwrap", NULL, cmd_unwrap, OPT_OUT | OPT_HOST_KEY | OPT_PASSPHRASE,
	  1, 1, "unwrap NAME [--format pem|der] [--out FILE]",
	  "Write the private key of the imported NAME as unencrypted PKCS#8:\n"
	  "to --out FILE, created 0600 (an existing file is never overwritten),\n"
	  "or to standard output when it is not a terminal." },
	{ "cert", "info", cmd_cert_info, OPT_JSON | OPT_HOST_KEY | OPT_PASSPHRASE,
	  1, 1, "cert info NAME|FILE [--json]",
	  "Describe each certificate of the imported NAME (or a certificate\n"
	  "item, or a PEM/DER file): subject, issuer, SANs, serial, SHA-256\n"
	  "fingerprint, not-before, expiry (also in milliseconds since the\n"
	  "epoch, as `expires` in JSON) and the PEM. A file of that name wins\n"
	  "over an item." },
	{ "ref", NULL, cmd_ref, OPT_OUT | OPT_URI | OPT_HOST_KEY | OPT_PASSPHRASE,
	  1, 1, "ref NAME --out FILE | --uri",
	  "Point an unmodified server at the key of the imported NAME through\n"
	  "the kmc OpenSSL provider (kmc.so). --uri prints its URI,\n"
	  "kmc://<vault>?item=NAME, for programs that open keys through\n"
	  "OSSL_STORE (openssl -key, OSSL_STORE_open callers). --out FILE\n"
	  "writes a key-reference file (PEM label KMC KEY REFERENCE, mode\n"
	  "0644: it holds no secret) for programs that take a key file (nginx,\n"
	  "Apache, HAProxy, PostgreSQL, Mosquitto, curl); load the provider\n"
	  "with OPENSSL_CONF, or HAProxy's ssl-provider lines. The exact\n"
	  "configuration lines per server are in docs/integrations/ (nginx,\n"
	  "apache, haproxy, postgresql, mosquitto, curl, openssl)." },
	{ "repair", NULL, cmd_repair, OPT_HOST_KEY | OPT_PASSPHRASE, 0, 0,
	  "repair",
	  "Open the vault for writing: rewrite a missing, stale or damaged\n"
	  "keystore from its twin, and finish (or undo) an import that was cut\n"
	  "off. Exits 4 if something is still wrong." },
	{ "backup", NULL, cmd_backup, OPT_OUT | OPT_HOST_KEY | OPT_PASSPHRASE,
	  0, 0, "backup --out DIR",
	  "Copy the vault to the new folder DIR (0700; an existing DIR must be\n"
	  "empty, and is never overwritten): kmc.ks, StandbyKsf.ks, a compacted\n"
	  "items.mdb and backup.manifest (vault id, keystore generation, item\n"
	  "count, a hash of each file), each 0600. The vault is opened for\n"
	  "writing, so the copy is one consistent set: servers go on reading,\n"
	  "and other writers wait until it is done. DIR appears whole or not at\n"
	  "all. The host key, passphrase, token and recovery key are not in it;\n"
	  "one of them is needed to open what it restores. Keys folders and\n"
	  "config files an import wrote are not in it either." },
	{ "restore", NULL, cmd_restore, OPT_HOST_KEY | OPT_PASSPHRASE, 1, 1,
	  "restore BACKUP",
	  "Put the backup in folder BACKUP back as the vault, in one step. The\n"
	  "backup is checked first (manifest, every file's hash, keystores,\n"
	  "store, vault id) and opened with the vault's protectors to check\n"
	  "its MACs and every item; a backup of another vault is refused.\n"
	  "The vault may be damaged or missing (it is created); a folder with\n"
	  "a healthy vault of another id, or other files, is refused. A failure\n"
	  "changes nothing; after a crash, kmc repair finishes the restore.\n"
	  "Servers that keep the vault open read the old items until they\n"
	  "open it again." },
	{ "version", NULL, cmd_version, 0, 0, 0, "version",
	  "Print the version." },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kmc [--vault DIR] COMMAND [OPTIONS] [ARGS]\n\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fprintf(f,
		"\nThe vault is --vault DIR, else $KMC_VAULT, else\n"
		"/var/lib/kmcvault for root and ~/.local/share/kmcvault otherwise.\n"
		"Options taken by every command that opens a vault:\n"
		"  --host-key FILE        the host key (else the one recorded)\n"
		"  --passphrase-file F    the vault passphrase from a file\n"
		"  --passphrase-fd N      ... or from a descriptor\n"
		"  --pin-file F, --pin-fd N   the PIN of a PKCS#11 or TPM token\n"
		"  --recovery, --recovery-file F, --recovery-fd N   open with the\n"
		"                         recovery key (prompted, or from F or N)\n"
		"Secrets are never needed on the command line; without a\n"
		"terminal, give them through a file or a descriptor.\n\n"
		"Exit codes: 0 ok, 1 other failure, 2 usage, 3 authentication\n"
		"(passphrase, host key), 4 integrity (altered or damaged data,\n"
		"a vault that needs repair), 5 permission (owner, mode, link),\n"
		"6 I/O, 7 not found, 8 already exists, 9 verification (dates,\n"
		"chain, key match, CRL, key type).\n"
		"`kmc COMMAND --help` explains each command.\n");
}

static void harden_process(void)
{
	struct rlimit no_core = { 0, 0 };

	/* As ssh-agent: no core file and no ptrace by the same user. */
	(void)setrlimit(RLIMIT_CORE, &no_core);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	umask(077);
}

int main(int argc, char **argv)
{
	const char *vault = NULL;
	const command *c = NULL;
	args a = { 0 };
	int i = 1, r;

	harden_process();
	/* Options before the command word: only --vault and help. */
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--vault") == 0 && i + 1 < argc) {
			vault = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--vault=", 8) == 0) {
			vault = argv[i] + 8;
			i++;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--version")) {
			return cmd_version(&a);
		} else {
			cli_note("unknown option %s", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(commands[k].name, argv[i]) != 0)
			continue;
		if (commands[k].sub) {
			if (i + 1 < argc && !strcmp(commands[k].sub, argv[i + 1])) {
				c = &commands[k];
				break;
			}
			continue;
		}
		c = &commands[k];
		break;
	}
	if (!c) {
		if (!strcmp(argv[i], "password") || !strcmp(argv[i], "crl") ||
		    !strcmp(argv[i], "cert") || !strcmp(argv[i], "protector")) {
			int help = i + 1 < argc && !strcmp(argv[i + 1], "--help");

			for (size_t k = 0; k < ELEMENTS(commands); k++)
				if (!strcmp(commands[k].name, argv[i]))
					fprintf(help ? stdout : stderr,
						"usage: kmc %s\n", commands[k].usage);
			return help ? EXIT_OK : EXIT_USAGE;
		}
		cli_note("unknown command %s", argv[i]);
		usage(stderr);
		return EXIT_USAGE;
	}
	i += c->sub ? 2 : 1;
	/* getopt wants argv[0] in front of the command's own arguments. */
	argv[i - 1] = argv[0];
	r = parse_args(c, argc - i + 1, argv + i - 1, &a);
	if (r < 0)
		return CLI_EXIT_CODE(r);
	if (a.help) {
		printf("usage: kmc %s\n\n%s\n", c->usage, c->help);
		return EXIT_OK;
	}
	if (!a.vault)
		a.vault = vault;
	r = c->run(&a);
	if (CLI_IS_EXIT(r))
		return CLI_EXIT_CODE(r);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}
