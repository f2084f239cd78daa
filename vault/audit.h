/*
 * audit.h - the audit log, audit.log in the vault folder: vault/audit.c
 * is the handle's side (changes, reads, syslog), auditcommit.c the store
 * commit hook's part, auditwrite.c appends, auditread.c reads and
 * verifies, auditbound.c finds the record kmc.bind vouches for before a
 * change is recorded; docs/format.md has the record and chain formats.
 *
 * One record a line of JSON, each with the hash of the line before
 * ("prev") and a MAC under a key derived from the root key ("mac"), so a
 * record deleted, edited, reordered or truncated breaks the chain that
 * kmc audit verify walks. The file is bounded: a full audit.log becomes
 * the segment audit-<first seq, 20 digits>.log and a new audit.log goes
 * on from the last head; at most AUDIT_SEGMENTS_KEPT segments are kept,
 * and the removal of the oldest is itself recorded first.
 */
#ifndef KMC_AUDIT_H
#define KMC_AUDIT_H

#include <stdint.h>
#include <time.h>
#include <sys/types.h>
#include <sys/stat.h>
#include "vault.h"

#define AUDIT_NAME "audit.log"
#define AUDIT_FORMAT_VERSION 1
/* A segment is rotated once it holds this many bytes (so it ends at most
   one record, AUDIT_LINE_MAX, past it). */
#define AUDIT_SEGMENT_MAX (4u * 1024 * 1024)
/* Rotated segments kept beside audit.log (the oldest goes first). */
#define AUDIT_SEGMENTS_KEPT 8
/* One record's line, newline included: longer is damage. */
#define AUDIT_LINE_MAX 8192
/* Items named in one record; a larger change says how many more. */
#define AUDIT_ITEMS_MAX 32
#define AUDIT_HASH_LEN 32

typedef struct audit_item {
	const char *name;
	uint32_t version;
	uint64_t reads;		/* 0: not a read count */
	int removed;		/* the item is gone after the change */
} audit_item;

/* One record's fields as a change or a read hands them in. */
typedef struct audit_rec {
	const char *op;
	const audit_item *items;
	size_t n_items;
	size_t more_items;	/* items beyond n_items, only counted */
	uint64_t gen;		/* the store generation a change makes, or 0 */
	const char *result;	/* "ok", "pending" or the error text */
	int64_t through;	/* segment removal: its last seq, else -1 */
	int64_t torn;		/* a torn record's bytes closed off, else -1 */
	uint64_t of;		/* an outcome: its "pending" record's seq */
	int no_sync;		/* written without fdatasync (an outcome) */
	/* A change's pending record: the head kmc.bind vouches for (0: no
	   binding). A log that ends before it lost records from its end, or
	   was put back from an older copy: the record is refused rather
	   than written on that head, where the next binding would vouch for
	   the shortened chain and verify would pass again. */
	uint64_t bound_seq;
	const uint8_t *bound_hash;
} audit_rec;

/*
 * audit_attach - at the open, once the root key is known: derive the
 * log's key and, for a writable handle, finish the record of a change
 * that a crash cut off between its two records. audit_detach - at the
 * close: write the read counts (see audit_read()), wipe the key.
 * Returns 0 or KMC_E_AUDIT (writable handles only: the log cannot be
 * written), KMC_E_NOMEM.
 */
KMC_INTERNAL int audit_attach(kmc_vault *v) KMC_MUST_CHECK;
KMC_INTERNAL void audit_detach(kmc_vault *v);

/* A new vault's audit.log (init builds it aside): its first record,
   op, signed with the new root key. Returns 0 or -errno. */
KMC_INTERNAL int audit_first(int dirfd, const kmc_secret *rk,
	const char *op) KMC_MUST_CHECK;

/* The name of the API call or command under way on v ("password set"),
   which the next records carry; a static string. */
KMC_INTERNAL void audit_op(kmc_vault *v, const char *op);

/*
 * AUDIT_OP(v, "kmc_import") at the top of a public function: the records
 * of its changes and reads name it. The outermost call wins (kmc_key_load
 * reads through kmc_item_get and is recorded as kmc_key_load), and the
 * name is taken back when the function returns.
 */
typedef struct audit_scope {
	kmc_vault *v;
	const char *prev;
} audit_scope;
KMC_INTERNAL audit_scope audit_scope_begin(kmc_vault *v, const char *op);
static inline void audit_scope_end(audit_scope *s)
{
	audit_op(s->v, s->prev);
}
#define AUDIT_OP(v, op) \
	_cleanup_(audit_scope_end) KMC_UNUSED audit_scope _audit_scope = \
		audit_scope_begin((v), (op))

/*
 * audit_change - append a change's record (result "pending" before it
 * is made, then "ok" or the error after). Returns 0; KMC_E_AUDIT with a
 * detail naming audit.log and the cause: the change must not be made.
 */
KMC_INTERNAL int audit_change(kmc_vault *v, const audit_rec *rec)
	KMC_MUST_CHECK;

/* The record after a change is made (or not): a failure to write it
   is left for the next writable open, and the error detail kept. */
KMC_INTERNAL void audit_change_after(kmc_vault *v, const audit_rec *rec);

/* kmc_vault_restore's records in the vault folder dirfd (dir), under
   key (the restored vault's audit key): outcome 0 the pending record
   before the commit point (its seq into *pending; a failure refuses the
   restore), then 1 (made) or the error. */
KMC_INTERNAL int audit_restore(int dirfd, const char *dir,
	const kmc_secret *key, uint64_t ks_gen, int outcome, uint64_t *pending);

/* The open rewrote kmc.ks (bit 0) or StandbyKsf.ks (bit 1) from the
   other: one record, best effort. */
KMC_INTERNAL void audit_repaired(kmc_vault *v, unsigned which);

/* The store's commit hook's part (auditcommit.c; interfaces: the vault's
   one hook calls it first). */
KMC_INTERNAL int audit_on_commit(kmc_vault *v, store_phase phase,
	const store_change *c) KMC_MUST_CHECK;

/*
 * audit_read - the handle read a secret (item name, version): the first
 * read of an item by a handle is recorded at once, further reads are
 * counted and recorded at the close. Recorded in audit.log when the
 * handle may write it, else through syslog (LOG_AUTHPRIV). Never fails
 * the read.
 */
KMC_INTERNAL void audit_read(kmc_vault *v, const char *name,
	uint32_t version);

/*
 * audit_head - the sequence number and hash of the log's last record;
 * 0 and 32 zero bytes when the vault has no audit log yet.
 * Returns 0; KMC_E_AUDIT (the log is unsafe or its tail damaged).
 */
KMC_INTERNAL int audit_head(kmc_vault *v, uint64_t *ret_seq,
	uint8_t ret_hash[AUDIT_HASH_LEN]) KMC_MUST_CHECK;

/*
 * audit_bound_gap - what kmc repair --accept-rollback accepts of the
 * audit log: a log that ends before the record kmc.bind vouches for (the
 * changes' pending records are refused on it). Fills out ("" when the
 * log reaches the bound head, or there is none) and returns its length.
 */
KMC_INTERNAL size_t audit_bound_gap(kmc_vault *v, char *out, size_t size);
/* The same for the record (bseq, bound) a binding read otherwise names
   (a restore, before the vault's kmc.bind is replaced). */
KMC_INTERNAL size_t audit_bound_gap_of(kmc_vault *v, uint64_t bseq,
	const uint8_t bound[AUDIT_HASH_LEN], char *out, size_t size);

/* The keystore changes (vault_ks_commit): before (phase 0; a failure
   stops the change) and after (phase 1, r its result). */
KMC_INTERNAL int audit_keystore(kmc_vault *v, int phase, uint64_t ks_gen,
	int r);

/* The records' MAC key, NULL when the handle has none. */
KMC_INTERNAL const uint8_t *audit_key(const kmc_vault *v);

/* For the rotation test only (tests/e2e/audit_fill.c): segments of at
   most max bytes in this process (0: AUDIT_SEGMENT_MAX again). */
KMC_INTERNAL void audit_test_segment_max(size_t max);

/* For tools/bench only (not exported): auditing off or on for v. */
KMC_INTERNAL void audit_bench_set(kmc_vault *v, int on);

/* ---- shared by audit.c and auditwrite.c ------------------------------- */

/* What a handle keeps for the log: each item version it read, in one
   buffer of entries (the reads after the first, for the close, 16-bit in
   host order; the version, 7 bits a byte, low first, the top bit set on
   all but the last; the name and its NUL), found through an
   open-addressed index of offsets, so that a server reading ten thousand
   keys neither scans its list at each read nor allocates a name each,
   and keeps 14 bytes a key of 10-byte names. */
#define AUDIT_SEEN_COUNT 2
/* The entry at e: its version in *ret_version, and its name. */
KMC_INTERNAL const char *audit_seen_entry(const char *e,
	uint32_t *ret_version);

struct audit_state {
	kmc_secret *key;	/* BLAKE2b key of the records' MACs */
	const char *op;
	uint64_t pending;	/* the seq of this handle's "pending" record */
	int off;		/* the benchmark's "without" */
	size_t n_seen;
	char *seen;		/* the entries, above */
	size_t seen_len, seen_cap;
	uint32_t *index;	/* entry's offset + 1 by hash; 0 empty; a
				   power of 2 */
	size_t index_cap;
	char user[64];
	/* audit.log as this handle last left it, kept open (unlocked) so
	   that the next append need not open it and read its tail again:
	   used only by the process that opened it (pid), for the same file
	   (dev, ino), of the size it left (nobody appended since). fd -1:
	   none. */
	int fd;
	pid_t pid;
	dev_t dev;
	ino_t ino;
	off_t size;
	uint64_t seq, first;
	uint8_t hash[AUDIT_HASH_LEN];
};
/* The kept audit.log closed (a handle's close, a write that failed). */
KMC_INTERNAL void audit_log_forget(struct audit_state *a);

/* Append rec (closing off a torn last line and rotating first when
   needed) under the log's lock; *ret_seq (may be NULL) gets its seq.
   Returns 0 or KMC_E_AUDIT with a detail. */
KMC_INTERNAL int audit_append(kmc_vault *v, const audit_rec *rec,
	uint64_t *ret_seq) KMC_MUST_CHECK;
/* auditbound.c: before a change's pending record (rec->bound_seq set),
   under the log's lock: the record kmc.bind vouches for must be in the
   log whose audit.log is fd (size bytes) and whose head is head_seq,
   head_hash. Returns 0 or KMC_E_AUDIT with a detail naming audit.log. */
KMC_INTERNAL int audit_bound_require(kmc_vault *v, int fd, off_t size,
	uint64_t head_seq, const uint8_t head_hash[AUDIT_HASH_LEN],
	const audit_rec *rec) KMC_MUST_CHECK;
/* audit_finish_cut()'s look past the part of audit.log (fd, size bytes)
   it read, which starts at seq window_first: when the record kmc.bind
   vouches for (the last change's pending one) is older, every record
   from it to the end is read, and the last pending record no later one
   names in "of" goes into line (line_size at least AUDIT_LINE_MAX), its
   length into *ret_len (0: none). Returns 0, or -1 when the part read is
   all there is to look at (no binding, or its record in that part). */
KMC_INTERNAL int audit_bound_unfinished(kmc_vault *v, int fd, off_t size,
	uint64_t window_first, char *line, size_t line_size, size_t *ret_len);
/* kmc status, without a key: 1 when the log in dirfd (dir) holds
   another record, or none, where kmc.bind's (bound_seq, bound_hash) was;
   0 when it holds it, or it went with a removed segment, or cannot say
   (the walk of the log names why); KMC_E_NOMEM when memory ran out. */
KMC_INTERNAL int audit_bound_absent(int dirfd, const char *dir,
	uint64_t bound_seq, const uint8_t bound_hash[AUDIT_HASH_LEN])
	KMC_MUST_CHECK;
/* A writable open: the outcome of a change cut off between its records. */
KMC_INTERNAL int audit_finish_cut(kmc_vault *v) KMC_MUST_CHECK;
/* The records' MAC key from the root key (context "kmcaudt"). */
KMC_INTERNAL int audit_derive_key(const kmc_secret *rk, kmc_secret **ret)
	KMC_MUST_CHECK;
/* The user's name for records (cached in a), never a failure. */
KMC_INTERNAL const char *audit_user_name(struct audit_state *a);
/* t as a record's "time", RFC 3339 in UTC ("2026-12-07T02:54:51Z"),
   without reading the time zone; before 1970 as 1970-01-01T00:00:00Z. */
KMC_INTERNAL void audit_time_format(time_t t, char out[32]);

/* ---- auditread.c: the log as lines ---------------------------------- */

/* One parsed line (pointers into the caller's buffers). */
typedef struct audit_line {
	uint64_t seq;
	const char *text;	/* the line, without its newline */
	size_t len;
	uint8_t prev[AUDIT_HASH_LEN];
	uint8_t mac[AUDIT_HASH_LEN];
	size_t mac_at;		/* the MAC covers text[0..mac_at) */
} audit_line;

/* Parse the fixed frame of a record line: {"v":1,"seq":N, ... ,"prev":
   "<hex>","mac":"<hex>"}. Returns 0, KMC_E_VERSION (a line that starts
   {"v":N, with N above AUDIT_FORMAT_VERSION, of any length: a newer
   kmcvault wrote it) or KMC_E_CORRUPT. */
KMC_INTERNAL int audit_line_parse(const char *text, size_t len,
	audit_line *ret) KMC_MUST_CHECK;
/* A JSON number at p (no sign, no leading zero, at most 20 digits, below
   2^64); *ret_end (may be NULL) past it. 0 or KMC_E_CORRUPT. */
KMC_INTERNAL int audit_parse_u64(const char *p, const char *end,
	uint64_t *ret, const char **ret_end) KMC_MUST_CHECK;
/* A JSON string at p (its opening quote) into out (size bytes, NUL
   ended), with the escapes the writer makes; *ret_end past its closing
   quote. 0, KMC_E_TOO_LARGE or KMC_E_CORRUPT. */
KMC_INTERNAL int audit_json_string(const char *p, const char *end, char *out,
	size_t size, const char **ret_end) KMC_MUST_CHECK;
/* The N of a line that starts {"v":N, : 0 or KMC_E_CORRUPT. */
KMC_INTERNAL int audit_line_version(const char *text, size_t len,
	uint64_t *ret) KMC_MUST_CHECK;
/* The number after "key": at the top level of a record; KMC_E_NOT_FOUND. */
KMC_INTERNAL int audit_line_u64(const char *text, size_t len,
	const char *key, uint64_t *ret) KMC_MUST_CHECK;
/* The string after "key": at the top level, decoded; KMC_E_NOT_FOUND. */
KMC_INTERNAL int audit_line_str(const char *text, size_t len,
	const char *key, char *out, size_t size) KMC_MUST_CHECK;

/* Open dirfd's name (audit.log or a segment) with the vault's checks:
   no link, regular, the user's, no group or other bits, one link.
   Returns the fd, -ENOENT, or KMC_E_AUDIT with a detail. */
KMC_INTERNAL int audit_open_file(int dirfd, const char *dir,
	const char *name, int flags, struct stat *ret_st) KMC_MUST_CHECK;
/* The segments in dirfd, oldest first: their first seqs, *ret_n of
   them (at most max). */
KMC_INTERNAL int audit_segments(int dirfd, uint64_t *firsts, size_t max,
	size_t *ret_n) KMC_MUST_CHECK;
KMC_INTERNAL void audit_segment_name(uint64_t first, char *buf,
	size_t size);

#endif
