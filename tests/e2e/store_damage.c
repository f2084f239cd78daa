/*
 * store_damage.c - break copies of one items.mdb in many ways and read
 * each through the library in a child process: open, list, get of every
 * item. A child killed by a signal (SIGBUS past the end of a short file,
 * SIGSEGV on a wild length), or ending in a sanitizer report, is a crash;
 * an item that opens with a value other than its own is a forgery. Both
 * must stay at zero. A refusal (any kmc error) is the expected outcome.
 *
 *   store_damage DIR [full|half]
 *
 * makes a vault in DIR/src (host protector, KMC_HOST_KEY set by the
 * caller) with items across several pages, one with overflow pages, then
 * for each damage writes a copy to DIR/wN and runs a child on it, two at
 * a time. Damages: every
 * byte of the meta fields of both meta pages flipped with 0xff, 0x01 and
 * 0x80; a sample of the other bytes (one in 64 of the meta pages' unused
 * rest, one in 157 of the data pages, a prime so the bit flipped and the
 * offset in a page both vary); truncations every 1024 bytes and
 * either side of each page boundary. "full": every byte and every length
 * (some 200 000 runs; make check-full). "half" (make check-sanitize, where
 * a run costs three times as much): the meta fields with 0xff and one
 * bit, and the other samples twice as sparse, between the ones make
 * check tries, so that CI covers more offsets in the same time. Prints
 * one line per crash or forgery and a summary; exits 1 if any.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <kmc.h>
#include <kmc/admin.h>

#define N_ITEMS 40
#define BIG_LEN 9000		/* past half a page: overflow pages */
#define META_FIELDS 152		/* page header and MDB_meta, 64-bit */

enum { CHILD_OK = 0, CHILD_REFUSED = 10, CHILD_FORGED = 11 };

#define JOBS 2			/* children at a time, each in its own copy */

static char src[4096], work[JOBS][4096];
static struct {
	pid_t pid;
	char what[64];
	int dupdata;	/* the damage is the known F_DUPDATA flip */
} slot[JOBS];
static uint8_t *orig;
static int dupdata_next;	/* the next run() is a sets_dupdata() one */
static size_t orig_len, psize = 4096;
static unsigned long runs, crashes, forged, refused, known;

static void die(const char *what)
{
	fprintf(stderr, "store_damage: %s: %s\n", what, kmc_error_detail());
	exit(2);
}

static void item_name(int i, char *buf, size_t size)
{
	snprintf(buf, size, "item%02d", i);
}

/* Item i's value: its own bytes, so a value moved between items shows. */
static size_t item_value(int i, uint8_t *buf)
{
	size_t len = i == 0 ? BIG_LEN : 40 + (size_t)i * 7;

	for (size_t j = 0; j < len; j++)
		buf[j] = (uint8_t)(i * 31 + j * 7 + 1);
	return len;
}

static void make_vault(void)
{
	static uint8_t buf[BIG_LEN];
	kmc_options o = KMC_OPTIONS_INIT;
	kmc_vault *v;
	char name[32];

	if (kmc_vault_init(src, KMC_PROTECTOR_HOST, &o) != 0)
		die("init");
	if (kmc_vault_open(src, KMC_OPEN_WRITE, &v) != 0)
		die("open");
	for (int i = 0; i < N_ITEMS; i++) {
		size_t len = item_value(i, buf);

		item_name(i, name, sizeof(name));
		if (kmc_item_put(v, name, i % 2 ? KMC_ITEM_PASSWORD :
			    KMC_ITEM_SECRET, buf, len) != 0)
			die("put");
	}
	kmc_vault_close(v);
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	p = malloc((size_t)st.st_size);
	if (!p || read(fd, p, (size_t)st.st_size) != st.st_size) {
		close(fd);
		return -1;
	}
	close(fd);
	*ret = p;
	*ret_len = (size_t)st.st_size;
	return 0;
}

static int write_file(const char *dir, const char *name, const uint8_t *p,
	size_t len)
{
	char path[8192];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, p, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static void copy_to_work(const char *name)
{
	char path[8192];
	uint8_t *p;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", src, name);
	if (read_file(path, &p, &len) < 0)
		die(name);
	for (int j = 0; j < JOBS; j++)
		if (write_file(work[j], name, p, len) < 0)
			die(name);
	free(p);
}

static int list_cb(const kmc_item_info *info, void *arg)
{
	(void)info;
	(*(int *)arg)++;
	return 0;
}

/* The child: every item that opens must hold its own value. */
static int child(const char *dir)
{
	static uint8_t want[BIG_LEN];
	kmc_vault *v;
	kmc_secret *s;
	char name[32];
	int n = 0, bad = 0;

	if (kmc_vault_open(dir, 0, &v) != 0)
		return CHILD_REFUSED;
	if (kmc_item_list(v, list_cb, &n) != 0)
		bad = 1;
	for (int i = 0; i < N_ITEMS; i++) {
		size_t len = item_value(i, want);

		item_name(i, name, sizeof(name));
		if (kmc_item_get_secret(v, name, &s) != 0) {
			bad = 1;
			continue;
		}
		if (kmc_secret_len(s) != len ||
		    memcmp(kmc_secret_data(s), want, len) != 0) {
			kmc_secret_free(s);
			kmc_vault_close(v);
			return CHILD_FORGED;
		}
		kmc_secret_free(s);
	}
	kmc_vault_close(v);
	return bad ? CHILD_REFUSED : CHILD_OK;
}

/* Wait for one child and count how it ended. */
static void reap(void)
{
	const char *what = "?";
	int status, j, dupdata = 0;
	pid_t pid;

	while ((pid = wait(&status)) < 0)
		if (errno != EINTR)
			die("wait");
	for (j = 0; j < JOBS; j++)
		if (slot[j].pid == pid) {
			what = slot[j].what;
			dupdata = slot[j].dupdata;
			slot[j].pid = 0;
			break;
		}
	if (WIFSIGNALED(status) && dupdata) {
		/* docs/threat-model.md, "A damaged item store": liblmdb
		   follows a cursor it never made. Counted, not hidden. */
		known++;
		printf("known: %s: a leaf node gains F_DUPDATA: signal %d\n",
			what, WTERMSIG(status));
	} else if (WIFSIGNALED(status)) {
		crashes++;
		printf("crash: %s: signal %d (%s)\n", what, WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	} else if (WEXITSTATUS(status) == CHILD_FORGED) {
		forged++;
		printf("forged: %s: an item opened with another value\n",
			what);
	} else if (WEXITSTATUS(status) == CHILD_REFUSED) {
		refused++;
	} else if (WEXITSTATUS(status) != CHILD_OK) {
		/* A sanitizer report ends the child with its own code. */
		crashes++;
		printf("crash: %s: exit %d\n", what, WEXITSTATUS(status));
	}
}

/*
 * Whether flipping mask at off sets F_DUPDATA (0x04) in the flags of a
 * node of a leaf page: the one damage docs/threat-model.md names as
 * crashing liblmdb itself, before kmc sees a byte. A page: pgno u64, pad
 * u16, flags u16 (P_LEAF 0x02), lower u16, upper u16, then the u16
 * offsets of its nodes; a node: size u32, flags u16, key size u16.
 */
static int sets_dupdata(size_t off, uint8_t mask)
{
	size_t po = off / psize * psize;
	uint16_t flags, lower, p;

	if (!(mask & 0x04) || (orig[off] & 0x04) || po + 16 > orig_len)
		return 0;
	memcpy(&flags, orig + po + 10, 2);
	memcpy(&lower, orig + po + 12, 2);
	if (!(flags & 0x02) || (flags & 0x20) || lower < 16 || lower > psize)
		return 0;
	for (size_t i = 16; i + 2 <= lower; i += 2) {
		memcpy(&p, orig + po + i, 2);
		if (po + p + 4 == off)
			return 1;
	}
	return 0;
}

/* Run one damaged copy, len bytes of buf as items.mdb, in a free slot. */
static void run(const uint8_t *buf, size_t len, const char *what)
{
	char lock[8192];
	pid_t pid;
	int j;

	for (;;) {
		for (j = 0; j < JOBS && slot[j].pid; j++)
			;
		if (j < JOBS)
			break;
		reap();
	}
	if (write_file(work[j], "items.mdb", buf, len) < 0)
		die("writing the damaged copy");
	snprintf(lock, sizeof(lock), "%s/items.mdb-lock", work[j]);
	(void)unlink(lock);
	runs++;
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(child(work[j]));
	slot[j].pid = pid;
	slot[j].dupdata = dupdata_next;
	dupdata_next = 0;
	snprintf(slot[j].what, sizeof(slot[j].what), "%s", what);
}

static void drain(void)
{
	for (int j = 0; j < JOBS; j++)
		if (slot[j].pid)
			reap();
}

static void flip(uint8_t *buf, size_t off, uint8_t mask)
{
	char what[64];

	memcpy(buf, orig, orig_len);
	buf[off] ^= mask;
	dupdata_next = sets_dupdata(off, mask);
	snprintf(what, sizeof(what), "byte %zu ^ 0x%02x", off, mask);
	run(buf, orig_len, what);
}

static void cut(uint8_t *buf, size_t len)
{
	char what[64];

	if (len >= orig_len)
		return;
	memcpy(buf, orig, len);
	snprintf(what, sizeof(what), "truncated to %zu bytes", len);
	run(buf, len, what);
}

int main(int argc, char **argv)
{
	static const uint8_t masks[] = { 0x01, 0x80 };
	int full = argc > 2 && strcmp(argv[2], "full") == 0;
	int half = argc > 2 && strcmp(argv[2], "half") == 0;
	size_t data_step = half ? 314 : 157, cut_step = half ? 2048 : 1024;
	char path[8192];
	uint8_t *buf;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: store_damage DIR [full]\n");
		return 2;
	}
	snprintf(src, sizeof(src), "%s/src", argv[1]);
	make_vault();
	for (int j = 0; j < JOBS; j++) {
		snprintf(work[j], sizeof(work[j]), "%s/w%d", argv[1], j);
		if (mkdir(work[j], 0700) < 0 && errno != EEXIST)
			die("mkdir");
	}
	copy_to_work("kmc.ks");
	copy_to_work("StandbyKsf.ks");
	snprintf(path, sizeof(path), "%s/items.mdb", src);
	if (read_file(path, &orig, &orig_len) < 0)
		die("reading items.mdb");
	/* The page size, from meta page 0 (the free DB's pad). */
	memcpy(&psize, orig + 40, 4);
	if (psize < 512 || orig_len < 2 * psize + psize)
		die("an unexpected items.mdb");
	buf = malloc(orig_len);
	if (!buf)
		die("malloc");

	/* The undamaged copy opens: the child itself works. */
	run(orig, orig_len, "undamaged");
	drain();
	if (refused)
		die("the undamaged copy was refused");
	/* The meta pages: their fields bit by bit, the rest sampled. */
	for (size_t off = 0; off < 2 * psize; off++) {
		if (off % psize < META_FIELDS) {
			flip(buf, off, 0xff);
			if (half)
				flip(buf, off, masks[off % 2]);
			else
				for (size_t m = 0; m < sizeof(masks); m++)
					flip(buf, off, masks[m]);
		} else if (full || off % (half ? 128 : 64) == (half ? 32u : 0u)) {
			flip(buf, off, 0xff);
		}
	}
	/* The data pages: a sample, each with another bit. */
	for (size_t off = 2 * psize + (half ? 78 : 0); off < orig_len;
	     off += full ? 1 : data_step)
		flip(buf, off, full ? 0xff : (uint8_t)(1u << (off % 8)));
	for (size_t len = half ? 512 : 0; len < orig_len;
	     len += full ? 1 : cut_step)
		cut(buf, len);
	for (size_t pg = 1; pg * psize <= orig_len; pg++) {
		cut(buf, pg * psize - 1);
		cut(buf, pg * psize + 1);
	}
	drain();
	printf("%lu runs (%zu-byte store), %lu refused, %lu known "
		"(F_DUPDATA), %lu crashes, %lu forgeries\n", runs, orig_len,
		refused, known, crashes, forged);
	free(buf);
	free(orig);
	return crashes || forged ? 1 : 0;
}
