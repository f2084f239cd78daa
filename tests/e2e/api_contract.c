/*
 * api_contract.c - calls of the public API whose return a server author
 * reads in man/kmc.3: each case prints "FUNCTION CODE" (the name of the
 * code the call returned), and test_api_contract.sh checks that kmc.3's
 * paragraph of that function lists the code.
 *
 *	api_contract read-fd-zero	kmc_secret_read_fd(fd, 0, ...)
 *	api_contract read-file-zero FILE	kmc_secret_read_file(FILE, 0, ...)
 *	api_contract open-default	kmc_vault_open(NULL, ...)
 *	api_contract open VAULT		kmc_vault_open(VAULT, 0, ...)
 *	api_contract uri DIR NAME	kmc_uri_format(DIR, NAME) and
 *					kmc_ref_format(), each after a failure
 *					that left a detail: prints the code and
 *					"detail: ..." of each
 *	api_contract decrypt-long VAULT	kmc_string_decrypt() of a string far
 *					longer than any the vault makes
 *	api_contract list-twice VAULT	kmc_item_list() of a handle, then again
 *					after a line on standard input
 *	api_contract drop-digest VAULT	remove the item store's digest root
 *					from its meta, behind kmc's back
 *	api_contract commit-null	kmc_batch_commit(NULL), as a caller
 *					whose kmc_batch_begin() failed may
 *	api_contract names		"FUNCTION NAME" for every name each
 *					kmc_*_name() gives, one a line
 *	api_contract key-load VAULT NAME	kmc_key_load(VAULT, NAME)
 *	api_contract ctx-use VAULT NAME		kmc_ssl_ctx_use(ctx, VAULT, NAME)
 *	api_contract put VAULT NAME		kmc_item_put(NAME, a secret)
 *	api_contract put-in-snapshot VAULT NAME	the same while v holds a
 *						snapshot, then kmc_item_remove()
 *						and kmc_item_prune() of NAME
 *	api_contract audit-read DIR SINCE ITEM [nocb]
 *		kmc_audit_read(DIR, SINCE, ITEM) ("-": NULL), with a callback
 *		that counts, or none (nocb); prints the records seen too
 *	api_contract status-old VAULT
 *		kmc_vault_status() and kmc_status_free() of an older caller's
 *		kmc_status, one that ends before n_protectors: prints "intact"
 *		when neither wrote or read past its size
 *	api_contract audit-state VAULT
 *		kmc_audit_read() refused before its walk (a bad since) and
 *		kmc_audit_verify() of VAULT: the state each leaves
 *	api_contract add-size0 VAULT HOSTKEY
 *		kmc_protector_add(host) with a kmc_options whose size was
 *		left 0 and whose host_key is HOSTKEY
 *	api_contract reads VAULT BUNDLE CA
 *		every call that reads the item store, through one read-only
 *		handle: "FUNCTION CODE" of each (BUNDLE a key with a
 *		certificate, CA a CA, the trust store "default")
 *	api_contract destroys-ro VAULT
 *		kmc_token_destroys_finish() of a read-only handle, its
 *		*ret_left set to 77 before: prints "left N" after
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lmdb.h>
#include <kmc.h>
#include <kmc/tls.h>
#include <kmc/admin.h>

static int count_record(const kmc_audit_record *rec, void *arg)
{
	(void)rec;
	++*(unsigned long *)arg;
	return 0;
}

static const char *const names[] = {
	"KMC_E_INVALID", "KMC_E_NOMEM", "KMC_E_AUTH", "KMC_E_UNLOCK",
	"KMC_E_NEED_PASSPHRASE", "KMC_E_CORRUPT", "KMC_E_NO_KEYSTORE",
	"KMC_E_VERSION", "KMC_E_NOT_VAULT", "KMC_E_EXISTS", "KMC_E_NOT_FOUND",
	"KMC_E_PERM", "KMC_E_NAME", "KMC_E_TOO_LARGE", "KMC_E_STRING",
	"KMC_E_WRONG_VAULT", "KMC_E_READONLY", "KMC_E_STORE", "KMC_E_HOST_KEY",
	"KMC_E_TYPE", "KMC_E_LIMIT", "KMC_E_BUSY", "KMC_E_EMPTY",
	"KMC_E_VERIFY", "KMC_E_P11_MODULE", "KMC_E_P11_TOKEN", "KMC_E_P11_PIN",
	"KMC_E_P11_PIN_LOCKED", "KMC_E_P11_KEY", "KMC_E_P11_KEY_TYPE",
	"KMC_E_P11", "KMC_E_PENDING", "KMC_E_IN_USE", "KMC_E_ROLLBACK",
	"KMC_E_AUDIT",
};

/* Callbacks that take each record and go on. */
#define NOP_CB(fn, type) \
	static int fn(const type *info, void *arg) \
	{ (void)info; (void)arg; return 0; }
NOP_CB(mk_cb, kmc_mk_info)
NOP_CB(trust_cb, kmc_trust_info)
NOP_CB(ca_cb, kmc_ca_info)
NOP_CB(issued_cb, kmc_ca_issued)
NOP_CB(expiry_cb, kmc_expiry_info)

static int files_cb(const char *store, const char *path, void *arg)
{
	(void)store;
	(void)path;
	(void)arg;
	return 0;
}

static int count_item(const kmc_item_info *info, void *arg)
{
	(void)info;
	(void)arg;
	return 0;
}

static int report(const char *fn, int r)
{
	int i = KMC_E_BASE - r - 1;

	if (r == 0)
		printf("%s 0\n", fn);
	else if (KMC_IS_ERRNO(r))
		printf("%s -errno\n", fn);
	else if (i >= 0 && i < (int)(sizeof(names) / sizeof(names[0])))
		printf("%s %s\n", fn, names[i]);
	else
		printf("%s unknown(%d)\n", fn, r);
	fprintf(stderr, "%s: %s (%s)\n", fn, kmc_strerror(r),
		kmc_error_detail());
	return 0;
}

int main(int argc, char **argv)
{
	kmc_secret *s = NULL;
	kmc_vault *v = NULL;
	const char *c = argc > 1 ? argv[1] : "";
	int r;

	if (strcmp(c, "read-fd-zero") == 0) {
		r = kmc_secret_read_fd(0, 0, &s);
		kmc_secret_free(r == 0 ? s : NULL);
		return report("kmc_secret_read_fd", r);
	}
	if (strcmp(c, "read-file-zero") == 0 && argc > 2) {
		r = kmc_secret_read_file(argv[2], 0, &s);
		kmc_secret_free(r == 0 ? s : NULL);
		return report("kmc_secret_read_file", r);
	}
	if (strcmp(c, "open-default") == 0 || (strcmp(c, "open") == 0 &&
	    argc > 2)) {
		r = kmc_vault_open(argc > 2 ? argv[2] : NULL, 0, &v);
		if (r == 0)
			kmc_vault_close(v);
		return report("kmc_vault_open", r);
	}
	if (strcmp(c, "uri") == 0 && argc > 3) {
		int (*fmt[2])(const char *, const char *, char **) = {
			kmc_uri_format, kmc_ref_format };
		static const char *const fn[2] = {
			"kmc_uri_format", "kmc_ref_format" };

		for (int i = 0; i < 2; i++) {
			char *out = NULL;

			/* An earlier failure's detail, about a secret. */
			if (kmc_secret_new((size_t)1 << 30, &s) == 0)
				kmc_secret_free(s);
			r = fmt[i](argv[2], argv[3], &out);
			free(out);
			report(fn[i], r);
			printf("detail: %s\n", kmc_error_detail());
		}
		return 0;
	}
	if (strcmp(c, "decrypt-long") == 0 && argc > 2) {
		static char str[64 * 1024];

		memset(str, 'A', sizeof(str) - 1);
		memcpy(str, "kmc:v1:1:", 9);
		r = kmc_vault_open(argv[2], 0, &v);
		if (r < 0)
			return report("kmc_vault_open", r);
		r = kmc_string_decrypt(v, str, &s);
		if (r == 0)
			kmc_secret_free(s);
		kmc_vault_close(v);
		return report("kmc_string_decrypt", r);
	}
	if (strcmp(c, "list-twice") == 0 && argc > 2) {
		char line[16];

		r = kmc_vault_open(argv[2], 0, &v);
		if (r < 0)
			return report("kmc_vault_open", r);
		report("kmc_item_list", kmc_item_list(v, count_item, NULL));
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
		report("kmc_item_list", kmc_item_list(v, count_item, NULL));
		kmc_vault_close(v);
		return 0;
	}
	if (strcmp(c, "drop-digest") == 0 && argc > 2) {
		char path[4096];
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi dbi;
		MDB_val k = { 4, (void *)"tree" };

		snprintf(path, sizeof(path), "%s/items.mdb", argv[2]);
		if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 8) ||
		    mdb_env_set_mapsize(env, (size_t)1 << 30) ||
		    mdb_env_open(env, path, MDB_NOSUBDIR, 0600) ||
		    mdb_txn_begin(env, NULL, 0, &txn) ||
		    mdb_dbi_open(txn, "meta", 0, &dbi) ||
		    mdb_del(txn, dbi, &k, NULL) || mdb_txn_commit(txn)) {
			fprintf(stderr, "drop-digest: %s failed\n", path);
			return 1;
		}
		mdb_env_close(env);
		printf("dropped\n");
		return 0;
	}
	if (strcmp(c, "commit-null") == 0)
		return report("kmc_batch_commit", kmc_batch_commit(NULL));
	if (strcmp(c, "names") == 0) {
		for (int t = -1; t <= 64; t++) {
#define NAME(f, e) printf("%s %s\n", #f, f((e)t) ? f((e)t) : "NULL")
			NAME(kmc_item_type_name, kmc_item_type);
			NAME(kmc_key_type_name, kmc_key_type);
			NAME(kmc_bind_state_name, kmc_bind_state);
			NAME(kmc_protector_type_name, kmc_protector_type);
			NAME(kmc_keystore_state_name, kmc_keystore_state);
			NAME(kmc_expiry_kind_name, kmc_expiry_kind);
			NAME(kmc_expiry_state_name, kmc_expiry_state);
#undef NAME
		}
		return 0;
	}
	if (strcmp(c, "put-in-snapshot") == 0 && argc > 3) {
		r = kmc_vault_open(argv[2], KMC_OPEN_WRITE, &v);
		if (r < 0)
			return report("kmc_vault_open", r);
		r = kmc_vault_snapshot(v);
		if (r < 0)
			return report("kmc_vault_snapshot", r);
		report("kmc_item_put", kmc_item_put(v, argv[3],
			KMC_ITEM_SECRET, "s", 1));
		report("kmc_item_remove", kmc_item_remove(v, argv[3]));
		report("kmc_item_prune", kmc_item_prune(v, argv[3], NULL));
		kmc_vault_snapshot_end(v);
		kmc_vault_close(v);
		return 0;
	}
	if ((strcmp(c, "key-load") == 0 || strcmp(c, "ctx-use") == 0 ||
	    strcmp(c, "put") == 0) && argc > 3) {
		int put = c[0] == 'p';

		r = kmc_vault_open(argv[2], put ? KMC_OPEN_WRITE : 0, &v);
		if (r < 0)
			return report("kmc_vault_open", r);
		if (put) {
			r = kmc_item_put(v, argv[3], KMC_ITEM_SECRET, "s", 1);
			kmc_vault_close(v);
			return report("kmc_item_put", r);
		}
		if (c[0] == 'k') {
			EVP_PKEY *k = NULL;

			r = kmc_key_load(v, argv[3], &k);
			EVP_PKEY_free(k);
			kmc_vault_close(v);
			return report("kmc_key_load", r);
		}
		SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

		r = ctx ? kmc_ssl_ctx_use(ctx, v, argv[3]) : KMC_E_NOMEM;
		SSL_CTX_free(ctx);
		kmc_vault_close(v);
		return report("kmc_ssl_ctx_use", r);
	}
	if (strcmp(c, "audit-read") == 0 && argc > 4) {
		kmc_audit_state st;
		unsigned long n = 0;
		int nocb = argc > 5 && strcmp(argv[5], "nocb") == 0;

		r = kmc_audit_read(argv[2], strcmp(argv[3], "-") ? argv[3] :
			NULL, strcmp(argv[4], "-") ? argv[4] : NULL,
			nocb ? NULL : count_record, &n, &st);
		report("kmc_audit_read", r);
		if (r == 0)
			printf("records %lu seen %lu\n",
				(unsigned long)st.records, n);
		return 0;
	}
	if (strcmp(c, "status-old") == 0 && argc > 2) {
		/* The caller's struct, then bytes it does not own: a
		   library that takes them for the lists frees garbage. */
		static union {
			kmc_status s;
			unsigned char b[sizeof(kmc_status)];
		} u;
		size_t n = offsetof(kmc_status, n_protectors);
		kmc_status *st = &u.s;

		memset(u.b, 0xa5, sizeof(u.b));
		memset(u.b, 0, n);
		st->size = n;
		r = kmc_vault_status(argv[2], st);
		report("kmc_vault_status", r);
		kmc_status_free(st);
		kmc_status_free(st);
		for (size_t i = n; i < sizeof(u.b); i++)
			if (u.b[i] != 0xa5) {
				printf("byte %zu past size changed\n", i);
				return 1;
			}
		printf("intact size %zu items %lu\n", st->size,
			(unsigned long)st->items);
		return 0;
	}
	if (strcmp(c, "audit-state") == 0 && argc > 2) {
		kmc_audit_state st;
		const unsigned char *b = (const unsigned char *)&st;
		size_t nz = 0;

		memset(&st, 0xa5, sizeof(st));
		r = kmc_audit_read(argv[2], "2026-13-01", NULL, NULL, NULL, &st);
		report("kmc_audit_read", r);
		for (size_t i = 0; i < sizeof(st); i++)
			nz += b[i] != 0;
		printf("nonzero %zu\n", nz);
		r = kmc_vault_open(argv[2], 0, &v);
		if (r < 0)
			return report("kmc_vault_open", r);
		memset(&st, 0xa5, sizeof(st));
		r = kmc_audit_verify(v, &st);
		kmc_vault_close(v);
		report("kmc_audit_verify", r);
		printf("records %lu\n", (unsigned long)st.records);
		return 0;
	}
	if (strcmp(c, "add-size0") == 0 && argc > 3) {
		kmc_options o = { .size = 0, .host_key = argv[3] };
		unsigned id = 0;

		r = kmc_vault_open(argv[2], KMC_OPEN_WRITE, &v);
		if (r < 0)
			return report("kmc_vault_open", r);
		r = kmc_protector_add(v, KMC_PROTECTOR_HOST, &o, &id, NULL);
		kmc_vault_close(v);
		return report("kmc_protector_add", r);
	}
	if (strcmp(c, "reads") == 0 && argc > 4) {
		const char *b = argv[3], *ca = argv[4];
		kmc_expiry_params ep = KMC_EXPIRY_PARAMS_INIT;
		kmc_export_params xp = KMC_EXPORT_PARAMS_INIT;
		kmc_cert_info *ci = NULL;
		char key[KMC_NAME_MAX + 1], buf[512], *pem = NULL;
		unsigned char spki[1024];
		size_t n = 0, spki_len = sizeof(spki);
		int x, y;

		snprintf(key, sizeof(key), "%s/key", b);
		xp.format = KMC_EXPORT_PKCS8_PEM;
		xp.flags = KMC_EXPORT_NO_PASSWORD;
		r = kmc_vault_open(argv[2], 0, &v);
		if (r < 0)
			return report("kmc_vault_open", r);
#define READ(f, ...) do { s = NULL; r = f(v, __VA_ARGS__); \
	report(#f, r); if (r == 0) kmc_secret_free(s); } while (0)
		READ(kmc_item_get_secret, key, &s);
		READ(kmc_item_get, key, KMC_ITEM_PRIVATE_KEY, &s);
		READ(kmc_item_get_version, key, 1, KMC_ITEM_PRIVATE_KEY, &s);
		READ(kmc_item_list, count_item, NULL);
		READ(kmc_mk_list, mk_cb, NULL);
		READ(kmc_bundle_has_cert, b, &x);
		READ(kmc_bundle_versions, b, &x, &y);
		READ(kmc_key_export, b, KMC_FORMAT_PEM, &s);
		READ(kmc_export, b, &xp, &s, &x);
		READ(kmc_cert_info_get, b, &ci, &n);
		if (r == 0)
			kmc_cert_info_free(ci, n);
		READ(kmc_cert_info_version, b, 1, &ci, &n);
		if (r == 0)
			kmc_cert_info_free(ci, n);
		READ(kmc_cert_trust_store, b, buf, sizeof(buf));
		READ(kmc_token_key_uri, b, buf, sizeof(buf));
		READ(kmc_token_key_info, b, buf, sizeof(buf), spki, &spki_len);
		READ(kmc_csr_make, b, "/CN=x", NULL, &pem, &n);
		if (r == 0)
			free(pem);
		READ(kmc_trust_list, "default", trust_cb, files_cb, NULL);
		READ(kmc_trust_pem, "default", &pem, &n);
		if (r == 0)
			free(pem);
		xp.format = KMC_EXPORT_PEM;
		xp.flags = 0;
		READ(kmc_trust_export, "default", &xp, &s, &x);
		READ(kmc_ca_list, ca, ca_cb, issued_cb, NULL);
		READ(kmc_cert_expiry_list, &ep, expiry_cb, NULL);
#undef READ
		kmc_vault_close(v);
		return 0;
	}
	if (strcmp(c, "destroys-ro") == 0 && argc > 2) {
		size_t left = 77;

		r = kmc_vault_open(argv[2], 0, &v);
		if (r < 0)
			return report("kmc_vault_open", r);
		r = kmc_token_destroys_finish(v, &left);
		kmc_vault_close(v);
		printf("left %zu\n", left);
		return report("kmc_token_destroys_finish", r);
	}
	fprintf(stderr, "usage: api_contract read-fd-zero | read-file-zero "
		"FILE | open-default | open VAULT | uri DIR NAME | "
		"decrypt-long VAULT | list-twice VAULT | drop-digest VAULT | "
		"commit-null | names | put-in-snapshot VAULT NAME | "
		"key-load VAULT NAME | ctx-use VAULT NAME | put VAULT NAME | "
		"audit-read DIR SINCE ITEM [nocb] | status-old VAULT | "
		"audit-state VAULT | add-size0 VAULT HOSTKEY | destroys-ro VAULT | "
		"reads VAULT BUNDLE CA\n");
	return 2;
}
