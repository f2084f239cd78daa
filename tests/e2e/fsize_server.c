/*
 * fsize_server.c - a test helper for test_fsize.sh: a server that changes
 * its vault through the public C API, with SIGXFSZ left at its default
 * (kill), as a server's is. One change a run:
 *
 *	fsize_server VAULT put NAME FILE	an item of FILE's bytes
 *	fsize_server VAULT rotate		a new master key (the keystores)
 *	fsize_server VAULT backup DIR		a backup of the vault
 *	fsize_server VAULT init			a new vault (host protector)
 *
 * Prints the call's error and exits 1 when it fails. Built by the test
 * itself against the static library of the build under test; the vault
 * opens with $KMC_HOST_KEY.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kmc.h>
#include <kmc/admin.h>

static int put(kmc_vault *v, const char *name, const char *path)
{
	static unsigned char buf[KMC_ITEM_MAX];
	size_t len;
	FILE *f = fopen(path, "rb");

	if (!f) {
		perror(path);
		exit(2);
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return kmc_item_put(v, name, KMC_ITEM_BUNDLE, buf, len);
}

int main(int argc, char **argv)
{
	kmc_backup_info info = KMC_BACKUP_INFO_INIT;
	kmc_vault *v;
	uint32_t id;
	int r;

	if (argc < 3 || (!strcmp(argv[2], "put") && argc != 5) ||
	    (!strcmp(argv[2], "backup") && argc != 4)) {
		fprintf(stderr, "usage: fsize_server VAULT put NAME FILE | "
			"rotate | backup DIR | init\n");
		return 2;
	}
	if (!strcmp(argv[2], "init"))
		r = kmc_vault_init(argv[1], KMC_PROTECTOR_HOST, NULL);
	else if ((r = kmc_vault_open(argv[1], KMC_OPEN_WRITE, &v)) == 0) {
		if (!strcmp(argv[2], "put"))
			r = put(v, argv[3], argv[4]);
		else if (!strcmp(argv[2], "rotate"))
			r = kmc_mk_rotate(v, &id);
		else
			r = kmc_vault_backup(v, argv[3], &info);
		kmc_vault_close(v);
	}
	if (r < 0) {
		fprintf(stderr, "fsize_server: %s\n", kmc_error_detail()[0] ?
			kmc_error_detail() : kmc_strerror(r));
		return 1;
	}
	return 0;
}
