/*
 * prompt.c - secrets from the user: a no-echo prompt on the controlling
 * terminal, a file, or a descriptor. Never the command line, and never a
 * hang: without a terminal and without a file or descriptor, fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "cli.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

/*
 * The signals that end or stop kmc while echo is off: each would leave
 * the terminal without echo (SIGHUP from a service manager or kill,
 * SIGQUIT from ^\), or, for the stop signals (^Z), come back after fg
 * with the echo the shell had put back meanwhile: the rest of the secret
 * shown as it is typed. As OpenBSD's readpassphrase, echo is restored,
 * the signal taken as it would have been, and after a stop the prompt
 * starts over. One kmc was started ignoring (a background job, nohup)
 * stays ignored.
 */
static const int prompt_signals[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU,
};

static void catch_prompt_signals(struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ELEMENTS(prompt_signals); i++) {
		sigaction(prompt_signals[i], NULL, &old[i]);
		if (old[i].sa_handler != SIG_IGN)
			sigaction(prompt_signals[i], &sa, NULL);
	}
}

static void restore_prompt_signals(const struct sigaction *old)
{
	for (size_t i = 0; i < ELEMENTS(prompt_signals); i++)
		sigaction(prompt_signals[i], &old[i], NULL);
}

/*
 * Read one line from the terminal with echo off into a guarded secret.
 * Returns 0, CLI_NO_TTY when there is no terminal, or a kmc error; one
 * of prompt_signals cut it off: CLI_INTERRUPTED, the signal in *ret_sig,
 * the terminal and the signal handlers as they were.
 */
static int tty_read_once(const char *prompt, size_t max, kmc_secret **ret,
	int *ret_sig)
{
	struct termios old, raw;
	struct sigaction old_sig[ELEMENTS(prompt_signals)];
	kmc_secret *s;
	size_t len = 0;
	int fd, r = 0, restore;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return CLI_NO_TTY;
	if (tcgetattr(fd, &old) < 0) {
		close(fd);
		return CLI_NO_TTY;
	}
	r = kmc_secret_new(max + 1, &s);
	if (r < 0) {
		close(fd);
		return r;
	}
	/* Restore echo even when interrupted. */
	interrupted = 0;
	catch_prompt_signals(old_sig);
	raw = old;
	raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	raw.c_lflag |= ICANON;
	restore = tcsetattr(fd, TCSAFLUSH, &raw) == 0;
	if (write(fd, prompt, strlen(prompt)) < 0)
		r = -errno;
	while (r == 0) {
		unsigned char c;
		ssize_t n;

		if (interrupted) {
			r = CLI_INTERRUPTED;
			break;
		}
		n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR && !interrupted)
			continue;
		if (n <= 0 || interrupted) {
			r = interrupted ? CLI_INTERRUPTED : KMC_E_EMPTY;
			break;
		}
		if (c == '\n' || c == '\r')
			break;
		if (len == max + 1) {
			r = KMC_E_TOO_LARGE;
			continue;
		}
		kmc_secret_data(s)[len++] = c;
	}
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* Nothing to do: the prompt's newline is cosmetic. */
	}
	close(fd);
	restore_prompt_signals(old_sig);
	if (r == 0 && len > max)
		r = KMC_E_TOO_LARGE;
	if (r == 0 && len == 0)
		r = KMC_E_EMPTY;
	if (r == 0)
		r = kmc_secret_shrink(s, len);
	if (r < 0) {
		kmc_secret_free(s);
		*ret_sig = interrupted;
		return r;
	}
	*ret = s;
	return 0;
}

static int tty_read(const char *prompt, size_t max, kmc_secret **ret)
{
	for (;;) {
		int sig = 0, r = tty_read_once(prompt, max, ret, &sig);

		if (!sig)
			return r;
		/* Echo is back: the signal does now what it would have. */
		raise(sig);
		if (sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU)
			return CLI_INTERRUPTED;
		/* Continued (fg): what was typed is gone; ask again. */
	}
}

/*
 * The descriptor a path names (/dev/stdin, /dev/fd/N, /proc/self/fd/N:
 * what a shell's <(...) gives), else -1. Those are links, which a secret
 * file never is; the message then says which option takes the descriptor.
 */
static int fd_of_path(const char *path)
{
	static const char *const dirs[] = { "/dev/fd/", "/proc/self/fd/" };
	char *end;
	long n;

	if (!strcmp(path, "/dev/stdin"))
		return 0;
	for (size_t i = 0; i < ELEMENTS(dirs); i++) {
		size_t len = strlen(dirs[i]);

		if (strncmp(path, dirs[i], len) || path[len] < '0' ||
		    path[len] > '9')
			continue;
		errno = 0;
		n = strtol(path + len, &end, 10);
		if (!*end && !errno && n <= INT_MAX)
			return (int)n;
	}
	return -1;
}

int cli_read_secret(const cli_secret_src *src, const char *what, int confirm,
	size_t max, kmc_secret **ret)
{
	kmc_secret *s = NULL, *again = NULL;
	char prompt[1024], shown[1000];
	int r;

	if (src->file) {
		r = kmc_secret_read_file(src->file, max, &s);
		if (r == KMC_E_PERM && fd_of_path(src->file) >= 0) {
			/* The hint is "--x-file FILE or --x-fd N ...". */
			const char *fdopt = src->hint ?
				strstr(src->hint, " or ") : NULL;

			cli_note("reading the %s from %s: a link to descriptor "
				"%d, not a file; give %.*s %d instead", what,
				src->file, fd_of_path(src->file), fdopt ?
				(int)strcspn(fdopt + 4, " ") : 0,
				fdopt ? fdopt + 4 : "", fd_of_path(src->file));
			return CLI_EXIT(EXIT_PERM);
		}
		if (r < 0) {
			int rc = cli_fail(r, "reading the %s from %s", what,
				src->file);

			/* Root's file for sudo -u postgres kmc: root can
			   open it and hand over the descriptor. */
			if (r == -EACCES && src->hint)
				cli_note("the %s may come on a descriptor "
					"instead: %s (sudo -u USER kmc ... "
					"--...-fd 3 3<FILE)", what, src->hint);
			return rc;
		}
		*ret = s;
		return 0;
	}
	if (src->fd >= 0) {
		/* Read to its end, a terminal would show the secret as it is
		   typed, and keep it on the screen: the prompt has no echo. */
		if (isatty(src->fd))
			return cli_usage_fail("reading the %s from descriptor %d: "
				"it is a terminal, which would show the %s as it is "
				"typed; give a pipe or a file, or leave the "
				"descriptor out to be asked without echo", what,
				src->fd, what);
		r = kmc_secret_read_fd(src->fd, max, &s);
		if (r < 0)
			return cli_fail(r, "reading the %s from descriptor %d",
				what, src->fd);
		*ret = s;
		return 0;
	}
	/* what may name a file: escaped, as in every message. */
	snprintf(prompt, sizeof(prompt), "%s: ",
		kmc_escape(what, shown, sizeof(shown)));
	prompt[0] = (char)(prompt[0] >= 'a' && prompt[0] <= 'z' ?
		prompt[0] - 'a' + 'A' : prompt[0]);
	r = tty_read(prompt, max, &s);
	if (r == CLI_NO_TTY)
		return cli_usage_fail("no terminal to ask for the %s: give "
			"%s", what, src->hint);
	if (r < 0)
		return cli_fail(r, "reading the %s", what);
	if (confirm) {
		snprintf(prompt, sizeof(prompt), "Again: ");
		r = tty_read(prompt, max, &again);
		if (r < 0) {
			kmc_secret_free(s);
			return cli_fail(r, "reading the %s", what);
		}
		if (kmc_secret_len(s) != kmc_secret_len(again) ||
		    memcmp(kmc_secret_data(s), kmc_secret_data(again),
			    kmc_secret_len(s)) != 0) {
			kmc_secret_free(s);
			kmc_secret_free(again);
			return cli_usage_fail("the two %ss differ; nothing was "
				"changed", what);
		}
		kmc_secret_free(again);
	}
	*ret = s;
	return 0;
}

/* The passphrase callback for kmc_vault_open_ex(): prompt once. */
int cli_passphrase_cb(char *buf, size_t size, void *arg)
{
	const char *dir = arg;
	char prompt[1100], shown[1024];
	kmc_secret *s;
	size_t n;

	snprintf(prompt, sizeof(prompt), "Passphrase for vault %s: ",
		kmc_escape(dir, shown, sizeof(shown)));
	if (tty_read(prompt, size, &s) < 0)
		return -1;
	n = kmc_secret_len(s);
	memcpy(buf, kmc_secret_data(s), n);
	kmc_secret_free(s);
	return (int)n;
}

/* The PIN callback: prompt once on the terminal. */
int cli_pin_cb(char *buf, size_t size, void *arg)
{
	kmc_secret *s;
	size_t n;

	(void)arg;
	if (tty_read("Token PIN: ", size, &s) < 0)
		return -1;
	n = kmc_secret_len(s);
	memcpy(buf, kmc_secret_data(s), n);
	kmc_secret_free(s);
	return (int)n;
}
