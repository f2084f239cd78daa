/*
 * pkey.c - private keys for an import: detecting and decrypting any
 * accepted form, the key policy, and PKCS#8 in and out.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/bio.h>
#include <openssl/conf.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/proverr.h>
#include <openssl/x509v3.h>
#include "x509.h"
#include "../safeio/fileio.h"

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
		/* The provider's answer is made in memory: asked once more
		   before the curve is said to be unknown. */
		ERR_clear_error();
		if (!EVP_PKEY_get_utf8_string_param(pkey, "group", group,
				sizeof(group), NULL) &&
		    (ossl_nomem() || (ERR_clear_error(),
		     !EVP_PKEY_get_utf8_string_param(pkey, "group", group,
				sizeof(group), NULL)))) {
			int nomem = ossl_nomem();

			ERR_clear_error();
			return nomem ? kmc_detail(KMC_E_NOMEM, "%s: out of memory "
				"while reading the key's curve", show) :
				kmc_detail(KMC_E_TYPE, "%s: EC key of an unknown "
				"curve", show);
		}
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
 * this a truncated file would be blamed on the password. 1 or 0, or
 * KMC_E_NOMEM when reading it failed for want of memory (then it is not
 * known, and "damaged" would blame the file).
 */
static int encrypted_key_whole(const uint8_t *p, size_t len)
{
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	const unsigned char *q;
	long dlen = 0;
	X509_SIG *sig = NULL;
	BIO *bio;
	int ok;

	ERR_clear_error();
	if (!looks_pem(p, len)) {
		q = p;
		sig = d2i_X509_SIG(NULL, &q, (long)len);
		ok = sig && q == p + len;
		goto out;
	}
	bio = BIO_new_mem_buf(p, (int)len);
	KMC_ENSURE(bio, KMC_E_NOMEM);
	ok = PEM_read_bio(bio, &name, &header, &der, &dlen) > 0;
	BIO_free(bio);
	if (ok && strcmp(name, "ENCRYPTED PRIVATE KEY") == 0) {
		q = der;
		sig = d2i_X509_SIG(NULL, &q, dlen);
		ok = sig && q == der + dlen;
	}
	/* Legacy PEM: the cipher text must be whole blocks. */
	if (ok && strstr(header, "ENCRYPTED"))
		ok = dlen > 0 && dlen % 8 == 0;
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
out:
	X509_SIG_free(sig);
	if (!ok && ossl_nomem())
		ok = KMC_E_NOMEM;
	ERR_clear_error();
	return ok;
}

/* OpenSSL's queue gives no single answer. A wrong password ends in the
 * cipher's padding error ("bad decrypt" of the provider, which PKCS#8 and
 * legacy PEM both queue), or, once in 256, in decrypted bytes that no
 * decoder takes (the decoder's "unsupported": no supported data) or that
 * are no valid DER (ASN.1 errors); a cipher or PBE the build lacks
 * (PBKDF1, DES, RC2 need the legacy provider) in the EVP fetch's
 * "unsupported", which names it; an allocation failure in "malloc
 * failure", or, inside the PBKDF2 loop, in no more than "not able to
 * copy ctx" (a context's copy not allocated): both KEY_FAILED_NOMEM.
 * PEM's own "bad decrypt" and PKCS#12's "cipherfinal error" follow any
 * failure of the cipher, its set-up for want of memory included, so they
 * alone blame no password. Neither does the fetch's "unsupported" prove
 * the algorithm absent: OpenSSL 3.0 reports a first fetch that failed
 * for want of memory so, often with no "malloc failure" (key_parse asks
 * a clean library context, fresh_verdict()). */
enum key_failure key_decrypt_failure(char *alg, size_t alg_len)
{
	enum key_failure kf = KEY_FAILED_OTHER;
	const char *data;
	unsigned long e;
	int flags, named = 0;

	snprintf(alg, alg_len, "?");
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags))) {
		int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);
		enum key_failure now = KEY_FAILED_OTHER;
		const char *a;

		if (reason == ERR_R_MALLOC_FAILURE ||
		    (lib == ERR_LIB_EVP && reason == EVP_R_NOT_ABLE_TO_COPY_CTX))
			now = KEY_FAILED_NOMEM;
		else if (lib == ERR_LIB_EVP &&
		    (reason == ERR_R_UNSUPPORTED ||
		     reason == ERR_R_FETCH_FAILED ||
		     reason == EVP_R_UNSUPPORTED_CIPHER ||
		     reason == EVP_R_UNSUPPORTED_KEY_DERIVATION_FUNCTION ||
		     reason == EVP_R_UNSUPPORTED_PRF ||
		     reason == EVP_R_UNKNOWN_CIPHER ||
		     reason == EVP_R_UNKNOWN_DIGEST ||
		     reason == EVP_R_UNKNOWN_PBE_ALGORITHM))
			now = KEY_FAILED_UNSUPPORTED;
		else if ((lib == ERR_LIB_PROV && reason == PROV_R_BAD_DECRYPT) ||
		    (lib == ERR_LIB_EVP && reason == EVP_R_BAD_DECRYPT))
			now = KEY_FAILED_PASSWORD;
		else if ((lib == ERR_LIB_OSSL_DECODER &&
		     reason == ERR_R_UNSUPPORTED) || lib == ERR_LIB_ASN1)
			now = KEY_FAILED_UNDECODED;
		if (now == KEY_FAILED_UNSUPPORTED && !named &&
		    (flags & ERR_TXT_STRING) && data &&
		    (a = strstr(data, "Algorithm (")) != NULL) {
			a += strlen("Algorithm (");
			snprintf(alg, alg_len, "%.*s", (int)strcspn(a, " :)"), a);
			named = 1;
		}
		if (now > kf)
			kf = now;
	}
	return kf;
}

/* One decoding of data into *pkey (NULL if none), with *left the bytes
 * it did not take; 1 or 0 as OpenSSL's, or KMC_E_NOMEM. */
static int key_decode(const kmc_secret *data, int encrypted,
	const kmc_secret *password, OSSL_LIB_CTX *libctx, EVP_PKEY **pkey,
	size_t *left)
{
	const unsigned char *p = kmc_secret_data(data);
	OSSL_DECODER_CTX *dctx;
	int ok;

	*pkey = NULL;
	*left = kmc_secret_len(data);
	ERR_clear_error();
	dctx = OSSL_DECODER_CTX_new_for_pkey(pkey, NULL, NULL, NULL,
		EVP_PKEY_KEYPAIR, libctx, NULL);
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

/*
 * What a clean library context, of the same configuration file, makes
 * of data that failed in the process's: KEY_FAILED_NOMEM when it reads
 * there, else its own verdict (into alg, why), or KEY_FAILED_OTHER when
 * it cannot be asked (then *asked is 0). OpenSSL 3.0 keeps a first
 * fetch that failed for want of memory (of a cipher, digest, KDF,
 * decoder or key manager) as failed for the life of its library
 * context, and says only "unsupported" or "no supported data", as for
 * an algorithm it lacks or bytes no decoder takes: trying again in the
 * same context cannot tell them apart. Costs a context and its
 * configuration (some milliseconds), only when a key did not read.
 */
static enum key_failure fresh_verdict(const kmc_secret *data, int encrypted,
	const kmc_secret *password, char *alg, size_t alg_len, char *why,
	size_t why_len, int *asked)
{
	OSSL_LIB_CTX *libctx;
	enum key_failure kf = KEY_FAILED_OTHER;
	EVP_PKEY *pkey = NULL;
	size_t left;
	int ok;

	*asked = 0;	/* set when the clean context answered */
	ERR_clear_error();
	libctx = OSSL_LIB_CTX_new();
	if (libctx && CONF_modules_load_file_ex(libctx, NULL, NULL,
			CONF_MFLAGS_DEFAULT_SECTION |
			CONF_MFLAGS_IGNORE_MISSING_FILE) > 0) {
		/* Legacy PEM decrypts in the thread's default context, not
		   the decoder's (PEM_do_header): this one, for the while. */
		OSSL_LIB_CTX *prev = OSSL_LIB_CTX_set0_default(libctx);

		*asked = 1;
		ok = key_decode(data, encrypted, password, libctx, &pkey,
			&left);
		if (ok == 1 && !pkey)
			ok = 0;
		EVP_PKEY_free(pkey);
		/* (NULL when it set none: then it sets none.) */
		OSSL_LIB_CTX_set0_default(prev);
		if (ok != 0) {	/* read there, or failed for memory */
			kf = KEY_FAILED_NOMEM;
		} else if (ossl_nomem()) {
			kf = KEY_FAILED_NOMEM;
		} else {
			snprintf(why, why_len, "%s", ossl_reason());
			kf = key_decrypt_failure(alg, alg_len);
		}
	} else if (ossl_nomem() || !libctx) {
		*asked = 1;
		kf = KEY_FAILED_NOMEM;
	}
	ERR_clear_error();
	OSSL_LIB_CTX_free(libctx);
	return kf;
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
		ok = key_decode(data, encrypted, password, NULL, &pkey, &len);
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
		/* Decrypted bytes no decoder takes, or a failure OpenSSL
		   does not explain ("passed a null parameter" from a decoder
		   whose context was not made): a second try tells an
		   allocation failure from bytes or a password at fault, which
		   fail the same way again. A padding error ("bad decrypt")
		   is a wrong password's: not tried again. */
		if (kf == KEY_FAILED_PASSWORD || kf == KEY_FAILED_UNSUPPORTED ||
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
		int whole = encrypted ? encrypted_key_whole(
			kmc_secret_data(data), kmc_secret_len(data)) : 1;
		int asked;

		if (whole < 0)
			return kmc_detail(KMC_E_NOMEM, "%s: out of memory while "
				"reading the key", show);
		if (!whole)
			return kmc_detail(KMC_E_CORRUPT, "%s: truncated or damaged "
				"encrypted key", show);
		if (encrypted && !password)
			return kmc_detail(KMC_E_NEED_PASSPHRASE, "%s is encrypted "
				"and no password was given", show);
		/* A padding error is the password's; anything else may be
		   the process's context, broken by memory running out. Not
		   asked for an unencrypted key: its first decoding, swept
		   as the encrypted ones (one allocation in 7), blamed no
		   file, and asking doubles the time a bad key takes. */
		if (encrypted && kf != KEY_FAILED_PASSWORD &&
		    kf != KEY_FAILED_NOMEM) {
			enum key_failure fresh = fresh_verdict(data, encrypted,
				password, alg, sizeof(alg), why, sizeof(why),
				&asked);

			if (asked)
				kf = fresh;
		}
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
	if ((ok = key_policy(show, pkey)) < 0) {
		EVP_PKEY_free(pkey);
		return ok;
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
	/* OpenSSL 3.0 makes the context even when an allocation failed
	   while it gathered encoders, with none in it: every key OpenSSL
	   parses has a PKCS#8 encoder, so none means memory ran out. */
	if (OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0) {
		const char *type = EVP_PKEY_get0_type_name(pkey);

		OSSL_ENCODER_CTX_free(ectx);
		return kmc_detail(KMC_E_NOMEM, "writing the %s key as PKCS#8: "
			"out of memory (no encoder found)", type ? type : "private");
	}
	/* A key OpenSSL holds always encodes: a failure is the run's
	   (encoders gathered short when an allocation failed, none of
	   them the key's), never the caller's argument. */
	r = 0;
	if (!OSSL_ENCODER_to_data(ectx, &buf, &len)) {
		r = kmc_detail(KMC_E_NOMEM, "writing the %s key as PKCS#8 "
			"failed (%s): out of memory",
			EVP_PKEY_get0_type_name(pkey) ?
			EVP_PKEY_get0_type_name(pkey) : "private",
			ossl_reason());
		ERR_clear_error();
	}
	OSSL_ENCODER_CTX_free(ectx);
	if (r == 0)
		r = kmc_secret_dup(buf, len, ret);
	/* OpenSSL's heap held the plaintext key for a moment: wipe it. */
	OPENSSL_clear_free(buf, len);
	return r;
}

/*
 * The OpenSSL key type of a PKCS#8 key's algorithm, or NULL for any.
 * OpenSSL 3.0 builds a decoder context by walking every decoder of every
 * provider under a lock: for a key type it keeps a few, and the context
 * costs a quarter as much (about 160 us instead of 600 here, where the
 * parse itself is 10 to 30 us), which is most of a server's boot with
 * many keys. A type not listed still decodes, the slow way.
 */
static const char *pkcs8_keytype(const kmc_secret *der)
{
	static const struct {
		int nid;
		const char *type;
	} types[] = {
		{ NID_rsaEncryption, "RSA" },
		{ NID_rsassaPss, "RSA-PSS" },
		{ NID_X9_62_id_ecPublicKey, "EC" },
		{ NID_ED25519, "ED25519" },
		{ NID_ED448, "ED448" },
	};
	const unsigned char *p = kmc_secret_data(der);
	PKCS8_PRIV_KEY_INFO *p8;
	const ASN1_OBJECT *alg;
	int nid = NID_undef;

	/* Bounded by the length; frees with the key bytes cleansed. */
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)kmc_secret_len(der));
	if (p8 && PKCS8_pkey_get0(&alg, NULL, NULL, NULL, p8))
		nid = OBJ_obj2nid(alg);
	PKCS8_PRIV_KEY_INFO_free(p8);
	/* A malformed key is the decoder's to refuse, below. */
	ERR_clear_error();
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].nid == nid)
			return types[i].type;
	return NULL;
}

int key_from_pkcs8(const kmc_secret *der, EVP_PKEY **ret)
{
	return key_from_pkcs8_ex(der, NULL, NULL, ret);
}

/* One try at decoding der: 1 with the key, 0 when none came out. */
static int pkcs8_decode(const kmc_secret *der, OSSL_LIB_CTX *libctx,
	const char *propq, EVP_PKEY **ret)
{
	const unsigned char *p = kmc_secret_data(der);
	size_t len = kmc_secret_len(der);
	OSSL_DECODER_CTX *dctx;
	EVP_PKEY *pkey = NULL;
	int ok;

	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", "PrivateKeyInfo",
		pkcs8_keytype(der), EVP_PKEY_KEYPAIR, libctx, propq);
	KMC_ENSURE(dctx, KMC_E_NOMEM);
	ok = OSSL_DECODER_from_data(dctx, &p, &len);
	OSSL_DECODER_CTX_free(dctx);
	if (ok && pkey && len == 0) {
		*ret = pkey;
		return 1;
	}
	EVP_PKEY_free(pkey);
	return 0;
}

int key_from_pkcs8_ex(const kmc_secret *der, OSSL_LIB_CTX *libctx,
	const char *propq, EVP_PKEY **ret)
{
	int r;

	/* The queue is left as it is on the way to success: servers load
	   keys in bulk, some inside OpenSSL's own calls (the provider),
	   whose marks on the queue a clear would take. */
	r = pkcs8_decode(der, libctx, propq, ret);
	if (r != 0)
		return r < 0 ? r : 0;
	/* The vault's own key, whose record's tag checked: memory running
	   out is not damage. OpenSSL 3.0's decoders drop some allocation
	   failures from the queue (each decoder tried is undone to a mark)
	   and end with "unsupported": the same bytes, tried again, fail
	   again only if they are at fault. */
	if (!ossl_nomem()) {
		ERR_clear_error();
		r = pkcs8_decode(der, libctx, propq, ret);
		if (r != 0)
			return r < 0 ? r : 0;
		if (!ossl_nomem()) {
			ERR_clear_error();
			return KMC_E_CORRUPT;
		}
	}
	ERR_clear_error();
	return KMC_E_NOMEM;
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
		/* A key already parsed and a fixed cipher: only the
		   process's resources can fail here, never the input. */
		return ossl_nomem() ? KMC_E_NOMEM : kmc_detail(KMC_E_NOMEM,
			"out of memory encrypting the copy of the key "
			"(AES-256-CBC): %s", ossl_reason());
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
