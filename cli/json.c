/*
 * json.c - JSON output.
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

/* ---------------------------------------------------------------- */
/* JSON                                                              */

void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void iso_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm))
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(buf, size, "%" PRId64, t);
}

/* What kmc backup and kmc restore did, for --json (docs/cli.md). */
void json_backup_info(FILE *f, const char *dir, const kmc_backup_info *i,
	int restore)
{
	fprintf(f, "{\"dir\":");
	json_str(f, dir);
	fprintf(f, ",\"vault_id\":\"%s\",\"generation\":%" PRIu64
		",\"store_generation\":%" PRIu64 ",\"items\":%" PRIu64
		",\"created\":%" PRId64, i->vault_id, i->generation,
		i->store_generation, i->items, i->created);
	if (restore) {
		fprintf(f, ",\"replaced_generation\":%" PRIu64 ",\"verified\":%s"
			",\"note\":", i->replaced_generation,
			i->verified ? "true" : "false");
		json_str(f, i->verified ? "" : i->note);
	}
	fprintf(f, "}\n");
}
