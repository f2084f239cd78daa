/*
 * p11_fork.c - a server's life with a token protector, for
 * tests/e2e/test_pkcs11.sh and test_pkcs11_remote.sh: one process that
 * opens a vault through a PKCS#11 token more than once, across fork(),
 * and while the token goes away. Public API only (kmc.h, kmc/admin.h).
 *
 *	p11_fork fork    DIR ITEM VALUE PINFILE
 *	p11_fork loop    DIR ITEM VALUE PINFILE N
 *	p11_fork between DIR ITEM VALUE PINFILE CMD [PASSFILE]
 *	p11_fork reuse   DIR ITEM VALUE PINFILE WRONGPIN [close]
 *	p11_fork away    DIR ITEM VALUE PINFILE CMD_GONE CMD_BACK
 *
 * fork: open the vault through the token, read ITEM, fork; the child
 * opens the vault again (PKCS#11 starts over in it) and reads ITEM; after
 * the child exits the parent reads ITEM with its first handle and opens
 * the vault once more through the token.
 * loop: N times kmc_vault_open_ex + kmc_item_get_secret + kmc_vault_close.
 * between: open and read, run CMD with system() (e.g. stop the token's
 * server), then open and read again, with the passphrase in PASSFILE if
 * given; exit 10 if that second open fails, printing why on stderr.
 * reuse: open and read with PINFILE, then again with the wrong PIN in
 * WRONGPIN: the token session kept from the first open must serve the
 * second (no login, so the PIN is not read); with "close",
 * kmc_token_sessions_close() comes between and the second open must
 * fail (a PIN error, "second open: refused" on stdout).
 * away: open and read, run CMD_GONE (the token goes), open (must fail:
 * "gone: DETAIL" on stdout), run CMD_BACK, open and read (must work).
 *
 * Every read must give exactly VALUE. Lines on stdout say which
 * protector opened each handle ("open N: protector P"). Exits 0 when all
 * succeed, 1 on any other failure; an alarm bounds the whole run.
 * SIGPIPE keeps its default action, as in a program that never thought
 * about it, unless P11_FORK_IGNORE_SIGPIPE=1 (as many servers do).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <kmc.h>
#include <kmc/admin.h>

#define RUN_LIMIT 120	/* seconds: a hang becomes a failure */

static const char *dir, *item, *value;
static kmc_secret *pin, *pass;
static int opens;

static void fail(const char *what, int r)
{
	fprintf(stderr, "p11_fork[%ld]: %s: %s (%s)\n", (long)getpid(), what,
		kmc_strerror(r), kmc_error_detail());
}

/* Open the vault; 0, or the library's error (already reported). */
static int open_vault(const kmc_secret *passphrase, kmc_vault **ret)
{
	kmc_options o = KMC_OPTIONS_INIT;
	char what[64];
	int r;

	o.pin = pin;
	o.passphrase = passphrase;
	r = kmc_vault_open_ex(dir, 0, &o, ret);
	opens++;
	snprintf(what, sizeof(what), "open %d", opens);
	if (r < 0) {
		fail(what, r);
		return r;
	}
	printf("%s: protector %u\n", what, kmc_vault_opened_by(*ret));
	if (kmc_vault_unlock_notes(*ret)[0])
		printf("%s: after %s\n", what, kmc_vault_unlock_notes(*ret));
	fflush(stdout);
	return 0;
}

/* Read ITEM through v: 0 when it is exactly VALUE. */
static int read_item(kmc_vault *v, const char *when)
{
	kmc_secret *s;
	int r = kmc_item_get_secret(v, item, &s);

	if (r < 0) {
		fail(when, r);
		return -1;
	}
	r = kmc_secret_len(s) == strlen(value) &&
		memcmp(kmc_secret_data(s), value, strlen(value)) == 0 ? 0 : -1;
	if (r < 0)
		fprintf(stderr, "p11_fork[%ld]: %s: %s does not read back as "
			"stored\n", (long)getpid(), when, item);
	kmc_secret_free(s);
	return r;
}

static int open_read_close(const kmc_secret *passphrase, const char *when)
{
	kmc_vault *v;
	int r;

	if (open_vault(passphrase, &v) < 0)
		return -1;
	r = read_item(v, when);
	kmc_vault_close(v);
	return r;
}

static int do_fork(void)
{
	kmc_vault *v;
	pid_t pid;
	int status;

	if (open_vault(NULL, &v) < 0)
		return 1;
	if (read_item(v, "parent, before fork") < 0)
		return 1;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("p11_fork: fork");
		return 1;
	}
	if (pid == 0) {
		/* The parent's handle is not used here (kmc.h): a new one. */
		alarm(RUN_LIMIT);
		_exit(open_read_close(NULL, "child") < 0 ? 1 : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("p11_fork: waitpid");
			return 1;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "p11_fork: the child failed (status 0x%x)\n",
			status);
		return 1;
	}
	printf("child: ok\n");
	if (read_item(v, "parent, first handle, after the child") < 0)
		return 1;
	kmc_vault_close(v);
	if (open_read_close(NULL, "parent, new handle, after the child") < 0)
		return 1;
	printf("parent: ok\n");
	return 0;
}

static int do_loop(long n)
{
	for (long i = 0; i < n; i++) {
		char when[64];

		snprintf(when, sizeof(when), "round %ld of %ld", i + 1, n);
		if (open_read_close(NULL, when) < 0)
			return 1;
	}
	printf("rounds: %ld ok\n", n);
	return 0;
}

static int do_between(const char *cmd)
{
	int r;

	if (open_read_close(NULL, "before the command") < 0)
		return 1;
	fflush(stdout);
	r = system(cmd);
	if (r != 0) {
		fprintf(stderr, "p11_fork: `%s` failed (status 0x%x)\n", cmd, r);
		return 1;
	}
	if (open_read_close(pass, "after the command") < 0)
		return 10;
	printf("after: ok\n");
	return 0;
}

static int read_secret(const char *path, kmc_secret **ret);

static int do_reuse(const char *wrong_path, int close_between)
{
	kmc_secret *wrong;
	int r;

	if (open_read_close(NULL, "first open") < 0)
		return 1;
	if (read_secret(wrong_path, &wrong) < 0)
		return 1;
	if (close_between)
		kmc_token_sessions_close();
	kmc_secret_free(pin);
	pin = wrong;
	r = open_read_close(NULL, "second open, wrong PIN");
	if (close_between) {
		if (r == 0) {
			fprintf(stderr, "p11_fork: the wrong PIN opened the vault "
				"after kmc_token_sessions_close()\n");
			return 1;
		}
		printf("second open: refused\n");
		return 0;
	}
	if (r < 0)
		return 1;
	printf("second open: ok\n");
	return 0;
}

static int run(const char *cmd)
{
	int r = system(cmd);

	if (r != 0)
		fprintf(stderr, "p11_fork: `%s` failed (status 0x%x)\n", cmd, r);
	return r;
}

static int do_away(const char *gone, const char *back)
{
	kmc_vault *v;
	kmc_options o = KMC_OPTIONS_INIT;
	int r;

	if (open_read_close(NULL, "before") < 0)
		return 1;
	fflush(stdout);
	if (run(gone) != 0)
		return 1;
	o.pin = pin;
	r = kmc_vault_open_ex(dir, 0, &o, &v);
	if (r == 0) {
		kmc_vault_close(v);
		fprintf(stderr, "p11_fork: the vault opened with its token gone\n");
		return 1;
	}
	printf("gone: %s\n", kmc_error_detail());
	fflush(stdout);
	if (run(back) != 0)
		return 1;
	if (open_read_close(NULL, "back") < 0)
		return 1;
	printf("back: ok\n");
	return 0;
}

static int read_secret(const char *path, kmc_secret **ret)
{
	int r = kmc_secret_read_file(path, 1024, ret);

	if (r < 0)
		fail(path, r);
	return r;
}

static int usage(void)
{
	fprintf(stderr, "usage: p11_fork fork DIR ITEM VALUE PINFILE\n"
		"       p11_fork loop DIR ITEM VALUE PINFILE N\n"
		"       p11_fork between DIR ITEM VALUE PINFILE CMD [PASSFILE]\n"
		"       p11_fork reuse DIR ITEM VALUE PINFILE WRONGPIN [close]\n"
		"       p11_fork away DIR ITEM VALUE PINFILE CMD_GONE CMD_BACK\n");
	return 2;
}

int main(int argc, char **argv)
{
	int r;

	if (argc < 6)
		return usage();
	alarm(RUN_LIMIT);
	if (getenv("P11_FORK_IGNORE_SIGPIPE") &&
	    strcmp(getenv("P11_FORK_IGNORE_SIGPIPE"), "1") == 0)
		signal(SIGPIPE, SIG_IGN);
	dir = argv[2];
	item = argv[3];
	value = argv[4];
	if (read_secret(argv[5], &pin) < 0)
		return 1;
	if (strcmp(argv[1], "fork") == 0 && argc == 6) {
		r = do_fork();
	} else if (strcmp(argv[1], "loop") == 0 && argc == 7) {
		char *end;
		long n = strtol(argv[6], &end, 10);

		if (*end || n < 1)
			return usage();
		r = do_loop(n);
	} else if (strcmp(argv[1], "between") == 0 && (argc == 7 || argc == 8)) {
		if (argc == 8 && read_secret(argv[7], &pass) < 0)
			return 1;
		r = do_between(argv[6]);
	} else if (strcmp(argv[1], "reuse") == 0 && (argc == 7 || (argc == 8 &&
			strcmp(argv[7], "close") == 0))) {
		r = do_reuse(argv[6], argc == 8);
	} else if (strcmp(argv[1], "away") == 0 && argc == 8) {
		r = do_away(argv[6], argv[7]);
	} else {
		return usage();
	}
	kmc_secret_free(pin);
	kmc_secret_free(pass);
	return r;
}
