/*
 * row_boot.c - the server with many keys (a multi-tenant TLS terminator
 * at start-up): BOOT_KEYS private keys, half RSA 2048 and half P-256,
 * loaded into EVP_PKEYs with kmc_key_load from one vault against the
 * same keys (the same PKCS#8 bytes) loaded from as many plain PEM files
 * with PEM_read_bio_PrivateKey.
 *
 * Each sample is a fresh process, this binary run again as
 * `kmc-bench --boot-child kmc|pem DIR COUNT`, so that its peak RSS
 * (VmHWM) is the load's own and both sides start from the same image.
 * The child times its own load and reports the seconds and its VmHWM;
 * with BENCH_BOOT_DEBUG set it also says, on stderr, its RSS at the start,
 * after the vault opened, before it closes, its RssAnon and RssFile
 * once loaded, and malloc's figures (mallinfo2). BENCH_BOOT_SMAPS=PREFIX
 * copies its /proc/self/smaps, mapping by mapping, to PREFIX.kmc.open
 * (before the close) and PREFIX.MODE.end (every key held, vault closed):
 * docs/performance.md compares the two sides' mappings with them.
 *
 * RSA 2048 key generation costs a third of a second here: 5,000 distinct
 * keys would take most of half an hour. The RSA half is drawn in turn
 * from a pool of BOOT_RSA_POOL distinct keys, each stored under names of
 * its own; a parse does the same work whichever key it reads. The P-256
 * keys are all distinct.
 */
#include <malloc.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <kmc/tls.h>
#include "bench.h"

#define BOOT_KEYS 10000
#define BOOT_RSA_POOL 32
#define BOOT_SAMPLES 3
#define BOOT_KEYS_QUICK 1000
#define BOOT_RSA_POOL_QUICK 4
#define BOOT_SAMPLES_QUICK 3

typedef struct boot_side {
	const char *mode;	/* "kmc" or "pem" */
	const char *dir;
	char count[16];
	long hwm_max;		/* KiB, the highest VmHWM of its samples */
	long hwm_min;
} boot_side;

/* ---------------------------------------------------------------- */
/* The child: one load, timed, then its peak RSS                    */

/* A "Field: N kB" line of /proc/self/status, in KiB; -1 if absent. */
static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t n = strlen(field);
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':' &&
		    sscanf(line + n + 1, "%ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* BENCH_BOOT_SMAPS=PREFIX: copy /proc/self/smaps to PREFIX.MODE.STAGE. */
static void dump_smaps(const char *mode, const char *stage)
{
	const char *pre = getenv("BENCH_BOOT_SMAPS");
	char path[PATH_MAX], buf[4096];
	FILE *in, *out;
	size_t n;

	if (!pre)
		return;
	snprintf(path, sizeof(path), "%s.%s.%s", pre, mode, stage);
	in = fopen("/proc/self/smaps", "r");
	out = fopen(path, "w");
	while (in && out && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	if (in)
		fclose(in);
	if (out)
		fclose(out);
}

static void child_kmc(const char *dir, size_t n, EVP_PKEY **keys)
{
	char name[32];
	kmc_vault *v;

	check_kmc(kmc_vault_open(dir, 0, &v), "boot: opening %s", dir);
	if (getenv("BENCH_BOOT_DEBUG"))
		fprintf(stderr, "boot kmc: opened: VmHWM %ld VmRSS %ld kB\n",
			status_kib("VmHWM"), status_kib("VmRSS"));
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "k%05zu", i);
		check_kmc(kmc_key_load(v, name, &keys[i]), "boot: loading %s "
			"from %s", name, dir);
	}
	if (getenv("BENCH_BOOT_DEBUG"))
		fprintf(stderr, "boot kmc: before the close: VmHWM %ld VmRSS "
			"%ld RssAnon %ld RssFile %ld kB\n", status_kib("VmHWM"),
			status_kib("VmRSS"), status_kib("RssAnon"),
			status_kib("RssFile"));
	dump_smaps("kmc", "open");
	kmc_vault_close(v);
}

static void child_pem(const char *dir, size_t n, EVP_PKEY **keys)
{
	char name[32], path[PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		BIO *b;

		snprintf(name, sizeof(name), "k%05zu.pem", i);
		path_join(path, dir, name);
		b = BIO_new_file(path, "r");
		if (!b)
			die("boot: opening a PEM file", "%s", path);
		keys[i] = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
		if (!keys[i])
			die("boot: PEM_read_bio_PrivateKey", "%s", path);
	}
}

int boot_child(int argc, char **argv)
{
	EVP_PKEY **keys;
	size_t n;
	double t0, t;
	long hwm;

	if (argc != 5)
		die("boot child", "usage: --boot-child kmc|pem DIR COUNT");
	n = strtoul(argv[4], NULL, 10);
	keys = calloc(n, sizeof(*keys));
	if (!keys)
		die("boot child", "out of memory");
	if (getenv("BENCH_BOOT_DEBUG"))
		fprintf(stderr, "boot %s: start: VmHWM %ld VmRSS %ld kB\n", argv[2],
			status_kib("VmHWM"), status_kib("VmRSS"));
	t0 = now();
	if (!strcmp(argv[2], "kmc"))
		child_kmc(argv[3], n, keys);
	else
		child_pem(argv[3], n, keys);
	t = now() - t0;
	/* Every key is still held: this is the server after its load. */
	hwm = status_kib("VmHWM");
	if (getenv("BENCH_BOOT_DEBUG"))
		fprintf(stderr, "boot %s: loaded: VmHWM %ld RssAnon %ld RssFile "
			"%ld kB\n", argv[2], hwm, status_kib("RssAnon"),
			status_kib("RssFile"));
	dump_smaps(argv[2], "end");
	if (getenv("BENCH_BOOT_DEBUG")) {
		struct mallinfo2 mi = mallinfo2();

		fprintf(stderr, "boot %s: malloc: heap %zu in use %zu free %zu "
			"mmapped %zu kB\n", argv[2], mi.arena / 1024,
			mi.uordblks / 1024, mi.fordblks / 1024, mi.hblkhd / 1024);
	}
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(keys[i]);
	free(keys);
	printf("%.9f %ld\n", t, hwm);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- */
/* The parent                                                        */

static double sample_boot(void *arg)
{
	boot_side *s = arg;
	char *argv[] = { "kmc-bench", "--boot-child", (char *)s->mode,
		(char *)s->dir, s->count, NULL };
	posix_spawn_file_actions_t fa;
	char out[128];
	double secs;
	long hwm;
	ssize_t got;
	size_t len = 0;
	int fds[2], r, status;
	pid_t pid;

	if (pipe(fds) < 0)
		die("boot: pipe", "%s", strerror(errno));
	r = posix_spawn_file_actions_init(&fa);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	if (r == 0)
		r = posix_spawn_file_actions_addclose(&fa, fds[0]);
	if (r == 0)
		r = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
	if (r != 0)
		die("boot: running a child", "%s", strerror(r));
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	while ((got = read(fds[0], out + len, sizeof(out) - 1 - len)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			die("boot: reading a child", "%s", strerror(errno));
		len += (size_t)got;
		if (len == sizeof(out) - 1)
			break;
	}
	out[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("boot: waitpid", "%s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    sscanf(out, "%lf %ld", &secs, &hwm) != 2)
		die("boot: the child", "%s side failed (status %d)", s->mode,
			status);
	if (hwm > s->hwm_max)
		s->hwm_max = hwm;
	if (s->hwm_min < 0 || hwm < s->hwm_min)
		s->hwm_min = hwm;
	return secs;
}

static EVP_PKEY *keygen(int rsa)
{
	EVP_PKEY *k = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048) :
		EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	if (!k)
		die("boot: generating a key", "%s", rsa ? "RSA 2048" : "P-256");
	return k;
}

/* Key i as PKCS#8 into the batch (bundle kNNNNN) and into kNNNNN.pem. */
static void store_key(kmc_batch *batch, const char *pem_dir, size_t i,
	EVP_PKEY *k)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
	unsigned char *der = NULL;
	char name[32], path[PATH_MAX];
	int len;
	BIO *b;

	if (!p8 || (len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) <= 0)
		die("boot: encoding a key", "PKCS#8 failed");
	snprintf(name, sizeof(name), "k%05zu/key", i);
	check_kmc(kmc_batch_put(batch, name, KMC_ITEM_PRIVATE_KEY, der,
		(size_t)len), "boot: storing %s", name);
	snprintf(name, sizeof(name), "k%05zu.pem", i);
	path_join(path, pem_dir, name);
	/* The same PKCS#8 bytes, as PEM: both sides parse one encoding. */
	b = BIO_new_file(path, "w");
	if (!b || PEM_write_bio_PKCS8_PRIV_KEY_INFO(b, p8) != 1)
		die("boot: writing a PEM file", "%s", path);
	BIO_free(b);
	OPENSSL_clear_free(der, (size_t)len);
	PKCS8_PRIV_KEY_INFO_free(p8);
}

static void boot_make(bench_env *e, const char *vault, const char *pem_dir,
	size_t n, size_t pool_n)
{
	EVP_PKEY *pool[BOOT_RSA_POOL];
	kmc_vault *v;
	kmc_batch *b;
	double t0 = now();

	fprintf(stderr, "kmc-bench: boot: generating %zu RSA 2048 keys and "
		"%zu P-256 keys\n", pool_n, n / 2);
	for (size_t i = 0; i < pool_n; i++)
		pool[i] = keygen(1);
	(void)e;
	vault_create(vault);
	if (mkdir(pem_dir, 0700) < 0)
		die("boot: making the PEM directory", "%s: %s", pem_dir,
			strerror(errno));
	check_kmc(kmc_vault_open(vault, KMC_OPEN_WRITE, &v),
		"opening %s for writing", vault);
	/* One transaction: a commit (and sync) a key took most of the row. */
	check_kmc(kmc_batch_begin(v, &b), "boot: a batch on %s", vault);
	for (size_t i = 0; i < n; i++) {
		if (i % 2 == 0) {
			store_key(b, pem_dir, i, pool[(i / 2) % pool_n]);
		} else {
			EVP_PKEY *k = keygen(0);

			store_key(b, pem_dir, i, k);
			EVP_PKEY_free(k);
		}
	}
	check_kmc(kmc_batch_commit(b), "boot: committing %zu keys to %s", n,
		vault);
	kmc_vault_close(v);
	for (size_t i = 0; i < pool_n; i++)
		EVP_PKEY_free(pool[i]);
	fprintf(stderr, "kmc-bench: boot: %zu keys stored in %.1f s\n", n,
		now() - t0);
}

int row_boot(row *r, bench_env *e)
{
	static char about[1024];
	static char what[64];
	size_t n = e->quick ? BOOT_KEYS_QUICK : BOOT_KEYS;
	size_t pool_n = e->quick ? BOOT_RSA_POOL_QUICK : BOOT_RSA_POOL;
	char vault[PATH_MAX], pem_dir[PATH_MAX];
	boot_side a = { .mode = "kmc", .hwm_min = -1 };
	boot_side b = { .mode = "pem", .hwm_min = -1 };
	long diff;

	snprintf(what, sizeof(what), "load %zu keys: kmc_key_load vs PEM", n);
	r->what = what;
	r->per = "processes (per whole load)";
	path_join(vault, tmp_dir, "boot");
	path_join(pem_dir, tmp_dir, "boot-pem");
	boot_make(e, vault, pem_dir, n, pool_n);
	a.dir = vault;
	b.dir = pem_dir;
	snprintf(a.count, sizeof(a.count), "%zu", n);
	snprintf(b.count, sizeof(b.count), "%zu", n);
	measure(r, (side){ sample_boot, &a }, (side){ sample_boot, &b },
		e->quick ? BOOT_SAMPLES_QUICK : BOOT_SAMPLES);
	diff = a.hwm_max - b.hwm_max;
	snprintf(about, sizeof(about),
		"a fresh process loads %zu private keys (half RSA 2048, half "
		"P-256; the RSA\n   half from %zu distinct keys) into EVP_PKEYs "
		"and holds them all: kmc_vault_open\n   + kmc_key_load of each "
		"from one vault vs BIO_new_file + PEM_read_bio_PrivateKey\n"
		"   of each from its own PEM file (the same PKCS#8 bytes). Peak "
		"RSS (VmHWM) with\n   every key held: kmcvault %ld KiB, PEM %ld "
		"KiB, difference %+ld KiB (highest\n   of the samples; goal: "
		"at most 1024 KiB + the arena's 252 KiB).", n, pool_n,
		a.hwm_max, b.hwm_max, diff);
	r->about = about;
	return 1;
}
