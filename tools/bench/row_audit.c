/*
 * row_audit.c - the audit log's price (issue 14's benchmark rows): the
 * same call with the audit on and off, in one run, samples interleaved.
 *
 *   audit-set  kmc_item_put of a 32-byte password on a writable handle:
 *              a whole commit (LMDB's sync) plus the change's two records
 *              (each one write and fdatasync of audit.log), against the
 *              commit alone;
 *   audit-get  kmc_item_get of a password on a writable handle: the first
 *              read of an item by a handle is appended to the log, the
 *              rest only counted in memory (written at the close), so a
 *              server's steady reads pay a lookup in the handle's list;
 *   audit-get-first  open, one kmc_item_get, close on a writable handle:
 *              the read that does append (and the close's count, none),
 *              against the same without the audit.
 * Auditing is turned off through audit_bench_set(), an internal function
 * of the static library (not exported by libkmcvault.so): no variable or
 * option a user could set does it.
 */
#include "bench.h"

/* vault/audit.h; hidden in the shared library, linked from the static. */
void audit_bench_set(kmc_vault *v, int on);

#define SET_SAMPLES 31
#define GET_BATCH_A 200
#define GET_SAMPLES_A 51
#define FIRST_SAMPLES 31

typedef struct audit_ctx {
	kmc_vault *v;
	const char *dir;
	int on;
	unsigned n;
} audit_ctx;

static double sample_set(void *arg)
{
	audit_ctx *c = arg;
	char pw[PASSWORD_LEN];
	double t0;

	random_password(pw, sizeof(pw));
	t0 = now();
	check_kmc(kmc_item_put(c->v, c->on ? "audit-on" : "audit-off",
		KMC_ITEM_PASSWORD, pw, sizeof(pw)), "kmc_item_put");
	return now() - t0;
}

static double sample_get(void *arg)
{
	audit_ctx *c = arg;
	double t0 = now();

	for (int i = 0; i < GET_BATCH_A; i++) {
		kmc_secret *s;

		check_kmc(kmc_item_get(c->v, PASSWORD_ITEM, KMC_ITEM_PASSWORD,
			&s), "kmc_item_get %s", PASSWORD_ITEM);
		kmc_secret_free(s);
	}
	return (now() - t0) / GET_BATCH_A;
}

static double sample_first(void *arg)
{
	audit_ctx *c = arg;
	kmc_vault *v;
	kmc_secret *s;
	double t0 = now();

	check_kmc(kmc_vault_open(c->dir, KMC_OPEN_WRITE, &v), "opening %s",
		c->dir);
	audit_bench_set(v, c->on);
	check_kmc(kmc_item_get(v, PASSWORD_ITEM, KMC_ITEM_PASSWORD, &s),
		"kmc_item_get %s", PASSWORD_ITEM);
	kmc_secret_free(s);
	kmc_vault_close(v);
	return now() - t0;
}

/* Two writable handles cannot be open at once (the writer lock): each
   side opens its own in turn around its sample for set and get. */
static double sample_on_handle(audit_ctx *c, sample_fn fn)
{
	double t;

	check_kmc(kmc_vault_open(c->dir, KMC_OPEN_WRITE, &c->v),
		"opening %s", c->dir);
	audit_bench_set(c->v, c->on);
	t = fn(c);
	kmc_vault_close(c->v);
	c->v = NULL;
	return t;
}

static double sample_set_h(void *arg)
{
	return sample_on_handle(arg, sample_set);
}

static double sample_get_h(void *arg)
{
	audit_ctx *c = arg;
	double t;

	check_kmc(kmc_vault_open(c->dir, KMC_OPEN_WRITE, &c->v),
		"opening %s", c->dir);
	audit_bench_set(c->v, c->on);
	sample_get(c);		/* the first read, appended, untimed */
	t = sample_get(c);
	kmc_vault_close(c->v);
	c->v = NULL;
	return t;
}

int row_audit_set(row *r, bench_env *e)
{
	audit_ctx on = { .dir = bench_get_vault(e), .on = 1 };
	audit_ctx off = { .dir = on.dir, .on = 0 };

	r->what = "password set: audit on vs off";
	r->about = "kmc_item_put of a 32-byte password on a writable handle "
		"(a commit), with its two\n   audit records (the pending "
		"one synced before the commit, the outcome not) vs the\n   "
		"same with the audit off.";
	r->per = "one put";
	fprintf(stderr, "kmc-bench: audit-set: kmc_item_put, audit on vs "
		"off\n");
	measure(r, (side){ sample_set_h, &on }, (side){ sample_set_h, &off },
		e->quick ? 11 : SET_SAMPLES);
	return 1;
}

int row_audit_get(row *r, bench_env *e)
{
	audit_ctx on = { .dir = bench_get_vault(e), .on = 1 };
	audit_ctx off = { .dir = on.dir, .on = 0 };

	r->what = "kmc_item_get read-write: audit on vs off";
	r->about = "kmc_item_get of a password on a writable handle after its "
		"first read (later\n   reads are counted, written at the "
		"close) vs the same with the audit off.";
	r->per = "batches of " STR(GET_BATCH_A) " (per call)";
	fprintf(stderr, "kmc-bench: audit-get: kmc_item_get, audit on vs "
		"off\n");
	measure(r, (side){ sample_get_h, &on }, (side){ sample_get_h, &off },
		e->quick ? 11 : GET_SAMPLES_A);
	return 1;
}

int row_audit_get_first(row *r, bench_env *e)
{
	audit_ctx on = { .dir = bench_get_vault(e), .on = 1 };
	audit_ctx off = { .dir = on.dir, .on = 0 };

	r->what = "open+get+close read-write: audit on vs off";
	r->about = "kmc_vault_open (writable), one kmc_item_get (its read "
		"appended to the log),\n   kmc_vault_close vs the same with "
		"the audit off.";
	r->per = "one open+get+close";
	fprintf(stderr, "kmc-bench: audit-get-first: open, get, close, audit "
		"on vs off\n");
	measure(r, (side){ sample_first, &on }, (side){ sample_first, &off },
		e->quick ? 11 : FIRST_SAMPLES);
	return 1;
}
