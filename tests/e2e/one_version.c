/*
 * one_version.c - reads of several items as one version of the vault,
 * for tests/e2e/test_one_version.sh:
 *
 *	one_version snapshot VAULT
 *	one_version beside-writer VAULT BUNDLE CA ROUNDS [token]
 *	one_version token-moved VAULT BUNDLE CMD...
 *
 * snapshot: kmc_vault_snapshot() on one handle while another writes
 * item "pw": the first handle reads the value of before until
 * kmc_vault_snapshot_end(), refuses a change and a second snapshot
 * meanwhile (KMC_E_BUSY), and reads the new value after. Prints "ok".
 *
 * beside-writer: a writer thread puts items of its own, committing
 * without pause, while this thread calls ROUNDS times each of
 * kmc_ssl_ctx_use() of BUNDLE, kmc_export() of its key (PKCS#8 DER,
 * unencrypted), kmc_ca_list() of CA and kmc_cert_info_get() of BUNDLE:
 * none may fail. They read a bundle the writer never touches; each used
 * to run its reads again while the vault's generation moved, and failed
 * (KMC_E_BUSY) when 8 tries in a row each met a commit: nearly always
 * with a key on a token, whose load takes milliseconds ("token": BUNDLE's
 * key is on a token, and is not exported). Prints "calls N commits M"
 * and exits 0, or the first failures and exits 1.
 *
 * token-moved: BUNDLE's key lives on a token. One handle holds a
 * snapshot while CMD (a shell command: an import --replace --on-token)
 * gives the bundle a new key; kmc_key_load() through that handle then
 * reads the old record, and the kmc provider, which loads the key
 * through a handle of its own, the new one: refused as changed
 * (KMC_E_BUSY), never the new key under the old record. After the
 * snapshot's end, the new key loads. Prints "ok".
 *
 * Exit 2 when the set-up fails. The vault opens with $KMC_HOST_KEY.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>
#include <kmc.h>
#include <kmc/admin.h>
#include <kmc/tls.h>

static const char *dir;
static atomic_int stop;
static atomic_long commits;
static int failures;

static void fail(const char *what, int r)
{
	if (failures++ < 5)
		printf("%s: %s (%d) %s\n", what, kmc_strerror(r), r,
			kmc_error_detail());
}

static int put(kmc_vault *v, const char *name, const char *value)
{
	return kmc_item_put(v, name, KMC_ITEM_PASSWORD,
		(const unsigned char *)value, strlen(value));
}

/* The value of item name as a C string in buf, or "" when it fails. */
static const char *get(kmc_vault *v, const char *name, char *buf, size_t n)
{
	kmc_secret *s = NULL;

	buf[0] = '\0';
	if (kmc_item_get_secret(v, name, &s) == 0 && kmc_secret_len(s) < n) {
		memcpy(buf, kmc_secret_data(s), kmc_secret_len(s));
		buf[kmc_secret_len(s)] = '\0';
	}
	kmc_secret_free(s);
	return buf;
}

static int snapshot(void)
{
	kmc_vault *r = NULL, *w = NULL;
	char buf[64];
	int e;

	if (kmc_vault_open(dir, 0, &r) < 0 ||
	    kmc_vault_open(dir, KMC_OPEN_WRITE, &w) < 0 || put(w, "pw", "old"))
		return 2;
	if ((e = kmc_vault_snapshot(r)) < 0)
		fail("kmc_vault_snapshot", e);
	if (put(w, "pw", "new") < 0)
		return 2;
	if (strcmp(get(r, "pw", buf, sizeof(buf)), "old") != 0)
		printf("in the snapshot, pw reads \"%s\", not \"old\"\n", buf),
			failures++;
	if ((e = kmc_vault_snapshot(r)) != KMC_E_BUSY)
		printf("a second snapshot gave %d, not KMC_E_BUSY\n", e),
			failures++;
	kmc_vault_close(w);
	w = NULL;
	/* A change through the held handle: refused, nothing written. */
	kmc_vault_close(r);
	if (kmc_vault_open(dir, KMC_OPEN_WRITE, &r) < 0)
		return 2;
	if ((e = kmc_vault_snapshot(r)) < 0)
		fail("kmc_vault_snapshot of a writer", e);
	if ((e = put(r, "pw", "through-snapshot")) != KMC_E_BUSY)
		printf("a change in a snapshot gave %d, not KMC_E_BUSY\n", e),
			failures++;
	kmc_vault_snapshot_end(r);
	if (strcmp(get(r, "pw", buf, sizeof(buf)), "new") != 0)
		printf("after the snapshot, pw reads \"%s\", not \"new\"\n",
			buf), failures++;
	/* Ended twice, and a handle closed while one is held: harmless. */
	kmc_vault_snapshot_end(r);
	if ((e = kmc_vault_snapshot(r)) < 0)
		fail("kmc_vault_snapshot again", e);
	kmc_vault_close(r);
	if (failures)
		return 1;
	printf("ok\n");
	return 0;
}

static void *writer(void *arg)
{
	kmc_vault *w = NULL;
	char v[32];
	int r;

	(void)arg;
	if ((r = kmc_vault_open(dir, KMC_OPEN_WRITE, &w)) < 0) {
		fail("writer's open", r);
		return NULL;
	}
	for (long i = 0; !atomic_load(&stop); i++) {
		snprintf(v, sizeof(v), "w-%ld", i);
		if ((r = put(w, i % 2 ? "other-a" : "other-b", v)) < 0) {
			fail("writer's put", r);
			break;
		}
		atomic_fetch_add(&commits, 1);
	}
	kmc_vault_close(w);
	return NULL;
}

static int no_ca(const kmc_ca_info *i, void *arg)
{
	(void)i;
	++*(int *)arg;
	return 0;
}

static int beside_writer(const char *bundle, const char *ca, int rounds,
	int token)
{
	kmc_export_params p = KMC_EXPORT_PARAMS_INIT;
	kmc_vault *v = NULL;
	pthread_t t;
	long calls = 0;
	int r;

	if (kmc_vault_open(dir, 0, &v) < 0)
		return 2;
	p.format = KMC_EXPORT_PKCS8_DER;
	p.flags = KMC_EXPORT_NO_PASSWORD;
	if (pthread_create(&t, NULL, writer, NULL) != 0)
		return 2;
	/* The writer is under way before the first call. */
	while (atomic_load(&commits) < 5 && !failures)
		;
	for (int i = 0; i < rounds && !failures; i++) {
		SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
		kmc_secret *key = NULL;
		kmc_cert_info *info = NULL;
		size_t n = 0;
		int cas = 0;

		if (!ctx)
			return 2;
		if ((r = kmc_ssl_ctx_use(ctx, v, bundle)) < 0)
			fail("kmc_ssl_ctx_use", r);
		SSL_CTX_free(ctx);
		if (!token && (r = kmc_export(v, bundle, &p, &key, NULL)) < 0)
			fail("kmc_export", r);
		kmc_secret_free(key);
		if ((r = kmc_ca_list(v, ca, no_ca, NULL, &cas)) < 0)
			fail("kmc_ca_list", r);
		else if (cas != 1)
			printf("kmc_ca_list listed %d CAs, not 1\n", cas),
				failures++;
		if ((r = kmc_cert_info_get(v, bundle, &info, &n)) < 0)
			fail("kmc_cert_info_get", r);
		kmc_cert_info_free(info, n);
		calls += token ? 3 : 4;
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	kmc_vault_close(v);
	printf("calls %ld commits %ld\n", calls, atomic_load(&commits));
	return failures ? 1 : 0;
}

static int token_moved(const char *bundle, char **cmd, int n)
{
	char line[4096] = "";
	kmc_vault *v = NULL;
	EVP_PKEY *k = NULL;
	size_t len = 0;
	int r;

	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s'%s'",
			i ? " " : "", cmd[i]);
	if (len >= sizeof(line) || kmc_vault_open(dir, 0, &v) < 0)
		return 2;
	if ((r = kmc_key_load(v, bundle, &k)) < 0)
		fail("kmc_key_load before", r);
	EVP_PKEY_free(k);
	k = NULL;
	if ((r = kmc_vault_snapshot(v)) < 0)
		fail("kmc_vault_snapshot", r);
	if (system(line) != 0) {
		printf("the command failed: %s\n", line);
		return 2;
	}
	r = kmc_key_load(v, bundle, &k);
	if (r != KMC_E_BUSY || k)
		printf("in the snapshot, the moved key loaded: %d\n", r),
			failures++;
	else if (!strstr(kmc_error_detail(), "changed while it was loaded"))
		printf("the refusal does not say why: %s\n",
			kmc_error_detail()), failures++;
	EVP_PKEY_free(k);
	k = NULL;
	kmc_vault_snapshot_end(v);
	if ((r = kmc_key_load(v, bundle, &k)) < 0)
		fail("kmc_key_load after the snapshot", r);
	EVP_PKEY_free(k);
	kmc_vault_close(v);
	if (failures)
		return 1;
	printf("ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "snapshot") == 0) {
		dir = argv[2];
		return snapshot();
	}
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "beside-writer") == 0) {
		dir = argv[2];
		return beside_writer(argv[3], argv[4], atoi(argv[5]),
			argc == 7 && strcmp(argv[6], "token") == 0);
	}
	if (argc >= 5 && strcmp(argv[1], "token-moved") == 0) {
		dir = argv[2];
		return token_moved(argv[3], argv + 4, argc - 4);
	}
	fprintf(stderr, "usage: one_version snapshot VAULT | beside-writer "
		"VAULT BUNDLE CA ROUNDS [token] | token-moved VAULT BUNDLE CMD...\n");
	return 2;
}
