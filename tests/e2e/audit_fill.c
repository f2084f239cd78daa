/*
 * audit_fill.c - a test helper for test_audit.sh: store N passwords
 * (fill-0 .. fill-N-1) through the C API with the audit log's segments
 * made small (MAX bytes), so that a test sees rotation and the removal
 * of old segments without writing megabytes.
 *
 *	audit_fill VAULT MAX N
 *	audit_fill VAULT read NAME N	(a read-only handle reads the
 *					password NAME N times, then closes)
 *	audit_fill VAULT each PREFIX N	(a read-only handle reads the
 *					passwords PREFIX0 .. PREFIXN-1 once
 *					each: N records)
 *	audit_fill VAULT restore BACKUP	(kmc_vault_restore with a file of
 *					its own at descriptor 0, which must
 *					be open and the same after it)
 *
 * Built by the test itself against the internal headers and the static
 * library of the build under test; the vault opens with $KMC_HOST_KEY.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "vault/audit.h"

int main(int argc, char **argv)
{
	kmc_vault *v = NULL;
	int r, n;

	if (argc == 4 && strcmp(argv[2], "restore") == 0) {
		kmc_backup_info info = KMC_BACKUP_INFO_INIT;
		struct stat before, after;
		int fd = open(argv[3], O_RDONLY | O_DIRECTORY);

		/* The caller's descriptor 0: a library never closes it. */
		if (fd < 0 || dup2(fd, 0) < 0 || fstat(0, &before) < 0)
			return 2;
		close(fd);
		r = kmc_vault_restore(argv[1], argv[3], NULL, &info);
		if (r < 0)
			fprintf(stderr, "audit_fill: %s: %s\n", kmc_strerror(r),
				kmc_error_detail());
		if (fstat(0, &after) < 0 || after.st_ino != before.st_ino ||
		    after.st_dev != before.st_dev) {
			fprintf(stderr, "audit_fill: the restore closed or "
				"replaced descriptor 0\n");
			return 3;
		}
		return r < 0;
	}
	if (argc != 4 && !(argc == 5 && (strcmp(argv[2], "read") == 0 ||
	    strcmp(argv[2], "each") == 0))) {
		fprintf(stderr, "usage: audit_fill VAULT MAX N | VAULT read "
			"NAME N | VAULT each PREFIX N\n");
		return 2;
	}
	if (argc == 5) {
		int each = strcmp(argv[2], "each") == 0;

		r = kmc_vault_open(argv[1], 0, &v);
		for (int i = 0; r == 0 && i < atoi(argv[4]); i++) {
			char name[64];
			kmc_secret *s;

			snprintf(name, sizeof(name), "%s%d", argv[3], i);
			r = kmc_item_get(v, each ? name : argv[3],
				KMC_ITEM_PASSWORD, &s);
			if (r == 0)
				kmc_secret_free(s);
		}
		if (r < 0)
			fprintf(stderr, "audit_fill: %s: %s\n", kmc_strerror(r),
				kmc_error_detail());
		if (v)
			kmc_vault_close(v);
		return r < 0;
	}
	r = kmc_vault_open(argv[1], KMC_OPEN_WRITE, &v);
	if (r < 0) {
		fprintf(stderr, "audit_fill: %s: %s\n", kmc_strerror(r),
			kmc_error_detail());
		return 1;
	}
	audit_test_segment_max(strtoul(argv[2], NULL, 10));
	n = atoi(argv[3]);
	for (int i = 0; i < n && r == 0; i++) {
		char name[32];

		snprintf(name, sizeof(name), "fill-%d", i);
		r = kmc_item_put(v, name, KMC_ITEM_PASSWORD, "pw", 2);
	}
	if (r < 0)
		fprintf(stderr, "audit_fill: %s: %s\n", kmc_strerror(r),
			kmc_error_detail());
	kmc_vault_close(v);
	return r < 0;
}
