/*
 * row_provider.c - row 4: `openssl pkey -noout` on a kmc: URI, through
 * the provider, against the same command on the key as a PEM file: what
 * loading a server's key from the vault adds to a start or a reload.
 */
#include "bench.h"

#define PROC_SAMPLES 31

int row_provider(row *r, bench_env *e)
{
	static char uri[KMC_URI_MAX];
	char *pem = (char *)bench_pem(e);
	proc k, o;

	r->what = "openssl pkey kmc: URI vs pkey plain.pem";
	r->about = "a whole `openssl pkey -provider-path BUILD/provider "
		"-provider kmc -provider\n   default -in kmc://DIR?item="
		KEY_BUNDLE " -noout` process (the provider opens\n   the vault, "
		"host protector, and hands over the key) vs `openssl pkey -in\n"
		"   plain.pem -noout`: the same RSA 2048 key, which row 2's file "
		"holds in the\n   clear.";
	r->per = "processes";
	import_key(bench_get_vault(e), pem, uri, sizeof(uri));
	fprintf(stderr, "kmc-bench: row 4: openssl pkey on %s vs on "
		"plain.pem\n", uri);
	/* stderr inherited: a failing load says why, and the bench stops. */
	proc_init(&k, "openssl pkey -in kmc:", NULL);
	pkey_argv(&k, e->provider_dir, 1, uri);
	proc_init(&o, "openssl pkey", NULL);
	pkey_argv(&o, NULL, 0, pem);
	measure(r, (side){ sample_proc, &k }, (side){ sample_proc, &o },
		PROC_SAMPLES);
	posix_spawn_file_actions_destroy(&k.fa);
	posix_spawn_file_actions_destroy(&o.fa);
	return 1;
}
