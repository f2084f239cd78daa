/*
 * clock_shim.c - an LD_PRELOAD shim for test_ca.sh and
 * test_cert_dates.sh: the wall clock
 * (time, gettimeofday, clock_gettime's CLOCK_REALTIME) reads
 * $KMC_CLOCK_BACK seconds earlier than it is (later, when it is
 * negative), as on a machine whose clock was set back, so the test can
 * show what kmc does then without touching the host's clock.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long back(void)
{
	const char *s = getenv("KMC_CLOCK_BACK");

	return s ? atol(s) : 0;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	int r;

	if (!real)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT,
			"clock_gettime");
	r = real(id, ts);
	if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec -= back();
	return r;
}

int gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	(void)tz;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t time(time_t *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
