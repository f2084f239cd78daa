/*
 * p11.c - the token side of the pkcs11 and tpm protectors: loading
 * modules from allowed paths, RFC 7512 URIs, cached sessions and login,
 * and encrypting and decrypting a protector's secret with a token key.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>
#include <p11-kit/pkcs11.h>
#include <sodium.h>
#include "p11.h"
#include "../kmc/crypto.h"

/*
 * Modules load only from these trees (after realpath), as ssh-agent's
 * allowed_providers: a URI from a config file cannot make us dlopen an
 * arbitrary library.
 */
static const char *const allowed_module_dirs[] = {
	"/usr/lib/", "/usr/lib64/", "/usr/local/lib/", "/lib/", "/opt/",
};

#define PIN_MAX 256

/* ---------------------------------------------------------------- */
/* SIGPIPE                                                           */

/*
 * A network token (p11-kit's client module) writes to a socket that may
 * have closed; the default SIGPIPE would kill the server that merely
 * asked for its key. Block it in this thread around token calls, and
 * swallow one that arrived, so the write fails with EPIPE instead.
 */
static _Thread_local sigset_t saved_mask;

static void sigpipe_block(void)
{
	sigset_t pipe;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &saved_mask);
}

static void sigpipe_restore(void)
{
	struct timespec zero = { 0, 0 };
	sigset_t pipe, pending;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	if (!sigismember(&saved_mask, SIGPIPE) && sigpending(&pending) == 0 &&
	    sigismember(&pending, SIGPIPE))
		(void)sigtimedwait(&pipe, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
}

/* ---------------------------------------------------------------- */
/* Errors                                                            */

static const char *ckr_name(CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
	case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
	case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
	case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
	case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
	case CKR_KEY_TYPE_INCONSISTENT: return "CKR_KEY_TYPE_INCONSISTENT";
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
		return "CKR_KEY_FUNCTION_NOT_PERMITTED";
	case CKR_ENCRYPTED_DATA_INVALID: return "CKR_ENCRYPTED_DATA_INVALID";
	case CKR_ENCRYPTED_DATA_LEN_RANGE: return "CKR_ENCRYPTED_DATA_LEN_RANGE";
	case CKR_FUNCTION_NOT_SUPPORTED: return "CKR_FUNCTION_NOT_SUPPORTED";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
	case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
	case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
	}
	return "a PKCS#11 error";
}

static int ck_fail(CK_RV rv, const char *what)
{
	return kmc_detail(KMC_E_P11, "%s: %s (0x%lx)", what, ckr_name(rv),
		(unsigned long)rv);
}

/* ---------------------------------------------------------------- */
/* Sessions, cached per token for the life of the process            */

typedef struct token {
	CK_FUNCTION_LIST *mod;
	char module[PATH_MAX];		/* realpath or p11-kit name */
	CK_TOKEN_INFO info;		/* as found: what URIs match against */
	unsigned char label[32];
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	int logged_in;
	struct token *next;
} token;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t cache_atexit = PTHREAD_ONCE_INIT;
static token *cache;
static pid_t cache_pid;

/*
 * Log out and finalize at exit: tpm2-pkcs11 frees its TPM objects only on
 * C_Finalize, and a TPM without a resource manager holds three; runs
 * that leave theirs loaded soon fill it.
 */
static void cache_release_at_exit(void)
{
	if (cache_pid == getpid())
		p11_reset();
}

static void cache_register_atexit(void)
{
	(void)atexit(cache_release_at_exit);
}

/*
 * After fork() the child's copies of sessions are not its own: PKCS#11
 * says the child must initialize the module again before any use. Forget
 * the parent's handles (closing them would close the parent's), finalize
 * what p11-kit shares, and start over.
 */
static void cache_check_fork(void)
{
	pid_t pid = getpid();

	if (cache_pid == pid)
		return;
	if (cache_pid != 0) {
		for (token *t = cache, *next; t; t = next) {
			next = t->next;
			(void)p11_kit_module_finalize(t->mod);
			p11_kit_module_release(t->mod);
			free(t);
		}
		cache = NULL;
	}
	cache_pid = pid;
}

void p11_reset(void)
{
	pthread_mutex_lock(&cache_lock);
	for (token *t = cache, *next; t; t = next) {
		next = t->next;
		if (getpid() == cache_pid) {
			if (t->logged_in)
				(void)t->mod->C_Logout(t->session);
			(void)t->mod->C_CloseSession(t->session);
		}
		(void)p11_kit_module_finalize(t->mod);
		p11_kit_module_release(t->mod);
		free(t);
	}
	cache = NULL;
	pthread_mutex_unlock(&cache_lock);
}

static void uri_freep(P11KitUri **u)
{
	if (*u)
		p11_kit_uri_free(*u);
}

static int uri_parse(const char *s, P11KitUri **ret)
{
	P11KitUri *u = p11_kit_uri_new();
	int r;

	KMC_ENSURE(u, KMC_E_NOMEM);
	KMC_ENSURE(strlen(s) <= P11_URI_MAX, KMC_E_TOO_LARGE);
	r = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, u);
	if (r != P11_KIT_URI_OK) {
		p11_kit_uri_free(u);
		return kmc_detail(KMC_E_STRING, "%s is not a PKCS#11 URI: %s", s,
			p11_kit_uri_message(r));
	}
	*ret = u;
	return 0;
}

int p11_uri_clean(const char *s, char **ret)
{
	_cleanup_(uri_freep) P11KitUri *u = NULL;
	char *out = NULL;

	KMC_GUARD(uri_parse(s, &u));
	/* A pin-value is used once and never stored; pin-source stays. */
	p11_kit_uri_set_pin_value(u, NULL);
	if (p11_kit_uri_format(u, P11_KIT_URI_FOR_ANY, &out) != P11_KIT_URI_OK)
		return KMC_E_NOMEM;
	KMC_ENSURE(strlen(out) <= P11_URI_MAX, KMC_E_TOO_LARGE);
	*ret = out;
	return 0;
}

static int module_path_allowed(const char *path, char *real)
{
	if (!realpath(path, real))
		return kmc_detail(KMC_E_P11_MODULE, "PKCS#11 module %s: %s", path,
			strerror(errno));
	for (size_t i = 0; i < ELEMENTSOF(allowed_module_dirs); i++)
		if (strncmp(real, allowed_module_dirs[i],
				strlen(allowed_module_dirs[i])) == 0)
			return 0;
	return kmc_detail(KMC_E_P11_MODULE, "PKCS#11 module %s (%s) is outside "
		"the trees modules may load from (/usr/lib, /usr/local/lib, "
		"/lib, /opt)", path, real);
}

/* Load the modules a URI may mean: its module-path, or the registered
 * ones (filtered by module-name). *ret is a NULL-ended array. */
static int modules_for(P11KitUri *u, CK_FUNCTION_LIST ***ret, char *what,
	size_t size)
{
	const char *path = p11_kit_uri_get_module_path(u);
	const char *name = p11_kit_uri_get_module_name(u);
	CK_FUNCTION_LIST **all, **out;
	char real[PATH_MAX];
	size_t n = 0;
	CK_RV rv;

	if (path) {
		CK_FUNCTION_LIST *m;

		KMC_GUARD(module_path_allowed(path, real));
		m = p11_kit_module_load(real, 0);
		if (!m)
			return kmc_detail(KMC_E_P11_MODULE, "PKCS#11 module %s "
				"does not load: %s", real, p11_kit_message() ?
				p11_kit_message() : "unknown reason");
		rv = p11_kit_module_initialize(m);
		if (rv != CKR_OK) {
			p11_kit_module_release(m);
			return ck_fail(rv, "initializing the PKCS#11 module");
		}
		out = calloc(2, sizeof(*out));
		if (!out) {
			(void)p11_kit_module_finalize(m);
			p11_kit_module_release(m);
			return KMC_E_NOMEM;
		}
		out[0] = m;
		snprintf(what, size, "%s", real);
		*ret = out;
		return 0;
	}
	/*
	 * Load the registered modules without starting them, keep the one
	 * named (or all), then start only those: a module that fails to
	 * start (a TPM that is down) is reported as such, not as missing,
	 * and no other module is started for nothing.
	 */
	all = p11_kit_modules_load(NULL, 0);
	if (!all)
		return kmc_detail(KMC_E_P11_MODULE, "p11-kit loads no PKCS#11 "
			"module: %s", p11_kit_message() ? p11_kit_message() :
			"none registered");
	for (size_t i = 0; all[i]; i++)
		n++;
	out = calloc(n + 1, sizeof(*out));
	if (!out) {
		p11_kit_modules_release(all);
		return KMC_E_NOMEM;
	}
	n = 0;
	{
		CK_RV failed = CKR_OK;
		int named = 0;

		for (size_t i = 0; all[i]; i++) {
			char *mname = p11_kit_module_get_name(all[i]);
			int keep = !name || (mname && strcmp(mname, name) == 0);

			free(mname);
			if (keep) {
				named = 1;
				rv = p11_kit_module_initialize(all[i]);
				if (rv == CKR_OK) {
					out[n++] = all[i];
					continue;
				}
				failed = rv;
			}
			p11_kit_module_release(all[i]);
		}
		free(all);
		if (n == 0) {
			free(out);
			if (named && failed != CKR_OK)
				return kmc_detail(KMC_E_P11, "the PKCS#11 module %s "
					"does not start: %s (0x%lx); is its device "
					"(TPM, HSM, server) reachable?", name ? name :
					"registered with p11-kit", ckr_name(failed),
					(unsigned long)failed);
			return kmc_detail(KMC_E_P11_MODULE, "no PKCS#11 module "
				"named %s is registered with p11-kit", name);
		}
	}
	snprintf(what, size, "%s", name ? name : "p11-kit's modules");
	*ret = out;
	return 0;
}

static void release_modules(CK_FUNCTION_LIST **mods, CK_FUNCTION_LIST *keep)
{
	for (size_t i = 0; mods && mods[i]; i++) {
		if (mods[i] == keep)
			continue;
		(void)p11_kit_module_finalize(mods[i]);
		p11_kit_module_release(mods[i]);
	}
	free(mods);
}

static void pad_copy(char *dst, size_t size, const unsigned char *src,
	size_t n)
{
	while (n > 0 && src[n - 1] == ' ')
		n--;
	snprintf(dst, size, "%.*s", (int)n, src);
}

/* The token a URI names, with an open session, from the cache or new. */
static int token_find(P11KitUri *u, const char *uri_text, token **ret)
{
	CK_FUNCTION_LIST **mods = NULL;
	char what[PATH_MAX];
	token *t;

	cache_check_fork();
	for (t = cache; t; t = t->next) {
		const char *path = p11_kit_uri_get_module_path(u);
		const char *name = p11_kit_uri_get_module_name(u);
		char real[PATH_MAX];

		if (!p11_kit_uri_match_token_info(u, &t->info))
			continue;
		if (path && (!realpath(path, real) || strcmp(real, t->module)))
			continue;
		if (name && !path && strcmp(name, t->module) != 0)
			continue;
		*ret = t;
		return 0;
	}
	KMC_GUARD(modules_for(u, &mods, what, sizeof(what)));
	for (size_t i = 0; mods[i]; i++) {
		CK_SLOT_ID slots[64];
		CK_ULONG n = ELEMENTSOF(slots);

		if (mods[i]->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
			continue;
		for (CK_ULONG s = 0; s < n; s++) {
			CK_TOKEN_INFO ti;
			CK_SESSION_HANDLE sh;
			CK_RV rv;

			if (mods[i]->C_GetTokenInfo(slots[s], &ti) != CKR_OK ||
			    !p11_kit_uri_match_token_info(u, &ti))
				continue;
			rv = mods[i]->C_OpenSession(slots[s], CKF_SERIAL_SESSION |
				CKF_RW_SESSION, NULL, NULL, &sh);
			if (rv != CKR_OK) {
				release_modules(mods, NULL);
				return ck_fail(rv, "opening a session on the token");
			}
			t = calloc(1, sizeof(*t));
			if (!t) {
				(void)mods[i]->C_CloseSession(sh);
				release_modules(mods, NULL);
				return KMC_E_NOMEM;
			}
			t->mod = mods[i];
			snprintf(t->module, sizeof(t->module), "%s", what);
			t->info = ti;
			memcpy(t->label, ti.label, sizeof(t->label));
			t->slot = slots[s];
			t->session = sh;
			t->next = cache;
			cache = t;
			pthread_once(&cache_atexit, cache_register_atexit);
			release_modules(mods, t->mod);
			*ret = t;
			return 0;
		}
	}
	release_modules(mods, NULL);
	return kmc_detail(KMC_E_P11_TOKEN, "no token matching %s in %s (is it "
		"plugged in and initialized?)", uri_text, what);
}

/* Drop a token whose session went bad, so the next call starts over. */
static void token_forget(token *t)
{
	token **p = &cache;

	while (*p && *p != t)
		p = &(*p)->next;
	if (!*p)
		return;
	*p = t->next;
	(void)t->mod->C_CloseSession(t->session);
	(void)p11_kit_module_finalize(t->mod);
	p11_kit_module_release(t->mod);
	free(t);
}

/* ---------------------------------------------------------------- */
/* PINs                                                              */

static int pin_from_source(const char *source, kmc_secret **ret)
{
	const char *path = source;

	/* RFC 7512 allows a file: URI or a plain path. */
	if (strncmp(path, "file:", 5) == 0)
		path += 5;
	if (strncmp(path, "//", 2) == 0)
		path += 2;
	if (kmc_secret_read_file(path, PIN_MAX, ret) < 0)
		return kmc_detail(KMC_E_P11_PIN, "the URI's pin-source %s: %s",
			source, kmc_error_detail());
	return 0;
}

static int pin_get(P11KitUri *u, const p11_pin *pin, kmc_secret **ret)
{
	kmc_secret *s;
	const char *v;
	int n;

	/* --pin-file / --pin-fd, then the URI, then a prompt. */
	if (pin && pin->pin)
		return kmc_secret_dup(kmc_secret_data(pin->pin),
			kmc_secret_len(pin->pin), ret);
	v = p11_kit_uri_get_pin_value(u);
	if (v)
		return kmc_secret_dup(v, strlen(v), ret);
	v = p11_kit_uri_get_pin_source(u);
	if (v)
		return pin_from_source(v, ret);
	if (!pin || !pin->cb)
		return kmc_detail(KMC_E_NEED_PASSPHRASE, "the token needs a PIN "
			"and none was given");
	KMC_GUARD(kmc_secret_new(PIN_MAX, &s));
	n = pin->cb((char *)kmc_secret_data(s), PIN_MAX, pin->cb_arg);
	if (n < 0 || (size_t)n > PIN_MAX) {
		kmc_secret_free(s);
		return kmc_detail(KMC_E_NEED_PASSPHRASE, "the token needs a PIN "
			"and none was given");
	}
	if (kmc_secret_shrink(s, (size_t)n) < 0) {
		kmc_secret_free(s);
		return KMC_E_INVALID;
	}
	*ret = s;
	return 0;
}

static int login(token *t, P11KitUri *u, const p11_pin *pin)
{
	_cleanup_(kmc_secret_freep) kmc_secret *p = NULL;
	char label[33];
	CK_TOKEN_INFO ti;
	CK_RV rv;

	if (t->logged_in)
		return 0;
	pad_copy(label, sizeof(label), t->label, sizeof(t->label));
	if (t->mod->C_GetTokenInfo(t->slot, &ti) == CKR_OK &&
	    (ti.flags & CKF_USER_PIN_LOCKED))
		return kmc_detail(KMC_E_P11_PIN_LOCKED, "token %s: the user PIN is "
			"locked; the security officer must reset it", label);
	KMC_GUARD(pin_get(u, pin, &p));
	rv = t->mod->C_Login(t->session, CKU_USER, kmc_secret_data(p),
		kmc_secret_len(p));
	/* Login is per application: another session of ours may have it. */
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
		t->logged_in = 1;
		return 0;
	}
	if (rv == CKR_PIN_LOCKED)
		return kmc_detail(KMC_E_P11_PIN_LOCKED, "token %s: the user PIN is "
			"locked; the security officer must reset it", label);
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID ||
	    rv == CKR_PIN_LEN_RANGE) {
		const char *left = "";

		if (t->mod->C_GetTokenInfo(t->slot, &ti) == CKR_OK) {
			if (ti.flags & CKF_USER_PIN_FINAL_TRY)
				left = " (one try left before it locks)";
			else if (ti.flags & CKF_USER_PIN_COUNT_LOW)
				left = " (few tries left)";
		}
		return kmc_detail(KMC_E_P11_PIN, "token %s: wrong PIN%s", label,
			left);
	}
	return ck_fail(rv, "logging in to the token");
}

/* ---------------------------------------------------------------- */
/* Keys                                                              */

typedef struct key {
	CK_OBJECT_HANDLE h;
	CK_KEY_TYPE type;
} key;

/* The object= and id= of a URI, added to a template. */
static void add_uri_ids(P11KitUri *u, CK_ATTRIBUTE *tmpl, CK_ULONG *n)
{
	CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(u, CKA_LABEL);

	if (a)
		tmpl[(*n)++] = *a;
	a = p11_kit_uri_get_attribute(u, CKA_ID);
	if (a)
		tmpl[(*n)++] = *a;
}

static int key_find(token *t, P11KitUri *u, CK_OBJECT_CLASS cls, key *ret,
	int *ret_found)
{
	CK_ATTRIBUTE tmpl[4];
	CK_ULONG n = 0, got = 0;
	CK_OBJECT_HANDLE found[2];
	CK_RV rv;

	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	add_uri_ids(u, tmpl, &n);
	rv = t->mod->C_FindObjectsInit(t->session, tmpl, n);
	if (rv != CKR_OK)
		return ck_fail(rv, "searching the token");
	rv = t->mod->C_FindObjects(t->session, found, 2, &got);
	(void)t->mod->C_FindObjectsFinal(t->session);
	if (rv != CKR_OK)
		return ck_fail(rv, "searching the token");
	if (got > 1)
		return kmc_detail(KMC_E_P11_KEY, "the URI names more than one key: "
			"add object= or id= to it");
	*ret_found = got == 1;
	if (got == 1) {
		CK_ATTRIBUTE ta = { CKA_KEY_TYPE, &ret->type, sizeof(ret->type) };

		ret->h = found[0];
		rv = t->mod->C_GetAttributeValue(t->session, ret->h, &ta, 1);
		if (rv != CKR_OK)
			return ck_fail(rv, "reading the key type");
	}
	return 0;
}

/* The key must stay in the token: sensitive and never extractable. */
static int key_check_inside(token *t, const key *k)
{
	CK_BBOOL extractable = CK_TRUE, sensitive = CK_FALSE;
	CK_ATTRIBUTE a[2] = {
		{ CKA_EXTRACTABLE, &extractable, sizeof(extractable) },
		{ CKA_SENSITIVE, &sensitive, sizeof(sensitive) },
	};
	CK_RV rv = t->mod->C_GetAttributeValue(t->session, k->h, a, 2);

	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE &&
	    rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return ck_fail(rv, "reading the key's attributes");
	if (a[0].ulValueLen == sizeof(CK_BBOOL) && extractable)
		return kmc_detail(KMC_E_P11_KEY_TYPE, "the token key is extractable: "
			"its value can leave the token, so it cannot protect the "
			"vault; make one with --create-key");
	if (a[1].ulValueLen == sizeof(CK_BBOOL) && !sensitive)
		return kmc_detail(KMC_E_P11_KEY_TYPE, "the token key is not "
			"sensitive; make one with --create-key");
	return 0;
}

static int key_generate_aes(token *t, P11KitUri *u, key *ret)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ATTRIBUTE tmpl[12];
	CK_ULONG n = 0;
	CK_RV rv;

	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_VALUE_LEN, &len, sizeof(len) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof(yes) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, sizeof(yes) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &no, sizeof(no) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_ENCRYPT, &yes, sizeof(yes) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_DECRYPT, &yes, sizeof(yes) };
	add_uri_ids(u, tmpl, &n);
	rv = t->mod->C_GenerateKey(t->session, &m, tmpl, n, &ret->h);
	if (rv == CKR_FUNCTION_NOT_SUPPORTED || rv == CKR_MECHANISM_INVALID)
		return kmc_detail(KMC_E_P11_KEY, "this token cannot make AES keys "
			"(%s); make one with its own tool (for a TPM: tpm2_ptool "
			"addkey --algorithm aes256) and name it in the URI",
			ckr_name(rv));
	if (rv != CKR_OK)
		return ck_fail(rv, "making the token key");
	ret->type = CKK_AES;
	return 0;
}

static int mech_supported(token *t, CK_MECHANISM_TYPE m)
{
	CK_MECHANISM_INFO info;

	return t->mod->C_GetMechanismInfo(t->slot, m, &info) == CKR_OK &&
		(info.flags & CKF_ENCRYPT) && (info.flags & CKF_DECRYPT);
}

/* ---------------------------------------------------------------- */
/* Encrypt and decrypt the slot secret                               */

static void mech_params(const p11_wrapped *w, CK_MECHANISM *m,
	CK_GCM_PARAMS *gcm, CK_RSA_PKCS_OAEP_PARAMS *oaep)
{
	m->mechanism = w->mech;
	m->pParameter = NULL;
	m->ulParameterLen = 0;
	if (w->mech == P11_MECH_AES_CBC) {
		m->pParameter = (void *)w->iv;
		m->ulParameterLen = w->iv_len;
	} else if (w->mech == P11_MECH_AES_GCM) {
		memset(gcm, 0, sizeof(*gcm));
		gcm->pIv = (unsigned char *)w->iv;
		gcm->ulIvLen = w->iv_len;
		gcm->ulIvBits = w->iv_len * 8;
		gcm->ulTagBits = 128;
		m->pParameter = gcm;
		m->ulParameterLen = sizeof(*gcm);
	} else if (w->mech == P11_MECH_RSA_OAEP) {
		memset(oaep, 0, sizeof(*oaep));
		oaep->hashAlg = w->hash == P11_HASH_SHA1 ? CKM_SHA_1 : CKM_SHA256;
		oaep->mgf = w->hash == P11_HASH_SHA1 ? CKG_MGF1_SHA1 :
			CKG_MGF1_SHA256;
		oaep->source = CKZ_DATA_SPECIFIED;
		m->pParameter = oaep;
		m->ulParameterLen = sizeof(*oaep);
	}
}

static int token_decrypt(token *t, const key *k, const p11_wrapped *w,
	kmc_secret **ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *out = NULL;
	CK_GCM_PARAMS gcm;
	CK_RSA_PKCS_OAEP_PARAMS oaep;
	CK_MECHANISM m;
	CK_ULONG len = P11_CT_MAX;
	CK_RV rv;

	KMC_GUARD(kmc_secret_new(P11_CT_MAX, &out));
	mech_params(w, &m, &gcm, &oaep);
	rv = t->mod->C_DecryptInit(t->session, &m, k->h);
	if (rv != CKR_OK)
		return ck_fail(rv, "starting the decryption in the token");
	rv = t->mod->C_Decrypt(t->session, (CK_BYTE_PTR)w->ct, w->ct_len,
		kmc_secret_data(out), &len);
	if (rv != CKR_OK) {
		/* Some tokens leave a failed operation active: start over. */
		token_forget(t);
		/* SoftHSM2 says CKR_GENERAL_ERROR for a GCM tag or an OAEP
		   padding that does not check: the data is not this key's. */
		if (rv == CKR_ENCRYPTED_DATA_INVALID ||
		    rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
		    (rv == CKR_GENERAL_ERROR && w->mech != P11_MECH_AES_CBC))
			return kmc_detail(KMC_E_P11_KEY, "the token key does not "
				"decrypt this slot (%s): another key of the same "
				"name?", ckr_name(rv));
		return ck_fail(rv, "decrypting in the token");
	}
	if (len != P11_SECRET_LEN)
		return kmc_detail(KMC_E_P11_KEY, "the token key does not decrypt "
			"this slot: another key of the same name?");
	KMC_GUARD(kmc_secret_shrink(out, len));
	*ret = TAKE_PTR(out);
	return 0;
}

static int token_encrypt_aes(token *t, const key *k, p11_wrapped *w,
	const uint8_t secret[P11_SECRET_LEN])
{
	CK_GCM_PARAMS gcm;
	CK_RSA_PKCS_OAEP_PARAMS oaep;
	CK_MECHANISM m;
	CK_ULONG len = sizeof(w->ct);
	CK_RV rv;

	mech_params(w, &m, &gcm, &oaep);
	rv = t->mod->C_EncryptInit(t->session, &m, k->h);
	if (rv != CKR_OK)
		return ck_fail(rv, "starting the encryption in the token");
	rv = t->mod->C_Encrypt(t->session, (CK_BYTE_PTR)secret, P11_SECRET_LEN,
		w->ct, &len);
	if (rv != CKR_OK) {
		token_forget(t);
		return ck_fail(rv, "encrypting in the token");
	}
	w->ct_len = len;
	return 0;
}

/* ---------------------------------------------------------------- */
/* RSA: the caller encrypts with the public key (see p11.h)          */

static int rsa_public(token *t, P11KitUri *u, uint8_t *n, size_t *nlen,
	uint8_t *e, size_t *elen)
{
	key pub;
	int found;
	CK_ATTRIBUTE a[2] = {
		{ CKA_MODULUS, n, *nlen },
		{ CKA_PUBLIC_EXPONENT, e, *elen },
	};
	CK_RV rv;

	KMC_GUARD(key_find(t, u, CKO_PUBLIC_KEY, &pub, &found));
	if (!found)
		return kmc_detail(KMC_E_P11_KEY, "the token has no public key "
			"beside the RSA private key the URI names");
	rv = t->mod->C_GetAttributeValue(t->session, pub.h, a, 2);
	if (rv != CKR_OK)
		return ck_fail(rv, "reading the RSA public key");
	*nlen = a[0].ulValueLen;
	*elen = a[1].ulValueLen;
	return 0;
}

/* ---------------------------------------------------------------- */
/* The two entry points                                              */

static int session_ready(const char *uri, const p11_pin *pin, P11KitUri **u,
	token **t)
{
	if (!*u)
		KMC_GUARD(uri_parse(uri, u));
	KMC_GUARD(token_find(*u, uri, t));
	return login(*t, *u, pin);
}

/*
 * OAEP with SHA-256 where the token takes it, else SHA-1 (SoftHSM2 2.6
 * refuses SHA-256 parameters): encrypt with the public key, and keep the
 * first hash the token decrypts.
 */
static int rsa_protect(const char *uri, const p11_pin *pin, P11KitUri **u,
	token **t, key *k, p11_rsa_encrypt_fn rsa_encrypt, p11_wrapped *w,
	const uint8_t secret[P11_SECRET_LEN])
{
	uint8_t n[1024], e[16];
	size_t nlen = sizeof(n), elen = sizeof(e);
	int found, r = KMC_E_P11;

	KMC_ENSURE(rsa_encrypt, KMC_E_INVALID);
	KMC_GUARD(rsa_public(*t, *u, n, &nlen, e, &elen));
	w->mech = P11_MECH_RSA_OAEP;
	for (int h = P11_HASH_SHA256; h >= P11_HASH_SHA1; h--) {
		_cleanup_(kmc_secret_freep) kmc_secret *check = NULL;

		w->hash = (p11_hash)h;
		w->ct_len = sizeof(w->ct);
		KMC_GUARD(rsa_encrypt(n, nlen, e, elen, h == P11_HASH_SHA1, secret,
			P11_SECRET_LEN, w->ct, &w->ct_len));
		r = token_decrypt(*t, k, w, &check);
		if (r == 0 || h == P11_HASH_SHA1)
			break;
		/* A failed decrypt drops the session: open it again. */
		kmc_detail_clear();
		KMC_GUARD(session_ready(uri, pin, u, t));
		KMC_GUARD(key_find(*t, *u, CKO_PRIVATE_KEY, k, &found));
		KMC_ENSURE(found, KMC_E_P11_KEY);
	}
	return r;
}

int p11_protect(const char *uri, const p11_pin *pin, int create,
	const char *want, p11_rsa_encrypt_fn rsa_encrypt,
	const uint8_t secret[P11_SECRET_LEN], p11_wrapped *w)
{
	_cleanup_(uri_freep) P11KitUri *u = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *check = NULL;
	token *t = NULL;
	key k;
	int found = 0, r;

	memset(w, 0, sizeof(*w));
	/* Settled before the token is touched: no key is made for nothing. */
	if (want && strcmp(want, "aes-cbc") && strcmp(want, "aes-gcm") &&
	    strcmp(want, "rsa-oaep"))
		return kmc_detail(KMC_E_INVALID, "unknown mechanism %s: aes-cbc, "
			"aes-gcm or rsa-oaep", want);
	if (create && want && strcmp(want, "rsa-oaep") == 0)
		return kmc_detail(KMC_E_P11_KEY_TYPE, "--create-key makes an AES "
			"key, which rsa-oaep does not fit; make an RSA key with the "
			"token's own tool");
	sigpipe_block();
	pthread_mutex_lock(&cache_lock);
	r = session_ready(uri, pin, &u, &t);
	if (r == 0)
		r = key_find(t, u, CKO_SECRET_KEY, &k, &found);
	if (r == 0 && !found)
		r = key_find(t, u, CKO_PRIVATE_KEY, &k, &found);
	/* A key is made only where it will be usable: check the token
	   has the mechanism first (p11-kit's network client has no AES). */
	if (r == 0 && !found && create &&
	    !mech_supported(t, want && !strcmp(want, "aes-gcm") ?
			CKM_AES_GCM : CKM_AES_CBC))
		r = kmc_detail(KMC_E_P11_KEY_TYPE, "this token has no %s, so "
			"--create-key would make an AES key nothing can use; use an "
			"RSA key (rsa-oaep)", want && !strcmp(want, "aes-gcm") ?
			"AES-GCM" : "AES-CBC");
	else if (r == 0 && !found && create)
		r = key_generate_aes(t, u, &k);
	else if (r == 0 && !found)
		r = kmc_detail(KMC_E_P11_KEY, "no key matching %s in the token "
			"(--create-key makes one on an HSM; on a TPM, make it with "
			"tpm2_ptool addkey --algorithm aes256)", uri);
	if (r == 0)
		r = key_check_inside(t, &k);
	if (r == 0 && k.type == CKK_AES) {
		if (want && strcmp(want, "aes-gcm") == 0) {
			if (!mech_supported(t, CKM_AES_GCM))
				r = kmc_detail(KMC_E_P11_KEY_TYPE, "this token has "
					"no AES-GCM; use the default aes-cbc");
			w->mech = P11_MECH_AES_GCM;
			w->iv_len = 12;
		} else if (!want || strcmp(want, "aes-cbc") == 0) {
			if (!mech_supported(t, CKM_AES_CBC))
				r = kmc_detail(KMC_E_P11_KEY_TYPE, "this token has "
					"no AES-CBC");
			w->mech = P11_MECH_AES_CBC;
			w->iv_len = 16;
		} else {
			r = kmc_detail(KMC_E_P11_KEY_TYPE, "mechanism %s does not "
				"fit an AES key (aes-cbc or aes-gcm)", want);
		}
		if (r == 0) {
			randombytes_buf(w->iv, w->iv_len);
			r = token_encrypt_aes(t, &k, w, secret);
		}
	} else if (r == 0 && k.type == CKK_RSA) {
		if (want && strcmp(want, "rsa-oaep") != 0)
			r = kmc_detail(KMC_E_P11_KEY_TYPE, "mechanism %s does not "
				"fit an RSA key (rsa-oaep)", want);
		if (r == 0)
			r = rsa_protect(uri, pin, &u, &t, &k, rsa_encrypt, w,
				secret);
	} else if (r == 0) {
		r = kmc_detail(KMC_E_P11_KEY_TYPE, "the token key is neither AES nor "
			"RSA");
	}
	/* Prove the round trip before the slot is written. */
	if (r == 0)
		r = token_decrypt(t, &k, w, &check);
	if (r == 0 && sodium_memcmp(kmc_secret_data(check), secret,
			P11_SECRET_LEN) != 0)
		r = kmc_detail(KMC_E_P11, "the token did not give back what it "
			"encrypted");
	pthread_mutex_unlock(&cache_lock);
	sigpipe_restore();
	return r;
}

int p11_unprotect(const char *uri, const p11_pin *pin, const p11_wrapped *w,
	kmc_secret **ret)
{
	_cleanup_(uri_freep) P11KitUri *u = NULL;
	token *t = NULL;
	key k;
	int found = 0, r;
	CK_OBJECT_CLASS cls = w->mech == P11_MECH_RSA_OAEP ? CKO_PRIVATE_KEY :
		CKO_SECRET_KEY;

	sigpipe_block();
	pthread_mutex_lock(&cache_lock);
	r = session_ready(uri, pin, &u, &t);
	if (r == 0)
		r = key_find(t, u, cls, &k, &found);
	if (r == KMC_E_P11 && t) {
		/* A cached session the token dropped: one fresh try. */
		token_forget(t);
		kmc_detail_clear();
		r = session_ready(uri, pin, &u, &t);
		if (r == 0)
			r = key_find(t, u, cls, &k, &found);
	}
	if (r == 0 && !found)
		r = kmc_detail(KMC_E_P11_KEY, "no key matching %s in the token",
			uri);
	if (r == 0 && k.type != (w->mech == P11_MECH_RSA_OAEP ? CKK_RSA : CKK_AES))
		r = kmc_detail(KMC_E_P11_KEY_TYPE, "the key %s names is not of the "
			"type this slot was made with", uri);
	if (r == 0)
		r = token_decrypt(t, &k, w, ret);
	pthread_mutex_unlock(&cache_lock);
	sigpipe_restore();
	return r;
}

const char *p11_mech_name(unsigned long mech, p11_hash hash)
{
	switch (mech) {
	case P11_MECH_AES_CBC:
		return "aes-cbc";
	case P11_MECH_AES_GCM:
		return "aes-gcm";
	case P11_MECH_RSA_OAEP:
		return hash == P11_HASH_SHA1 ? "rsa-oaep-sha1" : "rsa-oaep-sha256";
	}
	return "unknown";
}
