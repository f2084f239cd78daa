/*
 * kmc.c - the kmc command: parse arguments, call the library, print.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "cli.h"


static const command commands[] = {
	{ "init", NULL, cmd_init,
	  OPT_PROTECTOR | OPT_HOST_KEY | OPT_PASSPHRASE | OPT_ARGON2 | OPT_TOKEN,
	  0, 0,
	  "init [--protector host|passphrase|pkcs11|tpm|recovery] [--host-key FILE]\n"
	  "        [--passphrase-file FILE | --passphrase-fd N]\n"
	  "        [--argon2-ops N] [--argon2-mem MIB]\n"
	  "        [--pkcs11-uri URI [--pin-file F | --pin-fd N] [--create-key]\n"
	  "         [--mechanism aes-cbc|aes-gcm|rsa-oaep]]",
	  "Create a vault: kmc.ks, StandbyKsf.ks and the item store in a new\n"
	  "(or empty) directory, mode 0700. The host protector (default) keeps\n"
	  "the root key under a host key file, made 0400 on first use at\n"
	  "--host-key, $KMC_HOST_KEY, or /etc/kmcvault/host.key for root\n"
	  "(~/.config/kmcvault/host.key otherwise). The passphrase protector\n"
	  "derives its key with Argon2id (default 3 passes over 256 MiB); the\n"
	  "passphrase is asked twice on the terminal or read from a file or\n"
	  "descriptor, and must have at least 8 characters. pkcs11 and tpm:\n"
	  "see kmc protector add --help; recovery prints its key once." },
	{ "protector", "add", cmd_protector_add,
	  OPT_HOST_KEY | OPT_PASSPHRASE | OPT_ARGON2 | OPT_TOKEN, 1, 1,
	  "protector add host|passphrase|pkcs11|tpm|recovery [OPTIONS]",
	  "Add a way to open the vault; any one protector opens it. The vault\n"
	  "is opened with the protectors it has (host key, token, prompt).\n"
	  "  host        --host-key FILE (made 0400 if absent)\n"
	  "  passphrase  --passphrase-file F | --passphrase-fd N | prompt,\n"
	  "              [--argon2-ops N] [--argon2-mem MIB]\n"
	  "  pkcs11      --pkcs11-uri 'pkcs11:token=T;object=K[?module-path=P]'\n"
	  "              (RFC 7512: token, object, id, module-name, module-path,\n"
	  "              pin-source); the PIN from --pin-file, --pin-fd, the\n"
	  "              URI's pin-source, or a prompt. A pin-source is kept\n"
	  "              so a server opens at boot with no flags; a pin-value\n"
	  "              is refused, since others can read it in ps.\n"
	  "              --create-key makes a sensitive, non-extractable AES-256\n"
	  "              key when none matches; an extractable key is refused.\n"
	  "              --mechanism aes-cbc (default, every token), aes-gcm\n"
	  "              (SoftHSM2), rsa-oaep (an RSA key: SHA-256, else SHA-1).\n"
	  "  tpm         the same through tpm2-pkcs11 (module-name=tpm2_pkcs11\n"
	  "              unless the URI names a module); see\n"
	  "              docs/integrations/tpm.md\n"
	  "  recovery    prints a high-entropy key once, 8 groups of 6 with a\n"
	  "              check symbol each; --recovery opens the vault with it.\n"
	  "Modules load only from /usr/lib, /usr/local/lib, /lib or /opt." },
	{ "protector", "list", cmd_protector_list, OPT_JSON, 0, 0,
	  "protector list [--json]",
	  "List the protectors: id, type, and what it uses (host key path,\n"
	  "Argon2id cost, token URI and mechanism). Nothing is unlocked." },
	{ "protector", "remove", cmd_protector_remove,
	  OPT_HOST_KEY | OPT_PASSPHRASE, 1, 1, "protector remove ID",
	  "Remove protector ID; the last one is never removed. Note: a copy of\n"
	  "the keystore made before still opens with the removed protector." },
	{ "status", NULL, cmd_status, OPT_JSON, 0, 0, "status [--json]",
	  "Report the vault id, the health and generation of each keystore,\n"
	  "the protectors, the master keys and the item count, without\n"
	  "unlocking anything. Exits 4 when a keystore needs repair." },
	{ "list", NULL, cmd_list, OPT_JSON | OPT_HOST_KEY | OPT_PASSPHRASE, 0, 0,
	  "list [--json]",
	  "List items: name, type, version, size and when it was stored.\n"
	  "Nothing is decrypted." },
	{ "rm", NULL, cmd_rm, OPT_HOST_KEY | OPT_PASSPHRASE | OPT_OLD, 1, 1,
	  "rm NAME [--old]",
	  "Remove the item NAME and its old versions; for an imported NAME,\n"
	  "its NAME/... items too. With --old, remove only the old versions\n"
	  "that an import with --replace kept." },
	{ "password", "set", cmd_password_set,
	  OPT_HOST_KEY | OPT_PASSPHRASE | OPT_PASSWORD, 1, 1,
	  "password set NAME [--password-file FILE | --password-fd N]",
	  "Store a password (at most 4096 bytes) that unlocks a server key.\n"
	  "It is asked twice on the terminal, or read from a file (mode 0600\n"
	  "or stricter) or a descriptor; one trailing newline is dropped.\n"
	  "A password is text: one holding a NUL byte is refused.\n"
	  "Storing under an existing name replaces it and raises its version." },
	{ "password", "get", cmd_password_get, OPT_HOST_KEY | OPT_PASSPHRASE,
	  1, 1, "password get NAME",
	  "Print the password NAME alone on standard output, as PostgreSQL's\n"
	  "ssl_passphrase_command expects (a newline follows on a terminal\n"
	  "only)." },
	{ "encrypt", NULL, cmd_encrypt, OPT_HOST_KEY | OPT_PASSPHRASE, 0, 1,
	  "encrypt [SECRET]",
	  "Print a ciphertext string kmc:v1:<mk-id>:<base64url> for a config\n"
	  "file. The secret is read from standard input (no echo on a\n"
	  "terminal); an operand works too, but others may see it in ps.\n"
	  "A secret holding a NUL byte is refused." },
	{ "decrypt", NULL, cmd_decrypt, OPT_HOST_KEY | OPT_PASSPHRASE, 0, 1,
	  "decrypt [STRING]",
	  "Print the secret inside a ciphertext string (the operand, else\n"
	  "standard input: one string, white space around it ignored, a NUL\n"
	  "byte refused). It opens only in the vault that made it." },
	{ "import", NULL, cmd_import,
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
	  "`kmc rm --old`. tools/certImport.sh takes certImport's -c -s -k -r -h." },
	{ "crl", "update", cmd_crl_update,
	  OPT_CRL | OPT_HOST_KEY | OPT_PASSPHRASE, 1, 1, "crl update NAME -r NEW.crl",
	  "Replace the CRL of the imported NAME, after checking it is signed by\n"
	  "NAME's CA, current, and does not revoke NAME's own certificate. The\n"
	  "copy in the keys folder and the config file's crl entry follow.\n"
	  "A server using kmc_ssl_ctx_use() sees the vault generation grow." },
	{ "unwrap", NULL, cmd_unwrap, OPT_OUT | OPT_HOST_KEY | OPT_PASSPHRASE,
	  1, 1, "unwrap NAME [--format pem|der] [--out FILE]",
	  "Write the private key of the imported NAME as unencrypted PKCS#8:\n"
	  "to --out FILE, created 0600 (an existing file is never overwritten),\n"
	  "or to standard output when it is not a terminal." },
	{ "cert", "info", cmd_cert_info, OPT_JSON | OPT_HOST_KEY | OPT_PASSPHRASE,
	  1, 1, "cert info NAME|FILE [--json]",
	  "Describe each certificate of the imported NAME (or a certificate\n"
	  "item, or a PEM/DER file): subject, issuer, SANs, serial, SHA-256\n"
	  "fingerprint, not-before, expiry (also in milliseconds since the\n"
	  "epoch, as `expires` in JSON) and the PEM. A file of that name wins\n"
	  "over an item." },
	{ "ref", NULL, cmd_ref, OPT_OUT | OPT_URI | OPT_HOST_KEY | OPT_PASSPHRASE,
	  1, 1, "ref NAME --out FILE | --uri",
	  "Point an unmodified server at the key of the imported NAME through\n"
	  "the kmc OpenSSL provider (kmc.so). --uri prints its URI,\n"
	  "kmc://<vault>?item=NAME, for programs that open keys through\n"
	  "OSSL_STORE (openssl -key, OSSL_STORE_open callers). --out FILE\n"
	  "writes a key-reference file (PEM label KMC KEY REFERENCE, mode\n"
	  "0644: it holds no secret) for programs that take a key file (nginx,\n"
	  "Apache, HAProxy, PostgreSQL, Mosquitto, curl); load the provider\n"
	  "with OPENSSL_CONF, or HAProxy's ssl-provider lines. The exact\n"
	  "configuration lines per server are in docs/integrations/ (nginx,\n"
	  "apache, haproxy, postgresql, mosquitto, curl, openssl)." },
	{ "repair", NULL, cmd_repair, OPT_HOST_KEY | OPT_PASSPHRASE, 0, 0,
	  "repair",
	  "Open the vault for writing: rewrite a missing, stale or damaged\n"
	  "keystore from its twin, and finish (or undo) an import that was cut\n"
	  "off. Exits 4 if something is still wrong." },
	{ "backup", NULL, cmd_backup,
	  OPT_OUT | OPT_JSON | OPT_HOST_KEY | OPT_PASSPHRASE,
	  0, 0, "backup --out DIR [--json]",
	  "Copy the vault to the new folder DIR (0700; an existing DIR must be\n"
	  "empty, and is never overwritten): kmc.ks, StandbyKsf.ks, a compacted\n"
	  "items.mdb and backup.manifest (vault id, keystore generation, item\n"
	  "count, a hash of each file), each 0600. The vault is opened for\n"
	  "writing, so the copy is one consistent set: servers go on reading,\n"
	  "and other writers wait until it is done. DIR appears whole or not at\n"
	  "all. The host key, passphrase, token and recovery key are not in it;\n"
	  "one of them is needed to open what it restores. Keys folders and\n"
	  "config files an import wrote are not in it either. --json prints\n"
	  "what was copied (docs/cli.md) on standard output." },
	{ "restore", NULL, cmd_restore,
	  OPT_JSON | OPT_HOST_KEY | OPT_PASSPHRASE, 1, 1,
	  "restore BACKUP [--json]",
	  "Put the backup in folder BACKUP back as the vault, in one step. The\n"
	  "backup is checked first (manifest, every file's hash, keystores,\n"
	  "store, vault id) and opened with the vault's protectors to check\n"
	  "its MACs and every item; a backup of another vault is refused.\n"
	  "The vault may be damaged or missing (it is created); a folder with\n"
	  "a healthy vault of another id, or other files, is refused. A failure\n"
	  "changes nothing; after a crash, kmc repair finishes the restore.\n"
	  "Servers that keep the vault open read the old items until they\n"
	  "open it again. --json prints what was restored (docs/cli.md) on\n"
	  "standard output." },
	{ "completion", NULL, cmd_completion, 0, 1, 1, "completion bash|zsh",
	  "Print a completion script for bash or zsh, made from this table of\n"
	  "commands and their options: commands, the second word of a group,\n"
	  "options, and item names (from kmc list, asked quietly when you\n"
	  "press Tab; nothing is offered if the vault would need a secret).\n"
	  "Try: source <(kmc completion bash)" },
	{ "version", NULL, cmd_version, OPT_JSON, 0, 0, "version [--json]",
	  "Print the version; with --json, the version, the ABI number and the\n"
	  "build's features (docs/cli.md)." },
};

const command *cli_command_table(size_t *ret_n)
{
	*ret_n = ELEMENTS(commands);
	return commands;
}

/* Whether word is the first of the table's two-word commands. */
static int is_group(const char *word)
{
	for (size_t k = 0; k < ELEMENTS(commands); k++)
		if (commands[k].sub && !strcmp(commands[k].name, word))
			return 1;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kmc [--vault DIR] COMMAND [OPTIONS] [ARGS]\n\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fprintf(f,
		"\nThe vault is --vault DIR, else $KMC_VAULT, else\n"
		"/var/lib/kmcvault for root and ~/.local/share/kmcvault otherwise.\n"
		"Options taken by every command that opens a vault:\n"
		"  --host-key FILE        the host key (else the one recorded)\n"
		"  --passphrase-file F    the vault passphrase from a file\n"
		"  --passphrase-fd N      ... or from a descriptor\n"
		"  --pin-file F, --pin-fd N   the PIN of a PKCS#11 or TPM token\n"
		"  --recovery, --recovery-file F, --recovery-fd N   open with the\n"
		"                         recovery key (prompted, or from F or N)\n"
		"Secrets are never needed on the command line; without a\n"
		"terminal, give them through a file or a descriptor.\n\n"
		"Exit codes: 0 ok, 1 other failure, 2 usage, 3 authentication\n"
		"(passphrase, host key), 4 integrity (altered or damaged data,\n"
		"a vault that needs repair), 5 permission (owner, mode, link),\n"
		"6 I/O, 7 not found, 8 already exists, 9 verification (dates,\n"
		"chain, key match, CRL, key type).\n"
		"`kmc COMMAND --help` explains each command.\n");
}

static void harden_process(void)
{
	struct rlimit no_core = { 0, 0 };

	/* As ssh-agent: no core file and no ptrace by the same user. */
	(void)setrlimit(RLIMIT_CORE, &no_core);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	umask(077);
}

int main(int argc, char **argv)
{
	const char *vault = NULL;
	const command *c = NULL;
	args a = { 0 };
	int i = 1, r;

	harden_process();
	/* Options before the command word: only --vault and help. */
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--vault") == 0 && i + 1 < argc) {
			vault = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--vault=", 8) == 0) {
			vault = argv[i] + 8;
			i++;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--version")) {
			return cmd_version(&a);
		} else {
			cli_note("unknown option %s", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(commands[k].name, argv[i]) != 0)
			continue;
		if (commands[k].sub) {
			if (i + 1 < argc && !strcmp(commands[k].sub, argv[i + 1])) {
				c = &commands[k];
				break;
			}
			continue;
		}
		c = &commands[k];
		break;
	}
	if (!c) {
		if (is_group(argv[i])) {
			int help = i + 1 < argc && !strcmp(argv[i + 1], "--help");

			for (size_t k = 0; k < ELEMENTS(commands); k++)
				if (!strcmp(commands[k].name, argv[i]))
					fprintf(help ? stdout : stderr,
						"usage: kmc %s\n", commands[k].usage);
			return help ? EXIT_OK : EXIT_USAGE;
		}
		cli_note("unknown command %s", argv[i]);
		usage(stderr);
		return EXIT_USAGE;
	}
	i += c->sub ? 2 : 1;
	/* getopt wants argv[0] in front of the command's own arguments. */
	argv[i - 1] = argv[0];
	r = parse_args(c, argc - i + 1, argv + i - 1, &a);
	if (r < 0)
		return CLI_EXIT_CODE(r);
	if (a.help) {
		printf("usage: kmc %s\n\n%s\n", c->usage, c->help);
		return EXIT_OK;
	}
	if (!a.vault)
		a.vault = vault;
	r = c->run(&a);
	if (CLI_IS_EXIT(r))
		return CLI_EXIT_CODE(r);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}
