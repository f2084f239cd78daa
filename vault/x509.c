/*
 * x509.c - reading and checking what an import takes: certificates, a
 * private key in any accepted form, a CRL; chain and CRL verification.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/proverr.h>
#include <openssl/x509v3.h>
#include "x509.h"
#include "../safeio/fileio.h"

/* Whether OpenSSL's newest error is an allocation failure: then the input
 * is not at fault and must not be blamed. */
static int ossl_nomem(void)
{
	unsigned long e = ERR_peek_last_error();

	return e && ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE;
}

#define NOMEM_OR(show, r) \
	(ossl_nomem() ? kmc_detail(KMC_E_NOMEM, "%s: out of memory while "\
		"checking it", (show)) : (r))

const char *ossl_reason(void)
{
	static _Thread_local char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return "no further detail from OpenSSL";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

/* ---------------------------------------------------------------- */
/* Inputs                                                            */

int input_read(const char *path, input_kind kind, uint8_t **ret,
	size_t *ret_len, kmc_secret **ret_secret)
{
	_cleanup_(kmc_closep) int fd = -1;
	size_t max = kind == INPUT_KEY ? KEY_FILE_MAX : X509_FILE_MAX;
	struct stat st;
	size_t len;
	int r;

	fd = kmc_open_no_links(path);
	if (fd < 0) {
		if (errno == ELOOP)
			return kmc_detail(KMC_E_PERM, "%s is reached through a "
				"symbolic link; give the real path", path);
		r = -errno;
		return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
	}
	if (!S_ISREG(st.st_mode))
		return kmc_detail(KMC_E_PERM, "%s is not a regular file", path);
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return kmc_detail(KMC_E_PERM, "%s is owned by uid %u, neither "
			"you (uid %u) nor root", path, (unsigned)st.st_uid,
			(unsigned)geteuid());
	if (kind == INPUT_KEY && (st.st_mode & 07137))
		return kmc_detail(KMC_E_PERM, "%s has mode %04o; a private key "
			"may be at most 0640 (chmod 600 %s)", path,
			(unsigned)(st.st_mode & 07777), path);
	if (st.st_size == 0)
		return kmc_detail(KMC_E_EMPTY, "%s is empty", path);
	if ((uint64_t)st.st_size > max)
		return kmc_detail(KMC_E_TOO_LARGE, "%s is larger than %zu bytes",
			path, max);
	if (kind == INPUT_KEY) {
		_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;

		KMC_GUARD(kmc_secret_new(max, &s));
		r = kmc_read_all(fd, kmc_secret_data(s), max, &len);
		if (r == 0)
			r = kmc_secret_shrink(s, len);
		if (r < 0)
			return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
		if (len == 0)
			return kmc_detail(KMC_E_EMPTY, "%s is empty", path);
		*ret_secret = TAKE_PTR(s);
		return 0;
	} else {
		_cleanup_(freep) uint8_t *buf = malloc(max);

		KMC_ENSURE(buf, KMC_E_NOMEM);
		r = kmc_read_all(fd, buf, max, &len);
		if (r < 0)
			return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
		if (len == 0)
			return kmc_detail(KMC_E_EMPTY, "%s is empty", path);
		*ret = TAKE_PTR(buf);
		*ret_len = len;
		return 0;
	}
}

static int looks_pem(const uint8_t *data, size_t len)
{
	static const char tag[] = "-----BEGIN ";

	return len >= sizeof(tag) - 1 &&
		memmem(data, len, tag, sizeof(tag) - 1) != NULL;
}

/* Every "-----BEGIN" must have given an object: text around is fine. */
static int pem_all_used(const char *show, const uint8_t *data, size_t len,
	int objects)
{
	const uint8_t *p = data, *end = data + len;
	int begins = 0;

	while (p < end) {
		const uint8_t *q = memmem(p, (size_t)(end - p), "-----BEGIN", 10);

		if (!q)
			break;
		begins++;
		p = q + 10;
	}
	if (begins != objects)
		return kmc_detail(KMC_E_CORRUPT, "%s: %d PEM blocks but %d "
			"certificates: truncated, or holding something else", show,
			begins, objects);
	return 0;
}

static void sk_X509_pop_freep(STACK_OF(X509) **s)
{
	sk_X509_pop_free(*s, X509_free);
}

int certs_parse(const char *show, const uint8_t *data, size_t len,
	STACK_OF(X509) **ret)
{
	_cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *bio;

	KMC_ENSURE(certs, KMC_E_NOMEM);
	KMC_ENSURE(len <= INT32_MAX, KMC_E_TOO_LARGE);
	ERR_clear_error();
	if (looks_pem(data, len)) {
		bio = BIO_new_mem_buf(data, (int)len);
		KMC_ENSURE(bio, KMC_E_NOMEM);
		for (;;) {
			X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

			if (!x)
				break;
			if (!sk_X509_push(certs, x)) {
				X509_free(x);
				BIO_free(bio);
				return KMC_E_NOMEM;
			}
		}
		BIO_free(bio);
		/* The loop ends at "no start line" when all went well. */
		if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE ||
		    sk_X509_num(certs) == 0)
			return NOMEM_OR(show, kmc_detail(KMC_E_CORRUPT, "%s: "
				"truncated or damaged PEM certificate (%s)", show,
				ossl_reason()));
		ERR_clear_error();
		/* OpenSSL reads a cut "-----BEGIN" line as mere text and stops:
		   every armour must have given a certificate. */
		KMC_GUARD(pem_all_used(show, data, len, sk_X509_num(certs)));
	} else {
		const unsigned char *p = data;
		X509 *x = d2i_X509(NULL, &p, (long)len);

		if (!x)
			return kmc_detail(KMC_E_CORRUPT, "%s: not a certificate "
				"(neither PEM nor DER)", show);
		if (p != data + len || !sk_X509_push(certs, x)) {
			X509_free(x);
			return kmc_detail(KMC_E_CORRUPT, "%s: bytes after the DER "
				"certificate", show);
		}
	}
	*ret = TAKE_PTR(certs);
	return 0;
}

int crl_parse(const char *show, const uint8_t *data, size_t len,
	X509_CRL **ret)
{
	X509_CRL *crl = NULL;

	KMC_ENSURE(len <= INT32_MAX, KMC_E_TOO_LARGE);
	ERR_clear_error();
	if (looks_pem(data, len)) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);

		KMC_ENSURE(bio, KMC_E_NOMEM);
		crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		BIO_free(bio);
		if (!crl)
			return NOMEM_OR(show, kmc_detail(KMC_E_CORRUPT, "%s: "
				"truncated or damaged PEM CRL (%s)", show,
				ossl_reason()));
	} else {
		const unsigned char *p = data;

		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (!crl)
			return kmc_detail(KMC_E_CORRUPT, "%s: not a CRL (neither "
				"PEM nor DER)", show);
		if (p != data + len) {
			X509_CRL_free(crl);
			return kmc_detail(KMC_E_CORRUPT, "%s: bytes after the DER "
				"CRL", show);
		}
	}
	*ret = crl;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Keys                                                              */

int key_is_encrypted(const uint8_t *data, size_t len)
{
	static const char *const marks[] = {
		"-----BEGIN ENCRYPTED " "PRIVATE KEY-----",
		"Proc-Type: 4,ENCRYPTED",
	};
	const unsigned char *p = data;
	X509_SIG *sig;

	if (looks_pem(data, len)) {
		for (size_t i = 0; i < ELEMENTSOF(marks); i++)
			if (memmem(data, len, marks[i], strlen(marks[i])))
				return 1;
		return 0;
	}
	/* DER: an EncryptedPrivateKeyInfo parses as X509_SIG. */
	sig = d2i_X509_SIG(NULL, &p, (long)len);
	if (!sig)
		return 0;
	X509_SIG_free(sig);
	return p == data + len;
}

/* Never let OpenSSL prompt on the terminal: no password, no key. */
static int no_passphrase(char *buf, size_t size, size_t *len,
	const OSSL_PARAM params[], void *arg)
{
	(void)buf; (void)size; (void)params; (void)arg;
	*len = 0;
	return 0;
}

static int key_policy(const char *show, EVP_PKEY *pkey)
{
	char group[64];
	int bits = EVP_PKEY_get_bits(pkey);

	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		if (bits < 2048 || bits > 4096)
			return kmc_detail(KMC_E_TYPE, "%s: RSA key of %d bits; "
				"2048 to 4096 are accepted", show, bits);
		return 0;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_utf8_string_param(pkey, "group", group,
				sizeof(group), NULL))
			return kmc_detail(KMC_E_TYPE, "%s: EC key of an unknown "
				"curve", show);
		if (strcmp(group, "prime256v1") && strcmp(group, "P-256") &&
		    strcmp(group, "secp384r1") && strcmp(group, "P-384"))
			return kmc_detail(KMC_E_TYPE, "%s: EC key on %s; P-256 "
				"and P-384 are accepted", show, group);
		return 0;
	case EVP_PKEY_ED25519:
		return 0;
	}
	return kmc_detail(KMC_E_TYPE, "%s: a %s key; RSA, EC P-256/P-384 and "
		"Ed25519 are accepted", show, EVP_PKEY_get0_type_name(pkey) ?
		EVP_PKEY_get0_type_name(pkey) : "unknown");
}

/*
 * Whether an encrypted key's container is whole: PEM that decodes and,
 * for PKCS#8, an EncryptedPrivateKeyInfo that parses exactly. Without
 * this a truncated file would be blamed on the password.
 */
static int encrypted_key_whole(const uint8_t *p, size_t len)
{
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	const unsigned char *q;
	long dlen = 0;
	X509_SIG *sig;
	BIO *bio;
	int ok;

	if (!looks_pem(p, len)) {
		q = p;
		sig = d2i_X509_SIG(NULL, &q, (long)len);
		ok = sig && q == p + len;
		X509_SIG_free(sig);
		return ok;
	}
	bio = BIO_new_mem_buf(p, (int)len);
	if (!bio)
		return 0;
	ok = PEM_read_bio(bio, &name, &header, &der, &dlen) > 0;
	if (ok && strcmp(name, "ENCRYPTED PRIVATE KEY") == 0) {
		q = der;
		sig = d2i_X509_SIG(NULL, &q, dlen);
		ok = sig && q == der + dlen;
		X509_SIG_free(sig);
	}
	/* Legacy PEM: the cipher text must be whole blocks. */
	if (ok && strstr(header, "ENCRYPTED"))
		ok = dlen > 0 && dlen % 8 == 0;
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(bio);
	ERR_clear_error();
	return ok;
}

/* OpenSSL's queue gives no single answer. A wrong password ends in a padding
 * error ("bad decrypt"), or, once in 256, in decrypted bytes that no
 * decoder takes (the decoder's "unsupported": no supported data) or that
 * are no valid DER (ASN.1 errors); a cipher or PBE the build lacks
 * (PBKDF1, DES, RC2 need the legacy provider) in the EVP fetch's
 * "unsupported", which names it; an allocation failure in "malloc
 * failure", or, inside the PBKDF2 loop, in no more than "not able to
 * copy ctx". */
enum key_failure key_decrypt_failure(char *alg, size_t alg_len)
{
	enum key_failure kf = KEY_FAILED_OTHER;
	const char *data;
	unsigned long e;
	int flags;

	snprintf(alg, alg_len, "?");
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags))) {
		int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);
		enum key_failure now = KEY_FAILED_OTHER;
		const char *a;

		if (reason == ERR_R_MALLOC_FAILURE)
			now = KEY_FAILED_NOMEM;
		else if (lib == ERR_LIB_EVP &&
		    (reason == ERR_R_UNSUPPORTED ||
		     reason == EVP_R_UNSUPPORTED_CIPHER ||
		     reason == EVP_R_UNSUPPORTED_KEY_DERIVATION_FUNCTION ||
		     reason == EVP_R_UNSUPPORTED_PRF ||
		     reason == EVP_R_UNKNOWN_CIPHER ||
		     reason == EVP_R_UNKNOWN_DIGEST ||
		     reason == EVP_R_UNKNOWN_PBE_ALGORITHM))
			now = KEY_FAILED_UNSUPPORTED;
		else if ((lib == ERR_LIB_PROV && reason == PROV_R_BAD_DECRYPT) ||
		    (lib == ERR_LIB_EVP && reason == EVP_R_BAD_DECRYPT) ||
		    (lib == ERR_LIB_PKCS12 &&
		     reason == PKCS12_R_PKCS12_CIPHERFINAL_ERROR) ||
		    (lib == ERR_LIB_PEM && (reason == PEM_R_BAD_DECRYPT ||
		     reason == PEM_R_BAD_PASSWORD_READ)))
			now = KEY_FAILED_PASSWORD;
		else if ((lib == ERR_LIB_OSSL_DECODER &&
		     reason == ERR_R_UNSUPPORTED) || lib == ERR_LIB_ASN1)
			now = KEY_FAILED_UNDECODED;
		if (now == KEY_FAILED_UNSUPPORTED &&
		    kf < KEY_FAILED_UNSUPPORTED &&
		    (flags & ERR_TXT_STRING) && data &&
		    (a = strstr(data, "Algorithm (")) != NULL) {
			a += strlen("Algorithm (");
			snprintf(alg, alg_len, "%.*s", (int)strcspn(a, " :)"), a);
		}
		if (now > kf)
			kf = now;
	}
	return kf;
}

/* One decoding of data into *pkey (NULL if none), with *left the bytes
 * it did not take; 1 or 0 as OpenSSL's, or KMC_E_NOMEM. */
static int key_decode(const kmc_secret *data, int encrypted,
	const kmc_secret *password, EVP_PKEY **pkey, size_t *left)
{
	const unsigned char *p = kmc_secret_data(data);
	OSSL_DECODER_CTX *dctx;
	int ok;

	*pkey = NULL;
	*left = kmc_secret_len(data);
	ERR_clear_error();
	dctx = OSSL_DECODER_CTX_new_for_pkey(pkey, NULL, NULL, NULL,
		EVP_PKEY_KEYPAIR, NULL, NULL);
	KMC_ENSURE(dctx, KMC_E_NOMEM);
	if (encrypted && password)
		ok = OSSL_DECODER_CTX_set_passphrase(dctx,
			kmc_secret_data(password), kmc_secret_len(password));
	else
		ok = OSSL_DECODER_CTX_set_passphrase_cb(dctx, no_passphrase,
			NULL);
	if (ok)
		ok = OSSL_DECODER_from_data(dctx, &p, left);
	OSSL_DECODER_CTX_free(dctx);
	return ok == 1;
}

int key_parse(const char *show, const kmc_secret *data,
	const kmc_secret *password, EVP_PKEY **ret)
{
	int encrypted = key_is_encrypted(kmc_secret_data(data),
		kmc_secret_len(data));
	enum key_failure kf = KEY_FAILED_OTHER;
	char alg[64], why[256];
	EVP_PKEY *pkey;
	size_t len;
	int ok;

	for (int tries = 1;; tries++) {
		ok = key_decode(data, encrypted, password, &pkey, &len);
		if (ok < 0)
			return ok;
		if (ok && pkey)
			break;
		EVP_PKEY_free(pkey);
		pkey = NULL;
		if (ossl_nomem())
			return kmc_detail(KMC_E_NOMEM, "%s: out of memory while "
				"reading the key", show);
		snprintf(why, sizeof(why), "%s", ossl_reason());
		kf = key_decrypt_failure(alg, sizeof(alg));
		/* Decrypted bytes no decoder takes: a second try tells an
		   allocation failure from a wrong password, which fails
		   the same way again. */
		if (!encrypted || !password || kf != KEY_FAILED_UNDECODED ||
		    tries == 2)
			break;
	}
	/* DER takes exact lengths: a second key or junk after it is refused. */
	if (ok && pkey && len != 0 && !looks_pem(kmc_secret_data(data),
			kmc_secret_len(data))) {
		EVP_PKEY_free(pkey);
		return kmc_detail(KMC_E_CORRUPT, "%s: bytes after the DER key",
			show);
	}
	if (!ok || !pkey) {
		if (encrypted && !encrypted_key_whole(kmc_secret_data(data),
				kmc_secret_len(data)))
			return kmc_detail(KMC_E_CORRUPT, "%s: truncated or damaged "
				"encrypted key", show);
		if (encrypted && !password)
			return kmc_detail(KMC_E_NEED_PASSPHRASE, "%s is encrypted "
				"and no password was given", show);
		if (encrypted) {
			if (kf == KEY_FAILED_NOMEM)
				return kmc_detail(KMC_E_NOMEM, "%s: out of memory "
					"while decrypting the key", show);
			if (kf == KEY_FAILED_UNSUPPORTED)
				return kmc_detail(KMC_E_VERIFY, "%s is encrypted "
					"with an algorithm this OpenSSL does not "
					"offer (%s); encrypt it anew, e.g. openssl "
					"pkcs8 -topk8 -v2 aes-256-cbc", show, alg);
			if (kf == KEY_FAILED_PASSWORD ||
			    kf == KEY_FAILED_UNDECODED)
				return kmc_detail(KMC_E_UNLOCK, "%s: the password "
					"does not open the key", show);
			return kmc_detail(KMC_E_CORRUPT, "%s: the key could not "
				"be decrypted (%s)", show, why);
		}
		return kmc_detail(KMC_E_CORRUPT, "%s: not a private key in PEM "
			"or DER (PKCS#8, PKCS#1 or SEC1), or truncated", show);
	}
	if (key_policy(show, pkey) < 0) {
		EVP_PKEY_free(pkey);
		return KMC_E_TYPE;
	}
	*ret = pkey;
	return 0;
}

int key_to_pkcs8(EVP_PKEY *pkey, kmc_secret **ret)
{
	OSSL_ENCODER_CTX *ectx;
	unsigned char *buf = NULL;
	size_t len = 0;
	int r;

	ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_KEYPAIR, "DER",
		"PrivateKeyInfo", NULL);
	KMC_ENSURE(ectx, KMC_E_NOMEM);
	r = OSSL_ENCODER_to_data(ectx, &buf, &len) ? 0 : KMC_E_INVALID;
	OSSL_ENCODER_CTX_free(ectx);
	if (r == 0)
		r = kmc_secret_dup(buf, len, ret);
	/* OpenSSL's heap held the plaintext key for a moment: wipe it. */
	OPENSSL_clear_free(buf, len);
	return r;
}

int key_from_pkcs8(const kmc_secret *der, EVP_PKEY **ret)
{
	const unsigned char *p = kmc_secret_data(der);
	size_t len = kmc_secret_len(der);
	OSSL_DECODER_CTX *dctx;
	EVP_PKEY *pkey = NULL;
	int ok;

	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", "PrivateKeyInfo",
		NULL, EVP_PKEY_KEYPAIR, NULL, NULL);
	KMC_ENSURE(dctx, KMC_E_NOMEM);
	ok = OSSL_DECODER_from_data(dctx, &p, &len);
	OSSL_DECODER_CTX_free(dctx);
	if (!ok || !pkey || len != 0) {
		EVP_PKEY_free(pkey);
		return KMC_E_CORRUPT;
	}
	*ret = pkey;
	return 0;
}

int key_to_encrypted_pem(EVP_PKEY *pkey, const kmc_secret *password,
	uint8_t **ret, size_t *ret_len)
{
	OSSL_ENCODER_CTX *ectx;
	unsigned char *buf = NULL;
	size_t len = 0;
	int ok;

	ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_KEYPAIR, "PEM",
		"PrivateKeyInfo", NULL);
	KMC_ENSURE(ectx, KMC_E_NOMEM);
	ok = OSSL_ENCODER_CTX_set_cipher(ectx, "AES-256-CBC", NULL) &&
		OSSL_ENCODER_CTX_set_passphrase(ectx, kmc_secret_data(password),
			kmc_secret_len(password)) &&
		OSSL_ENCODER_to_data(ectx, &buf, &len);
	OSSL_ENCODER_CTX_free(ectx);
	if (!ok) {
		OPENSSL_free(buf);
		return KMC_E_INVALID;
	}
	*ret = malloc(len);
	if (!*ret) {
		OPENSSL_free(buf);
		return KMC_E_NOMEM;
	}
	memcpy(*ret, buf, len);
	*ret_len = len;
	OPENSSL_free(buf);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Verification                                                      */

static void name_of(X509 *x, char *buf, size_t size)
{
	X509_NAME_oneline(X509_get_subject_name(x), buf, (int)size);
}

static int check_dates(const char *show, STACK_OF(X509) *certs)
{
	char subject[256];

	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		name_of(x, subject, sizeof(subject));
		if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0)
			return kmc_detail(KMC_E_VERIFY, "%s: certificate %s is "
				"not valid yet", show, subject);
		if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
			return kmc_detail(KMC_E_VERIFY, "%s: certificate %s has "
				"expired", show, subject);
	}
	return 0;
}

int crl_verify(const chain_files *f, STACK_OF(X509) *ca,
	STACK_OF(X509) *chain, X509_CRL *crl)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	X509 *issuer = NULL;
	char subject[256];

	for (int i = 0; i < sk_X509_num(ca); i++)
		if (X509_NAME_cmp(X509_get_subject_name(sk_X509_value(ca, i)),
				X509_CRL_get_issuer(crl)) == 0)
			issuer = sk_X509_value(ca, i);
	ERR_clear_error();
	if (!issuer || X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1)
		return NOMEM_OR(f->crl, kmc_detail(KMC_E_VERIFY, "%s is not "
			"signed by the CA in %s", f->crl, f->ca));
	if (X509_cmp_current_time(X509_CRL_get0_lastUpdate(crl)) >= 0)
		return kmc_detail(KMC_E_VERIFY, "%s is not valid yet (its last "
			"update is in the future)", f->crl);
	if (!next || X509_cmp_current_time(next) <= 0)
		return kmc_detail(KMC_E_VERIFY, "%s is out of date (its next "
			"update has passed); fetch a current CRL", f->crl);
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);
		X509_REVOKED *rev;

		if (X509_NAME_cmp(X509_get_issuer_name(x),
				X509_CRL_get_issuer(crl)) != 0)
			continue;
		if (X509_CRL_get0_by_cert(crl, &rev, x) == 1) {
			name_of(x, subject, sizeof(subject));
			return kmc_detail(KMC_E_VERIFY, "%s: certificate %s is "
				"revoked by %s", f->cert, subject, f->crl);
		}
	}
	return 0;
}

int chain_verify(const chain_files *f, STACK_OF(X509) *ca,
	STACK_OF(X509) *chain, EVP_PKEY *key, X509_CRL *crl)
{
	X509_STORE *xstore = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	X509 *leaf = sk_X509_value(chain, 0);
	char subject[256];
	int r = 0, err, depth, verified;

	KMC_GUARD(check_dates(f->ca, ca));
	KMC_GUARD(check_dates(f->cert, chain));
	ERR_clear_error();
	if (X509_check_private_key(leaf, key) != 1) {
		if (ossl_nomem())
			return kmc_detail(KMC_E_NOMEM, "%s: out of memory while "
				"matching it to %s", f->key, f->cert);
		name_of(leaf, subject, sizeof(subject));
		return kmc_detail(KMC_E_VERIFY, "%s does not belong to the "
			"certificate %s in %s", f->key, subject, f->cert);
	}
	xstore = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	untrusted = sk_X509_new_null();
	if (!xstore || !ctx || !untrusted)
		r = KMC_E_NOMEM;
	for (int i = 0; r == 0 && i < sk_X509_num(ca); i++)
		if (!X509_STORE_add_cert(xstore, sk_X509_value(ca, i)))
			r = KMC_E_NOMEM;
	for (int i = 1; r == 0 && i < sk_X509_num(chain); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(chain, i)))
			r = KMC_E_NOMEM;
	if (r == 0 && !X509_STORE_CTX_init(ctx, xstore, leaf, untrusted))
		r = KMC_E_NOMEM;
	if (r == 0) {
		/* ca.crt may be an intermediate CA: trust what was given. */
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN |
			X509_V_FLAG_X509_STRICT);
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
		/* A TLS client's bundle (curl, an MQTT client) is as welcome as
		   a server's: a certificate fit for neither is refused. */
		verified = X509_verify_cert(ctx) == 1;
		if (!verified && X509_STORE_CTX_get_error(ctx) ==
				X509_V_ERR_INVALID_PURPOSE) {
			X509_STORE_CTX_cleanup(ctx);
			if (!X509_STORE_CTX_init(ctx, xstore, leaf, untrusted))
				r = KMC_E_NOMEM;
			X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN |
				X509_V_FLAG_X509_STRICT);
			X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
			if (r == 0)
				verified = X509_verify_cert(ctx) == 1;
		}
		if (r == 0 && !verified && ossl_nomem())
			r = kmc_detail(KMC_E_NOMEM, "%s: out of memory while "
				"verifying its chain", f->cert);
		if (r == 0 && !verified) {
			err = X509_STORE_CTX_get_error(ctx);
			depth = X509_STORE_CTX_get_error_depth(ctx);
			name_of(X509_STORE_CTX_get_current_cert(ctx) ?
				X509_STORE_CTX_get_current_cert(ctx) : leaf,
				subject, sizeof(subject));
			r = kmc_detail(KMC_E_VERIFY, "%s does not chain to the CA "
				"in %s: %s (certificate %s, depth %d)", f->cert,
				f->ca, X509_verify_cert_error_string(err), subject,
				depth);
		}
	}
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(xstore);
	KMC_GUARD(r);
	if (crl)
		KMC_GUARD(crl_verify(f, ca, chain, crl));
	return 0;
}

/* ---------------------------------------------------------------- */
/* PEM out                                                           */

static int bio_take(BIO *bio, uint8_t **ret, size_t *ret_len)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);

	KMC_ENSURE(n > 0, KMC_E_INVALID);
	*ret = malloc((size_t)n);
	KMC_ENSURE(*ret, KMC_E_NOMEM);
	memcpy(*ret, p, (size_t)n);
	*ret_len = (size_t)n;
	return 0;
}

int certs_to_pem(STACK_OF(X509) *certs, uint8_t **ret, size_t *ret_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int r = 0;

	KMC_ENSURE(bio, KMC_E_NOMEM);
	for (int i = 0; r == 0 && i < sk_X509_num(certs); i++)
		if (!PEM_write_bio_X509(bio, sk_X509_value(certs, i)))
			r = KMC_E_NOMEM;
	if (r == 0)
		r = bio_take(bio, ret, ret_len);
	BIO_free(bio);
	return r;
}

int crl_to_pem(X509_CRL *crl, uint8_t **ret, size_t *ret_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int r = 0;

	KMC_ENSURE(bio, KMC_E_NOMEM);
	if (!PEM_write_bio_X509_CRL(bio, crl))
		r = KMC_E_NOMEM;
	if (r == 0)
		r = bio_take(bio, ret, ret_len);
	BIO_free(bio);
	return r;
}
