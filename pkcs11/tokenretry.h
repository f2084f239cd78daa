/*
 * tokenretry.h - how soon a token that was not reached is tried again.
 *
 * A server whose token went away (an HSM unplugged, a `p11-kit server`
 * stopped, a TPM reset) would otherwise load the module, look for the
 * token and fail again in every handshake; with a module that takes its
 * time to give up, every handshake would wait for it. So once a token is
 * found gone, calls on it fail at once with the error it gave, until a
 * delay has passed: TOKEN_RETRY_FIRST_MS after the first failure,
 * doubling with each failed attempt up to TOKEN_RETRY_MAX_MS. The first
 * call after the delay tries for real; a success forgets the token's
 * failures. A token that comes back is thus in use again at most
 * TOKEN_RETRY_MAX_MS after its return.
 *
 * Tokens are named by a string (serverkeyuse.c: the URI's token part and
 * its module). Time is the caller's (milliseconds of a monotonic clock),
 * so that tests drive it. The caller holds token_cache_lock(); a forked
 * child starts with no failures remembered.
 */
#ifndef KMC_P11_TOKENRETRY_H
#define KMC_P11_TOKENRETRY_H

#include <stddef.h>
#include <stdint.h>
#include "../kmc/common.h"

#define TOKEN_RETRY_FIRST_MS 500u
#define TOKEN_RETRY_MAX_MS 5000u
#define TOKEN_RETRY_SLOTS 8	/* tokens remembered; the oldest goes */
#define TOKEN_RETRY_NAME 512	/* longest token name kept */
#define TOKEN_RETRY_DETAIL 512	/* longest error detail kept */

/* Milliseconds of CLOCK_MONOTONIC. */
KMC_INTERNAL uint64_t token_retry_now(void);

/*
 * token_retry_check - before calling on the token name: 0 if a call may
 * go ahead; else the error the token last gave (a negative kmc_error,
 * with a detail that repeats the remembered one and says when the next
 * attempt is made).
 */
KMC_INTERNAL int token_retry_check(const char *name, uint64_t now)
	KMC_MUST_CHECK;

/* The call on name failed with err (the detail is kmc_error_detail()'s):
   wait before the next attempt. */
KMC_INTERNAL void token_retry_failed(const char *name, int err, uint64_t now);

/* The call on name succeeded: forget its failures. */
KMC_INTERNAL void token_retry_ok(const char *name);

/* The delay before the next attempt on name (0: none); for tests. */
KMC_INTERNAL uint64_t token_retry_delay(const char *name, uint64_t now);

#endif
