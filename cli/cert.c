/*
 * cert.c - kmc unwrap, cert info, ref: the own options of unwrap and
 * ref, and the handlers.
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

static int cmd_unwrap(cli_opts *a)
{
	const struct unwrap_opts *uo = &unwrap_opts;
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *key = NULL;
	kmc_key_format fmt = KMC_FORMAT_PEM;
	int r;

	if (uo->format && !strcmp(uo->format, "der"))
		fmt = KMC_FORMAT_DER;
	else if (uo->format && strcmp(uo->format, "pem"))
		return cli_usage_fail("unwrap: --format pem or der, not %s",
			uo->format);
	if (!uo->out && isatty(STDOUT_FILENO))
		return cli_usage_fail("unwrap: refusing to print a private key on "
			"a terminal; give --out FILE or send it to a pipe");
	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_key_export(v, a->argv[0], fmt, &key);
	if (r < 0)
		return cli_fail(r, "unwrapping %s", a->argv[0]);
	if (!uo->out)
		return write_out(kmc_secret_data(key), kmc_secret_len(key)) < 0 ?
			CLI_EXIT(EXIT_IO) : 0;
	r = kmc_file_write_new(uo->out, kmc_secret_data(key),
		kmc_secret_len(key), 0600);
	return r < 0 ? cli_fail(r, "unwrap") : 0;
}

static void print_sans_json(const char *sans)
{
	const char *p = sans;
	int first = 1;

	printf("[");
	while (*p) {
		const char *end = strstr(p, ", ");
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char item[512];

		snprintf(item, sizeof(item), "%.*s", (int)n, p);
		printf("%s", first ? "" : ",");
		json_str(stdout, item);
		first = 0;
		p += n + (end ? 2 : 0);
	}
	printf("]");
}

static int cmd_cert_info(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	kmc_cert_info *info = NULL;
	const char *what = a->argv[0];
	char nb[64], na[64];
	struct stat st;
	size_t n = 0;
	int r;

	/* A file of that name wins; otherwise it names a vault item. */
	if (lstat(what, &st) < 0) {
		r = open_vault(a, 0, &v);
		if (r < 0)
			return r;
	}
	r = kmc_cert_info_get(v, what, &info, &n);
	if (r < 0)
		return cli_fail(r, "cert info");
	if (a->json)
		printf("[");
	for (size_t i = 0; i < n; i++) {
		kmc_cert_info *c = &info[i];

		iso_time(c->not_before, nb, sizeof(nb));
		iso_time(c->not_after, na, sizeof(na));
		if (a->json) {
			printf("%s{\"subject\":", i ? "," : "");
			json_str(stdout, c->subject);
			printf(",\"issuer\":");
			json_str(stdout, c->issuer);
			printf(",\"sans\":");
			print_sans_json(c->sans);
			printf(",\"serial\":\"%s\",\"sha256\":\"%s\","
				"\"not_before\":\"%s\",\"not_after\":\"%s\","
				"\"expires\":%" PRId64 ",\"pem\":", c->serial,
				c->sha256, nb, na, c->not_after * 1000);
			json_str(stdout, c->pem);
			printf("}");
		} else {
			printf("certificate %zu of %zu\n", i + 1, n);
			/* Names come from the certificate, made by anyone. */
			printf("  subject     ");
			cli_put_escaped(stdout, c->subject);
			printf("\n  issuer      ");
			cli_put_escaped(stdout, c->issuer);
			printf("\n  SANs        ");
			cli_put_escaped(stdout, c->sans[0] ? c->sans : "(none)");
			printf("\n  serial      ");
			cli_put_escaped(stdout, c->serial);
			putchar('\n');
			printf("  sha256      %s\n", c->sha256);
			printf("  not before  %s\n", nb);
			printf("  expires     %s (%" PRId64 " ms since the epoch)\n",
				na, c->not_after * 1000);
			printf("%s", c->pem);
		}
	}
	if (a->json)
		printf("]\n");
	kmc_cert_info_free(info, n);
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
	int r;

	if (!!ro->uri == !!ro->out)
		return cli_usage_fail("ref: give --uri or --out FILE");
	/* Refer only to a key that is there and opens. */
	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	r = kmc_key_export(v, a->argv[0], KMC_FORMAT_DER, &check);
	if (r < 0)
		return cli_fail(r, "ref: %s", a->argv[0]);
	r = ro->uri ? kmc_uri_format(kmc_vault_dir(v), a->argv[0], &text) :
		kmc_ref_format(kmc_vault_dir(v), a->argv[0], &text);
	if (r < 0)
		return cli_fail(r, "ref: %s", a->argv[0]);
	if (ro->uri) {
		printf("%s\n", text);
		free(text);
		return fflush(stdout) == 0 ? 0 : cli_fail(-errno, "writing");
	}
	/* It holds no secret, so 0644 is fine; never overwrite. */
	r = kmc_file_write_new(ro->out, text, strlen(text), 0644);
	free(text);
	return r < 0 ? cli_fail(r, "ref") : 0;
}

const command cli_cmd_unwrap = {
	"unwrap", NULL, cmd_unwrap, CLI_UNLOCK, .options = unwrap_options,
	.parse = unwrap_option, .own = &unwrap_opts, .min_operands = 1, 1, "unwrap NAME [--format pem|der] [--out FILE]",
	"Write the private key of the imported NAME as unencrypted PKCS#8:\n"
	"to --out FILE, created 0600 (an existing file is never overwritten),\n"
	"or to standard output when it is not a terminal."
};

const command cli_cmd_cert_info = {
	"cert", "info", cmd_cert_info, CLI_JSON | CLI_UNLOCK,
	.min_operands = 1, 1, "cert info NAME|FILE [--json]",
	"Describe each certificate of the imported NAME (or a certificate\n"
	"item, or a PEM/DER file): subject, issuer, SANs, serial, SHA-256\n"
	"fingerprint, not-before, expiry (also in milliseconds since the\n"
	"epoch, as `expires` in JSON) and the PEM. A file of that name wins\n"
	"over an item."
};

const command cli_cmd_ref = {
	"ref", NULL, cmd_ref, CLI_UNLOCK, .options = ref_options,
	.parse = ref_option, .own = &ref_opts, .min_operands = 1, 1, "ref NAME --out FILE | --uri",
	"Point an unmodified server at the key of the imported NAME through\n"
	"the kmc OpenSSL provider (kmc.so). --uri prints its URI,\n"
	"kmc://<vault>?item=NAME, for programs that open keys through\n"
	"OSSL_STORE (openssl -key, OSSL_STORE_open callers). --out FILE\n"
	"writes a key-reference file (PEM label KMC KEY REFERENCE, mode\n"
	"0644: it holds no secret) for programs that take a key file (nginx,\n"
	"Apache, HAProxy, PostgreSQL, Mosquitto, curl); load the provider\n"
	"with OPENSSL_CONF, or HAProxy's ssl-provider lines. The exact\n"
	"configuration lines per server are in docs/integrations/ (nginx,\n"
	"apache, haproxy, postgresql, mosquitto, curl, openssl)."
};
