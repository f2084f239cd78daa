/*
 * held_handle.c - a long-running program's vault handle, held while a
 * command changes the vault, for tests/e2e/test_held_handle.sh:
 *
 *	held_handle restore VAULT WANT CMD
 *
 * restore: open VAULT, read its generation, run CMD (a shell command: a
 * kmc restore), then poll kmc_vault_generation() as examples/tls_server
 * does. A restore renames another item store over the one the handle
 * opened, which the handle goes on reading: its generation never moved
 * again, so a server polling it missed the restore and every change
 * after. The poll must now fail (KMC_E_STORE) with a detail naming
 * items.mdb and saying to open the vault again, and a new handle must
 * read item "pw" as WANT.
 *
 * Prints "ok" and exits 0, or what went wrong and exits 1; 2 when the
 * set-up fails. The vault opens with $KMC_HOST_KEY.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kmc.h>

static int restore(const char *dir, const char *want, const char *cmd)
{
	kmc_vault *v;
	kmc_secret *s;
	uint64_t g0, g = 0;
	int r, bad = 0;

	if (kmc_vault_open(dir, 0, &v) < 0 || kmc_vault_generation(v, &g0) < 0)
		return 2;
	if (system(cmd) != 0) {
		printf("the command failed: %s\n", cmd);
		return 2;
	}
	r = kmc_vault_generation(v, &g);
	if (r != KMC_E_STORE) {
		printf("the held handle's generation after the restore: %s "
			"(%llu, %llu before), not KMC_E_STORE\n",
			r < 0 ? kmc_strerror(r) : "ok", (unsigned long long)g,
			(unsigned long long)g0);
		bad = 1;
	} else if (!strstr(kmc_error_detail(), "items.mdb was replaced") ||
	    !strstr(kmc_error_detail(), "open the vault again")) {
		printf("the detail does not say what happened: %s\n",
			kmc_error_detail());
		bad = 1;
	}
	kmc_vault_close(v);
	if (kmc_vault_open(dir, 0, &v) < 0 || kmc_vault_generation(v, &g) < 0)
		return 2;
	r = kmc_item_get_secret(v, "pw", &s);
	if (r < 0 || kmc_secret_len(s) != strlen(want) ||
	    memcmp(kmc_secret_data(s), want, strlen(want)) != 0) {
		printf("a new handle does not read pw as %s\n", want);
		bad = 1;
	}
	if (r == 0)
		kmc_secret_free(s);
	kmc_vault_close(v);
	return bad;
}

int main(int argc, char **argv)
{
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && strcmp(argv[1], "restore") == 0)
		r = restore(argv[2], argv[3], argv[4]);
	else
		return 2;
	if (r == 0)
		printf("ok\n");
	return r;
}
