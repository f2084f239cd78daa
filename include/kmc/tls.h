/*
 * kmc/tls.h - vault keys straight into OpenSSL 3. Include after kmc.h;
 * link with -lssl -lcrypto as well.
 */
#ifndef KMC_TLS_H
#define KMC_TLS_H

#include <openssl/ssl.h>
#include <kmc.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * kmc_key_load - the private key of bundle name (see kmc/admin.h) as a new
 * EVP_PKEY, decoded from the vault's PKCS#8 without touching the disk.
 * The caller frees it with EVP_PKEY_free().
 *
 * A key that lives on a PKCS#11 token (kmc key gen --on-token, kmc import
 * --on-token) never comes into memory: the EVP_PKEY is then one of the
 * kmc provider (kmc.so), whose signatures and RSA decryptions run on the
 * token, with the public half as usual. For it the token is checked first
 * (kmc_token_key_check(): the key is there and the one the vault
 * recorded, the PIN of the recorded URI's pin-source logs in),
 * then kmc.so is loaded into OpenSSL's default library context unless a
 * provider of that name is active there already, from $OPENSSL_MODULES or
 * else the folder make install put it in, and the key is read through
 * OSSL_STORE as kmc://<vault>?item=<name>. The provider opens the vault
 * again, without a prompt: a vault that opens only by passphrase cannot
 * hand out a token key this way. A process that never loads a token key
 * never loads kmc.so.
 *
 * Returns 0; KMC_E_NAME (name/key is no item name), KMC_E_NOT_FOUND,
 * KMC_E_TYPE (name/key is an item of another type), KMC_E_AUTH,
 * KMC_E_ROLLBACK (as kmc_item_get()), KMC_E_CORRUPT, KMC_E_STORE,
 * KMC_E_NOMEM; for a token key also KMC_E_P11_MODULE, KMC_E_P11_TOKEN (the token is not
 * there), KMC_E_P11_PIN, KMC_E_P11_PIN_LOCKED, KMC_E_P11_KEY (the key was
 * deleted or replaced on the token), KMC_E_P11, -ENOENT (no kmc.so where it was
 * looked for: the detail names the path and how to set it),
 * KMC_E_INVALID (kmc.so does not load, or gave no key),
 * KMC_E_NEED_PASSPHRASE (the vault opens only by passphrase),
 * KMC_E_BUSY (the token key was replaced in the vault while each of 8
 * loads ran, or once inside a snapshot the caller holds).
 */
KMC_API int kmc_key_load(kmc_vault *v, const char *name, EVP_PKEY **ret)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

/*
 * kmc_key_load_ex - kmc_key_load() in the library context libctx with the
 * property query propq (NULL, NULL: as kmc_key_load()): a vault key is
 * decoded there, and for a token key the kmc provider is loaded there.
 *
 * WARNING: a provider loaded so stays in libctx, which should live as long
 * as the process (a server's usually does): OpenSSL 3.0 keeps a few hundred
 * bytes of it after OSSL_LIB_CTX_free(). In the default context it is
 * unloaded at exit.
 *
 * Returns as kmc_key_load().
 */
KMC_API int kmc_key_load_ex(kmc_vault *v, const char *name,
	OSSL_LIB_CTX *libctx, const char *propq, EVP_PKEY **ret)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 5);

/*
 * kmc_ssl_ctx_use - set up ctx as the server of bundle name: its
 * certificate and chain, its private key (checked against the
 * certificate), the bundle's CA and the certificates of the trust store
 * it names (kmc_cert_set_trust()) as the trust anchors and client-CA
 * list for client certificates, verification that requires a client
 * certificate (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT), and CRL
 * checking of the client's own certificate when the bundle holds a CRL
 * (X509_V_FLAG_CRL_CHECK: the bundle's CRL is the CA's, so it covers
 * certificates the CA issued), and of a trust store CA's clients against
 * its CRL when it has one (kmc_trust_crl()). A client of a CA without a
 * CRL is not refused for lacking one: with a store, a verify callback
 * lets exactly that error (X509_V_ERR_UNABLE_TO_GET_CRL) pass; a caller
 * that sets its own callback takes that on. A store the bundle names that is gone is
 * KMC_E_NOT_FOUND, naming it.
 *
 * A key that lives on a token is served from there as kmc_key_load()
 * says, checked against the certificate as any other; OpenSSL 3.0 does
 * not tell which library context an SSL_CTX was made in, so the key is
 * loaded into the default one (kmc_ssl_ctx_use_ex() takes another).
 *
 * The certificate, CA, CRL and key are those of one version of the
 * bundle, read in one snapshot of the vault whatever another process
 * changes meanwhile (a rotation's import --replace or promote). A key on
 * a token, which the kmc provider reads again through a handle of its
 * own, is checked against the snapshot's record: one replaced in between
 * is read again, all of it, under a new snapshot.
 *
 * WARNING: call it on a fresh SSL_CTX. To pick up a replaced key or CRL
 * (kmc_vault_generation() grew), build a new SSL_CTX for new connections
 * rather than calling this again on one in use.
 *
 * Returns 0; KMC_E_NAME (a part of name is no item name),
 * KMC_E_NOT_FOUND, KMC_E_TYPE (a part is an item of another type),
 * KMC_E_AUTH, KMC_E_ROLLBACK, KMC_E_CORRUPT, KMC_E_STORE, KMC_E_INVALID
 * (OpenSSL refused the material), KMC_E_NOMEM, and for a token key the
 * errors of kmc_key_load() (KMC_E_BUSY: its key was replaced during each
 * of 8 loads: try again).
 */
KMC_API int kmc_ssl_ctx_use(SSL_CTX *ctx, kmc_vault *v, const char *name)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

/* What a server asks of its clients' certificates (kmc_tls_params). */
typedef enum kmc_client_cert {
	/* One of the trusted CAs' is required; a client without one is
	   refused. 0, so that a zeroed kmc_tls_params keeps the default of
	   kmc_ssl_ctx_use(). */
	KMC_CLIENT_CERT_REQUIRED = 0,
	/* Asked for and, when sent, verified as under REQUIRED (a client of
	   another CA, or revoked, is refused); a client that sends none is
	   let in, and the application decides what it may do. */
	KMC_CLIENT_CERT_OPTIONAL = 1,
	/* Not asked for: every client is let in without one. */
	KMC_CLIENT_CERT_NONE = 2,
} kmc_client_cert;

#define KMC_TLS_CIPHERS_MAX 4096	/* bytes of either cipher string */

/*
 * Options for kmc_ssl_ctx_use_ex(). size is the caller's
 * sizeof(kmc_tls_params): fields are only ever added at the end, and
 * those an older caller does not know read as unset.
 */
typedef struct kmc_tls_params {
	size_t size;		/* sizeof(kmc_tls_params) */
	/* The ciphers of TLS 1.2 and below, as an OpenSSL cipher string
	   ("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
	   "HIGH:!aNULL"; ':' ',' ' ' or ';' between the parts); NULL:
	   OpenSSL's default. */
	const char *cipher_list;
	/* The TLS 1.3 cipher suites, ':' between them
	   ("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"); ""
	   turns TLS 1.3 off (TLS 1.2 becomes the highest version); NULL:
	   OpenSSL's default. */
	const char *ciphersuites;
	kmc_client_cert client_cert;
	/* The library context and property query the SSL_CTX was made with
	   (SSL_CTX_new_ex()), for the key: a token key's kmc provider is
	   loaded there. NULL, NULL: the default context. */
	OSSL_LIB_CTX *libctx;
	const char *propq;
} kmc_tls_params;

/* Designated, as KMC_OPTIONS_INIT: client certificates required, the
 * default ciphers. */
#define KMC_TLS_PARAMS_INIT { .size = sizeof(kmc_tls_params) }

/*
 * kmc_ssl_ctx_use_ex - kmc_ssl_ctx_use() with the cipher lists and the
 * client-certificate mode of p (NULL: as kmc_ssl_ctx_use()). Each part
 * of either cipher string must select a cipher this OpenSSL knows, tried
 * alone (an exclusion, "!X" or "-X", may name one it lacks; the
 * directives are "@STRENGTH" and "@SECLEVEL=0" to 5; a Suite B list,
 * "SUITEB128" and the like, only alone, as OpenSSL reads it only so); a
 * part that selects none, a TLS 1.3 suite in cipher_list or a TLS 1.2
 * cipher in ciphersuites is refused with a detail that names it. p is checked whole before ctx or
 * the vault is touched: a refused p leaves ctx as it was.
 *
 * WARNING: as kmc_ssl_ctx_use(), on a fresh SSL_CTX. With
 * KMC_CLIENT_CERT_OPTIONAL or _NONE a connection may come without a
 * client certificate: SSL_get0_peer_certificate() is then NULL, and
 * the application must not take the connection as authenticated.
 *
 * Returns 0; KMC_E_INVALID (p: its size, its mode or a cipher string,
 * named in the detail), and the errors of kmc_ssl_ctx_use().
 */
KMC_API int kmc_ssl_ctx_use_ex(SSL_CTX *ctx, kmc_vault *v, const char *name,
	const kmc_tls_params *p) KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

#ifdef __cplusplus
}
#endif

#endif
