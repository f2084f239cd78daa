/*
 * tls_load.c - a test helper: a client load for examples/tls_server.
 * Mutual TLS, a new connection (and a full handshake) per request, round
 * robin over the given ports, until SIGTERM or SIGINT (the request under
 * way is finished first) or --max requests.
 *
 *	tls_load --ca FILE --cert FILE --key FILE [--status FILE]
 *		[--interval-ms N] [--max N] PORT...
 *
 * The CA file (the client's trust store), certificate and key are read
 * again for every request, so a test can swap them (by rename) while the
 * load runs, as an operator changes a client's trust store. --cert and
 * --key may name one file holding both, so that one rename swaps them
 * together. The server's certificate must verify against the CA file and
 * name localhost.
 *
 * Each failure is one line on stderr, naming the port and why. --status
 * FILE is rewritten (temp and rename) after every request, and the same
 * line ends stdout at exit:
 *	requests N ok N handshake_failed N other_failed N
 * (other: no TCP connection, the files could not be read, or no greeting
 * after the handshake). Exit 0 when nothing failed, 1 otherwise, 2 usage.
 *
 * Built by the tests (kmc_cc in tests/e2e/lib.sh); links only OpenSSL.
 */
#include <errno.h>
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
#include <openssl/x509v3.h>

#define MAX_PORTS 16
#define IO_TIMEOUT_S 10

static volatile sig_atomic_t stop;
static const char *ca, *cert, *key, *status_file;
static unsigned long requests, ok, hs_failed, other_failed;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: tls_load --ca FILE --cert FILE --key FILE "
		"[--status FILE] [--interval-ms N] [--max N] PORT...\n");
	exit(2);
}

static unsigned long number(const char *s, unsigned long max)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || n > max)
		usage();
	return n;
}

static const char *reason(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%s",
			errno ? strerror(errno) : "connection closed");
	ERR_clear_error();
	return buf;
}

static void write_status(FILE *f)
{
	fprintf(f, "requests %lu ok %lu handshake_failed %lu other_failed "
		"%lu\n", requests, ok, hs_failed, other_failed);
}

/* Rewrite --status by temp and rename: a reader never sees half a line. */
static void status_update(void)
{
	char tmp[4096];
	FILE *f;

	if (!status_file)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", status_file);
	f = fopen(tmp, "w");
	if (!f)
		return;
	write_status(f);
	if (fclose(f) == 0)
		rename(tmp, status_file);
}

/* A client context from the files as they are now. */
static SSL_CTX *ctx_new(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	if (SSL_CTX_load_verify_file(ctx, ca) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(ctx), "localhost", 0);
	return ctx;
}

static int tcp_connect(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* One request: connect, handshake, read the greeting to the end. */
static void request(unsigned port)
{
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	char buf[512];
	size_t got = 0;
	int fd, n;

	requests++;
	errno = 0;
	ctx = ctx_new();
	if (!ctx) {
		other_failed++;
		fprintf(stderr, "tls_load: reading %s, %s, %s: %s\n", ca, cert,
			key, reason());
		return;
	}
	fd = tcp_connect(port);
	if (fd < 0) {
		other_failed++;
		fprintf(stderr, "tls_load: 127.0.0.1:%u: connect: %s\n", port,
			strerror(errno));
		SSL_CTX_free(ctx);
		return;
	}
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_tlsext_host_name(ssl, "localhost") != 1) {
		other_failed++;
		fprintf(stderr, "tls_load: SSL_new: %s\n", reason());
		goto out;
	}
	errno = 0;
	if (SSL_connect(ssl) != 1) {
		long vr = SSL_get_verify_result(ssl);

		hs_failed++;
		fprintf(stderr, "tls_load: 127.0.0.1:%u: handshake failed: %s%s%s%s\n",
			port, reason(), vr != X509_V_OK ? " (" : "",
			vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "",
			vr != X509_V_OK ? ")" : "");
		goto out;
	}
	/* In TLS 1.3 the server checks the client's certificate after the
	 * client's side of the handshake is done: a refusal shows as an
	 * alert on the first read, which is still a failed handshake. */
	while (got < sizeof(buf) - 1 &&
	       (n = SSL_read(ssl, buf + got, (int)(sizeof(buf) - 1 - got))) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	if (strncmp(buf, "hello ", 6) == 0) {
		ok++;
	} else if (ERR_peek_last_error()) {
		hs_failed++;
		fprintf(stderr, "tls_load: 127.0.0.1:%u: handshake failed: "
			"%s\n", port, reason());
	} else {
		other_failed++;
		fprintf(stderr, "tls_load: 127.0.0.1:%u: no greeting\n", port);
	}
	SSL_shutdown(ssl);
out:
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

int main(int argc, char **argv)
{
	unsigned ports[MAX_PORTS];
	unsigned long interval_ms = 20, max = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t stopsigs;
	size_t nports = 0;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--ca"))
			ca = argv[i + 1];
		else if (!strcmp(argv[i], "--cert"))
			cert = argv[i + 1];
		else if (!strcmp(argv[i], "--key"))
			key = argv[i + 1];
		else if (!strcmp(argv[i], "--status"))
			status_file = argv[i + 1];
		else if (!strcmp(argv[i], "--interval-ms"))
			interval_ms = number(argv[i + 1], 60000);
		else if (!strcmp(argv[i], "--max"))
			max = number(argv[i + 1], 1000000000);
		else
			usage();
	}
	for (; i < argc; i++) {
		if (nports == MAX_PORTS)
			usage();
		ports[nports++] = (unsigned)number(argv[i], 65535);
	}
	if (!ca || !cert || !key || nports == 0)
		usage();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* The stop signals are blocked while a request is under way and
	 * taken between requests: a stop must not cut a handshake short,
	 * which both sides would count as a failure (and SA_RESTART does
	 * not restart reads on a socket with a timeout). */
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	signal(SIGPIPE, SIG_IGN);

	status_update();
	for (size_t next = 0; !stop && (max == 0 || requests < max);
	     next = (next + 1) % nports) {
		struct timespec ts = { .tv_sec = (time_t)(interval_ms / 1000),
			.tv_nsec = (long)(interval_ms % 1000) * 1000000 };

		sigprocmask(SIG_BLOCK, &stopsigs, NULL);
		request(ports[next]);
		status_update();
		sigprocmask(SIG_UNBLOCK, &stopsigs, NULL);
		if (!stop && interval_ms)
			nanosleep(&ts, NULL);
	}
	write_status(stdout);
	return hs_failed || other_failed ? 1 : 0;
}
