/*
 * ca.c - a CA in the vault: made with its key born inside (kmc ca init),
 * read back and checked before it signs anything, its CRLs (kmc ca
 * crl) and its listing. The items and the record's format are in
 * vault/ca.h; revocation (kmc ca revoke) is in vault/carevoke.c, kmc
 * cert issue in vault/caissue.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "ca.h"
#include "keygen.h"
#include "trust.h"
#include "x509.h"
#include "journal.h"
#include "../safeio/fileio.h"
#include "../safeio/folders.h"
#include "audit.h"

void ca_parts_free(ca_parts *p)
{
	ca_rec_clear(&p->rec);
	X509_free(p->cert);
	free(p->cert_pem);
	EVP_PKEY_free(p->key);
	memset(p, 0, sizeof(*p));
}

int ca_writable(kmc_vault *v)
{
	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	return 0;
}

static int ca_item(const char *name, char *buf, size_t size)
{
	if (trust_name_check(name, 0) < 0)
		return kmc_detail(KMC_E_NAME, "CA name \"%s\" is not 1 to %d of "
			"[A-Za-z0-9._-] (not starting with '.')", name,
			KMC_TRUST_NAME_MAX);
	snprintf(buf, size, "%s%s", CA_ITEM_PREFIX, name);
	return 0;
}

/* The CA's certificate must still be one a CA signs with: CA:TRUE,
   keyCertSign, within its dates, and its key's. Each check can fail for
   want of memory inside OpenSSL (the extensions cached, a time made to
   compare with, the key's compared), which says nothing of the CA. */
static int check_ca_cert(const ca_parts *p)
{
	char show[KMC_NAME_MAX + 8];
	uint32_t ext;
	int cmp, r;

	KMC_GUARD(cert_ext_flags(p->cert, &ext));
	if (!(ext & EXFLAG_CA) || ((ext & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(p->cert) & KU_KEY_CERT_SIGN)))
		return kmc_detail(KMC_E_VERIFY, "%s/cert is not a CA certificate "
			"(%s)", p->item, (ext & EXFLAG_CA) ? "its key usage lacks "
			"keyCertSign" : "no basicConstraints CA:TRUE");
	if (!X509_get0_subject_key_id(p->cert))
		return kmc_detail(KMC_E_VERIFY, "%s/cert has no subject key "
			"identifier, which the certificates it signs name",
			p->item);
	snprintf(show, sizeof(show), "CA %s", p->name);
	KMC_GUARD(time_cmp_now(X509_get0_notBefore(p->cert), show,
		"notBefore", &cmp));
	if (cmp >= 0)
		return kmc_detail(KMC_E_VERIFY, "CA %s is not valid yet",
			p->name);
	KMC_GUARD(time_cmp_now(X509_get0_notAfter(p->cert), show, "notAfter",
		&cmp));
	if (cmp <= 0)
		return kmc_detail(KMC_E_VERIFY, "CA %s has expired; make a new "
			"one (kmc ca init)", p->name);
	if (p->key && (r = cert_key_matches(p->cert, p->key)) != 1)
		return r < 0 ? r : kmc_detail(KMC_E_VERIFY, "%s/key is not the "
			"key of %s/cert", p->item, p->item);
	return 0;
}

static int ca_load_once(kmc_vault *v, const char *name, int with_key,
	ca_parts *ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *rec = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *pem = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *key = NULL;
	STACK_OF(X509) *certs = NULL;
	char show[CA_ITEM_SIZE + 8];
	int r;

	memset(ret, 0, sizeof(*ret));
	KMC_GUARD(ca_item(name, ret->item, sizeof(ret->item)));
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	r = kmc_item_get(v, ret->item, KMC_ITEM_CA, &rec);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "%s holds no CA %s (kmc ca init makes one; "
			"kmc ca list shows those there are)", v->dir, name);
	KMC_GUARD(r);
	r = ca_rec_parse(kmc_secret_data(rec), kmc_secret_len(rec), &ret->rec);
	if (r == KMC_E_VERSION)
		return kmc_detail(r, "item %s: a CA record of version %u; this "
			"kmc reads version %d", ret->item,
			(unsigned)kmc_secret_data(rec)[0], CA_RECORD_VERSION);
	if (r == KMC_E_NOMEM)
		return r;
	if (r < 0)
		return kmc_detail(KMC_E_CORRUPT, "item %s: a damaged CA record",
			ret->item);
	r = vault_part_get(v, ret->item, "cert", KMC_ITEM_CERTIFICATE, &pem);
	if (r == KMC_E_NOT_FOUND)
		r = kmc_detail(KMC_E_CORRUPT, "CA %s has no certificate "
			"(%s/cert)", name, ret->item);
	if (r < 0)
		goto fail;
	snprintf(show, sizeof(show), "%s/cert", ret->item);
	r = certs_parse(show, kmc_secret_data(pem), kmc_secret_len(pem), &certs);
	if (r < 0)
		goto fail;
	if (sk_X509_num(certs) != 1) {
		r = kmc_detail(KMC_E_CORRUPT, "%s holds %d certificates, not one",
			show, sk_X509_num(certs));
		sk_X509_pop_free(certs, X509_free);
		goto fail;
	}
	ret->cert = sk_X509_pop(certs);
	sk_X509_free(certs);
	ret->cert_pem = malloc(kmc_secret_len(pem));
	if (!ret->cert_pem) {
		r = KMC_E_NOMEM;
		goto fail;
	}
	memcpy(ret->cert_pem, kmc_secret_data(pem), kmc_secret_len(pem));
	ret->cert_pem_len = kmc_secret_len(pem);
	if (with_key) {
		r = vault_part_get(v, ret->item, "key", KMC_ITEM_PRIVATE_KEY,
			&key);
		if (r == KMC_E_NOT_FOUND)
			r = kmc_detail(r, "CA %s has no key in the vault (%s/key): "
				"it cannot sign", name, ret->item);
		if (r == 0)
			r = key_from_pkcs8(key, &ret->key);
		if (r < 0)
			goto fail;
	}
	/* Only signing needs a CA certificate fit to sign with; revoking
	   and listing read what is there. */
	r = check_ca_cert(ret);
	if (r < 0 && with_key)
		goto fail;
	kmc_detail_clear();
	return 0;
fail:
	ca_parts_free(ret);
	return r;
}

typedef struct ca_load_job {
	const char *name;
	int with_key;
	ca_parts *p;
} ca_load_job;

static int ca_load_read(kmc_vault *v, void *arg)
{
	ca_load_job *j = arg;

	return ca_load_once(v, j->name, j->with_key, j->p);
}

static void ca_load_undo(void *arg)
{
	ca_parts_free(((ca_load_job *)arg)->p);
}

/*
 * The CA's record, certificate and key are read each in a read of its
 * own: as of one version of the vault, so that a CA another process
 * removes meanwhile is not found rather than taken for a CA that lost
 * its certificate (KMC_E_CORRUPT).
 */
int ca_load(kmc_vault *v, const char *name, int with_key, ca_parts *ret)
{
	ca_load_job j = { name, with_key, ret };

	return vault_read_one_version(v, name, ca_load_read, ca_load_undo, &j);
}

int ca_rec_put(kmc_vault *v, store_txn *t, const char *item,
	const ca_rec *rec)
{
	_cleanup_(freep) uint8_t *p = NULL;
	size_t len;

	KMC_GUARD(ca_rec_encode(rec, &p, &len));
	/* The record is its own history: the old one goes, as a trust
	   store's does. */
	return items_txn_put(v, t, item, KMC_ITEM_CA, p, len, 0);
}

/* ---------------------------------------------------------------- */
/* kmc ca init                                                        */

static void x509_name_freep(X509_NAME **n)
{
	X509_NAME_free(*n);
}

static void pkey_freep(EVP_PKEY **k)
{
	EVP_PKEY_free(*k);
}

static void x509_freep(X509 **x)
{
	X509_free(*x);
}

int kmc_ca_init(kmc_vault *v, const char *name, const kmc_ca_params *p)
{
	AUDIT_OP(v, "kmc_ca_init");
	_cleanup_(x509_name_freep) X509_NAME *subject = NULL;
	_cleanup_(pkey_freep) EVP_PKEY *key = NULL;
	_cleanup_(x509_freep) X509 *x = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *pkcs8 = NULL;
	_cleanup_(freep) uint8_t *pem = NULL;
	_cleanup_(freep) uint8_t *rec = NULL;
	STACK_OF(X509) *one = NULL;
	char item[CA_ITEM_SIZE], part[CA_ITEM_SIZE + 8];
	ca_rec empty = { .next_crl = 1 };
	cert_plan plan = { 0 };
	size_t pem_len = 0, rec_len = 0;
	int64_t now = (int64_t)time(NULL);
	int type, r;
	store_txn t;

	KMC_GUARD(ca_writable(v));
	KMC_ENSURE(p->size >= offsetof(kmc_ca_params, days) + sizeof(p->days),
		KMC_E_INVALID);
	KMC_GUARD(vault_params_known(p, p->size, sizeof(*p), "kmc_ca_params"));
	KMC_GUARD(ca_item(name, item, sizeof(item)));
	if (!p->subject)
		return kmc_detail(KMC_E_INVALID, "a CA needs --subject");
	KMC_GUARD(keygen_type_parse(p->key_type ? p->key_type : "p256", &type));
	KMC_GUARD(subject_parse(p->subject, &subject));
	if (X509_NAME_entry_count(subject) == 0)
		return kmc_detail(KMC_E_INVALID, "--subject %s: a CA's subject "
			"may not be empty", p->subject);
	plan.not_before = now - CA_BACKDATE;
	KMC_GUARD(certmake_end("--days", p->days, now, 0, NULL,
		&plan.not_after));
	r = items_exists(v, item);
	KMC_GUARD(r);
	if (r)
		return kmc_detail(KMC_E_EXISTS, "%s already holds CA %s", v->dir,
			name);
	KMC_GUARD(keygen_generate(type, &key));
	plan.subject = subject;
	plan.key = key;
	plan.ca = 1;
	certmake_serial(plan.serial);
	plan.serial_len = CA_SERIAL_MAX;
	KMC_GUARD(certmake_cert(&plan, &x));
	KMC_GUARD(keygen_pkcs8(key, &pkcs8));
	one = sk_X509_new_null();
	KMC_ENSURE(one, KMC_E_NOMEM);
	if (!sk_X509_push(one, x)) {
		sk_X509_free(one);
		return KMC_E_NOMEM;
	}
	r = certs_to_pem(one, &pem, &pem_len);
	sk_X509_free(one);
	KMC_GUARD(r);
	KMC_GUARD(ca_rec_encode(&empty, &rec, &rec_len));

	KMC_GUARD(store_txn_begin(&v->st, &t));
	snprintf(part, sizeof(part), "%s/key", item);
	r = items_txn_put(v, &t, part, KMC_ITEM_PRIVATE_KEY,
		kmc_secret_data(pkcs8), kmc_secret_len(pkcs8), 1);
	if (r == 0) {
		snprintf(part, sizeof(part), "%s/cert", item);
		r = items_txn_put(v, &t, part, KMC_ITEM_CERTIFICATE, pem,
			pem_len, 1);
	}
	if (r == 0)
		r = items_txn_put(v, &t, item, KMC_ITEM_CA, rec, rec_len, 1);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

/* ---------------------------------------------------------------- */
/* kmc ca crl                                                         */

static int crl_commit(kmc_vault *v, const ca_parts *c, const journal *j)
{
	store_txn t;
	int r;

	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = ca_rec_put(v, &t, c->item, &c->rec);
	if (r == 0)
		r = journal_mark_committed(&t, j);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

static int crl_stage(const journal_entry *e, const uint8_t *pem, size_t len)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	char staged[300];
	int r;

	KMC_GUARD(journal_staged_name(e, staged, sizeof(staged)));
	dirfd = open(e->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		return kmc_detail(r, "%s: %s", e->dir, kmc_strerror(r));
	}
	/* The staged name is this change's own (a random tag the journal
	   keeps): another vault's kmc writing FILE at once stages beside it
	   under its own, and neither's recovery or undo removes the
	   other's. A file at this one (a tag drawn twice) is still neither
	   removed nor written into. */
	r = kmc_write_new(dirfd, staged, pem, len, &(kmc_file_meta){ 0644,
		(uid_t)-1, (gid_t)-1, NULL, 0, .keep_existing = 1 });
	if (r == -EEXIST)
		return kmc_detail(r, "%s/%s exists: another kmc is writing "
			"%s/%s (or one was cut off: kmc repair of its vault "
			"removes it)", e->dir, staged, e->dir, e->name);
	if (r < 0)
		return kmc_detail(r, "writing %s/%s: %s", e->dir, e->name,
			kmc_strerror(r));
	if (fsync(dirfd) < 0) {
		r = -errno;
		return kmc_detail(r, "writing %s/%s: syncing the folder %s: %s",
			e->dir, e->name, e->dir, kmc_strerror(r));
	}
	return 0;
}

int kmc_ca_crl(kmc_vault *v, const char *ca, long days, const char *out,
	uint64_t *ret_number)
{
	return kmc_ca_crl_ex(v, ca, days, out, ret_number, NULL);
}

int kmc_ca_crl_ex(kmc_vault *v, const char *ca, long days, const char *out,
	uint64_t *ret_number, int64_t *ret_next)
{
	AUDIT_OP(v, "kmc_ca_crl");
	_cleanup_(ca_parts_free) ca_parts c = { 0 };
	_cleanup_(freep) uint8_t *pem = NULL;
	X509_CRL *crl = NULL;
	journal j = { 0 };
	char abs[PATH_MAX], dir[PATH_MAX];
	const char *base;
	struct timespec ts;
	int64_t now, next, limit;
	uint64_t number, now_us;
	size_t len = 0;
	struct stat st;
	int r;

	KMC_GUARD(ca_writable(v));
	/* One reading of the clock for the CRL's date and its number. */
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || ts.tv_sec < 0)
		return kmc_detail(KMC_E_INVALID, "the system clock reads before "
			"1970");
	now = (int64_t)ts.tv_sec;
	now_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	KMC_GUARD(ca_load(v, ca, 1, &c));
	KMC_GUARD(x509_time_epoch(X509_get0_notAfter(c.cert), &limit));
	/* A CRL is signed by the CA: past the CA's end no client takes it,
	   so its next update promised then would not come. Days asked for
	   are refused past it, as cert issue refuses them; the default ends
	   with the CA, so the routine CRL near its end is still signed. */
	if (days == 0) {
		KMC_GUARD(certmake_end("--days", KMC_CRL_DAYS_DEFAULT, now, 0,
			NULL, &next));
		if (next > limit)
			next = limit;
	} else {
		char what[KMC_NAME_MAX + 32];

		snprintf(what, sizeof(what), "CA %s's certificate", ca);
		KMC_GUARD(certmake_end("--days", days, now, limit, what,
			&next));
	}
	/* "" would be made absolute as the current folder, refused as a
	   file that exists without naming the option. */
	if (!*out)
		return kmc_detail(KMC_E_INVALID, "--out: an empty file name");
	KMC_GUARD(kmc_path_absolute(out, abs, sizeof(abs)));
	if (lstat(abs, &st) == 0)
		return kmc_detail(KMC_E_EXISTS, "%s exists; kmc ca crl never "
			"writes over a file", abs);
	KMC_GUARD(out_folder_check(abs));
	import_split(abs, dir, sizeof(dir), &base);
	if (!base[0] || strlen(dir) > JOURNAL_DIR_MAX || strlen(base) > 200)
		return kmc_detail(KMC_E_INVALID, "--out %s: not a file name kmc "
			"can write", out);
	r = stat(dir, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (r < 0) {
		return kmc_detail(r, "--out %s: its folder %s: %s", out, dir,
			kmc_strerror(r));
	}
	/* Above every number the CA gave, in this vault's history or (by
	   the clock) before a restore rolled its record back. */
	if (ca_crl_number(&c.rec, now_us, &number) < 0)
		return kmc_detail(KMC_E_LIMIT, "CA %s gave its last CRL number",
			ca);
	KMC_GUARD(certmake_crl(&c.rec, number, c.cert, c.key,
		now - CA_BACKDATE, next, &crl));
	r = crl_to_pem(crl, &pem, &len);
	X509_CRL_free(crl);
	KMC_GUARD(r);
	c.rec.next_crl = number + 1;
	/* The check above is no guarantee: the rename never replaces a
	   file made at FILE since. */
	KMC_GUARD(journal_add(&j, JOURNAL_NEW_OWN, dir, base));
	KMC_GUARD(journal_begin(v, &j));
	r = crl_stage(&j.e[0], pem, len);
	if (r == -EEXIST) {
		/* The staged name is another's: leave that file be. */
		char detail[1024];

		snprintf(detail, sizeof(detail), "%s", kmc_error_detail());
		journal_forget(v);
		return kmc_detail(KMC_E_EXISTS, "%s", detail);
	}
	if (r == 0)
		r = crl_commit(v, &c, &j);
	if (r < 0) {
		char detail[1024];

		snprintf(detail, sizeof(detail), "%s", kmc_error_detail());
		journal_abort(v, &j);
		if (detail[0])
			kmc_detail(r, "%s", detail);
		return r;
	}
	r = journal_apply(v, &j);
	if (r == KMC_E_EXISTS)
		return kmc_detail(r, "%s appeared while kmc wrote the CRL and was "
			"left as it is; CRL number %llu of CA %s went to no file: "
			"run kmc ca crl again with another --out", abs,
			(unsigned long long)number, ca);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "%s was removed while kmc wrote the CRL; "
			"CRL number %llu of CA %s went to no file: run kmc ca crl "
			"again", dir, (unsigned long long)number, ca);
	if (r < 0)
		return kmc_detail(KMC_E_PENDING, "the vault gave CRL number %llu, "
			"but putting %s in place failed (%s); `kmc repair` "
			"finishes it", (unsigned long long)number, abs,
			kmc_error_detail()[0] ? kmc_error_detail() :
			kmc_strerror(r));
	if (ret_number)
		*ret_number = number;
	if (ret_next)
		*ret_next = next;
	return 0;
}

/* ---------------------------------------------------------------- */
/* kmc ca list                                                        */

/* gone_ok: a CA whose record is gone is skipped (0), not KMC_E_NOT_FOUND. */
static int list_one(kmc_vault *v, const char *name, int gone_ok,
	int (*ca_cb)(const kmc_ca_info *info, void *arg),
	int (*issued_cb)(const kmc_ca_issued *info, void *arg), void *arg)
{
	_cleanup_(ca_parts_free) ca_parts c = { 0 };
	char key[CA_ITEM_SIZE + 8], serial[KMC_SERIAL_TEXT_MAX];
	kmc_cert_info ci;
	kmc_ca_info info = { 0 };
	int pinned, r;

	/* The CA and whether its key is there, of one version. */
	pinned = store_pin(&v->st);
	KMC_GUARD(pinned);
	r = ca_load(v, name, 0, &c);
	if (r == 0) {
		snprintf(key, sizeof(key), "%s/key", c.item);
		r = items_exists(v, key);
		info.has_key = r > 0;
		if (r > 0)
			r = 0;
	}
	store_unpin(&v->st, pinned);
	if (r == KMC_E_NOT_FOUND && gone_ok) {
		kmc_detail_clear();
		return 0;
	}
	KMC_GUARD(r);
	info.name = name;
	info.cert = &ci;
	info.next_crl = c.rec.next_crl;
	info.issued = c.rec.n;
	for (size_t i = 0; i < c.rec.n; i++)
		info.revoked += !!(c.rec.e[i].flags & CA_FLAG_REVOKED);
	KMC_GUARD(cert_describe(c.cert, &ci));
	r = ca_cb(&info, arg);
	free(ci.pem);
	for (size_t i = 0; r == 0 && issued_cb && i < c.rec.n; i++) {
		const ca_entry *e = &c.rec.e[i];
		kmc_ca_issued is = {
			.ca = name, .name = e->name, .serial = serial,
			.client = e->kind == CA_KIND_CLIENT,
			.not_after = e->not_after,
			.revoked = !!(e->flags & CA_FLAG_REVOKED),
			.revoked_at = e->revoked_at,
			.reason = (e->flags & CA_FLAG_REVOKED) ?
				ca_reason_name(e->reason) : NULL,
		};

		ca_serial_text(e->serial, e->serial_len, serial);
		r = issued_cb(&is, arg);
	}
	return r;
}

int kmc_ca_list(kmc_vault *v, const char *ca,
	int (*ca_cb)(const kmc_ca_info *info, void *arg),
	int (*issued_cb)(const kmc_ca_issued *info, void *arg), void *arg)
{
	trust_names s;
	int r;

	kmc_detail_clear();
	if (ca)
		return list_one(v, ca, 0, ca_cb, issued_cb, arg);
	r = trust_names_of(v, CA_ITEM_PREFIX, KMC_ITEM_CA, &s);
	/* A CA removed since the names were read is not listed (its
	   record is gone; one without its certificate is KMC_E_CORRUPT). */
	for (size_t i = 0; r == 0 && i < s.n; i++)
		r = list_one(v, s.name[i], 1, ca_cb, issued_cb, arg);
	free(s.name);
	return r;
}
