/*
 * auditwrite.c - appending to the audit log (the format: docs/format.md and
 * audit.h).
 *
 * An append, under flock(audit.log) (readers of secrets append too, so
 * writers are not serialized by the vault's writer lock alone):
 *   1. open audit.log (O_NOFOLLOW, made 0600 when absent), lock it, check
 *      it (regular, ours, 0600, one link) and that the name still leads
 *      to the very file locked (a rotation may have renamed it meanwhile);
 *   2. read its tail: the last record's seq and hash are the head (an
 *      empty audit.log goes on from the newest segment). A last line
 *      without its newline is a record a crash tore: it is closed off
 *      with a newline and a record saying how many bytes it had, so no
 *      record is dropped silently and verify knows it is no forgery of
 *      a record's removal;
 *   3. a full file is renamed to its segment name and the append starts
 *      again on a new audit.log; the oldest segment beyond
 *      AUDIT_SEGMENTS_KEPT is removed after a record that says so;
 *   4. the record is written with one write(), then fdatasync() (not
 *      for a change's outcome, see audit_change() in audit.c, nor for a
 *      read, see read_record() there). A failure truncates the file
 *      back to where it was.
 * A change whose record cannot be written is not made (KMC_E_AUDIT).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "audit.h"
#include "../kmc/crypto.h"
#include "../safeio/fileio.h"

/* AUDIT_SEGMENT_MAX, smaller only for a test of rotation
   (audit_test_segment_max(); not exported, no variable or option). */
static size_t segment_max = AUDIT_SEGMENT_MAX;

void audit_test_segment_max(size_t max)
{
	segment_max = max ? max : AUDIT_SEGMENT_MAX;
}

/* The record being written: one line, bounded. */
typedef struct line_buf {
	char s[AUDIT_LINE_MAX];
	size_t n;
	int full;
} line_buf;

static void lb_put(line_buf *b, const char *s, size_t n)
{
	if (b->full || n >= sizeof(b->s) - b->n) {
		b->full = 1;
		return;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
}

static void lb_puts(line_buf *b, const char *s)
{
	lb_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void lb_printf(line_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->full = 1;
		return;
	}
	lb_put(b, tmp, (size_t)n);
}

/* A JSON string: quotes, backslash and control bytes escaped; UTF-8
   text as it is. A byte that is not part of well-formed UTF-8 (an error
   detail may hold a path of any bytes) is written as the text \xNN, as
   kmc_escape() shows it: JSON is UTF-8, and a record with such a byte
   as it is would not parse for an auditor's tools. C1 controls too. */
static void lb_str(line_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), n;

	lb_put(b, "\"", 1);
	while (left > 0) {
		unsigned char c = *p;

		n = 1;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			lb_put(b, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			lb_printf(b, "\\u%04x", c);
		} else if (c < 0x80) {
			lb_put(b, (const char *)p, 1);
		} else if ((n = kmc_utf8_len(p, left)) > 0) {
			lb_put(b, (const char *)p, n);
		} else {
			n = 1;
			lb_printf(b, "\\\\x%02x", c);
		}
		p += n;
		left -= n;
	}
	lb_put(b, "\"", 1);
}

/*
 * A time, in UTC, as RFC 3339 (now, for a record). Computed here rather than by gmtime_r(): the
 * first gmtime_r() of a process reads /etc/localtime (glibc's tzset),
 * seven system calls that the first read of a server's key paid for a
 * time zone the record never shows. Days to civil date: H. Hinnant's
 * days_from_civil inverse, proleptic Gregorian, exact for any time_t
 * from 1970 on.
 */
void audit_time_format(time_t t, char out[32])
{
	int64_t days, secs, era, doe, yoe, doy, mp, y, m, d;

	if (t < 0) {
		snprintf(out, 32, "1970-01-01T00:00:00Z");
		return;
	}
	days = (int64_t)t / 86400;
	secs = (int64_t)t % 86400;
	days += 719468;			/* from 0000-03-01 */
	era = days / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	if (y > 9999) {
		snprintf(out, 32, "9999-12-31T23:59:59Z");
		return;
	}
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, (int)m,
		(int)d, (int)(secs / 3600), (int)(secs / 60 % 60),
		(int)(secs % 60));
}

static void rfc3339_now(char out[32])
{
	audit_time_format(time(NULL), out);
}

static int build(struct audit_state *a, const audit_rec *rec, uint64_t seq,
	const uint8_t prev[AUDIT_HASH_LEN], line_buf *b)
{
	char when[32], hex[2 * AUDIT_HASH_LEN + 1];
	uint8_t mac[AUDIT_HASH_LEN];

	rfc3339_now(when);
	b->n = 0;
	b->full = 0;
	lb_printf(b, "{\"v\":%d,\"seq\":%" PRIu64 ",\"time\":\"%s\","
		"\"uid\":%u,\"user\":", AUDIT_FORMAT_VERSION, seq, when,
		(unsigned)getuid());
	lb_str(b, audit_user_name(a));
	lb_printf(b, ",\"pid\":%ld,\"op\":", (long)getpid());
	lb_str(b, rec->op ? rec->op : "change");
	lb_puts(b, ",\"items\":[");
	for (size_t i = 0; i < rec->n_items; i++) {
		lb_puts(b, i ? ",{\"name\":" : "{\"name\":");
		lb_str(b, rec->items[i].name);
		lb_printf(b, ",\"version\":%" PRIu32, rec->items[i].version);
		if (rec->items[i].removed)
			lb_puts(b, ",\"removed\":true");
		if (rec->items[i].reads)
			lb_printf(b, ",\"reads\":%" PRIu64, rec->items[i].reads);
		lb_puts(b, "}");
	}
	lb_puts(b, "]");
	if (rec->more_items)
		lb_printf(b, ",\"more_items\":%zu", rec->more_items);
	if (rec->gen)
		lb_printf(b, ",\"gen\":%" PRIu64, rec->gen);
	if (rec->of)
		lb_printf(b, ",\"of\":%" PRIu64, rec->of);
	if (rec->through >= 0)
		lb_printf(b, ",\"through\":%" PRId64, rec->through);
	if (rec->torn >= 0)
		lb_printf(b, ",\"torn\":%" PRId64, rec->torn);
	lb_puts(b, ",\"result\":");
	lb_str(b, rec->result ? rec->result : "ok");
	vault_hex(prev, AUDIT_HASH_LEN, hex);
	lb_printf(b, ",\"prev\":\"%s\"", hex);
	KMC_ENSURE(!b->full, KMC_E_TOO_LARGE);
	kmc_mac(mac, kmc_secret_data(a->key), b->s, b->n);
	vault_hex(mac, AUDIT_HASH_LEN, hex);
	lb_printf(b, ",\"mac\":\"%s\"}\n", hex);
	KMC_ENSURE(!b->full, KMC_E_TOO_LARGE);
	return 0;
}

/* ---- the open file and its tail ---------------------------------------- */

typedef struct tail {
	int fd;
	off_t size;
	uint64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
	int64_t torn;		/* bytes of a torn last line, else -1 */
	uint64_t first;		/* audit.log's first seq (0: empty) */
} tail;

static int audit_fail(kmc_vault *v, int err, const char *what)
{
	return kmc_detail(KMC_E_AUDIT, "%s/" AUDIT_NAME ": %s: %s; nothing "
		"changed", v->dir, what, kmc_strerror(err));
}

/* A log whose last record a newer kmcvault wrote: this kmc appends
   nothing to it (it could not say how its chain goes on). */
static int newer_log(kmc_vault *v, const char *name)
{
	return kmc_detail(KMC_E_VERSION, "%s/%s: its last record is of an "
		"audit record version above %d, the one this kmc writes: a "
		"newer kmcvault wrote it; nothing changed (use that kmcvault)",
		v->dir, name, AUDIT_FORMAT_VERSION);
}

/* Seq and hash of the last complete line of buf[0..n) that ends at
   buf[n-1] == '\n'. *ret_start: where that line begins. */
static int last_line(const char *buf, size_t n, int whole, uint64_t *ret_seq,
	uint8_t hash[AUDIT_HASH_LEN], size_t *ret_start)
{
	audit_line l;
	size_t s = n - 1;

	while (s > 0 && buf[s - 1] != '\n')
		s--;
	if (s == 0 && !whole)
		return KMC_E_CORRUPT;	/* longer than a record may be */
	KMC_GUARD(audit_line_parse(buf + s, n - 1 - s, &l));
	kmc_hash(hash, buf + s, n - 1 - s);
	*ret_seq = l.seq;
	if (ret_start)
		*ret_start = s;
	return 0;
}

/* The head of a file's tail: its last complete record, and whether a
   torn line follows it. */
static int read_tail(int fd, off_t size, tail *t)
{
	char buf[2 * AUDIT_LINE_MAX];
	size_t n = size < (off_t)sizeof(buf) ? (size_t)size : sizeof(buf);
	off_t at = size - (off_t)n;
	size_t end;
	ssize_t got;

	t->torn = -1;
	got = pread(fd, buf, n, at);
	if (got < 0)
		return -errno;
	KMC_ENSURE((size_t)got == n, KMC_E_CORRUPT);
	end = n;
	if (buf[n - 1] != '\n') {
		while (end > 0 && buf[end - 1] != '\n')
			end--;
		t->torn = (int64_t)(n - end);
		/* Longer than a record: no crash tore it (verify says so). */
		KMC_ENSURE(t->torn < AUDIT_LINE_MAX, KMC_E_CORRUPT);
		if (end == 0) {
			KMC_ENSURE(at == 0, KMC_E_CORRUPT);
			return 1;	/* nothing but a torn line */
		}
	}
	KMC_GUARD(last_line(buf, end, at == 0, &t->seq, t->hash, NULL));
	return 0;
}

/* The head from the newest segment (audit.log is empty or absent). */
static int segment_head(kmc_vault *v, uint64_t *ret_seq,
	uint8_t hash[AUDIT_HASH_LEN])
{
	uint64_t firsts[64];
	char name[64];
	struct stat st;
	size_t n;
	tail t = { .fd = -1 };
	int fd, r;

	*ret_seq = 0;
	memset(hash, 0, AUDIT_HASH_LEN);
	KMC_GUARD(audit_segments(v->dirfd, firsts, 64, &n));
	if (n == 0)
		return 0;
	audit_segment_name(firsts[n - 1], name, sizeof(name));
	fd = audit_open_file(v->dirfd, v->dir, name, O_RDONLY, &st);
	if (fd < 0)
		return fd;
	r = st.st_size > 0 ? read_tail(fd, st.st_size, &t) : KMC_E_CORRUPT;
	close(fd);
	if (r == KMC_E_VERSION)
		return newer_log(v, name);
	if (r != 0 || t.torn >= 0)
		return kmc_detail(KMC_E_AUDIT, "%s/%s: its last record is "
			"damaged; kmc audit verify says where", v->dir, name);
	*ret_seq = t.seq;
	memcpy(hash, t.hash, AUDIT_HASH_LEN);
	return 0;
}

/* Open, lock and check audit.log (made when absent, unless create is 0:
   then -ENOENT), and read its head into t. */
static int log_open(kmc_vault *v, int create, tail *t)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat st, now;
		char first[40];
		int fd, r;

		fd = audit_open_file(v->dirfd, v->dir, AUDIT_NAME,
			create ? O_RDWR | O_APPEND | O_CREAT : O_RDWR | O_APPEND,
			&st);
		if (fd < 0)
			return fd;
		while ((r = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
			;
		if (r < 0) {
			r = -errno;
			close(fd);
			return kmc_detail(KMC_E_AUDIT, "%s/" AUDIT_NAME ": "
				"locking it: %s", v->dir, kmc_strerror(r));
		}
		/* Renamed to a segment while we waited: the new one. */
		if (fstatat(v->dirfd, AUDIT_NAME, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
		    now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
			close(fd);
			continue;
		}
		if (fstat(fd, &st) < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		t->fd = fd;
		t->size = st.st_size;
		t->first = 0;
		t->torn = -1;
		if (st.st_size == 0) {
			r = segment_head(v, &t->seq, t->hash);
		} else {
			r = read_tail(fd, st.st_size, t);
			if (r == 1) {	/* one torn line and nothing else */
				r = segment_head(v, &t->seq, t->hash);
			} else if (r == 0) {
				ssize_t got = pread(fd, first, sizeof(first) - 1, 0);
				uint64_t s;

				first[got > 0 ? got : 0] = '\0';
				if (audit_line_u64(first, strlen(first), "seq",
				    &s) == 0)
					t->first = s;
			}
		}
		if (r < 0) {
			close(fd);
			t->fd = -1;
			if (r == KMC_E_AUDIT)
				return r;
			if (r == KMC_E_VERSION)
				return newer_log(v, AUDIT_NAME);
			return kmc_detail(KMC_E_AUDIT, "%s/" AUDIT_NAME ": its "
				"last record is damaged (%s); kmc audit verify "
				"says where", v->dir, kmc_strerror(r));
		}
		return 0;
	}
	return kmc_detail(KMC_E_AUDIT, "%s/" AUDIT_NAME ": renamed again and "
		"again while opening it", v->dir);
}

void audit_log_forget(struct audit_state *a)
{
	/* In a forked child the descriptor is the parent's too: closing
	   this copy leaves the parent's (and its lock) as they are. */
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

/*
 * The kept audit.log, locked, with its tail as this handle left it: 1,
 * or 0 when it cannot be used (none kept, another process's descriptor,
 * renamed or replaced, changed since, now unsafe): then it is closed and
 * log_open() does the whole work. A lock is per open file description,
 * which a forked child shares: hence the pid.
 */
static int log_reuse(kmc_vault *v, tail *t)
{
	struct audit_state *a = v->audit;
	struct stat st, now;
	int r;

	if (a->fd < 0)
		return 0;
	if (a->pid != getpid()) {
		audit_log_forget(a);
		return 0;
	}
	while ((r = flock(a->fd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (r < 0 || fstat(a->fd, &st) < 0 ||
	    fstatat(v->dirfd, AUDIT_NAME, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    now.st_ino != st.st_ino || now.st_dev != st.st_dev ||
	    st.st_ino != a->ino || st.st_dev != a->dev ||
	    st.st_size != a->size || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) || st.st_nlink > 1 ||
	    kmc_check_owner(&st, 0) < 0) {
		audit_log_forget(a);
		return 0;
	}
	t->fd = a->fd;
	t->size = st.st_size;
	t->seq = a->seq;
	t->first = a->first;
	t->torn = -1;
	memcpy(t->hash, a->hash, AUDIT_HASH_LEN);
	return 1;
}

/* Keep t's audit.log open for the next append, unlocked; or close it. */
static void log_leave(kmc_vault *v, tail *t, int keep)
{
	struct audit_state *a = v->audit;
	struct stat st;

	if (t->fd < 0)
		return;
	if (a->fd >= 0 && a->fd != t->fd)
		audit_log_forget(a);
	if (!keep || fstat(t->fd, &st) < 0) {
		close(t->fd);
		if (a->fd == t->fd)
			a->fd = -1;
		t->fd = -1;
		return;
	}
	a->fd = t->fd;
	a->pid = getpid();
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	a->size = t->size;
	a->seq = t->seq;
	a->first = t->first;
	memcpy(a->hash, t->hash, AUDIT_HASH_LEN);
	(void)flock(t->fd, LOCK_UN);
	t->fd = -1;
}

/* Write one record at the end; on failure cut the file back. */
static int append_one(kmc_vault *v, tail *t, const audit_rec *rec)
{
	line_buf *b = malloc(sizeof(*b));
	int r;

	KMC_ENSURE(b, KMC_E_NOMEM);
	r = build(v->audit, rec, t->seq + 1, t->hash, b);
	if (r < 0) {
		free(b);
		return kmc_detail(KMC_E_AUDIT, "%s/" AUDIT_NAME ": a record of "
			"more than %u bytes", v->dir, AUDIT_LINE_MAX);
	}
	/* Past RLIMIT_FSIZE: not written (kmc_write_full), as on a full
	   disk, rather than SIGXFSZ killing a server reading a secret. */
	r = kmc_write_full(t->fd, b->s, b->n);
	if (r == 0 && !rec->no_sync && fdatasync(t->fd) < 0)
		r = -errno;
	if (r < 0) {
		if (ftruncate(t->fd, t->size) < 0) {
			/* The torn line stays; the next append closes it off. */
		}
		free(b);
		return audit_fail(v, r, "writing a record");
	}
	t->seq++;
	kmc_hash(t->hash, b->s, b->n - 1);
	if (t->first == 0)
		t->first = t->seq;
	t->size += (off_t)b->n;
	free(b);
	return 0;
}

/* A torn last line is closed off and said so. */
static int close_torn(kmc_vault *v, tail *t)
{
	audit_rec note = { .op = "audit torn record", .result = "closed off",
		.through = -1, .torn = t->torn };
	int r;

	r = kmc_write_full(t->fd, "\n", 1);
	if (r < 0)
		return audit_fail(v, r, "closing off a torn record");
	t->size += 1;
	t->torn = -1;
	return append_one(v, t, &note);
}

/* Remove the oldest segments beyond AUDIT_SEGMENTS_KEPT, each after a
   record naming it and its last seq. */
static int prune(kmc_vault *v, tail *t)
{
	uint64_t firsts[AUDIT_SEGMENTS_KEPT + 8];
	size_t n;
	char name[64];

	KMC_GUARD(audit_segments(v->dirfd, firsts, ELEMENTSOF(firsts), &n));
	for (size_t i = 0; n > AUDIT_SEGMENTS_KEPT && i < n - AUDIT_SEGMENTS_KEPT;
	     i++) {
		audit_item it = { .name = name };
		audit_rec rec = { .op = "audit segment removed", .items = &it,
			.n_items = 1, .result = "ok",
			.through = (int64_t)firsts[i + 1] - 1, .torn = -1 };

		audit_segment_name(firsts[i], name, sizeof(name));
		KMC_GUARD(append_one(v, t, &rec));
		if (unlinkat(v->dirfd, name, 0) < 0 && errno != ENOENT)
			return audit_fail(v, -errno, "removing an old segment");
	}
	return 0;
}

/* Append rec (and what the log needs first) under the lock. */
int audit_append(kmc_vault *v, const audit_rec *rec, uint64_t *ret_seq)
{
	tail t = { .fd = -1 };
	int r, rotated = 0;

	if (!log_reuse(v, &t))
		KMC_GUARD(log_open(v, 1, &t));
	/* Before anything is written: the log holds the bound record. */
	if (rec->bound_seq) {
		r = audit_bound_require(v, t.fd, t.size, t.seq, t.hash, rec);
		if (r < 0)
			goto out;
	}
	if (t.torn >= 0) {
		r = close_torn(v, &t);
		if (r < 0)
			goto out;
	}
	if (t.size > 0 && t.size >= (off_t)segment_max) {
		char name[64];

		audit_segment_name(t.first ? t.first : t.seq, name, sizeof(name));
		if (renameat(v->dirfd, AUDIT_NAME, v->dirfd, name) < 0) {
			r = audit_fail(v, -errno, "rotating it");
			goto out;
		}
		if (fsync(v->dirfd) < 0) {
			r = audit_fail(v, -errno, "rotating it");
			goto out;
		}
		log_leave(v, &t, 0);
		KMC_GUARD(log_open(v, 1, &t));
		rotated = 1;
	}
	if (rotated) {
		r = prune(v, &t);
		if (r < 0)
			goto out;
	}
	r = append_one(v, &t, rec);
	if (r == 0 && ret_seq)
		*ret_seq = t.seq;
out:
	log_leave(v, &t, r == 0);
	return r;
}

/* A change cut off between its two records (a kill, a crash): a
   "pending" record that no later record names as "of" (readers may have
   appended after it). The store's generation tells whether it was made,
   or for a keystore change the generation of the keystore that opened.
   Changes are serialized by the writer lock, so only the last one can be
   open, and it is most often near the end: the last AUDIT_SCAN bytes are
   looked at, and when the record kmc.bind vouches for (the last change's
   pending one) is further back, every record from it on
   (audit_bound_unfinished(), auditbound.c). */
#define AUDIT_SCAN (64u * 1024)
/* A "pending" record's op, and the store generation or keystore
   generation it makes; 0 when l is no pending record. */
static int pending_fields(const char *l, size_t len, char *op, size_t size,
	uint64_t *ret_gen, uint64_t *ret_ks)
{
	static const char ks[] = "{\"name\":\"(keystore)\",\"version\":";
	char result[32];
	const char *k;

	if (audit_line_str(l, len, "result", result, sizeof(result)) < 0 ||
	    strcmp(result, "pending") != 0 ||
	    audit_line_str(l, len, "op", op, size) < 0)
		return 0;
	if (audit_line_u64(l, len, "gen", ret_gen) < 0)
		*ret_gen = 0;
	*ret_ks = 0;
	k = memmem(l, len, ks, sizeof(ks) - 1);
	for (k = k ? k + sizeof(ks) - 1 : NULL;
	     k && k < l + len && *k >= '0' && *k <= '9' && *ret_ks < UINT32_MAX;
	     k++)
		*ret_ks = *ret_ks * 10 + (uint64_t)(*k - '0');
	return 1;
}

int audit_finish_cut(kmc_vault *v)
{
	_cleanup_(freep) char *buf = NULL;
	char op[128], line[AUDIT_LINE_MAX];
	tail t = { .fd = -1 };
	audit_rec rec = { .op = op, .through = -1, .torn = -1 };
	uint64_t gen, ks, now = 0, seq, of, open_seq = 0, open_gen = 0;
	uint64_t open_ks = 0, lowest = UINT64_MAX;
	size_t n, at = 0, len;
	int r;

	r = log_open(v, 0, &t);
	if (r == -ENOENT)
		return 0;
	KMC_GUARD(r);
	if (t.torn >= 0)
		goto out;	/* the next append closes it off */
	n = t.size < (off_t)AUDIT_SCAN ? (size_t)t.size : AUDIT_SCAN;
	buf = malloc(n + 1);
	if (!buf || pread(t.fd, buf, n, t.size - (off_t)n) != (ssize_t)n)
		goto out;
	if ((off_t)n < t.size)	/* the first line is cut: skip it */
		while (at < n && buf[at++] != '\n')
			;
	while (at < n) {
		char *nl = memchr(buf + at, '\n', n - at);
		const char *l = buf + at;

		len = nl ? (size_t)(nl - (buf + at)) : n - at;
		at += len + 1;
		if (audit_line_u64(l, len, "seq", &seq) < 0)
			continue;
		lowest = seq < lowest ? seq : lowest;
		if (audit_line_u64(l, len, "of", &of) == 0 && of == open_seq)
			open_seq = 0;
		if (pending_fields(l, len, op, sizeof(op), &gen, &ks)) {
			open_seq = seq;
			open_gen = gen;
			open_ks = ks;
		}
	}
	/* Past what was read (many reads since, or a rotation): from the
	   record kmc.bind vouches for, the last change's pending one. */
	if (audit_bound_unfinished(v, t.fd, t.size, (off_t)n < t.size ?
	    lowest : t.first ? t.first : t.seq + 1, line, sizeof(line),
	    &len) == 0) {
		open_seq = 0;
		if (len && audit_line_u64(line, len, "seq", &seq) == 0 &&
		    pending_fields(line, len, op, sizeof(op), &gen, &ks)) {
			open_seq = seq;
			open_gen = gen;
			open_ks = ks;
		}
	}
	if (!open_seq)
		goto out;
	if (open_gen && store_stat(&v->st, NULL, &now) == 0)
		rec.result = now >= open_gen ?
			"ok (found made at the next open)" :
			"not made (cut off)";
	else if (open_ks && v->ks)
		rec.result = v->ks->generation >= open_ks ?
			"ok (found made at the next open)" :
			"not made (cut off)";
	else
		rec.result = "cut off (outcome unknown)";
	rec.gen = open_gen;
	rec.of = open_seq;
	r = append_one(v, &t, &rec);
out:
	close(t.fd);
	return r;
}

int audit_derive_key(const kmc_secret *rk, kmc_secret **ret)
{
	uint8_t key[KMC_KEY_LEN];
	int r;

	r = kmc_subkey(key, kmc_secret_data((kmc_secret *)rk), 1, "kmcaudt");
	if (r == 0)
		r = kmc_secret_dup(key, sizeof(key), ret);
	kmc_wipe(key, sizeof(key));
	return r;
}

int audit_first(int dirfd, const kmc_secret *rk, const char *op)
{
	struct audit_state a = { 0 };
	static const uint8_t zero[AUDIT_HASH_LEN];
	audit_rec rec = { .op = op, .result = "ok", .through = -1,
		.torn = -1 };
	line_buf *b = malloc(sizeof(*b));
	int r;

	KMC_ENSURE(b, KMC_E_NOMEM);
	r = audit_derive_key(rk, &a.key);
	if (r == 0)
		r = build(&a, &rec, 1, zero, b);
	if (r == 0)
		r = kmc_write_atomic(dirfd, AUDIT_NAME, b->s, b->n, 0600, 1);
	kmc_secret_free(a.key);
	free(b);
	return r;
}

int audit_head(kmc_vault *v, uint64_t *ret_seq,
	uint8_t ret_hash[AUDIT_HASH_LEN])
{
	tail t = { .fd = -1 };
	int r;

	if (!log_reuse(v, &t)) {
		r = log_open(v, 0, &t);
		if (r == -ENOENT)
			return segment_head(v, ret_seq, ret_hash);
		KMC_GUARD(r);
	}
	*ret_seq = t.seq;
	memcpy(ret_hash, t.hash, AUDIT_HASH_LEN);
	log_leave(v, &t, 1);
	return 0;
}
