/*
 * tokenwatch.c - the watchdog that bounds a call into a token reached
 * through `p11-kit server` (see tokenwatch.h).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "tokenwatch.h"

#define RESCAN_MS 100	/* after firing: sockets connected since go too */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static pid_t watch_pid;		/* the process whose thread runs */
static int armed, fired;
static struct timespec deadline;
static char server_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* The bound $KMC_TOKEN_TIMEOUT gives: digits only (strtoul would take a
   blank or a sign first, "-1" wrapping), 1 to 600; 0 when unset or
   empty, -1 when it is anything else. */
static long bound_parse(const char *e)
{
	unsigned long v;

	if (!e || !*e)
		return 0;
	if (strspn(e, "0123456789") != strlen(e))
		return -1;
	errno = 0;
	v = strtoul(e, NULL, 10);
	return errno || v < 1 || v > 600 ? -1 : (long)v;
}

int token_watch_check(void)
{
	const char *e = secure_getenv("KMC_TOKEN_TIMEOUT");

	if (bound_parse(e) >= 0)
		return 0;
	return kmc_detail(KMC_E_INVALID, "KMC_TOKEN_TIMEOUT=\"%.40s%s\" is not a "
		"number of seconds from 1 to 600 (digits only); unset it for the "
		"default, %d", e, strlen(e) > 40 ? "..." : "",
		TOKEN_WATCH_DEFAULT_S);
}

unsigned token_watch_bound(void)
{
	long v = bound_parse(secure_getenv("KMC_TOKEN_TIMEOUT"));

	return v > 0 ? (unsigned)v : TOKEN_WATCH_DEFAULT_S;
}

/* Where p11-kit's client module connects (0), or -1 if not a unix path. */
static int server_path_find(char *buf, size_t size)
{
	const char *a = secure_getenv("P11_KIT_SERVER_ADDRESS");
	const char *run = secure_getenv("XDG_RUNTIME_DIR");
	int n;

	if (a && *a) {
		if (strncmp(a, "unix:path=", 10) != 0)
			return -1;
		n = snprintf(buf, size, "%s", a + 10);
	} else if (run && *run) {
		n = snprintf(buf, size, "%s/p11-kit/pkcs11", run);
	} else {
		return -1;
	}
	return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Shut down every socket of ours connected to the server's path; how
   many. */
static int sockets_shut(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		struct sockaddr_un peer;
		socklen_t len = sizeof(peer);
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end || fd < 0 || fd == dirfd(d))
			continue;
		memset(&peer, 0, sizeof(peer));
		if (getpeername((int)fd, (struct sockaddr *)&peer, &len) != 0 ||
		    peer.sun_family != AF_UNIX ||
		    len <= offsetof(struct sockaddr_un, sun_path) ||
		    strncmp(peer.sun_path, server_path, sizeof(peer.sun_path)))
			continue;
		if (shutdown((int)fd, SHUT_RDWR) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static int past(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec ||
		(now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void *watch(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (!armed)
			pthread_cond_wait(&cond, &lock);
		if (!past(&deadline)) {
			(void)pthread_cond_timedwait(&cond, &lock, &deadline);
			continue;
		}
		if (sockets_shut() > 0)
			fired = 1;
		/* Until the call is over: a reconnect it was making is cut too. */
		{
			struct timespec next;

			clock_gettime(CLOCK_MONOTONIC, &next);
			next.tv_nsec += RESCAN_MS * 1000000L;
			if (next.tv_nsec >= 1000000000L) {
				next.tv_sec++;
				next.tv_nsec -= 1000000000L;
			}
			(void)pthread_cond_timedwait(&cond, &lock, &next);
		}
	}
	return NULL;
}

/* The thread of this process, started on first use (and again in a
   forked child, which has none). 0, or -1 if it cannot start. */
static int watch_start(void)
{
	pthread_condattr_t ca;
	pthread_attr_t ta;
	pthread_t th;
	sigset_t all, old;
	int r;

	if (watch_pid == getpid())
		return 0;
	/* A child inherits the parent's lock as it was at fork(): anew. */
	pthread_mutex_init(&lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cond, &ca);
	pthread_condattr_destroy(&ca);
	armed = fired = 0;
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	/* No signal of the server's is ever delivered to this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&th, &ta, watch, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&ta);
	if (r != 0)
		return -1;
	watch_pid = getpid();
	return 0;
}

void token_watch_arm(const char *module)
{
	const char *a = secure_getenv("P11_KIT_SERVER_ADDRESS");
	char path[sizeof(server_path)];

	/* A call not watched has not fired either. */
	if (watch_pid == getpid()) {
		pthread_mutex_lock(&lock);
		fired = 0;
		pthread_mutex_unlock(&lock);
	}
	if (!(module && strstr(module, "p11-kit-client")) && !(a && *a))
		return;
	/* Nothing to watch without a p11-kit server address. */
	if (server_path_find(path, sizeof(path)) < 0 || watch_start() < 0)
		return;
	pthread_mutex_lock(&lock);
	memcpy(server_path, path, sizeof(server_path));
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += token_watch_bound();
	armed = 1;
	fired = 0;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

void token_watch_disarm(void)
{
	if (watch_pid != getpid())
		return;
	pthread_mutex_lock(&lock);
	armed = 0;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

int token_watch_fired(void)
{
	int f;

	if (watch_pid != getpid())
		return 0;
	pthread_mutex_lock(&lock);
	f = fired;
	pthread_mutex_unlock(&lock);
	return f;
}
