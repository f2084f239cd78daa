/*
 * row_tpm.c - rows tpm (warm) and tpm-cold: rows pkcs11 and hsm-cold
 * again, with a TPM 2.0 instead of SoftHSM2: swtpm on loopback and a
 * tpm2-pkcs11 token made by tools/swtpm-token.sh (as tests/e2e/test_tpm.sh
 * does), in the bench's scratch directory, swtpm stopped at exit. The
 * token key is the AES-256 key tpm2_ptool makes (tpm2-pkcs11 has AES-CBC
 * but no AES-GCM, and cannot generate AES keys itself), so the vault's
 * slot is sealed with AES-CBC, as on SoftHSM2. Both rows are skipped,
 * with a note, without swtpm, tpm2_ptool or the module.
 *
 * swtpm has no resource manager and holds three transient objects, and
 * tpm2-pkcs11 frees its own only at C_Finalize: so this process drops its
 * token sessions (kmc_token_sessions_close(), and the peer's finalize)
 * before another process may use the TPM.
 */
#include <signal.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include "bench.h"

#define TPM_SCRIPT "tools/swtpm-token.sh"
#define TPM_TOKEN "kmc-bench-tpm"
#define TPM_PIN "271828"
#define TPM_KEY "bench-tpm-key"
#define TPM_BATCH 5		/* operations per warm sample */
#define TPM_SAMPLES 21
#define TPM_SAMPLES_QUICK 7
#define TPM_COLD_SAMPLES 15	/* whole processes a side */
#define TPM_COLD_SAMPLES_QUICK 5

static const char *const tpm_modules[] = {
	"/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so",
	"/usr/lib/aarch64-linux-gnu/pkcs11/libtpm2_pkcs11.so",
	"/usr/lib64/pkcs11/libtpm2_pkcs11.so",
	"/usr/lib/pkcs11/libtpm2_pkcs11.so",
};

static char tpm_dir[PATH_MAX], tpm_vault[PATH_MAX], tpm_module[PATH_MAX];
static char tpm_pin_file[PATH_MAX];
static kmc_secret *tpm_pin;
static pid_t swtpm_pid;

typedef struct tpm_raw {
	CK_FUNCTION_LIST *mod;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE key;
	CK_BYTE iv[16];
	CK_BYTE ct[32];
	CK_BYTE out[32];
} tpm_raw;

typedef struct tpm_open {
	const char *dir;
	kmc_options o;
} tpm_open;

/* Only the swtpm this process started, by its pid. */
static void swtpm_stop(void)
{
	char comm[PATH_MAX], name[32] = "";
	FILE *f;

	if (swtpm_pid <= 0)
		return;
	snprintf(comm, sizeof(comm), "/proc/%ld/comm", (long)swtpm_pid);
	f = fopen(comm, "r");
	if (f) {
		if (!fgets(name, sizeof(name), f))
			name[0] = '\0';
		fclose(f);
	}
	if (strncmp(name, "swtpm", 5) == 0) {
		(void)kill(swtpm_pid, SIGTERM);
		for (int i = 0; i < 50 && kill(swtpm_pid, 0) == 0; i++)
			usleep(100000);
		if (kill(swtpm_pid, 0) == 0)
			(void)kill(swtpm_pid, SIGKILL);
	}
	swtpm_pid = 0;
}

static void read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(buf, (int)size, f))
		die("row tpm: reading swtpm's state", "%s: %s", path,
			f ? "empty" : strerror(errno));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/* Returns 0 (r skipped, with a note) when something is missing. */
static int tpm_can(row *r, const char *row_name)
{
	const char *missing = NULL;

	for (size_t i = 0; i < sizeof(tpm_modules) / sizeof(tpm_modules[0]);
			i++)
		if (!tpm_module[0] && access(tpm_modules[i], R_OK) == 0)
			snprintf(tpm_module, sizeof(tpm_module), "%s",
				tpm_modules[i]);
	if (!in_path("swtpm"))
		missing = "swtpm not installed";
	else if (!in_path("tpm2_ptool") || !in_path("tpm2_flushcontext"))
		missing = "tpm2_ptool or tpm2-tools not installed";
	else if (!tpm_module[0])
		missing = "the tpm2-pkcs11 module (libtpm2_pkcs11.so) not "
			"installed";
	else if (access(TPM_SCRIPT, R_OK) < 0)
		missing = TPM_SCRIPT " not found (run from the source tree, "
			"as make bench does)";
	if (!missing)
		return 1;
	snprintf(r->skipped, sizeof(r->skipped), "%s (tools/deps.sh "
		"installs it)", missing);
	fprintf(stderr, "kmc-bench: %s skipped: %s\n", row_name, r->skipped);
	return 0;
}

/*
 * swtpm started and a token made by tools/swtpm-token.sh, then the
 * vault on it, once for both rows.
 */
static void tpm_ready(void)
{
	static char uri[PATH_MAX + 128], pid[32], port[32], tcti[96],
		store[PATH_MAX], log[PATH_MAX], pidf[PATH_MAX], portf[PATH_MAX];
	kmc_options o = KMC_OPTIONS_INIT;
	kmc_vault *v;
	proc p;
	int fd;

	if (tpm_pin)
		return;
	path_join(tpm_dir, tmp_dir, "tpm");
	path_join(log, tmp_dir, "swtpm-token.log");
	proc_init(&p, "row tpm: starting swtpm and making a token", log);
	p.argv[0] = "bash";
	p.argv[1] = "-c";
	p.argv[2] = ". " TPM_SCRIPT " && swtpm_start \"$1\" && "
		"{ swtpm_token \"$2\" \"so-$3\" \"$3\" \"$4\" '' || "
		"{ swtpm_stop \"$1\"; false; }; }";
	p.argv[3] = "swtpm-token";
	p.argv[4] = tpm_dir;
	p.argv[5] = TPM_TOKEN;
	p.argv[6] = TPM_PIN;
	p.argv[7] = TPM_KEY;
	p.argv[8] = NULL;
	proc_run(&p);
	posix_spawn_file_actions_destroy(&p.fa);
	path_join(pidf, tpm_dir, "swtpm.pid");
	path_join(portf, tpm_dir, "swtpm.port");
	read_line(pidf, pid, sizeof(pid));
	read_line(portf, port, sizeof(port));
	swtpm_pid = (pid_t)atol(pid);
	/* Registered after the scratch directory's removal: runs first. */
	if (atexit(swtpm_stop) != 0)
		die("row tpm", "atexit failed");
	snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%s", port);
	path_join(store, tpm_dir, "store");
	if (setenv("TPM2TOOLS_TCTI", tcti, 1) < 0 ||
	    setenv("TPM2_PKCS11_TCTI", tcti, 1) < 0 ||
	    setenv("TPM2_PKCS11_STORE", store, 1) < 0)
		die("row tpm: setting the TPM's environment", "%s",
			strerror(errno));
	/* The module by path on both sides, as kmc-p11-min loads it. */
	snprintf(uri, sizeof(uri), "pkcs11:token=" TPM_TOKEN ";object="
		TPM_KEY "?module-path=%s", tpm_module);
	check_kmc(kmc_secret_new(strlen(TPM_PIN), &tpm_pin),
		"allocating the PIN");
	memcpy(kmc_secret_data(tpm_pin), TPM_PIN, strlen(TPM_PIN));
	path_join(tpm_vault, tmp_dir, "tpm-vault");
	o.pin = tpm_pin;
	o.pkcs11_uri = uri;
	check_kmc(kmc_vault_init(tpm_vault, KMC_PROTECTOR_TPM, &o),
		"creating the vault %s on the TPM token", tpm_vault);
	o.pkcs11_uri = NULL;
	check_kmc(kmc_vault_open_ex(tpm_vault, KMC_OPEN_WRITE, &o, &v),
		"opening %s", tpm_vault);
	if (kmc_vault_opened_by(v) != 1 || kmc_vault_unlock_notes(v)[0])
		die("row tpm", "%s did not open through the TPM: %s", tpm_vault,
			kmc_vault_unlock_notes(v));
	check_kmc(kmc_item_put(v, PASSWORD_ITEM, KMC_ITEM_PASSWORD, "bench-"
		"password-on-a-tpm", 25), "storing %s in %s", PASSWORD_ITEM,
		tpm_vault);
	kmc_vault_close(v);
	/* Nothing of ours stays loaded in the TPM between rows. */
	kmc_token_sessions_close();
	path_join(tpm_pin_file, tmp_dir, "tpm.pin");
	fd = open(tpm_pin_file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, TPM_PIN, strlen(TPM_PIN)) !=
			(ssize_t)strlen(TPM_PIN) || close(fd) < 0)
		die("row tpm: writing the PIN file", "%s: %s", tpm_pin_file,
			strerror(errno));
}

static void tpm_check(CK_RV rv, const char *what)
{
	if (rv != CKR_OK)
		die("row tpm", "%s: PKCS#11 error 0x%lx", what, (unsigned long)rv);
}

/* The peer: the token key, in a session of our own, logged in. */
static void tpm_raw_open(tpm_raw *c)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, TPM_KEY, strlen(TPM_KEY) },
	};
	CK_SLOT_ID slots[64];
	CK_ULONG n = sizeof(slots) / sizeof(slots[0]), got = 0;
	char label[33];
	CK_RV rv;

	c->mod = p11_kit_module_load(tpm_module, 0);
	if (!c->mod)
		die("row tpm: loading the module", "%s: %s", tpm_module,
			p11_kit_message() ? p11_kit_message() : "no reason given");
	tpm_check(p11_kit_module_initialize(c->mod), "C_Initialize");
	tpm_check(c->mod->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
	snprintf(label, sizeof(label), "%-32s", TPM_TOKEN);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;

		if (c->mod->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    memcmp(ti.label, label, 32) != 0)
			continue;
		tpm_check(c->mod->C_OpenSession(slots[i], CKF_SERIAL_SESSION,
			NULL, NULL, &c->session), "C_OpenSession");
		break;
	}
	if (!c->session)
		die("row tpm", "no token " TPM_TOKEN " in %s", tpm_module);
	/* Login is per process: kmc's own session may hold it already. */
	rv = c->mod->C_Login(c->session, CKU_USER, (CK_UTF8CHAR *)TPM_PIN,
		strlen(TPM_PIN));
	if (rv != CKR_USER_ALREADY_LOGGED_IN)
		tpm_check(rv, "C_Login");
	tpm_check(c->mod->C_FindObjectsInit(c->session, tmpl, 2),
		"C_FindObjectsInit");
	tpm_check(c->mod->C_FindObjects(c->session, &c->key, 1, &got),
		"C_FindObjects");
	tpm_check(c->mod->C_FindObjectsFinal(c->session), "C_FindObjectsFinal");
	if (got != 1)
		die("row tpm", "the token has no key " TPM_KEY);
	/* Any 32 bytes: CBC without padding decrypts whatever it is given,
	   as kmc-p11-min does. */
	randombytes_buf(c->iv, sizeof(c->iv));
	randombytes_buf(c->ct, sizeof(c->ct));
}

static void tpm_raw_close(tpm_raw *c)
{
	(void)c->mod->C_CloseSession(c->session);
	(void)p11_kit_module_finalize(c->mod);
	p11_kit_module_release(c->mod);
}

static double sample_tpm_decrypt(void *arg)
{
	tpm_raw *c = arg;
	double t0 = now();

	for (int i = 0; i < TPM_BATCH; i++) {
		CK_MECHANISM m = { CKM_AES_CBC, c->iv, sizeof(c->iv) };
		CK_ULONG len = sizeof(c->out);

		tpm_check(c->mod->C_DecryptInit(c->session, &m, c->key),
			"C_DecryptInit");
		tpm_check(c->mod->C_Decrypt(c->session, c->ct, sizeof(c->ct),
			c->out, &len), "C_Decrypt");
	}
	return (now() - t0) / TPM_BATCH;
}

static double sample_tpm_open(void *arg)
{
	tpm_open *c = arg;
	double t0 = now();

	for (int i = 0; i < TPM_BATCH; i++) {
		kmc_vault *v;

		check_kmc(kmc_vault_open_ex(c->dir, 0, &c->o, &v),
			"opening %s through the TPM", c->dir);
		kmc_vault_close(v);
	}
	return (now() - t0) / TPM_BATCH;
}

int row_tpm(row *r, bench_env *e)
{
	tpm_open o = { .o = KMC_OPTIONS_INIT };
	tpm_raw *c;

	r->what = "open+close via swtpm vs raw C_Decrypt";
	r->about = "row 5 with a TPM: kmc_vault_open_ex + kmc_vault_close of "
		"a vault whose one\n   protector is a tpm2-pkcs11 token on "
		"swtpm (AES-256 key, AES-CBC), its\n   session kept between "
		"opens, vs C_DecryptInit + C_Decrypt of 32 bytes with\n   the "
		"same key in a session already logged in: the warm case.";
	r->per = "batches of " STR(TPM_BATCH) " (per op)";
	if (!tpm_can(r, "row tpm"))
		return 0;
	tpm_ready();
	fprintf(stderr, "kmc-bench: row tpm: open+close through swtpm vs "
		"C_Decrypt\n");
	o.dir = tpm_vault;
	o.o.pin = tpm_pin;
	c = sodium_malloc(sizeof(*c));
	if (!c)
		die("row tpm", "sodium_malloc: out of memory");
	memset(c, 0, sizeof(*c));
	tpm_raw_open(c);
	measure(r, (side){ sample_tpm_open, &o },
		(side){ sample_tpm_decrypt, c }, e->quick ? TPM_SAMPLES_QUICK :
		TPM_SAMPLES);
	tpm_raw_close(c);
	sodium_free(c);
	kmc_token_sessions_close();
	return 1;
}

int row_tpm_cold(row *r, bench_env *e)
{
	static char min[PATH_MAX];

	r->what = "cold kmc password get via swtpm vs min";
	r->about = "row hsm-cold with a TPM: a whole `kmc password get` "
		"process on the vault\n   of row tpm (--pin-file) vs a whole "
		"kmc-p11-min process loading the\n   tpm2-pkcs11 module and "
		"doing the same token work (log in, find the key,\n   decrypt "
		"32 bytes with AES-CBC, log out, finalize).";
	r->per = "processes";
	if (!cold_min_path(r, e, "tpm-cold", min) ||
	    !tpm_can(r, "row tpm-cold"))
		return 0;
	tpm_ready();
	cold_measure(r, e, min, &(cold_sides){ "tpm-cold", "the TPM",
		tpm_vault, tpm_pin_file, tpm_module, TPM_TOKEN, TPM_KEY,
		e->quick ? TPM_COLD_SAMPLES_QUICK : TPM_COLD_SAMPLES });
	return 1;
}
