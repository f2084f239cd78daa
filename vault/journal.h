/*
 * journal.h - one change across the vault, the keys folder and a config
 * file, all or nothing, through an intent log in the item store.
 *
 *   1. journal_begin: log the files about to change, state STAGED.
 *   2. the caller stages every new file as DIR/.NAME.kmc-new (or a whole
 *      new folder as PARENT/.NAME.kmc-new), each written and fsynced; a
 *      JOURNAL_NEW_OWN file as DIR/.NAME.TAG.kmc-new, TAG 16 random hex
 *      digits the journal keeps: a folder no lock guards (kmc ca crl's
 *      --out, which two vaults may write at once) then holds no staged
 *      name another kmc's recovery or undo would remove.
 *   3. journal_commit: in ONE store transaction, the caller's item
 *      changes and the log set to COMMITTED. This is the commit point.
 *   4. journal_apply: rename every staged file over its target (or
 *      remove a target no longer wanted), fsync each folder, drop the log.
 *      A JOURNAL_NEW file is renamed without replacing (renameat2
 *      RENAME_NOREPLACE): a file that appeared at its name since the
 *      caller checked stays, and the staged file goes; journal_apply
 *      then says KMC_E_EXISTS (the change committed, that file not
 *      written), recovery nothing. Its folder gone (the staged file
 *      with it), there is nothing to put in place: KMC_E_NOT_FOUND,
 *      recovery nothing.
 *
 * A failure or a kill before 3 leaves the old state: the next writable
 * open (journal_recover) removes the staged files. After 3, recovery
 * finishes step 4, so the new state appears whole. Renames of a staged
 * file that is already gone are skipped, so recovery can run any number
 * of times.
 *
 * Log format (meta "journal"), bounded like every parser:
 *	version u8 (1; 2 when a kind 4 entry is in it; 3 when a kind 5
 *	entry is) | state u8 (1 staged, 2 committed) | n u8 (1..16)
 *	n × { kind u8 (1 file, 2 folder, 3 remove; 4 new file, version 2
 *	      or 3; 5 new file of its own staged name, version 3) | dir_len
 *	      u16 | dir (absolute) | name_len u8 | name (no '/', not "." or
 *	      "..") | kind 5 only: tag 8 bytes }
 * Version 2 exists so that a kmc that knows only 1 refuses a journal
 * with a kind 4 entry as a newer one (finish it with the newer kmc)
 * rather than replace a file the change must never write over; version
 * 3 so that one that knows only 2 refuses a journal whose staged name it
 * would not find (and so would neither put in place nor remove).
 */
#ifndef KMC_JOURNAL_H
#define KMC_JOURNAL_H

#include "vault.h"

#define JOURNAL_MAX_ENTRIES 16
#define JOURNAL_DIR_MAX 1024

typedef enum journal_kind {
	JOURNAL_FILE = 1,	/* DIR/.NAME.kmc-new replaces DIR/NAME */
	JOURNAL_FOLDER = 2,	/* DIR/.NAME.kmc-new becomes the folder */
	JOURNAL_REMOVE = 3,	/* DIR/NAME goes away */
	JOURNAL_NEW = 4,	/* as FILE, never over a DIR/NAME there */
	JOURNAL_NEW_OWN = 5,	/* as NEW, staged as DIR/.NAME.TAG.kmc-new */
} journal_kind;

#define JOURNAL_TAG_LEN 8

typedef struct journal_entry {
	journal_kind kind;
	char dir[JOURNAL_DIR_MAX + 1];
	char name[256];
	uint8_t tag[JOURNAL_TAG_LEN];	/* JOURNAL_NEW_OWN: random */
} journal_entry;

typedef struct journal {
	size_t n;
	journal_entry e[JOURNAL_MAX_ENTRIES];
} journal;

/* A stored journal (meta "journal") of a higher version than this kmc
   reads: a change a newer kmcvault made, which recovery refuses. */
KMC_INTERNAL int journal_is_newer(const uint8_t *raw, size_t len);

/* The staged name of an entry: ".NAME.kmc-new" (".NAME.TAG.kmc-new" for
   JOURNAL_NEW_OWN). journal_add() gives a JOURNAL_NEW_OWN entry a random
   tag. */
KMC_INTERNAL int journal_staged_name(const journal_entry *e, char *buf,
	size_t size) KMC_MUST_CHECK;
KMC_INTERNAL int journal_add(journal *j, journal_kind kind, const char *dir,
	const char *name) KMC_MUST_CHECK;

KMC_INTERNAL int journal_begin(kmc_vault *v, const journal *j)
	KMC_MUST_CHECK;
/* Set the log to COMMITTED inside the caller's transaction. */
KMC_INTERNAL int journal_mark_committed(store_txn *t, const journal *j)
	KMC_MUST_CHECK;
/* Returns 0, KMC_E_EXISTS (every entry done, the log dropped, but a
   JOURNAL_NEW target existed: detail names it), KMC_E_NOT_FOUND (the
   same, but a JOURNAL_NEW target's folder was gone), or the failure of
   a step (the log stays for recovery). */
KMC_INTERNAL int journal_apply(kmc_vault *v, const journal *j)
	KMC_MUST_CHECK;
/* Undo staging after a failure before the commit point. */
KMC_INTERNAL void journal_abort(kmc_vault *v, const journal *j);
/* The same, but the staged files are left where they are: for a caller
   that staged none of them (their names were another's). */
KMC_INTERNAL void journal_forget(kmc_vault *v);
/* At a writable open: finish or undo what a killed process left. */
KMC_INTERNAL int journal_recover(kmc_vault *v) KMC_MUST_CHECK;

/* Parsing and encoding, exposed for tests and fuzzing. */
KMC_INTERNAL int journal_parse(const uint8_t *p, size_t len, int *ret_state,
	journal *ret) KMC_MUST_CHECK;
KMC_INTERNAL int journal_encode(const journal *j, int state, uint8_t **ret,
	size_t *ret_len) KMC_MUST_CHECK;

#endif
