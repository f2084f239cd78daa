/*
 * test_serverkey.c - token-resident server keys (pkcs11/serverkey.c) on a
 * throwaway SoftHSM2 token: made there and moved there, used there (every
 * signature and decryption checked by OpenSSL with the public half the
 * token gives), never readable, destroyed; the errors a user meets; and a
 * forked child that uses the parent's key; a kept handle that went stale
 * under it.
 *
 * RSA keys are made at 2048 bits only: 3072 is the same call, and takes
 * SoftHSM2 seconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "../../pkcs11/serverkey.h"
#include "../../pkcs11/token.h"
#include "../../kmc/crypto.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define TOKEN "kmc-unit"
#define PIN "4321"
#define URI "pkcs11:token=" TOKEN "?module-path=" MODULE "&pin-value=" PIN

static char dir[] = "/tmp/kmc-serverkey.XXXXXX";
/* The PIN as a vault hands it over (from a pin file or a prompt): key
   URIs carry none, and a session that failed starts over with it. */
static p11_pin pin;

static int setup(void **state)
{
	char cmd[512];
	FILE *f;

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/softhsm2.conf", dir);
	f = fopen(cmd, "w");
	if (!f)
		return -1;
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\n"
		"log.level = ERROR\n", dir);
	fclose(f);
	setenv("SOFTHSM2_CONF", cmd, 1);
	snprintf(cmd, sizeof(cmd), "softhsm2-util --init-token --free --label "
		TOKEN " --so-pin so-" PIN " --pin " PIN " >%s/init.log 2>&1", dir);
	if (kmc_secret_dup(PIN, strlen(PIN), (kmc_secret **)&pin.pin) < 0)
		return -1;
	return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	p11_reset();
	kmc_secret_free((kmc_secret *)pin.pin);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- */
/* OpenSSL side: the public half as an EVP_PKEY, and checks          */

static EVP_PKEY *pub_pkey(const p11_pubkey *pub)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *c;
	OSSL_PARAM *p;
	EVP_PKEY *k = NULL;
	BIGNUM *n = NULL, *e = NULL;

	assert_non_null(b);
	if (pub->kind == P11_KEY_RSA) {
		n = BN_bin2bn(pub->n, (int)pub->n_len, NULL);
		e = BN_bin2bn(pub->e, (int)pub->e_len, NULL);
		assert_true(OSSL_PARAM_BLD_push_BN(b, "n", n));
		assert_true(OSSL_PARAM_BLD_push_BN(b, "e", e));
		c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else {
		assert_true(OSSL_PARAM_BLD_push_utf8_string(b, "group",
			p11_pubkey_bits(pub) == 256 ? "P-256" : "P-384", 0));
		assert_true(OSSL_PARAM_BLD_push_octet_string(b, "pub",
			pub->ec_point, pub->ec_point_len));
		c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	}
	p = OSSL_PARAM_BLD_to_param(b);
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_fromdata_init(c), 1);
	assert_int_equal(EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p), 1);
	OSSL_PARAM_free(p);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(c);
	BN_free(n);
	BN_free(e);
	return k;
}

static const EVP_MD *md_of(p11_hash h)
{
	return h == P11_HASH_SHA1 ? EVP_sha1() : h == P11_HASH_SHA256 ?
		EVP_sha256() : h == P11_HASH_SHA384 ? EVP_sha384() : EVP_sha512();
}

/* Sign a digest of "hello" on the token; OpenSSL verifies. */
static void sign_check(const char *key_uri, EVP_PKEY *k, p11_sig mech,
	p11_hash h)
{
	uint8_t dg[64], sig[512], der[160];
	unsigned dlen = 0;
	size_t slen = sizeof(sig), derlen = 0;
	const uint8_t *vsig = sig;
	EVP_PKEY_CTX *c;

	assert_int_equal(EVP_Digest("hello", 5, dg, &dlen, md_of(h), NULL), 1);
	assert_int_equal(p11_key_sign(key_uri, &pin, mech, h, -1, dg, dlen, sig,
		&slen), 0);
	if (mech == P11_SIG_ECDSA) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		uint8_t *o = der;

		assert_int_equal(slen % 2, 0);
		ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)slen / 2, NULL),
			BN_bin2bn(sig + slen / 2, (int)slen / 2, NULL));
		derlen = (size_t)i2d_ECDSA_SIG(es, &o);
		ECDSA_SIG_free(es);
		vsig = der;
		slen = derlen;
	}
	c = EVP_PKEY_CTX_new(k, NULL);
	assert_int_equal(EVP_PKEY_verify_init(c), 1);
	if (mech == P11_SIG_RSA_PSS) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c,
			RSA_PKCS1_PSS_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(c,
			RSA_PSS_SALTLEN_DIGEST), 1);
	}
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(c, md_of(h)), 1);
	assert_int_equal(EVP_PKEY_verify(c, vsig, slen, dg, dlen), 1);
	/* A signature of another digest does not verify: the check bites. */
	dg[0] ^= 1;
	assert_int_not_equal(EVP_PKEY_verify(c, vsig, slen, dg, dlen), 1);
	EVP_PKEY_CTX_free(c);
}

/* The private half is not readable: CKA_PRIVATE_EXPONENT / CKA_VALUE
   are sensitive, and the key says so of itself. */
static void assert_sealed(const char *key_uri, CK_ATTRIBUTE_TYPE secret)
{
	P11KitUri *u = NULL;
	token *t = NULL;
	key k;
	int found = 0;
	uint8_t buf[1024];
	CK_BBOOL sens = CK_FALSE, extr = CK_TRUE, priv = CK_FALSE,
		tok = CK_FALSE;
	CK_ATTRIBUTE a = { secret, buf, sizeof(buf) };
	CK_ATTRIBUTE flags[4] = {
		{ CKA_SENSITIVE, &sens, sizeof(sens) },
		{ CKA_EXTRACTABLE, &extr, sizeof(extr) },
		{ CKA_PRIVATE, &priv, sizeof(priv) },
		{ CKA_TOKEN, &tok, sizeof(tok) },
	};

	token_cache_lock();
	assert_int_equal(token_session_ready(key_uri, &pin, &u, &t), 0);
	assert_int_equal(key_find(t, u, CKO_PRIVATE_KEY, &k, &found), 0);
	assert_true(found);
	assert_int_equal(t->mod->C_GetAttributeValue(t->session, k.h, &a, 1),
		CKR_ATTRIBUTE_SENSITIVE);
	assert_int_equal(a.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_int_equal(t->mod->C_GetAttributeValue(t->session, k.h, flags, 4),
		CKR_OK);
	assert_true(sens && !extr && priv && tok);
	token_cache_unlock();
	p11_uri_freep(&u);
}

/* ---------------------------------------------------------------- */

static void test_rsa_generated(void **state)
{
	p11_pubkey pub;
	char *ku = NULL;
	EVP_PKEY *k;
	kmc_secret *pt = NULL;
	uint8_t ct[512];
	size_t ctlen = sizeof(ct);
	EVP_PKEY_CTX *c;
	char *again = NULL;

	(void)state;
	assert_int_equal(p11_key_generate(URI, NULL, P11_SPEC_RSA2048, "web-rsa", NULL,
		&ku, &pub), 0);
	/* The key URI names the key, never the PIN. */
	assert_non_null(strstr(ku, "object=web-rsa"));
	assert_non_null(strstr(ku, "id=%"));
	assert_non_null(strstr(ku, "token=" TOKEN));
	assert_null(strstr(ku, PIN));
	assert_int_equal(pub.kind, P11_KEY_RSA);
	assert_int_equal(p11_pubkey_bits(&pub), 2048);
	assert_sealed(URI, CKA_PRIVATE_EXPONENT);
	/* The same public half again, from the key URI and a PIN given
	   apart (the key URI holds none). */
	{
		p11_pubkey pub2;

		p11_reset();
		assert_int_equal(p11_key_public(ku, &pin, &pub2), 0);
		assert_int_equal(pub2.n_len, pub.n_len);
		assert_memory_equal(pub2.n, pub.n, pub.n_len);
	}
	k = pub_pkey(&pub);
	sign_check(ku, k, P11_SIG_RSA_PKCS, P11_HASH_SHA256);
	sign_check(ku, k, P11_SIG_RSA_PKCS, P11_HASH_SHA384);
	sign_check(ku, k, P11_SIG_RSA_PKCS, P11_HASH_SHA512);
	sign_check(ku, k, P11_SIG_RSA_PSS, P11_HASH_SHA256);
	sign_check(ku, k, P11_SIG_RSA_PSS, P11_HASH_SHA384);
	sign_check(ku, k, P11_SIG_RSA_PSS, P11_HASH_SHA512);
	/* A digest of the wrong size is refused before the token sees it. */
	{
		uint8_t d[20] = { 0 }, s[512];
		size_t sl = sizeof(s);

		assert_int_equal(p11_key_sign(ku, &pin, P11_SIG_RSA_PSS,
			P11_HASH_SHA256, -1, d, sizeof(d), s, &sl), KMC_E_INVALID);
		assert_int_equal(p11_key_sign(ku, &pin, P11_SIG_ECDSA,
			P11_HASH_SHA1, -1, d, sizeof(d), s, &sl), KMC_E_P11_KEY_TYPE);
	}

	/* Decryption: PKCS#1 v1.5 and OAEP (SHA-1: all SoftHSM2 2.6 takes). */
	for (int oaep = 0; oaep < 2; oaep++) {
		c = EVP_PKEY_CTX_new(k, NULL);
		assert_int_equal(EVP_PKEY_encrypt_init(c), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, oaep ?
			RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING), 1);
		ctlen = sizeof(ct);
		assert_int_equal(EVP_PKEY_encrypt(c, ct, &ctlen,
			(const uint8_t *)"premaster", 9), 1);
		EVP_PKEY_CTX_free(c);
		assert_int_equal(p11_key_decrypt(ku, &pin, oaep ? P11_HASH_SHA1 :
			P11_HASH_NONE, ct, ctlen, &pt), 0);
		assert_int_equal(kmc_secret_len(pt), 9);
		assert_memory_equal(kmc_secret_data(pt), "premaster", 9);
		kmc_secret_free(pt);
		pt = NULL;
		/* Damaged ciphertext: an authentication failure, no output. */
		ct[ctlen / 2] ^= 0x55;
		assert_int_equal(p11_key_decrypt(ku, &pin, oaep ? P11_HASH_SHA1 :
			P11_HASH_NONE, ct, ctlen, &pt), KMC_E_AUTH);
		assert_null(pt);
	}

	/* A second key of the same label is refused; the first stays. */
	assert_int_equal(p11_key_generate(URI, NULL, P11_SPEC_P256, "web-rsa", NULL,
		&again, &pub), KMC_E_EXISTS);
	assert_non_null(strstr(kmc_error_detail(), "token " TOKEN));
	assert_null(again);
	sign_check(ku, k, P11_SIG_RSA_PKCS, P11_HASH_SHA256);

	/* Destroyed (behind a vault's back): the key is gone by name. */
	assert_int_equal(p11_key_destroy(ku, &pin), 1);
	{
		uint8_t d[32] = { 0 }, s[512];
		size_t sl = sizeof(s);

		assert_int_equal(p11_key_sign(ku, &pin, P11_SIG_RSA_PKCS,
			P11_HASH_SHA256, -1, d, sizeof(d), s, &sl), KMC_E_P11_KEY);
		assert_non_null(strstr(kmc_error_detail(), "token " TOKEN));
		assert_non_null(strstr(kmc_error_detail(), "object=web-rsa"));
		assert_int_equal(p11_key_public(ku, &pin, &pub), KMC_E_P11_KEY);
	}
	/* Destroying again is no error, and says nothing was there. */
	assert_int_equal(p11_key_destroy(ku, &pin), 0);
	EVP_PKEY_free(k);
	free(ku);
}

static void test_ec_generated(void **state)
{
	static const struct { p11_key_spec spec; unsigned bits; p11_hash h;
		const char *label; } c[] = {
		{ P11_SPEC_P256, 256, P11_HASH_SHA256, "web-p256" },
		{ P11_SPEC_P384, 384, P11_HASH_SHA384, "web-p384" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		p11_pubkey pub;
		char *ku = NULL;
		EVP_PKEY *k;

		assert_int_equal(p11_key_generate(URI, NULL, c[i].spec, c[i].label, NULL,
			&ku, &pub), 0);
		assert_int_equal(pub.kind, P11_KEY_EC);
		assert_int_equal(p11_pubkey_bits(&pub), c[i].bits);
		assert_int_equal(pub.ec_point_len, 1 + 2 * c[i].bits / 8);
		assert_sealed(ku, CKA_VALUE);
		k = pub_pkey(&pub);
		sign_check(ku, k, P11_SIG_ECDSA, c[i].h);
		sign_check(ku, k, P11_SIG_ECDSA, P11_HASH_SHA512);
		/* EC keys do not decrypt. */
		{
			kmc_secret *pt = NULL;
			uint8_t in[64] = { 0 };

			assert_int_equal(p11_key_decrypt(ku, &pin, P11_HASH_NONE, in,
				sizeof(in), &pt), KMC_E_P11_KEY_TYPE);
		}
		assert_int_equal(p11_key_destroy(ku, &pin), 1);
		EVP_PKEY_free(k);
		free(ku);
	}
}

/* ---------------------------------------------------------------- */
/* Import: parts out of an OpenSSL key                               */

typedef struct parts_buf {
	uint8_t b[8][512];
	p11_key_parts parts;
} parts_buf;

static void bn_part(EVP_PKEY *k, const char *name, uint8_t *buf,
	p11_bytes *out)
{
	BIGNUM *bn = NULL;

	assert_int_equal(EVP_PKEY_get_bn_param(k, name, &bn), 1);
	out->len = (size_t)BN_bn2bin(bn, buf);
	out->p = buf;
	BN_clear_free(bn);
}

static void rsa_parts(EVP_PKEY *k, parts_buf *pb)
{
	memset(pb, 0, sizeof(*pb));
	pb->parts.kind = P11_KEY_RSA;
	bn_part(k, "n", pb->b[0], &pb->parts.n);
	bn_part(k, "e", pb->b[1], &pb->parts.e);
	bn_part(k, "d", pb->b[2], &pb->parts.d);
	bn_part(k, "rsa-factor1", pb->b[3], &pb->parts.p);
	bn_part(k, "rsa-factor2", pb->b[4], &pb->parts.q);
	bn_part(k, "rsa-exponent1", pb->b[5], &pb->parts.dp);
	bn_part(k, "rsa-exponent2", pb->b[6], &pb->parts.dq);
	bn_part(k, "rsa-coefficient1", pb->b[7], &pb->parts.qinv);
}

static const uint8_t oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
};
static const uint8_t oid_p521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };

static void ec_parts(EVP_PKEY *k, parts_buf *pb)
{
	size_t len = 0;

	memset(pb, 0, sizeof(*pb));
	pb->parts.kind = P11_KEY_EC;
	bn_part(k, "priv", pb->b[0], &pb->parts.d);
	assert_int_equal(EVP_PKEY_get_octet_string_param(k, "pub", pb->b[1],
		sizeof(pb->b[1]), &len), 1);
	pb->parts.ec_point = (p11_bytes){ pb->b[1], len };
	pb->parts.ec_params = (p11_bytes){ oid_p256, sizeof(oid_p256) };
}

static void test_import(void **state)
{
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256");
	parts_buf pb;
	p11_pubkey pub;
	char *ku = NULL;
	EVP_PKEY *k;

	(void)state;
	assert_non_null(rsa);
	assert_non_null(ec);

	rsa_parts(rsa, &pb);
	assert_int_equal(p11_key_import(URI, NULL, &pb.parts, "imp-rsa", NULL, &ku,
		&pub), 0);
	assert_int_equal(p11_pubkey_bits(&pub), 2048);
	assert_sealed(ku, CKA_PRIVATE_EXPONENT);
	/* The token signs for the key OpenSSL made: its own public key
	   verifies, and the token's public half is the same. */
	sign_check(ku, rsa, P11_SIG_RSA_PKCS, P11_HASH_SHA256);
	sign_check(ku, rsa, P11_SIG_RSA_PSS, P11_HASH_SHA256);
	k = pub_pkey(&pub);
	assert_int_equal(EVP_PKEY_eq(k, rsa), 1);
	EVP_PKEY_free(k);
	/* The same again under that label: refused, nothing added. */
	{
		char *k2 = NULL;

		assert_int_equal(p11_key_import(URI, NULL, &pb.parts, "imp-rsa", NULL,
			&k2, &pub), KMC_E_EXISTS);
		assert_null(k2);
	}
	assert_int_equal(p11_key_destroy(ku, &pin), 1);
	free(ku);
	ku = NULL;

	ec_parts(ec, &pb);
	assert_int_equal(p11_key_import(URI, NULL, &pb.parts, "imp-ec", NULL, &ku,
		&pub), 0);
	assert_sealed(ku, CKA_VALUE);
	sign_check(ku, ec, P11_SIG_ECDSA, P11_HASH_SHA256);
	k = pub_pkey(&pub);
	assert_int_equal(EVP_PKEY_eq(k, ec), 1);
	EVP_PKEY_free(k);
	assert_int_equal(p11_key_destroy(ku, &pin), 1);
	free(ku);
	ku = NULL;

	/* A curve the vault does not put on tokens: refused by name. */
	pb.parts.ec_params = (p11_bytes){ oid_p521, sizeof(oid_p521) };
	assert_int_equal(p11_key_import(URI, NULL, &pb.parts, "imp-521", NULL, &ku,
		&pub), KMC_E_P11_KEY_TYPE);
	assert_null(ku);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
}

static void test_bad_token(void **state)
{
	p11_pubkey pub;
	char *ku = NULL;
	kmc_secret *bad;
	p11_pin pp = { 0 };

	(void)state;
	assert_int_equal(p11_key_generate("pkcs11:token=no-such?module-path="
		MODULE "&pin-value=" PIN, NULL, P11_SPEC_P256, "x", NULL, &ku, &pub),
		KMC_E_P11_TOKEN);
	assert_non_null(strstr(kmc_error_detail(), "token=no-such"));
	/* A wrong PIN, on a cold start (a login is per process). */
	p11_reset();
	assert_int_equal(kmc_secret_dup("0000", 4, &bad), 0);
	pp.pin = bad;
	assert_int_equal(p11_key_generate("pkcs11:token=" TOKEN "?module-path="
		MODULE, &pp, P11_SPEC_P256, "x", NULL, &ku, &pub), KMC_E_P11_PIN);
	assert_non_null(strstr(kmc_error_detail(), "token " TOKEN ": wrong PIN"));
	assert_null(ku);
	/* No PIN at all, and no prompt. */
	assert_int_equal(p11_key_generate("pkcs11:token=" TOKEN "?module-path="
		MODULE, NULL, P11_SPEC_P256, "x", NULL, &ku, &pub),
		KMC_E_NEED_PASSPHRASE);
	kmc_secret_free(bad);
}

/*
 * A server forks workers after it loaded its key: the child uses the key
 * with no call of its own between fork and use (the module starts over
 * in it), and the parent's session still works afterwards.
 */
static void test_fork(void **state)
{
	p11_pubkey pub;
	char *ku = NULL;
	EVP_PKEY *k;
	pid_t pid;
	int status = 0;

	(void)state;
	assert_int_equal(p11_key_generate(URI, NULL, P11_SPEC_P256, "fork-ec", NULL,
		&ku, &pub), 0);
	k = pub_pkey(&pub);
	sign_check(ku, k, P11_SIG_ECDSA, P11_HASH_SHA256);
	for (int i = 0; i < 2; i++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			uint8_t d[32] = { 1 }, s[128];
			size_t sl = sizeof(s);

			int r = p11_key_sign(ku, &pin, P11_SIG_ECDSA,
				P11_HASH_SHA256, -1, d, sizeof(d), s, &sl);

			if (r != 0)
				fprintf(stderr, "child: %s\n", kmc_error_detail());
			_exit(r == 0 && sl == 64 ? 0 : 1);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	sign_check(ku, k, P11_SIG_ECDSA, P11_HASH_SHA256);
	assert_int_equal(p11_key_destroy(ku, &pin), 1);
	EVP_PKEY_free(k);
	free(ku);
}

/* Run pkcs11-tool on the test's token (another process, as an operator
   would), logged in; its output to the test directory's log. */
static int p11tool(const char *args)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "pkcs11-tool --module " MODULE " --token-label "
		TOKEN " --login --pin " PIN " %s >>%s/pkcs11-tool.log 2>&1", args,
		dir);
	return system(cmd);
}

/* The id= of a key URI, as pkcs11-tool's --id wants it (hex). */
static void uri_id_hex(const char *ku, char *hex, size_t size)
{
	const char *p = strstr(ku, "id=");
	size_t n = 0;

	assert_non_null(p);
	for (p += 3; *p && *p != ';' && *p != '?' && n + 1 < size; p++)
		if (*p != '%')
			hex[n++] = *p;
	hex[n] = 0;
	assert_true(n > 0);
}

/*
 * The session cache keeps a key's object handle. Another process deletes
 * the key and makes a new one under the same label: the next signature,
 * through the stale handle, must be made by the key the URI now names
 * or fail naming it, never by another key (here: the deleted one).
 */
static void test_stale_handle(void **state)
{
	p11_pubkey pub;
	char *ku = NULL, hex[80], args[256];
	EVP_PKEY *old, *now;
	uint8_t dg[32], sig[128];
	size_t sl = sizeof(sig);

	(void)state;
	if (system("command -v pkcs11-tool >/dev/null 2>&1") != 0)
		skip();
	assert_int_equal(p11_key_generate(URI, NULL, P11_SPEC_P256, "stale", NULL,
		&ku, &pub), 0);
	old = pub_pkey(&pub);
	/* Signed once: the handle is in the cache now. */
	sign_check(ku, old, P11_SIG_ECDSA, P11_HASH_SHA256);
	uri_id_hex(ku, hex, sizeof(hex));

	/* Deleted and made again, same label and id: the new key signs. */
	assert_int_equal(p11tool("--delete-object --type privkey --label stale"), 0);
	assert_int_equal(p11tool("--delete-object --type pubkey --label stale"), 0);
	snprintf(args, sizeof(args), "--keypairgen --key-type EC:prime256v1 "
		"--label stale --id %s --usage-sign", hex);
	assert_int_equal(p11tool(args), 0);
	memset(dg, 7, sizeof(dg));
	assert_int_equal(p11_key_sign(ku, &pin, P11_SIG_ECDSA, P11_HASH_SHA256,
		-1, dg, sizeof(dg), sig, &sl), 0);
	assert_int_equal(p11_key_public(ku, &pin, &pub), 0);
	now = pub_pkey(&pub);
	assert_int_not_equal(EVP_PKEY_eq(now, old), 1);
	sign_check(ku, now, P11_SIG_ECDSA, P11_HASH_SHA256);
	/* The first signature after the swap is the new key's too, and
	   not the deleted key's. */
	{
		ECDSA_SIG *es = ECDSA_SIG_new();
		uint8_t der[128], *o = der;
		EVP_PKEY_CTX *c;
		int n;

		assert_int_equal(sl, 64);
		ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL),
			BN_bin2bn(sig + 32, 32, NULL));
		n = i2d_ECDSA_SIG(es, &o);
		ECDSA_SIG_free(es);
		assert_true(n > 0);
		c = EVP_PKEY_CTX_new(now, NULL);
		assert_int_equal(EVP_PKEY_verify_init(c), 1);
		assert_int_equal(EVP_PKEY_verify(c, der, (size_t)n, dg,
			sizeof(dg)), 1);
		EVP_PKEY_CTX_free(c);
		c = EVP_PKEY_CTX_new(old, NULL);
		assert_int_equal(EVP_PKEY_verify_init(c), 1);
		assert_int_not_equal(EVP_PKEY_verify(c, der, (size_t)n, dg,
			sizeof(dg)), 1);
		EVP_PKEY_CTX_free(c);
	}

	/* Deleted and made again under the label with another id: the URI
	   names no key now, and the signature fails saying so. */
	assert_int_equal(p11tool("--delete-object --type privkey --label stale"), 0);
	assert_int_equal(p11tool("--delete-object --type pubkey --label stale"), 0);
	assert_int_equal(p11tool("--keypairgen --key-type EC:prime256v1 "
		"--label stale --id 5a5a --usage-sign"), 0);
	sl = sizeof(sig);
	assert_int_equal(p11_key_sign(ku, &pin, P11_SIG_ECDSA, P11_HASH_SHA256,
		-1, dg, sizeof(dg), sig, &sl), KMC_E_P11_KEY);
	assert_non_null(strstr(kmc_error_detail(), "token " TOKEN));
	assert_non_null(strstr(kmc_error_detail(), "object=stale"));
	assert_int_equal(p11tool("--delete-object --type privkey --label stale"), 0);
	assert_int_equal(p11tool("--delete-object --type pubkey --label stale"), 0);
	EVP_PKEY_free(old);
	EVP_PKEY_free(now);
	free(ku);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsa_generated),
		cmocka_unit_test(test_ec_generated),
		cmocka_unit_test(test_import),
		cmocka_unit_test(test_bad_token),
		cmocka_unit_test(test_fork),
		cmocka_unit_test(test_stale_handle),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
