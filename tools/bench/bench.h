/*
 * bench.h - what the rows of kmc-bench share (tools/bench/main.c runs them).
 *
 * A row times kmcvault and its peer side by side in one run (measure()),
 * fills a row and returns 1, or returns 0 with row.skipped saying why it
 * could not run here. Rows are listed, in order, in main.c.
 */
#ifndef KMC_BENCH_H
#define KMC_BENCH_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <kmc.h>
#include <kmc/admin.h>

/* The table's text names the counts it was measured with. */
#define STR_(x) #x
#define STR(x) STR_(x)

#define GET_SIZE 2048		/* rows 1 and 2: plaintext bytes of the item */
#define PASSWORD_LEN 32
#define GET_ITEM "blob-2k"
#define PASSWORD_ITEM "db-password"
#define KEY_BUNDLE "bench-key"	/* row 4: the imported RSA 2048 key */

extern char tmp_dir[];		/* private scratch directory, removed at exit */
extern char **environ;

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
	char skipped[256];	/* why the row did not run here */
} row;

/* What the rows share, built on first use. */
typedef struct bench_env {
	char build[PATH_MAX];
	char kmc[PATH_MAX];
	char provider_dir[PATH_MAX];
	char host_key[PATH_MAX];
	char get_vault[PATH_MAX];	/* a 2 KB secret and a password */
	unsigned char *blob;		/* the 2 KB secret's bytes */
	char pem[PATH_MAX];		/* an RSA 2048 key in the clear */
	int quick;			/* BENCH_QUICK=1: fewer, smaller samples */
} bench_env;

/* The vault holding GET_ITEM and PASSWORD_ITEM (made on first call). */
const char *bench_get_vault(bench_env *e);
/* plain.pem: an RSA 2048 key, unencrypted (made on first call). */
const char *bench_pem(bench_env *e);

_Noreturn void die(const char *step, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Stop on a library failure, naming the step and what the library saw. */
void check_kmc(int r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void path_join(char *buf, const char *dir, const char *name);
void make_tmp(void);
int in_path(const char *name);

double now(void);
int cmp_double(const void *a, const void *b);
/* Sorts x in place. */
double median(double *x, size_t n);
/* n samples of each side, interleaved, after one untimed warm-up each. */
void measure(row *r, side a, side b, size_t n);

void print_machine(const char *kmc);
void print_table(const row *rows, size_t n);

void vault_create(const char *dir);
void random_password(char *buf, size_t len);

typedef struct proc {
	const char *step;	/* names the command in failures */
	const char *log;	/* stderr goes here, shown on failure; NULL:
				   inherited, so a failing child says why */
	char *argv[24];
	posix_spawn_file_actions_t fa;
} proc;

void proc_init(proc *p, const char *step, const char *log);
void show_log(const char *log);
void proc_run(proc *p);
double sample_proc(void *arg);
void make_pem(const char *pem);
/* Run `openssl ARGS...` (NULL-terminated), stderr to log, stdout dropped. */
void run_openssl(const char *step, const char *log, ...);
/* `openssl pkey [-provider-path D [-provider kmc] -provider default] -in IN
   -noout` into p->argv (util.c says which rows use which). */
void pkey_argv(proc *p, const char *provider_dir, int with_kmc,
	const char *in);
void write_file(const char *path, const char *text);
void make_certs(const char *pem, char *ca_crt, char *server_crt);
/* Import pem into dir as KEY_BUNDLE; its kmc: URI in uri. */
void import_key(const char *dir, const char *pem, char *uri, size_t size);

/* million.c: the vault of a million items (100,000 when quick). */
#define MILLION 1000000u
#define MILLION_QUICK 100000u
#define MILLION_ITEM_SIZE 256	/* bytes of each item */
unsigned million_items(const bench_env *e);
void million_name(char *buf, size_t size, unsigned i);
void million_build(const char *dir, unsigned n, double *ret_seconds);
/* Built on first call; its item count in *ret_n. */
const char *million_vault(bench_env *e, unsigned *ret_n);
double million_bytes_per_item(const char *dir, unsigned n);

/* The rows, in table order, and the figures that have no peer. */
int row_get(row *r, bench_env *e);
int row_process(row *r, bench_env *e);
int row_open(row *r, bench_env *e);
int row_provider(row *r, bench_env *e);
int row_pkcs11(row *r, bench_env *e);
int row_get_1m_p50(row *r, bench_env *e);
int row_get_1m_p99(row *r, bench_env *e);
int row_batch(row *r, bench_env *e);
int row_boot(row *r, bench_env *e);
int row_hsm_cold(row *r, bench_env *e);
/* kmc-bench --boot-child kmc|pem DIR COUNT: one sample of row_boot. */
int boot_child(int argc, char **argv);
int row_provider_load(row *r, bench_env *e);
/*
 * The cold token rows (hsm-cold, tpm-cold), row_pkcs11.c: kmc-p11-min's
 * path into min, or 0 with the row marked skipped; then a whole `kmc
 * password get` of PASSWORD_ITEM from vault (through the token, PIN in
 * pin_file) against kmc-p11-min doing the same token work with module,
 * token and key.
 */
int cold_min_path(row *r, bench_env *e, const char *row_name,
	char min[PATH_MAX]);
typedef struct cold_sides {
	const char *row_name;	/* "hsm-cold" */
	const char *token_what;	/* "SoftHSM2", in the sides' names */
	const char *vault, *pin_file, *module, *token, *key;
	int samples;
} cold_sides;
void cold_measure(row *r, bench_env *e, const char *min,
	const cold_sides *c);
/*
 * row_pkcs11.c: the SoftHSM2 token P11_TOKEN (user PIN P11_PIN) in the
 * scratch directory, made on first call (SOFTHSM2_CONF set to find it);
 * 0 with r skipped, saying why, when SoftHSM2 is missing.
 */
#define P11_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define P11_TOKEN "kmc-bench"
#define P11_PIN "bench-pin-2718"
int softhsm_token(row *r, const char *row_name);
/*
 * token_key.c: an RSA 2048 key made on that token by `kmc key gen
 * TOKEN_KEY --on-token` in a vault of its own, its certificate, and the
 * ways to name it. Made on first call; NULL with r skipped without
 * SoftHSM2.
 */
#define TOKEN_KEY "bench-tls"
typedef struct token_key_env {
	char vault[PATH_MAX];
	char store_uri[KMC_URI_MAX];	/* kmc://VAULT?item=TOKEN_KEY */
	char p11_uri[256];		/* pkcs11:token=...;object=...;type=private */
	char cert[PATH_MAX];		/* its certificate, PEM */
	char pin_file[PATH_MAX];
} token_key_env;
const token_key_env *bench_token_key(row *r, bench_env *e,
	const char *row_name);
/* row_token_tls.c: kmc-bench --tls-server ...: one side's server. */
int tls_server_child(int argc, char **argv);
int row_token_tls(row *r, bench_env *e);
int row_token_sign(row *r, bench_env *e);
/* row_tpm.c: rows pkcs11 and hsm-cold with swtpm + tpm2-pkcs11. */
int row_tpm(row *r, bench_env *e);
int row_tpm_cold(row *r, bench_env *e);
int row_audit_set(row *r, bench_env *e);
int row_audit_get(row *r, bench_env *e);
int row_audit_get_first(row *r, bench_env *e);
void figures_rotation(bench_env *e);

#endif
