/*
 * kmc.h - the public C API of kmcvault.
 *
 * A server opens a vault once at start-up, reads the secrets it needs into
 * guarded memory and closes the vault again:
 *
 *	kmc_vault *v;
 *	kmc_secret *pw;
 *	int r = kmc_vault_open("/var/lib/kmcvault", 0, &v);
 *	if (r < 0) { log("vault: %s", kmc_strerror(r)); exit(1); }
 *	r = kmc_item_get_secret(v, "server", &pw);
 *	...use kmc_secret_data(pw), kmc_secret_len(pw)...
 *	kmc_secret_free(pw);
 *	kmc_vault_close(v);
 *
 * Every call that can fail returns int: 0 on success, a negative
 * kmc_error for the library's own faults, or -errno for a system fault.
 * kmc_strerror() explains both. Output parameters (ret_*) are written only
 * on success, but where a function says otherwise (kmc_batch_begin(), the
 * audit calls' state). The library never prints.
 *
 * Handles are not shared between threads without the caller's own lock;
 * several handles on one vault in one process are fine (they share the
 * item store's LMDB environment). A vault handle must not be used in the
 * child after fork(): open a new one there. The child may close the one
 * it inherited (only its copy is released: the parent's handle and its
 * snapshot are untouched), and a handle the child opens has an
 * environment of its own.
 */
#ifndef KMC_H
#define KMC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KMC_API __attribute__((visibility("default")))
#define KMC_MUST_CHECK __attribute__((warn_unused_result))
#define KMC_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define KMC_API
#define KMC_MUST_CHECK
#define KMC_NONNULL(...)
#endif

/* Release and ABI numbers are kept apart: the soname follows KMC_ABI. */
#define KMC_VERSION_MAJOR 0
#define KMC_VERSION_MINOR 2
#define KMC_ABI 1

/*
 * System faults are passed through as -errno, which Linux keeps within
 * -4095..-1 (KMC_IS_ERRNO); the library's own faults sit far below that,
 * under KMC_E_BASE, as LMDB's MDB_* codes sit at -30799 and up, so that
 * no errno value can ever be read as one of them or the other way round.
 * The values are part of the ABI: a new code takes the next number down.
 */
#define KMC_ERRNO_MIN (-4095)
#define KMC_IS_ERRNO(err) ((err) < 0 && (err) >= KMC_ERRNO_MIN)

typedef enum kmc_error {
	KMC_OK = 0,
	KMC_E_BASE = -40000,		/* not an error: codes lie below */
	KMC_E_INVALID = -40001,		/* bad argument or unusable option */
	KMC_E_NOMEM = -40002,		/* guarded or ordinary memory
					   exhausted */
	KMC_E_AUTH = -40003,		/* a record or string failed
					   authentication */
	KMC_E_UNLOCK = -40004,		/* no protector opened the vault */
	KMC_E_NEED_PASSPHRASE = -40005,	/* only a passphrase protector fits,
					   and no passphrase was supplied */
	KMC_E_CORRUPT = -40006,		/* a keystore or record is malformed */
	KMC_E_NO_KEYSTORE = -40007,	/* neither keystore is present and
					   valid */
	KMC_E_VERSION = -40008,		/* a file format version this build
					   cannot read */
	KMC_E_NOT_VAULT = -40009,	/* the directory holds no vault */
	KMC_E_EXISTS = -40010,		/* a vault or item that must be new
					   exists */
	KMC_E_NOT_FOUND = -40011,	/* no item of that name */
	KMC_E_PERM = -40012,		/* wrong owner, unsafe mode, link or
					   file type */
	KMC_E_NAME = -40013,		/* item name empty, too long or with
					   bad bytes */
	KMC_E_TOO_LARGE = -40014,	/* input beyond the documented
					   maximum */
	KMC_E_STRING = -40015,		/* a ciphertext string is malformed */
	KMC_E_WRONG_VAULT = -40016,	/* the item store belongs to another
					   vault */
	KMC_E_READONLY = -40017,	/* a write through a handle opened
					   read-only */
	KMC_E_STORE = -40018,		/* the item store (LMDB) failed */
	KMC_E_HOST_KEY = -40019,	/* the host key is missing or not
					   this vault's */
	KMC_E_TYPE = -40020,		/* the item exists with another type */
	KMC_E_LIMIT = -40021,		/* no room for another protector or
					   master key */
	KMC_E_BUSY = -40022,		/* another writer holds the vault */
	KMC_E_EMPTY = -40023,		/* an empty secret where one is
					   required */
	KMC_E_VERIFY = -40024,		/* material failed a check: dates,
					   chain, key match, CRL */
	KMC_E_P11_MODULE = -40025,	/* PKCS#11 module not found or not
					   loadable */
	KMC_E_P11_TOKEN = -40026,	/* no token matches the URI */
	KMC_E_P11_PIN = -40027,		/* wrong PIN */
	KMC_E_P11_PIN_LOCKED = -40028,	/* the token's user PIN is locked */
	KMC_E_P11_KEY = -40029,		/* the token key is missing or does
					   not fit */
	KMC_E_P11_KEY_TYPE = -40030,	/* the token key is of the wrong
					   type, or could leave the token */
	KMC_E_P11 = -40031,		/* another token error (detail names
					   it) */
	KMC_E_PENDING = -40032,		/* a change committed but not yet
					   finished: a writable open (kmc
					   repair) finishes it */
	KMC_E_IN_USE = -40033,		/* a master key still seals records
					   or strings (kmc mk rewrap) */
	KMC_E_ROLLBACK = -40034,	/* the item store, keystores or
					   folder are older than the vault
					   last was (detail names what
					   disagrees; kmc repair
					   --accept-rollback accepts a
					   deliberate restore) */
	KMC_E_AUDIT = -40035,		/* the audit log cannot be written,
					   or fails its chain (detail names
					   the file and record) */
} kmc_error;

/*
 * kmc_strerror - a short English description of a return code.
 * Accepts kmc_error values and negated errno values (strerror's text for
 * those). Never NULL.
 */
KMC_API const char *kmc_strerror(int err);

/*
 * kmc_escape - s, made safe to print, into buf of size bytes: every byte
 * that is not printable text comes out as a C escape (\n, \r, \t, \\,
 * and \xNN for other control bytes, DEL, C1 controls and bytes that are
 * not well-formed UTF-8); other UTF-8 text is kept. The result is
 * NUL-terminated and cut at a whole escape when it does not fit; 4 * the
 * length of s + 1 always fits. Returns buf.
 *
 * WARNING: kmc_error_detail() and the names a caller logs hold text that
 * others chose (item names, paths, URIs, certificate subjects): escape it
 * before it reaches a log or a terminal, or a newline in it forges a line.
 */
KMC_API char *kmc_escape(const char *s, char *buf, size_t size)
	KMC_NONNULL(1, 2);

/*
 * kmc_error_detail - what the last failing call in this thread was doing:
 * the file or item and the fault, e.g. "/var/lib/kmcvault/kmc.ks: mode
 * 0644 lets others read it; chmod 600 it". "" when it left no detail. Valid
 * until the next call into the library from this thread.
 */
KMC_API const char *kmc_error_detail(void);

/* kmc_version - the release as "MAJOR.MINOR[-describe]". */
KMC_API const char *kmc_version(void);

/* ---------------------------------------------------------------- */
/* Guarded secrets                                                   */

/*
 * A kmc_secret holds plaintext key material or a password in guarded
 * memory: never on a page of the ordinary heap, guard pages around it,
 * locked against swap where the system allows, wiped when freed, and a
 * write past its end or after its free stops the process (abort). Up to
 * 4 KiB it is a slot of a region shared with other secrets, beyond that
 * pages of its own from sodium_malloc(). The bytes are followed by one NUL
 * that is not counted in the length, so a password can be passed to APIs
 * that take C strings. Secrets may be allocated and freed from any thread.
 */
typedef struct kmc_secret kmc_secret;

/*
 * kmc_secret_new - allocate a zeroed, writable secret of len bytes.
 * Returns 0, KMC_E_NOMEM, or KMC_E_TOO_LARGE past 16 MiB.
 */
KMC_API int kmc_secret_new(size_t len, kmc_secret **ret_secret)
	KMC_MUST_CHECK KMC_NONNULL(2);

/* kmc_secret_data - the bytes; writable until the secret is handed to
 * the library. kmc_secret_len - their count. */
KMC_API unsigned char *kmc_secret_data(const kmc_secret *s) KMC_NONNULL(1);
KMC_API size_t kmc_secret_len(const kmc_secret *s) KMC_NONNULL(1);

/*
 * kmc_secret_shrink - set a smaller length (after reading fewer bytes than
 * were allocated). The bytes past the new length are wiped.
 * Returns 0 or KMC_E_INVALID if len is larger than the current length.
 */
KMC_API int kmc_secret_shrink(kmc_secret *s, size_t len)
	KMC_MUST_CHECK KMC_NONNULL(1);

/* kmc_secret_free - wipe and release; NULL is accepted. */
KMC_API void kmc_secret_free(kmc_secret *s);

/*
 * kmc_secret_read_fd - read a secret from a descriptor until end of file,
 * at most max bytes, and never more than 1 MiB. One trailing "\n" (or "\r\n") is removed, as a
 * password file written by echo has one. A non-blocking descriptor (a
 * pipe whose O_NONBLOCK the caller's parent set) is waited on, as a
 * blocking one would be.
 *
 * Returns 0; KMC_E_TOO_LARGE if more than max bytes follow; KMC_E_EMPTY if
 * nothing is left after the newline is removed; KMC_E_INVALID if max is 0;
 * KMC_E_NOMEM when guarded memory runs out; -errno on read errors.
 */
KMC_API int kmc_secret_read_fd(int fd, size_t max, kmc_secret **ret_secret)
	KMC_MUST_CHECK KMC_NONNULL(3);

/*
 * kmc_secret_read_file - kmc_secret_read_fd() on a file opened without
 * following a final symbolic link. The file must be a regular file owned by
 * the effective user (or root) that neither group nor others can read or
 * write, as OpenSSH requires of a private key.
 *
 * Returns as kmc_secret_read_fd(), and KMC_E_PERM for a link, another file
 * type, another owner or an unsafe mode.
 */
KMC_API int kmc_secret_read_file(const char *path, size_t max,
	kmc_secret **ret_secret) KMC_MUST_CHECK KMC_NONNULL(1, 3);

/*
 * kmc_openssl_wipe_frees - make OpenSSL wipe every block it frees from
 * now on. kmcvault wipes what it gets back from OpenSSL, but OpenSSL 3.0
 * itself frees copies of a private key without wiping them while it
 * decodes or encodes one (under kmc_key_load() and kmc_ssl_ctx_use()
 * too), and those stay in the process's free heap after the EVP_PKEY is
 * freed, for a core or a memory read to find. This installs an allocator
 * (CRYPTO_set_mem_functions()) whose free and realloc wipe the block
 * first. The kmc command calls it first thing; a server that wants the
 * same calls it at the top of main(), before anything uses OpenSSL.
 *
 * WARNING: OpenSSL accepts a new allocator only before its first
 * allocation, and then for the whole process: a library or a program
 * that set its own loses it.
 *
 * Returns 0 (a second call too), or KMC_E_INVALID when OpenSSL has
 * allocated already (nothing is changed).
 */
KMC_API int kmc_openssl_wipe_frees(void) KMC_MUST_CHECK;

/* ---------------------------------------------------------------- */
/* Vaults                                                            */

typedef struct kmc_vault kmc_vault;

/*
 * A passphrase callback: write at most size bytes of the passphrase into
 * buf (guarded memory owned by the library) and return its length, or a
 * negative value to give up, which the library reports as
 * KMC_E_NEED_PASSPHRASE. Called at most once per kmc_vault_open_ex(), and
 * only when a passphrase protector is the one left to try.
 */
typedef int (*kmc_passphrase_cb)(char *buf, size_t size, void *arg);

/* Open flags. */
#define KMC_OPEN_WRITE 0x1u	/* take the writer lock; repair the twin */
#define KMC_OPEN_NOWAIT 0x2u	/* with WRITE: fail with KMC_E_BUSY rather
				   than wait for another writer */
#define KMC_OPEN_ACCEPT_ROLLBACK 0x4u	/* with WRITE: where the item
				   store, keystores or folder are older
				   than the binding says (KMC_E_ROLLBACK),
				   bind the vault to what is on disk now
				   instead of refusing (kmc repair
				   --accept-rollback) */

/*
 * Options for kmc_vault_open_ex() and kmc_vault_init(). Start from
 * KMC_OPTIONS_INIT so that fields added later read as unset. As for
 * every struct with a size: a field set past what the library knows
 * (a caller built against a newer kmc.h) is refused with
 * KMC_E_INVALID, never ignored; so is a size left 0, which would have
 * every field read as unset.
 */
typedef struct kmc_options {
	size_t size;		/* sizeof(kmc_options) as the caller knew it */
	const char *host_key;	/* host key file; NULL: $KMC_HOST_KEY, else
				   the path recorded in the slot, else the
				   default (see kmc_default_host_key()) */
	kmc_passphrase_cb passphrase_cb;
	void *passphrase_arg;
	const kmc_secret *passphrase;	/* used instead of the callback */
	/* Argon2id cost for a new passphrase protector; 0: the defaults
	   (3 passes over 256 MiB). Below 8 MiB is refused. */
	uint32_t argon2_ops;
	uint64_t argon2_mem;
	/* The PIN of a PKCS#11 token: this secret, else the URI's
	   pin-value or pin-source, else the callback (a prompt). */
	const kmc_secret *pin;
	kmc_passphrase_cb pin_cb;
	void *pin_arg;
	/* A typed recovery key: tried after host and token protectors. */
	const kmc_secret *recovery_key;
	/* For a new pkcs11 or tpm protector: the RFC 7512 URI of the token
	   key, whether to make that key when absent, and a mechanism
	   ("aes-cbc", "aes-gcm", "rsa-oaep"; NULL: chosen for the token). */
	const char *pkcs11_uri;
	int pkcs11_create_key;
	const char *pkcs11_mechanism;
} kmc_options;

/* Fields a caller does not set read as unset. */
#define KMC_OPTIONS_INIT { .size = sizeof(kmc_options) }

/*
 * kmc_vault_open - open the vault in dir with the host protector or, where
 * none fits, fail with KMC_E_NEED_PASSPHRASE. dir NULL means
 * kmc_default_vault_dir().
 *
 * The directory must belong to the effective user and not be writable by
 * group or others; keystores and the item store must belong to the user
 * and be private (mode 0600 or stricter). Of the two keystores the newest
 * valid one wins. With KMC_OPEN_WRITE a missing, stale or damaged twin is
 * rewritten from it, and the handle may change the vault.
 *
 * Returns 0; KMC_E_ROLLBACK (the item store, keystores or folder are
 * older than the vault last was), KMC_E_NOT_VAULT, KMC_E_PERM,
 * KMC_E_NO_KEYSTORE (both keystores missing or damaged), KMC_E_VERSION,
 * KMC_E_UNLOCK, KMC_E_NEED_PASSPHRASE, KMC_E_HOST_KEY, KMC_E_WRONG_VAULT,
 * KMC_E_STORE, KMC_E_BUSY, KMC_E_PENDING (a restore is under way, or one
 * was cut off halfway: a writable open, kmc repair, finishes it),
 * KMC_E_NOMEM, -errno; with dir NULL also kmc_default_vault_dir()'s
 * KMC_E_TOO_LARGE and KMC_E_INVALID.
 */
KMC_API int kmc_vault_open(const char *dir, unsigned flags,
	kmc_vault **ret_vault) KMC_MUST_CHECK KMC_NONNULL(3);

/* kmc_vault_open_ex - as kmc_vault_open(), with options (may be NULL). */
KMC_API int kmc_vault_open_ex(const char *dir, unsigned flags,
	const kmc_options *opts, kmc_vault **ret_vault)
	KMC_MUST_CHECK KMC_NONNULL(4);

/* kmc_vault_close - release the handle and wipe its keys; NULL is fine. */
KMC_API void kmc_vault_close(kmc_vault *v);

/*
 * kmc_token_sessions_close - log out of every PKCS#11 token this process
 * opened a vault through, close the sessions and unload the modules.
 * Otherwise a token's module, its logged-in session and the key handle
 * are kept from one open to the next until exit (the PIN is not kept),
 * so that a server that reopens its vault does not log in again. The
 * environment variable KMC_TOKEN_SESSIONS=close drops each after use.
 * Not needed after fork(): the child starts over by itself.
 */
KMC_API void kmc_token_sessions_close(void);

/*
 * kmc_vault_generation - a counter that grows whenever an item or a
 * protector changes (a repair that only rewrites a twin keystore does not
 * count), read without decrypting anything, so a long-running server can
 * poll it and reload. A restore (kmc_vault_restore()) puts another item
 * store in place of the one v opened, which v goes on reading as it was:
 * from then on this fails with KMC_E_STORE (the detail says items.mdb was
 * replaced); close v and open the vault again.
 * Returns 0 and sets *ret; KMC_E_STORE, -errno.
 */
KMC_API int kmc_vault_generation(kmc_vault *v, uint64_t *ret)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_vault_snapshot - until kmc_vault_snapshot_end(), every read through
 * v sees the vault as it was at this call: several items read as one
 * version of it, whatever other processes and handles change meanwhile
 * (a certificate and the key it goes with, never one of each version).
 * Hold it for a few reads, not for a handle's life: the version it
 * holds keeps its pages from reuse, and the item store grows beside a
 * writer while it is held. A change through v meanwhile is refused
 * (KMC_E_BUSY), and so is the load of a key on a token that another
 * process replaced since (the kmc provider reads the vault as it is now).
 * Returns 0; KMC_E_BUSY (one is held already), KMC_E_STORE.
 */
KMC_API int kmc_vault_snapshot(kmc_vault *v) KMC_MUST_CHECK KMC_NONNULL(1);
/* kmc_vault_snapshot_end - reads see the vault as it is again. Called
 * from a callback of kmc_item_list() (or another list) on v, whose walk
 * reads the snapshot, it ends it when that list returns. */
KMC_API void kmc_vault_snapshot_end(kmc_vault *v) KMC_NONNULL(1);

/* kmc_vault_dir - the directory the handle was opened on: the handle's
 * own string, valid until kmc_vault_close(). */
KMC_API const char *kmc_vault_dir(const kmc_vault *v) KMC_NONNULL(1);

/*
 * kmc_default_vault_dir - $KMC_VAULT if set, else /var/lib/kmcvault for
 * root, else $XDG_DATA_HOME/kmcvault or ~/.local/share/kmcvault.
 * kmc_default_host_key - $KMC_HOST_KEY if set, else /etc/kmcvault/host.key
 * for root, else $XDG_CONFIG_HOME/kmcvault/host.key or
 * ~/.config/kmcvault/host.key.
 * Both return 0 and write a NUL-terminated path into buf, or
 * KMC_E_TOO_LARGE if it does not fit (an over-long variable),
 * KMC_E_INVALID without a home; kmc_error_detail() names the cause.
 * On failure buf holds "", never the part of a path that fits (which
 * would name another folder or file).
 * WARNING: on failure there is no vault to fall back to; never use "."
 * or another guess in its place.
 */
KMC_API int kmc_default_vault_dir(char *buf, size_t size)
	KMC_MUST_CHECK KMC_NONNULL(1);
KMC_API int kmc_default_host_key(char *buf, size_t size)
	KMC_MUST_CHECK KMC_NONNULL(1);

/* ---------------------------------------------------------------- */
/* Items                                                             */

typedef enum kmc_item_type {
	KMC_ITEM_PASSWORD = 1,	/* a password that unlocks something else */
	KMC_ITEM_SECRET = 2,	/* any other standalone secret */
	KMC_ITEM_PRIVATE_KEY = 3,	/* a private key as PKCS#8 DER */
	KMC_ITEM_CERTIFICATE = 4,	/* certificates, PEM */
	KMC_ITEM_CRL = 5,	/* a CRL, PEM */
	KMC_ITEM_BUNDLE = 6,	/* where an import's copies went */
	KMC_ITEM_TRUST = 7,	/* a trust store (kmc/admin.h) */
	KMC_ITEM_CA = 8,	/* a CA's record (kmc/admin.h) */
	KMC_ITEM_TOKEN_KEY = 9,	/* where a key that lives on a PKCS#11
				   token is: no private key inside */
} kmc_item_type;

/* Limits, also enforced on what is read back from disk. */
#define KMC_NAME_MAX 128	/* bytes in an item name */
#define KMC_ITEM_MAX (1024u * 1024u)	/* plaintext bytes in one item */

/*
 * Item names are 1 to KMC_NAME_MAX bytes of [A-Za-z0-9._@:/+-], not
 * starting with '.' or '/', so they are safe in file names, URIs and logs.
 */

/*
 * kmc_item_get_secret - decrypt the item name into guarded memory.
 *
 * Returns 0; KMC_E_NAME, KMC_E_NOT_FOUND, KMC_E_AUTH (the record was
 * altered, moved under another name or copied from another vault),
 * KMC_E_ROLLBACK (the item store disagrees with its digest about this
 * item: an older record put back, or one added, altered or removed
 * behind kmc's back; the detail names the item), KMC_E_CORRUPT,
 * KMC_E_STORE, KMC_E_NOMEM.
 */
KMC_API int kmc_item_get_secret(kmc_vault *v, const char *name,
	kmc_secret **ret_secret) KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

/*
 * kmc_item_get - as kmc_item_get_secret(), and fail with KMC_E_TYPE
 * unless the item has the given type.
 */
KMC_API int kmc_item_get(kmc_vault *v, const char *name, kmc_item_type type,
	kmc_secret **ret_secret) KMC_MUST_CHECK KMC_NONNULL(1, 2, 4);

/*
 * kmc_item_put - seal data under the active master key as item name,
 * replacing an item of the same name and type (its version grows by one).
 * The vault must be open with KMC_OPEN_WRITE.
 *
 * A new name beginning "ca:" or "trust:", the vault's own names for its
 * CAs and trust stores, is refused (KMC_E_NAME), but for
 * "trust:STORE/truststore-password"; an existing item is replaced.
 *
 * Returns 0; KMC_E_READONLY, KMC_E_NAME, KMC_E_INVALID (unknown type),
 * KMC_E_EMPTY, KMC_E_TOO_LARGE, KMC_E_TYPE (the name holds another type),
 * KMC_E_BUSY (a snapshot is held on v or a batch is open on it),
 * KMC_E_AUDIT (the change's audit record cannot be written), KMC_E_STORE,
 * KMC_E_NOMEM.
 */
KMC_API int kmc_item_put(kmc_vault *v, const char *name, kmc_item_type type,
	const void *data, size_t len) KMC_MUST_CHECK KMC_NONNULL(1, 2, 4);

/*
 * kmc_item_remove - delete item name with its superseded versions. When
 * name is an imported bundle (see kmc/admin.h) or a trust store
 * (trust:STORE), the NAME/... items it owns go too, and a bundle's keys
 * on a PKCS#11 token are destroyed after the commit (kmc_token_note()).
 * Returns 0; KMC_E_READONLY, KMC_E_NAME, KMC_E_NOT_FOUND, KMC_E_BUSY and
 * KMC_E_AUDIT (as kmc_item_put()), KMC_E_STORE.
 */
KMC_API int kmc_item_remove(kmc_vault *v, const char *name)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * Batches: many item writes in one transaction, all or nothing, one
 * commit (and one sync) for all of them. Each put is kmc_item_put()'s
 * write with its rules; a name put twice keeps the later value.
 *
 *	kmc_batch *b;
 *	if (kmc_batch_begin(v, &b) == 0) {
 *		for (...)
 *			if (kmc_batch_put(b, name, type, data, len) < 0)
 *				break;
 *		r = kmc_batch_commit(b);	(or kmc_batch_abort(b))
 *	}
 *
 * While a batch is open, its handle writes only through it: another
 * write on that handle fails with KMC_E_BUSY. Reads go on and see the
 * vault as it was before the batch, and so do other handles and
 * processes, which may open the vault meanwhile without waiting for the
 * commit. Other writers wait for it.
 * Commit or abort a batch before closing its handle, in the thread that
 * began it (LMDB ties a write transaction to its thread).
 */
typedef struct kmc_batch kmc_batch;

#define KMC_BATCH_ITEMS_MAX 4000000u	/* puts in one batch */
#define KMC_BATCH_PASSWORD_MAX 4096	/* bytes, in kmc_batch_read_passwords */

/*
 * kmc_batch_begin - start a batch on v (opened with KMC_OPEN_WRITE). On
 * failure *ret_batch is set to NULL, the one output parameter written
 * then, so that kmc_batch_abort() of it in a cleanup path does nothing.
 * Returns 0; KMC_E_READONLY, KMC_E_BUSY (a batch is already open on v),
 * KMC_E_STORE, KMC_E_NOMEM.
 */
KMC_API int kmc_batch_begin(kmc_vault *v, kmc_batch **ret_batch)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_batch_put - as kmc_item_put(), inside batch b. A failed put spoils
 * the batch: every later put and the commit fail with its error, and
 * nothing of the batch is written.
 * Returns 0; kmc_item_put()'s errors, KMC_E_TOO_LARGE past
 * KMC_BATCH_ITEMS_MAX puts.
 */
KMC_API int kmc_batch_put(kmc_batch *b, const char *name,
	kmc_item_type type, const void *data, size_t len)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 4);

/*
 * kmc_batch_read_passwords - put every password that the text read from
 * fd until its end holds into b, as KMC_ITEM_PASSWORD items. The format
 * (docs/format.md): one item a line, "NAME PASSWORD": the name, one space
 * or tab, the password (the rest of the line, 1 to KMC_BATCH_PASSWORD_MAX
 * bytes, no NUL, not ending in "\r"); empty lines and lines beginning
 * with '#' are skipped. The bytes go through guarded memory only. A
 * non-blocking fd is waited on, as a blocking one would be.
 * *ret_n (may be NULL) counts the items put. A bad line spoils the batch
 * (see kmc_batch_put()), and kmc_error_detail() names its number and the
 * fault, never its bytes.
 * Returns 0; KMC_E_INVALID, KMC_E_NAME, KMC_E_EMPTY, KMC_E_TOO_LARGE (a
 * bad line), kmc_batch_put()'s errors, -errno (a failed read).
 */
KMC_API int kmc_batch_read_passwords(kmc_batch *b, int fd, uint64_t *ret_n)
	KMC_MUST_CHECK KMC_NONNULL(1);

/*
 * kmc_batch_read_passwords_file - as kmc_batch_read_passwords(), from the
 * file path, which must be a regular file (not a link) of the user or
 * root, not readable or writable by group or others (mode 0600 or
 * stricter), as a password file.
 * Returns 0; as kmc_batch_read_passwords(), and KMC_E_PERM, -ENOENT.
 */
KMC_API int kmc_batch_read_passwords_file(kmc_batch *b, const char *path,
	uint64_t *ret_n) KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_batch_commit - write every put of b at once, and free b. After a
 * failed put, abort instead and return that put's error.
 * Returns 0; the spoiling put's error, KMC_E_STORE, KMC_E_AUDIT (as
 * kmc_item_put()), KMC_E_INVALID (b NULL, as a failed kmc_batch_begin()
 * leaves it: nothing is done), -errno.
 */
KMC_API int kmc_batch_commit(kmc_batch *b) KMC_MUST_CHECK;

/* kmc_batch_abort - drop every put of b and free b (NULL: nothing). */
KMC_API void kmc_batch_abort(kmc_batch *b);

typedef struct kmc_item_info {
	const char *name;	/* valid during the callback only */
	kmc_item_type type;
	uint32_t version;
	uint32_t mk_id;		/* the master key that sealed it */
	int64_t created;	/* seconds since the epoch */
	size_t size;		/* plaintext bytes */
	uint32_t old_versions;	/* superseded versions still kept */
} kmc_item_info;

/*
 * kmc_item_prune - delete only the superseded versions of name, which an
 * import with KMC_IMPORT_REPLACE keeps. *ret_n (may be NULL) counts them.
 * Keys on a PKCS#11 token that only those versions named are destroyed
 * after the commit (kmc_token_note()).
 * Returns 0; KMC_E_READONLY, KMC_E_NAME, KMC_E_BUSY and KMC_E_AUDIT (as
 * kmc_item_put()), KMC_E_STORE.
 */
KMC_API int kmc_item_prune(kmc_vault *v, const char *name, size_t *ret_n)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_item_list - call cb for each item in name order, without decrypting
 * any. A non-zero return from cb stops the walk and is returned.
 * Returns 0, cb's value, KMC_E_CORRUPT, KMC_E_ROLLBACK (the item store's
 * digest was removed, or disagrees with what the vault bound: the detail
 * says which), KMC_E_STORE or KMC_E_NOMEM.
 */
KMC_API int kmc_item_list(kmc_vault *v,
	int (*cb)(const kmc_item_info *info, void *arg), void *arg)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_item_get_version - as kmc_item_get(), of version version of item
 * name: the current one, or one an import with KMC_IMPORT_REPLACE (or a
 * promote) kept. Returns as kmc_item_get(); KMC_E_NOT_FOUND when that
 * version is not kept. A damaged current record does not hide an old
 * version: its error is returned only when no old version of that
 * number is kept.
 */
KMC_API int kmc_item_get_version(kmc_vault *v, const char *name,
	uint32_t version, kmc_item_type type, kmc_secret **ret_secret)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 5);

/* kmc_item_type_name - "password", "secret", ..., "token-key" or
 * "unknown" (static strings: never freed). */
KMC_API const char *kmc_item_type_name(kmc_item_type type);

/* ---------------------------------------------------------------- */
/* Ciphertext strings                                                */

/*
 * A ciphertext string "kmc:v1:<mk-id>:<base64url>" holds a short secret in
 * a configuration file. It decrypts only through the vault that made it,
 * with the master key it names.
 */
#define KMC_STRING_SECRET_MAX 4096

/*
 * kmc_string_encrypt - seal a secret of 1 to KMC_STRING_SECRET_MAX bytes
 * with the active master key; *ret_string is a NUL-terminated string to be
 * released with free().
 * Returns 0; KMC_E_EMPTY, KMC_E_TOO_LARGE, KMC_E_NOMEM.
 */
KMC_API int kmc_string_encrypt(kmc_vault *v, const void *secret, size_t len,
	char **ret_string) KMC_MUST_CHECK KMC_NONNULL(1, 2, 4);

/*
 * kmc_string_decrypt - open a ciphertext string into guarded memory.
 * Surrounding white space is ignored.
 * Returns 0; KMC_E_STRING (not of the documented form), KMC_E_TOO_LARGE
 * (longer than 8 KiB, more than any string holds), KMC_E_VERSION,
 * KMC_E_NOT_FOUND (a master key this vault does not have), KMC_E_AUTH
 * (altered, or made by another vault), KMC_E_NOMEM.
 */
KMC_API int kmc_string_decrypt(kmc_vault *v, const char *string,
	kmc_secret **ret_secret) KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

#ifdef __cplusplus
}
#endif

#endif
