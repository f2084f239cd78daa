/*
 * token_key.c - the server key of the token rows (token-tls, token-sign):
 * an RSA 2048 key generated on the bench's SoftHSM2 token by `kmc key
 * gen --on-token`, as a user makes one, in a vault of its own (host
 * protector), with a certificate from a throwaway CA for the TLS row.
 * kmcvault reaches it as kmc://VAULT?item=NAME; the peers as the token
 * object itself (pkcs11: URI, or its label in a raw session).
 */
#include "bench.h"

static token_key_env tk;

static void kmc_run(const char *kmc, const char *step, const char *log, const char *vault,
	char *const args[])
{
	proc p;
	size_t n = 0;

	proc_init(&p, step, log);
	p.argv[n++] = (char *)kmc;
	p.argv[n++] = "--vault";
	p.argv[n++] = (char *)vault;
	for (size_t i = 0; args[i]; i++)
		p.argv[n++] = args[i];
	p.argv[n] = NULL;
	proc_run(&p);
	posix_spawn_file_actions_destroy(&p.fa);
}

const token_key_env *bench_token_key(row *r, bench_env *e,
	const char *row_name)
{
	static int made;
	char log[PATH_MAX], csr[PATH_MAX], cnf[PATH_MAX], ca_key[PATH_MAX],
		ca_crt[PATH_MAX], srl[PATH_MAX], on_token[PATH_MAX + 128];
	char *u = NULL;
	int fd;

	if (!softhsm_token(r, row_name))
		return NULL;
	if (made)
		return &tk;
	made = 1;
	path_join(tk.vault, tmp_dir, "token-keys");
	path_join(tk.pin_file, tmp_dir, "token-key.pin");
	path_join(tk.cert, tmp_dir, "token-key.crt");
	path_join(log, tmp_dir, "token-key.log");
	path_join(csr, tmp_dir, "token-key.csr");
	path_join(cnf, tmp_dir, "token-ca.cnf");
	path_join(ca_key, tmp_dir, "token-ca.key");
	path_join(ca_crt, tmp_dir, "token-ca.crt");
	path_join(srl, tmp_dir, "token-ca.srl");
	fd = open(tk.pin_file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, P11_PIN, strlen(P11_PIN)) !=
			(ssize_t)strlen(P11_PIN) || close(fd) < 0)
		die("token key: writing the PIN file", "%s: %s", tk.pin_file,
			strerror(errno));
	vault_create(tk.vault);
	/* The PIN by pin-source, recorded in the vault for the provider. */
	snprintf(on_token, sizeof(on_token), "pkcs11:token=" P11_TOKEN
		"?module-path=" P11_MODULE "&pin-source=%s", tk.pin_file);
	fprintf(stderr, "kmc-bench: %s: kmc key gen " TOKEN_KEY " --type "
		"rsa2048 --on-token (SoftHSM2)\n", row_name);
	kmc_run(e->kmc, "kmc key gen --on-token", log, tk.vault, (char *[]){ "key",
		"gen", TOKEN_KEY, "--type", "rsa2048", "--on-token", on_token,
		NULL });
	kmc_run(e->kmc, "kmc csr (signed on the token)", log, tk.vault, (char *[]){
		"csr", TOKEN_KEY, "--subject", "/CN=localhost", "--san",
		"DNS:localhost", "--out", csr, NULL });
	write_file(cnf, "[req]\ndistinguished_name = dn\nprompt = no\n"
		"[dn]\nCN = kmc bench token CA\n");
	run_openssl("openssl req -x509 (the token key's CA)", log, "req",
		"-x509", "-config", cnf, "-newkey", "ec", "-pkeyopt",
		"ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key, "-out",
		ca_crt, "-days", "2", (char *)NULL);
	run_openssl("openssl x509 -req (the token key's certificate)", log,
		"x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
		"-CAserial", srl, "-CAcreateserial", "-copy_extensions", "copy",
		"-days", "2", "-out", tk.cert, (char *)NULL);
	check_kmc(kmc_uri_format(tk.vault, TOKEN_KEY, &u), "the URI of %s",
		TOKEN_KEY);
	if (strlen(u) >= sizeof(tk.store_uri))
		die("the URI of " TOKEN_KEY, "%s is too long", u);
	memcpy(tk.store_uri, u, strlen(u) + 1);
	free(u);
	snprintf(tk.p11_uri, sizeof(tk.p11_uri), "pkcs11:token=" P11_TOKEN
		";object=" TOKEN_KEY ";type=private");
	return &tk;
}
