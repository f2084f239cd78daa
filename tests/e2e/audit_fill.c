/*
 * audit_fill.c - a test helper for test_audit.sh: store N passwords
 * (fill-0 .. fill-N-1) through the C API with the audit log's segments
 * made small (MAX bytes), so that a test sees rotation and the removal
 * of old segments without writing megabytes.
 *
 *	audit_fill VAULT MAX N
 *
 * Built by the test itself against the internal headers and the static
 * library of the build under test; the vault opens with $KMC_HOST_KEY.
 */
#include <stdio.h>
#include <stdlib.h>
#include "vault/audit.h"

int main(int argc, char **argv)
{
	kmc_vault *v;
	int r, n;

	if (argc != 4) {
		fprintf(stderr, "usage: audit_fill VAULT MAX N\n");
		return 2;
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
