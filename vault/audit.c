/*
 * audit.c - the handle's side of the audit log: its key, the name of the
 * call under way, a change's records (audit_change(), which the store's
 * commit hook and the keystore writes call), the reads of secrets (first
 * read recorded, the rest counted for the close; to syslog when the log
 * may not be written). auditwrite.c appends, auditread.c reads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include "audit.h"
#include "bind.h"
#include "../kmc/crypto.h"

/* ---- the handle's side ------------------------------------------------- */
int audit_attach(kmc_vault *v)
{
	struct audit_state *a;

	a = calloc(1, sizeof(*a));
	KMC_ENSURE(a, KMC_E_NOMEM);
	a->fd = -1;
	v->audit = a;
	if (!v->rk)
		return 0;
	KMC_GUARD(audit_derive_key(v->rk, &a->key));
	/* A log that cannot be written fails the changes, not the open. */
	if ((v->flags & KMC_OPEN_WRITE) && audit_finish_cut(v) < 0)
		kmc_detail_clear();
	return 0;
}

const uint8_t *audit_key(const kmc_vault *v)
{
	return v->audit && v->audit->key ? kmc_secret_data(v->audit->key) :
		NULL;
}

void audit_op(kmc_vault *v, const char *op)
{
	if (v && v->audit)
		v->audit->op = op;
}

audit_scope audit_scope_begin(kmc_vault *v, const char *op)
{
	audit_scope s = { v, NULL };

	if (v && v->audit) {
		s.prev = v->audit->op;
		if (!s.prev)
			v->audit->op = op;
	}
	return s;
}

void audit_bench_set(kmc_vault *v, int on)
{
	if (v->audit)
		v->audit->off = !on;
}

int audit_change(kmc_vault *v, const audit_rec *rec)
{
	audit_rec r = *rec;

	if (!v->audit || v->audit->off)
		return 0;
	if (!v->audit->key)
		return kmc_detail(KMC_E_AUDIT, "%s/" AUDIT_NAME ": this handle "
			"cannot sign records; nothing changed", v->dir);
	if (!r.op)
		r.op = v->audit->op;
	if (r.result && strcmp(r.result, "pending") == 0) {
		uint8_t bound[AUDIT_HASH_LEN];

		if (bind_audit_head(v, &r.bound_seq, bound) < 0)
			r.bound_seq = 0;
		r.bound_hash = bound;
		return audit_append(v, &r, &v->audit->pending);
	}
	if (!r.of)
		r.of = v->audit->pending;
	v->audit->pending = 0;
	/* An outcome needs no sync of its own: lost in a crash, the next
	   writable open writes it again from the store's generation, and the
	   next record's sync takes it to disk. */
	r.no_sync = 1;
	return audit_append(v, &r, NULL);
}

int audit_restore(int dirfd, const char *dir, const kmc_secret *key,
	uint64_t ks_gen, int outcome, uint64_t *pending)
{
	/* No kept log (fd -1): a zero there was the caller's descriptor 0,
	   which the append closed as another process's. */
	struct audit_state a = { .key = (kmc_secret *)key, .fd = -1 };
	kmc_vault tv;
	int r;
	/* Not "(keystore)": whether a cut-off restore was made is no
	   matter of the keystore's generation (an older one comes back). */
	audit_item it = { .name = "(restored keystore)",
		.version = (uint32_t)ks_gen };
	audit_rec rec = { .op = "kmc_vault_restore", .items = &it,
		.n_items = 1, .result = "pending", .through = -1, .torn = -1 };
	char buf[128];

	memset(&tv, 0, sizeof(tv));
	tv.dir = (char *)dir;
	tv.dirfd = dirfd;
	tv.audit = &a;
	if (outcome == 0) {
		uint8_t bound[AUDIT_HASH_LEN];
		uint64_t bseq;
		char gap[160], res[200];
		audit_rec note = { .op = "kmc_vault_restore", .result = res,
			.through = -1, .torn = -1 };

		/* A log that lost the record the vault's binding vouches for
		   is taken as it is (as kmc repair --accept-rollback does),
		   and said so first: the restore binds the vault anew. */
		r = 0;
		if (bind_peek_audit(dirfd, &bseq, bound) == 0 &&
		    audit_bound_gap_of(&tv, bseq, bound, gap, sizeof(gap))) {
			snprintf(res, sizeof(res), "accepted: %s", gap);
			r = audit_append(&tv, &note, NULL);
		}
		if (r == 0)
			r = audit_append(&tv, &rec, pending);
	} else {
		snprintf(buf, sizeof(buf), "%s", outcome < 0 ?
			kmc_strerror(outcome) : "ok");
		rec.result = buf;
		rec.of = *pending;
		rec.no_sync = 1;
		r = audit_append(&tv, &rec, NULL);
	}
	audit_log_forget(&a);	/* the log kept open: a's only */
	return r;
}

void audit_repaired(kmc_vault *v, unsigned which)
{
	audit_item it[2];
	audit_rec rec = { .op = "open (rewriting a keystore from its twin)",
		.items = it, .result = "ok", .through = -1, .torn = -1 };

	if (which & 1)
		it[rec.n_items++] = (audit_item){ .name = "kmc.ks",
			.version = (uint32_t)v->ks->generation };
	if (which & 2)
		it[rec.n_items++] = (audit_item){ .name = "StandbyKsf.ks",
			.version = (uint32_t)v->ks->generation };
	audit_change_after(v, &rec);
}

void audit_change_after(kmc_vault *v, const audit_rec *rec)
{
	const char *d = kmc_error_detail();
	char saved[512];

	snprintf(saved, sizeof(saved), "%s", d ? d : "");
	if (audit_change(v, rec) < 0) {
		/* The change is made or not; the next writable open says so. */
		kmc_detail_clear();
		if (saved[0])
			kmc_detail(0, "%s", saved);
	}
}

int audit_keystore(kmc_vault *v, int phase, uint64_t ks_gen, int r)
{
	char buf[256];
	audit_item it = { .name = "(keystore)", .version = (uint32_t)ks_gen };
	audit_rec rec = { .items = &it, .n_items = 1, .through = -1,
		.torn = -1 };

	if (phase == 0) {
		rec.result = "pending";
		return audit_change(v, &rec);
	}
	snprintf(buf, sizeof(buf), "%s", r < 0 ? kmc_strerror(r) : "ok");
	rec.result = buf;
	audit_change_after(v, &rec);
	return 0;
}

static void read_syslog(kmc_vault *v, const char *name, uint32_t version,
	uint64_t reads)
{
	struct audit_state *a = v->audit;

	syslog(LOG_AUTHPRIV | LOG_INFO, "kmcvault audit: vault=%s uid=%u "
		"user=%s pid=%ld op=%s item=%s version=%" PRIu32 " reads=%"
		PRIu64, v->dir, (unsigned)getuid(), audit_user_name(a),
		(long)getpid(), a->op ? a->op : "kmc_item_get", name, version,
		reads);
}

static void read_record(kmc_vault *v, const char *name, uint32_t version,
	uint64_t reads)
{
	struct audit_state *a = v->audit;
	audit_item it = { .name = name, .version = version, .reads = reads };
	/* Not synced: a killed process loses nothing (the kernel has the
	   bytes), a power cut may lose the last reads' records; a read's
	   sync would cost a server's start-up a disk flush per key. */
	audit_rec rec = { .op = a->op ? a->op : "kmc_item_get", .items = &it,
		.n_items = 1, .result = "ok", .through = -1, .torn = -1,
		.no_sync = 1 };
	const char *keep = kmc_error_detail();
	char saved[512];

	snprintf(saved, sizeof(saved), "%s", keep ? keep : "");
	/* Without the key, or when the log may not be written: syslog. */
	if (!a->key || audit_append(v, &rec, NULL) < 0)
		read_syslog(v, name, version, reads);
	kmc_detail_clear();
	if (saved[0])
		kmc_detail(0, "%s", saved);
}

/*
 * The calls that hand a secret out (or use a key for the caller, as a
 * CSR's signature does). A change that reads secrets on its way (mk
 * rewrap decrypting strings to seal them again, mk retire checking
 * them, an import reading the password it replaces) hands nothing out:
 * its own records say what it did.
 */
static int hands_out(const char *op)
{
	static const char *const ops[] = { "kmc_item_get",
		"kmc_item_get_version", "kmc_key_load", "kmc_ssl_ctx_use_ex",
		"kmc_export", "kmc_trust_export", "kmc_key_export",
		"kmc_string_decrypt", "kmc_csr_make" };

	if (!op)
		return 1;
	for (size_t i = 0; i < ELEMENTSOF(ops); i++)
		if (strcmp(op, ops[i]) == 0)
			return 1;
	return 0;
}

/* FNV-1a of the name and version: it only spreads the index. */
static uint64_t seen_hash(const char *name, uint32_t version)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	return (h ^ version) * 0x100000001b3ull;
}

static uint16_t seen_count(const char *e)
{
	uint16_t x;

	memcpy(&x, e, sizeof(x));
	return x;
}

static void seen_count_set(char *e, uint16_t x)
{
	memcpy(e, &x, sizeof(x));
}

const char *audit_seen_entry(const char *e, uint32_t *ret_version)
{
	const uint8_t *p = (const uint8_t *)e + AUDIT_SEEN_COUNT;
	uint32_t v = 0;

	/* Written by seen_add(): at most 5 bytes. */
	for (unsigned shift = 0;; shift += 7) {
		v |= (uint32_t)(*p & 0x7f) << shift;
		if (!(*p++ & 0x80))
			break;
	}
	*ret_version = v;
	return (const char *)p;
}

/* The index slot of (name, version): its entry's, or the empty one it
   would take. The index is never full (three quarters at most). */
static uint32_t *seen_slot(struct audit_state *a, const char *name,
	uint32_t version)
{
	size_t mask = a->index_cap - 1;

	for (size_t i = seen_hash(name, version) & mask;; i = (i + 1) & mask) {
		uint32_t e = a->index[i], ev;
		const char *en;

		if (e == 0)
			return &a->index[i];
		en = audit_seen_entry(a->seen + e - 1, &ev);
		if (ev == version && strcmp(en, name) == 0)
			return &a->index[i];
	}
}

/* Room for one more entry of a name of n bytes; 0 or -1. */
static int seen_grow(struct audit_state *a, size_t n)
{
	size_t need = a->seen_len + AUDIT_SEEN_COUNT + 5 + n + 1;

	/* An offset + 1 fits the index's 32 bits. */
	if (need < n || need >= UINT32_MAX)
		return -1;
	if (need > a->seen_cap) {
		size_t cap = a->seen_cap ? a->seen_cap : 256;
		char *p;

		while (cap < need)
			cap *= 2;
		if (!(p = realloc(a->seen, cap)))
			return -1;
		a->seen = p;
		a->seen_cap = cap;
	}
	/* Three quarters full at most: a probe or two more a read than at
	   half, and half the slots: a server that loads 10,000 keys keeps
	   16,384 (64 KiB) rather than 32,768 (128 KiB, all of it touched)
	   for the handle's life (docs/performance.md, row boot10k). */
	if (4 * (a->n_seen + 1) > 3 * a->index_cap) {
		size_t cap = a->index_cap ? 2 * a->index_cap : 16;
		uint32_t *old = a->index, *p = calloc(cap, sizeof(*p));
		size_t old_cap = a->index_cap;

		if (!p)
			return -1;
		a->index = p;
		a->index_cap = cap;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i]) {
				uint32_t ev;
				const char *en = audit_seen_entry(a->seen +
					old[i] - 1, &ev);

				*seen_slot(a, en, ev) = old[i];
			}
		free(old);
	}
	return 0;
}

/* A new entry at the buffer's end (seen_grow made room); its length. */
static size_t seen_add(char *e, const char *name, size_t n, uint32_t version)
{
	uint8_t *p = (uint8_t *)e + AUDIT_SEEN_COUNT;

	seen_count_set(e, 0);
	for (; version >= 0x80; version >>= 7)
		*p++ = (uint8_t)(version | 0x80);
	*p++ = (uint8_t)version;
	memcpy(p, name, n + 1);
	return (size_t)((char *)p - e) + n + 1;
}

void audit_read(kmc_vault *v, const char *name, uint32_t version)
{
	struct audit_state *a = v->audit;
	size_t n = strlen(name);
	uint32_t *slot;
	char *e;

	if (!a || a->off || !hands_out(a->op))
		return;
	if (a->index_cap) {
		slot = seen_slot(a, name, version);
		if (*slot) {
			uint16_t reads;

			e = a->seen + *slot - 1;
			reads = (uint16_t)(seen_count(e) + 1);
			/* The count is 16 bits: a full one is recorded now
			   and counted again from zero (a record a 65,535
			   reads of one item). */
			if (reads == UINT16_MAX) {
				read_record(v, name, version, reads);
				reads = 0;
			}
			seen_count_set(e, reads);
			return;
		}
	}
	/* Not counted when there is no room: each read is then recorded
	   at once, as a first read is. */
	if (seen_grow(a, n) < 0)
		goto record;
	slot = seen_slot(a, name, version);
	*slot = (uint32_t)a->seen_len + 1;
	a->seen_len += seen_add(a->seen + a->seen_len, name, n, version);
	a->n_seen++;
record:
	read_record(v, name, version, 0);
}

void audit_detach(kmc_vault *v)
{
	struct audit_state *a = v->audit;

	if (!a)
		return;
	for (size_t off = 0; off < a->seen_len;) {
		const char *e = a->seen + off, *name;
		uint32_t version;

		name = audit_seen_entry(e, &version);
		a->op = "reads counted at the close";
		if (seen_count(e) && !a->off)
			read_record(v, name, version, seen_count(e));
		off = (size_t)(name - a->seen) + strlen(name) + 1;
	}
	free(a->seen);
	free(a->index);
	audit_log_forget(a);
	kmc_secret_free(a->key);
	free(a);
	v->audit = NULL;
}
