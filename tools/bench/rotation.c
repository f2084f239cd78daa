/*
 * rotation.c - master-key rotation, in figures of its own (no peer does
 * the same): the latency of kmc_mk_rotate, and kmc_mk_rewrap of the vault
 * of a million items (million.c; 100,000 under BENCH_QUICK) while two
 * reader processes, opened before the rotation, read random items through
 * the whole rewrap: its wall time, and the readers' reads, errors and
 * slowest read. It runs after the table, so rows 3 and get-1m have read
 * that vault before the rewrap changes it.
 */
#include <poll.h>
#include "bench.h"

#define ROT_SAMPLES 31		/* rotations timed */
#define ROT_READERS 2

/* ---------------------------------------------------------------- */
/* Master-key rotation                                               */

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
		million_name(name, sizeof(name), 1 + randombytes_uniform(n));
		t0 = now();
		if (kmc_item_get_secret(v, name, &s) < 0 ||
		    kmc_secret_len(s) != MILLION_ITEM_SIZE)
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
	char small[PATH_MAX];
	const char *dir;
	reader rd[ROT_READERS];
	double lat[ROT_SAMPLES], t0, wall;
	unsigned long long reads = 0, errors = 0;
	double slowest = 0;
	kmc_rewrap_result res;
	int stop[2];
	uint32_t id;
	unsigned n;
	kmc_vault *v;

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

	/* Built in one batch (or already, by rows 3 and get-1m). */
	dir = million_vault(env, &n);
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
			reader_main(dir, n, fds[1], stop[0]);
		}
		close(fds[1]);
		rd[i].out = fds[0];
		if (read(rd[i].out, &c, 1) != 1)
			die("rotation", "reader %d did not start", i + 1);
	}
	close(stop[0]);
	fprintf(stderr, "kmc-bench: rotating and rewrapping %u items with %d "
		"readers running\n", n, ROT_READERS);
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
	printf("  kmc_mk_rewrap of %u items (%d B each): %.1f s wall, "
		"%.0f records/s, %llu re-sealed\n", n, MILLION_ITEM_SIZE,
		wall, (double)res.records / wall,
		(unsigned long long)res.records);
	printf("  %d readers opened before the rotation, reading random items "
		"throughout: %llu reads, %llu errors, slowest read %.1f ms\n",
		ROT_READERS, reads, errors, slowest / 1e3);
}
