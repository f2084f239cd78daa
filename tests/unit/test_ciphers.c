/*
 * test_ciphers.c - the options of kmc_ssl_ctx_use_ex() (vault/ciphers.c):
 * the size-versioned struct, the client-certificate mode, and cipher
 * strings checked part by part, each refusal naming the part. The
 * handshakes these options make are tested end to end in
 * tests/e2e/test_tls_options.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <openssl/ssl.h>

#include "../../vault/ciphers.h"

/* r is KMC_E_INVALID and the detail holds want. */
static void refused(int r, const char *want)
{
	assert_int_equal(r, KMC_E_INVALID);
	if (!strstr(kmc_error_detail(), want))
		fail_msg("detail \"%s\" lacks \"%s\"", kmc_error_detail(), want);
}

static int read_list(const char *list, const char *suites)
{
	kmc_tls_params p = KMC_TLS_PARAMS_INIT, q;

	p.cipher_list = list;
	p.ciphersuites = suites;
	kmc_detail_clear();
	return tls_params_read(&p, &q);
}

static void test_defaults(void **state)
{
	kmc_tls_params q;

	(void)state;
	assert_int_equal(tls_params_read(NULL, &q), 0);
	assert_int_equal(q.client_cert, KMC_CLIENT_CERT_REQUIRED);
	assert_null(q.cipher_list);
	assert_null(q.ciphersuites);
}

static void test_size(void **state)
{
	kmc_tls_params p = KMC_TLS_PARAMS_INIT, q = { 0 };
	struct {
		kmc_tls_params p;
		int later_field;
	} newer = { .p = KMC_TLS_PARAMS_INIT, .later_field = 7 };

	(void)state;
	p.size = 0;
	refused(tls_params_read(&p, &q), "kmc_tls_params.size is 0");
	p.size = offsetof(kmc_tls_params, client_cert);
	refused(tls_params_read(&p, &q), "KMC_TLS_PARAMS_INIT");
	assert_int_equal(q.size, 0);	/* untouched on failure */
	/* A caller built against a newer header that sets a field this
	   library does not know: refused, naming the byte (it was read
	   and the field ignored, so the call did less than asked). */
	newer.p.size = sizeof(newer);
	newer.p.client_cert = KMC_CLIENT_CERT_OPTIONAL;
	refused(tls_params_read(&newer.p, &q), "a field of a newer kmc.h");
	assert_int_equal(q.size, 0);
	/* ... and with the newer field unset, what this library knows is
	   read. */
	newer.later_field = 0;
	assert_int_equal(tls_params_read(&newer.p, &q), 0);
	assert_int_equal(q.client_cert, KMC_CLIENT_CERT_OPTIONAL);
	assert_int_equal(q.size, sizeof(kmc_tls_params));
}

static void test_modes(void **state)
{
	kmc_tls_params p = KMC_TLS_PARAMS_INIT, q;

	(void)state;
	p.client_cert = KMC_CLIENT_CERT_NONE;
	assert_int_equal(tls_params_read(&p, &q), 0);
	assert_int_equal(q.client_cert, KMC_CLIENT_CERT_NONE);
	p.client_cert = (kmc_client_cert)3;
	refused(tls_params_read(&p, &q), "client_cert is 3");
	p.client_cert = (kmc_client_cert)-1;
	refused(tls_params_read(&p, &q), "client_cert is -1");
}

static void test_lists_good(void **state)
{
	(void)state;
	assert_int_equal(read_list("ECDHE-ECDSA-AES256-GCM-SHA384", NULL), 0);
	/* All of OpenSSL's separators, and spaces around the parts. */
	assert_int_equal(read_list("ECDHE-ECDSA-AES256-GCM-SHA384, "
		"ECDHE-RSA-AES256-GCM-SHA384;AES256-SHA256 HIGH", NULL), 0);
	/* Aliases, combinations, moves and directives. */
	assert_int_equal(read_list("ECDHE+AESGCM:+AES256:@STRENGTH", NULL), 0);
	/* Excluding what this OpenSSL lacks, or names it does not know,
	   removes nothing and is let be, as OpenSSL does. */
	assert_int_equal(read_list("HIGH:!aNULL:!RC4:!NO-SUCH-THING:-3DES",
		NULL), 0);
	assert_int_equal(read_list(NULL, "TLS_AES_256_GCM_SHA384: "
		"TLS_CHACHA20_POLY1305_SHA256"), 0);
	assert_int_equal(read_list("HIGH:@SECLEVEL=2", NULL), 0);
	assert_int_equal(read_list("SUITEB128 ", NULL), 0);
	/* "" turns TLS 1.3 off: a TLS 1.2-only server. */
	assert_int_equal(read_list("HIGH", ""), 0);
}

static void test_lists_bad(void **state)
{
	(void)state;
	/* A typo among good parts: OpenSSL alone would drop it silently. */
	refused(read_list("HIGH:ECDHE-ECDSA-AES256-GCM-SHA348", NULL),
		"cipher list: ECDHE-ECDSA-AES256-GCM-SHA348 selects no cipher");
	refused(read_list("+NOPE", NULL), "cipher list: NOPE selects no");
	refused(read_list("TLS_AES_128_GCM_SHA256", NULL),
		"TLS_AES_128_GCM_SHA256 is a TLS 1.3 suite");
	refused(read_list("HIGH:!HIGH", NULL), "cipher list HIGH:!HIGH "
		"leaves no cipher");
	refused(read_list("", NULL), "leaves no cipher");
	refused(read_list(NULL, "TLS_AES_256_GCM_SHA384:TLS_AES_256_GCM_SHA348"),
		"TLS 1.3 suites: TLS_AES_256_GCM_SHA348 is no TLS 1.3 suite");
	refused(read_list(NULL, "ECDHE-ECDSA-AES256-GCM-SHA384"),
		"ECDHE-ECDSA-AES256-GCM-SHA384 is a cipher of TLS 1.2");
	refused(read_list("HIGH\n:LOW", NULL), "cipher list: byte 5 is not "
		"printable");
	refused(read_list("HIGH:@STRENGHT", NULL),
		"cipher list: @STRENGHT is no directive");
	refused(read_list("HIGH:@SECLEVEL=9", NULL),
		"cipher list: @SECLEVEL=9 is no directive");
	/* Found by fuzz_ciphers: OpenSSL reads SUITEB... only at the start
	   of a list, in place of the whole of it, and elsewhere not at all;
	   and it sets the SSL_CTX's Suite B mode for every later list. */
	refused(read_list("HIGH:SUITEB128", NULL),
		"cipher list: SUITEB128 stands for the whole list");
	refused(read_list("SUITEB128:AES256-SHA256", NULL),
		"cipher list: SUITEB128 stands for the whole list");
	refused(read_list(" SUITEB128", NULL),
		"cipher list: SUITEB128 stands for the whole list");
	refused(read_list("HIGH:+SUITEB128C2H_AES", NULL),
		"cipher list: SUITEB128C2H_AES stands for");
	refused(read_list(NULL, "TLS_AES_256_GCM_SHA384\x1b"),
		"TLS 1.3 suites: byte 23");
}

static void test_lists_bounded(void **state)
{
	char big[KMC_TLS_CIPHERS_MAX + 2];

	(void)state;
	/* At the bound: empty parts, then HIGH. */
	memset(big, ':', KMC_TLS_CIPHERS_MAX - 4);
	memcpy(big + KMC_TLS_CIPHERS_MAX - 4, "HIGH", 5);
	assert_int_equal(read_list(big, NULL), 0);
	big[KMC_TLS_CIPHERS_MAX] = 'H';
	big[KMC_TLS_CIPHERS_MAX + 1] = '\0';
	refused(read_list(big, NULL), "longer than 4096 bytes");
	refused(read_list(NULL, big), "TLS 1.3 suites: longer than");
}

/* What tls_params_apply() sets is what the handshake offers. */
static void test_apply(void **state)
{
	kmc_tls_params p = KMC_TLS_PARAMS_INIT, q;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	STACK_OF(SSL_CIPHER) *sk;

	(void)state;
	assert_non_null(ctx);
	p.cipher_list = "ECDHE-ECDSA-AES256-GCM-SHA384";
	p.ciphersuites = "TLS_AES_256_GCM_SHA384";
	assert_int_equal(tls_params_read(&p, &q), 0);
	assert_int_equal(tls_params_apply(ctx, &q), 0);
	sk = SSL_CTX_get_ciphers(ctx);
	assert_int_equal(sk_SSL_CIPHER_num(sk), 2);
	assert_string_equal(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(sk, 0)),
		"TLS_AES_256_GCM_SHA384");
	assert_string_equal(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(sk, 1)),
		"ECDHE-ECDSA-AES256-GCM-SHA384");
	SSL_CTX_free(ctx);
}

/* No TLS 1.3 suites: TLS 1.2 is the highest version, or OpenSSL would
   refuse every handshake for want of ciphers of its highest one. */
static void test_apply_no_tls13(void **state)
{
	kmc_tls_params p = KMC_TLS_PARAMS_INIT, q;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	(void)state;
	assert_non_null(ctx);
	p.ciphersuites = "TLS_AES_256_GCM_SHA384";
	assert_int_equal(tls_params_read(&p, &q), 0);
	assert_int_equal(tls_params_apply(ctx, &q), 0);
	assert_int_equal(SSL_CTX_get_max_proto_version(ctx), 0);
	p.ciphersuites = "";
	assert_int_equal(tls_params_read(&p, &q), 0);
	assert_int_equal(tls_params_apply(ctx, &q), 0);
	assert_int_equal(SSL_CTX_get_max_proto_version(ctx), TLS1_2_VERSION);
	SSL_CTX_free(ctx);
	/* Blanks and separators only name no suite either (found by
	   fuzz_ciphers: OpenSSL refused " " when applied). */
	ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	p.ciphersuites = " : ";
	assert_int_equal(tls_params_read(&p, &q), 0);
	assert_string_equal(q.ciphersuites, "");
	assert_int_equal(tls_params_apply(ctx, &q), 0);
	assert_int_equal(SSL_CTX_get_max_proto_version(ctx), TLS1_2_VERSION);
	SSL_CTX_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_lists_good),
		cmocka_unit_test(test_lists_bad),
		cmocka_unit_test(test_lists_bounded),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_apply_no_tls13),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
