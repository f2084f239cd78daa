/*
 * kmcprov.c - an OpenSSL 3 provider that hands vault-held private keys to
 * unmodified programs:
 *
 *   STORE "kmc"   for kmc://<vault>?item=<name> URIs (openssl -key URI,
 *                 any OSSL_STORE_open caller);
 *   DECODER       for key-reference files (-----BEGIN KMC KEY
 *                 REFERENCE-----), which any PEM_read_bio_PrivateKey
 *                 caller runs: nginx, Apache, HAProxy, PostgreSQL,
 *                 Mosquitto, curl (keyref.c).
 *
 * Both return the key by value as PKCS#8 PrivateKeyInfo DER through the
 * object callback; the default provider's decoders turn it into the key
 * synchronously, so the copy is wiped as soon as the callback returns.
 * The vault opens with its host protector without a prompt; a passphrase
 * vault asks the application's password callback (-passin, PostgreSQL's
 * ssl_passphrase_command, nginx's ssl_password_file).
 *
 * This module links libcrypto only: the vault code is in kmc/vault.so
 * beside it, loaded on the first key asked for (vaultapi.h says why), so
 * a program that loads the provider and never uses it pays next to
 * nothing for it.
 *
 * The grammar of URIs and reference files is in include/kmc/admin.h and
 * docs/provider.md. This file sees the public headers only; its messages
 * are escaped with kmc_escape(), as the kmc command's are.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include "kmcprov.h"

#define PROV_NAME "kmc"
#define PROV_EXPORT __attribute__((visibility("default")))

typedef struct prov_ctx {
	const OSSL_CORE_HANDLE *handle;
	int asked[3];		/* token key operations: times asked for */
} prov_ctx;

/*
 * Errors go through the core with reasons of our own, so a server that
 * logs only ERR_reason_error_string() (PostgreSQL, Mosquitto) still says
 * what failed; the detail naming vault and item rides along as data.
 */

static const OSSL_ITEM reason_strings[] = {
	{ KMCPROV_R_OPEN, "kmc: the vault does not open" },
	{ KMCPROV_R_PASSPHRASE, "kmc: wrong or missing vault passphrase" },
	{ KMCPROV_R_HOST_KEY, "kmc: host key missing or not the vault's" },
	{ KMCPROV_R_TOKEN, "kmc: the vault's token (HSM/TPM) failed" },
	{ KMCPROV_R_PERM, "kmc: unsafe owner or mode of a vault file" },
	{ KMCPROV_R_NO_ITEM, "kmc: no such key in the vault" },
	{ KMCPROV_R_DAMAGED, "kmc: vault data damaged or altered" },
	{ KMCPROV_R_BAD_URI, "kmc: malformed kmc: URI or key reference" },
	{ KMCPROV_R_ACCESS, "kmc: the vault's owner or mode refuses this user" },
	{ 0, NULL },
};

static OSSL_FUNC_core_new_error_fn *core_new_error;
static OSSL_FUNC_core_set_error_debug_fn *core_set_error_debug;
static OSSL_FUNC_core_vset_error_fn *core_vset_error;
static const OSSL_CORE_HANDLE *core_handle;

/* The vault half: its path, found at init; its table once loaded. */
static char vault_path[PATH_MAX];
static const kmcprov_vault_api *vault_tbl;
static pthread_mutex_t vault_lock = PTHREAD_MUTEX_INITIALIZER;

int kmcprov_reason_of(int err)
{
	switch (err) {
	case KMC_E_UNLOCK:
	case KMC_E_NEED_PASSPHRASE:
		return KMCPROV_R_PASSPHRASE;
	case KMC_E_HOST_KEY:
		return KMCPROV_R_HOST_KEY;
	case KMC_E_P11_MODULE:
	case KMC_E_P11_TOKEN:
	case KMC_E_P11_PIN:
	case KMC_E_P11_PIN_LOCKED:
	case KMC_E_P11_KEY:
	case KMC_E_P11_KEY_TYPE:
	case KMC_E_P11:
		return KMCPROV_R_TOKEN;
	case KMC_E_PERM:
		return KMCPROV_R_PERM;
	/* A vault the process cannot enter: another user's (a service
	   that dropped to its own user, a worker), the commonest mistake,
	   which a server logging only the reason must name. Not "unsafe":
	   the vault is as it should be, the user is not its owner. */
	case -EACCES:
	case -EPERM:
		return KMCPROV_R_ACCESS;
	case KMC_E_NOT_FOUND:
	case KMC_E_NAME:
	case KMC_E_TYPE:
		return KMCPROV_R_NO_ITEM;
	case KMC_E_AUTH:
	case KMC_E_CORRUPT:
	case KMC_E_NO_KEYSTORE:
	case KMC_E_WRONG_VAULT:
		return KMCPROV_R_DAMAGED;
	case KMC_E_STRING:
		return KMCPROV_R_BAD_URI;
	}
	return KMCPROV_R_OPEN;
}

/* The text of the error just begun, through the core if it gave us one. */
static void set_text(int reason, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_text(int reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (core_new_error && core_vset_error)
		core_vset_error(core_handle, (uint32_t)reason, fmt, ap);
	else
		ERR_vset_error(ERR_LIB_OSSL_STORE, ERR_R_OPERATION_FAIL, fmt, ap);
	va_end(ap);
}

/* The error names where it was raised, not this helper. */
#define prov_error kmcprov_error

/* Before the vault half is loaded there is no kmc_escape(): the only
   text then is a failure to load it (its path, the loader's words),
   and any byte outside printable ASCII becomes '?'. */
static void plain_escape(const char *s, char *buf, size_t size)
{
	size_t i = 0;

	for (; s[i] && i + 1 < size; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = 0;
}

void kmcprov_error_at(const char *file, int line, const char *func,
	int reason, const char *fmt, ...)
{
	va_list ap;
	char raw[1024], text[1024];

	/* Paths and names come from a URI or a reference file that anyone
	   may have written, and the text lands in a server's log: escaped
	   as kmc's own messages are, a newline cannot forge a log line nor
	   an ESC drive the terminal of whoever reads it. */
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (__atomic_load_n(&vault_tbl, __ATOMIC_ACQUIRE))
		vault_tbl->escape(raw, text, sizeof(text));
	else
		plain_escape(raw, text, sizeof(text));
	if (core_new_error && core_vset_error) {
		core_new_error(core_handle);
		if (core_set_error_debug)
			core_set_error_debug(core_handle, file, line, func);
	} else {
		ERR_new();
		ERR_set_debug(file, line, func);
	}
	set_text(reason, "%s", text);
}

/* ---------------------------------------------------------------- */
/* The vault half                                                    */

/* Whether t is a table of this build's layout. */
static int table_ok(const kmcprov_vault_api *t)
{
	return t && t->size == sizeof(*t) && t->version &&
		strcmp(t->version, KMC_GIT_VERSION) == 0;
}

static const kmcprov_vault_api *vault_load_locked(void)
{
	kmcprov_vault_api_fn *get;
	const kmcprov_vault_api *t;
	void *h, *sym;

	if (!vault_path[0]) {
		prov_error(KMCPROV_R_OPEN, "the kmc provider does not know the "
			"directory it was loaded from, so not where "
			KMCPROV_VAULT_FILE " is");
		return NULL;
	}
	/* Never closed: the arena and the library's state live as long. */
	h = dlopen(vault_path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();

		prov_error(KMCPROV_R_OPEN, "the kmc provider's vault code %s does "
			"not load: %s", vault_path, why ? why : "unknown reason");
		return NULL;
	}
	sym = dlsym(h, KMCPROV_VAULT_SYM);
	if (sym)
		memcpy(&get, &sym, sizeof(get));
	t = sym ? get() : NULL;
	if (!table_ok(t)) {
		prov_error(KMCPROV_R_OPEN, "%s is not the vault code of this kmc "
			"provider (version %s; it says %s): install both from one "
			"build", vault_path, KMC_GIT_VERSION, t ? t->version :
			"nothing");
		(void)dlclose(h);
		return NULL;
	}
	return t;
}

/*
 * A process that links libkmcvault offers its own vault code (vault/
 * tokenprov.c) before it makes an LMDB environment and before it loads a
 * token key through kmc.so: taken, so that vaults are opened with one
 * copy of the vault code, one LMDB environment a vault, even where kmc.so
 * loaded its own vault half before (what it loaded then stays usable:
 * vault.so is never unloaded, and its token keys are signed with by URI).
 */
__attribute__((visibility("default"))) kmcprov_vault_offer_fn
	kmcprov_vault_offer;

int kmcprov_vault_offer(const kmcprov_vault_api *t)
{
	if (!table_ok(t))
		return 0;
	pthread_mutex_lock(&vault_lock);
	__atomic_store_n(&vault_tbl, t, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vault_lock);
	return 1;
}

const kmcprov_vault_api *kmcprov_vault(void)
{
	const kmcprov_vault_api *t = __atomic_load_n(&vault_tbl,
		__ATOMIC_ACQUIRE);

	if (t)
		return t;
	pthread_mutex_lock(&vault_lock);
	t = vault_tbl;
	if (!t) {
		t = vault_load_locked();
		__atomic_store_n(&vault_tbl, t, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vault_lock);
	return t;
}

/* kmc.so's directory, while the loader's path is still the one it used
   (a relative -provider-path means nothing after a server's chdir). */
static void vault_path_init(void)
{
	Dl_info info;
	char self[PATH_MAX], *slash;
	int n;

	if (vault_path[0])
		return;
	if (!dladdr((void *)vault_path_init, &info) || !info.dli_fname ||
	    !realpath(info.dli_fname, self))
		return;
	slash = strrchr(self, '/');
	if (!slash)
		return;
	*slash = 0;
	n = snprintf(vault_path, sizeof(vault_path), "%s/%s", self,
		KMCPROV_VAULT_FILE);
	if (n < 0 || (size_t)n >= sizeof(vault_path))
		vault_path[0] = 0;
}

/* ---------------------------------------------------------------- */
/* Opening the vault and exporting the key                          */

typedef struct pass_bridge {
	OSSL_PASSPHRASE_CALLBACK *cb;
	void *cbarg;
	const char *dir;
} pass_bridge;

/* kmc's passphrase callback, answered by the application's. */
static int bridge_cb(char *buf, size_t size, void *arg)
{
	pass_bridge *b = arg;
	OSSL_PARAM params[2];
	size_t len = 0;
	char info[512];

	if (!b->cb)
		return -1;
	snprintf(info, sizeof(info), "kmc vault %s", b->dir);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PASSPHRASE_PARAM_INFO,
		info, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!b->cb(buf, size, &len, params, b->cbarg) || len > size)
		return -1;
	return (int)len;
}

/* Raise a one-line error naming the vault and the item. */
static void raise_error(const kmcprov_vault_api *k, int err, const char *dir,
	const char *name, const char *what)
{
	const char *detail = k->error_detail();

	prov_error(kmcprov_reason_of(err), "%s %s in vault %s: %s", what,
		name ? name : "?", dir ? dir : "(default)",
		detail[0] ? detail : k->strerror(err));
}

/*
 * Export the key of bundle name as DER and hand it to cb as an
 * OSSL_OBJECT. Returns cb's result, or 0 after raising an error.
 */
int kmcprov_emit_key(const char *dir, const char *name, int by_ref,
	OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg, OSSL_CALLBACK *cb,
	void *cbarg)
{
	kmc_options o = KMC_OPTIONS_INIT;
	pass_bridge b = { pw_cb, pw_cbarg, NULL };
	kmc_vault *v = NULL;
	kmc_secret *der = NULL;
	OSSL_PARAM params[4];
	char dbuf[PATH_MAX];
	int type = OSSL_OBJECT_PKEY, r, ok;
	const kmcprov_vault_api *k = kmcprov_vault();

	if (!k)
		return 0;
	/* The default vault as the kmc command finds it, so both agree on
	   it and on what is wrong with it (an over-long $KMC_VAULT, no
	   home), and messages name the folder rather than "(default)". */
	if (!dir) {
		r = k->default_vault_dir(dbuf, sizeof(dbuf));
		if (r < 0) {
			prov_error(kmcprov_reason_of(r), "the default vault for %s: %s",
				name, k->error_detail()[0] ? k->error_detail() :
				k->strerror(r));
			return 0;
		}
		/* A URI must name its vault by an absolute path; the default
		   through a relative $KMC_VAULT (the only way it can be
		   relative) would be relative to wherever the server happens
		   to run, so it is refused the same way. */
		if (dbuf[0] != '/') {
			prov_error(KMCPROV_R_BAD_URI, "the default vault for %s: "
				"$KMC_VAULT %s is a relative path; give an absolute "
				"one, or the vault in the URI", name, dbuf);
			return 0;
		}
		dir = dbuf;
	}
	b.dir = dir;
	o.passphrase_cb = bridge_cb;
	o.passphrase_arg = &b;
	/* A token protector's module may use OpenSSL itself and leave
	   errors in the queue (tokensig.c): only ours go to the server. */
	ERR_set_mark();
	r = k->vault_open_ex(dir, 0, &o, &v);
	ERR_pop_to_mark();
	if (r < 0) {
		raise_error(k, r, dir, name, "opening the vault for");
		return 0;
	}
	/* One read: the key's DER, or where it lives on a token. A key on
	   a token goes by reference to this provider's own key
	   management; its private half never comes here. */
	{
		char uri[2100];
		unsigned char spki[1024];
		size_t spki_len = sizeof(spki);

		r = k->key_or_token(v, name, &der, uri, sizeof(uri), spki,
			&spki_len);
		if (r == 1) {
			k->vault_close(v);
			r = kmcprov_token_key_emit(uri, spki, spki_len, cb, cbarg);
			/* A reference reaches only key managements of this
			   provider: a "file:" store (openssl's own commands)
			   offers it to the default provider's, and a program
			   that reads a key before any other key management was
			   asked for has not met ours yet (prov_query). */
			if (r == 0 && !by_ref)
				prov_error(KMCPROV_R_TOKEN, "the key of %s in vault %s "
					"lives on a PKCS#11 token, and OpenSSL did not take "
					"it from this key-reference file: a program that "
					"opens keys through OSSL_STORE (openssl s_server "
					"-key, openssl pkey) takes the kmc: URI instead "
					"(kmc ref %s --uri)", name, dir, name);
			return r > 0;
		}
	}
	k->vault_close(v);
	if (r < 0) {
		raise_error(k, r, dir, name, "reading the key");
		return 0;
	}
	params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
	/* "PrivateKeyInfo", not "PKCS8", is what 3.0's decoders match. */
	params[1] = OSSL_PARAM_construct_utf8_string(
		OSSL_OBJECT_PARAM_DATA_STRUCTURE, (char *)"PrivateKeyInfo", 0);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA,
		k->secret_data(der), k->secret_len(der));
	params[3] = OSSL_PARAM_construct_end();
	ok = cb(params, cbarg);
	/* The decoders have their own copy by now: wipe ours. */
	k->secret_free(der);
	return ok;
}

/* ---------------------------------------------------------------- */
/* STORE                                                             */

typedef struct store_ctx {
	char *dir;		/* NULL: the default vault */
	char *name;
	int done;
} store_ctx;

static OSSL_FUNC_store_open_fn store_open;
static OSSL_FUNC_store_settable_ctx_params_fn store_settable_ctx_params;
static OSSL_FUNC_store_set_ctx_params_fn store_set_ctx_params;
static OSSL_FUNC_store_load_fn store_load;
static OSSL_FUNC_store_eof_fn store_eof;
static OSSL_FUNC_store_close_fn store_close;

static void *store_open(void *provctx, const char *uri)
{
	const kmcprov_vault_api *k = kmcprov_vault();
	store_ctx *s;
	int r;

	(void)provctx;
	if (!k)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	r = k->uri_parse(uri, strlen(uri), &s->dir, &s->name);
	if (r < 0) {
		prov_error(KMCPROV_R_BAD_URI, "%s", k->error_detail()[0] ?
			k->error_detail() : k->strerror(r));
		free(s);
		return NULL;
	}
	return s;
}

static const OSSL_PARAM *store_settable_ctx_params(void *provctx)
{
	static const OSSL_PARAM params[] = {
		OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
		OSSL_PARAM_utf8_string(OSSL_STORE_PARAM_PROPERTIES, NULL, 0),
		OSSL_PARAM_END,
	};

	(void)provctx;
	return params;
}

/*
 * OpenSSL calls this without checking it exists whenever params or a
 * property query are passed; a URI names one key, so the expected type
 * only matters when it excludes keys.
 */
static int store_set_ctx_params(void *ctx, const OSSL_PARAM params[])
{
	store_ctx *s = ctx;
	const OSSL_PARAM *p;
	int expect;

	p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
	if (p && OSSL_PARAM_get_int(p, &expect) && expect != 0 &&
	    expect != OSSL_STORE_INFO_PKEY)
		s->done = 1;	/* asked for certificates: we have none */
	return 1;
}

static int store_load(void *ctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
	OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	store_ctx *s = ctx;

	if (s->done)
		return 0;
	/* End of file after any load, failed or not: callers never spin. */
	s->done = 1;
	return kmcprov_emit_key(s->dir, s->name, 1, pw_cb, pw_cbarg, object_cb,
		object_cbarg);
}

static int store_eof(void *ctx)
{
	return ((store_ctx *)ctx)->done;
}

static int store_close(void *ctx)
{
	store_ctx *s = ctx;

	free(s->dir);
	free(s->name);
	free(s);
	return 1;
}

static const OSSL_DISPATCH store_functions[] = {
	{ OSSL_FUNC_STORE_OPEN, (void (*)(void))store_open },
	{ OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS,
	  (void (*)(void))store_settable_ctx_params },
	{ OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))store_set_ctx_params },
	{ OSSL_FUNC_STORE_LOAD, (void (*)(void))store_load },
	{ OSSL_FUNC_STORE_EOF, (void (*)(void))store_eof },
	{ OSSL_FUNC_STORE_CLOSE, (void (*)(void))store_close },
	{ 0, NULL },
};

/* 3.0 does not split "a:b" into aliases for STORE: one entry a scheme. */
static const OSSL_ALGORITHM stores[] = {
	{ "kmc", "provider=kmc", store_functions,
	  "kmc: private keys held in a kmcvault" },
	{ NULL, NULL, NULL, NULL },
};

/* ---------------------------------------------------------------- */
/* The provider                                                      */

static const OSSL_ALGORITHM *prov_query(void *provctx, int operation_id,
	int *no_cache)
{
	prov_ctx *pc = provctx;
	int i;

	*no_cache = 0;
	switch (operation_id) {
	case OSSL_OP_STORE:
		return stores;
	case OSSL_OP_DECODER:
		return kmcprov_decoders;
	}
	/* Keys on a token (tokenkey.c says why the order matters): not at
	   the first question for each operation, the pass that stores the
	   other providers' algorithms of that operation; from the second on,
	   behind theirs. A token key met before then has them offered at
	   once (kmcprov_token_key_emit). "Not now" is not stored, so the
	   question comes again. */
	switch (operation_id) {
	case OSSL_OP_KEYMGMT: i = 0; break;
	case OSSL_OP_SIGNATURE: i = 1; break;
	case OSSL_OP_ASYM_CIPHER: i = 2; break;
	default: return NULL;
	}
	if (__atomic_fetch_add(&pc->asked[i], 1, __ATOMIC_ACQ_REL) == 0 &&
	    !kmcprov_token_ops_offered()) {
		*no_cache = 1;
		return NULL;
	}
	switch (operation_id) {
	case OSSL_OP_KEYMGMT:
		return kmcprov_keymgmt;
	case OSSL_OP_SIGNATURE:
		return kmcprov_signature;
	case OSSL_OP_ASYM_CIPHER:
		return kmcprov_asym_cipher;
	}
	return NULL;
}

static const OSSL_PARAM *prov_gettable_params(void *provctx)
{
	static const OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
		OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
		OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
		OSSL_PARAM_END,
	};

	(void)provctx;
	return params;
}

static int prov_get_params(void *provctx, OSSL_PARAM params[])
{
	OSSL_PARAM *p;

	(void)provctx;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
	if (p && !OSSL_PARAM_set_utf8_ptr(p, "kmcvault key provider"))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
	if (p && !OSSL_PARAM_set_utf8_ptr(p, KMC_GIT_VERSION))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
	if (p && !OSSL_PARAM_set_int(p, 1))
		return 0;
	return 1;
}

static const OSSL_ITEM *prov_reason_strings(void *provctx)
{
	(void)provctx;
	return reason_strings;
}

static void prov_teardown(void *provctx)
{
	free(provctx);
}

static const OSSL_DISPATCH prov_functions[] = {
	{ OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))prov_teardown },
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))prov_query },
	{ OSSL_FUNC_PROVIDER_GETTABLE_PARAMS,
	  (void (*)(void))prov_gettable_params },
	{ OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))prov_get_params },
	{ OSSL_FUNC_PROVIDER_GET_REASON_STRINGS,
	  (void (*)(void))prov_reason_strings },
	{ 0, NULL },
};

PROV_EXPORT OSSL_provider_init_fn OSSL_provider_init;

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle,
	const OSSL_DISPATCH *in, const OSSL_DISPATCH **out, void **provctx)
{
	prov_ctx *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return 0;
	for (const OSSL_DISPATCH *d = in; d->function_id != 0; d++) {
		switch (d->function_id) {
		case OSSL_FUNC_CORE_NEW_ERROR:
			core_new_error = OSSL_FUNC_core_new_error(d);
			break;
		case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
			core_set_error_debug = OSSL_FUNC_core_set_error_debug(d);
			break;
		case OSSL_FUNC_CORE_VSET_ERROR:
			core_vset_error = OSSL_FUNC_core_vset_error(d);
			break;
		case OSSL_FUNC_BIO_READ_EX:
			kmcprov_bio_read_ex = OSSL_FUNC_BIO_read_ex(d);
			break;
		}
	}
	core_handle = handle;
	pc->handle = handle;
	vault_path_init();
	*out = prov_functions;
	*provctx = pc;
	return 1;
}
