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
	if (s->binding == KMC_BIND_DAMAGED || s->binding == KMC_BIND_DISAGREES ||
	    s->binding == KMC_BIND_NEWER)
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

/* A missing, damaged or unsafe keystore was not read: it has no
   generation to show (0 would read as a real, very old one). */
static int ks_read(kmc_keystore_state state)
{
	return state != KMC_KS_MISSING && state != KMC_KS_DAMAGED &&
		state != KMC_KS_UNSAFE;
}

static void ks_json(const char *file, kmc_keystore_state state, uint64_t gen)
{
	printf("\"%s\":{\"state\":\"%s\",\"generation\":", file,
		kmc_keystore_state_name(state));
	if (ks_read(state))
		printf("%" PRIu64 "}", gen);
	else
		printf("null}");
}

static void ks_text(const char *label, kmc_keystore_state state, uint64_t gen)
{
	printf("%s%s", label, kmc_keystore_state_name(state));
	if (ks_read(state))
		printf(" (generation %" PRIu64 "%s)", gen, ks_note(state));
	putchar('\n');
}

/* The certificate or CRL that runs out first, for kmc status. */
typedef struct nearest {
	int checked;		/* the vault was opened and walked */
	int found;		/* it holds a certificate or CRL */
	int r;			/* not checked: the error */
	char why[512];		/* not checked: why */
	char item[KMC_NAME_MAX + 1];
	kmc_expiry_kind kind;
	char subject[512];
	int64_t not_before, not_after, seconds_left;
	kmc_expiry_state state;
	size_t not_yet;		/* how many are not valid yet */
} nearest;

/* Expired first, then not valid yet: no client takes either now, which
   cert check reports whatever the horizon; then the ones still valid. */
static int nearest_rank(kmc_expiry_state state)
{
	return state == KMC_EXPIRY_EXPIRED ? 0 :
		state == KMC_EXPIRY_NOT_YET_VALID ? 1 : 2;
}

static int nearest_one(const kmc_expiry_info *e, void *arg)
{
	nearest *n = arg;
	int rank = nearest_rank(e->state), held = nearest_rank(n->state);

	if (e->state == KMC_EXPIRY_NOT_YET_VALID)
		n->not_yet++;
	if (n->found && (rank > held || (rank == held &&
	    e->not_after >= n->not_after)))
		return 0;
	n->found = 1;
	snprintf(n->item, sizeof(n->item), "%s", e->item);
	n->kind = e->kind;
	snprintf(n->subject, sizeof(n->subject), "%s", e->subject);
	n->not_before = e->not_before;
	n->not_after = e->not_after;
	n->seconds_left = e->seconds_left;
	n->state = e->state;
	return 0;
}

/*
 * Status asks for no secret, and dates are sealed like everything else:
 * they are read only when a keystore is ok, which kmc_vault_status()
 * says only after the host key checked its MAC. The host protector is
 * tried first and then opens the vault at once, read-only, so no token
 * is touched and nothing is asked. Otherwise "not checked", and why.
 */
static void nearest_expiry(const char *dir, const kmc_status *s, nearest *n)
{
	kmc_options o = KMC_OPTIONS_INIT;
	kmc_vault *v = NULL;
	int r;

	memset(n, 0, sizeof(*n));
	if (s->pending_change) {
		snprintf(n->why, sizeof(n->why), "%s", s->pending_change == 2 ?
			"a change a newer kmcvault made is pending" :
			"a change is pending (kmc repair)");
		return;
	}
	/* An empty store holds no bundle: nothing to open. */
	if (s->items == 0) {
		n->checked = 1;
		return;
	}
	if (s->master != KMC_KS_OK && s->standby != KMC_KS_OK) {
		snprintf(n->why, sizeof(n->why), "needs the key (kmc cert "
			"check)");
		return;
	}
	r = kmc_vault_open_ex(dir, 0, &o, &v);
	if (r == 0)
		r = kmc_cert_expiry_list(v, NULL, nearest_one, n);
	kmc_vault_close(v);
	if (r < 0) {
		snprintf(n->why, sizeof(n->why), "%s", kmc_error_detail()[0] ?
			kmc_error_detail() : kmc_strerror(r));
		n->r = r;
		n->found = 0;
		return;
	}
	n->checked = 1;
}

/* A CRL that names no next update has no date to give. */
static int nearest_dated(const nearest *n)
{
	return !(n->kind == KMC_EXPIRY_CRL && n->not_after == 0);
}

static void nearest_json(const nearest *n)
{
	char na[64];

	printf(",\"expiry_checked\":%s,\"expiry_note\":",
		n->checked ? "true" : "false");
	json_str(stdout, n->why);
	printf(",\"not_yet_valid\":%zu,\"nearest_expiry\":", n->not_yet);
	if (!n->found) {
		printf("null");
		return;
	}
	printf("{\"item\":");
	json_str(stdout, n->item);
	printf(",\"kind\":\"%s\",\"subject\":", kmc_expiry_kind_name(n->kind));
	json_str(stdout, n->subject);
	iso_time(n->not_before, na, sizeof(na));
	printf(",\"not_before\":\"%s\"", na);
	iso_time(n->not_after, na, sizeof(na));
	if (nearest_dated(n))
		printf(",\"not_after\":\"%s\",\"expires\":%" PRId64
			",\"days_left\":%" PRId64, na, n->not_after * 1000,
			n->seconds_left / 86400);
	else
		printf(",\"not_after\":null,\"expires\":null,"
			"\"days_left\":null");
	printf(",\"state\":\"%s\"}", kmc_expiry_state_name(n->state));
}

static void nearest_text(const nearest *n)
{
	char na[64], nb[64], when[64];

	printf("nearest expiry ");
	if (!n->checked) {
		printf("not checked: ");
		cli_put_escaped(stdout, n->why);
		putchar('\n');
		return;
	}
	if (!n->found) {
		printf("none: no imported certificates\n");
		return;
	}
	cli_put_escaped(stdout, n->item);
	printf(" %s", kmc_expiry_kind_name(n->kind));
	iso_time(n->not_after, na, sizeof(na));
	cli_days_text(n->seconds_left, when, sizeof(when));
	if (!nearest_dated(n))
		printf(" (out of date: it names no next update)");
	else if (n->state == KMC_EXPIRY_NOT_YET_VALID) {
		/* As cert check says it; seconds_left is not_after - now. */
		iso_time(n->not_before, nb, sizeof(nb));
		cli_days_text(n->not_before - n->not_after + n->seconds_left,
			when, sizeof(when));
		printf(" %s (not valid until %s, %s%s)", na, nb, when,
			n->kind == KMC_EXPIRY_CRL ?
			": its last update is to come" : "");
	} else
		printf(" %s (%s%s)", na, n->state == KMC_EXPIRY_EXPIRED ?
			(n->kind == KMC_EXPIRY_CRL ? "out of date, " :
			"expired ") : "", when);
	/* The others no client takes yet, which the line above hides. */
	if (n->not_yet > (n->state == KMC_EXPIRY_NOT_YET_VALID))
		printf("; %zu%s not valid yet (kmc cert check)", n->not_yet -
			(n->state == KMC_EXPIRY_NOT_YET_VALID),
			n->state == KMC_EXPIRY_NOT_YET_VALID ? " more" : "");
	putchar('\n');
}

/* The audit log as kmc_audit_read() walks it (no key: the chain of
   hashes and sequence numbers; kmc audit verify checks the MACs). */
typedef struct audit_seen {
	int r;
	int cut;	/* records removed from its end (kmc.bind says); 2:
			   rewritten from the record kmc.bind names on */
	kmc_audit_state st;
	char error[512];
} audit_seen;

/* bound: the record kmc.bind names (0: none). A log that ends before
   it (and did not rotate it out) lost records from its end; one that
   holds another record in its place (rewritten: the library compares
   the hash) was cut and written again from there. */
static void audit_look(const char *dir, uint64_t bound, int rewritten,
	audit_seen *a)
{
	a->cut = 0;
	a->r = kmc_audit_read(dir, NULL, NULL, NULL, NULL, &a->st);
	snprintf(a->error, sizeof(a->error), "%s", a->r >= 0 ? "" :
		kmc_error_detail()[0] ? kmc_error_detail() : kmc_strerror(a->r));
	if (a->r == 0 && bound > a->st.head_seq &&
	    (bound >= a->st.first_seq || !a->st.records)) {
		a->r = KMC_E_AUDIT;
		a->cut = 1;
		snprintf(a->error, sizeof(a->error), "%s: the audit log ends "
			"at seq %" PRIu64 ", but kmc.bind names seq %" PRIu64
			": records were removed from its end", dir,
			a->st.head_seq, bound);
	} else if (a->r == 0 && rewritten) {
		a->r = KMC_E_AUDIT;
		a->cut = 2;
		snprintf(a->error, sizeof(a->error), "%s: the audit log's seq %"
			PRIu64 " is not the record kmc.bind names: the log was "
			"cut and written again from there, or replaced", dir,
			bound);
	}
}

static const char *audit_state_name(const audit_seen *a)
{
	if (a->r == 0)
		return a->st.records ? "ok" : "none";
	if (a->r == KMC_E_VERSION)
		return "newer";
	return a->st.torn_bytes ? "torn" : "broken";
}

static void audit_json(const audit_seen *a)
{
	printf(",\"audit\":{\"state\":\"%s\",\"records\":%" PRIu64
		",\"first_seq\":%" PRIu64 ",\"head_seq\":%" PRIu64
		",\"segments\":%zu,\"torn_bytes\":%" PRIu64 ",\"error\":",
		audit_state_name(a), a->st.records, a->st.first_seq,
		a->st.head_seq, a->st.segments, a->st.torn_bytes);
	if (a->r < 0)
		json_str(stdout, a->error);
	else
		printf("null");
	printf("}");
}

static void audit_text(const audit_seen *a)
{
	printf("audit log      ");
	if (a->r == 0 && !a->st.records) {
		printf("none yet\n");
		return;
	}
	printf("%" PRIu64 " records (seq %" PRIu64 " to %" PRIu64 "), %zu "
		"rotated segment%s", a->st.records, a->st.first_seq,
		a->st.head_seq, a->st.segments, a->st.segments == 1 ? "" : "s");
	if (a->r == 0)
		printf("; kmc audit verify checks the MACs\n");
	else if (a->r == KMC_E_VERSION)
		printf("; newer format: a newer kmcvault wrote a record\n");
	else if (a->cut == 2)
		printf("; broken: rewritten from the record kmc.bind names\n");
	else if (a->cut)
		printf("; broken: records were removed from its end\n");
	else if (a->st.torn_bytes)
		printf("; warning: a torn last record of %" PRIu64 " bytes (a "
			"crash cut it off); the next change closes it off\n",
			a->st.torn_bytes);
	else {
		/* Not read to its end (out of memory, a broken chain): the
		   counts are of what was read, and the line says so. The
		   exit status may come from another fault first. */
		printf("; not read whole: ");
		cli_put_escaped(stdout, a->error);
		putchar('\n');
	}
}

static int cmd_status(cli_opts *a)
{
	char buf[PATH_MAX], when[64];
	const char *dir = NULL;
	_cleanup_(kmc_status_free) kmc_status s = KMC_STATUS_INIT;
	nearest near;
	audit_seen au;
	int healthy, r;

	r = read_status(a, buf, sizeof(buf), &dir, &s);
	if (r < 0)
		return r;
	healthy = status_healthy(&s);
	nearest_expiry(dir, &s, &near);
	/* An open or a read refused as a rollback (the whole folder put
	   back, the item store disagreeing with its digest) is no note on
	   dates: every command refuses the vault. */
	if (near.r == KMC_E_ROLLBACK)
		healthy = 0;
	audit_look(dir, s.bound_audit_seq, s.audit_bound_rewritten, &au);
	if (a->json) {
		printf("{\"vault\":");
		json_str(stdout, dir);
		printf(",\"vault_id\":\"%s\",\"format_version\":%u,"
			"\"generation\":%" PRIu64 ",\"healthy\":%s,"
			"\"keystores\":{", s.vault_id, s.format_version,
			s.generation, healthy ? "true" : "false");
		ks_json("kmc.ks", s.master, s.master_generation);
		putchar(',');
		ks_json("StandbyKsf.ks", s.standby, s.standby_generation);
		printf("},\"protectors\":[");
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
			",\"pending_change\":%s,\"pending_change_newer\":%s,"
			"\"token_destroys_pending\":%" PRIu64, s.items,
			s.store_generation, s.pending_change ? "true" : "false",
			s.pending_change == 2 ? "true" : "false",
			s.token_destroys);
		printf(",\"binding\":\"%s\",\"folder_rollback\":",
			kmc_bind_state_name(s.binding));
		json_str(stdout, s.rollback_place[0] ? s.rollback_place :
			"not detectable");
		nearest_json(&near);
		audit_json(&au);
		printf("}\n");
	} else {
		printf("vault          ");
		cli_put_escaped(stdout, dir);
		putchar('\n');
		printf("vault id       %s\n", s.vault_id);
		printf("format         %u\n", s.format_version);
		printf("generation     %" PRIu64 "\n", s.generation);
		ks_text("kmc.ks         ", s.master, s.master_generation);
		ks_text("StandbyKsf.ks  ", s.standby, s.standby_generation);
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
		printf("binding        kmc.bind %s\n",
			kmc_bind_state_name(s.binding));
		printf("rollback of the whole folder: ");
		cli_put_escaped(stdout, s.rollback_place[0] ?
			s.rollback_place : "not detectable");
		putchar('\n');
		nearest_text(&near);
		if (s.binding == KMC_BIND_DISAGREES)
			printf("rollback       kmc.bind names another generation "
				"of the item store than it holds: an open refuses "
				"the vault; kmc repair --accept-rollback accepts a "
				"deliberate restore\n");
		audit_text(&au);
		if (s.pending_change == 2)
			printf("pending        a change a newer kmcvault made "
				"(its journal is of a newer version) was cut off; "
				"kmc repair of that kmcvault finishes or undoes "
				"it, this one's refuses it\n");
		else if (s.pending_change)
			printf("pending        a change to files outside the "
				"vault (an import's, a trust store's sync files) was "
				"cut off; kmc repair finishes or undoes it\n");
		if (s.token_destroys)
			printf("token keys     %" PRIu64 " waiting to be destroyed "
				"(a change was cut off after its commit, or the "
				"token could not be reached); kmc repair destroys "
				"each one no record names\n", s.token_destroys);
	}
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	if (s.binding == KMC_BIND_DISAGREES) {
		cli_note("%s: the item store is not the one kmc.bind vouches "
			"for: it was put back from an older copy; kmc repair "
			"--accept-rollback accepts a deliberate restore", dir);
		return CLI_EXIT(EXIT_ROLLBACK);
	}
	if (near.r == KMC_E_ROLLBACK) {
		cli_note("%s: %s", dir, near.why);
		return CLI_EXIT(EXIT_ROLLBACK);
	}
	if (s.binding == KMC_BIND_NEWER) {
		cli_note("%s: kmc.bind was written by a newer kmcvault: open "
			"the vault with that one (kmc repair refuses it, and "
			"nothing rewrites it)", dir);
		return CLI_EXIT(EXIT_INTEGRITY);
	}
	if (s.pending_change == 2) {
		cli_note("%s: a change a newer kmcvault made was cut off: "
			"finish it with that one (kmc repair); this kmc refuses "
			"to finish or undo it, and every change it would make",
			dir);
		return CLI_EXIT(EXIT_INTEGRITY);
	}
	if (!healthy) {
		cli_note("%s needs repair: run kmc repair (any "
			"command that changes the vault does the same)", dir);
		return CLI_EXIT(EXIT_INTEGRITY);
	}
	if (au.cut) {
		cli_note("%s", au.error);
		return CLI_EXIT(EXIT_AUDIT);
	}
	/* A torn tail is a crash's, not damage: only a warning. */
	if (au.r < 0 && !au.st.torn_bytes)
		return cli_fail(au.r, "the audit log of %s", dir);
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
	"asking for anything, and the certificate or CRL of the imported\n"
	"bundles that runs out first when the host key opens the vault (its\n"
	"keystores are ok); otherwise that line says \"not checked\". Exits 4\n"
	"when a keystore needs repair, whatever the dates."
};

const command cli_cmd_list = {
	"list", NULL, cmd_list, CLI_JSON | CLI_UNLOCK, .min_operands = 0, 0,
	"list [--json]",
	"List items: name, type, version, size and when it was stored.\n"
	"Nothing is decrypted.",
	.keyless = 1,
};
