/*
 * test_export.c - kmc_export() and kmc_trust_export() (vault/export.c)
 * through the C API.
 *
 * A bundle is put together item by item (kmc_item_put): its key as
 * PKCS#8 DER, a self-signed certificate as NAME/cert and NAME/ca. Each
 * export is read back with OpenSSL and must hold the same key; each
 * refusal returns its exact error and writes nothing: no password item
 * is made when the export is refused before its file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <kmc.h>
#include <kmc/admin.h>
#include <sodium.h>
#include "../../vault/tokenkey.h"

typedef struct fixture {
	char tmp[256];
	char vdir[512];
	char hk[512];
	char out[512];
	kmc_vault *v;
	EVP_PKEY *key;
} fixture;

/* A self-signed CA certificate for key, CN=cn. */
static X509 *make_cert(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n;
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
		(const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
		"critical,CA:TRUE");
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static void put_pem(kmc_vault *v, const char *name, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	n = BIO_get_mem_data(b, &p);
	assert_int_equal(kmc_item_put(v, name, KMC_ITEM_CERTIFICATE, p,
		(size_t)n), 0);
	BIO_free(b);
}

/* Bundle name: key, and a certificate for cert_key (the key: a match). */
static void put_bundle(fixture *f, const char *name, EVP_PKEY *cert_key)
{
	char item[256];
	unsigned char *der = NULL;
	int len = i2d_PrivateKey(f->key, &der);
	X509 *x = make_cert(cert_key, name);

	assert_true(len > 0);
	snprintf(item, sizeof(item), "%s/key", name);
	assert_int_equal(kmc_item_put(f->v, item, KMC_ITEM_PRIVATE_KEY, der,
		(size_t)len), 0);
	OPENSSL_clear_free(der, (size_t)len);
	snprintf(item, sizeof(item), "%s/cert", name);
	put_pem(f->v, item, x);
	snprintf(item, sizeof(item), "%s/ca", name);
	put_pem(f->v, item, x);
	X509_free(x);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (unit_tree_make("export", f->tmp, f->vdir, f->hk) != 0)
		return -1;
	snprintf(f->out, sizeof(f->out), "%s/out", f->tmp);
	if (unit_host_vault(f->vdir, f->hk, &f->v) != 0)
		return -1;
	f->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!f->key)
		return -1;
	put_bundle(f, "srv", f->key);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	if (f) {
		kmc_vault_close(f->v);
		unit_tree_remove(f->tmp);
		EVP_PKEY_free(f->key);
		free(f);
	}
	return 0;
}

static kmc_secret *secret_of(const char *s)
{
	kmc_secret *p;

	assert_int_equal(kmc_secret_new(strlen(s), &p), 0);
	memcpy(kmc_secret_data(p), s, strlen(s));
	return p;
}

static int item_exists(kmc_vault *v, const char *name)
{
	kmc_secret *s = NULL;
	int r = kmc_item_get_secret(v, name, &s);

	kmc_secret_free(s);
	return r == 0;
}

/* ---- tests ----------------------------------------------------------------- */

/* A keystore without a password given: one is made and kept in
   srv/keystore-password; it opens the PKCS#12, which holds the key and
   its certificate; a second export takes the same password. */
static void test_pkcs12_made_password(void **state)
{
	fixture *f = *state;
	kmc_export_params p = KMC_EXPORT_PARAMS_INIT;
	kmc_secret *out = NULL, *pw = NULL, *out2 = NULL;
	const unsigned char *q;
	PKCS12 *p12;
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	char pass[64];
	int made = -1;

	p.format = KMC_EXPORT_PKCS12;
	assert_int_equal(kmc_export(f->v, "srv", &p, &out, &made), 0);
	assert_int_equal(made, 1);
	assert_int_equal(kmc_item_get(f->v, "srv/keystore-password",
		KMC_ITEM_PASSWORD, &pw), 0);
	assert_int_equal(kmc_secret_len(pw), 32);
	snprintf(pass, sizeof(pass), "%.*s", 32, kmc_secret_data(pw));
	q = kmc_secret_data(out);
	p12 = d2i_PKCS12(NULL, &q, (long)kmc_secret_len(out));
	assert_non_null(p12);
	assert_int_equal(PKCS12_verify_mac(p12, pass, -1), 1);
	assert_int_equal(PKCS12_verify_mac(p12, "wrong", -1), 0);
	assert_int_equal(PKCS12_parse(p12, pass, &k, &x, NULL), 1);
	assert_int_equal(EVP_PKEY_eq(k, f->key), 1);
	assert_int_equal(X509_check_private_key(x, f->key), 1);
	PKCS12_free(p12);
	EVP_PKEY_free(k);
	X509_free(x);

	assert_int_equal(kmc_export(f->v, "srv", &p, &out2, &made), 0);
	assert_int_equal(made, 0);
	q = kmc_secret_data(out2);
	p12 = d2i_PKCS12(NULL, &q, (long)kmc_secret_len(out2));
	assert_int_equal(PKCS12_verify_mac(p12, pass, -1), 1);
	PKCS12_free(p12);
	kmc_secret_free(out);
	kmc_secret_free(out2);
	kmc_secret_free(pw);
}

/* PKCS#8 DER encrypted under a given password decodes to the key with
   it, not without; --no-password gives the stored DER itself. */
static void test_pkcs8(void **state)
{
	fixture *f = *state;
	kmc_export_params p = KMC_EXPORT_PARAMS_INIT;
	kmc_secret *pw = secret_of("a password"), *out = NULL, *plain = NULL;
	OSSL_DECODER_CTX *d;
	EVP_PKEY *k = NULL;
	const unsigned char *q;
	size_t left;
	X509_SIG *sig;

	p.format = KMC_EXPORT_PKCS8_DER;
	p.password = pw;
	assert_int_equal(kmc_export(f->v, "srv", &p, &out, NULL), 0);
	q = kmc_secret_data(out);
	sig = d2i_X509_SIG(NULL, &q, (long)kmc_secret_len(out));
	assert_non_null(sig);	/* an EncryptedPrivateKeyInfo */
	X509_SIG_free(sig);
	d = OSSL_DECODER_CTX_new_for_pkey(&k, "DER", NULL, NULL,
		EVP_PKEY_KEYPAIR, NULL, NULL);
	assert_non_null(d);
	assert_int_equal(OSSL_DECODER_CTX_set_passphrase(d,
		(const unsigned char *)"a password", 10), 1);
	q = kmc_secret_data(out);
	left = kmc_secret_len(out);
	assert_int_equal(OSSL_DECODER_from_data(d, &q, &left), 1);
	assert_int_equal(left, 0);
	assert_int_equal(EVP_PKEY_eq(k, f->key), 1);
	OSSL_DECODER_CTX_free(d);
	EVP_PKEY_free(k);

	p.password = NULL;
	p.flags = KMC_EXPORT_NO_PASSWORD;
	assert_int_equal(kmc_export(f->v, "srv", &p, &plain, NULL), 0);
	q = kmc_secret_data(plain);
	k = d2i_AutoPrivateKey(NULL, &q, (long)kmc_secret_len(plain));
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_eq(k, f->key), 1);
	EVP_PKEY_free(k);
	kmc_secret_free(out);
	kmc_secret_free(plain);
	kmc_secret_free(pw);
}

/* The provider's read (vault_key_or_token): one read of NAME/key gives
   a key in the vault as kmc_key_export's DER (0), a token key's record
   as its URI and public half (1), and refuses anything else as the two
   calls did. */
static void test_key_or_token(void **state)
{
	fixture *f = *state;
	kmc_secret *der = NULL, *want = NULL;
	char uri[2100], rec[1200], b64[900];
	unsigned char spki[1024], *pub = NULL;
	size_t spki_len = sizeof(spki);
	int n = i2d_PUBKEY(f->key, &pub);

	assert_int_equal(vault_key_or_token(f->v, "srv", &der, uri, sizeof(uri),
		spki, &spki_len), 0);
	assert_int_equal(kmc_key_export(f->v, "srv", KMC_FORMAT_DER, &want), 0);
	assert_int_equal(kmc_secret_len(der), kmc_secret_len(want));
	assert_memory_equal(kmc_secret_data(der), kmc_secret_data(want),
		kmc_secret_len(want));
	kmc_secret_free(der);
	kmc_secret_free(want);

	/* A token key's record: where the key is, no key bytes. */
	assert_true(n > 0);
	sodium_bin2base64(b64, sizeof(b64), pub, (size_t)n,
		sodium_base64_VARIANT_ORIGINAL);
	snprintf(rec, sizeof(rec), "kmc-token-key=1\nuri=pkcs11:token=t;"
		"object=k\ntype=p256\nspki=%s\n", b64);
	assert_int_equal(kmc_item_put(f->v, "tk/key", KMC_ITEM_TOKEN_KEY, rec,
		strlen(rec)), 0);
	der = NULL;
	assert_int_equal(vault_key_or_token(f->v, "tk", &der, uri, sizeof(uri),
		spki, &spki_len), 1);
	assert_null(der);
	assert_string_equal(uri, "pkcs11:token=t;object=k");
	assert_int_equal(spki_len, (size_t)n);
	assert_memory_equal(spki, pub, (size_t)n);
	spki_len = 10;
	assert_int_equal(vault_key_or_token(f->v, "tk", &der, uri, sizeof(uri),
		spki, &spki_len), KMC_E_TOO_LARGE);
	OPENSSL_free(pub);

	/* Refused: no such key, a key part of another type, a token key
	   record that does not parse. */
	spki_len = sizeof(spki);
	assert_int_equal(vault_key_or_token(f->v, "nosuch", &der, uri,
		sizeof(uri), spki, &spki_len), KMC_E_NOT_FOUND);
	assert_null(der);
	assert_non_null(strstr(kmc_error_detail(), "no item nosuch/key"));
	assert_int_equal(kmc_item_put(f->v, "pw/key", KMC_ITEM_PASSWORD, "x", 1),
		0);
	assert_int_equal(vault_key_or_token(f->v, "pw", &der, uri, sizeof(uri),
		spki, &spki_len), KMC_E_TYPE);
	assert_null(der);
	assert_non_null(strstr(kmc_error_detail(), "is a password, not a private-key"));
	assert_int_equal(kmc_item_put(f->v, "bad/key", KMC_ITEM_TOKEN_KEY, "x=1\n",
		4), 0);
	assert_int_equal(vault_key_or_token(f->v, "bad", &der, uri, sizeof(uri),
		spki, &spki_len), KMC_E_CORRUPT);
	assert_null(der);
}

/* The file: created with the mode asked for, never over one. */
static void test_file(void **state)
{
	fixture *f = *state;
	kmc_export_params p = KMC_EXPORT_PARAMS_INIT;
	struct stat st;

	p.format = KMC_EXPORT_PKCS8_PEM;
	p.flags = KMC_EXPORT_NO_PASSWORD;
	p.out = f->out;
	p.mode = 0640;
	assert_int_equal(kmc_export(f->v, "srv", &p, NULL, NULL), 0);
	assert_int_equal(stat(f->out, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(kmc_export(f->v, "srv", &p, NULL, NULL),
		KMC_E_EXISTS);
	/* Refused before the item: none is made. */
	p.format = KMC_EXPORT_PKCS12;
	p.flags = 0;
	p.password_item = "never-made";
	assert_int_equal(kmc_export(f->v, "srv", &p, NULL, NULL),
		KMC_E_EXISTS);
	assert_false(item_exists(f->v, "never-made"));
}

/* Each refusal, its exact code, and no item made. */
static void test_refusals(void **state)
{
	fixture *f = *state;
	kmc_export_params p = KMC_EXPORT_PARAMS_INIT, bad;
	kmc_secret *out = NULL, *pw = secret_of("pw"), *empty, *nul;
	char longpw[102];
	kmc_secret *lp;
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	memset(longpw, 'x', 101);
	longpw[101] = '\0';
	lp = secret_of(longpw);
	assert_int_equal(kmc_secret_new(1, &nul), 0);
	kmc_secret_data(nul)[0] = '\0';
	assert_int_equal(kmc_secret_new(0, &empty), 0);
	p.format = KMC_EXPORT_PKCS12;
	p.password_item = "made-maybe";

	bad = p;
	bad.size = 0;
	assert_int_equal(kmc_export(f->v, "srv", &bad, &out, NULL), KMC_E_INVALID);
	bad = p;
	bad.format = 9;
	assert_int_equal(kmc_export(f->v, "srv", &bad, &out, NULL), KMC_E_INVALID);
	bad = p;
	bad.mode = 0644;
	assert_int_equal(kmc_export(f->v, "srv", &bad, &out, NULL), KMC_E_INVALID);
	bad = p;
	bad.password = pw;
	assert_int_equal(kmc_export(f->v, "srv", &bad, &out, NULL), KMC_E_INVALID);
	bad = p;
	bad.password_item = NULL;
	bad.flags = KMC_EXPORT_NO_PASSWORD;
	assert_int_equal(kmc_export(f->v, "srv", &bad, &out, NULL), KMC_E_INVALID);
	assert_int_equal(kmc_export(f->v, "srv", &p, NULL, NULL), KMC_E_INVALID);
	bad = p;
	bad.format = KMC_EXPORT_PKCS8_DER;
	bad.password_item = NULL;
	assert_int_equal(kmc_export(f->v, "srv", &bad, &out, NULL), KMC_E_INVALID);
	bad = p;
	bad.format = KMC_EXPORT_PEM;	/* a trust store's format only */
	assert_int_equal(kmc_export(f->v, "srv", &bad, &out, NULL), KMC_E_INVALID);
	bad = p;
	bad.password_item = NULL;
	bad.password = lp;
	assert_int_equal(kmc_export(f->v, "srv", &bad, &out, NULL), KMC_E_TOO_LARGE);
	bad.password = empty;
	assert_int_equal(kmc_export(f->v, "srv", &bad, &out, NULL), KMC_E_EMPTY);
	bad.password = nul;
	assert_int_equal(kmc_export(f->v, "srv", &bad, &out, NULL), KMC_E_INVALID);
	assert_int_equal(kmc_export(f->v, "nosuch", &p, &out, NULL), KMC_E_NOT_FOUND);
	assert_int_equal(kmc_export(f->v, "../x", &p, &out, NULL), KMC_E_NAME);
	bad = p;
	bad.password_item = "srv/cert";
	assert_int_equal(kmc_export(f->v, "srv", &bad, &out, NULL), KMC_E_TYPE);
	/* A certificate of another key. */
	put_bundle(f, "mismatch", other);
	assert_int_equal(kmc_export(f->v, "mismatch", &p, &out, NULL), KMC_E_VERIFY);
	/* A key without a certificate: PKCS#8 yes, PKCS#12 no. */
	assert_int_equal(kmc_item_remove(f->v, "mismatch/cert"), 0);
	assert_int_equal(kmc_export(f->v, "mismatch", &p, &out, NULL),
		KMC_E_NOT_FOUND);
	assert_false(item_exists(f->v, "made-maybe"));
	assert_null(out);
	EVP_PKEY_free(other);
	kmc_secret_free(pw);
	kmc_secret_free(lp);
	kmc_secret_free(nul);
	kmc_secret_free(empty);
}

/* A handle that cannot write reads an existing item, and cannot make
   one. */
static void test_readonly(void **state)
{
	fixture *f = *state;
	kmc_export_params p = KMC_EXPORT_PARAMS_INIT;
	kmc_secret *out = NULL;
	kmc_vault *ro;

	assert_int_equal(kmc_item_put(f->v, "have", KMC_ITEM_PASSWORD, "pw-1",
		4), 0);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &ro), 0);
	p.format = KMC_EXPORT_PKCS12;
	p.password_item = "have";
	assert_int_equal(kmc_export(ro, "srv", &p, &out, NULL), 0);
	kmc_secret_free(out);
	out = NULL;
	p.password_item = "not-yet";
	assert_int_equal(kmc_export(ro, "srv", &p, &out, NULL), KMC_E_READONLY);
	kmc_vault_close(ro);
}

/* A truststore: one bag a trusted certificate, its password made; a
   store that does not exist or holds nothing is refused. */
static void test_trust(void **state)
{
	fixture *f = *state;
	kmc_export_params p = KMC_EXPORT_PARAMS_INIT;
	kmc_secret *out = NULL;
	X509 *x = make_cert(f->key, "trusted CA");
	STACK_OF(PKCS7) *safes;
	STACK_OF(PKCS12_SAFEBAG) *bags;
	const unsigned char *q;
	char certfile[600], pass[64];
	kmc_secret *pw = NULL;
	PKCS12 *p12;
	FILE *fp;
	int made = 0;

	snprintf(certfile, sizeof(certfile), "%s/ca.pem", f->tmp);
	fp = fopen(certfile, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_X509(fp, x), 1);
	fclose(fp);
	X509_free(x);
	p.format = KMC_EXPORT_PKCS12;
	assert_int_equal(kmc_trust_export(f->v, "st", &p, &out, NULL),
		KMC_E_NOT_FOUND);
	assert_int_equal(kmc_trust_add(f->v, "st", "root", certfile, NULL, 0), 0);
	assert_int_equal(kmc_trust_export(f->v, "st", &p, &out, &made), 0);
	assert_int_equal(made, 1);
	assert_int_equal(kmc_item_get(f->v, "trust:st/truststore-password",
		KMC_ITEM_PASSWORD, &pw), 0);
	snprintf(pass, sizeof(pass), "%.*s", (int)kmc_secret_len(pw),
		kmc_secret_data(pw));
	q = kmc_secret_data(out);
	p12 = d2i_PKCS12(NULL, &q, (long)kmc_secret_len(out));
	assert_non_null(p12);
	assert_int_equal(PKCS12_verify_mac(p12, pass, -1), 1);
	safes = PKCS12_unpack_authsafes(p12);
	assert_int_equal(sk_PKCS7_num(safes), 1);
	bags = PKCS12_unpack_p7encdata(sk_PKCS7_value(safes, 0), pass, -1);
	assert_int_equal(sk_PKCS12_SAFEBAG_num(bags), 1);
	{
		const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, 0);
		const STACK_OF(X509_ATTRIBUTE) *attrs =
			PKCS12_SAFEBAG_get0_attrs(bag);
		ASN1_OBJECT *oid = OBJ_txt2obj("2.16.840.1.113894.746875.1.1", 1);
		char *alias = PKCS12_get_friendlyname((PKCS12_SAFEBAG *)bag);

		assert_int_equal(PKCS12_SAFEBAG_get_nid(bag), NID_certBag);
		assert_true(X509at_get_attr_by_OBJ(attrs, oid, -1) >= 0);
		assert_string_equal(alias, "root");
		OPENSSL_free(alias);
		ASN1_OBJECT_free(oid);
	}
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	PKCS12_free(p12);
	kmc_secret_free(out);
	out = NULL;
	p.format = KMC_EXPORT_PEM;
	p.password_item = "x";
	assert_int_equal(kmc_trust_export(f->v, "st", &p, &out, NULL),
		KMC_E_INVALID);
	p.password_item = NULL;
	assert_int_equal(kmc_trust_export(f->v, "st", &p, &out, NULL), 0);
	assert_non_null(memmem(kmc_secret_data(out), kmc_secret_len(out),
		"# root\n", 7));
	kmc_secret_free(out);
	out = NULL;
	/* A store emptied: PEM as a sync file has it, no truststore. */
	assert_int_equal(kmc_trust_remove(f->v, "st", "root"), 0);
	assert_int_equal(kmc_trust_export(f->v, "st", &p, &out, NULL), 0);
	assert_int_equal(kmc_secret_len(out), 0);
	kmc_secret_free(out);
	out = NULL;
	p.format = KMC_EXPORT_PKCS12;
	assert_int_equal(kmc_trust_export(f->v, "st", &p, &out, NULL),
		KMC_E_NOT_FOUND);
	kmc_secret_free(pw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pkcs12_made_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pkcs8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_or_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trust, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
