/*
 * util.c - what every row of kmc-bench shares: failing, the scratch
 * directory, sampling and medians, child processes, throwaway certificates,
 * the machine's name and the table.
 */
#include <ftw.h>
#include <sys/utsname.h>
#include "bench.h"

char tmp_dir[] = "/tmp/kmc-bench-XXXXXX";
static int tmp_made;

/* ---------------------------------------------------------------- */
/* Failing                                                           */

_Noreturn void die(const char *step, const char *fmt, ...)
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
void check_kmc(int r, const char *fmt, ...)
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

void path_join(char *buf, const char *dir, const char *name)
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

void make_tmp(void)
{
	if (!mkdtemp(tmp_dir))
		die("creating a scratch directory", "%s: %s", tmp_dir,
			strerror(errno));
	tmp_made = 1;
	/* Registered before anything is put there, so a failure cleans up. */
	if (atexit(remove_tmp) != 0)
		die("registering the cleanup", "atexit failed");
}

int in_path(const char *name)
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

/* ---------------------------------------------------------------- */
/* Measuring                                                         */

double now(void)
{
	struct timespec ts;

	/* Monotonic: immune to clock steps while a sample runs. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts x in place. */
double median(double *x, size_t n)
{
	qsort(x, n, sizeof(*x), cmp_double);
	if (n % 2)
		return x[n / 2];
	return (x[n / 2 - 1] + x[n / 2]) / 2;
}

void measure(row *r, side a, side b, size_t n)
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

void print_machine(const char *kmc)
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

void vault_create(const char *dir)
{
	/* The host key comes from $KMC_HOST_KEY, set before the first init. */
	check_kmc(kmc_vault_init(dir, KMC_PROTECTOR_HOST, NULL),
		"creating the vault %s", dir);
}

void random_password(char *buf, size_t len)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	for (size_t i = 0; i < len; i++)
		buf[i] = set[randombytes_uniform(sizeof(set) - 1)];
}

/* ---------------------------------------------------------------- */
/* Row 2: a kmc process against an openssl process                  */

void proc_init(proc *p, const char *step, const char *log)
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

void show_log(const char *log)
{
	FILE *f = log ? fopen(log, "r") : NULL;
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

void proc_run(proc *p)
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

double sample_proc(void *arg)
{
	double t0 = now();

	proc_run(arg);
	return now() - t0;
}

void make_pem(const char *pem)
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

/* ---------------------------------------------------------------- */
/* Row 4: openssl pkey on a kmc: URI against the PEM file           */

/* Run `openssl ARGS...` (NULL-terminated), stderr to log, stdout dropped. */
void run_openssl(const char *step, const char *log, ...)
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

/*
 * The `openssl pkey ... -in IN -noout` of rows 2, 4 and provider-load,
 * into p->argv. provider_dir NULL: no provider options (OpenSSL's default
 * provider, implicitly). Otherwise `-provider-path provider_dir`, then
 * `-provider kmc` if with_kmc, then `-provider default`, so that the two
 * sides of a row differ by the kmc module only.
 */
void pkey_argv(proc *p, const char *provider_dir, int with_kmc,
	const char *in)
{
	int i = 0;

	p->argv[i++] = "openssl";
	p->argv[i++] = "pkey";
	if (provider_dir) {
		p->argv[i++] = "-provider-path";
		p->argv[i++] = (char *)provider_dir;
		if (with_kmc) {
			p->argv[i++] = "-provider";
			p->argv[i++] = "kmc";
		}
		p->argv[i++] = "-provider";
		p->argv[i++] = "default";
	}
	p->argv[i++] = "-in";
	p->argv[i++] = (char *)in;
	p->argv[i++] = "-noout";
	p->argv[i] = NULL;
}

void write_file(const char *path, const char *text)
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
void make_certs(const char *pem, char *ca_crt, char *server_crt)
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
		"-config", cnf, "-key", (char *)pem, "-subj", "/CN=localhost", "-out",
		csr, (char *)NULL);
	run_openssl("openssl x509 -req (the server certificate)", log, "x509",
		"-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
		"-CAserial", srl, "-CAcreateserial", "-days", "2", "-extfile",
		cnf, "-extensions", "server", "-out", server_crt, (char *)NULL);
}

/* Import the key of row 2 into the vault as KEY_BUNDLE; its URI in uri. */
void import_key(const char *dir, const char *pem, char *uri, size_t size)
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

void print_table(const row *rows, size_t n)
{
	printf("%-3s %-42s %12s %12s %8s  %s\n", "row", "what (kmcvault vs peer)",
		"kmcvault", "peer", "ratio", "median of");
	for (size_t i = 0; i < n; i++) {
		const row *r = &rows[i];
		const char *unit;
		double scale;

		if (!r->what)
			continue;	/* not asked for */
		if (r->skipped[0]) {
			printf("%-3zu %-42s %12s %12s %8s  %s\n", i + 1, r->what,
				"-", "-", "-", "skipped");
			continue;
		}
		pick_unit(r->a > r->b ? r->a : r->b, &scale, &unit);
		printf("%-3zu %-42s %9.2f %s %9.2f %s %7.2fx  %zu %s\n", i + 1,
			r->what, r->a * scale, unit, r->b * scale, unit,
			r->a / r->b, r->samples, r->per);
	}
	printf("\nratio is kmcvault / peer; each row's sides ran interleaved "
		"in this one run.\n");
	for (size_t i = 0; i < n; i++) {
		if (!rows[i].what)
			continue;
		printf("%zu. %s\n", i + 1, rows[i].about);
		if (rows[i].skipped[0])
			printf("   skipped: %s\n", rows[i].skipped);
	}
}
