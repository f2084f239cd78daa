/*
 * kmc.c - the kmc command: the dispatch table and main. main finds the
 * command; cli_parse() (cli/options.c) parses its options, the shared
 * ones itself and the rest through the command's own table.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <signal.h>
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


static const command *const commands[] = {
	&cli_cmd_init,
	&cli_cmd_protector_add,
	&cli_cmd_protector_list,
	&cli_cmd_protector_remove,
	&cli_cmd_status,
	&cli_cmd_audit_verify,
	&cli_cmd_audit,
	&cli_cmd_list,
	&cli_cmd_rm,
	&cli_cmd_password_set,
	&cli_cmd_password_get,
	&cli_cmd_encrypt,
	&cli_cmd_decrypt,
	&cli_cmd_import,
	&cli_cmd_crl_update,
	&cli_cmd_promote,
	&cli_cmd_mk_rotate,
	&cli_cmd_mk_list,
	&cli_cmd_mk_rewrap,
	&cli_cmd_mk_retire,
	&cli_cmd_unwrap,
	&cli_cmd_export,
	&cli_cmd_cert_check,
	&cli_cmd_cert_info,
	&cli_cmd_cert_set_trust,
	&cli_cmd_cert_renew,
	&cli_cmd_key_gen,
	&cli_cmd_csr,
	&cli_cmd_cert_set,
	&cli_cmd_cert_issue,
	&cli_cmd_trust_add,
	&cli_cmd_trust_rm,
	&cli_cmd_trust_crl,
	&cli_cmd_trust_list,
	&cli_cmd_trust_export,
	&cli_cmd_trust_sync,
	&cli_cmd_ca_init,
	&cli_cmd_ca_revoke,
	&cli_cmd_ca_crl,
	&cli_cmd_ca_list,
	&cli_cmd_ref,
	&cli_cmd_repair,
	&cli_cmd_verify,
	&cli_cmd_backup,
	&cli_cmd_restore,
	&cli_cmd_completion,
	&cli_cmd_version,
};

const command *const *cli_command_table(size_t *ret_n)
{
	*ret_n = ELEMENTS(commands);
	return commands;
}

/* Whether word is the first of the table's two-word commands. */
static int is_group(const char *word)
{
	for (size_t k = 0; k < ELEMENTS(commands); k++)
		if (commands[k]->sub && !strcmp(commands[k]->name, word))
			return 1;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kmc [--vault DIR] COMMAND [OPTIONS] [ARGS]\n\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i]->usage);
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
		"chain, key match, CRL, key type), 10 in use (a master key\n"
		"still sealing items), 11 due (kmc cert check: a certificate\n"
		"or CRL expired or expiring within the horizon), 12 rollback\n"
		"(the vault is older than it last was), 13 audit (the audit\n"
		"log cannot be written or fails its chain).\n"
		"`kmc COMMAND --help` explains each command.\n");
}

/*
 * Descriptors 0, 1 and 2 closed at start (cron with stdout closed, a
 * script's `>&-`): the first files kmc opened would take their numbers,
 * the LMDB lock file or a key file as descriptor 2, and a message meant
 * for standard error would land in it. Each closed one is held by
 * /dev/null opened the wrong way round (stdin write-only, stdout and
 * stderr read-only), so that reading or writing it still fails with
 * EBADF, as on a closed descriptor, and nothing else can take it.
 */
static int hold_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		int n;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* The lowest free number: fd, as those below it are open. */
		n = open("/dev/null", (fd == 0 ? O_WRONLY : O_RDONLY) |
			O_NOCTTY);
		if (n != fd) {
			if (n >= 0)
				close(n);
			return -1;
		}
	}
	return 0;
}

/* SIGPIPE's default action would kill kmc without a word in the middle
   of printing, after a change it has made (a recovery key nobody got).
   A handler that does nothing makes the write fail with EPIPE, which
   every output path reports; unlike SIG_IGN it is not inherited by a
   program a PKCS#11 module starts. */
static void on_sigpipe(int sig)
{
	(void)sig;
}

static void harden_process(void)
{
	struct sigaction sa;
	struct rlimit no_core = { 0, 0 };

	/* As ssh-agent: no core file and no ptrace by the same user. */
	(void)setrlimit(RLIMIT_CORE, &no_core);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* A write past RLIMIT_FSIZE then fails with EFBIG, which every
	   write path undoes cleanly, instead of killing kmc halfway. */
	(void)signal(SIGXFSZ, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigpipe;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGPIPE, &sa, NULL);
	umask(077);
}

/*
 * What a command printed through stdio (help, version, tables) may sit
 * in its buffer until exit: a failure to write it there (/dev/full, a
 * closed standard output) must not leave exit 0 behind.
 */
static int finish_output(int code)
{
	int bad, err;

	errno = 0;
	bad = fflush(stdout) != 0;
	err = errno;
	if (!bad && !ferror(stdout))
		return code;
	if (code != EXIT_OK)
		return code;
	if (err)
		cli_note("writing to standard output: %s", strerror(err));
	else
		cli_note("writing to standard output failed");
	return EXIT_IO;
}

static int run(int argc, char **argv);

int main(int argc, char **argv)
{
	if (hold_std_fds() < 0) {
		cli_note("standard input, output or error is closed and "
			"/dev/null cannot be opened in its place");
		return EXIT_IO;
	}
	harden_process();
	if (cli_stdout_waits() < 0) {
		cli_note("standard output is non-blocking and no stream that "
			"waits for it can be made: out of memory");
		return EXIT_IO;
	}
	return finish_output(run(argc, argv));
}

/* main without the process set-up: an exit code. */
static int run(int argc, char **argv)
{
	const char *vault = NULL;
	const command *c = NULL;
	cli_opts a = { 0 };
	int i = 1, r;

	/* Options before the command word: only --vault and help. */
	while (i < argc && argv[i][0] == '-') {
		if (vault && (!strcmp(argv[i], "--vault") ||
		    !strncmp(argv[i], "--vault=", 8))) {
			cli_note("--vault given twice");
			return EXIT_USAGE;
		}
		if (strcmp(argv[i], "--vault") == 0 && i + 1 < argc) {
			vault = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--vault=", 8) == 0) {
			vault = argv[i] + 8;
			i++;
		} else if (strcmp(argv[i], "--vault") == 0) {
			cli_note("--vault needs a value");
			return EXIT_USAGE;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--version")) {
			return cmd_version(&a);
		} else {
			char word[64];

			unknown_word(0, argv[i], word, sizeof(word));
			cli_note("unknown option %s", word);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(commands[k]->name, argv[i]) != 0)
			continue;
		if (commands[k]->sub) {
			if (i + 1 < argc && !strcmp(commands[k]->sub, argv[i + 1])) {
				c = commands[k];
				break;
			}
			continue;
		}
		c = commands[k];
		break;
	}
	if (!c) {
		if (is_group(argv[i])) {
			int help = i + 1 < argc && !strcmp(argv[i + 1], "--help");

			for (size_t k = 0; k < ELEMENTS(commands); k++)
				if (!strcmp(commands[k]->name, argv[i]))
					fprintf(help ? stdout : stderr,
						"usage: kmc %s\n", commands[k]->usage);
			return help ? EXIT_OK : EXIT_USAGE;
		}
		cli_note("unknown command %s", argv[i]);
		usage(stderr);
		return EXIT_USAGE;
	}
	i += c->sub ? 2 : 1;
	/* getopt wants argv[0] in front of the command's own arguments. */
	argv[i - 1] = argv[0];
	r = cli_parse(c, argc - i + 1, argv + i - 1, &a);
	if (r < 0)
		return CLI_EXIT_CODE(r);
	if (a.help) {
		printf("usage: kmc %s\n\n%s\n", c->usage, c->help);
		return EXIT_OK;
	}
	if (a.vault && vault) {
		cli_note("--vault given twice, before and after %s", c->name);
		return EXIT_USAGE;
	}
	if (!a.vault)
		a.vault = vault;
	/* Before anything reaches OpenSSL (nothing above does): the copies
	   of keys it frees inside its decoders and encoders are wiped, not
	   left in the heap (docs/threat-model.md, Memory). */
	if (!c->keyless && kmc_openssl_wipe_frees() < 0) {
		cli_note("OpenSSL was used in this process before kmc started "
			"(by a preloaded library?), so it can no longer be made to "
			"wipe the memory it frees; nothing was done");
		return EXIT_FAIL;
	}
	r = c->run(&a);
	if (CLI_IS_EXIT(r))
		return CLI_EXIT_CODE(r);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}
