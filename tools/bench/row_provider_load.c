/*
 * row_provider_load.c - row "provider-load": what merely loading the kmc
 * provider costs a program that never asks it for a key. `openssl pkey`
 * on a plain PEM with `-provider kmc -provider default` against the same
 * command with `-provider default` alone: both name the default provider
 * explicitly, so the difference is the kmc module (its load, its
 * libraries, its init, its decoder being asked about the PEM) only.
 * This is what every server start pays once kmc is in openssl.cnf.
 */
#include "bench.h"

/* The difference sought is a few percent of a ~10 ms process: many
   interleaved samples, so the medians settle on a loaded machine. */
#define SAMPLES 81
#define SAMPLES_QUICK 41	/* 15 could not tell 1.03x from 1.10x */

int row_provider_load(row *r, bench_env *e)
{
	const char *pem = bench_pem(e);
	proc k, o;

	r->what = "openssl pkey plain.pem, kmc loaded vs not";
	r->about = "`openssl pkey -provider-path BUILD/provider -provider kmc "
		"-provider default\n   -in plain.pem -noout` vs the same without "
		"`-provider kmc`: the cost of the\n   module in every program "
		"that loads it (from openssl.cnf, say) and never\n   asks it "
		"for a key; the PEM is row 4's RSA 2048 key.";
	r->per = "processes";
	proc_init(&k, "openssl pkey with the kmc provider", NULL);
	proc_init(&o, "openssl pkey without the kmc provider", NULL);
	pkey_argv(&k, e->provider_dir, 1, pem);
	pkey_argv(&o, e->provider_dir, 0, pem);
	measure(r, (side){ sample_proc, &k }, (side){ sample_proc, &o },
		e->quick ? SAMPLES_QUICK : SAMPLES);
	posix_spawn_file_actions_destroy(&k.fa);
	posix_spawn_file_actions_destroy(&o.fa);
	return 1;
}
