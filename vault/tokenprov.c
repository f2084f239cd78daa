/*
 * tokenprov.c - a bundle's token key through the C API (kmc_key_load(),
 * kmc_ssl_ctx_use()): an EVP_PKEY of the kmc provider, whose private
 * operations run on the token; the provider's code signs and decrypts,
 * not this library's, so a server that links libkmcvault gets exactly
 * the key object an unmodified server gets from a kmc: URI.
 *
 * Steps, the cheap and telling checks first:
 *   1. the token: the key the record names is there, the one recorded,
 *      and the PIN (the URI's pin-source) logs in, so a server starting
 *      without its token, or with a wrong PIN, fails at start with the
 *      bundle, the token and the object named and a kmc_error of its
 *      own, before kmc.so is loaded (the provider checks it again, for
 *      the servers that load it by themselves);
 *   2. the provider, kmc.so, in the caller's library context: taken as
 *      it is when already loaded (a server's openssl.cnf, -provider
 *      kmc), else loaded from OPENSSL_MODULES or the directory it is
 *      installed to (KMC_MODULESDIR, fixed at build time). Only here:
 *      a process that never meets a token key never loads it;
 *   3. the key through OSSL_STORE "kmc://<vault>?item=<name>" in that
 *      context. The provider opens the vault again, with this
 *      library's code (offered to it first: vault_offer_provider() below)
 *      where it has not loaded its own vault half: that works for vaults
 *      that open without a prompt (host, pkcs11 and tpm protectors); a
 *      passphrase-only vault is refused here rather than prompting on
 *      a server's terminal.
 *
 * Order of providers (provider/tokenkey.c): OpenSSL 3.0 answers a fetch
 * by name with the implementation it stored first. Before kmc.so is
 * loaded, RSA and EC (key management, signatures, RSA decryption) are
 * fetched once in the context, which activates its fallback (default)
 * provider when it has no other and stores those algorithms ahead of
 * kmc's: keys and handshakes that are not the token's run as before.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <kmc/admin.h>
#include "tokenkey.h"
#include "provtable.h"

#ifndef KMC_MODULESDIR
#define KMC_MODULESDIR "/usr/lib/ossl-modules"
#endif

#define PROVIDER_FILE "kmc.so"
/* What kmc.so answers for OSSL_PROV_PARAM_NAME (provider/kmcprov.c). */
#define PROVIDER_NAME "kmcvault key provider"

/* One loader at a time: two threads must not load kmc.so twice. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
/* kmc.so as loaded here into the default context, given back at exit. */
static OSSL_PROVIDER *default_prov;

/*
 * OpenSSL 3.0 frees a provider loaded by OSSL_PROVIDER_try_load() only
 * once it is unloaded as well: done at exit for the default context,
 * before OpenSSL's own clean-up (registered earlier, so run later). A
 * context of the caller's may be freed at any time, after which the
 * handle must not be touched: there the provider stays, and OpenSSL
 * keeps some hundreds of bytes of it after OSSL_LIB_CTX_free().
 */
static void unload_at_exit(void)
{
	if (default_prov)
		(void)OSSL_PROVIDER_unload(default_prov);
	default_prov = NULL;
}

/* OpenSSL's last error with the text a provider gave it (kmc.so puts
   the vault and item there). */
static const char *ossl_text(void)
{
	static _Thread_local char buf[768];
	const char *data = NULL;
	int flags = 0;
	unsigned long e = ERR_peek_last_error_data(&data, &flags);
	const char *why;

	if (!e)
		return "no further detail from OpenSSL";
	why = ERR_reason_error_string(e);
	if (data && (flags & ERR_TXT_STRING) && data[0])
		snprintf(buf, sizeof(buf), "%s%s%s", why ? why : "",
			why ? ": " : "", data);
	else
		ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

static int is_kmc(OSSL_PROVIDER *p, void *arg)
{
	const char *name = NULL;
	OSSL_PARAM q[] = {
		OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, &name, 0),
		OSSL_PARAM_END,
	};

	if (OSSL_PROVIDER_get_params(p, q) == 1 && name &&
	    strcmp(name, PROVIDER_NAME) == 0) {
		*(int *)arg = 1;
		return 0;	/* found: stop */
	}
	return 1;
}

/* The other providers' RSA and EC, stored ahead of kmc's (see above). */
static void others_first(OSSL_LIB_CTX *libctx, const char *propq)
{
	static const char *const km[] = { "RSA", "EC" };
	static const char *const sig[] = { "RSA", "ECDSA" };

	ERR_set_mark();
	for (size_t i = 0; i < 2; i++) {
		EVP_KEYMGMT_free(EVP_KEYMGMT_fetch(libctx, km[i], propq));
		EVP_SIGNATURE_free(EVP_SIGNATURE_fetch(libctx, sig[i], propq));
	}
	EVP_ASYM_CIPHER_free(EVP_ASYM_CIPHER_fetch(libctx, "RSA", propq));
	ERR_pop_to_mark();
}

/* Where kmc.so is looked for: $OPENSSL_MODULES, as OpenSSL itself reads
   it, else where make install put it. */
static const char *modules_dir(const char **ret_how)
{
	const char *env = secure_getenv("OPENSSL_MODULES");

	if (env && env[0]) {
		*ret_how = "from $OPENSSL_MODULES";
		return env;
	}
	*ret_how = "where kmcvault installs it; set OPENSSL_MODULES to the "
		"folder that holds kmc.so if it is elsewhere";
	return KMC_MODULESDIR;
}

/*
 * kmc.so active in libctx: found, or loaded now. A provider loaded here
 * stays for the life of libctx (or the process), as the keys it makes
 * refer to it.
 */
static int provider_ready_locked(OSSL_LIB_CTX *libctx, const char *propq,
	const char *name)
{
	char path[PATH_MAX];
	const char *how, *dir = modules_dir(&how);
	OSSL_PROVIDER *p;
	void *dl;
	int found = 0, n;

	/* Also activates the fallback (default) provider of a context
	   nothing was loaded into, ahead of kmc. */
	(void)OSSL_PROVIDER_do_all(libctx, is_kmc, &found);
	if (found)
		return 0;
	others_first(libctx, propq);
	n = snprintf(path, sizeof(path), "%s/%s", dir, PROVIDER_FILE);
	if (n < 0 || (size_t)n >= sizeof(path))
		return kmc_detail(KMC_E_TOO_LARGE, "the key of %s lives on a "
			"PKCS#11 token and needs the kmc provider, but the folder "
			"%s (%s) is too long a path", name, dir, how);
	if (access(path, R_OK) != 0) {
		int e = errno;

		return kmc_detail(-e, "the key of %s lives on a PKCS#11 token "
			"and needs the kmc provider: %s (%s): %s", name, path, how,
			strerror(e));
	}
	/* The loader's own words first: OpenSSL's error keeps only the
	   path. Opened here, and closed again below once OpenSSL holds it. */
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl || !dlsym(dl, "OSSL_provider_init")) {
		const char *why = dl ? "it has no OSSL_provider_init: not an "
			"OpenSSL provider" : dlerror();

		if (dl)
			(void)dlclose(dl);
		return kmc_detail(KMC_E_INVALID, "the key of %s lives on a "
			"PKCS#11 token and needs the kmc provider, and %s (%s) "
			"does not load: %s", name, path, how,
			why ? why : "unknown reason");
	}
	/* By path: a name would be looked for in the context's own search
	   path, which is the application's to set. Fallbacks are kept: a
	   context that had none loaded keeps its default provider. */
	p = OSSL_PROVIDER_try_load(libctx, path, 1);
	(void)dlclose(dl);
	if (!p)
		return kmc_detail(KMC_E_INVALID, "the key of %s lives on a "
			"PKCS#11 token and needs the kmc provider, and %s (%s) "
			"does not load: %s", name, path, how, ossl_text());
	if (!libctx || libctx == OSSL_LIB_CTX_get0_global_default()) {
		default_prov = p;
		(void)atexit(unload_at_exit);
	}
	return 0;
}

static int provider_ready(OSSL_LIB_CTX *libctx, const char *propq,
	const char *name)
{
	int r;

	/* The configuration first, where it may load kmc itself (an
	   openssl.cnf naming kmc.so): found then, not loaded twice. */
	if (!libctx || libctx == OSSL_LIB_CTX_get0_global_default())
		(void)OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
	pthread_mutex_lock(&load_lock);
	r = provider_ready_locked(libctx, propq, name);
	pthread_mutex_unlock(&load_lock);
	return r;
}

/*
 * This library's vault code offered to every kmc.so in the process
 * (provtable.h): the provider then opens the vault with it, through the
 * same LMDB environment as the caller's handle, rather than loading
 * kmc/vault.so, a second copy whose environment on the same items.mdb
 * would reset LMDB's reader table under the caller's and, at its close,
 * drop the process's locks on it (proclocks.c). A kmc.so of another
 * build refuses it and opens vaults with its own vault half, and
 * store.c refuses such an open while this library has the vault open.
 */
#define OFFER_MAX 4
struct offer_names {
	char *name[OFFER_MAX];	/* kmc.so's, copied: opened after the walk */
	int n;
	const char *self;	/* the object this code is in */
	int other;		/* another copy of the vault code may be loaded */
};

static const char *base_name(const char *p)
{
	const char *b = strrchr(p, '/');

	return b ? b + 1 : p;
}

/* The vault code comes in kmc/vault.so and in libkmcvault.so; a
   program may also have it linked in, which has no name of its own. */
static int vault_code_name(const char *n)
{
	return strcmp(base_name(n), "vault.so") == 0 ||
		strncmp(base_name(n), "libkmcvault.so", 14) == 0;
}

static int offer_find(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct offer_names *o = arg;
	const char *n = info->dlpi_name;

	(void)size;
	if (!n || !*n)
		return 0;
	if (vault_code_name(n) && (!o->self || strcmp(n, o->self) != 0))
		o->other = 1;
	/* Not found when the copy fails: no worse than an older kmc.so. */
	if (o->n < OFFER_MAX && strcmp(base_name(n), PROVIDER_FILE) == 0 &&
	    (o->name[o->n] = strdup(n)))
		o->n++;
	return 0;
}

int vault_offer_provider(void)
{
	struct offer_names o = { .n = 0 };
	Dl_info self;
	int in_vault_so;

	if (dladdr((void *)vault_offer_provider, &self) && self.dli_fname)
		o.self = self.dli_fname;
	/* This code in kmc/vault.so: the program may have its own copy
	   linked in, which no name shows; and kmc.so has this table
	   already, which it took from here. */
	in_vault_so = o.self && strcmp(base_name(o.self), "vault.so") == 0;
	o.other = in_vault_so;
	/* Names first, opened after: not dlopen under the loader's
	   iteration. */
	(void)dl_iterate_phdr(offer_find, &o);
	for (int i = 0; i < o.n; i++) {
		void *h = in_vault_so ? NULL : dlopen(o.name[i],
			RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
		void *sym = h ? dlsym(h, KMCPROV_OFFER_SYM) : NULL;
		kmcprov_vault_offer_fn *offer;

		if (sym) {
			memcpy(&offer, &sym, sizeof(offer));
			(void)offer(vault_provider_table());
		}
		if (h)
			(void)dlclose(h);
		free(o.name[i]);
	}
	return o.other;
}

/* The token holds the key the record names (the one recorded, not one
   made again under its label), and the PIN logs in where this process
   may read it: kmc_token_key_check(), as the provider checks it. */
static int token_check(const char *name, const token_key_rec *rec)
{
	int r = kmc_token_key_check(rec->uri, rec->spki, rec->spki_len);

	if (r < 0)
		return kmc_detail(r, "the key of %s lives on a PKCS#11 token: "
			"%s", name, kmc_error_detail()[0] ?
			kmc_error_detail() : kmc_strerror(r));
	return 0;
}

/* The provider gave no key: most likely it could not open the vault
   again without a prompt (its passphrase callback is ours, and refuses),
   else what it said. */
static int store_error(const char *name, const char *dir)
{
	const char *text = ossl_text();
	int r = strstr(text, "passphrase") ? KMC_E_NEED_PASSPHRASE :
		KMC_E_INVALID;

	if (r == KMC_E_NEED_PASSPHRASE)
		return kmc_detail(r, "the key of %s lives on a PKCS#11 token, "
			"which the kmc provider reaches by opening vault %s again; "
			"a vault that opens only by passphrase cannot be opened so "
			"(add a host or token protector): %s", name, dir, text);
	return kmc_detail(r, "the key of %s lives on a PKCS#11 token; the "
		"kmc provider did not hand it out from vault %s: %s", name, dir,
		text);
}

/* The vault's folder as an absolute path: the one it was opened by, or
   where its descriptor is now when that was relative (the server may
   have changed its working folder since). */
static const char *vault_dir(kmc_vault *v, char buf[PATH_MAX])
{
	char fd[64];
	ssize_t n;

	if (v->dir[0] == '/')
		return v->dir;
	snprintf(fd, sizeof(fd), "/proc/self/fd/%d", v->dirfd);
	n = readlink(fd, buf, PATH_MAX - 1);
	if (n <= 0 || buf[0] != '/')
		return v->dir;
	buf[n] = 0;
	return buf;
}

/*
 * The provider reads NAME/key again, through a handle of its own, after
 * the caller read it: a rotation committed between the two gives the
 * next key where the caller holds the record (and the certificate) of
 * the one before. The key it gave must be the record's; when it is not,
 * KMC_E_BUSY has the caller read all again (key_load() in tls.c, or the
 * vault_read_one_version() it runs in). OpenSSL's errors of the check
 * go with token_key_load()'s mark.
 */
static int same_key(EVP_PKEY *k, const token_key_rec *rec,
	OSSL_LIB_CTX *libctx, const char *propq)
{
	const unsigned char *p = rec->spki;
	EVP_PKEY *pub = d2i_PUBKEY_ex(NULL, &p, (long)rec->spki_len, libctx,
		propq);
	/* Told apart only when both can be compared: a key OpenSSL cannot
	   compare is the token's (token_check() matched the record). */
	int eq = pub ? EVP_PKEY_eq(k, pub) : -2;

	EVP_PKEY_free(pub);
	return eq == 1 || eq == -2;
}

static int load(kmc_vault *v, const char *name, const token_key_rec *rec,
	OSSL_LIB_CTX *libctx, const char *propq, EVP_PKEY **ret)
{
	char dbuf[PATH_MAX];
	const char *dir = vault_dir(v, dbuf);
	OSSL_STORE_CTX *sc = NULL;
	EVP_PKEY *k = NULL;
	char *uri = NULL;

	KMC_GUARD(token_check(name, rec));
	KMC_GUARD(provider_ready(libctx, propq, name));
	vault_offer_provider();
	KMC_GUARD(kmc_uri_format(dir, name, &uri));
	/* No UI method: the provider's passphrase question is refused, never
	   put to a server's terminal. A property query of its own, not the
	   caller's: the loader and the key's management are kmc's anyway,
	   and what OpenSSL 3.0 fetches from kmc.so under no query can go
	   into its method cache as the answer to later "RSA" fetches
	   without one (the cache ignores the provider when a lookup names
	   none). With an earlier kmc.so, RSA key generation in the process
	   failed from then on; token_load.c checks it does not. */
	sc = OSSL_STORE_open_ex(uri, libctx, "?provider=kmc", NULL, NULL,
		NULL, NULL, NULL);
	if (sc && OSSL_STORE_expect(sc, OSSL_STORE_INFO_PKEY) != 1) {
		OSSL_STORE_close(sc);
		sc = NULL;
	}
	while (sc && !k && !OSSL_STORE_eof(sc)) {
		OSSL_STORE_INFO *info = OSSL_STORE_load(sc);

		if (!info)
			break;
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			k = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(sc);
	free(uri);
	if (!k)
		return store_error(name, dir);
	if (!same_key(k, rec, libctx, propq)) {
		EVP_PKEY_free(k);
		return kmc_detail(KMC_E_BUSY, "the key of %s changed while it "
			"was loaded (another process replaced it); try again",
			name);
	}
	*ret = k;
	return 0;
}

int token_key_load(kmc_vault *v, const char *name, const token_key_rec *rec,
	OSSL_LIB_CTX *libctx, const char *propq, EVP_PKEY **ret)
{
	int r;

	/* Nothing of this is left in the caller's error queue, failed or
	   not (the token's module may leave OpenSSL errors of its own): a
	   server that reads the queue after its next SSL call would take
	   them for that call's. The detail says what failed. */
	ERR_set_mark();
	r = load(v, name, rec, libctx, propq, ret);
	ERR_pop_to_mark();
	return r;
}
