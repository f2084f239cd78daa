/*
 * tokenpending.h - the keys on a token a committed change is about to
 * destroy (vault/tokenpending.c), so that a kmc killed between the
 * change's commit and the destruction leaves a list kmc repair finishes,
 * not a private key that nothing will ever remove.
 *
 * A change that may drop the last record naming a token key (kmc rm,
 * rm --old, promote, cert renew, import --stage) collects the URIs the
 * bundle names before it (token_refs_collect, which arms the list);
 * the change's own commit adds them to meta "token_destroys" (the
 * commit hook below); after the commit each URI no record names any
 * more is destroyed, and a second commit takes off the list what was
 * destroyed or is still named. A URI whose destruction failed (the
 * token is gone) stays listed: kmc repair tries again.
 *
 * The list is a hint, never an authority: kmc repair destroys a listed
 * key only when no token key record of the whole vault (current or old,
 * each checked against the store's digest and opened under its master
 * key) names it, and none when a record cannot be read. A forged or
 * tampered list can therefore not make kmc destroy a key the vault
 * names.
 *
 * Format (meta "token_destroys"), bounded like every parser:
 *	version u8 1 | n u16 (1..1024)
 *	n × { uri_len u16 (8..2048) | uri ("pkcs11:...", printable ASCII)
 *	      | item_len u8 (1..128) | item (an item name) | version u32 }
 * big-endian; no two entries with the same uri; nothing after the last.
 */
#ifndef KMC_TOKENPENDING_H
#define KMC_TOKENPENDING_H

#include "vault.h"
#include "../pkcs11/p11.h"

#define TOKEN_PENDING_KEY "token_destroys"
#define TOKEN_PENDING_VERSION 1
#define TOKEN_PENDING_MAX 1024

typedef struct token_pending_entry {
	char *uri;		/* the key URI, no PIN */
	char item[KMC_NAME_MAX + 1];	/* the part that named it */
	uint32_t version;	/* the version of that record */
} token_pending_entry;

typedef struct token_pending {
	size_t n;
	token_pending_entry *e;
} token_pending;

KMC_INTERNAL void token_pending_free(token_pending *l);

/* Parsing and encoding, exposed for tests and fuzzing. parse: 0,
   KMC_E_CORRUPT, KMC_E_VERSION (a newer list), KMC_E_NOMEM. */
KMC_INTERNAL int token_pending_parse(const uint8_t *p, size_t len,
	token_pending *ret) KMC_MUST_CHECK;
KMC_INTERNAL int token_pending_encode(const token_pending *l, uint8_t **ret,
	size_t *ret_len) KMC_MUST_CHECK;
/* Add uri (named by item, version) unless listed, or the list is full
   (then 0, not added). Returns 0, KMC_E_NOMEM. */
KMC_INTERNAL int token_pending_add(token_pending *l, const char *uri,
	const char *item, uint32_t version) KMC_MUST_CHECK;

/* The list as stored: empty when there is none. Returns 0,
   KMC_E_CORRUPT (named), KMC_E_VERSION, KMC_E_NOMEM, a store error. */
KMC_INTERNAL int token_pending_read(store *st, token_pending *ret)
	KMC_MUST_CHECK;

/* The commit hook's part (handle.c): in STORE_PREPARE of the first
   commit that changes records while a collect is armed, its URIs join
   the list in the same transaction. Returns 0 or the error that aborts
   the commit. */
KMC_INTERNAL int token_pending_on_commit(kmc_vault *v, store_phase phase,
	const store_change *c) KMC_MUST_CHECK;

/* Take the n URIs off the list, in a commit of its own. Returns 0, a
   store error, KMC_E_NOMEM. */
KMC_INTERNAL int token_pending_drop(kmc_vault *v, const char *const *uris,
	size_t n) KMC_MUST_CHECK;

/*
 * token_pending_intent - before the token makes a key for a key gen or
 * an import (the p11_key_intent hook): list uri (named by item) in a
 * commit of its own, so that a process killed after the token made the
 * key and before the vault's commit leaves it to kmc repair. The
 * change's commit takes it off the list again (token_pending_on_commit).
 * Returns 0; KMC_E_LIMIT (the list is full), KMC_E_NOMEM, a store error:
 * then no key may be made.
 */
KMC_INTERNAL int token_pending_intent(kmc_vault *v, const char *uri,
	const char *item) KMC_MUST_CHECK;
/* After a key gen or import that did not commit: gone 1 when the key
   made was destroyed again (it leaves the list), 0 when it may be on the
   token (it stays for kmc repair). Nothing when no intent is open. */
KMC_INTERNAL void token_pending_intent_end(kmc_vault *v, int gone);

/* Remove the list whole (kmc repair, when it is damaged), in a commit of
   its own. Returns 0, a store error. */
KMC_INTERNAL int token_pending_clear(kmc_vault *v) KMC_MUST_CHECK;

#endif
