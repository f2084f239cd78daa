/*
 * options.c - the command line: the options every vault-opening command
 * shares (--vault, --help, --json, --host-key, the passphrase, PIN and
 * recovery key), parsed here with the command's own table appended;
 * its own options go to the parse function beside its handler. Then
 * the operands are counted.
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
/* The shared options                                                */

enum {
	LO_VAULT = 256, LO_JSON, LO_HOST_KEY, LO_PP_FILE, LO_PP_FD, LO_HELP,
	LO_PIN_FILE, LO_PIN_FD, LO_REC_FILE, LO_REC_FD, LO_RECOVERY,
};

static const struct option shared_options[] = {
	{ "vault", required_argument, NULL, LO_VAULT },
	{ "json", no_argument, NULL, LO_JSON },
	{ "host-key", required_argument, NULL, LO_HOST_KEY },
	{ "passphrase-file", required_argument, NULL, LO_PP_FILE },
	{ "passphrase-fd", required_argument, NULL, LO_PP_FD },
	{ "help", no_argument, NULL, LO_HELP },
	{ "pin-file", required_argument, NULL, LO_PIN_FILE },
	{ "pin-fd", required_argument, NULL, LO_PIN_FD },
	{ "recovery-file", required_argument, NULL, LO_REC_FILE },
	{ "recovery-fd", required_argument, NULL, LO_REC_FD },
	{ "recovery", no_argument, NULL, LO_RECOVERY },
	{ NULL, 0, NULL, 0 },
};

const struct option *cli_shared_options(void)
{
	return shared_options;
}

/* Whether c takes the shared option o: --vault and --help always. */
int cli_takes_shared(const command *c, const struct option *o)
{
	switch (o->val) {
	case LO_VAULT:
	case LO_HELP:
		return 1;
	case LO_JSON:
		return !!(c->shared & CLI_JSON);
	default:
		return !!(c->shared & CLI_UNLOCK);
	}
}

int parse_uint(const char *s, unsigned long long max,
	unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	/* Digits only: strtoull alone takes blanks and a sign too. */
	if (!s || !*s || strspn(s, "0123456789") != strlen(s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*ret = v;
	return 0;
}

int cli_parse_fd(const char *option, const char *arg, int *ret)
{
	unsigned long long v;

	if (parse_uint(arg, INT_MAX, &v) < 0)
		return cli_usage_fail("%s: not a descriptor number: %s", option,
			arg);
	*ret = (int)v;
	return 0;
}

int cli_one_source(const cli_secret_src *src, const char *file_option,
	const char *fd_option)
{
	if (src->file && src->fd >= 0)
		return cli_usage_fail("give %s or %s, not both", file_option,
			fd_option);
	return 0;
}

/* The option val of table (or shared_options) as the user wrote it. */
static const char *opt_name(const struct option *table, int opt, char *buf,
	size_t size)
{
	for (const struct option *o = shared_options; o->name; o++)
		if (o->val == opt) {
			snprintf(buf, size, "--%s", o->name);
			return buf;
		}
	for (const struct option *o = table; o && o->name; o++)
		if (o->val == opt) {
			snprintf(buf, size, "--%s", o->name);
			return buf;
		}
	snprintf(buf, size, "-%c", opt);
	return buf;
}

/*
 * The option of some command (or the shared table) that word names: by
 * its short letter, its full name, or a prefix of exactly one name, as
 * getopt_long reads them. NULL if none, or if several.
 */
static const struct option *any_option(const char *word)
{
	size_t n, len;
	const command *const *t = cli_command_table(&n);
	const struct option *found = NULL;

	if (word[1] != '-') {
		for (size_t k = 0; k < n; k++)
			for (const struct option *o = t[k]->options; o && o->name;
					o++)
				if (o->val == (unsigned char)word[1])
					return o;
		return NULL;
	}
	word += 2;
	len = strcspn(word, "=");
	for (size_t k = 0; k <= n; k++) {
		const struct option *o = shared_options;

		if (k < n)
			o = t[k]->options;

		for (; o && o->name; o++) {
			if (strncmp(o->name, word, len))
				continue;
			if (!o->name[len])
				return o;
			if (found && strcmp(found->name, o->name))
				return NULL;
			found = o;
		}
	}
	return found;
}

/*
 * Whether word, an option getopt_long refused for c, is one c does not
 * take but some command does, with its value if it needs one (next is
 * the word after it, or NULL): then "does not take", else "unknown
 * option". Its name goes to buf.
 */
static int other_option(const command *c, const char *word,
	const char *next, char *buf, size_t size)
{
	const struct option *o;

	if (word[0] != '-' || !word[1] || word[1] == '?' || word[1] == ':')
		return 0;
	/* A short option of c's own is refused for its value. */
	if (word[1] != '-' && c->short_options &&
	    strchr(c->short_options, word[1]))
		return 0;
	o = any_option(word);
	if (!o)
		return 0;
	for (const struct option *p = c->options; p && p->name; p++)
		if (p == o)
			return 0;
	if (o->val >= LO_VAULT && o->val < CLI_OWN_OPT && cli_takes_shared(c, o))
		return 0;
	/* One whose value is missing was "unknown" too. */
	if (o->has_arg == required_argument && !next &&
	    !(word[1] == '-' ? strchr(word, '=') != NULL : word[2] != '\0'))
		return 0;
	snprintf(buf, size, "--%s", o->name);
	return 1;
}

/*
 * The unknown option getopt reported, as a message names it: a short one
 * as -X (in a cluster such as -pSECRET, argv[optind - 1] is some other
 * word), a long one without what follows its '=', which may be a secret
 * typed where no option takes it (--password=...): messages end up in
 * logs.
 */
void unknown_word(int short_opt, const char *arg, char *buf, size_t size)
{
	size_t n;

	if (short_opt) {
		snprintf(buf, size, "-%c", short_opt);
		return;
	}
	n = strcspn(arg, "=");
	snprintf(buf, size, "%.*s%s", (int)(n < size - 5 ? n : size - 5), arg,
		arg[n] == '=' ? "=..." : "");
}

/*
 * Whether getopt's '?' with optopt was for the long option word given a
 * value it does not take (--json=1: optopt is then that option's val),
 * rather than for an unknown short option (optopt its letter).
 */
static const struct option *long_refused(const struct option *table,
	const char *word, int opt)
{
	size_t n;

	if (!opt || strncmp(word, "--", 2))
		return NULL;
	word += 2;
	n = strcspn(word, "=");
	if (!word[n])
		return NULL;
	for (const struct option *o = table; o->name; o++)
		if (o->val == opt && !strncmp(o->name, word, n))
			return o;
	return NULL;
}

/*
 * Parse c's options: the shared ones here, its own through c->parse,
 * into c->own. One getopt_long table is made of the shared options c
 * takes and c's own. Then the operands are counted, unless --help.
 */
int cli_parse(const command *c, int argc, char **argv, cli_opts *a)
{
	struct option table[64];
	/* The leading ':' makes getopt tell a missing value (':') from an
	   unknown option ('?'), so the message can say which it is. */
	char shortopts[32] = ":h";
	char optbuf[64], word[64];
	unsigned char seen[CLI_OPT_MAX] = { 0 };
	size_t n = 0;
	int opt, r;

	for (const struct option *o = shared_options; o->name; o++)
		if (cli_takes_shared(c, o))
			table[n++] = *o;
	for (const struct option *o = c->options; o && o->name; o++) {
		if (n >= ELEMENTS(table) - 1)
			abort();
		table[n++] = *o;
	}
	table[n] = (struct option){ NULL, 0, NULL, 0 };
	if (c->short_options) {
		if (strlen(c->short_options) >= sizeof(shortopts) - 2)
			abort();
		strcat(shortopts, c->short_options);
	}
	a->passphrase = (cli_secret_src){ NULL, -1,
		"--passphrase-file FILE or --passphrase-fd N" };
	a->pin = (cli_secret_src){ NULL, -1,
		"--pin-file FILE or --pin-fd N (or pin-source in the URI)" };
	a->recovery = (cli_secret_src){ NULL, -1,
		"--recovery-file FILE or --recovery-fd N" };
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, shortopts, table, NULL)) != -1) {
		/* An option given twice is a mistake (or a trick) that "the
		   last one wins" would hide: which vault, which password? */
		if (opt > 0 && opt < CLI_REPEAT_OPT && opt != 'h' &&
		    opt != LO_HELP && opt != ':' && opt != '?' && seen[opt]++)
			return cli_usage_fail("%s given twice",
				opt_name(c->options, opt, optbuf, sizeof(optbuf)));
		switch (opt) {
		case LO_VAULT: a->vault = optarg; break;
		case LO_JSON: a->json = 1; break;
		case LO_HOST_KEY: a->host_key = optarg; break;
		case LO_PP_FILE: a->passphrase.file = optarg; break;
		case LO_PP_FD:
			r = cli_parse_fd("--passphrase-fd", optarg,
				&a->passphrase.fd);
			if (r < 0)
				return r;
			break;
		case LO_PIN_FILE: a->pin.file = optarg; break;
		case LO_PIN_FD:
			r = cli_parse_fd("--pin-fd", optarg, &a->pin.fd);
			if (r < 0)
				return r;
			break;
		case LO_REC_FILE:
			a->recovery.file = optarg;
			a->use_recovery = 1;
			break;
		case LO_REC_FD:
			r = cli_parse_fd("--recovery-fd", optarg, &a->recovery.fd);
			if (r < 0)
				return r;
			a->use_recovery = 1;
			break;
		case LO_RECOVERY: a->use_recovery = 1; break;
		case 'h':
		case LO_HELP: a->help = 1; break;
		case ':':
			/* By its full name when long (the word may be a prefix). */
			if (!strncmp(argv[optind - 1], "--", 2))
				opt_name(c->options, optopt, optbuf, sizeof(optbuf));
			else
				snprintf(optbuf, sizeof(optbuf), "-%c", optopt);
			return cli_usage_fail("%s%s%s: %s needs a value", c->name,
				c->sub ? " " : "", c->sub ? c->sub : "", optbuf);
		case '?':
			if (long_refused(table, argv[optind - 1], optopt))
				return cli_usage_fail("%s%s%s: --%s takes no value",
					c->name, c->sub ? " " : "",
					c->sub ? c->sub : "", long_refused(table,
					argv[optind - 1], optopt)->name);
			unknown_word(optopt, argv[optind - 1], word,
				sizeof(word));
			if (other_option(c, word, optind < argc ?
					argv[optind] : NULL, optbuf, sizeof(optbuf)))
				return cli_usage_fail("%s%s%s does not take %s",
					c->name, c->sub ? " " : "",
					c->sub ? c->sub : "", optbuf);
			return cli_usage_fail("%s%s%s: unknown option %s (see kmc "
				"%s%s%s --help)", c->name, c->sub ? " " : "",
				c->sub ? c->sub : "", word, c->name,
				c->sub ? " " : "", c->sub ? c->sub : "");
		default:
			if (!c->parse)
				abort();
			r = c->parse(c->own, opt, optarg);
			if (r < 0)
				return r;
		}
	}
	/* Each secret from one place: with two, one would be dropped
	   silently, and the vault opened (or a protector made) with it. */
	r = cli_one_source(&a->passphrase, "--passphrase-file",
		"--passphrase-fd");
	if (r == 0)
		r = cli_one_source(&a->pin, "--pin-file", "--pin-fd");
	if (r == 0)
		r = cli_one_source(&a->recovery, "--recovery-file",
			"--recovery-fd");
	if (r < 0)
		return r;
	if (c->check) {
		r = c->check(c->own);
		if (r < 0)
			return r;
	}
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
