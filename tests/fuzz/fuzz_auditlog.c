/*
 * fuzz_auditlog.c - kmc_audit_read() on an arbitrary audit.log (vault/
 * auditread.c): the walk over the file's lines, torn records and the
 * notes that close them off, the chain of sequence numbers and hashes,
 * and each record's fields as they are handed out (fuzz_audit takes one
 * line's fields alone). `kmc audit` runs it on whatever the vault folder
 * holds, with no secret.
 *
 * The input is written as audit.log in a 0700 folder of its own. The
 * first byte picks the filters: bit 0 an item ("db"), bit 1 a time
 * ("2026-12"). Checked: the answer is 0, KMC_E_AUDIT or KMC_E_VERSION (a
 * record a newer kmcvault wrote; never a crash or another error); every record handed out has its strings within their
 * buffers, at most AUDIT_ITEMS_MAX + 1 items of valid names, a line that
 * is the record's own text; a walk without filters hands out every
 * record it counts, and a walk that succeeds counts one record for each
 * sequence number from the first to the head.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <kmc.h>
#include <kmc/admin.h>
#include "../../vault/audit.h"
#include "../../vault/vault.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/kmc-fuzz-audit.XXXXXX";

static void remove_dir(void)
{
	char path[sizeof(dir) + 16];

	snprintf(path, sizeof(path), "%s/" AUDIT_NAME, dir);
	(void)unlink(path);
	(void)rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!mkdtemp(dir) || chmod(dir, 0700) != 0)
		abort();
	atexit(remove_dir);
	return 0;
}

typedef struct seen {
	uint64_t n, last_seq;
} seen;

static int on_record(const kmc_audit_record *rec, void *arg)
{
	seen *s = arg;

	if (!rec->time || !rec->user || !rec->op || !rec->result ||
	    !rec->line || strlen(rec->time) >= 40 || strlen(rec->user) >= 64 ||
	    strlen(rec->op) >= 128 || strlen(rec->result) >= 512 ||
	    strlen(rec->line) >= AUDIT_LINE_MAX ||
	    rec->n_items > AUDIT_ITEMS_MAX + 1 ||
	    (s->n && rec->seq <= s->last_seq))
		abort();
	for (size_t i = 0; i < rec->n_items; i++)
		if (!rec->item_names[i] ||
		    strlen(rec->item_names[i]) > KMC_NAME_MAX)
			abort();
	s->n++;
	s->last_seq = rec->seq;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[sizeof(dir) + 16];
	kmc_audit_state st;
	seen s = { 0, 0 };
	int fd, r;

	if (size < 1 || size > 2 * AUDIT_LINE_MAX * 8)
		return 0;
	snprintf(path, sizeof(path), "%s/" AUDIT_NAME, dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (size > 1 && write(fd, data + 1, size - 1) !=
	    (ssize_t)(size - 1)) || close(fd) != 0)
		abort();
	memset(&st, 0, sizeof(st));
	r = kmc_audit_read(dir, (data[0] & 2) ? "2026-12" : NULL,
		(data[0] & 1) ? "db" : NULL, on_record, &s, &st);
	/* KMC_E_VERSION: a line of a newer record version ({"v":2,...). */
	if (r != 0 && r != KMC_E_AUDIT && r != KMC_E_VERSION)
		abort();
	if (s.n > st.records)
		abort();
	if (r == 0) {
		if (!(data[0] & 3) && s.n != st.records)
			abort();
		if (st.records && (st.first_seq == 0 ||
		    st.head_seq - st.first_seq + 1 != st.records))
			abort();
	}
	return 0;
}
