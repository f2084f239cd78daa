/*
 * token.h - inside pkcs11/: a token reached through p11-kit, with its
 * cached, logged-in session (token.c), for the key work in p11.c.
 * Calls that use a token's session hold token_cache_lock() around it.
 */
#ifndef KMC_P11_TOKEN_H
#define KMC_P11_TOKEN_H

#include <limits.h>
#include "p11kit.h"
#include "p11.h"

/* A key found in a token's session, kept until the session goes. */
typedef struct key {
	CK_OBJECT_HANDLE h;
	CK_KEY_TYPE type;
} key;

#define TOKEN_KEYS 4		/* keys remembered per token (LRU) */
#define TOKEN_KEY_ATTR 128	/* longest object= or id= remembered */

typedef struct token_key {
	CK_OBJECT_CLASS cls;
	CK_ULONG label_len, id_len;	/* (CK_ULONG)-1: not in the URI */
	unsigned char label[TOKEN_KEY_ATTR], id[TOKEN_KEY_ATTR];
	key k;
} token_key;

typedef struct token {
	CK_FUNCTION_LIST *mod;
	char module[PATH_MAX];		/* realpath or p11-kit name */
	char given[PATH_MAX];		/* module-path as the URI wrote it */
	CK_TOKEN_INFO info;		/* as found: what URIs match against */
	unsigned char label[32];
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	int logged_in;
	int reused;		/* found in the cache, not opened just now */
	int broken;		/* a call failed: drop it at the next find */
	token_key keys[TOKEN_KEYS];
	unsigned nkeys;
	struct token *next;
} token;

/* SIGPIPE blocked in this thread around calls into a token (a network
   token writes to a socket that may have closed). */
KMC_INTERNAL void p11_sigpipe_block(void);
KMC_INTERNAL void p11_sigpipe_restore(void);

/* The CKR_ name of rv, for messages; ck_fail: KMC_E_P11 naming it, and
   rv kept for p11_last_rv (this thread's last). */
KMC_INTERNAL const char *p11_ckr_name(CK_RV rv);
KMC_INTERNAL int p11_ck_fail(CK_RV rv, const char *what);
KMC_INTERNAL CK_RV p11_last_rv(void);
KMC_INTERNAL void p11_last_rv_clear(void);
/* Whether rv says the token, its session or its link went away (rather
   than that the call was wrong): the session is dropped for it. */
KMC_INTERNAL int p11_rv_gone(CK_RV rv);
/* Whether r, from a call on a token, says the token was not reached
   (its module, the token, or a session that died with it), rather than
   a wrong PIN, a missing key or a refused mechanism. */
KMC_INTERNAL int p11_unreached(int r);
/* Before the i-th try again of a call that did not reach the token (from
   0, P11_UNREACHED_TRIES at most): *t dropped from the cache and NULL,
   p11_unreached_pause(i), the last detail and CK_RV forgotten. */
KMC_INTERNAL void p11_unreached_again(token **t, int i);

KMC_INTERNAL void p11_uri_freep(P11KitUri **u);
/* Parse s (at most P11_URI_MAX bytes); KMC_E_STRING names it. */
KMC_INTERNAL int p11_uri_parse(const char *s, P11KitUri **ret)
	KMC_MUST_CHECK;
/* u for a message: without pin-value or pin-source (a file's path is
   the operator's business, not the log reader's). Cut at size. */
KMC_INTERNAL void p11_uri_shown(P11KitUri *u, char *buf, size_t size);
/* The token u names, with its module: what tokenretry.c keys on. */
KMC_INTERNAL void p11_token_name(P11KitUri *u, char *buf, size_t size);

/* The token u names, with an open session, from the cache or new. */
KMC_INTERNAL int token_find(P11KitUri *u, const char *uri_text,
	token **ret) KMC_MUST_CHECK;
/* Mark a token whose session went bad: the next token_find drops it
   (logs out, closes, finalizes) and starts over. */
KMC_INTERNAL void token_forget(token *t);
/* The key a URI names, of class cls, as found before in t's session. */
KMC_INTERNAL int token_key_get(token *t, P11KitUri *u, CK_OBJECT_CLASS cls,
	key *ret);
KMC_INTERNAL void token_key_put(token *t, P11KitUri *u, CK_OBJECT_CLASS cls,
	const key *k);
/* After a call: unless sessions are kept (the default), drop t. */
KMC_INTERNAL void token_done(token *t);
/* Log in with the PIN from pin, the URI's pin-source, or a prompt. */
KMC_INTERNAL int token_login(token *t, P11KitUri *u, const p11_pin *pin)
	KMC_MUST_CHECK;
/* Parse uri into *u unless done, find its token, log in. */
KMC_INTERNAL int token_session_ready(const char *uri, const p11_pin *pin,
	P11KitUri **u, token **t) KMC_MUST_CHECK;

/* In p11.c: the one key of class cls the URI's object= and id= name
   (*ret_found 0 if none; KMC_E_P11_KEY if several). */
KMC_INTERNAL int key_find(token *t, P11KitUri *u, CK_OBJECT_CLASS cls,
	key *ret, int *ret_found) KMC_MUST_CHECK;

KMC_INTERNAL void token_cache_lock(void);
KMC_INTERNAL void token_cache_unlock(void);

#endif
