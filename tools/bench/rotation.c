/*
 * rotation.c - master-key rotation, in figures of its own (no peer does
 * the same): the latency of kmc_mk_rotate, and kmc_mk_rewrap of a vault of
 * 1,000,000 items while two reader processes, opened before the rotation,
 * read random items through the whole rewrap: its wall time, and the
 * readers' reads, errors and slowest read.
 */
#include <poll.h>
#include "bench.h"
#include "../../vault/vault.h"

#define ROT_ITEMS 1000000	/* the rewrap's vault */
#define ROT_CHUNK 50000		/* items a transaction while building it */
#define ROT_ITEM_SIZE 64
#define ROT_SAMPLES 31		/* rotations timed */
#define ROT_READERS 2

/* ---------------------------------------------------------------- */
/* Master-key rotation                                               */

/* n items of random bytes, "item-0000001" on, ROT_CHUNK a transaction. */
static void build_rotation_vault(const char *dir, unsigned n)
{
	unsigned char data[ROT_ITEM_SIZE];
	char name[32];
	kmc_vault *v;
	int r = 0;

	fprintf(stderr, "kmc-bench: building a vault of %u items\n", n);
	vault_create(dir);
	check_kmc(kmc_vault_open(dir, KMC_OPEN_WRITE, &v),
		"opening %s for writing", dir);
	for (unsigned i = 1; r == 0 && i <= n;) {
		store_txn t;

		kmc_detail_clear();
		check_kmc(store_txn_begin(&v->st, &t),
			"starting a store transaction in %s", dir);
		for (unsigned k = 0; r == 0 && k < ROT_CHUNK && i <= n; k++, i++) {
			snprintf(name, sizeof(name), "item-%07u", i);
			randombytes_buf(data, sizeof(data));
			r = items_txn_put(v, &t, name, KMC_ITEM_SECRET, data,
				sizeof(data), 0);
		}
		if (r < 0)
			store_txn_abort(&t);
		check_kmc(r, "sealing and storing %s in %s", name, dir);
		check_kmc(store_txn_commit(&t), "committing to %s", dir);
	}
	sodium_memzero(data, sizeof(data));
	kmc_vault_close(v);
}

typedef struct reader {
	pid_t pid;
	int out;	/* its report: "reads errors slowest_us" */
} reader;

/*
 * A server: opens the vault read-only once, before the rotation, says
 * "ready" on fd, and reads random items through that handle until its
 * parent closes stop; then writes its counts on fd. Never returns.
 */
static _Noreturn void reader_main(const char *dir, unsigned n, int fd,
	int stop)
{
	unsigned long long reads = 0, errors = 0;
	double slowest = 0;
	char name[32], line[128];
	kmc_vault *v;
	int len;

	if (kmc_vault_open(dir, 0, &v) < 0)
		_exit(3);
	if (write(fd, "r", 1) != 1)
		_exit(3);
	for (;;) {
		struct pollfd pfd = { stop, POLLIN, 0 };
		kmc_secret *s = NULL;
		double t0;

		if (poll(&pfd, 1, 0) > 0)
			break;
		snprintf(name, sizeof(name), "item-%07u",
			1 + randombytes_uniform(n));
		t0 = now();
		if (kmc_item_get_secret(v, name, &s) < 0 ||
		    kmc_secret_len(s) != ROT_ITEM_SIZE)
			errors++;
		t0 = now() - t0;
		if (t0 > slowest)
			slowest = t0;
		kmc_secret_free(s);
		reads++;
	}
	kmc_vault_close(v);
	len = snprintf(line, sizeof(line), "%llu %llu %.0f\n", reads, errors,
		slowest * 1e6);
	_exit(write(fd, line, (size_t)len) == len ? 0 : 3);
}

void figures_rotation(bench_env *env)
{
	char dir[PATH_MAX], small[PATH_MAX];
	reader rd[ROT_READERS];
	double lat[ROT_SAMPLES], t0, wall;
	unsigned long long reads = 0, errors = 0;
	double slowest = 0;
	kmc_rewrap_result res;
	int stop[2];
	uint32_t id;
	kmc_vault *v;

	(void)env;
	path_join(dir, tmp_dir, "million");
	/* Rotate latency: a vault with nothing to count, each new key
	   retiring the one before, so the keystore stays one key long. */
	path_join(small, tmp_dir, "rotate");
	vault_create(small);
	check_kmc(kmc_vault_open(small, KMC_OPEN_WRITE, &v), "opening %s",
		small);
	for (size_t i = 0; i < ROT_SAMPLES; i++) {
		t0 = now();
		check_kmc(kmc_mk_rotate(v, &id), "kmc_mk_rotate of %s", small);
		lat[i] = now() - t0;
		check_kmc(kmc_mk_retire(v, id - 1, NULL, 0),
			"kmc_mk_retire %u of %s", (unsigned)(id - 1), small);
	}
	kmc_vault_close(v);

	build_rotation_vault(dir, ROT_ITEMS);
	if (pipe(stop) < 0)
		die("rotation", "pipe: %s", strerror(errno));
	for (int i = 0; i < ROT_READERS; i++) {
		int fds[2];
		char c;

		if (pipe(fds) < 0)
			die("rotation", "pipe: %s", strerror(errno));
		fflush(NULL);
		rd[i].pid = fork();
		if (rd[i].pid < 0)
			die("rotation", "fork: %s", strerror(errno));
		if (rd[i].pid == 0) {
			close(fds[0]);
			close(stop[1]);
			reader_main(dir, ROT_ITEMS, fds[1], stop[0]);
		}
		close(fds[1]);
		rd[i].out = fds[0];
		if (read(rd[i].out, &c, 1) != 1)
			die("rotation", "reader %d did not start", i + 1);
	}
	close(stop[0]);
	fprintf(stderr, "kmc-bench: rotating and rewrapping %u items with %d "
		"readers running\n", ROT_ITEMS, ROT_READERS);
	check_kmc(kmc_vault_open(dir, KMC_OPEN_WRITE, &v), "opening %s", dir);
	check_kmc(kmc_mk_rotate(v, &id), "kmc_mk_rotate of %s", dir);
	t0 = now();
	check_kmc(kmc_mk_rewrap(v, NULL, &res), "kmc_mk_rewrap of %s", dir);
	wall = now() - t0;
	check_kmc(kmc_mk_retire(v, id - 1, NULL, 0), "retiring the old key "
		"of %s after the rewrap", dir);
	kmc_vault_close(v);
	/* The readers read on after the retire: through keys they found. */
	usleep(200000);
	close(stop[1]);
	for (int i = 0; i < ROT_READERS; i++) {
		char line[128] = "";
		unsigned long long r, e;
		double us;
		ssize_t got = read(rd[i].out, line, sizeof(line) - 1);
		int status;

		while (waitpid(rd[i].pid, &status, 0) < 0 && errno == EINTR)
			;
		if (got <= 0 || sscanf(line, "%llu %llu %lf", &r, &e, &us) != 3 ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			die("rotation", "reader %d failed", i + 1);
		reads += r;
		errors += e;
		if (us > slowest)
			slowest = us;
		close(rd[i].out);
	}
	qsort(lat, ROT_SAMPLES, sizeof(lat[0]), cmp_double);
	printf("\nmaster-key rotation (no peer does the same: figures, not "
		"ratios)\n");
	printf("  kmc_mk_rotate: median %.2f ms, slowest %.2f ms of %d "
		"(two keystore writes, each fsynced)\n",
		median(lat, ROT_SAMPLES) * 1e3, lat[ROT_SAMPLES - 1] * 1e3,
		ROT_SAMPLES);
	printf("  kmc_mk_rewrap of %d items (%d B each): %.1f s wall, "
		"%.0f records/s, %llu re-sealed\n", ROT_ITEMS, ROT_ITEM_SIZE,
		wall, (double)res.records / wall,
		(unsigned long long)res.records);
	printf("  %d readers opened before the rotation, reading random items "
		"throughout: %llu reads, %llu errors, slowest read %.1f ms\n",
		ROT_READERS, reads, errors, slowest / 1e3);
}
