/*
 * bind.c - kmc.bind: what the vault last was, under the root key, so that
 * an item store, keystores or a whole folder put back from an older copy
 * are refused (format in bind.h and docs/format.md).
 *
 * Why a file of its own and not a field of the keystores: the keystores
 * hold the root of the vault and are rewritten rarely; writing both on
 * every item change would double the writes of every change and put the
 * vault's root at risk each time. The keystores stay the root of trust:
 * the binding is MAC'd under a subkey of their root key and names their
 * generation and digest.
 *
 * Open is O(1): one small file, the store's meta, and the state file
 * beside the host key or the counter object on the token (bindplace.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include "vault.h"
#include "bind.h"
#include "audit.h"
#include "../safeio/fileio.h"

enum { BIND_TODO_NONE, BIND_TODO_SETTLE, BIND_TODO_REBIND };

struct vault_bind {
	kmc_secret *key;	/* the "kmcbind" subkey of the root key */
	bind_state b;		/* as last read or written */
	int have;		/* kmc.bind exists and held */
	bind_place place;	/* where the opener's protector moves forward */
	uint8_t ks_digest[32];	/* of the keystore that opened */
	uint64_t place_gen;	/* what the place held at the open */
	kmc_secret *pin;	/* the token's PIN as given at the open */
	int todo;		/* for bind_settle(): BIND_TODO_* */
	char *show;		/* DIR/kmc.bind */
	/* What --accept-rollback accepted (the refusal's detail), or that
	   an older vault got its first binding: for the audit record. */
	char accepted[600];
	int first;	/* an older kmc's vault, bound for the first time */
};

static const kmc_file_rule bind_rule = {
	.forbidden = 077,
	.max_size = 4096,
	.allow_root_owner = 0,
};

int bind_store_root(store *st, uint64_t *ret_gen, uint8_t root[32])
{
	return store_root_read(st, ret_gen, root);
}

/* The store as it is: its generation and the root of its tree. */
static int store_now(kmc_vault *v, uint64_t *ret_gen, uint8_t root[32])
{
	return bind_store_root(&v->st, ret_gen, root);
}

static int bind_key(const kmc_secret *rk, int ro, kmc_secret **ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *key = NULL;

	KMC_GUARD(kmc_secret_new(KMC_KEY_LEN, &key));
	KMC_GUARD(kmc_subkey(kmc_secret_data(key), kmc_secret_data(rk), 3,
		"kmcbind"));
	if (ro)
		KMC_GUARD(kmc_secret_readonly(key));
	*ret = TAKE_PTR(key);
	return 0;
}

int bind_init(int dirfd, store *st, const uint8_t vault_id[KS_VAULT_ID_LEN],
	uint64_t ks_gen, const uint8_t *raw, size_t len, const kmc_secret *rk)
{
	_cleanup_(kmc_secret_freep) kmc_secret *key = NULL;
	uint8_t file[BIND_FILE_LEN];
	bind_state b;

	memset(&b, 0, sizeof(b));
	memcpy(b.vault_id, vault_id, KS_VAULT_ID_LEN);
	b.ks_gen = ks_gen;
	kmc_hash(b.ks_digest, raw, len);
	KMC_GUARD(bind_store_root(st, &b.gen, b.root));
	KMC_GUARD(bind_key(rk, 1, &key));
	bind_serialize(&b, kmc_secret_data(key), file);
	return kmc_write_atomic(dirfd, BIND_NAME, file, sizeof(file), 0600, 1);
}

static int bind_write(kmc_vault *v, const bind_state *b)
{
	uint8_t raw[BIND_FILE_LEN];
	int r;

	bind_serialize(b, kmc_secret_data(v->bind->key), raw);
	r = kmc_write_atomic(v->dirfd, BIND_NAME, raw, sizeof(raw), 0600, 0);
	if (r < 0)
		return kmc_detail(r, "writing %s: %s", v->bind->show,
			kmc_strerror(r));
	v->bind->b = *b;
	v->bind->have = 1;
	return 0;
}

/* Read and check kmc.bind into *ret: -ENOENT when there is none. */
static int bind_read(kmc_vault *v, bind_state *ret)
{
	_cleanup_(freep) uint8_t *raw = NULL;
	bind_state b;
	size_t len;
	uint16_t version;
	int r;

	r = kmc_read_checked(v->dirfd, BIND_NAME, v->bind->show, &bind_rule,
		&raw, &len);
	if (r == -ENOENT)
		return r;
	if (r == KMC_E_TOO_LARGE && bind_head_version(v->dirfd, BIND_NAME,
	    &bind_rule, BIND_MAGIC, &version) == 0 &&
	    version > BIND_FORMAT_VERSION)
		return kmc_detail(KMC_E_VERSION, "%s has format %u, and this kmc "
			"reads format %u only: a newer kmcvault wrote it",
			v->bind->show, (unsigned)version, BIND_FORMAT_VERSION);
	if (r == KMC_E_TOO_LARGE)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged: more than %d "
			"bytes", v->bind->show, BIND_FILE_LEN);
	if (r < 0) {
		if (!kmc_error_detail()[0])
			kmc_detail(r, "%s: %s", v->bind->show, kmc_strerror(r));
		return r;
	}
	r = bind_parse(raw, len, &b);
	if (r == KMC_E_VERSION)
		return kmc_detail(r, "%s has format %u, and this kmc reads "
			"format %u only: a newer kmcvault wrote it",
			v->bind->show, (unsigned)(raw[8] << 8 | raw[9]),
			BIND_FORMAT_VERSION);
	if (r < 0)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged (%zu bytes, or "
			"not a binding); kmc repair --accept-rollback binds the "
			"vault again", v->bind->show, len);
	if (memcmp(b.vault_id, v->ks->vault_id, KS_VAULT_ID_LEN) != 0)
		return kmc_detail(KMC_E_ROLLBACK, "%s belongs to another vault; "
			"kmc repair --accept-rollback binds this one again",
			v->bind->show);
	if (bind_verify_mac(raw, len, kmc_secret_data(v->bind->key)) < 0)
		return kmc_detail(KMC_E_CORRUPT, "%s fails its MAC: it was "
			"altered; kmc repair --accept-rollback binds the vault "
			"again", v->bind->show);
	*ret = b;
	return 0;
}

static const char *older(uint64_t have, uint64_t want)
{
	return have < want ? "put back from an older copy" :
		"newer than the binding, which was put back from an older copy";
}

/* The keystore that won against the binding. */
static int check_ks(kmc_vault *v, const bind_state *b, const uint8_t *raw,
	size_t len)
{
	uint64_t g = v->ks->generation;
	uint8_t d[32];

	kmc_hash(d, raw, len);
	if (g == b->ks_gen && kmc_memcmp(d, b->ks_digest, 32) == 0)
		return 0;
	if ((b->flags & BIND_FLAG_KS_NEXT) && g == b->ks_next_gen &&
	    kmc_memcmp(d, b->ks_next_digest, 32) == 0)
		return 0;
	if (g == b->ks_gen)
		return kmc_detail(KMC_E_ROLLBACK, "%s/" KS_MASTER_NAME " is at "
			"generation %" PRIu64 " as %s vouches for, but is not "
			"the keystore it names: the keystores were replaced; kmc "
			"repair --accept-rollback accepts a deliberate restore",
			v->dir, g, BIND_NAME);
	return kmc_detail(KMC_E_ROLLBACK, "the keystores of %s are at "
		"generation %" PRIu64 " but %s vouches for %" PRIu64 ": they "
		"were %s; kmc repair --accept-rollback accepts a deliberate "
		"restore", v->dir, g, BIND_NAME, b->ks_gen,
		older(g, b->ks_gen));
}

/*
 * Two roots agree when equal, or when either is 32 zero bytes: a root
 * not known (a store without its digest yet, or a binding written where
 * the open could not read the root; the next commit binds the real one).
 * The generation is compared always.
 */
static int roots_agree(const uint8_t a[32], const uint8_t b[32])
{
	static const uint8_t zero[32];

	return kmc_memcmp(a, zero, 32) == 0 || kmc_memcmp(b, zero, 32) == 0 ||
		kmc_memcmp(a, b, 32) == 0;
}

static int check_store(kmc_vault *v, const bind_state *b, uint64_t g,
	const uint8_t root[32])
{
	if (g == b->gen && roots_agree(root, b->root))
		return 0;
	if ((b->flags & BIND_FLAG_NEXT) && g == b->next_gen &&
	    roots_agree(root, b->next_root))
		return 0;
	if (g == b->gen || ((b->flags & BIND_FLAG_NEXT) && g == b->next_gen))
		return kmc_detail(KMC_E_ROLLBACK, "%s/" STORE_NAME " is at "
			"generation %" PRIu64 " as %s vouches for, but holds "
			"other items: records were put back or replaced; kmc "
			"repair --accept-rollback accepts a deliberate restore",
			v->dir, g, BIND_NAME);
	return kmc_detail(KMC_E_ROLLBACK, "%s/" STORE_NAME " is at "
		"generation %" PRIu64 " but %s vouches for %" PRIu64 ": the "
		"item store was %s; kmc repair --accept-rollback accepts a "
		"deliberate restore", v->dir, g, BIND_NAME,
		(b->flags & BIND_FLAG_NEXT) && g > b->next_gen ? b->next_gen :
		b->gen, older(g, b->gen));
}

/*
 * The forward-only place against the binding: a place ahead of every
 * generation the binding names means the whole folder went back. A place
 * behind it is left behind by writers that opened another way, and moves
 * forward at the next write.
 */
static int check_place(kmc_vault *v, const bind_state *b, uint64_t *ret)
{
	bind_place *p = &v->bind->place;
	uint64_t top = b->flags & BIND_FLAG_NEXT ? b->next_gen : b->gen, g;
	int r;

	*ret = 0;
	if (!p->kind)
		return 0;
	r = (b->places & p->kind) ? bind_place_read_in_use(p,
		kmc_secret_data(v->bind->key), v->ks->vault_id, &g) :
		bind_place_read(p, kmc_secret_data(v->bind->key),
		v->ks->vault_id, &g);
	if (r == -ENOENT) {
		if (b->places & p->kind)
			return kmc_detail(KMC_E_ROLLBACK, "%s is missing, "
				"though %s says it is in use: it was deleted, or "
				"put back with the folder that holds it; kmc "
				"repair --accept-rollback makes it again",
				p->what, BIND_NAME);
		return 0;
	}
	KMC_GUARD(r);
	/* A reader may have read the binding just before a writer named its
	   next generation and moved the state file to it: read it again. */
	if (g > top && !(v->flags & KMC_OPEN_WRITE)) {
		bind_state b2;

		if (bind_read(v, &b2) == 0) {
			v->bind->b = b2;
			top = b2.flags & BIND_FLAG_NEXT ? b2.next_gen : b2.gen;
		}
		kmc_detail_clear();
	}
	if (g > top)
		return kmc_detail(KMC_E_ROLLBACK, "%s is at generation %" PRIu64
			" but %s has seen %" PRIu64 ": the whole "
			"vault folder was put back from an older copy; kmc repair "
			"--accept-rollback accepts a deliberate restore", v->dir,
			top, p->what, g);
	*ret = g;
	return 0;
}

/* A binding of what is on disk now: store, keystore, audit head. */
static int bind_now(kmc_vault *v, bind_state *ret)
{
	bind_state b;

	memset(&b, 0, sizeof(b));
	memcpy(b.vault_id, v->ks->vault_id, KS_VAULT_ID_LEN);
	b.ks_gen = v->ks->generation;
	memcpy(b.ks_digest, v->bind->ks_digest, 32);
	KMC_GUARD(store_now(v, &b.gen, b.root));
	KMC_GUARD(audit_head(v, &b.audit_seq, b.audit_hash));
	*ret = b;
	return 0;
}

static int place_move(kmc_vault *v, bind_state *b, uint64_t gen)
{
	bind_place *p = &v->bind->place;
	int r;

	if (!p->kind)
		return 0;
	r = bind_place_write(p, kmc_secret_data(v->bind->key),
		v->ks->vault_id, gen);
	if (r < 0) {
		char d[512];

		snprintf(d, sizeof(d), "%s", kmc_error_detail()[0] ?
			kmc_error_detail() : kmc_strerror(r));
		return kmc_detail(r, "writing %s: %s", p->what, d);
	}
	b->places |= (uint8_t)p->kind;
	return 0;
}

/*
 * Bind to what is on disk now and move the place to it (a new binding,
 * or kmc repair --accept-rollback): the place first, so that a binding
 * naming it in use never comes before the place itself.
 */
static int rebind(kmc_vault *v)
{
	bind_state b;

	KMC_GUARD(bind_now(v, &b));
	KMC_GUARD(place_move(v, &b, b.gen));
	KMC_GUARD(bind_write(v, &b));
	return 0;
}

static uint64_t top_gen(const bind_state *b)
{
	return b->flags & BIND_FLAG_NEXT ? b->next_gen : b->gen;
}

/* b vouches for generation g with a root (which check_store compared). */
static int named(const bind_state *b, uint64_t g)
{
	return g == b->gen || ((b->flags & BIND_FLAG_NEXT) && g == b->next_gen);
}

/*
 * The store's (g, root) against binding b read before it. Without the
 * writer lock a writer may commit between the two reads, or between the
 * binding written and the store committed: then the binding is read
 * again, and a generation from b's current to the new one's top is what
 * some moment of those commits held (the next open checks its root).
 * Older than b, or newer than the binding read after it, is a rollback;
 * so is a generation either binding names with another root: a store
 * changed apart from this one (a copy) at the same generation.
 */
static int store_ok(kmc_vault *v, const bind_state *b, uint64_t g,
	const uint8_t root[32])
{
	bind_state b2;
	int r = check_store(v, b, g, root);

	if (r == 0 || (v->flags & KMC_OPEN_WRITE))
		return r;
	if (bind_read(v, &b2) < 0)
		return r;
	kmc_detail_clear();
	r = check_store(v, &b2, g, root);
	if (r == 0 || (g >= b->gen && g <= top_gen(&b2) && !named(b, g) &&
	    !named(&b2, g))) {
		kmc_detail_clear();
		v->bind->b = b2;
		return 0;
	}
	return r;
}

/*
 * The keystore that opened against the binding. A reader may have read
 * it just before a writer replaced it: when the newest keystore on disk
 * now is the one the binding names or newer, the opened one was current
 * a moment ago, and is accepted. Keystores put back stay older.
 */
static int ks_ok(kmc_vault *v, const bind_state *b, const uint8_t *raw,
	size_t len)
{
	uint8_t id[KS_VAULT_ID_LEN];
	uint64_t now;
	int r = check_ks(v, b, raw, len), found = 0;

	if (r == 0 || (v->flags & KMC_OPEN_WRITE) ||
	    v->ks->generation > b->ks_gen)
		return r;
	if (vault_peek(v->dirfd, v->dir, id, &now, &found) == 0 && found &&
	    memcmp(id, v->ks->vault_id, KS_VAULT_ID_LEN) == 0 &&
	    now > v->ks->generation && now >= b->ks_gen) {
		kmc_detail_clear();
		return 0;
	}
	/* The peek read the pair again and cleared the message: said again,
	   so a reader is told which keystore went back, as a writer is. */
	kmc_detail_clear();
	return check_ks(v, b, raw, len);
}

static int bind_check(kmc_vault *v, const uint8_t *ks_raw, size_t ks_len,
	uint64_t *ret_place)
{
	uint8_t root[32];
	uint64_t g;
	int r;

	r = bind_read(v, &v->bind->b);
	if (r == -ENOENT)
		return r;
	KMC_GUARD(r);
	v->bind->have = 1;
	KMC_GUARD(ks_ok(v, &v->bind->b, ks_raw, ks_len));
	KMC_GUARD(store_now(v, &g, root));
	KMC_GUARD(store_ok(v, &v->bind->b, g, root));
	return check_place(v, &v->bind->b, ret_place);
}

/*
 * No kmc.bind: an old vault, or one kmc restore put back without a
 * protector to bind it. A state file that has seen the store further on
 * says the folder went back, kmc.bind with it.
 */
static int unbound_check(kmc_vault *v)
{
	bind_place *p = &v->bind->place;
	uint8_t root[32];
	uint64_t g, seen;
	int r;

	if (!p->kind)
		return 0;
	r = bind_place_read(p, kmc_secret_data(v->bind->key),
		v->ks->vault_id, &seen);
	if (r == -ENOENT)
		return 0;
	KMC_GUARD(r);
	KMC_GUARD(store_now(v, &g, root));
	if (seen > g)
		return kmc_detail(KMC_E_ROLLBACK, "%s has no %s and is at "
			"generation %" PRIu64 ", but %s has seen "
			"%" PRIu64 ": the folder was put back from an older copy "
			"(or restored without a protector to bind it); kmc repair "
			"--accept-rollback accepts a deliberate restore", v->dir,
			BIND_NAME, g, p->what, seen);
	return 0;
}

int bind_open(kmc_vault *v, const uint8_t *ks_raw, size_t ks_len,
	const bind_opener *by, int accept)
{
	int writer = (v->flags & KMC_OPEN_WRITE) != 0;
	int r;

	size_t n = strlen(v->dir) + sizeof("/" BIND_NAME);

	/* Small, and its strings sized to them: a one-shot process's open
	   touches a page or two of fresh heap here, not five. */
	v->bind = calloc(1, sizeof(*v->bind));
	KMC_ENSURE(v->bind, KMC_E_NOMEM);
	v->bind->place.dirfd = -1;
	v->bind->show = malloc(n);
	KMC_ENSURE(v->bind->show, KMC_E_NOMEM);
	snprintf(v->bind->show, n, "%s/%s", v->dir, BIND_NAME);
	kmc_hash(v->bind->ks_digest, ks_raw, ks_len);
	/* A reader's open makes it read-only with its other keys. */
	KMC_GUARD(bind_key(v->rk, !v->ro_at_end, &v->bind->key));
	if (by->host_key)
		KMC_GUARD(bind_place_host(&v->bind->place, by->host_key,
			v->ks->vault_id));
	/* A token's PIN is needed again at each change: kept when given
	   (a prompt is never asked twice: without one, the URI's
	   pin-source is the only way, and a token without that is no
	   place for this handle). */
	if (by->token_uri && (by->pin || by->pin_in_uri)) {
		if (by->pin)
			KMC_GUARD(kmc_secret_dup(kmc_secret_data(by->pin),
				kmc_secret_len(by->pin), &v->bind->pin));
		KMC_GUARD(bind_place_token(&v->bind->place, by->token_uri,
			v->bind->pin, v->ks->vault_id));
	}

	/* Only while the opener's folder is open: later reads and writes
	   of the place walk its path again. */
	if (v->bind->place.kind == BIND_PLACE_HOST)
		v->bind->place.dirfd = by->host_dirfd;
	r = bind_check(v, ks_raw, ks_len, &v->bind->place_gen);
	v->bind->place.dirfd = -1;
	if (r == -ENOENT) {
		v->bind->have = 0;
		if (!writer)
			return 0;	/* "not bound yet": kmc status says so */
		r = unbound_check(v);
		if (r < 0 && !accept)
			return r;
		snprintf(v->bind->accepted, sizeof(v->bind->accepted), "%s",
			r < 0 ? kmc_error_detail() : "");
		if (r < 0)
			kmc_detail_clear();
		/* A restore's vault has none either: its records say so. */
		v->bind->first = !accept;
		v->bind->todo = BIND_TODO_REBIND;
		return 0;
	}
	/* A binding or state file of a newer format is never accepted
	   (written over): open the vault with the kmc that wrote it. */
	if (r < 0 && r != KMC_E_VERSION && accept && writer) {
		/* Recorded in the audit log by bind_settle(), which runs once
		   the log is open. */
		snprintf(v->bind->accepted, sizeof(v->bind->accepted), "%s",
			kmc_error_detail());
		kmc_detail_clear();
		v->bind->have = 0;
		v->bind->todo = BIND_TODO_REBIND;
		return 0;
	}
	KMC_GUARD(r);
	if (writer)
		v->bind->todo = accept ? BIND_TODO_REBIND : BIND_TODO_SETTLE;
	return 0;
}

/*
 * kmc repair --accept-rollback: recorded first (a restore the log cannot
 * record is not accepted), then the store's digest built again from the
 * records as they are, so that records put back are the vault's now.
 */
static int accept_rollback(kmc_vault *v)
{
	char result[1024], gap[160];
	audit_rec rec = { .op = "kmc repair --accept-rollback",
		.result = result, .through = -1, .torn = -1 };
	const char *what = v->bind->accepted;

	/* A log cut short is accepted too: the record says so. */
	audit_bound_gap(v, gap, sizeof(gap));
	snprintf(result, sizeof(result), "accepted: %s%s%s",
		what[0] || gap[0] ? what : "nothing disagreed; bound again",
		what[0] && gap[0] ? "; " : "", gap);
	KMC_GUARD(audit_change(v, &rec));
	return storetree_rebuild(&v->st);
}

/* A vault an older kmc made gets its first binding. */
static int first_binding(kmc_vault *v)
{
	audit_rec rec = { .op = "binding (kmc.bind) made", .result = "ok",
		.through = -1, .torn = -1 };

	return audit_change(v, &rec);
}

/*
 * At the end of a writable open, once everything else the open checks
 * has held (a journal of a newer kmc refuses the open, and then nothing
 * was written): bind a vault that has none, or re-bind (accept), or
 * finish what a cut-off change left pending and move a place that fell
 * behind.
 */
int bind_settle(kmc_vault *v)
{
	uint8_t root[32];
	bind_state b;
	uint64_t g;

	if (!v->bind || v->bind->todo == BIND_TODO_NONE)
		return 0;
	bind_remove_temps(v->dirfd, BIND_NAME);
	if (v->bind->place.kind)
		bind_place_remove_temps(&v->bind->place);
	if (v->bind->todo == BIND_TODO_REBIND) {
		v->bind->todo = BIND_TODO_NONE;
		if (v->flags & KMC_OPEN_ACCEPT_ROLLBACK)
			KMC_GUARD(accept_rollback(v));
		else if (v->bind->first)
			KMC_GUARD(first_binding(v));
		return rebind(v);
	}
	v->bind->todo = BIND_TODO_NONE;
	b = v->bind->b;
	KMC_GUARD(store_now(v, &g, root));
	/* A next the store never reached (a change cut off before its
	   commit) stays: the state file may have seen it, and the next
	   change names the same generation again. */
	if ((b.flags & BIND_FLAG_NEXT) && g == b.next_gen) {
		b.gen = b.next_gen;
		memcpy(b.root, b.next_root, 32);
		b.flags &= (uint16_t)~BIND_FLAG_NEXT;
		b.next_gen = 0;
		memset(b.next_root, 0, 32);
	}
	if ((b.flags & BIND_FLAG_KS_NEXT) && v->ks->generation == b.ks_next_gen) {
		b.ks_gen = b.ks_next_gen;
		memcpy(b.ks_digest, b.ks_next_digest, 32);
		b.flags &= (uint16_t)~BIND_FLAG_KS_NEXT;
		b.ks_next_gen = 0;
		memset(b.ks_next_digest, 0, 32);
	}
	if (v->bind->place.kind && v->bind->place_gen < b.gen)
		KMC_GUARD(place_move(v, &b, b.gen));
	if (memcmp(&b, &v->bind->b, sizeof(b)) != 0)
		KMC_GUARD(bind_write(v, &b));
	return 0;
}

void bind_close(kmc_vault *v)
{
	if (!v->bind)
		return;
	kmc_secret_free(v->bind->key);
	kmc_secret_free(v->bind->pin);
	bind_place_free(&v->bind->place);
	free(v->bind->show);
	free(v->bind);
	v->bind = NULL;
}

/* A writable handle of a bound vault, with the binding's key: it keeps
   kmc.bind up with its changes. */
static int bound_writer(const kmc_vault *v)
{
	return v->bind && v->bind->key && v->bind->have &&
	    (v->flags & KMC_OPEN_WRITE);
}

int bind_on_commit(kmc_vault *v, store_phase phase, const store_change *c)
{
	bind_state b;

	if (!bound_writer(v))
		return 0;
	b = v->bind->b;
	switch (phase) {
	case STORE_PREPARE:
		b.flags |= BIND_FLAG_NEXT;
		b.next_gen = c->gen_new;
		memcpy(b.next_root, c->root_new, 32);
		/* The audit log's record of this change is in: bound. */
		KMC_GUARD(audit_head(v, &b.audit_seq, b.audit_hash));
		KMC_GUARD(bind_write(v, &b));
		KMC_GUARD(place_move(v, &b, c->gen_new));
		/* The place's bit goes in at COMMITTED, the place written. */
		return 0;
	case STORE_COMMITTED:
		b.places |= (uint8_t)v->bind->place.kind;
		b.flags &= (uint16_t)~BIND_FLAG_NEXT;
		b.gen = c->gen_new;
		memcpy(b.root, c->root_new, 32);
		b.next_gen = 0;
		memset(b.next_root, 0, 32);
		/* The audit head stays the PREPARE's: the outcome record is
		   written without a sync of its own, so a power cut may lose
		   it, and a binding naming it would then call that lost. */
		/* Best effort: a pending next is accepted, and the next
		   writable open finishes it. */
		if (bind_write(v, &b) < 0)
			kmc_detail_clear();
		return 0;
	case STORE_ABORTED:
		return 0;
	}
	return 0;
}

int bind_on_keystore(kmc_vault *v, store_phase phase, uint64_t gen,
	const uint8_t *raw, size_t len)
{
	bind_state b;

	if (!bound_writer(v))
		return 0;
	b = v->bind->b;
	switch (phase) {
	case STORE_PREPARE:
		b.flags |= BIND_FLAG_KS_NEXT;
		b.ks_next_gen = gen;
		kmc_hash(b.ks_next_digest, raw, len);
		/* The audit log's record of this change is in: bound. */
		KMC_GUARD(audit_head(v, &b.audit_seq, b.audit_hash));
		return bind_write(v, &b);
	case STORE_COMMITTED:
		b.flags &= (uint16_t)~BIND_FLAG_KS_NEXT;
		b.ks_gen = gen;
		kmc_hash(b.ks_digest, raw, len);
		b.ks_next_gen = 0;
		memset(b.ks_next_digest, 0, 32);
		if (bind_write(v, &b) < 0)
			kmc_detail_clear();
		return 0;
	case STORE_ABORTED:
		return 0;
	}
	return 0;
}

int bind_root_check(void *arg, uint64_t gen, const uint8_t root[32])
{
	kmc_vault *v = arg;
	bind_state b;

	if (!v->bind || !v->bind->key || !v->bind->have)
		return 0;
	if (check_store(v, &v->bind->b, gen, root) == 0)
		return 0;
	/* Another process committed since: read what it bound. */
	kmc_detail_clear();
	b = v->bind->b;
	return store_ok(v, &b, gen, root);
}

int bind_audit_head(kmc_vault *v, uint64_t *ret_seq, uint8_t ret_hash[32])
{
	if (!v->bind || !v->bind->have)
		return KMC_E_NOT_FOUND;
	*ret_seq = v->bind->b.audit_seq;
	memcpy(ret_hash, v->bind->b.audit_hash, 32);
	return 0;
}

/* kmc.bind read and parsed, without its key: 0; -ENOENT; KMC_E_CORRUPT
   when it does not parse; another error of the read. */
static int bind_file_get(int dirfd, bind_state *b)
{
	_cleanup_(freep) uint8_t *raw = NULL;
	size_t len;
	uint16_t version;
	int r;

	r = kmc_read_checked(dirfd, BIND_NAME, BIND_NAME, &bind_rule, &raw,
		&len);
	kmc_detail_clear();
	if (r == KMC_E_TOO_LARGE && bind_head_version(dirfd, BIND_NAME,
	    &bind_rule, BIND_MAGIC, &version) == 0 &&
	    version > BIND_FORMAT_VERSION)
		return KMC_E_VERSION;
	if (r == KMC_E_TOO_LARGE)
		return KMC_E_CORRUPT;
	if (r < 0)
		return r;
	r = bind_parse(raw, len, b);
	return r == KMC_E_VERSION ? r : r < 0 ? KMC_E_CORRUPT : 0;
}

int bind_status(int dirfd, uint64_t store_gen,
	const uint8_t vault_id[KS_VAULT_ID_LEN], int *ret_state,
	uint8_t *ret_places, uint64_t *ret_audit_seq, uint8_t ret_audit_hash[32])
{
	bind_state b;
	int r;

	*ret_places = 0;
	*ret_audit_seq = 0;
	r = bind_file_get(dirfd, &b);
	if (r == -ENOENT) {
		*ret_state = KMC_BIND_NONE;
		return 0;
	}
	if (r == KMC_E_NOMEM || r == -ENOMEM)
		return KMC_E_NOMEM;
	if (r == KMC_E_VERSION) {
		*ret_state = KMC_BIND_NEWER;
		return 0;
	}
	if (r < 0 || memcmp(b.vault_id, vault_id, KS_VAULT_ID_LEN) != 0) {
		*ret_state = KMC_BIND_DAMAGED;
		return 0;
	}
	*ret_places = b.places;
	*ret_audit_seq = b.audit_seq;
	memcpy(ret_audit_hash, b.audit_hash, 32);
	if (store_gen == b.gen)
		*ret_state = KMC_BIND_OK;
	else if ((b.flags & BIND_FLAG_NEXT) && store_gen == b.next_gen)
		*ret_state = KMC_BIND_PENDING;
	else
		*ret_state = KMC_BIND_DISAGREES;
	return 0;
}

int bind_peek_audit(int dirfd, uint64_t *ret_seq, uint8_t ret_hash[32])
{
	bind_state b;

	*ret_seq = 0;
	KMC_GUARD(bind_file_get(dirfd, &b));
	*ret_seq = b.audit_seq;
	memcpy(ret_hash, b.audit_hash, 32);
	return 0;
}

kmc_secret *bind_kept_key(const kmc_vault *v)
{
	return v->bind ? v->bind->key : NULL;
}
