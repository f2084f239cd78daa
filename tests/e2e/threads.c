/*
 * threads.c - one process, many threads, each with a handle of its own on
 * one vault, as kmc(3) allows ("several handles on one vault in one
 * process are fine"), for tests/e2e/test_threads.sh:
 *
 *	threads VAULT BUNDLE ROUNDS
 *
 * Four reader threads each open their own handle and, ROUNDS times, read
 * the password item "pw", load BUNDLE's key with kmc_key_load(), set up
 * an SSL_CTX with kmc_ssl_ctx_use() and close and open their handle again
 * every fifth round. Two writer threads, each with a handle opened for
 * writing, put "pw" (values "pw-N", N growing) and an item of their own
 * meanwhile. A reader must never fail, and must never see a password
 * older than one it saw before (a new handle sees the vault as it is
 * now). Prints "reads N" and exits 0, or prints the first failures and
 * exits 1; 2 when the set-up fails.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>
#include <kmc.h>
#include <kmc/tls.h>

#define READERS 4
#define WRITERS 2

static const char *dir, *bundle;
static int rounds, writers = WRITERS;
static atomic_long reads, failures;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *who, const char *what, int r)
{
	/* The detail is this thread's, valid until its next call. */
	const char *d = r < 0 ? kmc_error_detail() : "";

	pthread_mutex_lock(&out_lock);
	if (atomic_fetch_add(&failures, 1) < 5)
		fprintf(stdout, "%s: %s: %s (%d) %s\n", who, what,
			r < 0 ? kmc_strerror(r) : "", r, d ? d : "");
	pthread_mutex_unlock(&out_lock);
}

static long pw_number(const kmc_secret *s)
{
	char buf[32];
	size_t n = kmc_secret_len(s);

	if (n < 4 || n >= sizeof(buf) || memcmp(kmc_secret_data(s), "pw-", 3))
		return -1;
	memcpy(buf, kmc_secret_data(s), n);
	buf[n] = '\0';
	return strtol(buf + 3, NULL, 10);
}

static void *reader(void *arg)
{
	char who[16];
	kmc_vault *v = NULL;
	long last = -1;
	int r;

	snprintf(who, sizeof(who), "reader %d", (int)(intptr_t)arg);
	for (int i = 0; i < rounds; i++) {
		kmc_secret *s = NULL;
		EVP_PKEY *key = NULL;
		SSL_CTX *ctx;
		long n;

		if (!v && (r = kmc_vault_open(dir, 0, &v)) < 0) {
			fail(who, "open", r);
			v = NULL;
			continue;
		}
		if ((r = kmc_item_get_secret(v, "pw", &s)) < 0) {
			fail(who, "get pw", r);
		} else {
			n = pw_number(s);
			if (n < last)
				fail(who, "pw went back", 0);
			if (n < 0)
				fail(who, "pw is not one a writer wrote", 0);
			last = n;
			kmc_secret_free(s);
		}
		if ((r = kmc_key_load(v, bundle, &key)) < 0)
			fail(who, "kmc_key_load", r);
		EVP_PKEY_free(key);
		if (!(ctx = SSL_CTX_new(TLS_server_method())))
			fail(who, "SSL_CTX_new", 0);
		else if ((r = kmc_ssl_ctx_use(ctx, v, bundle)) < 0)
			fail(who, "kmc_ssl_ctx_use", r);
		SSL_CTX_free(ctx);
		atomic_fetch_add(&reads, 1);
		if (i % 5 == 4) {
			kmc_vault_close(v);
			v = NULL;
		}
	}
	kmc_vault_close(v);
	return NULL;
}

static long next_pw;
static pthread_mutex_t pw_lock = PTHREAD_MUTEX_INITIALIZER;

static void *writer(void *arg)
{
	char who[16], own[16], val[32];
	int r, id = (int)(intptr_t)arg;

	snprintf(who, sizeof(who), "writer %d", id);
	snprintf(own, sizeof(own), "own-%d", id);
	for (int i = 0; i < rounds; i++) {
		kmc_vault *v = NULL;
		long n;
		int len;

		/* A handle for writing holds the vault's writer lock from
		   its open to its close: the two writers take turns. */
		if ((r = kmc_vault_open(dir, KMC_OPEN_WRITE, &v)) < 0) {
			fail(who, "open", r);
			continue;
		}
		/* Numbers are taken and written under one lock as well, so
		   they reach the store in order. */
		pthread_mutex_lock(&pw_lock);
		n = ++next_pw;
		len = snprintf(val, sizeof(val), "pw-%ld", n);
		if ((r = kmc_item_put(v, "pw", KMC_ITEM_PASSWORD, val,
				(size_t)len)) < 0)
			fail(who, "put pw", r);
		pthread_mutex_unlock(&pw_lock);
		len = snprintf(val, sizeof(val), "%s-%d", own, i);
		if ((r = kmc_item_put(v, own, KMC_ITEM_PASSWORD, val,
				(size_t)len)) < 0)
			fail(who, "put own item", r);
		kmc_vault_close(v);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t rt[READERS], wt[WRITERS];

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: threads VAULT BUNDLE ROUNDS [WRITERS]\n");
		return 2;
	}
	dir = argv[1];
	bundle = argv[2];
	rounds = atoi(argv[3]);
	{
		/* Numbers go on from the vault's "pw". */
		kmc_vault *v;
		kmc_secret *s;

		if (kmc_vault_open(dir, 0, &v) < 0 ||
			kmc_item_get_secret(v, "pw", &s) < 0) {
			printf("set-up: %s\n", kmc_error_detail());
			return 2;
		}
		next_pw = pw_number(s);
		kmc_secret_free(s);
		kmc_vault_close(v);
		if (next_pw < 0) {
			printf("set-up: pw is not pw-N\n");
			return 2;
		}
	}
	if (argc == 5)
		writers = atoi(argv[4]);
	for (int i = 0; i < writers; i++)
		if (pthread_create(&wt[i], NULL, writer, (void *)(intptr_t)i))
			return 2;
	for (int i = 0; i < READERS; i++)
		if (pthread_create(&rt[i], NULL, reader, (void *)(intptr_t)i))
			return 2;
	for (int i = 0; i < READERS; i++)
		pthread_join(rt[i], NULL);
	for (int i = 0; i < writers; i++)
		pthread_join(wt[i], NULL);
	printf("reads %ld failed %ld\n", (long)reads, (long)failures);
	return failures ? 1 : 0;
}
