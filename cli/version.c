/*
 * version.c - kmc version.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "cli.h"


/* What this build can do, for kmc version --json. */
static const char *const features[] = {
	"host", "passphrase", "pkcs11", "tpm", "recovery",
#if defined(__SANITIZE_ADDRESS__)
	"address-sanitizer",
#endif
};

int cmd_version(cli_opts *a)
{
	if (!a->json) {
		printf("kmc %s\n", kmc_version());
		return 0;
	}
	printf("{\"version\":");
	json_str(stdout, kmc_version());
	printf(",\"abi\":%d,\"features\":[", KMC_ABI);
	for (size_t i = 0; i < ELEMENTS(features); i++) {
		printf("%s", i ? "," : "");
		json_str(stdout, features[i]);
	}
	printf("]}\n");
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	return 0;
}

const command cli_cmd_version = {
	"version", NULL, cmd_version, CLI_JSON, .min_operands = 0, 0, "version [--json]",
	"Print the version; with --json, the version, the ABI number and the\n"
	"build's features (docs/cli.md)."
};
