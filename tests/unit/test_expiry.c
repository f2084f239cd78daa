/*
 * test_expiry.c - kmc_cert_expiry_list() (vault/expiry.c).
 *
 * Bundles are put together item by item with kmc_item_put(), so that the
 * vault can hold what kmc_import() would refuse: a certificate that has
 * expired, a CRL without a next update, a bundle missing its NAME/cert.
 * Certificates and CRLs are made with the OpenSSL API (EC P-256) at
 * fixed dates around BASE, and the walk is told that "now" is BASE: no
 * test depends on the clock, except the one that leaves now unset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit_files.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <kmc.h>
#include <kmc/admin.h>

#define DAY INT64_C(86400)
#define BASE INT64_C(1900000000)	/* 2030-03-17 */

typedef struct fixture {
	char tmp[256];
	char vdir[512];
	char hk[512];
	kmc_vault *v;
	EVP_PKEY *ca_key, *inter_key, *leaf_key;
} fixture;

/* ---- material ---------------------------------------------------------- */

static EVP_PKEY *gen_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_non_null(k);
	return k;
}

/* A certificate CN=cn for key, signed by issuer_key under issuer_cn
   (itself when NULL), valid from not_before to not_after (absolute). */
static X509 *make_cert(const char *cn, EVP_PKEY *key, const char *issuer_cn,
	EVP_PKEY *issuer_key, int64_t not_before, int64_t not_after)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new(), *iname = X509_NAME_new();

	assert_non_null(x);
	assert_non_null(name);
	assert_non_null(iname);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++),
		1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		(const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(iname, "CN", MBSTRING_ASC,
		(const unsigned char *)(issuer_cn ? issuer_cn : cn), -1, -1, 0),
		1);
	assert_int_equal(X509_set_subject_name(x, name), 1);
	assert_int_equal(X509_set_issuer_name(x, iname), 1);
	X509_NAME_free(name);
	X509_NAME_free(iname);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x),
		(time_t)not_before));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, issuer_key ? issuer_key : key,
		EVP_sha256()) > 0);
	return x;
}

/* A CRL of issuer_cn; next < 0: one without a next update. */
static X509_CRL *make_crl(const char *issuer_cn, EVP_PKEY *key, int64_t last,
	int64_t next)
{
	X509_CRL *crl = X509_CRL_new();
	X509_NAME *name = X509_NAME_new();
	ASN1_TIME *t = ASN1_TIME_new();

	assert_non_null(crl);
	assert_non_null(name);
	assert_non_null(t);
	assert_int_equal(X509_CRL_set_version(crl, 1), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		(const unsigned char *)issuer_cn, -1, -1, 0), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, name), 1);
	X509_NAME_free(name);
	assert_non_null(ASN1_TIME_set(t, (time_t)last));
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	if (next >= 0) {
		assert_non_null(ASN1_TIME_set(t, (time_t)next));
		assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	}
	ASN1_TIME_free(t);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	return crl;
}

/* PEM of n certificates, which are freed; malloc'd, NUL-terminated. */
static char *pem_certs(X509 **x, size_t n)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p, *out;
	long len;

	assert_non_null(bio);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(PEM_write_bio_X509(bio, x[i]), 1);
		X509_free(x[i]);
	}
	len = BIO_get_mem_data(bio, &p);
	out = strndup(p, (size_t)len);
	assert_non_null(out);
	BIO_free(bio);
	return out;
}

static char *pem_crl(X509_CRL *crl)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p, *out;
	long len;

	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_X509_CRL(bio, crl), 1);
	X509_CRL_free(crl);
	len = BIO_get_mem_data(bio, &p);
	out = strndup(p, (size_t)len);
	assert_non_null(out);
	BIO_free(bio);
	return out;
}

static void put(kmc_vault *v, const char *name, kmc_item_type type,
	const char *data)
{
	assert_int_equal(kmc_item_put(v, name, type, data, strlen(data)), 0);
}

/* The items of an imported bundle name, as kmc_import() stores them;
   cert, ca and crl may be NULL to leave that item out. No key and no
   password: the walk must not need them. */
static void put_bundle(kmc_vault *v, const char *name, char *cert, char *ca,
	char *crl)
{
	char item[KMC_NAME_MAX + 1];

	snprintf(item, sizeof(item), "%s/meta", name);
	put(v, item, KMC_ITEM_BUNDLE, "keys_dir=/nowhere\nconf=\n");
	if (cert) {
		snprintf(item, sizeof(item), "%s/cert", name);
		put(v, item, KMC_ITEM_CERTIFICATE, cert);
	}
	if (ca) {
		snprintf(item, sizeof(item), "%s/ca", name);
		put(v, item, KMC_ITEM_CERTIFICATE, ca);
	}
	if (crl) {
		snprintf(item, sizeof(item), "%s/crl", name);
		put(v, item, KMC_ITEM_CRL, crl);
	}
	free(cert);
	free(ca);
	free(crl);
}

/* The usual bundle name: a server certificate valid until leaf_end,
   an intermediate until inter_end, the root until ca_end; a CRL of the
   intermediate (crl_next < 0: none given) when with_crl. */
static void usual_bundle(const fixture *f, const char *name, int64_t leaf_end,
	int64_t inter_end, int64_t ca_end, int with_crl, int64_t crl_next)
{
	X509 *chain[2], *ca[1];

	chain[0] = make_cert("leaf", f->leaf_key, "inter", f->inter_key,
		BASE - 100 * DAY, leaf_end);
	chain[1] = make_cert("inter", f->inter_key, "root", f->ca_key,
		BASE - 200 * DAY, inter_end);
	ca[0] = make_cert("root", f->ca_key, NULL, NULL, BASE - 300 * DAY,
		ca_end);
	put_bundle(f->v, name, pem_certs(chain, 2), pem_certs(ca, 1),
		with_crl ? pem_crl(make_crl("inter", f->inter_key,
		BASE - DAY, crl_next)) : NULL);
}

/* ---- collecting what the walk reports ------------------------------------ */

typedef struct entry {
	size_t size;
	char bundle[KMC_NAME_MAX + 1];
	char item[KMC_NAME_MAX + 1];
	kmc_expiry_kind kind;
	unsigned index;
	char subject[512];
	int64_t not_before, not_after, seconds_left;
	kmc_expiry_state state;
} entry;

typedef struct seen {
	entry e[16];
	size_t n;
	int stop_at;		/* return 7 at this call (1-based); 0 never */
} seen;

static int collect(const kmc_expiry_info *i, void *arg)
{
	seen *s = arg;
	entry *e;

	assert_true(s->n < 16);
	e = &s->e[s->n++];
	e->size = i->size;
	snprintf(e->bundle, sizeof(e->bundle), "%s", i->bundle);
	snprintf(e->item, sizeof(e->item), "%s", i->item);
	e->kind = i->kind;
	e->index = i->index;
	snprintf(e->subject, sizeof(e->subject), "%s", i->subject);
	e->not_before = i->not_before;
	e->not_after = i->not_after;
	e->seconds_left = i->seconds_left;
	e->state = i->state;
	return s->stop_at && (int)s->n == s->stop_at ? 7 : 0;
}

/* Walk with now = BASE and the given horizon into s. */
static int walk(kmc_vault *v, uint32_t days, seen *s)
{
	kmc_expiry_params p = KMC_EXPIRY_PARAMS_INIT;

	p.now = BASE;
	p.within_days = days;
	memset(s->e, 0, sizeof(s->e));
	s->n = 0;
	return kmc_cert_expiry_list(v, &p, collect, s);
}

static void assert_entry(const entry *e, const char *item,
	kmc_expiry_kind kind, unsigned index, const char *subject,
	int64_t not_after, kmc_expiry_state state)
{
	assert_int_equal(e->size, sizeof(kmc_expiry_info));
	assert_string_equal(e->item, item);
	assert_int_equal(e->kind, kind);
	assert_int_equal(e->index, index);
	assert_string_equal(e->subject, subject);
	assert_int_equal(e->not_after, not_after);
	assert_int_equal(e->state, state);
}

/* ---- fixture ------------------------------------------------------------- */

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (unit_tree_make("expiry", f->tmp, f->vdir, f->hk) != 0)
		return -1;
	if (unit_host_vault(f->vdir, f->hk, &f->v) != 0)
		return -1;
	f->ca_key = gen_key();
	f->inter_key = gen_key();
	f->leaf_key = gen_key();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	if (f) {
		kmc_vault_close(f->v);
		unit_tree_remove(f->tmp);
		EVP_PKEY_free(f->ca_key);
		EVP_PKEY_free(f->inter_key);
		EVP_PKEY_free(f->leaf_key);
		free(f);
	}
	return 0;
}

/* ---- tests --------------------------------------------------------------- */

/* Items that are not an imported bundle's are not reported. */
static void test_no_bundles(void **state)
{
	fixture *f = *state;
	X509 *x[1];
	seen s = { .n = 0 };

	assert_int_equal(walk(f->v, 30, &s), 0);
	assert_int_equal(s.n, 0);
	put(f->v, "db", KMC_ITEM_PASSWORD, "hunter2");
	x[0] = make_cert("loose", f->leaf_key, NULL, NULL, BASE - DAY,
		BASE + DAY);
	{
		char *pem = pem_certs(x, 1);

		put(f->v, "loose", KMC_ITEM_CERTIFICATE, pem);
		free(pem);
	}
	/* A bundle-type item not named NAME/meta is no import's. */
	put(f->v, "stray", KMC_ITEM_BUNDLE, "keys_dir=\nconf=\n");
	assert_int_equal(walk(f->v, 30, &s), 0);
	assert_int_equal(s.n, 0);
}

/* Every certificate and the CRL, in order, each judged: an expired
   server certificate, a due intermediate, a CA far off, a due CRL. */
static void test_entries(void **state)
{
	fixture *f = *state;
	seen s = { .n = 0 };

	usual_bundle(f, "web", BASE - 3 * DAY, BASE + 10 * DAY,
		BASE + 400 * DAY, 1, BASE + 5 * DAY);
	assert_int_equal(walk(f->v, 30, &s), 0);
	assert_int_equal(s.n, 4);
	assert_entry(&s.e[0], "web/cert", KMC_EXPIRY_CERT, 0, "CN=leaf",
		BASE - 3 * DAY, KMC_EXPIRY_EXPIRED);
	assert_int_equal(s.e[0].seconds_left, -3 * DAY);
	assert_int_equal(s.e[0].not_before, BASE - 100 * DAY);
	assert_string_equal(s.e[0].bundle, "web");
	assert_entry(&s.e[1], "web/cert", KMC_EXPIRY_INTERMEDIATE, 1,
		"CN=inter", BASE + 10 * DAY, KMC_EXPIRY_DUE);
	assert_int_equal(s.e[1].seconds_left, 10 * DAY);
	assert_entry(&s.e[2], "web/ca", KMC_EXPIRY_CA, 0, "CN=root",
		BASE + 400 * DAY, KMC_EXPIRY_OK);
	/* A CRL: its issuer, last update, next update. */
	assert_entry(&s.e[3], "web/crl", KMC_EXPIRY_CRL, 0, "CN=inter",
		BASE + 5 * DAY, KMC_EXPIRY_DUE);
	assert_int_equal(s.e[3].not_before, BASE - DAY);

	/* A shorter horizon: the CRL and the intermediate are not due. */
	assert_int_equal(walk(f->v, 4, &s), 0);
	assert_int_equal(s.e[0].state, KMC_EXPIRY_EXPIRED);
	assert_int_equal(s.e[1].state, KMC_EXPIRY_OK);
	assert_int_equal(s.e[3].state, KMC_EXPIRY_OK);
	/* The longest: everything not expired is due. */
	assert_int_equal(walk(f->v, KMC_EXPIRY_DAYS_MAX, &s), 0);
	assert_int_equal(s.e[2].state, KMC_EXPIRY_DUE);
}

/* Bundles in name order; a bundle without a CRL reports none. */
static void test_bundles_in_order(void **state)
{
	fixture *f = *state;
	seen s = { .n = 0 };

	usual_bundle(f, "web", BASE + DAY, BASE + DAY, BASE + DAY, 1,
		BASE + DAY);
	usual_bundle(f, "api", BASE + 2 * DAY, BASE + 2 * DAY, BASE + 2 * DAY,
		0, 0);
	assert_int_equal(walk(f->v, 30, &s), 0);
	assert_int_equal(s.n, 7);
	assert_string_equal(s.e[0].item, "api/cert");
	assert_string_equal(s.e[2].item, "api/ca");
	assert_string_equal(s.e[3].item, "web/cert");
	assert_string_equal(s.e[6].item, "web/crl");
}

/* Due means within the horizon to the second; expired means not after
   now, as OpenSSL's check of a certificate's dates. */
static void test_horizon_boundaries(void **state)
{
	fixture *f = *state;
	kmc_expiry_params p = KMC_EXPIRY_PARAMS_INIT;
	seen s = { .n = 0 };

	usual_bundle(f, "web", BASE + 10 * DAY, BASE + 1000 * DAY,
		BASE + 1000 * DAY, 0, 0);
	assert_int_equal(walk(f->v, 10, &s), 0);
	assert_int_equal(s.e[0].state, KMC_EXPIRY_DUE);
	assert_int_equal(walk(f->v, 9, &s), 0);
	assert_int_equal(s.e[0].state, KMC_EXPIRY_OK);

	p.within_days = 0;
	p.now = BASE + 10 * DAY - 1;
	s.n = 0;
	assert_int_equal(kmc_cert_expiry_list(f->v, &p, collect, &s), 0);
	assert_int_equal(s.e[0].state, KMC_EXPIRY_OK);
	assert_int_equal(s.e[0].seconds_left, 1);
	p.now = BASE + 10 * DAY;
	s.n = 0;
	assert_int_equal(kmc_cert_expiry_list(f->v, &p, collect, &s), 0);
	assert_int_equal(s.e[0].state, KMC_EXPIRY_EXPIRED);
	assert_int_equal(s.e[0].seconds_left, 0);
}

/* Before its not_before (a CRL: its last update) a certificate is not
   valid yet, whatever the horizon: a clock set back after an import
   leaves what servers present refused, and the check must say so. Valid
   from not_before on, to the second, as OpenSSL checks it. */
static void test_not_yet_valid(void **state)
{
	fixture *f = *state;
	kmc_expiry_params p = KMC_EXPIRY_PARAMS_INIT;
	seen s = { .n = 0 };

	usual_bundle(f, "web", BASE + 1000 * DAY, BASE + 1000 * DAY,
		BASE + 1000 * DAY, 1, BASE + 1000 * DAY);
	p.within_days = 0;
	/* Past the leaf's not_before (BASE - 100 days), before the CRL's
	   last update (BASE - 1 day). */
	p.now = BASE - 2 * DAY;
	assert_int_equal(kmc_cert_expiry_list(f->v, &p, collect, &s), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.e[0].state, KMC_EXPIRY_OK);
	assert_int_equal(s.e[3].state, KMC_EXPIRY_NOT_YET_VALID);
	p.now = BASE - 100 * DAY - 1;
	s.n = 0;
	assert_int_equal(kmc_cert_expiry_list(f->v, &p, collect, &s), 0);
	assert_int_equal(s.e[0].state, KMC_EXPIRY_NOT_YET_VALID);
	/* The longest horizon changes nothing: not valid is not due. */
	p.within_days = KMC_EXPIRY_DAYS_MAX;
	s.n = 0;
	assert_int_equal(kmc_cert_expiry_list(f->v, &p, collect, &s), 0);
	assert_int_equal(s.e[0].state, KMC_EXPIRY_NOT_YET_VALID);
	p.within_days = 0;
	p.now = BASE - 100 * DAY;
	s.n = 0;
	assert_int_equal(kmc_cert_expiry_list(f->v, &p, collect, &s), 0);
	assert_int_equal(s.e[0].state, KMC_EXPIRY_OK);
}

/* A CRL that names no next update is out of date, as import says. */
static void test_crl_without_next_update(void **state)
{
	fixture *f = *state;
	seen s = { .n = 0 };

	usual_bundle(f, "web", BASE + 100 * DAY, BASE + 100 * DAY,
		BASE + 100 * DAY, 1, -1);
	assert_int_equal(walk(f->v, 30, &s), 0);
	assert_int_equal(s.n, 4);
	assert_entry(&s.e[3], "web/crl", KMC_EXPIRY_CRL, 0, "CN=inter", 0,
		KMC_EXPIRY_EXPIRED);
	assert_int_equal(s.e[3].seconds_left, 0);
}

/* NULL params: the current time and 30 days. */
static void test_default_params(void **state)
{
	fixture *f = *state;
	int64_t now = (int64_t)time(NULL);
	X509 *chain[2], *ca[1];
	seen s = { .n = 0 };

	chain[0] = make_cert("soon", f->leaf_key, "root", f->ca_key,
		now - DAY, now + 10 * DAY);
	chain[1] = make_cert("later", f->inter_key, "root", f->ca_key,
		now - DAY, now + 40 * DAY);
	ca[0] = make_cert("root", f->ca_key, NULL, NULL, now - DAY,
		now + 400 * DAY);
	put_bundle(f->v, "web", pem_certs(chain, 2), pem_certs(ca, 1), NULL);
	assert_int_equal(kmc_cert_expiry_list(f->v, NULL, collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.e[0].state, KMC_EXPIRY_DUE);
	assert_int_equal(s.e[1].state, KMC_EXPIRY_OK);
	assert_int_equal(s.e[2].state, KMC_EXPIRY_OK);
	/* Seconds left against the clock of the call: within a minute. */
	assert_true(s.e[0].seconds_left <= 10 * DAY &&
		s.e[0].seconds_left > 10 * DAY - 60);
}

static void test_params_checked(void **state)
{
	fixture *f = *state;
	kmc_expiry_params p = KMC_EXPIRY_PARAMS_INIT;
	seen s = { .n = 0 };

	usual_bundle(f, "web", BASE + DAY, BASE + DAY, BASE + DAY, 0, 0);
	p.size = 0;
	assert_int_equal(kmc_cert_expiry_list(f->v, &p, collect, &s),
		KMC_E_INVALID);
	assert_non_null(strstr(kmc_error_detail(), "KMC_EXPIRY_PARAMS_INIT"));
	p = (kmc_expiry_params)KMC_EXPIRY_PARAMS_INIT;
	p.within_days = KMC_EXPIRY_DAYS_MAX + 1;
	assert_int_equal(kmc_cert_expiry_list(f->v, &p, collect, &s),
		KMC_E_INVALID);
	assert_non_null(strstr(kmc_error_detail(), "36501 days"));
	p.within_days = KMC_EXPIRY_DAYS_MAX;
	p.now = -1;
	assert_int_equal(kmc_cert_expiry_list(f->v, &p, collect, &s),
		KMC_E_INVALID);
	p.now = INT64_MAX;
	assert_int_equal(kmc_cert_expiry_list(f->v, &p, collect, &s),
		KMC_E_INVALID);
	assert_int_equal(s.n, 0);
	/* A caller's struct from before within_days: the default 30. */
	p = (kmc_expiry_params)KMC_EXPIRY_PARAMS_INIT;
	p.now = BASE;
	p.within_days = 0;
	p.size = offsetof(kmc_expiry_params, within_days);
	assert_int_equal(kmc_cert_expiry_list(f->v, &p, collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.e[0].state, KMC_EXPIRY_DUE);
}

/* The callback's non-zero return stops the walk and is returned. */
static void test_callback_stops(void **state)
{
	fixture *f = *state;
	seen s = { .n = 0, .stop_at = 2 };

	usual_bundle(f, "web", BASE + DAY, BASE + DAY, BASE + DAY, 1,
		BASE + DAY);
	assert_int_equal(walk(f->v, 30, &s), 7);
	assert_int_equal(s.n, 2);
}

/* A damaged bundle fails, the detail naming the item. */
static void test_damaged_bundle(void **state)
{
	fixture *f = *state;
	X509 *ca[1];
	seen s = { .n = 0 };

	ca[0] = make_cert("root", f->ca_key, NULL, NULL, BASE - DAY,
		BASE + DAY);
	put_bundle(f->v, "web", NULL, pem_certs(ca, 1), NULL);
	assert_int_equal(walk(f->v, 30, &s), KMC_E_CORRUPT);
	assert_non_null(strstr(kmc_error_detail(), "web/cert"));

	put(f->v, "web/cert", KMC_ITEM_CERTIFICATE,
		"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
	assert_int_equal(walk(f->v, 30, &s), KMC_E_CORRUPT);
	assert_non_null(strstr(kmc_error_detail(), "item web/cert"));
	assert_int_equal(s.n, 0);

	usual_bundle(f, "web", BASE + DAY, BASE + DAY, BASE + DAY, 0, 0);
	put(f->v, "web/crl", KMC_ITEM_CRL, "not a CRL at all");
	assert_int_equal(walk(f->v, 30, &s), KMC_E_CORRUPT);
	assert_non_null(strstr(kmc_error_detail(), "item web/crl"));
	/* What came before the damaged item was reported. */
	assert_int_equal(s.n, 3);
}

/* The key and the password are never read: a bundle whose NAME/key and
   NAME items are of other types (reading either would fail with
   KMC_E_TYPE) reports all the same, and so does a read-only handle. */
static void test_no_secret_read(void **state)
{
	fixture *f = *state;
	kmc_vault *ro = NULL;
	seen s = { .n = 0 };

	usual_bundle(f, "web", BASE + DAY, BASE + DAY, BASE + DAY, 1,
		BASE + DAY);
	put(f->v, "web/key", KMC_ITEM_SECRET, "no key here");
	put(f->v, "web", KMC_ITEM_SECRET, "no password here");
	assert_int_equal(walk(f->v, 30, &s), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &ro), 0);
	assert_int_equal(walk(ro, 30, &s), 0);
	assert_int_equal(s.n, 4);
	kmc_vault_close(ro);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(kmc_expiry_kind_name(KMC_EXPIRY_CERT),
		"certificate");
	assert_string_equal(kmc_expiry_kind_name(KMC_EXPIRY_INTERMEDIATE),
		"intermediate");
	assert_string_equal(kmc_expiry_kind_name(KMC_EXPIRY_CA), "ca");
	assert_string_equal(kmc_expiry_kind_name(KMC_EXPIRY_CRL), "crl");
	assert_string_equal(kmc_expiry_kind_name((kmc_expiry_kind)99),
		"unknown");
	assert_string_equal(kmc_expiry_state_name(KMC_EXPIRY_OK), "ok");
	assert_string_equal(kmc_expiry_state_name(KMC_EXPIRY_DUE), "due");
	assert_string_equal(kmc_expiry_state_name(KMC_EXPIRY_NOT_YET_VALID),
		"not_yet_valid");
	assert_string_equal(kmc_expiry_state_name(KMC_EXPIRY_EXPIRED),
		"expired");
	assert_string_equal(kmc_expiry_state_name((kmc_expiry_state)99),
		"unknown");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_no_bundles),
		T(test_entries),
		T(test_bundles_in_order),
		T(test_horizon_boundaries),
		T(test_not_yet_valid),
		T(test_crl_without_next_update),
		T(test_default_params),
		T(test_params_checked),
		T(test_callback_stops),
		T(test_damaged_bundle),
		T(test_no_secret_read),
		cmocka_unit_test(test_names),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
