/*
 * token.c - reaching a token: modules loaded from allowed paths only,
 * one logged-in session per token cached for the life of the process
 * (started over after fork), PINs, and the SIGPIPE guard around calls
 * into a network token. p11uri.c reads the RFC 7512 URIs; p11.c does
 * the key work on top.
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
#include <sodium.h>
#include "token.h"
#include "tokenwatch.h"
#include "../kmc/crypto.h"
/*
 * Modules load only from these trees (after realpath), as ssh-agent's
 * allowed_providers: a URI from a config file cannot make us dlopen an
 * arbitrary library.
 */
static const char *const allowed_module_dirs[] = {
	"/usr/lib/", "/usr/lib64/", "/usr/local/lib/", "/lib/", "/opt/",
};
/* The same trees as a refusal names them: one left out there sends the
   operator to move a module that would have loaded (RHEL's lib64). */
#define ALLOWED_MODULE_TREES "/usr/lib, /usr/lib64, /usr/local/lib, /lib, /opt"
_Static_assert(ELEMENTSOF(allowed_module_dirs) == 5,
	"ALLOWED_MODULE_TREES names every allowed tree");

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

void p11_sigpipe_block(void)
{
	sigset_t pipe;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &saved_mask);
}

void p11_sigpipe_restore(void)
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

const char *p11_ckr_name(CK_RV rv)
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
	case CKR_USER_PIN_NOT_INITIALIZED: return "CKR_USER_PIN_NOT_INITIALIZED";
	case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
	case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
	case CKR_HOST_MEMORY: return "CKR_HOST_MEMORY";
	case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
	case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
	case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
	case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
	case CKR_ATTRIBUTE_SENSITIVE: return "CKR_ATTRIBUTE_SENSITIVE";
	case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
	case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
	case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
	case CKR_TOKEN_NOT_RECOGNIZED: return "CKR_TOKEN_NOT_RECOGNIZED";
	case CKR_SLOT_ID_INVALID: return "CKR_SLOT_ID_INVALID";
	}
	return "a PKCS#11 error";
}

static _Thread_local CK_RV last_rv;

CK_RV p11_last_rv(void)
{
	return last_rv;
}

void p11_last_rv_clear(void)
{
	last_rv = CKR_OK;
}

/*
 * What a token says when it is unplugged or reset (DEVICE_REMOVED,
 * TOKEN_NOT_PRESENT, SLOT_ID_INVALID, ...), when its session died with
 * it (SESSION_*), and what p11-kit's client module says when its link to
 * `p11-kit server` broke: DEVICE_ERROR, and GENERAL_ERROR or
 * CRYPTOKI_NOT_INITIALIZED from a module started over on the other side.
 */
int p11_rv_gone(CK_RV rv)
{
	switch (rv) {
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_DEVICE_ERROR:
	case CKR_GENERAL_ERROR:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_USER_NOT_LOGGED_IN:
	/* SoftHSM2 answers so while another process rewrites its token
	   file (at each login): the token read half-way. */
	case CKR_USER_PIN_NOT_INITIALIZED:
		return 1;
	}
	return 0;
}

int p11_unreached(int r)
{
	return r == KMC_E_P11_MODULE || r == KMC_E_P11_TOKEN ||
		(r == KMC_E_P11 && p11_rv_gone(p11_last_rv()));
}

void p11_unreached_pause(int i)
{
	static const long ms[P11_UNREACHED_TRIES] = { 20, 60, 150 };
	long m = ms[i < 0 ? 0 : i >= P11_UNREACHED_TRIES ?
		P11_UNREACHED_TRIES - 1 : i];
	struct timespec ts = { 0, (m + (long)randombytes_uniform(
		(uint32_t)m / 2)) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void p11_unreached_again(token **t, int i)
{
	if (*t)
		token_forget(*t);
	*t = NULL;
	p11_unreached_pause(i);
	kmc_detail_clear();
	p11_last_rv_clear();
}

int p11_ck_fail(CK_RV rv, const char *what)
{
	last_rv = rv;
	return kmc_detail(KMC_E_P11, "%s: %s (0x%lx)", what, p11_ckr_name(rv),
		(unsigned long)rv);
}

/* ---------------------------------------------------------------- */
/* Sessions, cached per token for the life of the process            */

/*
 * A server that reloads its vault would otherwise load the module, open a
 * session, log in and search for the key on every open: on SoftHSM2 some
 * 1 ms of a warm open's token work, 12 ms on a TPM. So the module, its
 * logged-in session and the key handles found in it are kept, keyed by
 * module path + token + key, until exit, fork, a failure, or
 * kmc_token_sessions_close(). The PIN is not kept: only the login, which
 * is what PKCS#11 means by one. KMC_TOKEN_SESSIONS=close in the
 * environment drops each session after its call instead.
 */
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
			(void)p11k.module_finalize(t->mod);
			p11k.module_release(t->mod);
			free(t);
		}
		cache = NULL;
	}
	cache_pid = pid;
}

/*
 * Log out, close, finalize and free t, which is off the list. A broken
 * session is not logged out: the login belongs to the application, not
 * the session, and the token may be back for another of ours.
 */
static void token_drop(token *t)
{
	if (getpid() == cache_pid) {
		if (t->logged_in && !t->broken)
			(void)t->mod->C_Logout(t->session);
		(void)t->mod->C_CloseSession(t->session);
	}
	(void)p11k.module_finalize(t->mod);
	p11k.module_release(t->mod);
	sodium_memzero(t, sizeof(*t));
	free(t);
}

void p11_reset(void)
{
	pthread_mutex_lock(&cache_lock);
	for (token *t = cache, *next; t; t = next) {
		next = t->next;
		token_drop(t);
	}
	cache = NULL;
	pthread_mutex_unlock(&cache_lock);
}

void kmc_token_sessions_close(void)
{
	p11_reset();
}

static int sessions_kept(void)
{
	const char *e = secure_getenv("KMC_TOKEN_SESSIONS");

	return !e || strcmp(e, "close") != 0;
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
		"the trees modules may load from (" ALLOWED_MODULE_TREES ")",
		path, real);
}

/* Load the modules a URI may mean: its module-path, or the registered
 * ones (filtered by module-name). *ret is a NULL-ended array. */
static int modules_for(P11KitUri *u, CK_FUNCTION_LIST ***ret, char *what,
	size_t size)
{
	const char *path = p11k.uri_get_module_path(u);
	const char *name = p11k.uri_get_module_name(u);
	CK_FUNCTION_LIST **all, **out;
	char real[PATH_MAX];
	size_t n = 0;
	CK_RV rv;

	if (path) {
		CK_FUNCTION_LIST *m;

		KMC_GUARD(module_path_allowed(path, real));
		m = p11k.module_load(real, 0);
		if (!m)
			return kmc_detail(KMC_E_P11_MODULE, "PKCS#11 module %s "
				"does not load: %s", real, p11k.message() ?
				p11k.message() : "p11-kit gives no reason, as "
				"when it runs out of memory");
		rv = p11k.module_initialize(m);
		if (rv != CKR_OK) {
			p11k.module_release(m);
			return p11_ck_fail(rv, "initializing the PKCS#11 module");
		}
		out = calloc(2, sizeof(*out));
		if (!out) {
			(void)p11k.module_finalize(m);
			p11k.module_release(m);
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
	all = p11k.modules_load(NULL, 0);
	if (!all)
		return kmc_detail(KMC_E_P11_MODULE, "p11-kit loads no PKCS#11 "
			"module: %s", p11k.message() ? p11k.message() :
			"none registered");
	for (size_t i = 0; all[i]; i++)
		n++;
	out = calloc(n + 1, sizeof(*out));
	if (!out) {
		p11k.modules_release(all);
		return KMC_E_NOMEM;
	}
	n = 0;
	{
		CK_RV failed = CKR_OK;
		int named = 0;

		for (size_t i = 0; all[i]; i++) {
			char *mname = p11k.module_get_name(all[i]);
			int keep = !name || (mname && strcmp(mname, name) == 0);

			free(mname);
			if (keep) {
				named = 1;
				rv = p11k.module_initialize(all[i]);
				if (rv == CKR_OK) {
					out[n++] = all[i];
					continue;
				}
				failed = rv;
			}
			p11k.module_release(all[i]);
		}
		free(all);
		if (n == 0) {
			free(out);
			last_rv = failed;
			if (named && failed != CKR_OK)
				/* A module's own files are the user's to
				   write as often as its device is away:
				   tpm2_pkcs11 fails this way on a store of
				   root's opened by a service's user. */
				return kmc_detail(KMC_E_P11, "the PKCS#11 module %s "
					"does not start: %s (0x%lx); is its device "
					"(TPM, HSM, server) reachable, and are its "
					"own files (tpm2_pkcs11's store "
					"$TPM2_PKCS11_STORE, SoftHSM2's tokens) "
					"writable by uid %u who runs this?", name ?
					name : "registered with p11-kit",
					p11_ckr_name(failed), (unsigned long)failed,
					(unsigned)geteuid());
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
		(void)p11k.module_finalize(mods[i]);
		p11k.module_release(mods[i]);
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

/*
 * KMC_E_P11_TOKEN naming the URI (without its PIN source) and the module
 * what. p11-kit's client module has no token while its server is down:
 * say so rather than "plugged in".
 */
static int no_token(P11KitUri *u, const char *what)
{
	char shown[P11_URI_MAX + 1];

	p11_uri_shown(u, shown, sizeof(shown));
	return kmc_detail(KMC_E_P11_TOKEN, "no token matching %s in %s (%s)",
		shown, what, strstr(what, "p11-kit-client") ? "is `p11-kit "
		"server` running, and P11_KIT_SERVER_ADDRESS set to its address?" :
		"is it plugged in and initialized?");
}

/* The token a URI names, with an open session, from the cache or new.
   uri_text is u as given (messages show u without its PIN source). */
int token_find(P11KitUri *u, const char *uri_text, token **ret)
{
	CK_FUNCTION_LIST **mods = NULL;
	char what[PATH_MAX];
	token *t;

	(void)uri_text;
	cache_check_fork();
	for (token **p = &cache; (t = *p); ) {
		const char *path = p11k.uri_get_module_path(u);
		const char *name = p11k.uri_get_module_name(u);
		char real[PATH_MAX];

		if (t->broken) {
			*p = t->next;
			token_drop(t);
			continue;
		}
		p = &t->next;
		if (!p11k.uri_match_token_info(u, &t->info))
			continue;
		/* The path as written matches without a realpath() each time. */
		if (path && strcmp(path, t->given) != 0 &&
		    (!realpath(path, real) || strcmp(real, t->module)))
			continue;
		if (name && !path && strcmp(name, t->module) != 0)
			continue;
		t->reused = 1;
		*ret = t;
		return 0;
	}
	/* A bound set wrong is said before a token is first used, not
	   replaced by the default unseen (tokenwatch.h). */
	KMC_GUARD(token_watch_check());
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
			    !p11k.uri_match_token_info(u, &ti))
				continue;
			rv = mods[i]->C_OpenSession(slots[s], CKF_SERIAL_SESSION |
				CKF_RW_SESSION, NULL, NULL, &sh);
			if (rv != CKR_OK) {
				release_modules(mods, NULL);
				return p11_ck_fail(rv, "opening a session on the token");
			}
			t = calloc(1, sizeof(*t));
			if (!t) {
				(void)mods[i]->C_CloseSession(sh);
				release_modules(mods, NULL);
				return KMC_E_NOMEM;
			}
			t->mod = mods[i];
			snprintf(t->module, sizeof(t->module), "%s", what);
			snprintf(t->given, sizeof(t->given), "%s",
				p11k.uri_get_module_path(u) ?
				p11k.uri_get_module_path(u) : "");
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
	return no_token(u, what);
}

/*
 * Mark only: the caller may still hold t, and token_find() drops it
 * before it looks for a token again.
 */
void token_forget(token *t)
{
	t->broken = 1;
}

void token_done(token *t)
{
	token **p = &cache;

	if (!t || sessions_kept())
		return;
	while (*p && *p != t)
		p = &(*p)->next;
	if (*p) {
		*p = t->next;
		token_drop(t);
	}
}

/* ---------------------------------------------------------------- */
/* Key handles found in a cached session                             */

static int attr_copy(P11KitUri *u, CK_ATTRIBUTE_TYPE type, unsigned char *to,
	CK_ULONG *len)
{
	CK_ATTRIBUTE *a = p11k.uri_get_attribute(u, type);

	if (!a) {
		*len = (CK_ULONG)-1;
		return 0;
	}
	if (a->ulValueLen > TOKEN_KEY_ATTR)
		return -1;
	memcpy(to, a->pValue, a->ulValueLen);
	*len = a->ulValueLen;
	return 0;
}

static int attr_same(P11KitUri *u, CK_ATTRIBUTE_TYPE type,
	const unsigned char *v, CK_ULONG len)
{
	CK_ATTRIBUTE *a = p11k.uri_get_attribute(u, type);

	if (!a)
		return len == (CK_ULONG)-1;
	return a->ulValueLen == len && memcmp(a->pValue, v, len) == 0;
}

int token_key_get(token *t, P11KitUri *u, CK_OBJECT_CLASS cls, key *ret)
{
	for (unsigned i = 0; i < t->nkeys; i++) {
		token_key *tk = &t->keys[i];

		if (tk->cls == cls &&
		    attr_same(u, CKA_LABEL, tk->label, tk->label_len) &&
		    attr_same(u, CKA_ID, tk->id, tk->id_len)) {
			*ret = tk->k;
			return 1;
		}
	}
	return 0;
}

void token_key_put(token *t, P11KitUri *u, CK_OBJECT_CLASS cls, const key *k)
{
	token_key tk = { .cls = cls, .k = *k };

	if (attr_copy(u, CKA_LABEL, tk.label, &tk.label_len) < 0 ||
	    attr_copy(u, CKA_ID, tk.id, &tk.id_len) < 0)
		return;
	/* Newest first; the oldest falls off. */
	if (t->nkeys < TOKEN_KEYS)
		t->nkeys++;
	memmove(&t->keys[1], &t->keys[0], (t->nkeys - 1) * sizeof(t->keys[0]));
	t->keys[0] = tk;
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
	int r = kmc_secret_read_file(path, PIN_MAX, ret);
	const char *d = kmc_error_detail();

	if (r < 0)
		/* Out of memory stays that: the PIN file is not to blame. */
		return kmc_detail(r == KMC_E_NOMEM ? r : KMC_E_P11_PIN,
			"the URI's pin-source %s: %s", source, d[0] ? d :
			kmc_strerror(r));
	return 0;
}

static int pin_get(P11KitUri *u, const p11_pin *pin, kmc_secret **ret)
{
	kmc_secret *s;
	const char *v;
	int n;

	/* --pin-file / --pin-fd, then the URI, then a prompt; or the URI
	   first (uri_first: a recorded key's pin-source, where there is
	   one, stays the PIN it is destroyed with). */
	if (pin && pin->pin && !pin->uri_first)
		return kmc_secret_dup(kmc_secret_data(pin->pin),
			kmc_secret_len(pin->pin), ret);
	v = p11k.uri_get_pin_value(u);
	if (v)
		return kmc_secret_dup(v, strlen(v), ret);
	v = p11k.uri_get_pin_source(u);
	if (v)
		return pin_from_source(v, ret);
	if (pin && pin->pin)
		return kmc_secret_dup(kmc_secret_data(pin->pin),
			kmc_secret_len(pin->pin), ret);
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

int token_login(token *t, P11KitUri *u, const p11_pin *pin)
{
	_cleanup_(kmc_secret_freep) kmc_secret *p = NULL;
	char label[33];
	CK_TOKEN_INFO ti;
	CK_RV rv;

	if (t->logged_in)
		return 0;
	pad_copy(label, sizeof(label), t->label, sizeof(t->label));
	/* A token token_find() found just now had its flags read a moment
	   ago, in this call: asking again is one more call into the module
	   (SoftHSM2 rereads its token file for it) for the same answer. One
	   kept from an earlier call is asked again: its PIN may have locked
	   since. */
	if (!t->reused)
		ti = t->info;
	else if (t->mod->C_GetTokenInfo(t->slot, &ti) != CKR_OK)
		ti.flags = 0;
	if (ti.flags & CKF_USER_PIN_LOCKED)
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
	return p11_ck_fail(rv, "logging in to the token");
}

int token_session_ready(const char *uri, const p11_pin *pin, P11KitUri **u,
	token **t)
{
	if (!*u)
		KMC_GUARD(p11_uri_parse(uri, u));
	KMC_GUARD(token_find(*u, uri, t));
	return token_login(*t, *u, pin);
}


void token_cache_lock(void)
{
	pthread_mutex_lock(&cache_lock);
}

void token_cache_unlock(void)
{
	pthread_mutex_unlock(&cache_lock);
}
