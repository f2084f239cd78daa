/*
 * fsize.h - the library's writes under a file size limit (RLIMIT_FSIZE,
 * `ulimit -f`). A write past it raises SIGXFSZ, whose default kills the
 * process. The kmc command ignores the signal; a server that links the
 * library keeps its own handling, which a library must not change. So
 * the library's own writes check the limit first (kmc_fsize_past), and
 * the writes LMDB makes, which it cannot see, run with SIGXFSZ held back
 * in the calling thread (kmc_xfsz_hold): they fail with EFBIG, and a
 * SIGXFSZ they raised is taken off before the thread's mask is restored.
 */
#ifndef KMC_SAFEIO_FSIZE_H
#define KMC_SAFEIO_FSIZE_H

#include <signal.h>
#include <stddef.h>
#include "../kmc/common.h"

/* Whether writing n bytes to fd now would pass the file size limit:
   at fd's offset, or at its end when fd appends. 0 for no limit, and
   for what has no offset (a pipe, a socket), where none applies. */
KMC_INTERNAL int kmc_fsize_past(int fd, size_t n);

typedef struct kmc_xfsz {
	unsigned long long limit;	/* kmc_fsize_limit() at the hold */
	int held;		/* a limit is set: SIGXFSZ blocked */
	int was_pending;	/* one was pending before: not ours */
	sigset_t old;
} kmc_xfsz;

/* Hold SIGXFSZ back in this thread when a file size limit is set. */
KMC_INTERNAL void kmc_xfsz_hold(kmc_xfsz *h);
/* Take off a SIGXFSZ a write raised while held (one another process
   sent meanwhile is sent again, its sender kept), and restore the mask. */
KMC_INTERNAL void kmc_xfsz_release(kmc_xfsz *h);
/* The file size limit in bytes (1 for a limit of 0), or 0 when none is
   set: for a message that names it. */
KMC_INTERNAL unsigned long long kmc_fsize_limit(void);

#endif
