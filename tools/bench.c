/*
 * bench.c - kmcvault measured against the nearest thing that does less.
 *
 *	kmc-bench BUILD_DIR
 *
 * Each row times kmcvault and a peer side by side in one run, samples
 * interleaved (A, B, A, B, ...) so that machine noise lands on both, and
 * reports the medians and their ratio:
 *
 *  1. kmc_item_get_secret of a 2 KB item against a bare XChaCha20-Poly1305
 *     decrypt of 2 KB: the cost of the store, the checks and guarded
 *     memory over the cipher alone.
 *  2. A whole `kmc password get` process against `openssl pkey -noout`
 *     on an unencrypted key: what a server's start-up hook pays.
 *  3. Opening a vault of 100,000 items against one of 10: opening must
 *     not grow with the item count.
 *  4. `openssl pkey -noout` on a kmc: URI, through the provider, against
 *     `openssl pkey -noout` on the same key as a PEM file: what loading a
 *     server's key from the vault adds to a start or a reload.
 *  5. Opening a vault through a pkcs11 protector on a SoftHSM2 token
 *     against the raw PKCS#11 unwrap it rests on (C_Decrypt of 32 bytes):
 *     what the vault adds to the token. Skipped, with a note, without
 *     SoftHSM2.
 *
 * Then master-key rotation, in figures of its own (no peer does the
 * same): the latency of kmc_mk_rotate, and kmc_mk_rewrap of a vault of
 * 1,000,000 items while two reader processes, opened before the
 * rotation, read random items through the whole rewrap: its wall time,
 * and the readers' reads, errors and slowest read.
 *
 *	kmc-bench BUILD_DIR rotation
 *
 * runs the rotation figures alone, and
 *
 *	kmc-bench BUILD_DIR get
 *
 * row 1 alone (seconds, not minutes: for work on the guarded memory).
 *
 * Everything lives in a private directory under /tmp, removed on exit.
 * No secret byte is ever printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <p11-kit/p11-kit.h>	/* row 5: the raw side */
#include <p11-kit/pkcs11.h>
#include <kmc.h>
#include <kmc/admin.h>
/* Internal: only to fill the 100,000-item vault in one transaction. */
#include "../vault/vault.h"

#define GET_SIZE 2048		/* row 1: plaintext bytes of the item */
#define GET_BATCH 200		/* row 1: calls per sample, too fast alone */
#define GET_SAMPLES 51
#define PROC_SAMPLES 31
#define OPEN_SAMPLES 51
#define LARGE_ITEMS 100000
#define SMALL_ITEMS 10
#define ITEM_SIZE 256
#define PASSWORD_LEN 32

/* The table's text names the counts it was measured with. */
#define STR_(x) #x
#define STR(x) STR_(x)

#define ROT_ITEMS 1000000	/* the rewrap's vault */
#define ROT_CHUNK 50000		/* items a transaction while building it */
#define ROT_ITEM_SIZE 64
#define ROT_SAMPLES 31		/* rotations timed */
#define ROT_READERS 2

#define GET_ITEM "blob-2k"
#define PASSWORD_ITEM "db-password"
#define KEY_BUNDLE "bench-key"	/* row 4: the imported RSA 2048 key */

static char tmp_dir[] = "/tmp/kmc-bench-XXXXXX";
static int tmp_made;

/* ---------------------------------------------------------------- */
/* Failing                                                           */

static _Noreturn void die(const char *step, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static _Noreturn void die(const char *step, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kmc-bench: %s: ", step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_FAILURE);
}

/* Stop on a library failure, naming the step and what the library saw. */
static void check_kmc(int r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void check_kmc(int r, const char *fmt, ...)
{
	char step[512], detail[1024];
	va_list ap;

	if (r >= 0)
		return;
	/* The detail lasts only until the next library call: copy it first. */
	snprintf(detail, sizeof(detail), "%s", kmc_error_detail());
	va_start(ap, fmt);
	vsnprintf(step, sizeof(step), fmt, ap);
	va_end(ap);
	if (detail[0])
		die(step, "%s (%s)", kmc_strerror(r), detail);
	die(step, "%s", kmc_strerror(r));
}

static void path_join(char *buf, const char *dir, const char *name)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX)
		die("building a path", "%s/%s is too long", dir, name);
}

/* ---------------------------------------------------------------- */
/* The scratch directory                                             */

static int remove_one(const char *path, const struct stat *sb, int type,
	struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	if (remove(path) < 0)
		fprintf(stderr, "kmc-bench: removing %s: %s\n", path,
			strerror(errno));
	return 0;
}

static void remove_tmp(void)
{
	/* Depth first, without following links: children before parents. */
	if (tmp_made)
		nftw(tmp_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_tmp(void)
{
	if (!mkdtemp(tmp_dir))
		die("creating a scratch directory", "%s: %s", tmp_dir,
			strerror(errno));
	tmp_made = 1;
	/* Registered before anything is put there, so a failure cleans up. */
	if (atexit(remove_tmp) != 0)
		die("registering the cleanup", "atexit failed");
}

/* ---------------------------------------------------------------- */
/* Measuring                                                         */

static double now(void)
{
	struct timespec ts;

	/* Monotonic: immune to clock steps while a sample runs. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts x in place. */
static double median(double *x, size_t n)
{
	qsort(x, n, sizeof(*x), cmp_double);
	if (n % 2)
		return x[n / 2];
	return (x[n / 2 - 1] + x[n / 2]) / 2;
}

/* One sample: seconds for one unit of work (a call, a process, ...). */
typedef double (*sample_fn)(void *arg);

typedef struct side {
	sample_fn run;
	void *arg;
} side;

typedef struct row {
	const char *what;	/* short: kmcvault side vs peer */
	const char *about;	/* the legend line under the table */
	double a, b;		/* medians in seconds: kmcvault, peer */
	size_t samples;
	const char *per;	/* how one sample is counted */
} row;

static void measure(row *r, side a, side b, size_t n)
{
	double *xa = calloc(n, sizeof(*xa)), *xb = calloc(n, sizeof(*xb));

	if (!xa || !xb)
		die("measuring", "out of memory");
	/* Untimed warm-up: page cache and lazy binding are not the subject. */
	a.run(a.arg);
	b.run(b.arg);
	for (size_t i = 0; i < n; i++) {
		xa[i] = a.run(a.arg);
		xb[i] = b.run(b.arg);
	}
	r->a = median(xa, n);
	r->b = median(xb, n);
	r->samples = n;
	free(xa);
	free(xb);
}

/* ---------------------------------------------------------------- */
/* The machine                                                       */

/* The value of the first "key : value" line of /proc/cpuinfo. */
static int cpuinfo_field(const char *key, char *buf, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	size_t klen = strlen(key);
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		char *v = line + klen;

		if (strncmp(line, key, klen) != 0 || !strchr(" \t:", *v))
			continue;
		v = strchr(v, ':');
		if (!v)
			continue;
		v += strspn(v + 1, " \t") + 1;
		v[strcspn(v, "\n")] = '\0';
		snprintf(buf, size, "%s", v);
		found = 1;
	}
	fclose(f);
	return found;
}

static void print_machine(const char *kmc)
{
	/* x86 names the model; some ARM and RISC-V kernels only these. */
	static const char *const keys[] = { "model name", "Hardware", "uarch",
		"cpu model" };
	char cpu[256] = "unknown";
	struct utsname u;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (cpuinfo_field(keys[i], cpu, sizeof(cpu)))
			break;
	if (uname(&u) < 0)
		die("reading the kernel version", "%s", strerror(errno));
	printf("machine\n");
	printf("  cpu        %s\n", cpu);
	printf("  cores      %ld online\n", sysconf(_SC_NPROCESSORS_ONLN));
	printf("  kernel     %s %s %s\n", u.sysname, u.release, u.machine);
	printf("  libsodium  %s\n", sodium_version_string());
	printf("  kmcvault   %s (%s)\n\n", kmc_version(), kmc);
	fflush(stdout);
}

/* ---------------------------------------------------------------- */
/* Building the vaults                                               */

static void vault_create(const char *dir)
{
	/* The host key comes from $KMC_HOST_KEY, set before the first init. */
	check_kmc(kmc_vault_init(dir, KMC_PROTECTOR_HOST, NULL),
		"creating the vault %s", dir);
}

static void random_password(char *buf, size_t len)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	for (size_t i = 0; i < len; i++)
		buf[i] = set[randombytes_uniform(sizeof(set) - 1)];
}

/* The vault of rows 1 and 2: a 2 KB secret and a password. */
static void build_get_vault(const char *dir, unsigned char *blob)
{
	char pw[PASSWORD_LEN];
	kmc_vault *v;

	vault_create(dir);
	check_kmc(kmc_vault_open(dir, KMC_OPEN_WRITE, &v),
		"opening %s for writing", dir);
	randombytes_buf(blob, GET_SIZE);
	check_kmc(kmc_item_put(v, GET_ITEM, KMC_ITEM_SECRET, blob, GET_SIZE),
		"storing %s in %s", GET_ITEM, dir);
	random_password(pw, sizeof(pw));
	check_kmc(kmc_item_put(v, PASSWORD_ITEM, KMC_ITEM_PASSWORD, pw,
		sizeof(pw)), "storing %s in %s", PASSWORD_ITEM, dir);
	sodium_memzero(pw, sizeof(pw));
	kmc_vault_close(v);
}

static int seal_put(kmc_vault *v, store_txn *t, const char *name,
	const unsigned char *data, size_t len)
{
	return items_txn_put(v, t, name, KMC_ITEM_SECRET, data, len, 0);
}

/* Many items a transaction through the item layer: prove the result reads. */
static void verify_item_vault(const char *dir, unsigned n)
{
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;
	kmc_secret *s;
	kmc_vault *v;

	check_kmc(kmc_vault_status(dir, &st), "reading the status of %s", dir);
	if (st.items != n)
		die("checking the vault", "%s holds %llu items, not %u", dir,
			(unsigned long long)st.items, n);
	check_kmc(kmc_vault_open(dir, 0, &v), "opening %s", dir);
	check_kmc(kmc_item_get_secret(v, "item-000001", &s),
		"kmc_item_get_secret item-000001 from %s", dir);
	if (kmc_secret_len(s) != ITEM_SIZE)
		die("checking the vault", "item-000001 in %s has %zu bytes, "
			"not %d", dir, kmc_secret_len(s), ITEM_SIZE);
	kmc_secret_free(s);
	kmc_vault_close(v);
}

/*
 * n items of random bytes, "item-000001" on. One transaction for all:
 * kmc_item_put commits (and syncs) once per item, which would take minutes.
 */
static void build_item_vault(const char *dir, unsigned n)
{
	unsigned char data[ITEM_SIZE];
	char name[32];
	kmc_vault *v;
	store_txn t;
	int r = 0;

	fprintf(stderr, "kmc-bench: building a vault of %u items\n", n);
	vault_create(dir);
	check_kmc(kmc_vault_open(dir, KMC_OPEN_WRITE, &v),
		"opening %s for writing", dir);
	kmc_detail_clear();
	check_kmc(store_txn_begin(&v->st, &t),
		"starting a store transaction in %s", dir);
	for (unsigned i = 1; r == 0 && i <= n; i++) {
		snprintf(name, sizeof(name), "item-%06u", i);
		randombytes_buf(data, sizeof(data));
		r = seal_put(v, &t, name, data, sizeof(data));
		if (i % 20000 == 0)
			fprintf(stderr, "kmc-bench:   %u of %u sealed\n", i, n);
	}
	if (r < 0)
		store_txn_abort(&t);
	check_kmc(r, "sealing and storing %s in %s", name, dir);
	check_kmc(store_txn_commit(&t), "committing %u items to %s", n, dir);
	sodium_memzero(data, sizeof(data));
	kmc_vault_close(v);
	verify_item_vault(dir, n);
}

/* ---------------------------------------------------------------- */
/* Row 1: kmc_item_get_secret against the bare cipher                    */

typedef struct get_ctx {
	kmc_vault *v;
} get_ctx;

static double sample_item_get_secret(void *arg)
{
	get_ctx *c = arg;
	double t0 = now();

	for (int i = 0; i < GET_BATCH; i++) {
		kmc_secret *s;

		check_kmc(kmc_item_get_secret(c->v, GET_ITEM, &s),
			"kmc_item_get_secret %s", GET_ITEM);
		kmc_secret_free(s);
	}
	return (now() - t0) / GET_BATCH;
}

typedef struct aead_ctx {
	unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	unsigned char ct[GET_SIZE + crypto_aead_xchacha20poly1305_ietf_ABYTES];
	unsigned long long ct_len;
	unsigned char pt[GET_SIZE];
} aead_ctx;

static void aead_decrypt(aead_ctx *c)
{
	unsigned long long len;

	if (crypto_aead_xchacha20poly1305_ietf_decrypt(c->pt, &len, NULL,
			c->ct, c->ct_len, NULL, 0, c->nonce, c->key) != 0 ||
	    len != GET_SIZE)
		die("xchacha20poly1305 decrypt", "the tag did not verify");
}

static double sample_decrypt(void *arg)
{
	double t0 = now();

	for (int i = 0; i < GET_BATCH; i++)
		aead_decrypt(arg);
	return (now() - t0) / GET_BATCH;
}

/* Both sides must return the plaintext, or the row times a failure. */
static void check_get(kmc_vault *v, aead_ctx *c, const unsigned char *blob)
{
	kmc_secret *s;

	check_kmc(kmc_item_get_secret(v, GET_ITEM, &s),
		"kmc_item_get_secret %s", GET_ITEM);
	if (kmc_secret_len(s) != GET_SIZE ||
	    memcmp(kmc_secret_data(s), blob, GET_SIZE) != 0)
		die("kmc_item_get_secret " GET_ITEM, "returned other bytes "
			"than were stored");
	kmc_secret_free(s);
	aead_decrypt(c);
	if (memcmp(c->pt, blob, GET_SIZE) != 0)
		die("xchacha20poly1305 decrypt", "returned other bytes than "
			"were sealed");
}

static void row_get(row *r, const char *dir, const unsigned char *blob)
{
	aead_ctx *c = sodium_malloc(sizeof(*c));
	get_ctx g;

	if (!c)
		die("row 1", "sodium_malloc: out of memory");
	fprintf(stderr, "kmc-bench: row 1: kmc_item_get_secret vs xchacha20 "
		"decrypt\n");
	crypto_aead_xchacha20poly1305_ietf_keygen(c->key);
	randombytes_buf(c->nonce, sizeof(c->nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(c->ct, &c->ct_len, blob,
		GET_SIZE, NULL, 0, NULL, c->nonce, c->key);
	/* Read-only and opened once, as a server does at start-up. */
	check_kmc(kmc_vault_open(dir, 0, &g.v), "opening %s", dir);
	check_get(g.v, c, blob);
	measure(r, (side){ sample_item_get_secret, &g },
		(side){ sample_decrypt, c }, GET_SAMPLES);
	kmc_vault_close(g.v);
	sodium_free(c);
}

/* ---------------------------------------------------------------- */
/* Row 2: a kmc process against an openssl process                  */

typedef struct proc {
	const char *step;	/* names the command in failures */
	const char *log;	/* stderr goes here, shown on failure; NULL:
				   inherited, so a failing child says why */
	char *argv[24];
	posix_spawn_file_actions_t fa;
} proc;

static void proc_init(proc *p, const char *step, const char *log)
{
	int r;

	p->step = step;
	p->log = log;
	r = posix_spawn_file_actions_init(&p->fa);
	if (r == 0)
		/* Output is discarded: it may hold the password. */
		r = posix_spawn_file_actions_addopen(&p->fa, STDOUT_FILENO,
			"/dev/null", O_WRONLY, 0);
	if (r == 0 && log)
		r = posix_spawn_file_actions_addopen(&p->fa, STDERR_FILENO,
			log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (r != 0)
		die(step, "posix_spawn_file_actions: %s", strerror(r));
}

static void show_log(const char *log)
{
	FILE *f = log ? fopen(log, "r") : NULL;
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

static void proc_run(proc *p)
{
	pid_t pid;
	int r, status;

	r = posix_spawnp(&pid, p->argv[0], &p->fa, NULL, p->argv, environ);
	if (r != 0)
		die(p->step, "cannot run %s: %s", p->argv[0], strerror(r));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die(p->step, "waitpid: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	show_log(p->log);
	if (WIFSIGNALED(status))
		die(p->step, "%s was killed by signal %d", p->argv[0],
			WTERMSIG(status));
	die(p->step, "%s exited with status %d", p->argv[0],
		WEXITSTATUS(status));
}

static double sample_proc(void *arg)
{
	double t0 = now();

	proc_run(arg);
	return now() - t0;
}

static void make_pem(const char *pem)
{
	char log[PATH_MAX];
	proc gen;

	fprintf(stderr, "kmc-bench: generating an RSA 2048 key for openssl\n");
	/* Its stderr is a progress bar of dots: keep it out of the output. */
	path_join(log, tmp_dir, "genpkey.log");
	proc_init(&gen, "openssl genpkey", log);
	gen.argv[0] = "openssl";
	gen.argv[1] = "genpkey";
	gen.argv[2] = "-algorithm";
	gen.argv[3] = "RSA";
	gen.argv[4] = "-pkeyopt";
	gen.argv[5] = "rsa_keygen_bits:2048";
	gen.argv[6] = "-out";
	gen.argv[7] = (char *)pem;
	gen.argv[8] = NULL;
	proc_run(&gen);
	posix_spawn_file_actions_destroy(&gen.fa);
}

static void row_process(row *r, char *kmc, char *vault, char *pem)
{
	proc k, o;

	make_pem(pem);
	fprintf(stderr, "kmc-bench: row 2: kmc password get vs openssl "
		"pkey\n");
	proc_init(&k, "kmc password get", NULL);
	k.argv[0] = kmc;
	k.argv[1] = "--vault";
	k.argv[2] = vault;
	k.argv[3] = "password";
	k.argv[4] = "get";
	k.argv[5] = PASSWORD_ITEM;
	k.argv[6] = NULL;
	proc_init(&o, "openssl pkey", NULL);
	o.argv[0] = "openssl";
	o.argv[1] = "pkey";
	o.argv[2] = "-in";
	o.argv[3] = pem;
	o.argv[4] = "-noout";
	o.argv[5] = NULL;
	measure(r, (side){ sample_proc, &k }, (side){ sample_proc, &o },
		PROC_SAMPLES);
	posix_spawn_file_actions_destroy(&k.fa);
	posix_spawn_file_actions_destroy(&o.fa);
}

/* ---------------------------------------------------------------- */
/* Row 3: opening a large vault against a small one                 */

static double sample_open(void *arg)
{
	const char *dir = arg;
	kmc_vault *v;
	double t0 = now();

	check_kmc(kmc_vault_open(dir, 0, &v), "opening %s", dir);
	kmc_vault_close(v);
	return now() - t0;
}

static void row_open(row *r, char *large, char *small)
{
	build_item_vault(large, LARGE_ITEMS);
	build_item_vault(small, SMALL_ITEMS);
	fprintf(stderr, "kmc-bench: row 3: opening %d items vs %d items\n",
		LARGE_ITEMS, SMALL_ITEMS);
	measure(r, (side){ sample_open, large }, (side){ sample_open, small },
		OPEN_SAMPLES);
}

/* ---------------------------------------------------------------- */
/* Row 4: openssl pkey on a kmc: URI against the PEM file           */

/* Run `openssl ARGS...` (NULL-terminated), stderr to log, stdout dropped. */
static void run_openssl(const char *step, const char *log, ...)
{
	const size_t max = sizeof(((proc *)NULL)->argv) /
		sizeof(((proc *)NULL)->argv[0]);
	va_list ap;
	size_t n = 0;
	char *arg;
	proc p;

	proc_init(&p, step, log);
	p.argv[n++] = "openssl";
	va_start(ap, log);
	while ((arg = va_arg(ap, char *)) != NULL) {
		if (n + 1 >= max)
			die(step, "more than %zu arguments", max - 2);
		p.argv[n++] = arg;
	}
	va_end(ap);
	p.argv[n] = NULL;
	proc_run(&p);
	posix_spawn_file_actions_destroy(&p.fa);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("writing a file", "%s: %s", path, strerror(errno));
	if (fputs(text, f) == EOF) {
		fclose(f);
		die("writing a file", "%s: %s", path, strerror(errno));
	}
	if (fclose(f) == EOF)
		die("writing a file", "%s: %s", path, strerror(errno));
}

/*
 * kmc import wants the key's certificate and a CA it chains to: a
 * throwaway CA (EC P-256) signs a serverAuth certificate for the RSA 2048
 * key of row 2, so both sides of the row load the same key.
 */
static void make_certs(char *pem, char *ca_crt, char *server_crt)
{
	char cnf[PATH_MAX], ca_key[PATH_MAX], csr[PATH_MAX], srl[PATH_MAX],
		log[PATH_MAX];

	path_join(cnf, tmp_dir, "ca.cnf");
	path_join(ca_key, tmp_dir, "ca.key");
	path_join(csr, tmp_dir, "server.csr");
	path_join(srl, tmp_dir, "ca.srl");
	path_join(log, tmp_dir, "certs.log");
	/* Our own config: the system's could add or clash with extensions. */
	write_file(cnf,
		"[req]\ndistinguished_name = dn\nprompt = no\n"
		"[dn]\nCN = kmc bench CA\n"
		"[ca]\nbasicConstraints = critical, CA:true\n"
		"keyUsage = critical, keyCertSign, cRLSign\n"
		"subjectKeyIdentifier = hash\n"
		"[server]\nbasicConstraints = CA:false\n"
		"keyUsage = critical, digitalSignature, keyEncipherment\n"
		"extendedKeyUsage = serverAuth\n"
		"subjectAltName = DNS:localhost\n");
	fprintf(stderr, "kmc-bench: making a CA and a certificate for the "
		"RSA key\n");
	run_openssl("openssl req -x509 (the CA)", log, "req", "-x509",
		"-config", cnf, "-extensions", "ca", "-newkey", "ec",
		"-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
		ca_key, "-out", ca_crt, "-days", "2", (char *)NULL);
	run_openssl("openssl req (the server CSR)", log, "req", "-new",
		"-config", cnf, "-key", pem, "-subj", "/CN=localhost", "-out",
		csr, (char *)NULL);
	run_openssl("openssl x509 -req (the server certificate)", log, "x509",
		"-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
		"-CAserial", srl, "-CAcreateserial", "-days", "2", "-extfile",
		cnf, "-extensions", "server", "-out", server_crt, (char *)NULL);
}

/* Import the key of row 2 into the vault as KEY_BUNDLE; its URI in uri. */
static void import_key(const char *dir, char *pem, char *uri, size_t size)
{
	char ca_crt[PATH_MAX], server_crt[PATH_MAX];
	kmc_import_params ip = KMC_IMPORT_PARAMS_INIT;
	char *u;
	kmc_vault *v;

	path_join(ca_crt, tmp_dir, "ca.crt");
	path_join(server_crt, tmp_dir, "server.crt");
	make_certs(pem, ca_crt, server_crt);
	/* kmc import takes a key of mode 0640 at most. */
	if (chmod(pem, 0600) < 0)
		die("chmod 0600", "%s: %s", pem, strerror(errno));
	ip.name = KEY_BUNDLE;
	ip.ca_file = ca_crt;
	ip.cert_file = server_crt;
	ip.key_file = pem;
	check_kmc(kmc_vault_open(dir, KMC_OPEN_WRITE, &v),
		"opening %s for writing", dir);
	check_kmc(kmc_import(v, &ip), "importing %s into %s", pem, dir);
	kmc_vault_close(v);
	check_kmc(kmc_uri_format(dir, KEY_BUNDLE, &u), "the URI of %s",
		KEY_BUNDLE);
	if (strlen(u) >= size)
		die("the URI of " KEY_BUNDLE, "%s is too long", u);
	memcpy(uri, u, strlen(u) + 1);
	free(u);
}

static void row_provider(row *r, char *provider_dir, char *vault, char *pem)
{
	static char uri[KMC_URI_MAX];
	proc k, o;

	import_key(vault, pem, uri, sizeof(uri));
	fprintf(stderr, "kmc-bench: row 4: openssl pkey on %s vs on "
		"plain.pem\n", uri);
	/* stderr inherited: a failing load says why, and the bench stops. */
	proc_init(&k, "openssl pkey -in kmc:", NULL);
	k.argv[0] = "openssl";
	k.argv[1] = "pkey";
	k.argv[2] = "-provider-path";
	k.argv[3] = provider_dir;
	k.argv[4] = "-provider";
	k.argv[5] = "kmc";
	k.argv[6] = "-provider";
	k.argv[7] = "default";
	k.argv[8] = "-in";
	k.argv[9] = uri;
	k.argv[10] = "-noout";
	k.argv[11] = NULL;
	proc_init(&o, "openssl pkey", NULL);
	o.argv[0] = "openssl";
	o.argv[1] = "pkey";
	o.argv[2] = "-in";
	o.argv[3] = pem;
	o.argv[4] = "-noout";
	o.argv[5] = NULL;
	measure(r, (side){ sample_proc, &k }, (side){ sample_proc, &o },
		PROC_SAMPLES);
	posix_spawn_file_actions_destroy(&k.fa);
	posix_spawn_file_actions_destroy(&o.fa);
}

/* ---------------------------------------------------------------- */
/* Row 5: opening through a SoftHSM2 token against the raw unwrap    */

#define P11_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define P11_TOKEN "kmc-bench"
#define P11_PIN "bench-pin-2718"
#define P11_KEY "bench-vault-key"
#define P11_SECRET 32		/* bytes the token unwraps per open */
#define P11_BATCH 20		/* operations per sample */
#define P11_SAMPLES 51

static char p11_skipped[256];	/* why row 5 did not run, for the note */

typedef struct p11_raw {
	CK_FUNCTION_LIST *mod;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE key;
	CK_BYTE iv[16];
	CK_BYTE ct[P11_SECRET];
	CK_BYTE pt[P11_SECRET];
	CK_BYTE out[P11_SECRET];
} p11_raw;

typedef struct p11_open {
	const char *dir;
	kmc_options o;
} p11_open;

static int in_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	while (path && *path) {
		size_t n = strcspn(path, ":");

		if (n > 0 && snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path,
				name) < (int)sizeof(buf) && access(buf, X_OK) == 0)
			return 1;
		path += n + (path[n] == ':');
	}
	return 0;
}

static void p11_check(CK_RV rv, const char *what)
{
	if (rv != CKR_OK)
		die("row 5", "%s: PKCS#11 error 0x%lx", what, (unsigned long)rv);
}

/* A token in the scratch directory, found by SoftHSM2 through its conf. */
static void p11_make_token(void)
{
	char dir[PATH_MAX], tokens[PATH_MAX], conf[PATH_MAX], log[PATH_MAX];
	FILE *f;
	proc p;

	path_join(dir, tmp_dir, "softhsm");
	path_join(tokens, dir, "tokens");
	path_join(conf, dir, "softhsm2.conf");
	path_join(log, dir, "init-token.log");
	if (mkdir(dir, 0700) < 0 || mkdir(tokens, 0700) < 0)
		die("row 5: making the token store", "%s: %s", tokens,
			strerror(errno));
	f = fopen(conf, "w");
	if (!f || fprintf(f, "directories.tokendir = %s\n"
			"objectstore.backend = file\nlog.level = ERROR\n",
			tokens) < 0 || fclose(f) == EOF)
		die("row 5: writing the SoftHSM2 config", "%s: %s", conf,
			strerror(errno));
	if (setenv("SOFTHSM2_CONF", conf, 1) < 0)
		die("setting SOFTHSM2_CONF", "%s", strerror(errno));
	proc_init(&p, "softhsm2-util --init-token", log);
	p.argv[0] = "softhsm2-util";
	p.argv[1] = "--init-token";
	p.argv[2] = "--free";
	p.argv[3] = "--label";
	p.argv[4] = P11_TOKEN;
	p.argv[5] = "--so-pin";
	p.argv[6] = "bench-so-pin";
	p.argv[7] = "--pin";
	p.argv[8] = P11_PIN;
	p.argv[9] = NULL;
	proc_run(&p);
	posix_spawn_file_actions_destroy(&p.fa);
}

/* The peer: the token key kmc made, in a session of our own, logged in. */
static void p11_raw_open(p11_raw *c)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, P11_KEY, strlen(P11_KEY) },
	};
	CK_MECHANISM m = { CKM_AES_CBC, c->iv, sizeof(c->iv) };
	CK_SLOT_ID slots[64];
	CK_ULONG n = sizeof(slots) / sizeof(slots[0]), got = 0, len;
	char label[33];
	CK_RV rv;

	c->mod = p11_kit_module_load(P11_MODULE, 0);
	if (!c->mod)
		die("row 5: loading " P11_MODULE, "%s", p11_kit_message() ?
			p11_kit_message() : "p11-kit gave no reason");
	p11_check(p11_kit_module_initialize(c->mod), "C_Initialize");
	p11_check(c->mod->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
	snprintf(label, sizeof(label), "%-32s", P11_TOKEN);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;

		if (c->mod->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    memcmp(ti.label, label, 32) != 0)
			continue;
		p11_check(c->mod->C_OpenSession(slots[i], CKF_SERIAL_SESSION,
			NULL, NULL, &c->session), "C_OpenSession");
		break;
	}
	if (!c->session)
		die("row 5", "no token " P11_TOKEN " in " P11_MODULE);
	/* Login is per process: kmc's own session may hold it already. */
	rv = c->mod->C_Login(c->session, CKU_USER, (CK_UTF8CHAR *)P11_PIN,
		strlen(P11_PIN));
	if (rv != CKR_USER_ALREADY_LOGGED_IN)
		p11_check(rv, "C_Login");
	p11_check(c->mod->C_FindObjectsInit(c->session, tmpl, 2),
		"C_FindObjectsInit");
	p11_check(c->mod->C_FindObjects(c->session, &c->key, 1, &got),
		"C_FindObjects");
	p11_check(c->mod->C_FindObjectsFinal(c->session), "C_FindObjectsFinal");
	if (got != 1)
		die("row 5", "the token has no key " P11_KEY);
	/* One ciphertext, made once, unwrapped in every sample. */
	randombytes_buf(c->iv, sizeof(c->iv));
	randombytes_buf(c->pt, sizeof(c->pt));
	len = sizeof(c->ct);
	p11_check(c->mod->C_EncryptInit(c->session, &m, c->key), "C_EncryptInit");
	p11_check(c->mod->C_Encrypt(c->session, c->pt, sizeof(c->pt), c->ct,
		&len), "C_Encrypt");
	if (len != sizeof(c->ct))
		die("row 5", "C_Encrypt gave %lu bytes, not %d",
			(unsigned long)len, P11_SECRET);
}

static void p11_raw_decrypt(p11_raw *c)
{
	CK_MECHANISM m = { CKM_AES_CBC, c->iv, sizeof(c->iv) };
	CK_ULONG len = sizeof(c->out);

	p11_check(c->mod->C_DecryptInit(c->session, &m, c->key),
		"C_DecryptInit");
	p11_check(c->mod->C_Decrypt(c->session, c->ct, sizeof(c->ct), c->out,
		&len), "C_Decrypt");
	if (len != P11_SECRET)
		die("row 5", "C_Decrypt gave %lu bytes", (unsigned long)len);
}

static double sample_p11_decrypt(void *arg)
{
	double t0 = now();

	for (int i = 0; i < P11_BATCH; i++)
		p11_raw_decrypt(arg);
	return (now() - t0) / P11_BATCH;
}

static double sample_p11_open(void *arg)
{
	p11_open *c = arg;
	double t0 = now();

	for (int i = 0; i < P11_BATCH; i++) {
		kmc_vault *v;

		check_kmc(kmc_vault_open_ex(c->dir, 0, &c->o, &v),
			"opening %s through the token", c->dir);
		kmc_vault_close(v);
	}
	return (now() - t0) / P11_BATCH;
}

/* Returns 0 when SoftHSM2 is missing: the row is skipped with a note. */
static int row_pkcs11(row *r)
{
	static char uri[256];
	kmc_secret *pin;
	kmc_vault *v;
	p11_raw *c;
	p11_open o = { .o = KMC_OPTIONS_INIT };
	char dir[PATH_MAX];

	if (access(P11_MODULE, R_OK) < 0 || !in_path("softhsm2-util")) {
		snprintf(p11_skipped, sizeof(p11_skipped), "SoftHSM2 is not "
			"installed (%s, softhsm2-util); tools/deps.sh installs it",
			P11_MODULE);
		fprintf(stderr, "kmc-bench: row 5 skipped: %s\n", p11_skipped);
		return 0;
	}
	fprintf(stderr, "kmc-bench: row 5: open+close through SoftHSM2 vs "
		"C_Decrypt\n");
	p11_make_token();
	path_join(dir, tmp_dir, "pkcs11");
	snprintf(uri, sizeof(uri), "pkcs11:token=" P11_TOKEN ";object=" P11_KEY
		"?module-path=" P11_MODULE);
	check_kmc(kmc_secret_new(strlen(P11_PIN), &pin), "allocating the PIN");
	memcpy(kmc_secret_data(pin), P11_PIN, strlen(P11_PIN));
	o.dir = dir;
	o.o.pin = pin;
	o.o.pkcs11_uri = uri;
	o.o.pkcs11_create_key = 1;	/* AES-256, sealed with aes-cbc */
	check_kmc(kmc_vault_init(dir, KMC_PROTECTOR_PKCS11, &o.o),
		"creating the vault %s on token " P11_TOKEN, dir);
	o.o.pkcs11_uri = NULL;
	o.o.pkcs11_create_key = 0;
	/* The kmc side must really go through the token. */
	check_kmc(kmc_vault_open_ex(dir, 0, &o.o, &v), "opening %s", dir);
	if (kmc_vault_opened_by(v) != 1 || kmc_vault_unlock_notes(v)[0])
		die("row 5", "%s did not open through the token: %s", dir,
			kmc_vault_unlock_notes(v));
	kmc_vault_close(v);
	c = sodium_malloc(sizeof(*c));
	if (!c)
		die("row 5", "sodium_malloc: out of memory");
	memset(c, 0, sizeof(*c));
	p11_raw_open(c);
	p11_raw_decrypt(c);
	if (sodium_memcmp(c->out, c->pt, P11_SECRET) != 0)
		die("row 5: C_Decrypt", "returned other bytes than were encrypted");
	measure(r, (side){ sample_p11_open, &o },
		(side){ sample_p11_decrypt, c }, P11_SAMPLES);
	(void)c->mod->C_CloseSession(c->session);
	(void)p11_kit_module_finalize(c->mod);
	p11_kit_module_release(c->mod);
	sodium_free(c);
	kmc_secret_free(pin);
	return 1;
}

/* ---------------------------------------------------------------- */
/* The table                                                         */

/* One unit for both sides of a row, chosen by the slower one. */
static void pick_unit(double secs, double *ret_scale, const char **ret_unit)
{
	if (secs < 1e-6) {
		*ret_scale = 1e9;
		*ret_unit = "ns";
	} else if (secs < 1e-3) {
		*ret_scale = 1e6;
		*ret_unit = "us";
	} else {
		*ret_scale = 1e3;
		*ret_unit = "ms";
	}
}

static void print_table(const row *rows, size_t n)
{
	printf("%-3s %-42s %12s %12s %8s  %s\n", "row", "what (kmcvault vs peer)",
		"kmcvault", "peer", "ratio", "median of");
	for (size_t i = 0; i < n; i++) {
		const row *r = &rows[i];
		const char *unit;
		double scale;

		pick_unit(r->a > r->b ? r->a : r->b, &scale, &unit);
		printf("%-3zu %-42s %9.2f %s %9.2f %s %7.2fx  %zu %s\n", i + 1,
			r->what, r->a * scale, unit, r->b * scale, unit,
			r->a / r->b, r->samples, r->per);
	}
	printf("\nratio is kmcvault / peer; each row's sides ran interleaved "
		"in this one run.\n");
	for (size_t i = 0; i < n; i++)
		printf("%zu. %s\n", i + 1, rows[i].about);
}


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
			r = seal_put(v, &t, name, data, sizeof(data));
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

static void rotation(const char *dir)
{
	reader rd[ROT_READERS];
	double lat[ROT_SAMPLES], t0, wall;
	unsigned long long reads = 0, errors = 0;
	double slowest = 0;
	kmc_rewrap_result res;
	int stop[2];
	uint32_t id;
	kmc_vault *v;
	char small[PATH_MAX];

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
/* ---------------------------------------------------------------- */

typedef struct paths {
	char kmc[PATH_MAX];
	char provider_dir[PATH_MAX];
	char host_key[PATH_MAX];
	char get_vault[PATH_MAX];
	char large_vault[PATH_MAX];
	char small_vault[PATH_MAX];
	char pem[PATH_MAX];
} paths;

static void setup(paths *p, const char *build)
{
	char module[PATH_MAX];

	path_join(p->kmc, build, "kmc");
	if (access(p->kmc, X_OK) < 0)
		die("finding the kmc command", "%s: %s (build it first: make "
			"O=%s all)", p->kmc, strerror(errno), build);
	path_join(p->provider_dir, build, "provider");
	path_join(module, p->provider_dir, "kmc.so");
	if (access(module, R_OK) < 0)
		die("finding the provider", "%s: %s (build it first: make "
			"O=%s all)", module, strerror(errno), build);
	if (sodium_init() < 0)
		die("sodium_init", "libsodium failed to initialise");
	make_tmp();
	path_join(p->host_key, tmp_dir, "host.key");
	path_join(p->get_vault, tmp_dir, "get");
	path_join(p->large_vault, tmp_dir, "large");
	path_join(p->small_vault, tmp_dir, "small");
	path_join(p->pem, tmp_dir, "plain.pem");
	/* In the environment, so the kmc children find the same host key. */
	if (setenv("KMC_HOST_KEY", p->host_key, 1) < 0)
		die("setting KMC_HOST_KEY", "%s", strerror(errno));
	fprintf(stderr, "kmc-bench: working in %s\n", tmp_dir);
}

int main(int argc, char **argv)
{
	static paths p;
	unsigned char *blob;
	size_t n_rows;
	row rows[5] = {
		{ .what = "item_get_secret 2 KB vs xchacha20 decrypt 2 KB",
		  .about = "kmc_item_get_secret + kmc_secret_free of a 2 KB "
			"item, vault opened once, vs\n   crypto_aead_xchacha20"
			"poly1305_ietf_decrypt of 2 KB sealed once (the "
			"limit).",
		  .per = "batches of " STR(GET_BATCH) " (per call)" },
		{ .what = "kmc password get vs openssl pkey -noout",
		  .about = "a whole `kmc --vault DIR password get NAME` "
			"process vs `openssl pkey -in\n   plain.pem -noout` "
			"(RSA 2048, unencrypted: decrypts nothing); "
			"posix_spawn +\n   waitpid, stdout to /dev/null.",
		  .per = "processes" },
		{ .what = "open+close " STR(LARGE_ITEMS) " items vs "
			STR(SMALL_ITEMS) " items",
		  .about = "kmc_vault_open (read-only, host protector) + "
			"kmc_vault_close of a vault of\n   " STR(LARGE_ITEMS)
			" items (" STR(ITEM_SIZE) " B each) vs one of "
			STR(SMALL_ITEMS) " items.",
		  .per = "open+close" },
		{ .what = "openssl pkey kmc: URI vs pkey plain.pem",
		  .about = "a whole `openssl pkey -provider-path BUILD/provider "
			"-provider kmc -provider\n   default -in kmc://DIR?item="
			KEY_BUNDLE " -noout` process (the provider opens\n   "
			"the vault, host protector, and hands over the key) vs "
			"`openssl pkey -in\n   plain.pem -noout`: the same RSA "
			"2048 key, which row 2's file holds in the\n   clear.",
		  .per = "processes" },
		{ .what = "open+close via SoftHSM vs raw C_Decrypt",
		  .about = "kmc_vault_open_ex (read-only, pkcs11 protector on a "
			"SoftHSM2 token, opts.pin)\n   + kmc_vault_close vs "
			"C_DecryptInit + C_Decrypt of one 32-byte AES-CBC\n   "
			"ciphertext with the same token key, in a session already "
			"logged in,\n   through p11-kit.",
		  .per = "batches of " STR(P11_BATCH) " (per op)" },
	};

	if (argc != 2 && !(argc == 3 && (!strcmp(argv[2], "rotation") ||
			!strcmp(argv[2], "get")))) {
		fprintf(stderr, "usage: kmc-bench BUILD_DIR [rotation|get]\n");
		return 2;
	}
	setup(&p, argv[1]);
	print_machine(p.kmc);
	if (argc == 3 && !strcmp(argv[2], "rotation")) {
		rotation(p.large_vault);
		return 0;
	}

	blob = sodium_malloc(GET_SIZE);
	if (!blob)
		die("allocating the 2 KB secret", "out of memory");
	build_get_vault(p.get_vault, blob);
	row_get(&rows[0], p.get_vault, blob);
	sodium_free(blob);
	if (argc == 3) {
		print_table(rows, 1);
		return 0;
	}
	row_process(&rows[1], p.kmc, p.get_vault, p.pem);
	row_open(&rows[2], p.large_vault, p.small_vault);
	/* The key of row 2, imported into the vault of rows 1 and 2. */
	row_provider(&rows[3], p.provider_dir, p.get_vault, p.pem);

	n_rows = sizeof(rows) / sizeof(rows[0]);
	if (!row_pkcs11(&rows[4]))
		n_rows--;

	print_table(rows, n_rows);
	if (p11_skipped[0])
		printf("5. skipped: %s\n", p11_skipped);
	/* After the table: its vaults are done with, and this one is big. */
	path_join(p.large_vault, tmp_dir, "million");
	rotation(p.large_vault);
	return 0;
}
