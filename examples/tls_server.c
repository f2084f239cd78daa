/*
 * tls_server.c - a small TLS server whose key, certificates and CRL come
 * from a kmcvault bundle, with client certificates required (or optional,
 * or not asked for), and which picks up a replaced key or CRL without a
 * restart.
 *
 *	tls_server [--vault DIR] [--port N] [--name NAME] [--max-connections N]
 *		[--warn-days N] [--ciphers LIST] [--ciphersuites LIST]
 *		[--verify-client none|optional|required]
 *
 * It listens on 127.0.0.1:PORT (0, the default, lets the system pick one;
 * the line "listening on 127.0.0.1:PORT" on stdout says which), completes
 * the handshake, writes "hello <client CN>\n" (or "hello (no certificate)"
 * when client certificates are optional or not asked for and the client
 * sent none) and closes. --ciphers (TLS 1.2 and below), --ciphersuites
 * (TLS 1.3) and --verify-client go to kmc_ssl_ctx_use_ex() as they are:
 * a cipher string it refuses stops the server before it listens. Between
 * connections it polls the vault's generation, and when it grew builds a
 * new SSL_CTX for the connections that follow. SIGTERM or SIGINT, or
 * --max-connections accepted connections, end it.
 *
 * The served certificate's dates are watched: the server refuses to start
 * on one that has expired or is not valid yet (exit 3), warns when it is
 * within --warn-days (default 30) of its end, at start or when the
 * horizon is crossed, and stops serving when it expires (exit 4) unless
 * a renewed certificate arrived first and was loaded. A reload to a
 * certificate that is out of its dates is refused: the server keeps the
 * one it has, which is better than serving none.
 *
 * Single-threaded on purpose: one connection at a time keeps the reload
 * logic plain. Nothing secret is printed; the key never leaves the vault
 * handle and the SSL_CTX.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <kmc.h>
#include <kmc/tls.h>

#define POLL_MS 200		/* how often the vault generation is read */
#define IO_TIMEOUT_S 5		/* a silent client cannot hold the loop */
#define LINGER_MS 1000		/* at most this long to read a client's
				   leftovers before close */
#define REOPEN_RETRY_S 5	/* after a failed re-open of the vault */
#define WARN_DAYS 30		/* default --warn-days */

/* Exit codes beyond 0 (stopped), 1 (failed to start) and 2 (usage). */
#define EXIT_OUT_OF_DATES 3	/* the certificate is expired or not yet
				   valid: not started */
#define EXIT_EXPIRED 4		/* it expired while serving */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die_usage(void)
{
	fprintf(stderr, "usage: tls_server [--vault DIR] [--port N] "
		"[--name NAME] [--max-connections N] [--warn-days N]\n"
		"\t[--ciphers LIST] [--ciphersuites LIST] "
		"[--verify-client none|optional|required]\n");
	exit(2);
}

static unsigned long number(const char *s, unsigned long max)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || n > max)
		die_usage();
	return n;
}

static kmc_client_cert client_cert_mode(const char *s)
{
	if (strcmp(s, "required") == 0)
		return KMC_CLIENT_CERT_REQUIRED;
	if (strcmp(s, "optional") == 0)
		return KMC_CLIENT_CERT_OPTIONAL;
	if (strcmp(s, "none") == 0)
		return KMC_CLIENT_CERT_NONE;
	die_usage();
	return KMC_CLIENT_CERT_REQUIRED;	/* not reached */
}

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The reason of the newest OpenSSL error, or fallback; empties the queue. */
static const char *ossl_reason(const char *fallback)
{
	char detail[512] = "";
	static char buf[256 + sizeof(detail) + 4];
	const char *data;
	unsigned long e, last = 0;
	int flags;

	/* The last error's reason, and the text a provider gave its own
	   (the kmc provider names the token and the key whose signature
	   failed there); OpenSSL's errors come first in the queue. */
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data,
		&flags)) != 0) {
		last = e;
		if (!detail[0] && ERR_GET_LIB(e) >= ERR_LIB_USER && data &&
		    (flags & ERR_TXT_STRING) && data[0])
			snprintf(detail, sizeof(detail), "%s", data);
	}
	if (last) {
		const char *r = ERR_reason_error_string(last);
		char reason[256];

		if (r)
			snprintf(reason, sizeof(reason), "%s", r);
		else
			ERR_error_string_n(last, reason, sizeof(reason));
		snprintf(buf, sizeof(buf), "%s%s%s%s", reason,
			detail[0] ? " [" : "", detail, detail[0] ? "]" : "");
	} else {
		snprintf(buf, sizeof(buf), "%s", fallback);
	}
	return buf;
}

/*
 * A new SSL_CTX serving bundle name from vault v. kmc_ssl_ctx_use() wants a
 * fresh context, so a reload builds a whole new one rather than touching
 * the one in use.
 */
static int ctx_build(kmc_vault *v, const char *name,
	const kmc_tls_params *tp, SSL_CTX **ret)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int r;

	if (!ctx) {
		fprintf(stderr, "tls_server: SSL_CTX_new: %s\n",
			ossl_reason("out of memory"));
		return -1;
	}
	r = kmc_ssl_ctx_use_ex(ctx, v, name, tp);
	if (r < 0) {
		/* The detail names the item, e.g. "no item server/cert in DIR",
		 * or the part of a cipher string that was refused. */
		fprintf(stderr, "tls_server: bundle %s in %s: %s: %s\n", name,
			kmc_vault_dir(v), kmc_strerror(r), kmc_error_detail());
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return -1;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		fprintf(stderr, "tls_server: setting TLS 1.2 as the minimum: "
			"%s\n", ossl_reason("refused"));
		SSL_CTX_free(ctx);
		return -1;
	}
	/*
	 * No session resumption: a resumed session skips certificate
	 * verification, so a client revoked since could come back through
	 * it. Every connection does a full handshake against the current CRL.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	*ret = ctx;
	return 0;
}

/* ---- the certificate's dates ---------------------------------------- */

/*
 * What is known of the served certificate's dates. The times are read
 * again from the SSL_CTX's certificate at each check (ASN1_TIME_diff()
 * against the wall clock), so a clock that is set while the server runs
 * is followed.
 */
struct dates {
	char subject[256];	/* RFC 2253, for the log */
	char not_before[32], not_after[32];	/* ISO 8601, UTC */
	const ASN1_TIME *nb, *na;	/* in the SSL_CTX's certificate */
	int warned;		/* the --warn-days line was logged */
};

enum { IN_DATES, NOT_YET_VALID, EXPIRED };

static void iso_time(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "(unreadable date)");
}

/* Read the dates of the certificate ctx serves; -1 if it has none. */
static int dates_read(SSL_CTX *ctx, struct dates *d)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	BIO *b;
	long n;
	char *p;

	memset(d, 0, sizeof(*d));
	if (!x)
		return -1;
	d->nb = X509_get0_notBefore(x);
	d->na = X509_get0_notAfter(x);
	iso_time(d->nb, d->not_before, sizeof(d->not_before));
	iso_time(d->na, d->not_after, sizeof(d->not_after));
	snprintf(d->subject, sizeof(d->subject), "(unnamed)");
	b = BIO_new(BIO_s_mem());
	if (b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
			XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    (n = BIO_get_mem_data(b, &p)) > 0)
		snprintf(d->subject, sizeof(d->subject), "%.*s", (int)n, p);
	BIO_free(b);
	ERR_clear_error();
	/* Control characters cannot forge log lines. */
	for (char *c = d->subject; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return 0;
}

/* Seconds from now until t (negative once it has passed); 0 if t cannot
 * be read, which then counts as expired. */
static long long seconds_until(const ASN1_TIME *t)
{
	int days, secs;

	if (ASN1_TIME_diff(&days, &secs, NULL, t) != 1)
		return 0;
	return (long long)days * 86400 + secs;
}

static int dates_state(const struct dates *d, long long *ret_left)
{
	*ret_left = seconds_until(d->na);
	if (seconds_until(d->nb) > 0)
		return NOT_YET_VALID;
	return *ret_left > 0 ? IN_DATES : EXPIRED;
}

/* "3 days", "5 hours", "12 s": how far ahead, coarsely, for the log. */
static void span_text(long long s, char *buf, size_t size)
{
	if (s >= 86400)
		snprintf(buf, size, "%lld day%s", s / 86400,
			s / 86400 == 1 ? "" : "s");
	else if (s >= 3600)
		snprintf(buf, size, "%lld hour%s", s / 3600,
			s / 3600 == 1 ? "" : "s");
	else if (s >= 60)
		snprintf(buf, size, "%lld minute%s", s / 60,
			s / 60 == 1 ? "" : "s");
	else
		snprintf(buf, size, "%lld s", s);
}

/* Why the certificate cannot be served, or NULL if it can. */
static const char *out_of_dates(const struct dates *d, char *buf,
	size_t size)
{
	long long left;

	switch (dates_state(d, &left)) {
	case NOT_YET_VALID:
		snprintf(buf, size, "certificate %s is not valid until %s",
			d->subject, d->not_before);
		return buf;
	case EXPIRED:
		snprintf(buf, size, "certificate %s expired %s", d->subject,
			d->not_after);
		return buf;
	}
	return NULL;
}

/* Log the warning once per certificate, when it is within warn_days of
 * its end: at start, after a reload, or when the horizon is crossed. */
static void dates_warn(struct dates *d, const char *name,
	unsigned long warn_days)
{
	char when[64];
	long long left;

	if (d->warned || dates_state(d, &left) != IN_DATES ||
	    left > (long long)warn_days * 86400)
		return;
	span_text(left, when, sizeof(when));
	fprintf(stderr, "tls_server: warning: bundle %s: certificate %s "
		"expires %s, in %s (--warn-days %lu)\n", name, d->subject,
		d->not_after, when, warn_days);
	d->warned = 1;
}

/* The vault opened read-only: a server never changes it. */
static int vault_open(const char *dir, kmc_vault **ret)
{
	int r = kmc_vault_open(dir, 0, ret);

	if (r < 0)
		fprintf(stderr, "tls_server: opening the vault %s: %s: %s\n",
			dir ? dir : "(default)", kmc_strerror(r),
			kmc_error_detail());
	return r;
}

/*
 * The vault's generation. kmc_vault_generation() sets no detail of its
 * own, so only the code is shown: kmc_error_detail() could still hold an
 * earlier call's.
 */
static int generation(kmc_vault *v, uint64_t *ret)
{
	int r = kmc_vault_generation(v, ret);

	if (r < 0)
		fprintf(stderr, "tls_server: reading the generation of the "
			"vault %s: %s\n", kmc_vault_dir(v), kmc_strerror(r));
	return r;
}

/* The client's CN, with control characters replaced so it cannot forge
 * log lines or greetings. */
static void client_cn(SSL *ssl, char *buf, size_t size)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	X509_NAME *subj = peer ? X509_get_subject_name(peer) : NULL;
	int i = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
	unsigned char *utf8 = NULL;
	int n = -1;

	if (i >= 0)
		n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
			X509_NAME_get_entry(subj, i)));
	if (!peer) {
		snprintf(buf, size, "(no certificate)");
		return;
	}
	if (n < 0) {
		snprintf(buf, size, "(no CN)");
		return;
	}
	snprintf(buf, size, "%.*s", n, (const char *)utf8);
	OPENSSL_free(utf8);
	for (char *c = buf; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/*
 * Close gently: send close_notify, stop writing, and read what the client
 * still sends (an HTTP request, say) for a moment. Closing with unread
 * data makes the kernel send a reset, which can destroy the greeting
 * before the client has read it.
 */
static void conn_close(SSL *ssl, int fd)
{
	char junk[512];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	long long left, end = now_ms() + LINGER_MS;

	if (SSL_shutdown(ssl) < 0)
		ERR_clear_error();
	shutdown(fd, SHUT_WR);
	while ((left = end - now_ms()) > 0 && poll(&p, 1, (int)left) > 0 &&
	       read(fd, junk, sizeof(junk)) > 0)
		;
	close(fd);
}

static void serve(SSL_CTX *ctx, int fd, const char *peer)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	char cn[256], line[300];
	SSL *ssl;
	int rc, n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ERR_clear_error();
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1) {
		fprintf(stderr, "tls_server: %s: SSL_new: %s\n", peer,
			ossl_reason("out of memory"));
		SSL_free(ssl);
		close(fd);
		return;
	}
	errno = 0;
	rc = SSL_accept(ssl);
	if (rc != 1) {
		int saved = errno, err = SSL_get_error(ssl, rc);
		long vr = SSL_get_verify_result(ssl);
		const char *why;

		/* On a blocking socket "want read" means the timeout ran out
		 * or a signal cut the read short. */
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			why = ossl_reason(stop ? "interrupted" : "timed out");
		else if (err == SSL_ERROR_SYSCALL && saved)
			why = ossl_reason(strerror(saved));
		else
			why = ossl_reason("connection closed");

		/* The verify result says which check failed, e.g. revoked. */
		if (vr != X509_V_OK)
			fprintf(stderr, "tls_server: %s: handshake failed: %s "
				"(%s)\n", peer, why,
				X509_verify_cert_error_string(vr));
		else
			fprintf(stderr, "tls_server: %s: handshake failed: %s\n",
				peer, why);
		SSL_free(ssl);
		close(fd);
		return;
	}
	client_cn(ssl, cn, sizeof(cn));
	n = snprintf(line, sizeof(line), "hello %s\n", cn);
	if (SSL_write(ssl, line, n) != n)
		fprintf(stderr, "tls_server: %s: writing the greeting: %s\n",
			peer, ossl_reason("connection closed"));
	else
		fprintf(stderr, "tls_server: %s: greeted %s (%s)\n", peer, cn,
			SSL_get_version(ssl));
	conn_close(ssl, fd);
	SSL_free(ssl);
}

/*
 * Whether to reload: the vault's generation differs from the one the
 * SSL_CTX was built from (it grows with every change to the item store),
 * or the handle was lost and it is time to open the vault again: reading
 * the generation fails once a restore replaced the item store the handle
 * reads (a new handle's may even be lower). Reading the generation decrypts
 * nothing, so polling it is cheap.
 */
static int vault_changed(kmc_vault *v, uint64_t gen, time_t retry_at)
{
	uint64_t g;

	if (!v)
		return now_s() >= retry_at;
	if (generation(v, &g) < 0)
		return 1;	/* open the vault afresh */
	return g != gen;
}

/*
 * Open the vault again and build a new SSL_CTX from it; swap it in only
 * once it is complete. Existing connections are not affected (there are
 * none between connections here; a threaded server would let them finish
 * on the old context, which OpenSSL reference-counts).
 *
 * The old handle is closed before the vault is opened again: LMDB, under
 * the item store, must not be open twice in one process (closing one copy
 * drops the file locks of the other). The SSL_CTX holds its own copies of
 * key, certificates and CRL, so the old one keeps serving until a new one
 * is ready, and stays if none can be built. A fresh handle also sees a
 * keystore that changed, which an old one would not.
 */
static void reload(const char *dir, const char *name,
	const kmc_tls_params *tp, kmc_vault **v, SSL_CTX **ctx,
	struct dates *d, uint64_t *gen, time_t *retry_at)
{
	SSL_CTX *fresh;
	struct dates fd;
	char why[512];
	uint64_t g;

	kmc_vault_close(*v);
	*v = NULL;
	if (vault_open(dir, v) < 0) {
		fprintf(stderr, "tls_server: reload failed, retrying in %d s; "
			"still serving the previous material\n", REOPEN_RETRY_S);
		*retry_at = now_s() + REOPEN_RETRY_S;
		return;
	}
	if (generation(*v, &g) < 0) {
		kmc_vault_close(*v);
		*v = NULL;
		*retry_at = now_s() + REOPEN_RETRY_S;
		return;
	}
	/* Either way this generation is dealt with: a bundle that is broken
	 * now is tried again when the vault next changes, not every poll. */
	*gen = g;
	if (ctx_build(*v, name, tp, &fresh) < 0) {
		fprintf(stderr, "tls_server: reload of generation %llu failed; "
			"still serving the previous material\n",
			(unsigned long long)g);
		return;
	}
	/* A certificate out of its dates would fail every handshake;
	 * the one in use may still have time left. */
	if (dates_read(fresh, &fd) < 0 ||
	    out_of_dates(&fd, why, sizeof(why))) {
		fprintf(stderr, "tls_server: reload of generation %llu "
			"refused: bundle %s: %s; still serving the previous "
			"material\n", (unsigned long long)g, name,
			fd.nb ? why : "no certificate");
		SSL_CTX_free(fresh);
		return;
	}
	SSL_CTX_free(*ctx);
	*ctx = fresh;
	*d = fd;
	fprintf(stderr, "tls_server: reloaded: generation %llu\n",
		(unsigned long long)g);
	fprintf(stderr, "tls_server: certificate %s valid until %s\n",
		d->subject, d->not_after);
}

/*
 * Whether the certificate in use has expired: then it is logged, and the
 * server stops rather than fail every handshake from here on. A renewed
 * certificate that arrived before is loaded by then (the caller reloads
 * first).
 */
static int expired_now(const struct dates *d, const char *name)
{
	long long left;

	if (dates_state(d, &left) != EXPIRED)
		return 0;
	fprintf(stderr, "tls_server: bundle %s: certificate %s expired %s "
		"and no renewed certificate arrived; no longer serving\n",
		name, d->subject, d->not_after);
	return 1;
}

static int listen_on(unsigned port, unsigned *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int one = 1;
	/* Non-blocking, so a client that gives up between poll() and
	 * accept() cannot leave us waiting in accept(). */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0) {
		fprintf(stderr, "tls_server: socket: %s\n", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		fprintf(stderr, "tls_server: listening on 127.0.0.1:%u: %s\n",
			port, strerror(errno));
		close(fd);
		return -1;
	}
	*ret_port = ntohs(a.sin_port);
	return fd;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *name = "server";
	kmc_tls_params tp = KMC_TLS_PARAMS_INIT;
	static const char *const modes[] = {
		[KMC_CLIENT_CERT_REQUIRED] = "required",
		[KMC_CLIENT_CERT_OPTIONAL] = "optional",
		[KMC_CLIENT_CERT_NONE] = "not asked for",
	};
	unsigned long port = 0, max_conn = 0, served = 0, warn_days = WARN_DAYS;
	struct dates d;
	char why[512];
	int rc = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	kmc_vault *v = NULL;
	SSL_CTX *ctx = NULL;
	uint64_t gen = 0;
	time_t retry_at = 0;
	unsigned bound;
	int lfd;

	/* Before anything uses OpenSSL: the copies of the key its decoder
	   frees at each (re)load are wiped, not left in the heap. */
	if (kmc_openssl_wipe_frees() < 0) {
		fprintf(stderr, "tls_server: %s\n", kmc_error_detail());
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			die_usage();
		if (strcmp(argv[i], "--vault") == 0)
			dir = argv[++i];
		else if (strcmp(argv[i], "--port") == 0)
			port = number(argv[++i], 65535);
		else if (strcmp(argv[i], "--name") == 0)
			name = argv[++i];
		else if (strcmp(argv[i], "--max-connections") == 0)
			max_conn = number(argv[++i], ULONG_MAX);
		else if (strcmp(argv[i], "--warn-days") == 0)
			warn_days = number(argv[++i], 36500);
		/* FairCom's SSL_CIPHERS, taken as it is. */
		else if (strcmp(argv[i], "--ciphers") == 0)
			tp.cipher_list = argv[++i];
		else if (strcmp(argv[i], "--ciphersuites") == 0)
			tp.ciphersuites = argv[++i];
		/* FairCom's VERIFY_CLIENT_CERTIFICATE: YES is required. */
		else if (strcmp(argv[i], "--verify-client") == 0)
			tp.client_cert = client_cert_mode(argv[++i]);
		else
			die_usage();
	}

	/* No SA_RESTART: a signal also cuts a blocking read short. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* A client that hangs up mid-write must not kill the server. */
	signal(SIGPIPE, SIG_IGN);

	/* Read the generation before the material, so that a change made
	 * while we load is seen as newer on the first poll. */
	if (vault_open(dir, &v) < 0)
		return 1;
	if (generation(v, &gen) < 0 || ctx_build(v, name, &tp, &ctx) < 0) {
		kmc_vault_close(v);
		return 1;
	}
	if (dates_read(ctx, &d) < 0 || out_of_dates(&d, why, sizeof(why))) {
		fprintf(stderr, "tls_server: bundle %s in %s: %s; not "
			"starting\n", name, kmc_vault_dir(v),
			d.nb ? why : "no certificate");
		SSL_CTX_free(ctx);
		kmc_vault_close(v);
		return EXIT_OUT_OF_DATES;
	}
	lfd = listen_on((unsigned)port, &bound);
	if (lfd < 0) {
		SSL_CTX_free(ctx);
		kmc_vault_close(v);
		return 1;
	}
	printf("listening on 127.0.0.1:%u\n", bound);
	fflush(stdout);
	fprintf(stderr, "tls_server: serving bundle %s, generation %llu\n",
		name, (unsigned long long)gen);
	fprintf(stderr, "tls_server: certificate %s valid until %s\n",
		d.subject, d.not_after);
	fprintf(stderr, "tls_server: client certificates %s; ciphers %s; "
		"TLS 1.3 suites %s\n", modes[tp.client_cert],
		tp.cipher_list ? tp.cipher_list : "(OpenSSL's default)",
		!tp.ciphersuites ? "(OpenSSL's default)" :
		*tp.ciphersuites ? tp.ciphersuites : "(none: TLS 1.3 off)");

	while (!stop && (max_conn == 0 || served < max_conn)) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		char addr[INET_ADDRSTRLEN], show[64];
		int fd;

		if (vault_changed(v, gen, retry_at))
			reload(dir, name, &tp, &v, &ctx, &d, &gen, &retry_at);
		if (expired_now(&d, name)) {
			rc = EXIT_EXPIRED;
			break;
		}
		dates_warn(&d, name, warn_days);

		if (poll(&p, 1, POLL_MS) <= 0)
			continue;	/* timeout, or EINTR from a signal */
		fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
		if (fd < 0)
			continue;	/* the client went away, or EINTR */
		/* It may have expired while poll() waited. */
		if (expired_now(&d, name)) {
			close(fd);
			rc = EXIT_EXPIRED;
			break;
		}
		served++;
		inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof(addr));
		snprintf(show, sizeof(show), "%s:%u", addr, ntohs(peer.sin_port));
		serve(ctx, fd, show);
	}

	fprintf(stderr, "tls_server: stopping after %lu connection%s\n",
		served, served == 1 ? "" : "s");
	close(lfd);
	SSL_CTX_free(ctx);
	kmc_vault_close(v);
	return rc;
}
