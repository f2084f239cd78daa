/*
 * main.c - kmcvault measured against the nearest thing that does less.
 *
 *	kmc-bench BUILD_DIR [ROW|rotation]...
 *
 * Each row times kmcvault and a peer side by side in one run, samples
 * interleaved (A, B, A, B, ...) so that machine noise lands on both, and
 * reports the medians and their ratio. With no names, every row runs,
 * then the figures that have no peer (master-key rotation); with names,
 * only those (e.g. `kmc-bench build get`: row 1 alone, in seconds).
 * BENCH_QUICK=1 asks rows for fewer and smaller samples.
 *
 * Everything lives in a private directory under /tmp, removed on exit.
 * No secret byte is ever printed. docs/performance.md says how to read
 * the table.
 */
#include "bench.h"

/* Table order: a row's number is its place here. */
static const struct {
	const char *name;
	int (*run)(row *r, bench_env *e);
} rows_def[] = {
	{ "get", row_get },
	{ "process", row_process },
	{ "open", row_open },
	{ "provider", row_provider },
	{ "pkcs11", row_pkcs11 },
	{ "get-1m-p50", row_get_1m_p50 },
	{ "get-1m-p99", row_get_1m_p99 },
	{ "batch", row_batch },
	{ "boot10k", row_boot },
	{ "hsm-cold", row_hsm_cold },
	{ "provider-load", row_provider_load },
	{ "tpm", row_tpm },
	{ "tpm-cold", row_tpm_cold },
	{ "audit-set", row_audit_set },
	{ "audit-get", row_audit_get },
	{ "audit-get-first", row_audit_get_first },
	{ "token-tls", row_token_tls },
	{ "token-sign", row_token_sign },
};
#define N_ROWS (sizeof(rows_def) / sizeof(rows_def[0]))

static const struct {
	const char *name;
	void (*run)(bench_env *e);
} figures_def[] = {
	{ "rotation", figures_rotation },
};
#define N_FIGURES (sizeof(figures_def) / sizeof(figures_def[0]))

const char *bench_get_vault(bench_env *e)
{
	char pw[PASSWORD_LEN];
	kmc_vault *v;

	if (e->blob)
		return e->get_vault;
	e->blob = sodium_malloc(GET_SIZE);
	if (!e->blob)
		die("allocating the 2 KB secret", "out of memory");
	path_join(e->get_vault, tmp_dir, "get");
	vault_create(e->get_vault);
	check_kmc(kmc_vault_open(e->get_vault, KMC_OPEN_WRITE, &v),
		"opening %s for writing", e->get_vault);
	randombytes_buf(e->blob, GET_SIZE);
	check_kmc(kmc_item_put(v, GET_ITEM, KMC_ITEM_SECRET, e->blob,
		GET_SIZE), "storing %s in %s", GET_ITEM, e->get_vault);
	random_password(pw, sizeof(pw));
	check_kmc(kmc_item_put(v, PASSWORD_ITEM, KMC_ITEM_PASSWORD, pw,
		sizeof(pw)), "storing %s in %s", PASSWORD_ITEM, e->get_vault);
	sodium_memzero(pw, sizeof(pw));
	kmc_vault_close(v);
	return e->get_vault;
}

const char *bench_pem(bench_env *e)
{
	if (!e->pem[0]) {
		path_join(e->pem, tmp_dir, "plain.pem");
		make_pem(e->pem);
	}
	return e->pem;
}

static void setup(bench_env *e, const char *build)
{
	char module[PATH_MAX];
	const char *q = getenv("BENCH_QUICK");

	snprintf(e->build, sizeof(e->build), "%s", build);
	path_join(e->kmc, build, "kmc");
	if (access(e->kmc, X_OK) < 0)
		die("finding the kmc command", "%s: %s (build it first: make "
			"O=%s all)", e->kmc, strerror(errno), build);
	path_join(e->provider_dir, build, "provider");
	path_join(module, e->provider_dir, "kmc.so");
	if (access(module, R_OK) < 0)
		die("finding the provider", "%s: %s (build it first: make "
			"O=%s all)", module, strerror(errno), build);
	e->quick = q && *q && strcmp(q, "0") != 0;
	if (sodium_init() < 0)
		die("sodium_init", "libsodium failed to initialise");
	make_tmp();
	path_join(e->host_key, tmp_dir, "host.key");
	/* In the environment, so the kmc children find the same host key. */
	if (setenv("KMC_HOST_KEY", e->host_key, 1) < 0)
		die("setting KMC_HOST_KEY", "%s", strerror(errno));
	fprintf(stderr, "kmc-bench: working in %s\n", tmp_dir);
}

static void usage(void)
{
	fprintf(stderr, "usage: kmc-bench BUILD_DIR [NAME]...\nrows:");
	for (size_t i = 0; i < N_ROWS; i++)
		fprintf(stderr, " %s", rows_def[i].name);
	fprintf(stderr, "\nfigures:");
	for (size_t i = 0; i < N_FIGURES; i++)
		fprintf(stderr, " %s", figures_def[i].name);
	fputc('\n', stderr);
	exit(2);
}

static int asked(int argc, char **argv, const char *name)
{
	if (argc == 2)
		return 1;
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], name))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static bench_env e;
	static row rows[N_ROWS];
	int any_row = 0;

	/* A row's own child process (row_boot.c), not a run of the table. */
	if (argc >= 2 && !strcmp(argv[1], "--boot-child"))
		return boot_child(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "--tls-server"))
		return tls_server_child(argc, argv);
	if (argc < 2)
		usage();
	for (int i = 2; i < argc; i++) {
		int known = 0;

		for (size_t k = 0; k < N_ROWS; k++)
			known |= !strcmp(argv[i], rows_def[k].name);
		for (size_t k = 0; k < N_FIGURES; k++)
			known |= !strcmp(argv[i], figures_def[k].name);
		if (!known) {
			fprintf(stderr, "kmc-bench: no row or figures named "
				"'%s'\n", argv[i]);
			usage();
		}
	}
	setup(&e, argv[1]);
	print_machine(e.kmc);
	for (size_t i = 0; i < N_ROWS; i++) {
		if (!asked(argc, argv, rows_def[i].name))
			continue;
		fprintf(stderr, "kmc-bench: row %zu (%s)\n", i + 1,
			rows_def[i].name);
		(void)rows_def[i].run(&rows[i], &e);
		any_row = 1;
	}
	if (any_row)
		print_table(rows, N_ROWS);
	/* After the table: its vaults are done with, and these are big. */
	for (size_t i = 0; i < N_FIGURES; i++)
		if (asked(argc, argv, figures_def[i].name))
			figures_def[i].run(&e);
	if (e.blob)
		sodium_free(e.blob);
	return 0;
}
