/*
 * unit_child.h - whether memory can be written, found out in a child
 * (a store to a read-only page kills it). Include after cmocka.h.
 */
#ifndef KMC_UNIT_CHILD_H
#define KMC_UNIT_CHILD_H

#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* The wait status of a child that stores v at p when write is set (else
   only reads it), then exits 0 if p holds v, 3 if not. */
static inline int unit_child_store(unsigned char *p, int write,
	unsigned char v)
{
	struct rlimit no_core = { 0, 0 };
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The signal's own end, not cmocka's handler, which would
		   carry on with the test in the child. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		(void)setrlimit(RLIMIT_CORE, &no_core);
		if (write)
			*(volatile unsigned char *)p = v;
		_exit(*(volatile unsigned char *)p == v ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

#endif
