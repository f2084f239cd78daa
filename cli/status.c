/*
 * status.c - kmc status, kmc list.
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


/*
 * Nothing to repair: both keystores ok, or both unverified (no protector
 * opens without a prompt) at one generation; and no change pending.
 */
int status_healthy(const kmc_status *s)
{
	if (s->pending_change)
		return 0;
	if (s->master == KMC_KS_UNVERIFIED && s->standby == KMC_KS_UNVERIFIED)
		return s->master_generation == s->standby_generation;
	return s->master == KMC_KS_OK && s->standby == KMC_KS_OK;
}

static const char *ks_note(kmc_keystore_state state)
{
	switch (state) {
	case KMC_KS_UNVERIFIED:
		return "; not verified: needs the key";
	case KMC_KS_FOREIGN:
		return "; belongs to another vault";
	default:
		return "";
	}
}

static int cmd_status(cli_opts *a)
{
	char buf[PATH_MAX], when[64];
	const char *dir = NULL;
	_cleanup_(kmc_status_free) kmc_status s = KMC_STATUS_INIT;
	int healthy, r;

	r = read_status(a, buf, sizeof(buf), &dir, &s);
	if (r < 0)
		return r;
	healthy = status_healthy(&s);
	if (a->json) {
		printf("{\"vault\":");
		json_str(stdout, dir);
		printf(",\"vault_id\":\"%s\",\"format_version\":%u,"
			"\"generation\":%" PRIu64 ",\"healthy\":%s,"
			"\"keystores\":{\"kmc.ks\":{\"state\":\"%s\","
			"\"generation\":%" PRIu64 "},\"StandbyKsf.ks\":{"
			"\"state\":\"%s\",\"generation\":%" PRIu64 "}},"
			"\"protectors\":[", s.vault_id, s.format_version,
			s.generation, healthy ? "true" : "false",
			kmc_keystore_state_name(s.master), s.master_generation,
			kmc_keystore_state_name(s.standby), s.standby_generation);
		for (size_t i = 0; i < s.n_protectors; i++) {
			printf("%s{\"id\":%u,\"type\":\"%s\",\"detail\":",
				i ? "," : "", s.protectors[i].id,
				kmc_protector_type_name(s.protectors[i].type));
			json_str(stdout, s.protectors[i].detail);
			printf("}");
		}
		printf("],\"master_keys\":[");
		for (size_t i = 0; i < s.n_master_keys; i++)
			printf("%s{\"id\":%" PRIu32 ",\"active\":%s,"
				"\"created\":%" PRId64 "}", i ? "," : "",
				s.master_keys[i].id,
				s.master_keys[i].active ? "true" : "false",
				s.master_keys[i].created);
		printf("],\"items\":%" PRIu64 ",\"store_generation\":%" PRIu64
			",\"pending_change\":%s}\n", s.items, s.store_generation,
			s.pending_change ? "true" : "false");
	} else {
		printf("vault          ");
		cli_put_escaped(stdout, dir);
		putchar('\n');
		printf("vault id       %s\n", s.vault_id);
		printf("format         %u\n", s.format_version);
		printf("generation     %" PRIu64 "\n", s.generation);
		printf("kmc.ks         %s (generation %" PRIu64 "%s)\n",
			kmc_keystore_state_name(s.master), s.master_generation,
			ks_note(s.master));
		printf("StandbyKsf.ks  %s (generation %" PRIu64 "%s)\n",
			kmc_keystore_state_name(s.standby),
			s.standby_generation, ks_note(s.standby));
		for (size_t i = 0; i < s.n_protectors; i++) {
			printf("protector      %u %s: ", s.protectors[i].id,
				kmc_protector_type_name(s.protectors[i].type));
			cli_put_escaped(stdout, s.protectors[i].detail);
			putchar('\n');
		}
		for (size_t i = 0; i < s.n_master_keys; i++) {
			iso_time(s.master_keys[i].created, when, sizeof(when));
			printf("master key     %" PRIu32 "%s, created %s\n",
				s.master_keys[i].id,
				s.master_keys[i].active ? " (active)" : "", when);
		}
		printf("items          %" PRIu64 " (store generation %" PRIu64
			")\n", s.items, s.store_generation);
		if (s.pending_change)
			printf("pending        an import was cut off; kmc repair "
				"finishes or undoes it\n");
	}
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	if (!healthy) {
		cli_note("%s needs repair: run kmc repair (any "
			"command that changes the vault does the same)", dir);
		return CLI_EXIT(EXIT_INTEGRITY);
	}
	return 0;
}

typedef struct list_ctx {
	int json;
	int n;
} list_ctx;

static int list_one(const kmc_item_info *i, void *arg)
{
	list_ctx *c = arg;
	char when[64], name[4 * KMC_NAME_MAX + 1];

	iso_time(i->created, when, sizeof(when));
	if (c->json) {
		printf("%s{\"name\":", c->n ? "," : "");
		json_str(stdout, i->name);
		printf(",\"type\":\"%s\",\"version\":%" PRIu32 ",\"mk_id\":%"
			PRIu32 ",\"size\":%zu,\"created\":%" PRId64
			",\"old_versions\":%" PRIu32 "}",
			kmc_item_type_name(i->type), i->version, i->mk_id,
			i->size, i->created, i->old_versions);
	} else {
		printf("%-32s %-12s v%-4" PRIu32 " %7zu B  %s",
			kmc_escape(i->name, name, sizeof(name)),
			kmc_item_type_name(i->type), i->version, i->size, when);
		if (i->old_versions)
			printf("  (+%" PRIu32 " old)", i->old_versions);
		printf("\n");
	}
	c->n++;
	return 0;
}

static int cmd_list(cli_opts *a)
{
	_cleanup_(vault_closep) kmc_vault *v = NULL;
	list_ctx c = { a->json, 0 };
	int r;

	r = open_vault(a, 0, &v);
	if (r < 0)
		return r;
	if (c.json)
		printf("[");
	r = kmc_item_list(v, list_one, &c);
	if (c.json)
		printf("]\n");
	if (r < 0)
		return cli_fail(r, "listing %s", kmc_vault_dir(v));
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	return 0;
}

const command cli_cmd_status = {
	"status", NULL, cmd_status, CLI_JSON, .min_operands = 0, 0, "status [--json]",
	"Report the vault id, the health and generation of each keystore,\n"
	"the protectors, the master keys and the item count, without\n"
	"unlocking anything. Exits 4 when a keystore needs repair."
};

const command cli_cmd_list = {
	"list", NULL, cmd_list, CLI_JSON | CLI_UNLOCK, .min_operands = 0, 0,
	"list [--json]",
	"List items: name, type, version, size and when it was stored.\n"
	"Nothing is decrypted."
};
