/*
 * trust.c - trust stores: add, remove, sync files, list, PEM, and which
 * store a bundle names. A change to a store and the rewrite of its sync
 * files are one transaction (vault/journal.h), as an import's copies are.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include "trust.h"
#include "x509.h"
#include "journal.h"
#include "../safeio/fileio.h"
#include "../safeio/folders.h"
#include "audit.h"

#define META_MAX 4096

void trust_set_free(trust_set *t)
{
	if (!t)
		return;
	trust_set_clear(t);
	free(t);
}

static void trust_set_freep(trust_set **t)
{
	trust_set_free(*t);
}

static const char *store_or_default(const char *sname)
{
	return sname ? sname : KMC_TRUST_DEFAULT;
}

static int store_item(const char *sname, char *buf, size_t size)
{
	sname = store_or_default(sname);
	if (trust_name_check(sname, 0) < 0)
		return kmc_detail(KMC_E_NAME, "trust store name \"%s\" is not 1 "
			"to %d of [A-Za-z0-9._-] (not starting with '.')", sname,
			KMC_TRUST_NAME_MAX);
	snprintf(buf, size, "%s%s", TRUST_ITEM_PREFIX, sname);
	return 0;
}

int trust_load(kmc_vault *v, const char *sname, trust_set **ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *rec = NULL;
	_cleanup_(trust_set_freep) trust_set *t = NULL;
	char item[KMC_NAME_MAX + 1];
	int r;

	KMC_GUARD(store_item(sname, item, sizeof(item)));
	r = kmc_item_get(v, item, KMC_ITEM_TRUST, &rec);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "%s holds no trust store %s", v->dir,
			store_or_default(sname));
	KMC_GUARD(r);
	t = calloc(1, sizeof(*t));
	KMC_ENSURE(t, KMC_E_NOMEM);
	r = trust_parse(kmc_secret_data(rec), kmc_secret_len(rec), t);
	if (r == KMC_E_VERSION && kmc_secret_data(rec)[0] !=
	    TRUST_RECORD_VERSION)
		return kmc_detail(r, "item %s: a trust store record of version "
			"%u; this kmc reads version %d", item,
			(unsigned)kmc_secret_data(rec)[0], TRUST_RECORD_VERSION);
	if (r == KMC_E_VERSION)
		return kmc_detail(r, "item %s: a certificate has flags that this "
			"kmc (trust store record version %d) does not know: a "
			"newer kmcvault wrote it", item, TRUST_RECORD_VERSION);
	if (r == KMC_E_NOMEM)
		return r;
	if (r < 0)
		return kmc_detail(KMC_E_CORRUPT, "item %s: a damaged trust store "
			"record", item);
	*ret = TAKE_PTR(t);
	return 0;
}

static int writable(kmc_vault *v)
{
	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	return 0;
}

/* The store to change: read, or new and empty when absent. */
static int load_or_new(kmc_vault *v, const char *sname, trust_set **ret)
{
	int r = trust_load(v, sname, ret);

	if (r != KMC_E_NOT_FOUND)
		return r;
	kmc_detail_clear();
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : KMC_E_NOMEM;
}

static ssize_t find_alias(const trust_set *t, const char *alias)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->c[i].alias, alias))
			return (ssize_t)i;
	return -1;
}

static int no_alias(const char *sname, const char *alias)
{
	return kmc_detail(KMC_E_NOT_FOUND, "trust store %s has no alias %s "
		"(kmc trust list --store %s shows its aliases)",
		store_or_default(sname), alias, store_or_default(sname));
}

/* ---------------------------------------------------------------- */
/* Adding: only a CA, or a self-signed leaf pinned on purpose         */

static void when(const ASN1_TIME *t, char *buf, size_t size)
{
	int64_t e = 0;
	struct tm tm;
	time_t tt;

	snprintf(buf, size, "an unreadable date");
	if (x509_time_epoch(t, &e) < 0)
		return;
	tt = (time_t)e;
	/* Four digits of year, as cert info shows it (not %Y's "999"). */
	if (gmtime_r(&tt, &tm))
		snprintf(buf, size, "%04d-%02d-%02d %02d:%02d:%02d UTC",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			tm.tm_min, tm.tm_sec);
}

static int check_anchor(const char *file, X509 *x, unsigned flags,
	unsigned *ret_flags)
{
	char subject[256], date[64], what[PATH_MAX + 300];
	uint32_t ext;
	int is_ca, cmp;

	/* Not "is not a CA certificate" for want of memory. */
	if (cert_ext_flags(x, &ext) < 0)
		return kmc_detail(KMC_E_NOMEM, "%s: out of memory while reading "
			"its extensions", file);
	KMC_GUARD(x509_name_text(X509_get_subject_name(x), subject,
		sizeof(subject)));
	snprintf(what, sizeof(what), "%s: certificate %s", file, subject);
	KMC_GUARD(time_cmp_now(X509_get0_notBefore(x), what, "notBefore",
		&cmp));
	if (cmp >= 0) {
		when(X509_get0_notBefore(x), date, sizeof(date));
		return kmc_detail(KMC_E_VERIFY, "%s: certificate %s is not valid "
			"yet (not before %s)", file, subject, date);
	}
	KMC_GUARD(time_cmp_now(X509_get0_notAfter(x), what, "notAfter",
		&cmp));
	if (cmp <= 0) {
		when(X509_get0_notAfter(x), date, sizeof(date));
		return kmc_detail(KMC_E_VERIFY, "%s: certificate %s has expired "
			"(not after %s)", file, subject, date);
	}
	is_ca = (ext & EXFLAG_CA) && (!(ext & EXFLAG_KUSAGE) ||
		(X509_get_key_usage(x) & KU_KEY_CERT_SIGN));
	*ret_flags = 0;
	if (is_ca)
		return 0;
	if (!(flags & KMC_TRUST_PIN_LEAF))
		return kmc_detail(KMC_E_VERIFY, "%s: certificate %s is not a CA "
			"certificate (%s); a self-signed leaf can be trusted "
			"only on purpose, with --pin-leaf", file, subject,
			(ext & EXFLAG_CA) ? "its key usage lacks keyCertSign" :
			"no basicConstraints CA:TRUE");
	if (X509_self_signed(x, 1) != 1)
		return kmc_detail(KMC_E_VERIFY, "%s: certificate %s is neither a "
			"CA certificate nor self-signed: pin its CA instead",
			file, subject);
	*ret_flags = TRUST_FLAG_PINNED;
	return 0;
}

static int read_one_cert(const char *file, X509 **ret)
{
	_cleanup_(freep) uint8_t *raw = NULL;
	STACK_OF(X509) *certs = NULL;
	size_t len = 0;
	int n;

	KMC_GUARD(input_read(file, INPUT_CERT, &raw, &len, NULL));
	KMC_GUARD(input_error(certs_parse(file, raw, len, &certs)));
	n = sk_X509_num(certs);
	if (n != 1) {
		sk_X509_pop_free(certs, X509_free);
		return kmc_detail(KMC_E_INVALID, "%s holds %d certificates; "
			"trust each under its own alias", file, n);
	}
	*ret = sk_X509_pop(certs);
	sk_X509_free(certs);
	return 0;
}

int trust_crl_check(const char *file, X509 *x, X509_CRL *crl)
{
	const ASN1_TIME *next;
	char subject[256], date[64];
	/* Running out of memory is said as such, never as a CRL at fault:
	   each check below that fails for want of memory leaves r so. */
	int cmp = 0, r = KMC_E_NOMEM;

	if (x509_name_text(X509_get_subject_name(x), subject,
			sizeof(subject)) < 0)
		goto out;
	next = X509_CRL_get0_nextUpdate(crl);
	/* -2: the names' canonical forms could not be made. */
	cmp = X509_NAME_cmp(X509_CRL_get_issuer(crl),
		X509_get_subject_name(x));
	if (cmp != 0) {
		if (cmp != -2 || !ossl_nomem())
			r = kmc_detail(KMC_E_VERIFY, "%s is not a CRL of %s "
				"(another issuer)", file, subject);
		goto out;
	}
	if (cert_pubkey_lost(x))
		goto out;
	if (!crl_signed_by(crl, x)) {
		/* OpenSSL's first fetch of the signature's algorithm, failed
		   by an allocation, fails for good with no allocation failure
		   queued. */
		if (!ossl_verify_failed_run())
			r = kmc_detail(KMC_E_VERIFY, "%s is not a CRL of %s (not "
				"signed by it)", file, subject);
		goto out;
	}
	r = time_cmp_now(X509_CRL_get0_lastUpdate(crl), file, "thisUpdate",
		&cmp);
	if (r < 0)
		goto out;
	r = KMC_E_NOMEM;
	if (cmp >= 0) {
		r = kmc_detail(KMC_E_VERIFY, "%s is not valid yet (its last "
			"update is in the future)", file);
		goto out;
	}
	if (next && (r = time_cmp_now(next, file, "nextUpdate", &cmp)) < 0)
		goto out;
	if (!next || cmp <= 0) {
		if (next)
			when(next, date, sizeof(date));
		r = kmc_detail(KMC_E_VERIFY, "%s is out of date (its next update "
			"%s%s); fetch a current CRL", file, next ? "was " : "is "
			"missing", next ? date : "");
		goto out;
	}
	return 0;
out:
	ERR_clear_error();
	if (r == KMC_E_NOMEM)
		r = kmc_detail(r, "%s: out of memory while checking it", file);
	return r;
}

/* A CRL for trusted certificate x: signed by it, and current. */
static int read_crl(const char *file, X509 *x, X509_CRL **ret)
{
	_cleanup_(freep) uint8_t *raw = NULL;
	X509_CRL *crl = NULL;
	size_t len = 0;
	int r;

	KMC_GUARD(input_read(file, INPUT_CRL, &raw, &len, NULL));
	KMC_GUARD(input_error(crl_file_parse(file, raw, len, &crl)));
	r = trust_crl_check(file, x, crl);
	if (r < 0) {
		X509_CRL_free(crl);
		return r;
	}
	*ret = crl;
	return 0;
}

int kmc_trust_add(kmc_vault *v, const char *sname, const char *alias,
	const char *cert_file, const char *crl_file, unsigned flags)
{
	AUDIT_OP(v, "kmc_trust_add");
	_cleanup_(trust_set_freep) trust_set *t = NULL;
	char item[KMC_NAME_MAX + 1];
	unsigned tflags = 0;
	X509_CRL *crl = NULL;
	X509 *x = NULL;
	ssize_t at;
	size_t pos;
	int r;

	KMC_GUARD(writable(v));
	KMC_GUARD(store_item(sname, item, sizeof(item)));
	if (trust_name_check(alias, 1) < 0)
		return kmc_detail(KMC_E_NAME, "alias \"%s\" is not 1 to %d of "
			"[A-Za-z0-9._@+-] (not starting with '.')", alias,
			KMC_TRUST_NAME_MAX);
	KMC_GUARD(read_one_cert(cert_file, &x));
	r = check_anchor(cert_file, x, flags, &tflags);
	if (r == 0 && crl_file)
		r = read_crl(crl_file, x, &crl);
	if (r == 0)
		r = load_or_new(v, sname, &t);
	if (r < 0)
		goto out;
	at = find_alias(t, alias);
	if (at >= 0 && !(flags & KMC_TRUST_REPLACE)) {
		r = kmc_detail(KMC_E_EXISTS, "trust store %s already has alias "
			"%s; add --replace to replace its certificate",
			store_or_default(sname), alias);
		goto out;
	}
	for (size_t i = 0; i < t->n; i++)
		if ((ssize_t)i != at && X509_cmp(t->c[i].x, x) == 0) {
			r = kmc_detail(KMC_E_EXISTS, "%s is already trusted in "
				"store %s, as alias %s", cert_file,
				store_or_default(sname), t->c[i].alias);
			goto out;
		}
	if (at < 0 && t->n == KMC_TRUST_CERTS_MAX) {
		r = kmc_detail(KMC_E_LIMIT, "trust store %s holds %d "
			"certificates, the most it can", store_or_default(sname),
			KMC_TRUST_CERTS_MAX);
		goto out;
	}
	/* A replaced alias's CRL, of the same CA key, is not taken back
	   (crlorder.c). */
	if (at >= 0 && crl && t->c[at].crl) {
		char show[2 * KMC_NAME_MAX + 64];

		snprintf(show, sizeof(show), "the CRL trust store %s holds for "
			"%s", store_or_default(sname), alias);
		r = crl_not_older(crl_file, crl, show, t->c[at].crl, x);
		if (r < 0)
			goto out;
	}
	if (at >= 0) {
		pos = (size_t)at;
	} else {
		for (pos = 0; pos < t->n && strcmp(t->c[pos].alias, alias) < 0;
		     pos++)
			;
		memmove(&t->c[pos + 1], &t->c[pos],
			(t->n - pos) * sizeof(t->c[0]));
		memset(&t->c[pos], 0, sizeof(t->c[pos]));
		t->n++;
		snprintf(t->c[pos].alias, sizeof(t->c[pos].alias), "%s", alias);
	}
	r = trust_cert_set(&t->c[pos], x);
	if (r < 0) {
		if (r == KMC_E_TOO_LARGE)
			r = kmc_detail(r, "%s: a certificate of over %u bytes",
				cert_file, KMC_TRUST_CERT_MAX);
		goto out;
	}
	x = NULL;
	t->c[pos].flags = tflags;
	/* A replaced certificate's CRL goes with it. */
	r = trust_crl_set(&t->c[pos], crl);
	if (r < 0)
		goto out;
	crl = NULL;
	r = trust_commit(v, item, t, 1);
out:
	X509_free(x);
	X509_CRL_free(crl);
	return r;
}

int kmc_trust_remove(kmc_vault *v, const char *sname, const char *alias)
{
	AUDIT_OP(v, "kmc_trust_remove");
	_cleanup_(trust_set_freep) trust_set *t = NULL;
	char item[KMC_NAME_MAX + 1];
	ssize_t at;

	KMC_GUARD(writable(v));
	KMC_GUARD(store_item(sname, item, sizeof(item)));
	KMC_GUARD(trust_load(v, sname, &t));
	at = find_alias(t, alias);
	if (at < 0)
		return no_alias(sname, alias);
	X509_free(t->c[at].x);
	free(t->c[at].der);
	X509_CRL_free(t->c[at].crl);
	free(t->c[at].crl_der);
	memmove(&t->c[at], &t->c[at + 1],
		(t->n - (size_t)at - 1) * sizeof(t->c[0]));
	t->n--;
	memset(&t->c[t->n], 0, sizeof(t->c[0]));
	return trust_commit(v, item, t, 1);
}

int kmc_trust_crl(kmc_vault *v, const char *sname, const char *alias,
	const char *crl_file)
{
	AUDIT_OP(v, "kmc_trust_crl");
	_cleanup_(trust_set_freep) trust_set *t = NULL;
	char item[KMC_NAME_MAX + 1];
	X509_CRL *crl = NULL;
	ssize_t at;
	int r;

	KMC_GUARD(writable(v));
	KMC_GUARD(store_item(sname, item, sizeof(item)));
	KMC_GUARD(trust_load(v, sname, &t));
	at = find_alias(t, alias);
	if (at < 0)
		return no_alias(sname, alias);
	KMC_GUARD(read_crl(crl_file, t->c[at].x, &crl));
	/* One older than the CRL it replaces would take back what the
	   newer revokes (crlorder.c). */
	if (t->c[at].crl) {
		char show[2 * KMC_NAME_MAX + 64];

		snprintf(show, sizeof(show), "the CRL trust store %s holds for "
			"%s", store_or_default(sname), alias);
		r = crl_not_older(crl_file, crl, show, t->c[at].crl,
			t->c[at].x);
	} else {
		r = 0;
	}
	if (r == 0)
		r = trust_crl_set(&t->c[at], crl);
	if (r < 0) {
		X509_CRL_free(crl);
		return r;
	}
	/* The sync files hold certificates only: they stay as they are. */
	return trust_commit(v, item, t, 0);
}

int kmc_trust_sync(kmc_vault *v, const char *sname, const char *path,
	int stop)
{
	AUDIT_OP(v, "kmc_trust_sync");
	_cleanup_(trust_set_freep) trust_set *t = NULL;
	char item[KMC_NAME_MAX + 1], abs[PATH_MAX];
	size_t i;

	KMC_GUARD(writable(v));
	KMC_GUARD(store_item(sname, item, sizeof(item)));
	KMC_GUARD(kmc_path_absolute(path, abs, sizeof(abs)));
	if (strlen(abs) > TRUST_PATH_MAX)
		return kmc_detail(KMC_E_TOO_LARGE, "%s: a path over %d bytes",
			abs, TRUST_PATH_MAX);
	KMC_GUARD(trust_load(v, sname, &t));
	for (i = 0; i < t->n_files && strcmp(t->files[i], abs); i++)
		;
	if (stop) {
		if (i == t->n_files)
			return kmc_detail(KMC_E_NOT_FOUND, "trust store %s does "
				"not keep %s", store_or_default(sname), abs);
		memmove(t->files[i], t->files[i + 1],
			(t->n_files - i - 1) * sizeof(t->files[0]));
		t->n_files--;
		return trust_commit(v, item, t, 0);
	}
	if (i < t->n_files)
		return kmc_detail(KMC_E_EXISTS, "trust store %s already keeps %s",
			store_or_default(sname), abs);
	/* A file in a vault's folder could be taken for the vault's own
	   (.kmc-restore would make every open see a restore cut off). */
	KMC_GUARD(out_folder_check(abs));
	if (t->n_files == KMC_TRUST_FILES_MAX)
		return kmc_detail(KMC_E_LIMIT, "trust store %s keeps %d files, "
			"the most it can", store_or_default(sname),
			KMC_TRUST_FILES_MAX);
	/* abs is at most TRUST_PATH_MAX long (checked above). */
	memcpy(t->files[t->n_files++], abs, strlen(abs) + 1);
	return trust_commit(v, item, t, 1);
}

/* ---------------------------------------------------------------- */
/* Reading                                                            */

typedef struct names_arg {
	trust_names *s;
	const char *prefix;
	kmc_item_type type;
} names_arg;

static int collect_name(const kmc_item_info *info, void *arg)
{
	const names_arg *a = arg;
	trust_names *s = a->s;
	size_t plen = strlen(a->prefix);
	const char *sname = info->name + plen;

	if (info->type != a->type || strncmp(info->name, a->prefix, plen) != 0 ||
	    trust_name_check(sname, 0) < 0)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		void *p = realloc(s->name, cap * sizeof(s->name[0]));

		KMC_ENSURE(p, KMC_E_NOMEM);
		s->name = p;
		s->cap = cap;
	}
	snprintf(s->name[s->n++], sizeof(s->name[0]), "%s", sname);
	return 0;
}

int trust_names_of(kmc_vault *v, const char *prefix, kmc_item_type type,
	trust_names *ret)
{
	names_arg a = { ret, prefix, type };

	*ret = (trust_names){ 0 };
	return kmc_item_list(v, collect_name, &a);
}

/* gone_ok: a store that is not there is skipped (0), not
   KMC_E_NOT_FOUND. */
static int list_one_store(kmc_vault *v, const char *sname, int gone_ok,
	int (*cb)(const kmc_trust_info *info, void *arg),
	int (*files_cb)(const char *sname, const char *path, void *arg),
	void *arg)
{
	_cleanup_(trust_set_freep) trust_set *t = NULL;
	int r;

	r = trust_load(v, sname, &t);
	if (r == KMC_E_NOT_FOUND && gone_ok) {
		kmc_detail_clear();
		return 0;
	}
	KMC_GUARD(r);
	for (size_t i = 0; files_cb && r == 0 && i < t->n_files; i++)
		r = files_cb(sname, t->files[i], arg);
	for (size_t i = 0; r == 0 && i < t->n; i++) {
		kmc_cert_info ci;
		kmc_trust_info info = { sizeof(info), sname, t->c[i].alias,
			!!(t->c[i].flags & TRUST_FLAG_PINNED), &ci,
			t->c[i].crl != NULL, 0, 0 };

		if (t->c[i].crl) {
			const ASN1_TIME *next =
				X509_CRL_get0_nextUpdate(t->c[i].crl);

			if (x509_time_epoch(X509_CRL_get0_lastUpdate(
				t->c[i].crl), &info.crl_last_update) < 0 ||
			    (next && x509_time_epoch(next,
				&info.crl_next_update) < 0))
				return kmc_detail(KMC_E_CORRUPT, "trust store %s, "
					"alias %s: its CRL has a date that does "
					"not read", sname, t->c[i].alias);
		}
		KMC_GUARD(cert_describe(t->c[i].x, &ci));
		r = cb(&info, arg);
		free(ci.pem);
	}
	return r;
}

int kmc_trust_list(kmc_vault *v, const char *sname,
	int (*cb)(const kmc_trust_info *info, void *arg),
	int (*files_cb)(const char *sname, const char *path, void *arg),
	void *arg)
{
	trust_names s;
	int r;

	kmc_detail_clear();
	if (sname)
		return list_one_store(v, sname, 0, cb, files_cb, arg);
	r = trust_names_of(v, TRUST_ITEM_PREFIX, KMC_ITEM_TRUST, &s);
	/* A store removed since the names were read (kmc rm trust:NAME in
	   another process) is not listed. */
	for (size_t i = 0; r == 0 && i < s.n; i++)
		r = list_one_store(v, s.name[i], 1, cb, files_cb, arg);
	free(s.name);
	return r;
}

int kmc_trust_pem(kmc_vault *v, const char *sname, char **ret,
	size_t *ret_len)
{
	_cleanup_(trust_set_freep) trust_set *t = NULL;

	kmc_detail_clear();
	KMC_GUARD(trust_load(v, sname, &t));
	return trust_to_pem(t, ret, ret_len);
}

/* ---------------------------------------------------------------- */
/* The store a bundle names: a "trust=STORE" line of NAME/meta         */

static int meta_get(kmc_vault *v, const char *name, kmc_secret **ret)
{
	char full[KMC_NAME_MAX + 1];
	int n = snprintf(full, sizeof(full), "%s/meta", name);
	int r;

	if (n < 0 || (size_t)n >= sizeof(full) ||
	    strlen(name) > KMC_BUNDLE_NAME_MAX)
		return kmc_detail(KMC_E_NAME, "bundle name %s is too long", name);
	r = kmc_item_get(v, full, KMC_ITEM_BUNDLE, ret);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "%s holds no imported bundle %s", v->dir,
			name);
	return r;
}

int kmc_cert_trust_store(kmc_vault *v, const char *name, char *buf,
	size_t size)
{
	_cleanup_(kmc_secret_freep) kmc_secret *meta = NULL;

	kmc_detail_clear();
	KMC_ENSURE(size > 0, KMC_E_INVALID);
	KMC_GUARD(meta_get(v, name, &meta));
	if (bundle_meta_value(meta, "trust", buf, size) < 0)
		buf[0] = '\0';
	return 0;
}

int trust_meta_with(const uint8_t *meta, size_t len, const char *sname,
	char *out, size_t size, size_t *ret_len)
{
	const char *p = (const char *)meta, *end = p + len;
	size_t o = 0;
	int n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (!(l >= 6 && memcmp(p, "trust=", 6) == 0) && l > 0) {
			KMC_ENSURE(o + l + 1 < size, KMC_E_TOO_LARGE);
			memcpy(out + o, p, l);
			out[o + l] = '\n';
			o += l + 1;
		}
		p += l + 1;
	}
	if (sname) {
		n = snprintf(out + o, size - o, "trust=%s\n", sname);
		KMC_ENSURE(n > 0 && (size_t)n < size - o, KMC_E_TOO_LARGE);
		o += (size_t)n;
	}
	*ret_len = o;
	return 0;
}

int kmc_cert_set_trust(kmc_vault *v, const char *name, const char *sname)
{
	AUDIT_OP(v, "kmc_cert_set_trust");
	_cleanup_(kmc_secret_freep) kmc_secret *meta = NULL;
	_cleanup_(trust_set_freep) trust_set *t = NULL;
	char out[META_MAX], full[KMC_NAME_MAX + 1];
	store_txn txn;
	size_t len;
	int r;

	KMC_GUARD(writable(v));
	KMC_GUARD(meta_get(v, name, &meta));
	if (sname)
		KMC_GUARD(trust_load(v, sname, &t));
	KMC_GUARD(trust_meta_with(kmc_secret_data(meta), kmc_secret_len(meta),
		sname, out, sizeof(out), &len));
	snprintf(full, sizeof(full), "%s/meta", name);
	KMC_GUARD(store_txn_begin(&v->st, &txn));
	r = items_txn_put(v, &txn, full, KMC_ITEM_BUNDLE, out, len, 1);
	if (r < 0) {
		store_txn_abort(&txn);
		return r;
	}
	return store_txn_commit(&txn);
}
