/*
 * two_copies.c - a process that has a vault open through this library
 * and also loads keys through the kmc provider, for
 * tests/e2e/test_threads.sh:
 *
 *	two_copies token VAULT NAME	kmc_key_load() of NAME, a token key
 *	two_copies conf VAULT NAME	kmc.so loaded first (as openssl.cnf
 *					does), then a kmc: URI of NAME
 *	two_copies late VAULT NAME	a kmc: URI of NAME loaded before the
 *					library opens the vault, then again
 *	two_copies copy VAULT NAME	kmc/vault.so's own copy of the vault
 *					code asked to open VAULT (as a kmc.so
 *					of another build would): refused
 *
 * The provider must open the vault with this library's code, never with
 * a second copy (its kmc/vault.so) while the library's LMDB environment
 * is open: LMDB allows one a file in a process, and a second one's close
 * drops the process's locks on items.mdb-lock, after which another
 * process takes itself for the first and resets the reader table. Prints
 * what it saw, one fact a line:
 *	locks before N / locks after N	this process's POSIX locks on
 *					VAULT/items.mdb-lock (/proc/locks)
 *	vault.so mapped yes|no		kmc/vault.so in /proc/self/maps
 *	load ok | load failed: DETAIL
 *	second copy open ok | second copy open failed: DETAIL
 *	read ok | read failed: DETAIL	the library's handle, afterwards
 * Exits 0 when it got that far, 2 when the set-up failed.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <kmc.h>
#include <kmc/tls.h>
#include "provtable.h"	/* vault/: kmc/vault.so's table */

static const char *vault;

/* This process's POSIX locks on items.mdb-lock, counted; with show,
   each line of /proc/locks printed too (what a failing check shows). */
static int locks_shown(int show);

static int locks(void)
{
	return locks_shown(0);
}

static int locks_shown(int show)
{
	char path[4096], line[512];
	struct stat st;
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/items.mdb-lock", vault);
	if (stat(path, &st) < 0 || !(f = fopen("/proc/locks", "r")))
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char type[16];
		unsigned maj, min;
		unsigned long long ino;
		long pid;

		if (strstr(line, "->") || sscanf(line, "%*s %15s %*s %*s %ld "
				"%x:%x:%llu", type, &pid, &maj, &min, &ino) != 5)
			continue;
		if (!strcmp(type, "POSIX") && pid == (long)getpid() &&
		    maj == major(st.st_dev) && min == minor(st.st_dev) &&
		    ino == (unsigned long long)st.st_ino) {
			n++;
			if (show)
				printf("lock: %s", line);
		}
	}
	fclose(f);
	return n;
}

static const char *vault_so_mapped(void)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	int yes = 0;

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "/kmc/vault.so"))
			yes = 1;
	if (f)
		fclose(f);
	return yes ? "yes" : "no";
}

/* NAME through OSSL_STORE and the kmc provider. */
static void uri_load(const char *name)
{
	char uri[4200];
	OSSL_STORE_CTX *sc;
	EVP_PKEY *k = NULL;

	snprintf(uri, sizeof(uri), "kmc://%s?item=%s", vault, name);
	sc = OSSL_STORE_open_ex(uri, NULL, "?provider=kmc", NULL, NULL, NULL,
		NULL, NULL);
	while (sc && !k && !OSSL_STORE_eof(sc)) {
		OSSL_STORE_INFO *i = OSSL_STORE_load(sc);

		if (!i)
			break;
		if (OSSL_STORE_INFO_get_type(i) == OSSL_STORE_INFO_PKEY)
			k = OSSL_STORE_INFO_get1_PKEY(i);
		OSSL_STORE_INFO_free(i);
	}
	if (sc)
		OSSL_STORE_close(sc);
	if (k) {
		printf("load ok\n");
	} else {
		const char *data;
		int flags;

		printf("load failed:");
		while (ERR_get_error_all(NULL, NULL, NULL, &data, &flags))
			printf(" %s", (flags & ERR_TXT_STRING) && data ? data : "");
		printf("\n");
	}
	EVP_PKEY_free(k);
}

int main(int argc, char **argv)
{
	const char *mode, *name, *mods = getenv("OPENSSL_MODULES");
	OSSL_PROVIDER *kmc_prov = NULL, *def_prov = NULL;
	kmc_vault *v = NULL;
	kmc_secret *s;
	char path[4096];

	if (argc != 4 || !mods) {
		fprintf(stderr, "usage: two_copies token|conf|late VAULT NAME "
			"(OPENSSL_MODULES set)\n");
		return 2;
	}
	mode = argv[1];
	vault = argv[2];
	name = argv[3];
	snprintf(path, sizeof(path), "%s/kmc.so", mods);
	if (strcmp(mode, "token") && strcmp(mode, "copy") &&
	    (!(kmc_prov = OSSL_PROVIDER_load(NULL, path)) ||
	     !(def_prov = OSSL_PROVIDER_load(NULL, "default")))) {
		printf("set-up: kmc.so does not load\n");
		return 2;
	}
	if (!strcmp(mode, "late"))
		uri_load(name);
	if (kmc_vault_open(vault, 0, &v) < 0 ||
	    kmc_item_get_secret(v, "pw", &s) < 0) {
		printf("set-up: %s\n", kmc_error_detail());
		return 2;
	}
	kmc_secret_free(s);
	printf("locks before %d\n", locks());
	if (!strcmp(mode, "token")) {
		EVP_PKEY *k = NULL;

		if (kmc_key_load(v, name, &k) < 0)
			printf("load failed: %s\n", kmc_error_detail());
		else
			printf("load ok\n");
		EVP_PKEY_free(k);
	} else if (!strcmp(mode, "copy")) {
		kmcprov_vault_api_fn *get;
		const kmcprov_vault_api *t;
		kmc_vault *v2 = NULL;
		void *h, *sym;

		snprintf(path, sizeof(path), "%s/kmc/vault.so", mods);
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		sym = h ? dlsym(h, "kmcprov_vault_get") : NULL;
		if (!sym) {
			printf("set-up: %s does not load\n", path);
			return 2;
		}
		memcpy(&get, &sym, sizeof(get));
		t = get();
		if (t->vault_open_ex(vault, 0, NULL, &v2) < 0) {
			printf("second copy open failed: %s\n",
				t->error_detail());
		} else {
			printf("second copy open ok\n");
			t->vault_close(v2);
		}
	} else {
		uri_load(name);
	}
	printf("locks after %d\n", locks_shown(1));
	printf("vault.so mapped %s\n", vault_so_mapped());
	if (kmc_item_get_secret(v, "pw", &s) < 0) {
		printf("read failed: %s\n", kmc_error_detail());
	} else {
		printf("read ok\n");
		kmc_secret_free(s);
	}
	kmc_vault_close(v);
	if (kmc_prov)
		OSSL_PROVIDER_unload(kmc_prov);
	if (def_prov)
		OSSL_PROVIDER_unload(def_prov);
	return 0;
}
