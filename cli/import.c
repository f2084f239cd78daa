/*
 * import.c - kmc import, kmc crl update.
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


static int cmd_import(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	_cleanup_(secret_freep) kmc_secret *pw = NULL;
	kmc_import_params p = KMC_IMPORT_PARAMS_INIT;
	kmc_cert_info *info = NULL;
	size_t n = 0;
	char what[PATH_MAX + 32];
	int encrypted, r;

	if (!a->ca || !a->cert || !a->key)
		return cli_usage_fail("import needs -c CA_CERT, -s SERVER_CERT "
			"and -k SERVER_KEY (see kmc import --help)");
	/* The key is checked before anything is asked or opened. */
	r = kmc_key_file_encrypted(a->key, &encrypted);
	if (r < 0)
		return cli_fail(r, "import");
	if (encrypted || a->password.file || a->password.fd >= 0) {
		snprintf(what, sizeof(what), "password of %s", a->key);
		/* Bytes: room for 100 characters of UTF-8; the library
		   counts characters. */
		r = cli_read_secret(&a->password, what, 0, 400, &pw);
		if (r < 0)
			return r;
		r = refuse_nul(pw, what, &a->password);
		if (r < 0)
			return r;
	}
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	p.name = a->name;
	p.ca_file = a->ca;
	p.cert_file = a->cert;
	p.key_file = a->key;
	p.crl_file = a->crl;
	p.keys_dir = a->keys_dir;
	p.conf_file = a->conf;
	p.password = pw;
	p.flags = a->replace ? KMC_IMPORT_REPLACE : 0;
	r = kmc_import(v, &p);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "import");
	if (r < 0)
		return cli_fail(r, "import refused, nothing was changed");
	cli_note("imported %s into %s%s", a->name ? a->name :
		"server", kmc_vault_dir(v), encrypted ? "" :
		" (the key came unencrypted: its copy is encrypted under a new "
		"password kept in the vault; delete the plain original)");
	if (kmc_cert_info_get(v, a->name ? a->name : "server", &info, &n) == 0
	    && n > 0)
		cli_note("certificate %s, issued by %s, serial %s",
			info[0].subject, info[0].issuer, info[0].serial);
	kmc_cert_info_free(info, n);
	return 0;
}

static int cmd_crl_update(args *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	int r;

	if (!a->crl)
		return cli_usage_fail("crl update needs -r NEW_CRL");
	r = open_vault(a, KMC_OPEN_WRITE, &v);
	if (r < 0)
		return r;
	r = kmc_crl_update(v, a->argv[0], a->crl);
	if (r == KMC_E_PENDING)
		return cli_fail(r, "crl update");
	if (r < 0)
		return cli_fail(r, "crl update refused, nothing was changed");
	cli_note("the CRL of %s is now %s", a->argv[0], a->crl);
	return 0;
}

const command cli_cmd_import = {
	"import", NULL, cmd_import,
	OPT_IMPORT | OPT_CRL | OPT_PASSWORD | OPT_HOST_KEY | OPT_PASSPHRASE,
	0, 0,
	"import -c CA.crt -s SERVER.crt -k SERVER.key [-r CA.crl] [--name NAME]\n"
	"        [--keys-dir DIR] [--conf FILE] [--replace]\n"
	"        [--password-file FILE | --password-fd N]",
	"Verify, then import a CA certificate, a server certificate (with any\n"
	"intermediates after it), its private key and optionally a CRL, as\n"
	"certImport does. Every file must be a regular file reached without\n"
	"symbolic links and owned by you or root; the key at most mode 0640;\n"
	"an existing keys folder yours and mode 0700. The chain must lead to\n"
	"the CA, every certificate be within its dates, the key open with its\n"
	"password (at most 100 characters) and match the certificate; a CRL\n"
	"must be the CA's, current, and not revoke the chain. Keys: encrypted\n"
	"or plain PKCS#8 (PEM, DER), legacy encrypted PEM, PKCS#1, SEC1; RSA\n"
	"2048-4096, EC P-256/P-384, Ed25519.\n\n"
	"Stores under NAME (default server): the password as NAME (so\n"
	"`kmc password get NAME` serves ssl_passphrase_command), the key as\n"
	"NAME/key, certificates as NAME/cert and NAME/ca, the CRL as NAME/crl.\n"
	"Writes ca.crt, server.crt, server.key (still encrypted) and ca.crl,\n"
	"mode 0400, to the keys folder (default <vault>/keys/NAME), and with\n"
	"--conf sets ca_crt, server_crt, server_key, crl and server_key_mm\n"
	"(the password as a ciphertext string) in a key = value file, keeping\n"
	"every other line. All of it happens, or none of it.\n"
	"--replace supersedes an existing NAME; old versions stay until\n"
	"`kmc rm --old`. tools/certImport.sh takes certImport's -c -s -k -r -h."
};

const command cli_cmd_crl_update = {
	"crl", "update", cmd_crl_update,
	OPT_CRL | OPT_HOST_KEY | OPT_PASSPHRASE, 1, 1, "crl update NAME -r NEW.crl",
	"Replace the CRL of the imported NAME, after checking it is signed by\n"
	"NAME's CA, current, and does not revoke NAME's own certificate. The\n"
	"copy in the keys folder and the config file's crl entry follow.\n"
	"A server using kmc_ssl_ctx_use() sees the vault generation grow."
};
