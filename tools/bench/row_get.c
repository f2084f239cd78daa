/*
 * row_get.c - row 1: kmc_item_get_secret of a 2 KB item against a bare
 * XChaCha20-Poly1305 open of 2 KB: the cost of the store, the checks and
 * guarded memory over the cipher alone.
 */
#include "bench.h"

#define GET_BATCH 200		/* calls per sample, too fast alone */
#define GET_SAMPLES 51

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

int row_get(row *r, bench_env *e)
{
	const char *dir = bench_get_vault(e);
	const unsigned char *blob = e->blob;
	aead_ctx *c = sodium_malloc(sizeof(*c));
	get_ctx g;

	r->what = "item_get_secret 2 KB vs xchacha20 decrypt 2 KB";
	r->about = "kmc_item_get_secret + kmc_secret_free of a 2 KB item, "
		"vault opened once, vs\n   crypto_aead_xchacha20poly1305_ietf_"
		"decrypt of 2 KB sealed once (the limit).";
	r->per = "batches of " STR(GET_BATCH) " (per call)";

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
	return 1;
}

