/*
 * batch.c - kmc_batch_*: many item writes in one store transaction.
 *
 * Every put goes through items_txn_put(), the one item write, so what it
 * checks and records applies to a batch as to kmc_item_put(). One commit
 * for all is what makes a million items take seconds, not hours: each
 * commit syncs the store.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "vault.h"
#include "batchread.h"
#include "../safeio/fileio.h"
#include "../safeio/folders.h"
#include "audit.h"

/* Read in pieces this big, into guarded memory. */
#define BATCH_CHUNK (64u * 1024u)

/* A password batch file: a secret file, but as long as a batch may be. */
static const kmc_file_rule batch_file_rule = {
	.forbidden = 077,
	.max_size = (size_t)KMC_BATCH_ITEMS_MAX * (BATCH_LINE_MAX + 1),
	.allow_root_owner = 1,
};

struct kmc_batch {
	kmc_vault *v;
	store_txn t;
	uint64_t n;		/* puts so far */
	int err;		/* the put that spoiled the batch, or 0 */
	char detail[600];	/* its kmc_error_detail(), given back at commit */
};

int kmc_batch_begin(kmc_vault *v, kmc_batch **ret)
{
	kmc_batch *b;
	int r;

	kmc_detail_clear();
	*ret = NULL;
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only",
			v->dir);
	b = calloc(1, sizeof(*b));
	if (!b)
		return KMC_E_NOMEM;
	b->v = v;
	r = store_txn_begin(&v->st, &b->t);
	if (r < 0) {
		free(b);
		return r;
	}
	v->st.writing = 1;
	*ret = b;
	return 0;
}

static int spoil(kmc_batch *b, int r)
{
	b->err = r;
	snprintf(b->detail, sizeof(b->detail), "%s", kmc_error_detail());
	return r;
}

/* As kmc_batch_put(), without clearing the detail (a reader's lines). */
static int batch_put(kmc_batch *b, const char *name, kmc_item_type type,
	const void *data, size_t len)
{
	int r;

	if (b->err)
		return kmc_detail(b->err, "%s", b->detail);
	if (b->n >= KMC_BATCH_ITEMS_MAX)
		return spoil(b, kmc_detail(KMC_E_TOO_LARGE, "more than %u "
			"items in one batch", KMC_BATCH_ITEMS_MAX));
	r = items_txn_put(b->v, &b->t, name, type, data, len,
		ITEM_PUT_NOT_BUNDLE);
	if (r < 0)
		return spoil(b, r);
	b->n++;
	return 0;
}

int kmc_batch_put(kmc_batch *b, const char *name, kmc_item_type type,
	const void *data, size_t len)
{
	kmc_detail_clear();
	return batch_put(b, name, type, data, len);
}

static int put_line(void *arg, uint64_t line, const char *name,
	const uint8_t *pw, size_t len)
{
	kmc_batch *b = arg;
	char was[sizeof(((kmc_batch *)0)->detail)];
	int r;

	r = batch_put(b, name, KMC_ITEM_PASSWORD, pw, len);
	if (r < 0 && !b->detail[0])
		snprintf(b->detail, sizeof(b->detail), "%s",
			kmc_strerror(r));
	if (r < 0) {
		/* Name the line, as for a line the reader refused. */
		snprintf(was, sizeof(was), "%s", b->detail);
		snprintf(b->detail, sizeof(b->detail), "line %llu: %.500s",
			(unsigned long long)line, was);
		return kmc_detail(r, "%s", b->detail);
	}
	return 0;
}

/* Read fd to its end through the reader; show names it in details. */
static int read_lines(kmc_batch *b, int fd, const char *show,
	uint64_t *ret_n)
{
	_cleanup_(kmc_secret_freep) kmc_secret *chunk = NULL;
	batch_reader rd;
	uint64_t before = b->n;
	int r;

	if (b->err)
		return kmc_detail(b->err, "%s", b->detail);
	r = batch_reader_init(&rd, put_line, b);
	if (r == 0)
		r = kmc_secret_new(BATCH_CHUNK, &chunk);
	while (r == 0) {
		ssize_t n = kmc_read_wait(fd, kmc_secret_data(chunk),
			BATCH_CHUNK);

		if (n < 0)
			r = kmc_detail((int)n, "%s: %s", show,
				kmc_strerror((int)n));
		else if (n == 0)
			break;
		else
			r = batch_reader_feed(&rd, kmc_secret_data(chunk),
				(size_t)n);
	}
	if (r == 0)
		r = batch_reader_end(&rd);
	batch_reader_done(&rd);
	if (r < 0) {
		/* Spoiled by the reader's own refusal too: all or nothing. */
		if (!b->err)
			spoil(b, r);
		return r;
	}
	if (ret_n)
		*ret_n = b->n - before;
	return 0;
}

int kmc_batch_read_passwords(kmc_batch *b, int fd, uint64_t *ret_n)
{
	char show[32];

	kmc_detail_clear();
	snprintf(show, sizeof(show), "descriptor %d", fd);
	return read_lines(b, fd, show, ret_n);
}

int kmc_batch_read_passwords_file(kmc_batch *b, const char *path,
	uint64_t *ret_n)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	_cleanup_(kmc_closep) int fd = -1;
	_cleanup_(freep) char *base = NULL;
	struct stat st;
	int r;

	kmc_detail_clear();
	if (b->err)
		return kmc_detail(b->err, "%s", b->detail);
	r = kmc_open_parent_to_read(path, &dirfd, &base);
	if (r == -EACCES)
		return r;	/* the detail names the folder */
	if (r < 0)
		return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
	fd = kmc_open_checked(dirfd, base, path, &batch_file_rule, &st);
	if (fd < 0)
		return fd;
	return read_lines(b, fd, path, ret_n);
}

static void batch_end(kmc_batch *b)
{
	b->v->st.writing = 0;
	free(b);
}

static int batch_commit(kmc_batch *b)
{
	AUDIT_OP(b->v, "kmc_batch_commit");
	int r;

	kmc_detail_clear();
	if (b->err) {
		r = kmc_detail(b->err, "%s", b->detail);
		store_txn_abort(&b->t);
	} else {
		r = store_txn_commit(&b->t);
	}
	batch_end(b);
	return r;
}

/* NULL is what a failed kmc_batch_begin() leaves: a caller that commits
   it unchecked is told, not crashed. */
int kmc_batch_commit(kmc_batch *b)
{
	if (!b)
		return kmc_detail(KMC_E_INVALID, "no batch to commit: "
			"kmc_batch_begin() failed, and left it NULL");
	return batch_commit(b);
}

void kmc_batch_abort(kmc_batch *b)
{
	if (!b)
		return;
	store_txn_abort(&b->t);
	batch_end(b);
}
