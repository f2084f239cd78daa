/*
 * batchread.h - the password-batch format (docs/format.md): lines of
 * "NAME PASSWORD", read in pieces of any size into guarded memory and
 * handed on one line at a time. No vault here, so it fuzzes alone
 * (tests/fuzz/fuzz_batch.c).
 */
#ifndef KMC_BATCHREAD_H
#define KMC_BATCHREAD_H

#include <stddef.h>
#include <stdint.h>
#include <kmc.h>
#include "../kmc/common.h"

/* The longest line: a name, its separator, a password. */
#define BATCH_LINE_MAX (KMC_NAME_MAX + 1 + KMC_BATCH_PASSWORD_MAX)

/* One item line: its number (1 first), name (checked) and password
   (1 to KMC_BATCH_PASSWORD_MAX bytes, no NUL, valid during the call). */
typedef int (*batch_line_fn)(void *arg, uint64_t line, const char *name,
	const uint8_t *pw, size_t pw_len);

typedef struct batch_reader {
	kmc_secret *line;	/* BATCH_LINE_MAX bytes, guarded */
	size_t len;		/* bytes of the current line so far */
	uint64_t lineno;	/* the current line's number */
	uint64_t items;		/* item lines handed on */
	batch_line_fn fn;
	void *arg;
} batch_reader;

KMC_INTERNAL int batch_reader_init(batch_reader *r, batch_line_fn fn,
	void *arg) KMC_MUST_CHECK;
/* The next n bytes of the input. A bad line fails with a detail naming
   its number and the fault, never its bytes. */
KMC_INTERNAL int batch_reader_feed(batch_reader *r, const uint8_t *data,
	size_t n) KMC_MUST_CHECK;
/* The input ended: its last line may lack a newline. */
KMC_INTERNAL int batch_reader_end(batch_reader *r) KMC_MUST_CHECK;
/* Wipes and frees; r may be half made. */
KMC_INTERNAL void batch_reader_done(batch_reader *r);

#endif
