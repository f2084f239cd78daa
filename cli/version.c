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


int cmd_version(args *a)
{
	(void)a;
	printf("kmc %s\n", kmc_version());
	return 0;
}
