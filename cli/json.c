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

/*
 * s as a JSON string. JSON holds text, not bytes: a byte that is not
 * well-formed UTF-8 (a path is any bytes) comes out as the text \xNN, as
 * in kmc's other output, so the document always parses; control bytes
 * are \u00XX.
 */
void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	while (*s) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x80) {
			/* A run of bytes above ASCII, through kmc_escape():
			   UTF-8 text stays, anything else becomes \xNN. */
			char run[64], out[64 * 4 + 1];
			size_t n = 0;

			while (n < sizeof(run) - 1 && (unsigned char)s[n] >= 0x80) {
				run[n] = s[n];
				n++;
			}
			/* Never cut a character: end the run at a lead byte. */
			if (n == sizeof(run) - 1 && (unsigned char)s[n] >= 0x80)
				while (n > 1 && ((unsigned char)run[n - 1] & 0xc0) == 0x80)
					n--;
			if (n > 1 && ((unsigned char)run[n - 1] & 0xc0) == 0xc0 &&
			    (unsigned char)s[n] >= 0x80)
				n--;
			run[n] = '\0';
			for (const char *o = kmc_escape(run, out, sizeof(out)); *o; o++)
				if (*o == '\\')
					fputs("\\\\", f);
				else
					fputc(*o, f);
			s += n;
			continue;
		}
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
		s++;
	}
	fputc('"', f);
}

void iso_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	/* Four digits of year whatever it is: strftime's %Y gives "1" for
	   year 1, and X.509 dates go back to 0000 (RFC 3339 wants four). */
	if (gmtime_r(&tt, &tm))
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			tm.tm_min, tm.tm_sec);
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
		fprintf(f, ",\"cas\":%" PRIu64 ",\"trust_files\":%" PRIu64
			",\"trust_files_left\":%" PRIu64 ",\"mk_lost_first\":%"
			PRIu32 ",\"mk_lost_last\":%" PRIu32, i->cas,
			i->trust_files, i->trust_files_left, i->mk_lost_first,
			i->mk_lost_last);
	} else {
		fprintf(f, ",\"leftovers_removed\":%" PRIu64
			",\"leftovers_kept\":%" PRIu64 ",\"leftovers_busy\":%"
			PRIu64, i->leftovers_removed, i->leftovers_kept,
			i->leftovers_busy);
	}
	fprintf(f, "}\n");
}
