/*
 * kmc/admin.h - creating and inspecting vaults: what the kmc command and
 * provisioning tools need beyond what a server uses. Include after kmc.h.
 */
#ifndef KMC_ADMIN_H
#define KMC_ADMIN_H

#include <kmc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kmc_protector_type {
	KMC_PROTECTOR_HOST = 1,		/* a host-bound secret file */
	KMC_PROTECTOR_PASSPHRASE = 2,	/* Argon2id over a passphrase */
	KMC_PROTECTOR_PKCS11 = 3,	/* a key inside an HSM, via PKCS#11 */
	KMC_PROTECTOR_TPM = 4,		/* the same through tpm2-pkcs11 */
	KMC_PROTECTOR_RECOVERY = 5,	/* a printed high-entropy key */
} kmc_protector_type;

/*
 * kmc_vault_init - create a vault in dir with one protector (any type;
 * see kmc_protector_add() for what each needs in opts; a recovery key
 * made here is returned in *ret_recovery, which may be NULL otherwise).
 *
 * dir may be absent or an empty directory; the vault is built in a
 * temporary sibling and renamed into place, so a failure or a kill leaves
 * nothing half made. The host protector creates the host key (mode 0400)
 * when it does not exist yet; the passphrase protector needs
 * opts->passphrase (at least 8 bytes).
 *
 * Returns 0; KMC_E_EXISTS (dir is not empty), KMC_E_INVALID,
 * KMC_E_NEED_PASSPHRASE, KMC_E_EMPTY, KMC_E_PERM, KMC_E_HOST_KEY,
 * KMC_E_STORE, KMC_E_NOMEM, -errno.
 */
KMC_API int kmc_vault_init(const char *dir, kmc_protector_type type,
	const kmc_options *opts) KMC_MUST_CHECK;
KMC_API int kmc_vault_init_ex(const char *dir, kmc_protector_type type,
	const kmc_options *opts, kmc_secret **ret_recovery) KMC_MUST_CHECK;

/*
 * kmc_protector_add - add a protector to a vault opened with
 * KMC_OPEN_WRITE, as one change of both keystores.
 *	host:       opts->host_key (else $KMC_HOST_KEY or the default)
 *	passphrase: opts->passphrase (8 bytes or more), opts->argon2_*
 *	pkcs11/tpm: opts->pkcs11_uri, opts->pin..., opts->pkcs11_create_key,
 *	            opts->pkcs11_mechanism (tpm defaults to the tpm2_pkcs11
 *	            module when the URI names none)
 *	recovery:   *ret_recovery receives the key to show once, as text
 * *ret_id (may be NULL) is the new protector's id.
 * Returns 0; KMC_E_READONLY, KMC_E_LIMIT (16 protectors), KMC_E_INVALID,
 * the errors of the protector's own set-up (KMC_E_P11_*, KMC_E_HOST_KEY,
 * ...), -errno.
 */
KMC_API int kmc_protector_add(kmc_vault *v, kmc_protector_type type,
	const kmc_options *opts, unsigned *ret_id, kmc_secret **ret_recovery)
	KMC_MUST_CHECK KMC_NONNULL(1);

/*
 * kmc_protector_remove - remove protector id; never the last one.
 * Returns 0; KMC_E_READONLY, KMC_E_NOT_FOUND, KMC_E_LIMIT (the last),
 * -errno.
 */
KMC_API int kmc_protector_remove(kmc_vault *v, unsigned id)
	KMC_MUST_CHECK KMC_NONNULL(1);

/*
 * kmc_vault_unlock_notes - what failed before a protector opened the
 * vault, one line per protector tried ("protector 2 (pkcs11): wrong
 * PIN"); "" when the first one tried worked.
 */
KMC_API const char *kmc_vault_unlock_notes(const kmc_vault *v)
	KMC_NONNULL(1);

/* The state of one keystore file, as kmc_vault_status() reports it. */
typedef enum kmc_keystore_state {
	KMC_KS_OK = 0,		/* valid, and of the newest generation */
	KMC_KS_MISSING = 1,
	KMC_KS_STALE = 2,	/* valid, but an older generation */
	KMC_KS_DAMAGED = 3,	/* fails its checksum or does not parse */
	KMC_KS_UNSAFE = 4,	/* a link, wrong owner or mode: not read */
	KMC_KS_FOREIGN = 5,	/* valid, but of another vault id than
				   items.mdb: copied from another vault */
	KMC_KS_UNVERIFIED = 6,	/* checksum holds, but its MAC was not
				   checked: no protector opens without
				   a prompt (kmc_vault_status() only) */
} kmc_keystore_state;

#define KMC_MAX_PROTECTORS 16
#define KMC_MAX_MASTER_KEYS 64

typedef struct kmc_protector_info {
	unsigned id;
	kmc_protector_type type;
	char detail[256];	/* host key path, or Argon2id parameters */
} kmc_protector_info;

typedef struct kmc_master_key_info {
	uint32_t id;
	int active;
	int64_t created;
} kmc_master_key_info;

typedef struct kmc_status {
	char vault_id[33];	/* 32 hex digits */
	uint32_t format_version;
	uint64_t generation;	/* of the winning keystore */
	kmc_keystore_state master, standby;
	uint64_t master_generation, standby_generation;
	size_t n_protectors;
	kmc_protector_info protectors[KMC_MAX_PROTECTORS];
	size_t n_master_keys;
	kmc_master_key_info master_keys[KMC_MAX_MASTER_KEYS];
	uint64_t items;		/* count in the item store */
	uint64_t store_generation;	/* grows with every item change */
	int pending_change;	/* an import was cut off; a writable open
				   (kmc repair) finishes or undoes it */
} kmc_status;

/*
 * kmc_vault_status - inspect the vault in dir without asking for a secret
 * or changing anything. The keystores' MACs are checked with a host
 * protector when the host key is readable (no prompt); when no protector
 * opens that way, the keystores whose checksum holds are reported
 * KMC_KS_UNVERIFIED rather than ok or stale, since a forged file can
 * carry any generation.
 * Returns 0; KMC_E_NOT_VAULT, KMC_E_PERM, KMC_E_NO_KEYSTORE,
 * KMC_E_VERSION, KMC_E_WRONG_VAULT, KMC_E_STORE, -errno.
 */
KMC_API int kmc_vault_status(const char *dir, kmc_status *ret_status)
	KMC_MUST_CHECK KMC_NONNULL(2);

/* kmc_protector_type_name - "host", "passphrase" or "unknown". */
KMC_API const char *kmc_protector_type_name(kmc_protector_type type);

/* kmc_keystore_state_name - "ok", "missing", "stale", ... */
KMC_API const char *kmc_keystore_state_name(kmc_keystore_state state);

/*
 * kmc_vault_opened_by - the id of the protector that opened the handle.
 */
KMC_API unsigned kmc_vault_opened_by(const kmc_vault *v) KMC_NONNULL(1);

/*
 * kmc_vault_repaired - which keystores kmc_vault_open() rewrote because
 * they were missing, stale or damaged: bit 0 kmc.ks, bit 1 StandbyKsf.ks.
 */
KMC_API unsigned kmc_vault_repaired(const kmc_vault *v) KMC_NONNULL(1);

/* ---------------------------------------------------------------- */
/* Importing certificates and keys (certImport)                      */

/*
 * An import stores a bundle under NAME:
 *	NAME		the key's password (kmc password get NAME)
 *	NAME/key	the private key, PKCS#8 DER
 *	NAME/cert	the server certificate and intermediates, PEM
 *	NAME/ca		the CA certificate(s), PEM
 *	NAME/crl	the CRL, PEM, when one was given
 *	NAME/meta	where the copies and the config file are
 * and writes copies (mode 0400) to the keys folder: ca.crt, server.crt,
 * server.key (the original, still encrypted) and ca.crl.
 */
#define KMC_BUNDLE_NAME_MAX 120	/* leaves room for the "/cert" suffixes */
#define KMC_KEY_PASSWORD_MAX 100	/* characters, as certImport */

#define KMC_IMPORT_REPLACE 0x1u	/* supersede an existing bundle NAME */

typedef struct kmc_import_params {
	size_t size;		/* sizeof(kmc_import_params) */
	const char *name;	/* NULL: "server" */
	const char *ca_file;
	const char *cert_file;	/* leaf first, then intermediates */
	const char *key_file;
	const char *crl_file;	/* NULL: none */
	const char *keys_dir;	/* NULL: <vault>/keys/<name> */
	const char *conf_file;	/* NULL: none */
	const kmc_secret *password;	/* the key's; NULL for a plain key */
	unsigned flags;
} kmc_import_params;

#define KMC_IMPORT_PARAMS_INIT \
	{ sizeof(kmc_import_params), NULL, NULL, NULL, NULL, NULL, NULL, \
	  NULL, NULL, 0 }

/*
 * kmc_key_file_encrypted - whether the key file at path is encrypted with
 * a password (encrypted PKCS#8, PEM or DER, or legacy "Proc-Type: 4,
 * ENCRYPTED" PEM), so a caller knows whether to ask for one. The file
 * passes the same checks as kmc_import() makes.
 * Returns 0 and sets *ret to 0 or 1; KMC_E_PERM, KMC_E_EMPTY,
 * KMC_E_TOO_LARGE, -errno.
 */
KMC_API int kmc_key_file_encrypted(const char *path, int *ret)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_import - verify everything, then store the bundle, write the copies
 * and update the config file as one transaction.
 *
 * Checked first, with nothing written on failure: every file is regular,
 * reached without symbolic links and owned by the user or root; the key's
 * mode is at most 0640; an existing keys folder is the user's and private;
 * the certificates are within their dates and the server chain leads to
 * the CA; the key opens with the password (at most 100 characters) and
 * belongs to the server certificate; the key is RSA 2048-4096, EC
 * P-256/P-384 or Ed25519; a CRL is signed by the CA, current, and does not
 * revoke the chain.
 *
 * A plain key gets a random password: its copy in the keys folder is
 * written encrypted under it, never in the clear.
 *
 * With --conf, the entries ca_crt, server_crt, server_key, crl and
 * server_key_mm (the password as a ciphertext string) are set; every other
 * line stays.
 *
 * A failure or a kill leaves the vault, the keys folder and the config
 * file as they were, or, once the vault has committed, the next writable
 * open completes the change (see kmc_vault_open()).
 *
 * Returns 0; KMC_E_READONLY, KMC_E_NAME, KMC_E_EXISTS (NAME exists and
 * KMC_IMPORT_REPLACE is not set), KMC_E_PERM, KMC_E_EMPTY,
 * KMC_E_TOO_LARGE, KMC_E_CORRUPT (unreadable material), KMC_E_VERIFY
 * (dates, chain, key mismatch, CRL), KMC_E_TYPE (key algorithm),
 * KMC_E_NEED_PASSPHRASE (an encrypted key and no password), KMC_E_UNLOCK
 * (the password does not open the key), KMC_E_STORE, -errno.
 */
KMC_API int kmc_import(kmc_vault *v, const kmc_import_params *p)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_crl_update - replace the CRL of bundle name after the same checks
 * as an import (signed by the bundle's CA, current, the server chain not
 * revoked), and its copy and config entry.
 * Returns as kmc_import(), and KMC_E_NOT_FOUND without such a bundle.
 */
KMC_API int kmc_crl_update(kmc_vault *v, const char *name,
	const char *crl_file) KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

typedef enum kmc_key_format {
	KMC_FORMAT_PEM = 1,
	KMC_FORMAT_DER = 2,
} kmc_key_format;

/*
 * kmc_key_export - the private key of bundle name as unencrypted PKCS#8,
 * PEM or DER, in guarded memory.
 * WARNING: this is the plaintext key. Write it only where the user asked.
 * Returns 0; KMC_E_NOT_FOUND, KMC_E_AUTH, KMC_E_CORRUPT, KMC_E_INVALID.
 */
KMC_API int kmc_key_export(kmc_vault *v, const char *name,
	kmc_key_format format, kmc_secret **ret) KMC_MUST_CHECK
	KMC_NONNULL(1, 2, 4);

typedef struct kmc_cert_info {
	char subject[512];
	char issuer[512];
	char sans[2048];	/* "DNS:a, IP Address:b", "" when none */
	char serial[132];	/* hex */
	char sha256[96];	/* AA:BB:... of the DER */
	int64_t not_before;	/* seconds since the epoch */
	int64_t not_after;
	char *pem;
} kmc_cert_info;

/*
 * kmc_cert_info_get - describe the certificates of bundle or item
 * name_or_file in vault v, or, when v is NULL or holds no such item, of
 * the file of that name (PEM with one or more certificates, or DER).
 * *ret_info is an array of *ret_n entries, leaf first; release it with
 * kmc_cert_info_free().
 * Returns 0; KMC_E_NOT_FOUND, KMC_E_CORRUPT, KMC_E_PERM, -errno.
 */
KMC_API int kmc_cert_info_get(kmc_vault *v, const char *name_or_file,
	kmc_cert_info **ret_info, size_t *ret_n) KMC_MUST_CHECK
	KMC_NONNULL(2, 3, 4);
KMC_API void kmc_cert_info_free(kmc_cert_info *info, size_t n);

/* ---------------------------------------------------------------- */
/* kmc: URIs and key-reference files (the OpenSSL provider's inputs) */

/*
 * A URI names a vault and the bundle whose key to load:
 *
 *	kmc://<vault-dir>?item=<name>	e.g. kmc:///var/lib/kmcvault?item=server
 *	kmc://?item=<name>		the default vault (kmc_default_vault_dir)
 *
 * <vault-dir> is absolute (so "kmc://" is followed by a third '/'), and
 * both parts are percent-decoded. The "//" keeps OpenSSL's file: loader,
 * which is tried first for "kmc:/path", from shadowing the scheme.
 *
 * A key-reference file is PEM with the label KMC KEY REFERENCE whose body
 * is the URI, after comment lines for people (PEM headers inside the
 * armour would make OpenSSL take it for a legacy encrypted key):
 *
 *	# kmcvault key reference: the key stays in the vault
 *	# vault: /var/lib/kmcvault
 *	# item: server
 *	-----BEGIN KMC KEY REFERENCE-----
 *	a21jOi8vL3Zhci9saWIva21jdmF1bHQ/aXRlbT1zZXJ2ZXI=
 *	-----END KMC KEY REFERENCE-----
 */
#define KMC_URI_MAX 4096
#define KMC_REF_LABEL "KMC KEY REFERENCE"

/*
 * kmc_uri_format - the URI of bundle name in the vault dir (made
 * absolute); *ret is malloc'd. kmc_ref_format - the key-reference file's
 * text for the same. Return 0, KMC_E_NAME, KMC_E_TOO_LARGE, KMC_E_NOMEM.
 */
KMC_API int kmc_uri_format(const char *dir, const char *name, char **ret)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);
KMC_API int kmc_ref_format(const char *dir, const char *name, char **ret)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

/*
 * kmc_uri_parse - split a kmc: URI of len bytes. *ret_dir is NULL for the
 * default vault; both are malloc'd.
 * Returns 0; KMC_E_STRING (not of the grammar above), KMC_E_NAME,
 * KMC_E_TOO_LARGE, KMC_E_NOMEM.
 */
KMC_API int kmc_uri_parse(const char *uri, size_t len, char **ret_dir,
	char **ret_name) KMC_MUST_CHECK KMC_NONNULL(1, 3, 4);

#ifdef __cplusplus
}
#endif

#endif
