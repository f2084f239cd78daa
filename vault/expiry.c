/*
 * expiry.c - kmc_cert_expiry_list(): when each certificate and CRL of the
 * vault's imported bundles and trust stores, and each of its CAs' own
 * certificates, runs out. Only certificate and CRL items are
 * opened: a report on dates, run by a monitoring job, has no business
 * with private keys or passwords.
 */
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <openssl/x509.h>
#include "x509.h"
#include <kmc/admin.h>

#define DAY_SECONDS 86400
/* 9999-12-31T23:59:59Z, the last time an X.509 date can name: a "now"
   past it (or before 1970) is a caller's mistake, and bounding it keeps
   not_after - now far from overflow. */
#define TIME_MAX INT64_C(253402300799)

#define META_SUFFIX "/meta"
#define META_SUFFIX_LEN (sizeof(META_SUFFIX) - 1)

/* The names of the imported bundles, read in one walk of the store. */
typedef struct bundle_list {
	char (*names)[KMC_BUNDLE_NAME_MAX + 1];
	size_t n, cap;
} bundle_list;

/* An imported bundle is the item NAME/meta of type bundle. */
static int collect_bundle(const kmc_item_info *info, void *arg)
{
	bundle_list *b = arg;
	size_t len = strlen(info->name);

	if (info->type != KMC_ITEM_BUNDLE || len <= META_SUFFIX_LEN ||
	    strcmp(info->name + len - META_SUFFIX_LEN, META_SUFFIX) != 0 ||
	    len - META_SUFFIX_LEN > KMC_BUNDLE_NAME_MAX)
		return 0;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		void *p = reallocarray(b->names, cap, sizeof(*b->names));

		KMC_ENSURE(p, KMC_E_NOMEM);
		b->names = p;
		b->cap = cap;
	}
	memcpy(b->names[b->n], info->name, len - META_SUFFIX_LEN);
	b->names[b->n][len - META_SUFFIX_LEN] = '\0';
	b->n++;
	return 0;
}

typedef struct walk {
	kmc_vault *v;
	int64_t now;
	int64_t horizon;	/* seconds */
	int (*cb)(const kmc_expiry_info *info, void *arg);
	void *arg;
} walk;

/* Judge e against now and the horizon, and hand it on. */
static int report(const walk *w, kmc_expiry_info *e, int has_date)
{
	e->size = sizeof(*e);
	e->seconds_left = has_date ? e->not_after - w->now : 0;
	if (!has_date || e->not_after <= w->now)
		e->state = KMC_EXPIRY_EXPIRED;
	/* Valid from not_before on, as OpenSSL checks it: a client
	   refuses it before, however far its end. */
	else if (e->not_before > w->now)
		e->state = KMC_EXPIRY_NOT_YET_VALID;
	else if (e->seconds_left <= w->horizon)
		e->state = KMC_EXPIRY_DUE;
	else
		e->state = KMC_EXPIRY_OK;
	return w->cb(e, w->arg);
}

static void sk_X509_pop_freep(STACK_OF(X509) **s)
{
	sk_X509_pop_free(*s, X509_free);
}

static void X509_CRL_freep(X509_CRL **c)
{
	X509_CRL_free(*c);
}

/*
 * Each certificate of the item bundle/part: the first of kind first,
 * the rest of kind rest. KMC_E_NOT_FOUND (no detail) without the item.
 */
static int walk_certs(const walk *w, const char *bundle, const char *part,
	kmc_expiry_kind first, kmc_expiry_kind rest)
{
	_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;
	_cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
	char item[KMC_NAME_MAX + 1], show[KMC_NAME_MAX + 8], subject[512];
	int r;

	snprintf(item, sizeof(item), "%s/%s", bundle, part);
	snprintf(show, sizeof(show), "item %s", item);
	r = kmc_item_get(w->v, item, KMC_ITEM_CERTIFICATE, &s);
	if (r == KMC_E_NOT_FOUND)
		kmc_detail_clear();
	KMC_GUARD(r);
	/* What the vault holds is damaged, not bad input: KMC_E_CORRUPT. */
	KMC_GUARD(certs_parse(show, kmc_secret_data(s), kmc_secret_len(s),
		&certs));
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		kmc_expiry_info e = { .bundle = bundle, .item = item,
			.kind = i ? rest : first, .index = (unsigned)i,
			.subject = subject };

		KMC_GUARD(x509_name_text(X509_get_subject_name(x), subject,
			sizeof(subject)));
		if (x509_time_epoch(X509_get0_notBefore(x), &e.not_before) < 0 ||
		    x509_time_epoch(X509_get0_notAfter(x), &e.not_after) < 0)
			return kmc_detail(KMC_E_CORRUPT, "item %s: certificate %d "
				"(%s) has a date that does not read", item, i + 1,
				subject);
		r = report(w, &e, 1);
		if (r != 0)
			return r;
	}
	return 0;
}

/* The CRL of bundle, when it has one. */
static int walk_crl(const walk *w, const char *bundle)
{
	_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;
	_cleanup_(X509_CRL_freep) X509_CRL *crl = NULL;
	char item[KMC_NAME_MAX + 1], show[KMC_NAME_MAX + 8], issuer[512];
	kmc_expiry_info e = { .bundle = bundle, .item = item,
		.kind = KMC_EXPIRY_CRL, .subject = issuer };
	const ASN1_TIME *next;
	int r;

	snprintf(item, sizeof(item), "%s/crl", bundle);
	snprintf(show, sizeof(show), "item %s", item);
	r = kmc_item_get(w->v, item, KMC_ITEM_CRL, &s);
	/* An import without -r stores none. */
	if (r == KMC_E_NOT_FOUND) {
		kmc_detail_clear();
		return 0;
	}
	KMC_GUARD(r);
	KMC_GUARD(crl_parse(show, kmc_secret_data(s), kmc_secret_len(s),
		&crl));
	KMC_GUARD(x509_name_text(X509_CRL_get_issuer(crl), issuer,
		sizeof(issuer)));
	if (x509_time_epoch(X509_CRL_get0_lastUpdate(crl), &e.not_before) < 0)
		return kmc_detail(KMC_E_CORRUPT, "item %s: its last update does "
			"not read", item);
	/* No next update: import calls that out of date, and so does this. */
	next = X509_CRL_get0_nextUpdate(crl);
	if (next && x509_time_epoch(next, &e.not_after) < 0)
		return kmc_detail(KMC_E_CORRUPT, "item %s: its next update does "
			"not read", item);
	return report(w, &e, next != NULL);
}

/* A trusted certificate of a trust store, as trust:STORE/ALIAS. */
static int walk_trusted(const kmc_trust_info *t, void *arg)
{
	const walk *w = arg;
	char bundle[KMC_NAME_MAX + 1], item[2 * KMC_NAME_MAX + 8];
	kmc_expiry_info e = { .bundle = bundle, .item = item,
		.kind = KMC_EXPIRY_TRUSTED, .subject = t->cert->subject,
		.not_before = t->cert->not_before,
		.not_after = t->cert->not_after };

	kmc_expiry_info c;
	int r;

	snprintf(bundle, sizeof(bundle), "trust:%s", t->store);
	snprintf(item, sizeof(item), "trust:%s/%s", t->store, t->alias);
	r = report(w, &e, 1);
	if (r != 0 || !t->has_crl)
		return r;
	/* Its CRL, by its next update, as a bundle's. */
	snprintf(item, sizeof(item), "trust:%s/%s/crl", t->store, t->alias);
	c = (kmc_expiry_info){ .bundle = bundle, .item = item,
		.kind = KMC_EXPIRY_CRL, .subject = t->cert->subject,
		.not_before = t->crl_last_update,
		.not_after = t->crl_next_update };
	return report(w, &c, t->crl_next_update != 0);
}

/* A CA of the vault, its certificate as ca:NAME/cert. */
static int walk_ca(const kmc_ca_info *c, void *arg)
{
	const walk *w = arg;
	char bundle[KMC_NAME_MAX + 1], item[KMC_NAME_MAX + 8];
	kmc_expiry_info e = { .bundle = bundle, .item = item,
		.kind = KMC_EXPIRY_CA, .subject = c->cert->subject,
		.not_before = c->cert->not_before,
		.not_after = c->cert->not_after };

	snprintf(bundle, sizeof(bundle), "%s%s", KMC_CA_ITEM_PREFIX, c->name);
	snprintf(item, sizeof(item), "%s/cert", bundle);
	return report(w, &e, 1);
}

static int walk_bundle(const walk *w, const char *name)
{
	static const char *const parts[] = { "cert", "ca" };
	char meta[KMC_NAME_MAX + 1];
	int r;

	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		r = walk_certs(w, name, parts[i], i ? KMC_EXPIRY_CA :
			KMC_EXPIRY_CERT, i ? KMC_EXPIRY_CA :
			KMC_EXPIRY_INTERMEDIATE);
		if (r != KMC_E_NOT_FOUND) {
			if (r != 0)
				return r;
			continue;
		}
		/* Removed since the list was read: nothing to report. */
		snprintf(meta, sizeof(meta), "%s" META_SUFFIX, name);
		r = items_exists(w->v, meta);
		if (r <= 0)
			return r;
		/* A key born in the vault, no certificate yet: no dates. */
		r = i == 0 ? bundle_without_cert(w->v, name) : 0;
		if (r != 0)
			return r < 0 ? r : 0;
		return kmc_detail(KMC_E_CORRUPT, "bundle %s has no item %s/%s: "
			"import it again", name, name, parts[i]);
	}
	return walk_crl(w, name);
}

int kmc_cert_expiry_list(kmc_vault *v, const kmc_expiry_params *p,
	int (*cb)(const kmc_expiry_info *info, void *arg), void *arg)
{
	kmc_expiry_params q = KMC_EXPIRY_PARAMS_INIT;
	bundle_list b = { 0 };
	walk w;
	int r = 0;

	kmc_detail_clear();
	if (p) {
		if (p->size < offsetof(kmc_expiry_params, now) + sizeof(p->now))
			return kmc_detail(KMC_E_INVALID, "kmc_expiry_params.size "
				"is %zu: set it to sizeof(kmc_expiry_params) "
				"(KMC_EXPIRY_PARAMS_INIT)", p->size);
		KMC_GUARD(vault_params_known(p, p->size, sizeof(q),
			"kmc_expiry_params"));
		/* A caller's older, shorter struct leaves the rest default. */
		memcpy(&q, p, p->size < sizeof(q) ? p->size : sizeof(q));
	}
	if (q.now < 0 || q.now > TIME_MAX)
		return kmc_detail(KMC_E_INVALID, "kmc_expiry_params.now is "
			"%" PRId64 ": not a time from 1970 to 9999", q.now);
	if (q.within_days > KMC_EXPIRY_DAYS_MAX)
		return kmc_detail(KMC_E_INVALID, "a horizon of %" PRIu32 " days "
			"is more than %d", q.within_days, KMC_EXPIRY_DAYS_MAX);
	w = (walk){ .v = v, .now = q.now ? q.now : (int64_t)time(NULL),
		.horizon = (int64_t)q.within_days * DAY_SECONDS, .cb = cb,
		.arg = arg };
	/* Names first, items after: each item read opens its own store
	   transaction, which must not nest inside the walk's. */
	r = kmc_item_list(v, collect_bundle, &b);
	for (size_t i = 0; i < b.n && r == 0; i++)
		r = walk_bundle(&w, b.names[i]);
	free(b.names);
	if (r == 0)
		r = kmc_trust_list(v, NULL, walk_trusted, NULL, &w);
	/* The vault's own CAs run out too, and all they issued with them. */
	if (r == 0)
		r = kmc_ca_list(v, NULL, walk_ca, NULL, &w);
	return r;
}

const char *kmc_expiry_kind_name(kmc_expiry_kind kind)
{
	switch (kind) {
	case KMC_EXPIRY_CERT:
		return "certificate";
	case KMC_EXPIRY_INTERMEDIATE:
		return "intermediate";
	case KMC_EXPIRY_CA:
		return "ca";
	case KMC_EXPIRY_CRL:
		return "crl";
	case KMC_EXPIRY_TRUSTED:
		return "trusted";
	}
	return "unknown";
}

const char *kmc_expiry_state_name(kmc_expiry_state state)
{
	switch (state) {
	case KMC_EXPIRY_OK:
		return "ok";
	case KMC_EXPIRY_DUE:
		return "due";
	case KMC_EXPIRY_EXPIRED:
		return "expired";
	case KMC_EXPIRY_NOT_YET_VALID:
		return "not_yet_valid";
	}
	return "unknown";
}
