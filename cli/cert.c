/*
 * cert.c - kmc unwrap, cert check, cert info, ref: the own options of
 * unwrap, cert check and ref, and the handlers.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "cli.h"

/* kmc unwrap's own options: --out FILE, --format pem|der. */
static struct unwrap_opts {
	const char *out, *format;
} unwrap_opts;

enum { UNWRAP_OUT = CLI_OWN_OPT, UNWRAP_FORMAT };

static const struct option unwrap_options[] = {
	{ "out", required_argument, NULL, UNWRAP_OUT },
	{ "format", required_argument, NULL, UNWRAP_FORMAT },
	{ NULL, 0, NULL, 0 },
};

static int unwrap_option(void *own, int opt, const char *arg)
{
	struct unwrap_opts *o = own;

	if (opt == UNWRAP_OUT)
		o->out = arg;
	else
		o->format = arg;
	return 0;
}

/* kmc ref's own options: --out FILE, --uri. */
static struct ref_opts {
	const char *out;
	int uri;
} ref_opts;

enum { REF_OUT = CLI_OWN_OPT, REF_URI };

static const struct option ref_options[] = {
	{ "out", required_argument, NULL, REF_OUT },
	{ "uri", no_argument, NULL, REF_URI },
	{ NULL, 0, NULL, 0 },
};

static int ref_option(void *own, int opt, const char *arg)
{
	struct ref_opts *o = own;

	if (opt == REF_OUT)
		o->out = arg;
	else
		o->uri = 1;
	return 0;
}

/* kmc cert check's own option: --within DAYS. */
static struct check_opts {
	uint32_t within;
} check_opts = { 30 };

enum { CHECK_WITHIN = CLI_OWN_OPT };

static const struct option check_options[] = {
	{ "within", required_argument, NULL, CHECK_WITHIN },
	{ NULL, 0, NULL, 0 },
};

static int check_option(void *own, int opt, const char *arg)
{
	struct check_opts *o = own;
	unsigned long long days;

	(void)opt;
	/* Digits only: strtoull would take " 5", "+5" and "-5" (as a huge
	   number), and a horizon is worth getting exactly right. */
	if (!arg[0] || arg[strspn(arg, "0123456789")] != '\0' ||
	    parse_uint(arg, KMC_EXPIRY_DAYS_MAX, &days) < 0)
		return cli_usage_fail("cert check: --within takes a number of "
			"days from 0 to %d, not '%s'", KMC_EXPIRY_DAYS_MAX,
			arg);
	o->within = (uint32_t)days;
	return 0;
}

static int cmd_unwrap(cli_opts *a)
{
	const struct unwrap_opts *uo = &unwrap_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *key = NULL;
	kmc_key_format fmt = KMC_FORMAT_PEM;
	/* "-" is standard output, as for export, trust export and csr. */
	const char *out = uo->out && strcmp(uo->out, "-") ? uo->out : NULL;
	int r;

	if (uo->format && !strcmp(uo->format, "der"))
		fmt = KMC_FORMAT_DER;
	else if (uo->format && strcmp(uo->format, "pem"))
		return cli_usage_fail("unwrap: --format pem or der, not %s",
			uo->format);
	if (!out && isatty(STDOUT_FILENO))
		return cli_usage_fail("unwrap: refusing to print a private key on "
			"a terminal; give --out FILE or send it to a pipe");
	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_key_export(v, a->argv[0], fmt, &key);
	if (r < 0)
		return cli_fail(r, "unwrapping %s", a->argv[0]);
	if (!out)
		return write_out(kmc_secret_data(key), kmc_secret_len(key)) < 0 ?
			CLI_EXIT(EXIT_IO) : 0;
	r = kmc_file_write_new(out, kmc_secret_data(key),
		kmc_secret_len(key), 0600);
	return r < 0 ? cli_fail(r, "unwrap") : 0;
}

#define DAY_SECONDS 86400

/* How far off a time is, seconds_left from now, in whole days:
   "in 9 days", "3 days ago", "in less than a day". */
void cli_days_text(int64_t seconds_left, char *buf, size_t size)
{
	int64_t days = (seconds_left < 0 ? -seconds_left : seconds_left) /
		DAY_SECONDS;

	if (days == 0)
		snprintf(buf, size, seconds_left > 0 ? "in less than a day" :
			"less than a day ago");
	else
		snprintf(buf, size, "%s%" PRId64 " day%s%s", seconds_left > 0 ?
			"in " : "", days, days == 1 ? "" : "s",
			seconds_left > 0 ? "" : " ago");
}

typedef struct check_ctx {
	FILE *out;
	int json;
	size_t n, due, not_yet;
} check_ctx;

/*
 * One entry: in JSON every one, in text one line for each that is due
 * or expired, the item first so that the line greps by name:
 *   web/cert: certificate CN=web expires 2026-12-15T08:00:00Z (in 9 days)
 */
static int check_one(const kmc_expiry_info *e, void *arg)
{
	check_ctx *c = arg;
	int crl = e->kind == KMC_EXPIRY_CRL;
	/* A CRL with no next update has no date to give. */
	int dated = !(crl && e->not_after == 0);
	char nb[64], na[64], when[64];
	FILE *f = c->out;

	iso_time(e->not_before, nb, sizeof(nb));
	iso_time(e->not_after, na, sizeof(na));
	if (e->state != KMC_EXPIRY_OK)
		c->due++;
	if (e->state == KMC_EXPIRY_NOT_YET_VALID)
		c->not_yet++;
	if (c->json) {
		fprintf(f, "%s{\"bundle\":", c->n ? "," : "");
		json_str(f, e->bundle);
		fprintf(f, ",\"item\":");
		json_str(f, e->item);
		fprintf(f, ",\"kind\":\"%s\",\"index\":%u,\"subject\":",
			kmc_expiry_kind_name(e->kind), e->index);
		json_str(f, e->subject);
		fprintf(f, ",\"not_before\":\"%s\"", nb);
		if (dated)
			fprintf(f, ",\"not_after\":\"%s\",\"expires\":%"
				PRId64 ",\"days_left\":%" PRId64, na,
				e->not_after * 1000,
				e->seconds_left / DAY_SECONDS);
		else
			fprintf(f, ",\"not_after\":null,\"expires\":null,"
				"\"days_left\":null");
		fprintf(f, ",\"state\":\"%s\",\"due\":%s}",
			kmc_expiry_state_name(e->state),
			e->state != KMC_EXPIRY_OK ? "true" : "false");
	} else if (e->state != KMC_EXPIRY_OK) {
		/* Names come from the certificate, made by anyone. */
		cli_put_escaped(f, e->item);
		fprintf(f, ": %s%s ", kmc_expiry_kind_name(e->kind),
			crl ? " of" : "");
		cli_put_escaped(f, e->subject);
		cli_days_text(e->seconds_left, when, sizeof(when));
		if (!dated)
			fprintf(f, " is out of date: it names no next "
				"update\n");
		else if (e->state == KMC_EXPIRY_NOT_YET_VALID) {
			/* seconds_left is not_after - now. */
			cli_days_text(e->not_before - e->not_after +
				e->seconds_left, when, sizeof(when));
			fprintf(f, " is not valid until %s (%s%s)\n", nb, when,
				crl ? ": its last update is to come" : "");
		} else if (e->state == KMC_EXPIRY_DUE)
			fprintf(f, " %s %s (%s)\n", crl ? "next update" :
				"expires", na, when);
		else
			fprintf(f, " %s %s (%s)\n", crl ? "out of date since" :
				"expired", na, when);
	}
	c->n++;
	return 0;
}

static int cmd_cert_check(cli_opts *a)
{
	const struct check_opts *co = &check_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	kmc_expiry_params p = KMC_EXPIRY_PARAMS_INIT;
	check_ctx c = { .json = a->json };
	char *doc = NULL;
	size_t len = 0;
	int r;

	/* Read-only, and never a prompt: cron and monitoring run this. */
	r = open_vault_no_prompt(a, 0, &v);
	if (r < 0)
		return r;
	p.within_days = co->within;
	/* The report is built whole before any of it is printed: a damaged
	   item half-way must not leave half a report that reads as all. */
	c.out = open_memstream(&doc, &len);
	if (!c.out)
		return cli_fail(-errno, "cert check");
	if (c.json)
		fputc('[', c.out);
	r = kmc_cert_expiry_list(v, &p, check_one, &c);
	if (c.json)
		fputs("]\n", c.out);
	if (fclose(c.out) != 0 && r == 0)
		r = -errno;
	if (r < 0) {
		free(doc);
		return cli_fail(r, "checking the certificates of %s",
			kmc_vault_dir(v));
	}
	if (!c.json && c.due == 0 && isatty(STDOUT_FILENO))
		printf("nothing has expired or is due within %" PRIu32 " days "
			"(%zu certificates and CRLs)\n", co->within, c.n);
	r = write_out(doc, len);
	free(doc);
	if (r < 0)
		return r;
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	if (c.due == 0)
		return 0;
	cli_note("%zu of %zu certificates and CRLs %s expired%s or due within "
		"%" PRIu32 " days", c.due, c.n, c.due == 1 ? "is" : "are",
		c.not_yet ? ", not valid yet" : "", co->within);
	return CLI_EXIT(EXIT_DUE);
}

/* Every SAN of c, not only those that fit in c->sans (those, should
   the whole list fail for want of memory). */
static char *all_sans(const kmc_cert_info *c)
{
	char *sans = NULL;

	if (kmc_cert_info_sans(c, &sans) < 0)
		sans = strdup(c->sans);
	return sans;
}

static void print_sans_json(const kmc_cert_info *c)
{
	char *sans = all_sans(c);
	const char *p = sans ? sans : "";
	int first = 1;

	printf("[");
	while (*p) {
		const char *end = strstr(p, ", ");
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *item = strndup(p, n);

		printf("%s", first ? "" : ",");
		json_str(stdout, item ? item : "");
		free(item);
		first = 0;
		p += n + (end ? 2 : 0);
	}
	printf("]");
	free(sans);
}

/* One certificate's JSON fields, without the braces. */
void cert_json_fields(const kmc_cert_info *c)
{
	char nb[64], na[64];

	iso_time(c->not_before, nb, sizeof(nb));
	iso_time(c->not_after, na, sizeof(na));
	/* subjectName, issuerName and certificatePem are the names NuoDB's
	   tools give the same fields, so that scripts written for them read
	   this as it is. */
	printf("\"subject\":");
	json_str(stdout, c->subject);
	printf(",\"subjectName\":");
	json_str(stdout, c->subject);
	printf(",\"issuer\":");
	json_str(stdout, c->issuer);
	printf(",\"issuerName\":");
	json_str(stdout, c->issuer);
	printf(",\"sans\":");
	print_sans_json(c);
	printf(",\"serial\":\"%s\",\"sha256\":\"%s\",\"not_before\":\"%s\","
		"\"not_after\":\"%s\",\"expires\":%" PRId64 ",\"pem\":",
		c->serial, c->sha256, nb, na, c->not_after * 1000);
	json_str(stdout, c->pem);
	printf(",\"certificatePem\":");
	json_str(stdout, c->pem);
}

static void cert_text(const kmc_cert_info *c, size_t i, size_t n)
{
	int64_t now = (int64_t)time(NULL);
	char nb[64], na[64], when[64], *sans;

	iso_time(c->not_before, nb, sizeof(nb));
	iso_time(c->not_after, na, sizeof(na));
	printf("certificate %zu of %zu\n", i + 1, n);
	/* Names come from the certificate, made by anyone. */
	printf("  subject     ");
	cli_put_escaped(stdout, c->subject);
	printf("\n  issuer      ");
	cli_put_escaped(stdout, c->issuer);
	printf("\n  SANs        ");
	sans = all_sans(c);
	cli_put_escaped(stdout, sans && *sans ? sans : "(none)");
	free(sans);
	printf("\n  serial      ");
	cli_put_escaped(stdout, c->serial);
	putchar('\n');
	printf("  sha256      %s\n", c->sha256);
	/* As a TLS peer would judge it now: say so when it would be
	   refused for its dates. */
	printf("  not before  %s", nb);
	if (c->not_before > now) {
		cli_days_text(c->not_before - now, when, sizeof(when));
		printf(" (not valid yet: valid %s)", when);
	}
	printf("\n  expires     %s (%" PRId64 " ms since the epoch", na,
		c->not_after * 1000);
	if (c->not_after <= now) {
		cli_days_text(c->not_after - now, when, sizeof(when));
		printf("; expired %s", when);
	}
	printf(")\n");
	printf("%s", c->pem);
}

/* The aliases of a trust store, for a bundle that names it. */
typedef struct aliases {
	char text[KMC_TRUST_CERTS_MAX * (KMC_TRUST_NAME_MAX + 4) + 4];
	size_t len;
	int json, n;
} aliases;

static int alias_one(const kmc_trust_info *t, void *arg)
{
	aliases *a = arg;
	int n = snprintf(a->text + a->len, sizeof(a->text) - a->len,
		a->json ? "%s\"%s\"" : "%s%s", a->n ? (a->json ? "," : ", ") : "",
		t->alias);

	if (n > 0 && (size_t)n < sizeof(a->text) - a->len)
		a->len += (size_t)n;
	a->n++;
	return 0;
}

/* "staged" and "previous" of bundle name (JSON), or its text line. */
static int bundle_versions(kmc_vault *v, const char *name, int json)
{
	int staged = 0, previous = 0, r;

	/* Unread is not "none": the operator would miss a staged version
	   waiting for kmc promote, or the one --previous goes back to. */
	r = kmc_bundle_versions(v, name, &staged, &previous);
	if (r < 0)
		return cli_fail(r, "cert info: bundle %s", name);
	if (json)
		printf(",\"staged\":%s,\"previous\":%s", staged ? "true" :
			"false", previous ? "true" : "false");
	else if (staged || previous)
		printf("versions     %s%s%s\n", staged ? "a staged one awaits "
			"kmc promote" : "", staged && previous ? "; " : "",
			previous ? "the previous one is kept (kmc promote "
			"--previous)" : "");
	return 0;
}

/* "trustStore" and "trusted" of bundle name (JSON), or its text line. */
static int bundle_trust(kmc_vault *v, const char *name, int json)
{
	char store[KMC_TRUST_NAME_MAX + 1];
	aliases *al;
	int r;

	/* Not a bundle: a certificate item or a file. A bundle whose meta
	   could not be read is not one of those: its trust store and
	   versions left out, it would pass for one. */
	if (!v)
		return 1;
	r = kmc_cert_trust_store(v, name, store, sizeof(store));
	if (r == KMC_E_NOT_FOUND || r == KMC_E_NAME || r == KMC_E_TYPE)
		return 1;
	if (r < 0)
		return cli_fail(r, "cert info: bundle %s", name);
	r = bundle_versions(v, name, json);
	if (r < 0)
		return r;
	if (json)
		printf(",");
	if (!store[0]) {
		if (json)
			printf("\"trustStore\":null,\"trusted\":[]");
		else
			printf("trust store  (none: clients of its own CA only)\n");
		return 0;
	}
	al = calloc(1, sizeof(*al));
	if (!al)
		return cli_fail(KMC_E_NOMEM, "cert info");
	al->json = json;
	r = kmc_trust_list(v, store, alias_one, NULL, al);
	if (r < 0) {
		free(al);
		return cli_fail(r, "cert info: bundle %s", name);
	}
	if (json)
		printf("\"trustStore\":\"%s\",\"trusted\":[%s]", store, al->text);
	else
		printf("trust store  %s (%s)\n", store, al->n ? al->text :
			"empty");
	free(al);
	return 0;
}

/* kmc cert info's own option: --version N. */
static uint32_t info_version;

static const struct option info_options[] = {
	{ "version", required_argument, NULL, CLI_OWN_OPT },
	{ NULL, 0, NULL, 0 },
};

static int info_option(void *own, int opt, const char *arg)
{
	unsigned long long v;

	(void)opt;
	if (parse_uint(arg, UINT32_MAX, &v) < 0 || v == 0)
		return cli_usage_fail("--version takes a version number (kmc "
			"list shows NAME/cert's), not %s", arg);
	*(uint32_t *)own = (uint32_t)v;
	return 0;
}

typedef struct every {
	kmc_vault *v;
	int json, n, err;
} every;

/* The start of bundle name's entry in the listing of every bundle. */
static void every_head(every *e, const char *name)
{
	if (e->json) {
		printf("%s{\"name\":", e->n ? "," : "");
		json_str(stdout, name);
		printf(",\"certificates\":");
	}
	e->n++;
}

/* what's certificates. head: listing every bundle, whose entry starts
   once what is found; 1, nothing printed, when what is gone (removed
   since the list was read). */
static int info_read(kmc_vault *v, const char *what, int json, int named,
	every *head)
{
	kmc_cert_info *info = NULL;
	size_t n = 0;
	int has = 1, r;

	/* A key kmc key gen made: nothing to describe yet, and it says so. */
	if (!info_version && v && kmc_bundle_has_cert(v, what, &has) == 0 &&
	    !has) {
		if (head)
			every_head(head, what);
		if (json) {
			printf("[]");
			return 0;
		}
		if (!named)
			printf("bundle ");
		cli_put_escaped(stdout, what);
		printf("%sno certificate yet (kmc csr ", named ? ": " : "\n  ");
		cli_put_escaped(stdout, what);
		printf(", then kmc cert set ");
		cli_put_escaped(stdout, what);
		printf(" -s SIGNED.crt)\n");
		return 0;
	}
	r = info_version ? kmc_cert_info_version(v, what, info_version, &info,
		&n) : kmc_cert_info_get(v, what, &info, &n);
	if (r == KMC_E_NOT_FOUND && head)
		return 1;
	if (r < 0)
		return cli_fail(r, "cert info");
	if (head)
		every_head(head, what);
	if (json)
		printf("[");
	else if (!named) {
		printf("bundle ");
		cli_put_escaped(stdout, what);
		putchar('\n');
	}
	for (size_t i = 0; i < n; i++) {
		if (json) {
			printf("%s{", i ? "," : "");
			cert_json_fields(&info[i]);
			if (i == 0 && (r = bundle_trust(v, what, 1)) == 1) {
				/* not a bundle: a certificate item or file */
				printf(",\"staged\":false,\"previous\":false,"
					"\"trustStore\":null,\"trusted\":[]");
				r = 0;
			}
			printf("}");
		} else {
			if (i == 0 && (r = bundle_trust(v, what, 0)) == 1)
				r = 0;
			cert_text(&info[i], i, n);
		}
		if (r < 0)
			break;
	}
	if (json)
		printf("]");
	kmc_cert_info_free(info, n);
	return r;
}

/* info_read() of one version of the vault: the certificates, the
   staged and previous versions and the trust store, never some of them
   from before another process's change and some from after it. */
static int info_one(kmc_vault *v, const char *what, int json, int named,
	every *head)
{
	int r;

	if (v && (r = kmc_vault_snapshot(v)) < 0)
		return cli_fail(r, "cert info");
	r = info_read(v, what, json, named, head);
	if (v)
		kmc_vault_snapshot_end(v);
	return r;
}

static int every_bundle(const kmc_item_info *i, void *arg)
{
	every *e = arg;
	size_t len = strlen(i->name);
	char name[KMC_NAME_MAX + 1];
	int n0 = e->n, r;

	if (i->type != KMC_ITEM_BUNDLE || len <= 5 ||
	    strcmp(i->name + len - 5, "/meta") != 0)
		return 0;
	snprintf(name, sizeof(name), "%.*s", (int)(len - 5), i->name);
	/* A bundle another process removed since this walk's snapshot is
	   left out, as kmc cert check leaves it out. */
	r = info_one(e->v, name, e->json, 0, e);
	if (r == 1)
		return 0;
	e->err = r;
	if (e->json && e->n != n0)
		printf("}");
	return e->err < 0 ? 1 : 0;
}

static int every_trusted(const kmc_trust_info *t, void *arg)
{
	every *e = arg;

	if (e->json) {
		printf("%s{\"store\":", e->n ? "," : "");
		json_str(stdout, t->store);
		printf(",\"alias\":");
		json_str(stdout, t->alias);
		printf(",\"pinnedLeaf\":%s,", t->pinned_leaf ? "true" : "false");
		cert_json_fields(t->cert);
		printf("}");
	} else {
		printf("trust store %s, alias %s%s\n", t->store, t->alias,
			t->pinned_leaf ? " (pinned leaf)" : "");
		cert_text(t->cert, 0, 1);
	}
	e->n++;
	return 0;
}

/* Every bundle, then every trust store's certificates. */
static int info_all(kmc_vault *v, int json)
{
	every e = { v, json, 0, 0 };
	int r;

	if (json)
		printf("{\"bundles\":[");
	r = kmc_item_list(v, every_bundle, &e);
	if (e.err < 0)
		return e.err;
	if (r < 0)
		return cli_fail(r, "cert info");
	if (json)
		printf("],\"trusted\":[");
	e.n = 0;
	r = kmc_trust_list(v, NULL, every_trusted, NULL, &e);
	if (r < 0)
		return cli_fail(r, "cert info");
	if (json)
		printf("]}");
	return 0;
}

static int cmd_cert_info(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	const char *what = a->argc ? a->argv[0] : NULL;
	struct stat st;
	int r;

	if (info_version && !what)
		return cli_usage_fail("cert info --version N needs the NAME of a "
			"bundle");
	/* A file of that name wins; otherwise it names a vault item. */
	if (!what || info_version || lstat(what, &st) < 0) {
		r = open_vault(a, 0, &v);
		if (r < 0)
			return r;
	}
	r = what ? info_one(v, what, a->json, 1, NULL) : info_all(v, a->json);
	if (r < 0)
		return r;
	if (a->json)
		printf("\n");
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	return 0;
}

static int cmd_ref(cli_opts *a)
{
	const struct ref_opts *ro = &ref_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *check = NULL;
	char *text = NULL;
	int has = 1, r;

	if (!!ro->uri == !!ro->out)
		return cli_usage_fail("ref: give --uri or --out FILE");
	/* Refer only to a key that is there and opens. */
	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_key_export(v, a->argv[0], KMC_FORMAT_DER, &check);
	/* A key on a token is there when the vault says where it is. */
	if (r == KMC_E_TYPE) {
		char uri[2100];

		r = kmc_token_key_uri(v, a->argv[0], uri, sizeof(uri));
		if (r == KMC_E_TYPE)
			r = kmc_key_export(v, a->argv[0], KMC_FORMAT_DER, &check);
	}
	if (r < 0)
		return cli_fail(r, "ref: %s", a->argv[0]);
	/* A key without a certificate serves nothing yet. Not a bundle (a
	   key item): nothing to wait for; unread, no reference is made. */
	r = kmc_bundle_has_cert(v, a->argv[0], &has);
	if (r < 0 && r != KMC_E_NOT_FOUND && r != KMC_E_NAME)
		return cli_fail(r, "ref: %s", a->argv[0]);
	if (r == 0 && !has) {
		cli_note("ref: %s has no certificate yet, so no server can use "
			"it (kmc cert set %s -s SIGNED.crt attaches it)",
			a->argv[0], a->argv[0]);
		return CLI_EXIT(EXIT_NOT_FOUND);
	}
	r = ro->uri ? kmc_uri_format(kmc_vault_dir(v), a->argv[0], &text) :
		kmc_ref_format(kmc_vault_dir(v), a->argv[0], &text);
	if (r < 0)
		return cli_fail(r, "ref: %s", a->argv[0]);
	if (ro->uri || !strcmp(ro->out, "-")) {
		/* --out -: the reference file on standard output. */
		fputs(text, stdout);
		if (ro->uri)
			putchar('\n');
		free(text);
		return fflush(stdout) == 0 ? 0 :
			cli_fail(-errno, "writing to standard output");
	}
	/* It holds no secret, so 0644 is fine; never overwrite. */
	r = kmc_file_write_new(ro->out, text, strlen(text), 0644);
	free(text);
	return r < 0 ? cli_fail(r, "ref") : 0;
}

const command cli_cmd_unwrap = {
	"unwrap", NULL, cmd_unwrap, CLI_UNLOCK, .options = unwrap_options,
	.parse = unwrap_option, .own = &unwrap_opts, .min_operands = 1, 1, "unwrap NAME [--format pem|der] [--out FILE|-]",
	"Write the private key of the imported NAME as unencrypted PKCS#8:\n"
	"to --out FILE, created 0600 (an existing file is never overwritten),\n"
	"or to standard output (without --out, or --out -) when it is not a\n"
	"terminal."
};

const command cli_cmd_cert_check = {
	"cert", "check", cmd_cert_check, CLI_JSON | CLI_UNLOCK,
	.options = check_options, .parse = check_option, .own = &check_opts,
	.min_operands = 0, 0, "cert check [--within DAYS] [--json]",
	"Check every certificate of every imported bundle (the server's, its\n"
	"intermediates, the CA) and each CRL's next update. Prints one line\n"
	"for each that has expired or is due within DAYS (default 30, at\n"
	"most 36500) and exits 11 when there is one, 0 when there is none.\n"
	"--json prints them all, each with its state. The vault is opened\n"
	"read-only and nothing is ever asked for: give a passphrase vault's\n"
	"passphrase with --passphrase-file or --passphrase-fd. No key or\n"
	"password is read. For cron and monitoring."
};

const command cli_cmd_cert_info = {
	"cert", "info", cmd_cert_info, CLI_JSON | CLI_UNLOCK,
	.options = info_options, .parse = info_option, .own = &info_version,
	.min_operands = 0, 1, "cert info [NAME|FILE] [--version N] [--json]",
	"Describe each certificate of the imported NAME (or a certificate\n"
	"item, or a PEM/DER file): subject, issuer, SANs, serial, SHA-256\n"
	"fingerprint, not-before, expiry (also in milliseconds since the\n"
	"epoch, as `expires` in JSON) and the PEM; the text says when a\n"
	"certificate has expired (\"expired 3 days ago\") or is not valid\n"
	"yet. JSON also gives subjectName, issuerName and certificatePem,\n"
	"NuoDB's names for subject, issuer and pem. A file of that name wins\n"
	"over an item. A bundle also shows its trust store and the aliases\n"
	"it trusts (JSON: trustStore and trusted, on its first certificate).\n"
	"Without NAME: every bundle, then every trust store's certificates.\n"
	"--version N: version N of the bundle's certificates (NAME/cert's\n"
	"version, as kmc list shows it), the current one or one kept by a\n"
	"replace, promote or renewal."
};

const command cli_cmd_ref = {
	"ref", NULL, cmd_ref, CLI_UNLOCK, .options = ref_options,
	.parse = ref_option, .own = &ref_opts, .min_operands = 1, 1, "ref NAME --out FILE|- | --uri",
	"Point an unmodified server at the key of the imported NAME through\n"
	"the kmc OpenSSL provider (kmc.so). --uri prints its URI,\n"
	"kmc://<vault>?item=NAME, for programs that open keys through\n"
	"OSSL_STORE (openssl -key, OSSL_STORE_open callers). --out FILE\n"
	"writes a key-reference file (PEM label KMC KEY REFERENCE, mode\n"
	"0644: it holds no secret; --out - prints it) for programs that\n"
	"take a key file (nginx, Apache, HAProxy, PostgreSQL, Mosquitto,\n"
	"curl); load the provider with OPENSSL_CONF, or HAProxy's\n"
	"ssl-provider lines. The exact configuration lines per server are in\n"
	"docs/integrations/ (nginx, apache, haproxy, postgresql, mosquitto,\n"
	"curl, openssl)."
};
