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
 * Returns 0; KMC_E_NOT_FOUND, KMC_E_AUTH, KMC_E_CORRUPT, KMC_E_NOMEM.
 */
KMC_API int kmc_key_load(kmc_vault *v, const char *name, EVP_PKEY **ret)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

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
 * WARNING: call it on a fresh SSL_CTX. To pick up a replaced key or CRL
 * (kmc_vault_generation() grew), build a new SSL_CTX for new connections
 * rather than calling this again on one in use.
 *
 * Returns 0; KMC_E_NOT_FOUND, KMC_E_AUTH, KMC_E_CORRUPT, KMC_E_INVALID
 * (OpenSSL refused the material), KMC_E_NOMEM.
 */
KMC_API int kmc_ssl_ctx_use(SSL_CTX *ctx, kmc_vault *v, const char *name)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

#ifdef __cplusplus
}
#endif

#endif
