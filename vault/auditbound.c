/*
 * auditbound.c - the record kmc.bind vouches for, looked for in the audit
 * log. The binding names the pending record of the last change (its seq
 * and hash), so that records cut from the log's end are caught. A change's
 * own pending record is written only on a log that still holds that
 * record: on a log cut from its end, deleted, put back from an older copy,
 * or cut and filled again by reads, the change would be bound in its turn,
 * and the binding then vouch for the shortened chain, which kmc audit
 * verify would pass. Such a change is refused (KMC_E_AUDIT) until the log
 * is put back or kmc repair --accept-rollback accepts it, and says so in
 * its record (audit_bound_gap()).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "audit.h"
#include "bind.h"
#include "../kmc/crypto.h"

/* The record of seq in the file fd (size bytes), looked for from the
   end back in blocks (the bound record is most often in the last few
   KiB): 1 found (its hash into hash; when line is not NULL, the line
   into it, its length into *ret_len and the offset past it into
   *ret_end), 0 the file starts after seq, 2 it holds no such record (a
   seq before it seen), or an error. Torn and damaged lines are passed
   over: verify names those. */
#define FIND_BLOCK (64u * 1024)
static int find_seq(int fd, off_t size, uint64_t seq,
	uint8_t hash[AUDIT_HASH_LEN], char *line, size_t *ret_len,
	off_t *ret_end)
{
	_cleanup_(freep) char *buf = malloc(FIND_BLOCK);
	off_t end = size;
	/* A record's length first (most often it is a line or two back),
	   then whole blocks; any AUDIT_LINE_MAX bytes of a log hold a line's
	   end. */
	size_t block = AUDIT_LINE_MAX;

	KMC_ENSURE(buf, KMC_E_NOMEM);
	for (; end > 0; block = FIND_BLOCK) {
		off_t start = end > (off_t)block ? end - (off_t)block : 0;
		size_t n = (size_t)(end - start), at = 0, first;
		int before = 0;

		if (pread(fd, buf, n, start) != (ssize_t)n)
			return KMC_E_CORRUPT;
		/* A line cut by the block's start is the next block's. */
		if (start > 0) {
			char *nl = memchr(buf, '\n', n);

			if (!nl && block < FIND_BLOCK)
				continue;	/* junk longer: a whole block */
			KMC_ENSURE(nl, KMC_E_CORRUPT);
			at = (size_t)(nl - buf) + 1;
		}
		first = at;
		while (at < n) {
			char *nl = memchr(buf + at, '\n', n - at);
			size_t len;
			audit_line l;

			if (!nl)
				break;	/* a torn last line */
			len = (size_t)(nl - buf) - at;
			if (audit_line_parse(buf + at, len, &l) == 0) {
				if (l.seq == seq) {
					kmc_hash(hash, buf + at, len);
					if (line) {
						/* parsed: len < AUDIT_LINE_MAX */
						memcpy(line, buf + at, len);
						*ret_len = len;
						*ret_end = start + (off_t)(at +
							len + 1);
					}
					return 1;
				}
				before |= l.seq < seq;
			}
			at += len + 1;
		}
		if (before)
			return 2;
		end = start + (off_t)first;
		if (start == 0)
			break;
	}
	return 0;
}

/* Whether the bound record is in the log whose audit.log is fd (size
   bytes; -1 and 0 when there is none) and whose head is head_seq,
   head_hash: 0 it is (or was in a segment since removed, which the log
   records and verify checks), 1 the log ends before it, 2 the log holds
   another record of its seq or none, or an error. */
static int bound_in_log(int dirfd, const char *dir, int fd, off_t size,
	uint64_t head_seq,
	const uint8_t head_hash[AUDIT_HASH_LEN], uint64_t bound_seq,
	const uint8_t bound_hash[AUDIT_HASH_LEN])
{
	uint64_t firsts[AUDIT_SEGMENTS_KEPT + 8];
	uint8_t hash[AUDIT_HASH_LEN];
	char name[64];
	struct stat st;
	size_t n, i;
	int r;

	if (head_seq < bound_seq)
		return 1;
	if (head_seq == bound_seq)
		return kmc_memcmp(head_hash, bound_hash, AUDIT_HASH_LEN) ? 2 : 0;
	r = fd >= 0 && size > 0 ? find_seq(fd, size, bound_seq, hash,
		NULL, NULL, NULL) : 0;
	if (r == 0) {
		/* Before audit.log: in the segment that starts at or before
		   it, if one is kept. */
		KMC_GUARD(audit_segments(dirfd, firsts, ELEMENTSOF(firsts), &n));
		for (i = n; i > 0 && firsts[i - 1] > bound_seq; i--)
			;
		if (i == 0)
			return 0;	/* removed with its segment */
		audit_segment_name(firsts[i - 1], name, sizeof(name));
		fd = audit_open_file(dirfd, dir, name, O_RDONLY, &st);
		if (fd < 0)
			return fd == -ENOENT ? 2 : fd;
		r = find_seq(fd, st.st_size, bound_seq, hash, NULL, NULL,
			NULL);
		close(fd);
	}
	if (r < 0)
		return r;
	return r == 1 && !kmc_memcmp(hash, bound_hash, AUDIT_HASH_LEN) ? 0 : 2;
}

int audit_bound_require(kmc_vault *v, int fd, off_t size, uint64_t head_seq,
	const uint8_t head_hash[AUDIT_HASH_LEN], const audit_rec *rec)
{
	int r = bound_in_log(v->dirfd, v->dir, fd, size, head_seq, head_hash,
		rec->bound_seq, rec->bound_hash);

	if (r == 1)
		return kmc_detail(KMC_E_AUDIT, "%s/" AUDIT_NAME ": the audit log "
			"ends at seq %" PRIu64 ", but kmc.bind vouches for seq %"
			PRIu64 ": records were removed from its end, or it was "
			"put back from an older copy; nothing changed (put the "
			"log back, or kmc repair --accept-rollback accepts it as "
			"it is)", v->dir, head_seq, rec->bound_seq);
	if (r == 2)
		return kmc_detail(KMC_E_AUDIT, "%s/" AUDIT_NAME ": seq %" PRIu64
			" is not the record kmc.bind vouches for: the log was "
			"cut and written again from there, or replaced; nothing "
			"changed (put the log back, or kmc repair "
			"--accept-rollback accepts it as it is)", v->dir,
			rec->bound_seq);
	if (r == KMC_E_AUDIT)
		return r;
	/* Memory is not the log's fault: the caller's out-of-memory path
	   (exit 1), not the audit's refusal (exit 13). */
	if (r < 0)
		return kmc_detail(r == KMC_E_NOMEM || r == -ENOMEM ?
			KMC_E_NOMEM : KMC_E_AUDIT, "%s/" AUDIT_NAME ": looking "
			"for the record kmc.bind vouches for: %s; nothing changed",
			v->dir, kmc_strerror(r));
	return 0;
}

int audit_bound_absent(int dirfd, const char *dir, uint64_t bound_seq,
	const uint8_t bound_hash[AUDIT_HASH_LEN])
{
	struct stat st = { .st_size = 0 };
	int fd, r;

	fd = audit_open_file(dirfd, dir, AUDIT_NAME, O_RDONLY, &st);
	if (fd < 0 && fd != -ENOENT) {
		kmc_detail_clear();
		return 0;	/* the walk of the log names that */
	}
	/* As a head past it: a log that ends before it is named apart. */
	r = bound_in_log(dirfd, dir, fd, st.st_size, UINT64_MAX, NULL,
		bound_seq, bound_hash);
	if (fd >= 0)
		close(fd);
	kmc_detail_clear();
	/* Out of memory is no "cannot say": the walk of the log may well
	   go through, and status would call a rewritten log intact. */
	if (r == KMC_E_NOMEM || r == -ENOMEM)
		return kmc_detail(KMC_E_NOMEM, "%s/" AUDIT_NAME ": looking for "
			"the record kmc.bind vouches for: out of memory", dir);
	return r == 2;
}

size_t audit_bound_gap(kmc_vault *v, char *out, size_t size)
{
	uint8_t bound[AUDIT_HASH_LEN];
	uint64_t bseq;

	out[0] = '\0';
	if (bind_audit_head(v, &bseq, bound) < 0)
		return 0;
	return audit_bound_gap_of(v, bseq, bound, out, size);
}

size_t audit_bound_gap_of(kmc_vault *v, uint64_t bseq,
	const uint8_t bound[AUDIT_HASH_LEN], char *out, size_t size)
{
	uint8_t head[AUDIT_HASH_LEN];
	uint64_t seq;
	struct stat st = { .st_size = 0 };
	int fd, r;

	out[0] = '\0';
	if (!bseq || audit_head(v, &seq, head) < 0) {
		kmc_detail_clear();
		return 0;
	}
	fd = audit_open_file(v->dirfd, v->dir, AUDIT_NAME, O_RDONLY, &st);
	if (fd < 0 && fd != -ENOENT) {
		kmc_detail_clear();
		return 0;
	}
	r = bound_in_log(v->dirfd, v->dir, fd, st.st_size, seq, head, bseq,
		bound);
	if (fd >= 0)
		close(fd);
	kmc_detail_clear();
	if (r == 1)
		snprintf(out, size, "the audit log ended at seq %" PRIu64
			", but kmc.bind vouched for seq %" PRIu64, seq, bseq);
	else if (r == 2)
		snprintf(out, size, "the audit log's seq %" PRIu64 " was not "
			"the record kmc.bind vouched for", bseq);
	return strlen(out);
}

/* The lines of fd from offset from (a line's start) to size, read in
   blocks: a "pending" record that no later one names in "of" is kept in
   line (*len its length, 0 when none is open). 0 or an error. */
static int scan_open(int fd, off_t from, off_t size, char *line,
	size_t *len)
{
	_cleanup_(freep) char *buf = malloc(FIND_BLOCK);
	char result[16];
	uint64_t seq, of, open = 0;

	KMC_ENSURE(buf, KMC_E_NOMEM);
	if (*len && audit_line_u64(line, *len, "seq", &seq) == 0)
		open = seq;
	while (from < size) {
		size_t n = size - from > (off_t)FIND_BLOCK ? FIND_BLOCK :
			(size_t)(size - from), at = 0;

		if (pread(fd, buf, n, from) != (ssize_t)n)
			return KMC_E_CORRUPT;
		for (char *nl; (nl = memchr(buf + at, '\n', n - at)); ) {
			const char *l = buf + at;
			size_t ll = (size_t)(nl - l);

			at += ll + 1;
			if (ll >= AUDIT_LINE_MAX ||
			    audit_line_u64(l, ll, "seq", &seq) < 0)
				continue;
			if (open && audit_line_u64(l, ll, "of", &of) == 0 &&
			    of == open) {
				open = 0;
				*len = 0;
			}
			if (audit_line_str(l, ll, "result", result,
				sizeof(result)) == 0 &&
			    strcmp(result, "pending") == 0) {
				open = seq;
				memcpy(line, l, ll);
				*len = ll;
			}
		}
		/* A line longer than a block is no record: past it. */
		if (at == 0 && n == FIND_BLOCK)
			at = n;
		if (at == 0)
			break;	/* a torn last line */
		from += (off_t)at;
	}
	return 0;
}

int audit_bound_unfinished(kmc_vault *v, int fd, off_t size,
	uint64_t window_first, char *line, size_t line_size, size_t *ret_len)
{
	uint64_t firsts[AUDIT_SEGMENTS_KEPT + 8], bseq;
	uint8_t bound[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
	char name[64];
	struct stat st;
	size_t n = 0, len = 0, i = 0;
	off_t past = 0;
	int sfd = -1, r = 0;

	if (line_size < AUDIT_LINE_MAX || bind_audit_head(v, &bseq, bound) < 0 ||
	    !bseq || bseq >= window_first)
		return -1;
	if (fd >= 0 && size > 0)
		r = find_seq(fd, size, bseq, hash, line, &len, &past);
	if (r == 0) {
		/* In a segment: the one that starts at or before it. */
		if (audit_segments(v->dirfd, firsts, ELEMENTSOF(firsts), &n) < 0)
			goto none;
		for (i = n; i > 0 && firsts[i - 1] > bseq; i--)
			;
		if (i == 0)
			goto none;
		audit_segment_name(firsts[i - 1], name, sizeof(name));
		sfd = audit_open_file(v->dirfd, v->dir, name, O_RDONLY, &st);
		if (sfd < 0)
			goto none;
		r = find_seq(sfd, st.st_size, bseq, hash, line, &len, &past);
	}
	if (r != 1 || kmc_memcmp(hash, bound, AUDIT_HASH_LEN))
		goto none;
	/* From it to the end: the last pending record left open (it, or
	   one a kill cut off before kmc.bind named it). */
	if (audit_line_str(line, len, "result", name, sizeof(name)) < 0 ||
	    strcmp(name, "pending") != 0)
		len = 0;
	r = 0;
	if (sfd >= 0) {
		r = scan_open(sfd, past, st.st_size, line, &len);
		close(sfd);
		sfd = -1;
		for (; r == 0 && i < n; i++) {
			audit_segment_name(firsts[i], name, sizeof(name));
			sfd = audit_open_file(v->dirfd, v->dir, name, O_RDONLY,
				&st);
			if (sfd < 0)
				goto none;
			r = scan_open(sfd, 0, st.st_size, line, &len);
			close(sfd);
			sfd = -1;
		}
		past = 0;
	}
	if (r == 0 && fd >= 0)
		r = scan_open(fd, past, size, line, &len);
	if (r < 0)
		goto none;
	*ret_len = len;
	return 0;
none:
	if (sfd >= 0)
		close(sfd);
	kmc_detail_clear();
	return -1;
}
