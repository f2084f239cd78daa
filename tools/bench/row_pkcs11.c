/*
 * row_pkcs11.c - a vault whose protector is a SoftHSM2 token, two ways.
 * Row pkcs11 (warm): kmc_vault_open_ex + close in a running process,
 * whose token session and key handle are kept from the first open,
 * against the raw PKCS#11 unwrap it rests on (C_Decrypt of 32 bytes in a
 * session already logged in). Row hsm-cold: a whole `kmc password get`
 * process against a whole minimal PKCS#11 process (kmc-p11-min) doing the
 * same token work. Both share one token and vault, and are skipped, with
 * a note, without SoftHSM2.
 */
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include "bench.h"

/* ---------------------------------------------------------------- */
/* Row 5: opening through a SoftHSM2 token against the raw unwrap    */

#define P11_KEY "bench-vault-key"
#define P11_SECRET 32		/* bytes the token unwraps per open */
#define P11_BATCH 20		/* operations per sample */
#define P11_SAMPLES 51
#define P11_SAMPLES_QUICK 11
#define P11_COLD_SAMPLES 31	/* whole processes a side */
#define P11_COLD_SAMPLES_QUICK 9


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


static void p11_check(CK_RV rv, const char *what)
{
	if (rv != CKR_OK)
		die("row 5", "%s: PKCS#11 error 0x%lx", what, (unsigned long)rv);
}

/* A token in the scratch directory, found by SoftHSM2 through its conf. */
int softhsm_token(row *r, const char *row_name)
{
	static int made;
	char dir[PATH_MAX], tokens[PATH_MAX], conf[PATH_MAX], log[PATH_MAX];
	FILE *f;
	proc p;

	if (access(P11_MODULE, R_OK) < 0 || !in_path("softhsm2-util")) {
		snprintf(r->skipped, sizeof(r->skipped), "SoftHSM2 is not "
			"installed (%s, softhsm2-util); tools/deps.sh installs it",
			P11_MODULE);
		fprintf(stderr, "kmc-bench: %s skipped: %s\n", row_name,
			r->skipped);
		return 0;
	}
	if (made)
		return 1;
	made = 1;
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
	return 1;
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

/* The token and the vault on it, made once for both rows that use them. */
static char p11_dir[PATH_MAX];
static kmc_secret *p11_pin;

/* Returns 0 when SoftHSM2 is missing: r is skipped with a note. */
static int p11_ready(row *r, const char *row_name)
{
	static char uri[256];
	kmc_options o = KMC_OPTIONS_INIT;
	kmc_vault *v;

	if (!softhsm_token(r, row_name))
		return 0;
	if (p11_pin)
		return 1;
	path_join(p11_dir, tmp_dir, "pkcs11");
	snprintf(uri, sizeof(uri), "pkcs11:token=" P11_TOKEN ";object=" P11_KEY
		"?module-path=" P11_MODULE);
	check_kmc(kmc_secret_new(strlen(P11_PIN), &p11_pin),
		"allocating the PIN");
	memcpy(kmc_secret_data(p11_pin), P11_PIN, strlen(P11_PIN));
	o.pin = p11_pin;
	o.pkcs11_uri = uri;
	o.pkcs11_create_key = 1;	/* AES-256, sealed with aes-cbc */
	check_kmc(kmc_vault_init(p11_dir, KMC_PROTECTOR_PKCS11, &o),
		"creating the vault %s on token " P11_TOKEN, p11_dir);
	o.pkcs11_uri = NULL;
	o.pkcs11_create_key = 0;
	/* The kmc side must really go through the token. */
	check_kmc(kmc_vault_open_ex(p11_dir, KMC_OPEN_WRITE, &o, &v),
		"opening %s", p11_dir);
	if (kmc_vault_opened_by(v) != 1 || kmc_vault_unlock_notes(v)[0])
		die(row_name, "%s did not open through the token: %s", p11_dir,
			kmc_vault_unlock_notes(v));
	check_kmc(kmc_item_put(v, PASSWORD_ITEM, KMC_ITEM_PASSWORD, "bench-"
		"password-on-a-token", 27), "storing %s in %s", PASSWORD_ITEM,
		p11_dir);
	kmc_vault_close(v);
	return 1;
}

/* Returns 0 when SoftHSM2 is missing: the row is skipped with a note. */
int row_pkcs11(row *r, bench_env *e)
{
	p11_raw *c;
	p11_open o = { .o = KMC_OPTIONS_INIT };

	(void)e;
	r->what = "open+close via SoftHSM vs raw C_Decrypt";
	r->about = "kmc_vault_open_ex (read-only, pkcs11 protector on a "
		"SoftHSM2 token, opts.pin)\n   + kmc_vault_close vs "
		"C_DecryptInit + C_Decrypt of one 32-byte AES-CBC\n   "
		"ciphertext with the same token key, in a session already "
		"logged in,\n   through p11-kit: the warm case (row hsm-cold "
		"is the cold one). kmcvault\n   keeps the token's session "
		"and key handle between opens, so its token\n   work is the "
		"same two calls; the rest is opening the vault itself.";
	r->per = "batches of " STR(P11_BATCH) " (per op)";
	if (!p11_ready(r, "row pkcs11"))
		return 0;
	fprintf(stderr, "kmc-bench: row pkcs11: open+close through SoftHSM2 "
		"vs C_Decrypt\n");
	o.dir = p11_dir;
	o.o.pin = p11_pin;
	c = sodium_malloc(sizeof(*c));
	if (!c)
		die("row 5", "sodium_malloc: out of memory");
	memset(c, 0, sizeof(*c));
	p11_raw_open(c);
	p11_raw_decrypt(c);
	if (sodium_memcmp(c->out, c->pt, P11_SECRET) != 0)
		die("row 5: C_Decrypt", "returned other bytes than were encrypted");
	measure(r, (side){ sample_p11_open, &o },
		(side){ sample_p11_decrypt, c }, e->quick ? P11_SAMPLES_QUICK :
		P11_SAMPLES);
	(void)c->mod->C_CloseSession(c->session);
	(void)p11_kit_module_finalize(c->mod);
	p11_kit_module_release(c->mod);
	sodium_free(c);
	return 1;
}

/* ---------------------------------------------------------------- */
/* Row hsm-cold: a whole kmc process against a minimal PKCS#11 one   */

/*
 * Both sides are whole processes, cold: each loads the module, opens a
 * session, logs in, finds the key and has it decrypt 32 bytes. kmc then
 * opens the vault and prints one password (to /dev/null); the peer,
 * kmc-p11-min (tools/bench/p11min/), stops there. Only the token is
 * protector, so kmc cannot open the vault any other way.
 */
int cold_min_path(row *r, bench_env *e, const char *row_name,
	char min[PATH_MAX])
{
	path_join(min, e->build, "bench/kmc-p11-min");
	if (access(min, X_OK) == 0)
		return 1;
	snprintf(r->skipped, sizeof(r->skipped), "%.200s is missing (make "
		"bench builds it)", min);
	fprintf(stderr, "kmc-bench: row %s skipped: %s\n", row_name,
		r->skipped);
	return 0;
}

void cold_measure(row *r, bench_env *e, const char *min,
	const cold_sides *c)
{
	char log_a[PATH_MAX], log_b[PATH_MAX], name_a[128], name_b[128],
		file[64];
	proc a, b;

	snprintf(file, sizeof(file), "%s-kmc.log", c->row_name);
	path_join(log_a, tmp_dir, file);
	snprintf(file, sizeof(file), "%s-min.log", c->row_name);
	path_join(log_b, tmp_dir, file);
	snprintf(name_a, sizeof(name_a), "kmc password get (through %s)",
		c->token_what);
	snprintf(name_b, sizeof(name_b), "kmc-p11-min (%s)", c->token_what);
	proc_init(&a, name_a, log_a);
	a.argv[0] = e->kmc;
	a.argv[1] = "--vault";
	a.argv[2] = (char *)c->vault;
	a.argv[3] = "password";
	a.argv[4] = "get";
	a.argv[5] = PASSWORD_ITEM;
	a.argv[6] = "--pin-file";
	a.argv[7] = (char *)c->pin_file;
	a.argv[8] = NULL;
	proc_init(&b, name_b, log_b);
	b.argv[0] = (char *)min;
	b.argv[1] = (char *)c->module;
	b.argv[2] = (char *)c->token;
	b.argv[3] = (char *)c->pin_file;
	b.argv[4] = (char *)c->key;
	b.argv[5] = NULL;
	fprintf(stderr, "kmc-bench: row %s: kmc through %s vs kmc-p11-min, "
		"whole processes\n", c->row_name, c->token_what);
	measure(r, (side){ sample_proc, &a }, (side){ sample_proc, &b },
		c->samples);
	posix_spawn_file_actions_destroy(&a.fa);
	posix_spawn_file_actions_destroy(&b.fa);
}

int row_hsm_cold(row *r, bench_env *e)
{
	static char pin_file[PATH_MAX], min[PATH_MAX];

	r->what = "cold kmc password get via SoftHSM vs min";
	r->about = "a whole `kmc password get` process on a vault whose one "
		"protector is a SoftHSM2\n   token (--pin-file) vs a whole "
		"kmc-p11-min process: dlopen of the module,\n   C_Initialize, "
		"C_OpenSession, C_Login, C_FindObjects of the key, C_Decrypt\n"
		"   of 32 bytes (AES-CBC), C_Logout, C_Finalize: the token work "
		"alone.";
	r->per = "processes";
	if (!cold_min_path(r, e, "hsm-cold", min) ||
	    !p11_ready(r, "row hsm-cold"))
		return 0;
	path_join(pin_file, tmp_dir, "token.pin");
	{
		int fd = open(pin_file, O_WRONLY | O_CREAT | O_EXCL, 0600);

		if (fd < 0 || write(fd, P11_PIN, strlen(P11_PIN)) !=
				(ssize_t)strlen(P11_PIN) || close(fd) < 0)
			die("row hsm-cold: writing the PIN file", "%s: %s",
				pin_file, strerror(errno));
	}
	cold_measure(r, e, min, &(cold_sides){ "hsm-cold", "SoftHSM2",
		p11_dir, pin_file, P11_MODULE, P11_TOKEN, P11_KEY,
		e->quick ? P11_COLD_SAMPLES_QUICK : P11_COLD_SAMPLES });
	return 1;
}
