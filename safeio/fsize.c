/*
 * fsize.c - writes under a file size limit (see fsize.h): checked before
 * the library's own writes, SIGXFSZ held back around LMDB's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "fsize.h"

unsigned long long kmc_fsize_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_FSIZE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	/* A limit of 0 bytes is a limit: 1 stands for "set" as well. */
	return rl.rlim_cur ? (unsigned long long)rl.rlim_cur : 1;
}

int kmc_fsize_past(int fd, size_t n)
{
	struct rlimit rl;
	struct stat st;
	off_t off;
	int fl;

	if (getrlimit(RLIMIT_FSIZE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    n == 0)
		return 0;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	if (fl & O_APPEND)
		off = st.st_size;
	else if ((off = lseek(fd, 0, SEEK_CUR)) < 0)
		return 0;
	return (unsigned long long)off + n > (unsigned long long)rl.rlim_cur;
}

void kmc_xfsz_hold(kmc_xfsz *h)
{
	sigset_t s, pend;

	h->held = 0;
	h->was_pending = 0;
	h->limit = kmc_fsize_limit();
	if (!h->limit)
		return;
	sigemptyset(&s);
	sigaddset(&s, SIGXFSZ);
	if (pthread_sigmask(SIG_BLOCK, &s, &h->old) != 0)
		return;
	h->held = 1;
	h->was_pending = sigpending(&pend) == 0 &&
		sigismember(&pend, SIGXFSZ) == 1;
}

void kmc_xfsz_release(kmc_xfsz *h)
{
	static const struct timespec now = { 0, 0 };
	sigset_t s, pend;
	int saved = errno;

	if (!h->held)
		return;
	sigemptyset(&s);
	sigaddset(&s, SIGXFSZ);
	/* Ours: raised by a write in the window, not one the process
	   already had pending (left for its own handling). */
	if (!h->was_pending && sigpending(&pend) == 0 &&
	    sigismember(&pend, SIGXFSZ) == 1)
		(void)sigtimedwait(&s, NULL, &now);
	(void)pthread_sigmask(SIG_SETMASK, &h->old, NULL);
	h->held = 0;
	errno = saved;
}
