/*
 * item_put.c - a test helper for test_cert_check.sh: store the bytes of a
 * file as an item of the given type through the public C API. kmc import
 * checks a certificate's dates and refuses an expired one; this does
 * not, so a test can give a vault a bundle whose certificate has already
 * expired, or whose certificate item is damaged.
 *
 *	item_put VAULT NAME certificate|crl|bundle FILE
 *
 * Built by the test itself against the static library of the build under
 * test; the vault opens with $KMC_HOST_KEY.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kmc.h>

int main(int argc, char **argv)
{
	static unsigned char buf[KMC_ITEM_MAX];
	kmc_item_type type;
	kmc_vault *v;
	size_t len;
	FILE *f;
	int r;

	if (argc != 5) {
		fprintf(stderr, "usage: item_put VAULT NAME "
			"certificate|crl|bundle FILE\n");
		return 2;
	}
	if (!strcmp(argv[3], "certificate"))
		type = KMC_ITEM_CERTIFICATE;
	else if (!strcmp(argv[3], "crl"))
		type = KMC_ITEM_CRL;
	else if (!strcmp(argv[3], "bundle"))
		type = KMC_ITEM_BUNDLE;
	else {
		fprintf(stderr, "item_put: unknown type %s\n", argv[3]);
		return 2;
	}
	f = fopen(argv[4], "rb");
	if (!f) {
		perror(argv[4]);
		return 1;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	r = kmc_vault_open(argv[1], KMC_OPEN_WRITE, &v);
	if (r == 0) {
		r = kmc_item_put(v, argv[2], type, buf, len);
		kmc_vault_close(v);
	}
	if (r < 0) {
		fprintf(stderr, "item_put: %s: %s\n", argv[2],
			kmc_error_detail()[0] ? kmc_error_detail() :
			kmc_strerror(r));
		return 1;
	}
	return 0;
}
