/*
 * auditread.c - reading the audit log: the checked open of its files,
 * the segments, kmc_audit_read() (no key needed) and kmc_audit_verify()
 * (the chain, under the root key's subkey); a line's frame and fields
 * are auditline.c's. The format: docs/format.md.
 *
 * A record line is parsed only as far as its frame and a few top-level
 * fields (auditline.c says how); the items of a record are read here, in
 * the order the writer puts them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "audit.h"
#include "bind.h"
#include "../kmc/crypto.h"
#include "../safeio/fileio.h"

#define SEG_PREFIX "audit-"
#define SEG_SUFFIX ".log"

void audit_segment_name(uint64_t first, char *buf, size_t size)
{
	snprintf(buf, size, SEG_PREFIX "%020" PRIu64 SEG_SUFFIX, first);
}

int audit_open_file(int dirfd, const char *dir, const char *name, int flags,
	struct stat *ret_st)
{
	struct stat st;
	int fd, r;

	fd = openat(dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
		O_NONBLOCK, 0600);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			return r;
		if (r == -ELOOP)
			return kmc_detail(KMC_E_AUDIT, "%s/%s is a symbolic "
				"link; an audit log must be the file itself",
				dir, name);
		if (r == -EISDIR)
			return kmc_detail(KMC_E_AUDIT, "%s/%s is a directory, "
				"not the audit log", dir, name);
		return kmc_detail(KMC_E_AUDIT, "%s/%s: %s", dir, name,
			kmc_strerror(r));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return kmc_detail(KMC_E_AUDIT, "%s/%s: %s", dir, name,
			kmc_strerror(r));
	}
	r = 0;
	if (!S_ISREG(st.st_mode))
		r = kmc_detail(KMC_E_AUDIT, "%s/%s is not a regular file", dir,
			name);
	else if (kmc_check_owner(&st, 0) < 0)
		r = kmc_detail(KMC_E_AUDIT, "%s/%s is owned by uid %u, not by "
			"uid %u who runs this", dir, name, (unsigned)st.st_uid,
			(unsigned)geteuid());
	else if (st.st_mode & 077)
		r = kmc_detail(KMC_E_AUDIT, "%s/%s has mode %04o; an audit log "
			"is 0600 (chmod 0600 %s/%s)", dir, name,
			(unsigned)(st.st_mode & 07777), dir, name);
	else if (st.st_nlink > 1)
		r = kmc_detail(KMC_E_AUDIT, "%s/%s has %lu hard links; an "
			"audit log must have one", dir, name,
			(unsigned long)st.st_nlink);
	else if ((uint64_t)st.st_size > 2ull * AUDIT_SEGMENT_MAX)
		r = kmc_detail(KMC_E_AUDIT, "%s/%s is larger than an audit "
			"segment may be (%u bytes)", dir, name,
			2 * AUDIT_SEGMENT_MAX);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_st = st;
	return fd;
}

static int seg_first(const char *name, uint64_t *ret)
{
	size_t n = strlen(name);
	uint64_t v = 0;

	if (n != strlen(SEG_PREFIX) + 20 + strlen(SEG_SUFFIX) ||
	    strncmp(name, SEG_PREFIX, strlen(SEG_PREFIX)) != 0 ||
	    strcmp(name + n - strlen(SEG_SUFFIX), SEG_SUFFIX) != 0)
		return -1;
	for (size_t i = strlen(SEG_PREFIX); i < strlen(SEG_PREFIX) + 20; i++) {
		if (name[i] < '0' || name[i] > '9' ||
		    v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	*ret = v;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int audit_segments(int dirfd, uint64_t *firsts, size_t max, size_t *ret_n)
{
	DIR *d;
	struct dirent *e;
	size_t n = 0;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d))) {
		uint64_t f;

		if (seg_first(e->d_name, &f) < 0)
			continue;
		if (n == max) {
			closedir(d);
			return kmc_detail(KMC_E_AUDIT, "more than %zu audit "
				"segments in the vault folder", max);
		}
		firsts[n++] = f;
	}
	closedir(d);
	qsort(firsts, n, sizeof(*firsts), cmp_u64);
	*ret_n = n;
	return 0;
}

/* ---- walking the whole log ---------------------------------------------- */

typedef struct walk {
	int dirfd;
	const char *dir;
	const uint8_t *key;		/* NULL: MACs not checked */
	const char *since;
	const char *item;
	int (*cb)(const kmc_audit_record *rec, void *arg);
	void *arg;
	kmc_audit_state st;
	int have_prev;
	uint8_t prev_hash[AUDIT_HASH_LEN];
	uint64_t need_through;		/* first seq - 1 when not 1 */
	int through_seen;
	/* The head kmc.bind vouches for: its record must be in the chain,
	   with that hash (0: none to look for). */
	uint64_t bound_seq;
	uint8_t bound_hash[AUDIT_HASH_LEN];
	int bound_seen;
	/* --item: the last pending records that matched, so that their
	   outcomes ("of") are shown with them. */
	uint64_t matched[16];
	unsigned n_matched;
} walk;

static int broken(const walk *w, const char *file, size_t lineno,
	uint64_t seq, const char *what)
{
	if (seq)
		return kmc_detail(KMC_E_AUDIT, "%s/%s line %zu (seq %" PRIu64
			"): %s", w->dir, file, lineno, seq, what);
	return kmc_detail(KMC_E_AUDIT, "%s/%s line %zu: %s", w->dir, file,
		lineno, what);
}

/* The record's fields for the callback, when it passes the filters. */
static int hand_out(walk *w, const audit_line *l)
{
	char when[40], user[64], op[128], result[512], name[KMC_NAME_MAX + 1];
	char *names[AUDIT_ITEMS_MAX + 1];
	const char *cnames[AUDIT_ITEMS_MAX + 1];
	uint32_t versions[AUDIT_ITEMS_MAX + 1];
	uint64_t reads[AUDIT_ITEMS_MAX + 1];
	unsigned char removed[AUDIT_ITEMS_MAX + 1];
	uint64_t uid = 0, pid = 0, more = 0, u;
	size_t n = 0;
	int match = !w->item, r = 0;
	const char *p, *end = l->text + l->mac_at;
	char *line = NULL;

	if (!w->cb)
		return 0;
	if (audit_line_str(l->text, l->mac_at, "time", when, sizeof(when)) < 0 ||
	    audit_line_str(l->text, l->mac_at, "user", user, sizeof(user)) < 0 ||
	    audit_line_str(l->text, l->mac_at, "op", op, sizeof(op)) < 0 ||
	    audit_line_str(l->text, l->mac_at, "result", result,
		sizeof(result)) < 0 ||
	    audit_line_u64(l->text, l->mac_at, "uid", &uid) < 0 ||
	    audit_line_u64(l->text, l->mac_at, "pid", &pid) < 0)
		return KMC_E_CORRUPT;
	if (w->since && strcmp(when, w->since) < 0)
		return 0;
	if (audit_line_u64(l->text, l->mac_at, "more_items", &more) ==
	    KMC_E_CORRUPT)
		return KMC_E_CORRUPT;
	/* Items: {"name":"...","version":N[,"removed":true][,"reads":N]}
	   in a row, as the writer puts them (build() in auditwrite.c). */
	p = l->text;
	while (n <= AUDIT_ITEMS_MAX &&
	       (p = memmem(p, (size_t)(end - p), "{\"name\":", 8)) != NULL) {
		p += 8;
		r = audit_json_string(p, end, name, sizeof(name), &p);
		/* Longer than a name may be: a damaged field, as any. */
		if (r == KMC_E_TOO_LARGE)
			r = KMC_E_CORRUPT;
		if (r == 0 && (end - p < 11 || memcmp(p, ",\"version\":", 11)))
			r = KMC_E_CORRUPT;
		if (r == 0)
			r = audit_parse_u64(p + 11, end, &u, &p);
		if (r == 0 && u > UINT32_MAX)
			r = KMC_E_CORRUPT;
		if (r < 0)
			goto out;
		versions[n] = (uint32_t)u;
		removed[n] = end - p >= 15 &&
			memcmp(p, ",\"removed\":true", 15) == 0;
		p += removed[n] ? 15 : 0;
		reads[n] = 0;
		if (end - p >= 9 && memcmp(p, ",\"reads\":", 9) == 0 &&
		    (r = audit_parse_u64(p + 9, end, &reads[n], &p)) < 0)
			goto out;
		if (p >= end || *p != '}') {
			r = KMC_E_CORRUPT;
			goto out;
		}
		if (w->item && strcmp(name, w->item) == 0)
			match = 1;
		names[n] = strdup(name);
		if (!names[n]) {
			r = KMC_E_NOMEM;
			goto out;
		}
		cnames[n] = names[n];
		n++;
	}
	if (w->item && !match) {
		uint64_t of;

		if (audit_line_u64(l->text, l->mac_at, "of", &of) == 0)
			for (unsigned i = 0; i < ELEMENTSOF(w->matched); i++)
				match |= of != 0 && w->matched[i] == of;
	} else if (w->item && strcmp(result, "pending") == 0) {
		w->matched[w->n_matched++ % ELEMENTSOF(w->matched)] = l->seq;
	}
	line = strndup(l->text, l->len);
	if (!line)
		r = KMC_E_NOMEM;
	if (r == 0 && match) {
		kmc_audit_record rec = {
			.seq = l->seq, .time = when, .uid = (unsigned)uid,
			.user = user, .pid = (long)pid, .op = op,
			.n_items = n, .item_names = cnames,
			.item_versions = versions, .result = result,
			.line = line, .item_reads = reads,
			.item_removed = removed, .more_items = more,
		};
		r = w->cb(&rec, w->arg);
	}
out:
	free(line);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return r;
}

static int one_line(walk *w, const char *file, size_t lineno,
	const char *text, size_t len)
{
	audit_line l;
	uint8_t mac[AUDIT_HASH_LEN];
	uint64_t v;
	int r;

	r = audit_line_parse(text, len, &l);
	if (r == KMC_E_VERSION) {
		if (audit_line_version(text, len, &v) < 0)
			v = 0;	/* not reached: the parse read it */
		return kmc_detail(r, "%s/%s line %zu: an audit record of "
			"version %" PRIu64 ", and this kmc reads version %d "
			"only: a newer kmcvault wrote it", w->dir, file, lineno,
			v, AUDIT_FORMAT_VERSION);
	}
	if (r < 0)
		return broken(w, file, lineno, 0, "not an audit record");
	if (w->have_prev && l.seq != w->st.head_seq + 1) {
		char what[96];

		snprintf(what, sizeof(what), "seq %" PRIu64 " follows seq %"
			PRIu64 ": records were removed or reordered", l.seq,
			w->st.head_seq);
		return broken(w, file, lineno, l.seq, what);
	}
	if (w->have_prev && kmc_memcmp(l.prev, w->prev_hash, AUDIT_HASH_LEN))
		return broken(w, file, lineno, l.seq, "its prev is not the "
			"hash of the record before: a record before it was "
			"edited or replaced");
	if (!w->have_prev) {
		static const uint8_t zero[AUDIT_HASH_LEN];

		w->st.first_seq = l.seq;
		if (l.seq == 0)
			return broken(w, file, lineno, l.seq, "seq 0");
		if (l.seq == 1 && memcmp(l.prev, zero, sizeof(zero)))
			return broken(w, file, lineno, l.seq, "the first "
				"record names a record before it");
		w->need_through = l.seq - 1;
	}
	if (w->key) {
		kmc_mac(mac, w->key, text, l.mac_at);
		if (kmc_memcmp(mac, l.mac, AUDIT_HASH_LEN))
			return broken(w, file, lineno, l.seq, "its MAC does not "
				"verify: the record was edited or forged");
	}
	if (audit_line_u64(text, l.mac_at, "through", &v) == 0 &&
	    v == w->need_through)
		w->through_seen = 1;
	kmc_hash(w->prev_hash, text, len);
	if (w->bound_seq && l.seq == w->bound_seq) {
		if (kmc_memcmp(w->prev_hash, w->bound_hash, AUDIT_HASH_LEN))
			return broken(w, file, lineno, l.seq, "it is not the "
				"record kmc.bind vouches for: the log was "
				"rewritten from here on");
		w->bound_seen = 1;
	}
	w->have_prev = 1;
	w->st.head_seq = l.seq;
	w->st.records++;
	r = hand_out(w, &l);
	if (r == KMC_E_CORRUPT)
		return broken(w, file, lineno, l.seq, "a field is damaged");
	return r;
}

/* A torn record closed off: the line that follows says how long. */
static int torn_note(const char *text, size_t len, size_t torn_len)
{
	audit_line l;
	uint64_t v;

	return audit_line_parse(text, len, &l) == 0 &&
		audit_line_u64(text, l.mac_at, "torn", &v) == 0 &&
		v == torn_len;
}

/* fd, of st_size bytes when opened (see open_files()), is closed. */
static int walk_file(walk *w, const char *file, int last, int fd,
	const struct stat *st)
{
	_cleanup_(freep) char *buf = NULL;
	size_t n, at = 0, lineno = 0;
	ssize_t got;

	if (fd < 0)
		return 0;	/* no audit.log */
	n = (size_t)st->st_size;
	buf = malloc(n + 1);
	if (!buf) {
		close(fd);
		return KMC_E_NOMEM;
	}
	got = pread(fd, buf, n, 0);
	close(fd);
	if (got < 0 || (size_t)got != n)
		return kmc_detail(KMC_E_AUDIT, "%s/%s: a short read", w->dir,
			file);
	while (at < n) {
		char *nl = memchr(buf + at, '\n', n - at);
		size_t len = nl ? (size_t)(nl - (buf + at)) : n - at;

		lineno++;
		if (!nl) {
			if (!last)
				return broken(w, file, lineno, 0, "a torn record "
					"in a rotated segment");
			/* A record cut short is shorter than a whole one: more
			   is damage, which no change closes off (the writer
			   refuses to go on after it). */
			if (len >= AUDIT_LINE_MAX)
				return broken(w, file, lineno, 0, "not an audit "
					"record: more bytes without a newline than a "
					"record holds");
			w->st.torn_bytes = len;
			return kmc_detail(KMC_E_AUDIT, "%s/%s line %zu: a torn "
				"last record of %zu bytes (a crash cut it off, "
				"or the file was truncated); the next change "
				"closes it off", w->dir, file, lineno, len);
		}
		{
			/* A torn record closed off; the note is checked as
			   any record next. */
			char *nx = buf + at + len + 1;
			char *nl2 = memchr(nx, '\n', n - (size_t)(nx - buf));

			if (nl2 && torn_note(nx, (size_t)(nl2 - nx), len)) {
				at += len + 1;
				continue;
			}
		}
		KMC_GUARD(one_line(w, file, lineno, buf + at, len));
		at += len + 1;
	}
	if (n == 0 && !last)
		return broken(w, file, 1, 0, "an empty rotated segment");
	return 0;
}

/*
 * The log's files, all opened before any is read: a rotation renames
 * audit.log to a segment and removes the oldest one while a walk may be
 * under way, and names listed at one moment and opened at another would
 * show a seq gap, or miss the record of a segment's removal (kmc status
 * and verify then cried damage on a busy log). Listed, opened, listed
 * again: the same segments and the same audit.log, or once more. Open
 * files are read as they were, a segment removed since included.
 */
typedef struct log_files {
	size_t n;
	uint64_t firsts[AUDIT_SEGMENTS_KEPT + 8];
	int fds[AUDIT_SEGMENTS_KEPT + 8];
	struct stat sts[AUDIT_SEGMENTS_KEPT + 8];
	int log_fd;			/* -1: no audit.log */
	struct stat log_st;
} log_files;

static void close_files(log_files *f)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->fds[i] >= 0)
			close(f->fds[i]);
	if (f->log_fd >= 0)
		close(f->log_fd);
	f->n = 0;
	f->log_fd = -1;
}

static int open_once(walk *w, log_files *f)
{
	uint64_t again[AUDIT_SEGMENTS_KEPT + 8];
	char name[64];
	struct stat now;
	size_t m;
	int fd, e;

	f->n = 0;
	f->log_fd = -1;
	KMC_GUARD(audit_segments(w->dirfd, f->firsts, ELEMENTSOF(f->firsts),
		&f->n));
	for (size_t i = 0; i < f->n; i++)
		f->fds[i] = -1;
	for (size_t i = 0; i < f->n; i++) {
		audit_segment_name(f->firsts[i], name, sizeof(name));
		fd = audit_open_file(w->dirfd, w->dir, name, O_RDONLY,
			&f->sts[i]);
		KMC_GUARD(fd);	/* -ENOENT: removed since listed */
		f->fds[i] = fd;
	}
	fd = audit_open_file(w->dirfd, w->dir, AUDIT_NAME, O_RDONLY,
		&f->log_st);
	if (fd < 0 && fd != -ENOENT)
		return fd;
	f->log_fd = fd;
	KMC_GUARD(audit_segments(w->dirfd, again, ELEMENTSOF(again), &m));
	e = fstatat(w->dirfd, AUDIT_NAME, &now, AT_SYMLINK_NOFOLLOW) < 0 ?
		-errno : 0;
	if (m != f->n || memcmp(again, f->firsts, m * sizeof(*again)) != 0)
		return -EAGAIN;
	if (fd < 0 ? e != -ENOENT : e < 0 || now.st_ino != f->log_st.st_ino ||
	    now.st_dev != f->log_st.st_dev)
		return -EAGAIN;
	return 0;
}

static int open_files(walk *w, log_files *f)
{
	for (int tries = 0; tries < 100; tries++) {
		int r = open_once(w, f);

		if (r == 0)
			return 0;
		close_files(f);
		if (r != -ENOENT && r != -EAGAIN)
			return r;
	}
	return kmc_detail(KMC_E_AUDIT, "%s: the audit log was rotated again "
		"and again while read", w->dir);
}

static int walk_all(walk *w)
{
	log_files f;
	char name[64];
	int r = 0;

	KMC_GUARD(open_files(w, &f));
	w->st.segments = f.n;
	for (size_t i = 0; i < f.n; i++) {
		audit_segment_name(f.firsts[i], name, sizeof(name));
		if (r == 0)
			r = walk_file(w, name, 0, f.fds[i], &f.sts[i]);
		else
			close(f.fds[i]);
	}
	if (r < 0) {
		if (f.log_fd >= 0)
			close(f.log_fd);
		return r;
	}
	r = walk_file(w, AUDIT_NAME, 1, f.log_fd, &f.log_st);
	if (w->have_prev)
		vault_hex(w->prev_hash, AUDIT_HASH_LEN, w->st.head);
	KMC_GUARD(r);
	if (w->have_prev && w->need_through && !w->through_seen)
		return kmc_detail(KMC_E_AUDIT, "%s: the oldest audit record "
			"kept is seq %" PRIu64 ", and no record says the ones "
			"before it were removed: a segment was deleted", w->dir,
			w->st.first_seq);
	return 0;
}

/*
 * RFC 3339 in UTC, or a leading part of it that ends at a field:
 * 2026, 2026-12, 2026-12-01, 2026-12-01T10, ...T10:00, ...T10:00:00 and
 * the whole with its Z. Records are matched by comparing text, so a cut
 * inside a field ("2026-1" sorting after September) or a field out of
 * its range ("2026-13-01" after every December) would not fail: it
 * would quietly show the wrong records. NULL when s is such a time,
 * else what is wrong with it.
 */
static const char *since_fault(const char *s)
{
	static const char form[] = "dddd-dd-ddTdd:dd:ddZ";
	static const unsigned char mdays[12] = { 31, 29, 31, 30, 31, 30, 31,
		31, 30, 31, 30, 31 };
	size_t n = strlen(s);
	unsigned y, mo = 1, d;

	if (n > strlen(form))
		return "longer than a time";
	for (size_t i = 0; i < n; i++)
		if (form[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != form[i])
			return "not of the form";
	if (n != 4 && n != 7 && n != 10 && n != 13 && n != 16 && n != 19 &&
	    n != 20)
		return "cut inside a field (end with the year, month, day, "
			"hour, minute or second)";
	y = (unsigned)atoi(s);
	if (n >= 7 && ((mo = (unsigned)atoi(s + 5)) < 1 || mo > 12))
		return "the month is not 01 to 12";
	if (n >= 10) {
		d = (unsigned)atoi(s + 8);
		if (d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 &&
		    (y % 4 || (y % 100 == 0 && y % 400))))
			return "that day is not in that month";
	}
	if (n >= 13 && atoi(s + 11) > 23)
		return "the hour is not 00 to 23";
	if (n >= 16 && atoi(s + 14) > 59)
		return "the minute is not 00 to 59";
	if (n >= 19 && atoi(s + 17) > 60)
		return "the second is not 00 to 60";
	return NULL;
}

int kmc_audit_read(const char *dir, const char *since, const char *item,
	int (*cb)(const kmc_audit_record *rec, void *arg), void *arg,
	kmc_audit_state *ret_state)
{
	walk w = { .dir = dir, .since = since, .item = item, .cb = cb,
		.arg = arg };
	char dbuf[PATH_MAX];
	const char *fault;
	int r;

	kmc_detail_clear();
	/* Written whatever the return (kmc.3): a failure before the walk
	   leaves zeros, never the caller's stale bytes. */
	if (ret_state)
		memset(ret_state, 0, sizeof(*ret_state));
	if (since && (fault = since_fault(since)))
		return kmc_detail(KMC_E_INVALID, "--since %s: %s; give a UTC "
			"time as 2026-12-01 or 2026-12-01T10:00:00Z, or a leading "
			"part of one ending at a field", since, fault);
	/* No record names an item of a name no item can have. */
	if (item && kmc_name_check(item) < 0)
		return kmc_detail(KMC_E_NAME, "--item \"%.*s\": not an item "
			"name (1 to %d of [A-Za-z0-9._@:/+-] starting with neither "
			"'.' nor '/'), so no record names it", KMC_NAME_MAX, item,
			KMC_NAME_MAX);
	if (!dir) {
		KMC_GUARD(kmc_default_vault_dir(dbuf, sizeof(dbuf)));
		w.dir = dir = dbuf;
	}
	KMC_GUARD(vault_open_dir(dir, &w.dirfd));
	r = walk_all(&w);
	close(w.dirfd);
	if (ret_state)
		*ret_state = w.st;
	return r;
}

int kmc_audit_verify(kmc_vault *v, kmc_audit_state *ret_state)
{
	walk w = { .dirfd = v->dirfd, .dir = v->dir };
	int r;

	kmc_detail_clear();
	memset(ret_state, 0, sizeof(*ret_state));
	KMC_ENSURE(v->audit, KMC_E_INVALID);
	if (!audit_key(v))
		return kmc_detail(KMC_E_AUDIT, "%s: this handle holds no audit "
			"key; open the vault with a protector", v->dir);
	w.key = audit_key(v);
	/* No binding yet (an older kmc's vault, a reader of one): the chain
	   alone is checked. */
	if (bind_audit_head(v, &w.bound_seq, w.bound_hash) < 0) {
		kmc_detail_clear();
		w.bound_seq = 0;
	}
	r = walk_all(&w);
	*ret_state = w.st;
	KMC_GUARD(r);
	/* Records up to the bound one were there when kmc.bind was last
	   written: the log may have grown since (reads) and rotated old
	   segments out (the chain checks their removal), never shrunk. */
	if (w.bound_seq && !w.bound_seen && w.bound_seq >= w.st.first_seq)
		return kmc_detail(KMC_E_AUDIT, "%s: the audit log ends at seq "
			"%" PRIu64 ", but kmc.bind vouches for seq %" PRIu64 ": "
			"records were removed from its end", v->dir,
			w.st.head_seq, w.bound_seq);
	return 0;
}
