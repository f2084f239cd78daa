/*
 * conc_reader.c - a test helper for tests/e2e/test_concurrency.sh,
 * test_concurrency_commits.sh and test_file_attacks.sh: a server that
 * keeps reading a vault while other processes change it, a writer that
 * commits as fast as it can, and two small file-system attackers. Public
 * API only (kmc.h, kmc/tls.h).
 *
 *	conc_reader run  DIR ITEM BUNDLE MAXK MIN MAX STOPFILE [CERT...]
 *	conc_reader hold DIR ITEM
 *	conc_reader batch DIR ITEM VALUE
 *	conc_reader open DIR MIN MAX STOPFILE
 *	conc_reader churn DIR N
 *	conc_reader puts DIR ITEM N
 *	conc_reader info DIR BUNDLE STOPFILE
 *	conc_reader calist DIR STOPFILE
 *	conc_reader trustlist DIR STOPFILE
 *	conc_reader swap PATH_A PATH_B MAX STOPFILE USEC [USEC2]
 *	conc_reader hardlink FILE LINK MAX STOPFILE USEC [USEC2]
 *
 * run: open DIR read-only once and keep that handle; then loop, at least
 * MIN and at most MAX times, stopping after MIN once STOPFILE exists. Each
 * round opens a second, fresh read-only handle too, and through both:
 * kmc_item_get_secret(ITEM) must succeed and give exactly "v-<k>" with
 * 0 <= k <= MAXK, and k never smaller than one this process saw before
 * (a writer that stores v-1, v-2, ... in order cannot be seen going
 * back); kmc_key_load(BUNDLE) must succeed and, when CERT files (PEM) are
 * given, the key must belong to one of them; kmc_vault_generation() of the
 * kept handle never shrinks. The fresh handle must be opened by protector
 * 1 (the host protector) with nothing failing first. The last line on
 * stdout is "rounds R values D first F last L"; "ready" is printed after
 * the first round. The round that starts after STOPFILE appeared is the
 * last, so its reads come after whatever the test did before creating it.
 *
 * hold: open DIR read-only once; for every line on stdin (at most 1000)
 * read ITEM through that same handle and print "VALUE GENERATION".
 *
 * open: kmc_vault_open() read-only and kmc_vault_close(), as fast as it
 * goes, at least MIN and at most MAX times, stopping after MIN once
 * STOPFILE exists; every open must succeed. Prints "opens N".
 *
 * churn: open DIR for writing and N times add a host protector (the host
 * key of $KMC_HOST_KEY again) and remove it: 2N keystore changes, each
 * replacing kmc.ks and StandbyKsf.ks by rename, as fast as they go.
 * Prints "changes 2N".
 *
 * puts: open DIR for writing and store the password ITEM as "v-1" ..
 * "v-N" in order, each a commit of its own, as fast as they go (a
 * writer in one process commits far faster than the kmc command, so
 * readers meet commits in every step of their reads). Prints "puts N".
 *
 * info: open DIR read-only once and, through that handle,
 * kmc_cert_info_get(BUNDLE) again and again until STOPFILE exists (and
 * once more after): each must describe the certificate or find none
 * (KMC_E_NOT_FOUND: the bundle is being removed or imported again).
 * Prints "infos N found F none M".
 *
 * calist: the same with kmc_ca_list() of every CA: each must succeed.
 * Prints "lists N cas C" (C: the CAs all lists reported).
 * trustlist: the same with kmc_trust_list() of every trust store.
 * Prints "lists N certs C".
 *
 * swap: exchange PATH_A and PATH_B atomically (renameat2 RENAME_EXCHANGE)
 * twice per round, sleeping USEC microseconds after the first exchange and
 * USEC2 (default USEC) after the second, at most MAX rounds or until
 * STOPFILE exists; the two names end as they started.
 * hardlink: link FILE to LINK, sleep USEC, unlink LINK, sleep USEC2; same
 * bounds.
 * Both print "rounds R" at the end.
 *
 * batch: open DIR for writing, kmc_batch_begin, kmc_batch_put of ITEM (a
 * password, VALUE), print "begun"; then wait for a line on stdin before
 * kmc_batch_commit, and print "committed". While it waits, its LMDB
 * write transaction is open.
 *
 * Any failure is reported on stderr, naming the round, and exits 1; usage
 * errors exit 2. An alarm bounds every step (a round, a change, a line
 * read), so a hang becomes a failure that says so ("no step done in
 * 100 s"), exit 1. It bounds a step, not the whole run: every mode is
 * bounded by counts already, and on a loaded machine a run of hundreds of
 * rounds may take longer than any fixed limit (an alarm over the whole
 * run once killed churn mid-change, between the two keystore files).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <kmc.h>
#include <kmc/admin.h>
#include <kmc/tls.h>

#define STEP_LIMIT 100	/* seconds without a step done: a hang */
#define STR_(x) #x
#define STR(x) STR_(x)
#define MAXK_LIMIT 100000

static const char *dir, *item, *bundle;
static const char *mode = "";
static volatile long step_round;

/* Async-signal-safe: write(2) only, the round's digits made by hand. */
static void on_alarm(int sig)
{
	char msg[160], digits[24];
	size_t n = 0, d = 0;
	unsigned long r = step_round < 0 ? 0 : (unsigned long)step_round;
	const char *parts[] = { "conc_reader ", mode, ": no step done in "
		STR(STEP_LIMIT) " s (round ", NULL };

	(void)sig;
	for (int i = 0; parts[i]; i++)
		for (const char *p = parts[i]; *p && n < sizeof(msg) - 32; p++)
			msg[n++] = *p;
	do
		digits[d++] = (char)('0' + r % 10);
	while ((r /= 10) && d < sizeof(digits));
	while (d)
		msg[n++] = digits[--d];
	msg[n++] = ')';
	msg[n++] = '\n';
	(void)!write(STDERR_FILENO, msg, n);
	_exit(1);
}

/* step ROUND: a step is done; the next has STEP_LIMIT seconds. */
static void step(long round)
{
	step_round = round;
	alarm(STEP_LIMIT);
}

static int fail(long round, const char *what, int r)
{
	fprintf(stderr, "conc_reader[%ld]: round %ld: %s: %s (%s)\n",
		(long)getpid(), round, what, r ? kmc_strerror(r) : "",
		r ? kmc_error_detail() : "");
	return 1;
}

static int parse_long(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*ret = v;
	return 0;
}

/* "v-<k>": k, or -1 when the value is of another form. */
static long value_index(const kmc_secret *s, long maxk)
{
	const char *p = (const char *)kmc_secret_data(s);
	size_t n = kmc_secret_len(s);
	long k = 0;

	if (n < 3 || n > 12 || p[0] != 'v' || p[1] != '-')
		return -1;
	for (size_t i = 2; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (i > 2 && p[2] == '0')
			return -1;	/* no leading zeros */
		k = k * 10 + (p[i] - '0');
	}
	return k <= maxk ? k : -1;
}

typedef struct run_state {
	long maxk, floor, first, last, distinct;
	unsigned char *seen;
	STACK_OF(X509) *certs;
} run_state;

static int check_value(kmc_vault *v, run_state *st, long round,
	const char *which)
{
	kmc_secret *s = NULL;
	char what[128];
	long k;
	int r;

	snprintf(what, sizeof(what), "%s handle: get %s", which, item);
	r = kmc_item_get_secret(v, item, &s);
	if (r < 0)
		return fail(round, what, r);
	k = value_index(s, st->maxk);
	if (k < 0) {
		fprintf(stderr, "conc_reader[%ld]: round %ld: %s: the value "
			"\"%.*s\" is not one the writer writes (v-0 .. v-%ld)\n",
			(long)getpid(), round, what,
			(int)(kmc_secret_len(s) > 64 ? 64 : kmc_secret_len(s)),
			(const char *)kmc_secret_data(s), st->maxk);
		kmc_secret_free(s);
		return 1;
	}
	kmc_secret_free(s);
	if (k < st->floor) {
		fprintf(stderr, "conc_reader[%ld]: round %ld: %s: read v-%ld "
			"after v-%ld had been read: a value went back\n",
			(long)getpid(), round, what, k, st->floor);
		return 1;
	}
	st->floor = k;
	if (st->first < 0)
		st->first = k;
	st->last = k;
	if (!st->seen[k]) {
		st->seen[k] = 1;
		st->distinct++;
	}
	return 0;
}

static int check_key(kmc_vault *v, run_state *st, long round,
	const char *which)
{
	EVP_PKEY *pkey = NULL;
	char what[128];
	int r, match = 0;

	snprintf(what, sizeof(what), "%s handle: kmc_key_load %s", which,
		bundle);
	r = kmc_key_load(v, bundle, &pkey);
	if (r < 0)
		return fail(round, what, r);
	for (int i = 0; !match && i < sk_X509_num(st->certs); i++)
		match = X509_check_private_key(sk_X509_value(st->certs, i),
			pkey) == 1;
	EVP_PKEY_free(pkey);
	if (sk_X509_num(st->certs) > 0 && !match) {
		fprintf(stderr, "conc_reader[%ld]: round %ld: %s: the key "
			"belongs to none of the certificates given\n",
			(long)getpid(), round, what);
		return 1;
	}
	return 0;
}

static int load_certs(int n, char **files, STACK_OF(X509) *certs)
{
	for (int i = 0; i < n; i++) {
		FILE *f = fopen(files[i], "r");
		X509 *x;

		if (!f) {
			fprintf(stderr, "conc_reader: %s: %s\n", files[i],
				strerror(errno));
			return -1;
		}
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
		if (!x || !sk_X509_push(certs, x)) {
			fprintf(stderr, "conc_reader: %s: not a PEM "
				"certificate\n", files[i]);
			X509_free(x);
			return -1;
		}
	}
	return 0;
}

static int mode_run(int argc, char **argv)
{
	run_state st = { .floor = 0, .first = -1, .last = -1 };
	const char *stopfile;
	kmc_vault *keep = NULL;
	uint64_t gen = 0, g;
	long min, max, round, done = 0;
	int r, rc = 0;

	if (argc < 9 || parse_long(argv[5], 0, MAXK_LIMIT, &st.maxk) < 0 ||
	    parse_long(argv[6], 1, 10000000, &min) < 0 ||
	    parse_long(argv[7], min, 10000000, &max) < 0)
		return 2;
	dir = argv[2];
	item = argv[3];
	bundle = argv[4];
	stopfile = argv[8];
	st.seen = calloc((size_t)st.maxk + 1, 1);
	st.certs = sk_X509_new_null();
	if (!st.seen || !st.certs)
		return 1;
	if (load_certs(argc - 9, argv + 9, st.certs) < 0)
		return 1;

	r = kmc_vault_open(dir, 0, &keep);
	if (r < 0)
		return fail(0, "opening the kept handle", r);
	for (round = 1; rc == 0 && round <= max; round++) {
		/* A round that starts after STOPFILE appeared is the last. */
		int last = round >= min && access(stopfile, F_OK) == 0;
		kmc_vault *fresh = NULL;

		step(round);

		rc = check_value(keep, &st, round, "kept");
		if (rc == 0)
			rc = check_key(keep, &st, round, "kept");
		if (rc == 0) {
			r = kmc_vault_generation(keep, &g);
			if (r < 0)
				rc = fail(round, "kmc_vault_generation", r);
			else if (g < gen) {
				fprintf(stderr, "conc_reader[%ld]: round %ld: "
					"generation went from %llu back to "
					"%llu\n", (long)getpid(), round,
					(unsigned long long)gen,
					(unsigned long long)g);
				rc = 1;
			}
			gen = g;
		}
		if (rc)
			break;
		r = kmc_vault_open(dir, 0, &fresh);
		if (r < 0) {
			rc = fail(round, "opening a fresh handle", r);
			break;
		}
		if (kmc_vault_opened_by(fresh) != 1 ||
		    kmc_vault_unlock_notes(fresh)[0]) {
			fprintf(stderr, "conc_reader[%ld]: round %ld: the fresh "
				"handle was opened by protector %u after \"%s\", "
				"not by the host protector 1 at once\n",
				(long)getpid(), round, kmc_vault_opened_by(fresh),
				kmc_vault_unlock_notes(fresh));
			rc = 1;
		}
		if (rc == 0)
			rc = check_value(fresh, &st, round, "fresh");
		if (rc == 0)
			rc = check_key(fresh, &st, round, "fresh");
		kmc_vault_close(fresh);
		if (rc == 0)
			done = round;
		if (rc == 0 && round == 1) {
			printf("ready\n");
			fflush(stdout);
		}
		if (last)
			break;
	}
	kmc_vault_close(keep);
	if (rc == 0)
		printf("rounds %ld values %ld first %ld last %ld\n", done,
			st.distinct, st.first, st.last);
	sk_X509_pop_free(st.certs, X509_free);
	free(st.seen);
	return rc;
}

static int mode_hold(int argc, char **argv)
{
	kmc_vault *v = NULL;
	char line[256];
	int r, n = 0;

	if (argc != 4)
		return 2;
	dir = argv[2];
	item = argv[3];
	r = kmc_vault_open(dir, 0, &v);
	if (r < 0)
		return fail(0, "opening the vault", r);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (n < 1000 && fgets(line, sizeof(line), stdin)) {
		kmc_secret *s = NULL;
		uint64_t g = 0;

		n++;
		step(n);
		r = kmc_item_get_secret(v, item, &s);
		if (r < 0) {
			kmc_vault_close(v);
			return fail(n, "get", r);
		}
		r = kmc_vault_generation(v, &g);
		if (r < 0) {
			kmc_secret_free(s);
			kmc_vault_close(v);
			return fail(n, "kmc_vault_generation", r);
		}
		printf("%.*s %llu\n", (int)kmc_secret_len(s),
			(const char *)kmc_secret_data(s), (unsigned long long)g);
		kmc_secret_free(s);
	}
	kmc_vault_close(v);
	return 0;
}

static int mode_batch(int argc, char **argv)
{
	kmc_vault *v = NULL;
	kmc_batch *b = NULL;
	char line[16];
	int r;

	if (argc != 5)
		return 2;
	r = kmc_vault_open(argv[2], KMC_OPEN_WRITE, &v);
	if (r < 0)
		return fail(0, "opening the vault for writing", r);
	r = kmc_batch_begin(v, &b);
	if (r < 0) {
		kmc_vault_close(v);
		return fail(0, "kmc_batch_begin", r);
	}
	r = kmc_batch_put(b, argv[3], KMC_ITEM_PASSWORD, argv[4],
		strlen(argv[4]));
	if (r < 0) {
		kmc_batch_abort(b);
		kmc_vault_close(v);
		return fail(0, "kmc_batch_put", r);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("begun\n");
	if (!fgets(line, sizeof(line), stdin)) {
		kmc_batch_abort(b);
		kmc_vault_close(v);
		return fail(0, "waiting for the word to commit", -EIO);
	}
	r = kmc_batch_commit(b);
	kmc_vault_close(v);
	if (r < 0)
		return fail(0, "kmc_batch_commit", r);
	printf("committed\n");
	return 0;
}

static int mode_open(int argc, char **argv)
{
	const char *stopfile;
	long min, max, round;

	if (argc != 6 || parse_long(argv[3], 1, 100000000, &min) < 0 ||
	    parse_long(argv[4], min, 100000000, &max) < 0)
		return 2;
	dir = argv[2];
	stopfile = argv[5];
	for (round = 1; round <= max; round++) {
		kmc_vault *v = NULL;
		int r;

		step(round);
		r = kmc_vault_open(dir, 0, &v);

		if (r < 0)
			return fail(round, "kmc_vault_open", r);
		kmc_vault_close(v);
		if (round >= min && access(stopfile, F_OK) == 0)
			break;
	}
	printf("opens %ld\n", round > max ? max : round);
	return 0;
}

static int mode_churn(int argc, char **argv)
{
	kmc_options o = KMC_OPTIONS_INIT;
	kmc_vault *v = NULL;
	long n, i;
	int r;

	if (argc != 4 || parse_long(argv[3], 1, 1000000, &n) < 0)
		return 2;
	dir = argv[2];
	/* Named explicitly: kmc_protector_add() with no host_key fails
	   (KMC_E_TOO_LARGE) in this build. */
	o.host_key = getenv("KMC_HOST_KEY");
	if (!o.host_key || o.host_key[0] != '/') {
		fprintf(stderr, "conc_reader: churn needs an absolute "
			"$KMC_HOST_KEY\n");
		return 1;
	}
	r = kmc_vault_open(dir, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return fail(0, "opening the vault for writing", r);
	for (i = 1; i <= n; i++) {
		unsigned id = 0;

		step(i);
		r = kmc_protector_add(v, KMC_PROTECTOR_HOST, &o, &id, NULL);
		if (r < 0)
			break;
		r = kmc_protector_remove(v, id);
		if (r < 0)
			break;
	}
	if (r < 0) {
		fail(i, "adding or removing a host protector", r);
		kmc_vault_close(v);
		return 1;
	}
	kmc_vault_close(v);
	printf("changes %ld\n", 2 * n);
	return 0;
}

static int mode_puts(int argc, char **argv)
{
	kmc_vault *v = NULL;
	char val[24];
	long n, i;
	int r = 0;

	if (argc != 5 || parse_long(argv[4], 1, MAXK_LIMIT, &n) < 0)
		return 2;
	dir = argv[2];
	item = argv[3];
	r = kmc_vault_open(dir, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return fail(0, "opening the vault for writing", r);
	for (i = 1; i <= n && r == 0; i++) {
		int len = snprintf(val, sizeof(val), "v-%ld", i);

		step(i);
		r = kmc_item_put(v, item, KMC_ITEM_PASSWORD, val, (size_t)len);
	}
	kmc_vault_close(v);
	if (r < 0)
		return fail(i - 1, "storing the password", r);
	printf("puts %ld\n", n);
	return 0;
}

static int mode_info(int argc, char **argv)
{
	const char *stopfile;
	kmc_vault *v = NULL;
	long n = 0, found = 0;
	int r, stop = 0;

	if (argc != 5)
		return 2;
	dir = argv[2];
	bundle = argv[3];
	stopfile = argv[4];
	r = kmc_vault_open(dir, 0, &v);
	if (r < 0)
		return fail(0, "opening the vault", r);
	while (!stop) {
		kmc_cert_info *info = NULL;
		size_t ni = 0;

		stop = access(stopfile, F_OK) == 0;
		step(++n);
		r = kmc_cert_info_get(v, bundle, &info, &ni);
		if (r == 0) {
			kmc_cert_info_free(info, ni);
			found++;
		} else if (r != KMC_E_NOT_FOUND) {
			kmc_vault_close(v);
			return fail(n, "kmc_cert_info_get", r);
		}
	}
	kmc_vault_close(v);
	printf("infos %ld found %ld none %ld\n", n, found, n - found);
	return 0;
}

static int count_ca(const kmc_ca_info *info, void *arg)
{
	(void)info;
	++*(long *)arg;
	return 0;
}

static int count_trusted(const kmc_trust_info *info, void *arg)
{
	(void)info;
	++*(long *)arg;
	return 0;
}

static int mode_calist(int argc, char **argv, int trust)
{
	const char *stopfile;
	kmc_vault *v = NULL;
	long n = 0, cas = 0;
	int r, stop = 0;

	if (argc != 4)
		return 2;
	dir = argv[2];
	stopfile = argv[3];
	r = kmc_vault_open(dir, 0, &v);
	if (r < 0)
		return fail(0, "opening the vault", r);
	while (!stop) {
		stop = access(stopfile, F_OK) == 0;
		step(++n);
		r = trust ? kmc_trust_list(v, NULL, count_trusted, NULL, &cas) :
			kmc_ca_list(v, NULL, count_ca, NULL, &cas);
		if (r < 0) {
			kmc_vault_close(v);
			return fail(n, trust ? "kmc_trust_list" : "kmc_ca_list",
				r);
		}
	}
	kmc_vault_close(v);
	printf("lists %ld %s %ld\n", n, trust ? "certs" : "cas", cas);
	return 0;
}

static int mode_swap(int argc, char **argv, int hardlink)
{
	const char *a, *b, *stopfile;
	long max, usec[2], round;

	if ((argc != 7 && argc != 8) ||
	    parse_long(argv[4], 1, 10000000, &max) < 0 ||
	    parse_long(argv[6], 0, 1000000, &usec[0]) < 0)
		return 2;
	usec[1] = usec[0];
	if (argc == 8 && parse_long(argv[7], 0, 1000000, &usec[1]) < 0)
		return 2;
	a = argv[2];
	b = argv[3];
	stopfile = argv[5];
	for (round = 0; round < max && access(stopfile, F_OK) < 0; round++) {
		step(round);
		for (int half = 0; half < 2; half++) {
			int r;

			if (!hardlink)
				r = renameat2(AT_FDCWD, a, AT_FDCWD, b,
					RENAME_EXCHANGE);
			else if (half == 0)
				r = link(a, b);
			else
				r = unlink(b);
			if (r < 0) {
				fprintf(stderr, "conc_reader: round %ld: %s %s "
					"%s: %s\n", round, hardlink ?
					(half ? "unlink" : "link") : "exchange",
					a, b, strerror(errno));
				return 1;
			}
			if (usec[half])
				usleep((useconds_t)usec[half]);
		}
	}
	printf("rounds %ld\n", round);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alarm };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	mode = argc >= 2 ? argv[1] : "";
	step(0);
	if (argc >= 2 && !strcmp(argv[1], "run")) {
		int r = mode_run(argc, argv);

		if (r == 2)
			goto usage;
		return r;
	}
	if (argc >= 2 && !strcmp(argv[1], "hold")) {
		int r = mode_hold(argc, argv);

		if (r == 2)
			goto usage;
		return r;
	}
	if (argc >= 2 && !strcmp(argv[1], "batch")) {
		int r = mode_batch(argc, argv);

		if (r == 2)
			goto usage;
		return r;
	}
	if (argc >= 2 && !strcmp(argv[1], "churn")) {
		int r = mode_churn(argc, argv);

		if (r == 2)
			goto usage;
		return r;
	}
	if (argc >= 2 && !strcmp(argv[1], "puts")) {
		int r = mode_puts(argc, argv);

		if (r == 2)
			goto usage;
		return r;
	}
	if (argc >= 2 && !strcmp(argv[1], "info")) {
		int r = mode_info(argc, argv);

		if (r == 2)
			goto usage;
		return r;
	}
	if (argc >= 2 && (!strcmp(argv[1], "calist") ||
			  !strcmp(argv[1], "trustlist"))) {
		int r = mode_calist(argc, argv, !strcmp(argv[1], "trustlist"));

		if (r == 2)
			goto usage;
		return r;
	}
	if (argc >= 2 && !strcmp(argv[1], "open")) {
		int r = mode_open(argc, argv);

		if (r == 2)
			goto usage;
		return r;
	}
	if (argc >= 2 && (!strcmp(argv[1], "swap") ||
			  !strcmp(argv[1], "hardlink"))) {
		int r = mode_swap(argc, argv, !strcmp(argv[1], "hardlink"));

		if (r == 2)
			goto usage;
		return r;
	}
usage:
	fprintf(stderr, "usage: conc_reader run DIR ITEM BUNDLE MAXK MIN MAX "
		"STOPFILE [CERT...]\n"
		"       conc_reader hold DIR ITEM\n"
		"       conc_reader batch DIR ITEM VALUE\n"
		"       conc_reader open DIR MIN MAX STOPFILE\n"
		"       conc_reader churn DIR N\n"
		"       conc_reader puts DIR ITEM N\n"
		"       conc_reader info DIR BUNDLE STOPFILE\n"
		"       conc_reader calist DIR STOPFILE\n"
		"       conc_reader trustlist DIR STOPFILE\n"
		"       conc_reader swap PATH_A PATH_B MAX STOPFILE USEC [USEC2]\n"
		"       conc_reader hardlink FILE LINK MAX STOPFILE USEC [USEC2]\n");
	return 2;
}
