/*
 * row_process.c - row 2: a whole `kmc password get` process against
 * `openssl pkey -noout` on an unencrypted key: what a server's start-up
 * hook pays.
 */
#include "bench.h"

#define PROC_SAMPLES 31

int row_process(row *r, bench_env *e)
{
	char *vault = (char *)bench_get_vault(e), *pem = (char *)bench_pem(e);
	proc k, o;

	r->what = "kmc password get vs openssl pkey -noout";
	r->about = "a whole `kmc --vault DIR password get NAME` process vs "
		"`openssl pkey -in\n   plain.pem -noout` (RSA 2048, unencrypted: "
		"decrypts nothing); posix_spawn +\n   waitpid, stdout to "
		"/dev/null.";
	r->per = "processes";
	fprintf(stderr, "kmc-bench: row 2: kmc password get vs openssl "
		"pkey\n");
	proc_init(&k, "kmc password get", NULL);
	k.argv[0] = e->kmc;
	k.argv[1] = "--vault";
	k.argv[2] = vault;
	k.argv[3] = "password";
	k.argv[4] = "get";
	k.argv[5] = PASSWORD_ITEM;
	k.argv[6] = NULL;
	proc_init(&o, "openssl pkey", NULL);
	pkey_argv(&o, NULL, 0, pem);
	measure(r, (side){ sample_proc, &k }, (side){ sample_proc, &o },
		PROC_SAMPLES);
	posix_spawn_file_actions_destroy(&k.fa);
	posix_spawn_file_actions_destroy(&o.fa);
	return 1;
}
