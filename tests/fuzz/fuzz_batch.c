/*
 * fuzz_batch.c - the password-batch reader (vault/batchread.c) on
 * arbitrary bytes, fed in two pieces cut where the first byte says.
 *
 * Every line it hands on obeys docs/format.md (a valid name, 1 to 4096
 * password bytes, no NUL, no CR at the end); a refusal is one of the
 * documented errors; and cutting the input elsewhere changes nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../vault/batchread.h"
#include "../../vault/vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct tally {
	uint64_t items, sum;
} tally;

static int on_line(void *arg, uint64_t line, const char *name,
	const uint8_t *pw, size_t len)
{
	tally *t = arg;

	if (kmc_name_check(name) < 0 || len == 0 ||
	    len > KMC_BATCH_PASSWORD_MAX || memchr(pw, '\0', len) ||
	    pw[len - 1] == '\r' || memchr(pw, '\n', len) || line == 0)
		abort();
	t->items++;
	t->sum += line * 31 + len + (uint64_t)strlen(name);
	return 0;
}

static int run(const uint8_t *data, size_t size, size_t cut, tally *t)
{
	batch_reader r;
	int ret;

	memset(t, 0, sizeof(*t));
	if (batch_reader_init(&r, on_line, t) != 0)
		abort();
	ret = batch_reader_feed(&r, data, cut);
	if (ret == 0)
		ret = batch_reader_feed(&r, data + cut, size - cut);
	if (ret == 0)
		ret = batch_reader_end(&r);
	batch_reader_done(&r);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tally a, b;
	size_t cut;
	int ra, rb;

	if (size < 1)
		return 0;
	cut = size > 1 ? data[0] % size : 0;
	data++;
	size--;
	if (cut > size)
		cut = size;
	ra = run(data, size, cut, &a);
	rb = run(data, size, 0, &b);
	if (ra != rb || a.items != b.items || a.sum != b.sum)
		abort();
	if (ra != 0 && ra != KMC_E_INVALID && ra != KMC_E_NAME &&
	    ra != KMC_E_EMPTY && ra != KMC_E_TOO_LARGE)
		abort();
	return 0;
}
