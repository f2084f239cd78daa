/*
 * tokenwatch.h - a bound on how long a call into a token reached through
 * `p11-kit server` may block.
 *
 * p11-kit's client module (p11-kit-client.so) reads its server's replies
 * with blocking read()s and no timeout, and retries on EAGAIN, so a
 * server that keeps the socket open but never answers (stopped, stuck on
 * its own device, its host frozen) would hold a handshake, and with it
 * the token lock every other thread waits on, forever. A socket timeout
 * cannot help (EAGAIN is retried at once). So a watchdog thread shuts
 * the client's sockets down when a call has run past the bound: the
 * blocked read returns end-of-file, the module reports CKR_DEVICE_ERROR,
 * and the call fails like any token that went away.
 *
 * The sockets are this process's unix sockets connected to the client
 * module's server address: P11_KIT_SERVER_ADDRESS's unix:path=, else
 * $XDG_RUNTIME_DIR/p11-kit/pkcs11 (p11-kit's default). Modules that
 * talk to their device another way (an HSM's own network protocol, a
 * TPM) are bounded by their own timeouts, not by this.
 *
 * The bound is KMC_TOKEN_TIMEOUT seconds (1 to 600) in the environment,
 * else (unset or empty) TOKEN_WATCH_DEFAULT_S; any other value fails
 * the search for a token (token_watch_check()), rather than becoming
 * the default unseen. A call that merely runs long on a module
 * with no such socket is left alone. One call at a time: callers hold
 * token_cache_lock(). A forked child starts its own watchdog.
 */
#ifndef KMC_P11_TOKENWATCH_H
#define KMC_P11_TOKENWATCH_H

#include "../kmc/common.h"

#define TOKEN_WATCH_DEFAULT_S 10

/* A call into a token starts: shut its sockets down if it runs past
   the bound. Only for a module reached through `p11-kit server`: module
   (its module-path or module-name, may be NULL) names p11-kit's client,
   or P11_KIT_SERVER_ADDRESS is set; else nothing is watched (and no
   thread started). */
KMC_INTERNAL void token_watch_arm(const char *module);
/* The call is over. */
KMC_INTERNAL void token_watch_disarm(void);
/* Whether the watchdog shut a socket of the call down since the last
   arm; then no more attempts belong in this call. */
KMC_INTERNAL int token_watch_fired(void);
/* 0 when $KMC_TOKEN_TIMEOUT is unset, empty or 1 to 600; else
   KMC_E_INVALID with a detail naming the variable and what it takes. */
KMC_INTERNAL int token_watch_check(void) KMC_MUST_CHECK;
/* The bound in seconds, for messages. */
KMC_INTERNAL unsigned token_watch_bound(void);

#endif
