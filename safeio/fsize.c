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
#include <sys/syscall.h>
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

/*
 * The kernel raises a write's SIGXFSZ as if this process had sent it to
 * the writing thread (SI_USER, our pid), and a pending one of this thread
 * is taken before one sent to the process. One with another sender or
 * code is the user's, kill()ed or queued while held: taken off by mistake,
 * it would be lost. (A kill() of our own pid from another of our threads
 * looks like a write's and is taken; one sent while a write's was pending
 * on the thread merged into it, as any signal held back does.)
 */
static int raised_by_write(const siginfo_t *si)
{
	return si->si_code == SI_USER && si->si_pid == getpid();
}

/* Sent again as it came, sender and code kept (a SA_SIGINFO handler
   reads them): the kernel lets a thread queue to itself a siginfo that
   names another sender. Given this thread's id it goes to the process,
   as a kill() does. */
static void requeue(const siginfo_t *si)
{
	siginfo_t q = *si;

	if (syscall(SYS_rt_sigqueueinfo, (pid_t)syscall(SYS_gettid), SIGXFSZ,
	    &q) < 0)
		(void)kill(getpid(), SIGXFSZ);	/* the signal, if not its sender */
}

void kmc_xfsz_release(kmc_xfsz *h)
{
	static const struct timespec now = { 0, 0 };
	sigset_t s, pend;
	siginfo_t si;
	int saved = errno;

	if (!h->held)
		return;
	sigemptyset(&s);
	sigaddset(&s, SIGXFSZ);
	/* Ours: raised by a write in the window, not one the process
	   already had pending (left for its own handling). */
	if (!h->was_pending && sigpending(&pend) == 0 &&
	    sigismember(&pend, SIGXFSZ) == 1 &&
	    sigtimedwait(&s, &si, &now) == SIGXFSZ && !raised_by_write(&si))
		requeue(&si);
	(void)pthread_sigmask(SIG_SETMASK, &h->old, NULL);
	h->held = 0;
	errno = saved;
}
