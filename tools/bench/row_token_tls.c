/*
 * row_token_tls.c - row token-tls: full TLS handshakes a second with a
 * server key that lives on a SoftHSM2 token, reached through the kmc
 * provider (OSSL_STORE kmc://VAULT?item=NAME, as `openssl s_server -key
 * kmc://...` does) against the same token object through the OpenSC
 * engine (libengine-pkcs11-openssl: ENGINE_load_private_key on its
 * pkcs11: URI, as `s_server -engine pkcs11 -keyform engine` does).
 *
 * Both servers are this program (kmc-bench --tls-server), started once
 * each, differing only in how they load the key: same certificate, TLS
 * 1.3 only, TLS_AES_128_GCM_SHA256, X25519, RSA-PSS with SHA-256 (the
 * signature TLS 1.3 asks of an RSA key), no session cache, no tickets,
 * so every handshake is a full one with one signature on the token. One
 * client, this process, makes a fixed number of handshakes a sample on
 * loopback, to each server in turn; a handshake counts once the client
 * has read the server's close_notify, so the server's part is all in.
 */
#define OPENSSL_SUPPRESS_DEPRECATED	/* the engine API: the peer's */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>
#include <openssl/store.h>
#include "bench.h"

#define TLS_BATCH 5		/* handshakes a sample */
#define TLS_SAMPLES 61
#define TLS_SAMPLES_QUICK 21
#define TLS_CIPHER "TLS_AES_128_GCM_SHA256"
#define TLS_GROUP "X25519"
#define TLS_SIGALG "rsa_pss_rsae_sha256"
#define LISTEN_FD 3		/* the servers' listening socket */

/* ---------------------------------------------------------------- */
/* The servers (kmc-bench --tls-server)                              */

static void tls_common(SSL_CTX *ctx, const char *who)
{
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, TLS_CIPHER) ||
	    !SSL_CTX_set1_groups_list(ctx, TLS_GROUP) ||
	    !SSL_CTX_set1_sigalgs_list(ctx, TLS_SIGALG)) {
		ERR_print_errors_fp(stderr);
		die(who, "setting up TLS 1.3 with " TLS_CIPHER ", " TLS_GROUP
			", " TLS_SIGALG);
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
}

static EVP_PKEY *key_by_kmc(const char *provider_dir, const char *uri)
{
	OSSL_STORE_CTX *s;
	EVP_PKEY *k = NULL;

	/* As -provider-path D -provider kmc -provider default. */
	if (!OSSL_PROVIDER_set_default_search_path(NULL, provider_dir) ||
	    !OSSL_PROVIDER_load(NULL, "kmc") ||
	    !OSSL_PROVIDER_load(NULL, "default"))
		return NULL;
	s = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
	if (!s)
		return NULL;
	while (!k && !OSSL_STORE_eof(s)) {
		OSSL_STORE_INFO *i = OSSL_STORE_load(s);

		if (i && OSSL_STORE_INFO_get_type(i) == OSSL_STORE_INFO_PKEY)
			k = OSSL_STORE_INFO_get1_PKEY(i);
		OSSL_STORE_INFO_free(i);
		if (!i)
			break;
	}
	OSSL_STORE_close(s);
	return k;
}

static EVP_PKEY *key_by_engine(const char *p11_uri, const char *pin_file)
{
	char pin[64] = "";
	FILE *f = fopen(pin_file, "r");
	EVP_PKEY *k = NULL;
	ENGINE *e;

	if (!f || !fgets(pin, sizeof(pin), f))
		die("--tls-server engine", "reading %s: %s", pin_file,
			strerror(errno));
	fclose(f);
	pin[strcspn(pin, "\n")] = 0;
	/* As -engine pkcs11 -keyform engine, the module named outright. */
	e = ENGINE_by_id("pkcs11");
	if (e && ENGINE_ctrl_cmd_string(e, "MODULE_PATH", P11_MODULE, 0) &&
	    ENGINE_ctrl_cmd_string(e, "PIN", pin, 0) && ENGINE_init(e)) {
		k = ENGINE_load_private_key(e, p11_uri, NULL, NULL);
		ENGINE_finish(e);
	}
	ENGINE_free(e);
	OPENSSL_cleanse(pin, sizeof(pin));
	return k;
}

/*
 * kmc-bench --tls-server kmc CERT kmc://... PROVIDER_DIR
 * kmc-bench --tls-server engine CERT pkcs11:... PIN_FILE
 * Serves handshakes on fd LISTEN_FD until killed (or its parent dies).
 */
int tls_server_child(int argc, char **argv)
{
	const char *who;
	SSL_CTX *ctx;
	EVP_PKEY *k;
	int one = 1;

	if (argc != 6)
		die("--tls-server", "usage: --tls-server kmc|engine CERT KEY "
			"PROVIDER_DIR|PIN_FILE");
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	who = !strcmp(argv[2], "kmc") ? "--tls-server kmc" :
		"--tls-server engine";
	k = !strcmp(argv[2], "kmc") ? key_by_kmc(argv[5], argv[4]) :
		key_by_engine(argv[4], argv[5]);
	ctx = SSL_CTX_new(TLS_server_method());
	if (!k || !ctx) {
		ERR_print_errors_fp(stderr);
		die(who, "loading the key %s", argv[4]);
	}
	tls_common(ctx, who);
	if (SSL_CTX_use_certificate_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, k) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_print_errors_fp(stderr);
		die(who, "the key %s with the certificate %s", argv[4], argv[3]);
	}
	EVP_PKEY_free(k);
	for (;;) {
		int c = accept(LISTEN_FD, NULL, NULL);
		SSL *s;

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die(who, "accept: %s", strerror(errno));
		}
		(void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s = SSL_new(ctx);
		if (s && SSL_set_fd(s, c) && SSL_accept(s) == 1)
			(void)SSL_shutdown(s);
		else
			ERR_print_errors_fp(stderr);
		SSL_free(s);
		close(c);
	}
}

/* ---------------------------------------------------------------- */
/* The client, and the row                                           */

typedef struct tls_side {
	const char *name;
	char log[PATH_MAX];
	pid_t pid;
	struct sockaddr_in addr;
	SSL_CTX *ctx;		/* the client's, shared by both sides */
	int batch;
} tls_side;

static tls_side sides[2];

static void servers_stop(void)
{
	for (int i = 0; i < 2; i++) {
		if (sides[i].pid <= 0)
			continue;
		(void)kill(sides[i].pid, SIGTERM);
		(void)waitpid(sides[i].pid, NULL, 0);
		sides[i].pid = 0;
	}
}

static void server_start(tls_side *s, const char *self, char *const argv[])
{
	socklen_t len = sizeof(s->addr);
	posix_spawn_file_actions_t fa;
	int fd, one = 1, r;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&s->addr, 0, sizeof(s->addr));
	s->addr.sin_family = AF_INET;
	s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) < 0 ||
	    listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&s->addr, &len) < 0)
		die(s->name, "a listening socket on 127.0.0.1: %s",
			strerror(errno));
	r = posix_spawn_file_actions_init(&fa);
	if (r == 0)
		r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO,
			"/dev/null", O_WRONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, s->log,
			O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, fd, LISTEN_FD);
	if (r == 0)
		r = posix_spawn(&s->pid, self, &fa, NULL, argv, environ);
	if (r != 0)
		die(s->name, "starting the server: %s", strerror(r));
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
}

/* One full handshake, and the server's close_notify read. */
static int handshake(tls_side *s)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1,
		ok = 0;
	char b;
	SSL *ssl = NULL;

	if (fd >= 0 && connect(fd, (struct sockaddr *)&s->addr,
			sizeof(s->addr)) == 0 &&
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 &&
	    (ssl = SSL_new(s->ctx)) && SSL_set_fd(ssl, fd) &&
	    SSL_connect(ssl) == 1)
		ok = SSL_read(ssl, &b, 1) <= 0 &&
			SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN;
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	return ok;
}

static _Noreturn void handshake_failed(tls_side *s)
{
	ERR_print_errors_fp(stderr);
	servers_stop();
	show_log(s->log);
	die(s->name, "a TLS handshake failed (the server's log is above)");
}

static double sample_tls(void *arg)
{
	tls_side *s = arg;
	double t0 = now();

	for (int i = 0; i < s->batch; i++)
		if (!handshake(s))
			handshake_failed(s);
	return (now() - t0) / s->batch;
}

/* The pkcs11 engine where this OpenSSL looks for engines, or 0. */
static int engine_found(char *path, size_t size)
{
	const char *dir = getenv("OPENSSL_ENGINES"), *v;
	char buf[PATH_MAX];

	if (!dir || !*dir) {
		/* "ENGINESDIR: \"/usr/lib/.../engines-3\"" */
		v = OpenSSL_version(OPENSSL_ENGINES_DIR);
		v = v ? strchr(v, '"') : NULL;
		if (!v)
			return 0;
		snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(v + 1, "\""),
			v + 1);
		dir = buf;
	}
	if (snprintf(path, size, "%.*s/pkcs11.so", (int)(size - 16), dir) < 0)
		return 0;
	return access(path, R_OK) == 0;
}

int row_token_tls(row *r, bench_env *e)
{
	static char self[PATH_MAX], engine[PATH_MAX];
	const token_key_env *tk;
	SSL_CTX *ctx;
	cpu_set_t cpus;
	int pinned = 0;

	r->what = "token key TLS 1.3 handshake: kmc vs engine";
	r->about = "a full TLS 1.3 handshake (TLS_AES_128_GCM_SHA256, X25519, "
		"RSA-PSS SHA-256, no\n   resumption, no tickets; one client, "
		"loopback) with an RSA 2048 key made on a\n   SoftHSM2 token by "
		"`kmc key gen --on-token`, the server loading it as\n   "
		"kmc://VAULT?item=NAME through the kmc provider vs the same "
		"server loading\n   the same token object through the OpenSC "
		"engine (libengine-pkcs11-openssl,\n   ENGINE_load_private_key "
		"on its pkcs11: URI, MODULE_PATH the SoftHSM2\n   module). "
		"Time per handshake: handshakes a second are 1 / it, so the\n"
		"   ratio at or under 1.00x is the provider serving at least "
		"as many.";
	r->per = "batches of " STR(TLS_BATCH) " (per hs)";
	if (!engine_found(engine, sizeof(engine))) {
		snprintf(r->skipped, sizeof(r->skipped), "the OpenSC engine "
			"is not installed (%.100s; libengine-pkcs11-openssl, "
			"tools/deps.sh installs it)", engine[0] ? engine :
			"pkcs11.so");
		fprintf(stderr, "kmc-bench: row token-tls skipped: %s\n",
			r->skipped);
		return 0;
	}
	tk = bench_token_key(r, e, "row token-tls");
	if (!tk)
		return 0;
	if (!realpath("/proc/self/exe", self))
		die("row token-tls", "/proc/self/exe: %s", strerror(errno));
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		die("row token-tls", "SSL_CTX_new failed");
	tls_common(ctx, "row token-tls: the client");
	/* Not verified: the same work on both sides, kept out of both. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	sides[0].name = "row token-tls: the server with the kmc provider";
	sides[1].name = "row token-tls: the server with the OpenSC engine";
	path_join(sides[0].log, tmp_dir, "tls-kmc.log");
	path_join(sides[1].log, tmp_dir, "tls-engine.log");
	for (int i = 0; i < 2; i++) {
		sides[i].ctx = ctx;
		sides[i].batch = TLS_BATCH;
	}
	if (atexit(servers_stop) != 0)
		die("row token-tls", "atexit failed");
	/*
	 * Client and both servers on one CPU, which the servers inherit: a
	 * handshake is a ping-pong, never parallel, and a server the
	 * scheduler left on a core that another job keeps busy would
	 * otherwise lose the whole run to the other, whatever the interleave.
	 */
	if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) {
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
		pinned = sched_setaffinity(0, sizeof(one), &one) == 0;
	}
	/*
	 * Each server's first handshake waits for its key to load; the
	 * engine's server starts once the kmc one has its key. Started
	 * together, the two opened the SoftHSM2 token at once, and the
	 * engine's C_GetSlotList failed with CKR_GENERAL_ERROR about one
	 * run in three ("Failed to enumerate slots").
	 */
	server_start(&sides[0], self, (char *[]){ self, "--tls-server", "kmc",
		(char *)tk->cert, (char *)tk->store_uri, e->provider_dir, NULL });
	if (!handshake(&sides[0]))
		handshake_failed(&sides[0]);
	server_start(&sides[1], self, (char *[]){ self, "--tls-server",
		"engine", (char *)tk->cert, (char *)tk->p11_uri,
		(char *)tk->pin_file, NULL });
	if (!handshake(&sides[1]))
		handshake_failed(&sides[1]);
	fprintf(stderr, "kmc-bench: row token-tls: TLS 1.3 handshakes, kmc "
		"provider vs OpenSC engine\n");
	measure(r, (side){ sample_tls, &sides[0] },
		(side){ sample_tls, &sides[1] }, e->quick ? TLS_SAMPLES_QUICK :
		TLS_SAMPLES);
	servers_stop();
	if (pinned)
		(void)sched_setaffinity(0, sizeof(cpus), &cpus);
	SSL_CTX_free(ctx);
	return 1;
}
