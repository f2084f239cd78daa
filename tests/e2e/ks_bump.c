/*
 * ks_bump.c - a test helper for test_recovery.sh: write the keystore of a
 * vault, one generation newer and sealed under its root key, to a new
 * file, and name it in the vault's binding (kmc.bind). That is what any
 * change of the keystore itself (a protector added, a master key rotated)
 * writes; the kmc command has no such change yet,
 * and item changes leave the keystore alone, so a test cannot otherwise
 * make a genuinely stale twin.
 *
 *	ks_bump VAULT OUT	(OUT must not exist; it is made 0600)
 *
 * Built by the test itself against the internal headers and the static
 * library of the build under test.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "vault/vault.h"
#include "vault/bind.h"

int main(int argc, char **argv)
{
	kmc_vault *v;
	uint8_t *raw;
	size_t len, off = 0;
	int fd, r;

	if (argc != 3) {
		fprintf(stderr, "usage: ks_bump VAULT OUT\n");
		return 2;
	}
	r = kmc_vault_open(argv[1], KMC_OPEN_WRITE, &v);
	if (r < 0) {
		fprintf(stderr, "ks_bump: %s: %s\n", argv[1],
			kmc_error_detail()[0] ? kmc_error_detail() :
			kmc_strerror(r));
		return 1;
	}
	v->ks->generation++;
	r = ks_serialize(v->ks, kmc_secret_data(v->rk), &raw, &len);
	/* As a keystore change does, the binding (kmc.bind) names it. */
	if (r == 0)
		r = bind_on_keystore(v, STORE_COMMITTED, v->ks->generation, raw,
			len);
	kmc_vault_close(v);
	if (r < 0) {
		fprintf(stderr, "ks_bump: %s\n", kmc_strerror(r));
		return 1;
	}
	fd = open(argv[2], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "ks_bump: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	while (off < len) {
		ssize_t n = write(fd, raw + off, len - off);

		if (n < 0) {
			fprintf(stderr, "ks_bump: %s: %s\n", argv[2],
				strerror(errno));
			return 1;
		}
		off += (size_t)n;
	}
	free(raw);
	return close(fd) == 0 ? 0 : 1;
}
