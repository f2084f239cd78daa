/*
 * caissue.c - kmc cert issue: a key born in the vault and a certificate
 * for it, signed by a CA of the vault (or by the key itself), published
 * as a bundle through import's own path (vault/import.c), so that every
 * command that takes an imported bundle takes it. The CA's record notes
 * the serial in the same store transaction.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include "ca.h"
#include "import.h"
#include "keygen.h"
#include "trust.h"
#include "x509.h"
#include "audit.h"

static void x509_name_freep(X509_NAME **n)
{
	X509_NAME_free(*n);
}

static void general_names_freep(GENERAL_NAMES **g)
{
	GENERAL_NAMES_free(*g);
}

/* A server's name clients check: its CN, when no --san is given and the
   CN is a host name or an address; else none. */
static int default_san(X509_NAME *subject, GENERAL_NAMES **ret)
{
	int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
	unsigned char *cn = NULL;
	unsigned char addr[16];
	char text[300];
	int n, r;

	*ret = NULL;
	if (at < 0)
		return 0;
	n = ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(
		X509_NAME_get_entry(subject, at)));
	if (n < 0)
		return KMC_E_NOMEM;
	if ((size_t)n >= 256 || strlen((char *)cn) != (size_t)n) {
		OPENSSL_free(cn);
		return 0;
	}
	snprintf(text, sizeof(text), "%s:%s",
		inet_pton(AF_INET, (char *)cn, addr) == 1 ||
		inet_pton(AF_INET6, (char *)cn, addr) == 1 ? "IP" : "DNS", cn);
	OPENSSL_free(cn);
	r = san_parse(text, ret);
	if (r == KMC_E_NOMEM)
		return r;
	if (r < 0) {
		*ret = NULL;
		kmc_detail_clear();
	}
	return 0;
}

static int push_dup(STACK_OF(X509) **sk, X509 *x)
{
	if (!*sk)
		*sk = sk_X509_new_null();
	KMC_ENSURE(*sk, KMC_E_NOMEM);
	if (!X509_up_ref(x))
		return KMC_E_NOMEM;
	if (!sk_X509_push(*sk, x)) {
		X509_free(x);
		return KMC_E_NOMEM;
	}
	return 0;
}

/* In the bundle's commit: the CA's record with the new serial. */
static int note_serial(import_ctx *c, kmc_vault *v, store_txn *t)
{
	const ca_parts *ca = c->extra_arg;

	return ca_rec_put(v, t, ca->item, &ca->rec);
}

static int check_params(kmc_vault *v, const kmc_issue_params *p)
{
	unsigned kind = p->flags & (KMC_ISSUE_SERVER | KMC_ISSUE_CLIENT);
	size_t n;

	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	KMC_ENSURE(p->size >= offsetof(kmc_issue_params, trust_store) +
		sizeof(p->trust_store), KMC_E_INVALID);
	KMC_GUARD(vault_params_known(p, p->size, sizeof(*p),
		"kmc_issue_params"));
	if (!p->name || (n = strlen(p->name)) > KMC_BUNDLE_NAME_MAX ||
	    kmc_name_check(p->name) < 0)
		return kmc_detail(KMC_E_NAME, "bundle name \"%s\" is not 1 to %d "
			"of [A-Za-z0-9._@:/+-]", p->name ? p->name : "",
			KMC_BUNDLE_NAME_MAX);
	if (!strncmp(p->name, TRUST_ITEM_PREFIX, strlen(TRUST_ITEM_PREFIX)) ||
	    !strncmp(p->name, CA_ITEM_PREFIX, strlen(CA_ITEM_PREFIX)))
		return kmc_detail(KMC_E_NAME, "bundle name \"%s\": names that "
			"begin with %s are kept for %s", p->name,
			p->name[0] == 't' ? TRUST_ITEM_PREFIX : CA_ITEM_PREFIX,
			p->name[0] == 't' ? "trust stores" : "CAs");
	KMC_GUARD(bundle_name_guard(p->name));
	/* Its CAs' records list certificates revoked from a file under
	   this name: a bundle of it would be listed among them, and ca
	   revoke CA NAME could not tell which were meant. */
	if (!strcmp(p->name, KMC_CA_CERT_FILE_NAME))
		return kmc_detail(KMC_E_NAME, "bundle name \"%s\" is kept for "
			"the certificates kmc ca revoke --cert revokes",
			p->name);
	if (p->flags & ~(KMC_ISSUE_SERVER | KMC_ISSUE_CLIENT |
	    KMC_ISSUE_SELF_SIGNED))
		return kmc_detail(KMC_E_INVALID, "unknown issue flags %#x",
			p->flags);
	if (kind != KMC_ISSUE_SERVER && kind != KMC_ISSUE_CLIENT)
		return kmc_detail(KMC_E_INVALID, "a certificate is for a server "
			"or for a client: give one of --server, --client");
	if (!!(p->flags & KMC_ISSUE_SELF_SIGNED) == !!p->ca)
		return kmc_detail(KMC_E_INVALID, "give the CA that signs it "
			"(--ca CA) or --self-signed, one of the two");
	if (!p->subject)
		return kmc_detail(KMC_E_INVALID, "a certificate needs --subject");
	return 0;
}

int kmc_cert_issue(kmc_vault *v, const kmc_issue_params *p,
	char *ret_serial)
{
	AUDIT_OP(v, "kmc_cert_issue");
	_cleanup_(import_free) import_ctx c = { 0 };
	_cleanup_(ca_parts_free) ca_parts ca = { 0 };
	_cleanup_(x509_name_freep) X509_NAME *subject = NULL;
	_cleanup_(general_names_freep) GENERAL_NAMES *san = NULL;
	kmc_import_params ip = KMC_IMPORT_PARAMS_INIT;
	char ca_show[KMC_NAME_MAX + 8], what[KMC_NAME_MAX + 32];
	int self = !!(p->flags & KMC_ISSUE_SELF_SIGNED);
	int64_t now = (int64_t)time(NULL), limit = 0;
	cert_plan plan = { 0 };
	ca_entry e = { 0 };
	chain_files files;
	X509 *x = NULL;
	int type, r;

	KMC_GUARD(check_params(v, p));
	KMC_GUARD(subject_parse(p->subject, &subject));
	if (p->san)
		KMC_GUARD(san_parse(p->san, &san));
	else if (p->flags & KMC_ISSUE_SERVER)
		KMC_GUARD(default_san(subject, &san));
	if (X509_NAME_entry_count(subject) == 0 &&
	    (!san || sk_GENERAL_NAME_num(san) == 0))
		return kmc_detail(KMC_E_INVALID, "--subject %s: an empty subject "
			"needs --san", p->subject);
	KMC_GUARD(keygen_type_parse(p->key_type ? p->key_type : "p256", &type));
	if (!self) {
		KMC_GUARD(ca_load(v, p->ca, 1, &ca));
		KMC_GUARD(x509_time_epoch(X509_get0_notAfter(ca.cert), &limit));
		if (ca.rec.n >= CA_CERTS_MAX)
			return kmc_detail(KMC_E_LIMIT, "CA %s issued %d "
				"certificates, the most one can", p->ca,
				CA_CERTS_MAX);
	}
	snprintf(what, sizeof(what), "CA %s's certificate", self ? "" : p->ca);
	plan.not_before = now - CA_BACKDATE;
	KMC_GUARD(certmake_end("--days", p->days, now, limit, what,
		&plan.not_after));
	snprintf(c.name, sizeof(c.name), "%s", p->name);
	r = bundle_without_cert(v, c.name);
	KMC_GUARD(r);
	if (r)
		return kmc_detail(KMC_E_EXISTS, "%s already holds %s, a key born "
			"without a certificate: kmc csr %s makes its request, kmc "
			"cert set %s takes the certificate", v->dir, c.name, c.name,
			c.name);
	r = import_bundle_exists(v, c.name);
	KMC_GUARD(r);
	if (r)
		return kmc_detail(KMC_E_EXISTS, "%s already holds %s", v->dir,
			c.name);
	if (p->trust_store) {
		trust_set *t = NULL;

		KMC_GUARD(trust_load(v, p->trust_store, &t));
		trust_set_free(t);
		snprintf(c.trust, sizeof(c.trust), "%s", p->trust_store);
	}
	ip.name = p->name;
	ip.keys_dir = p->keys_dir;
	ip.conf_file = p->conf_file;
	c.p = &ip;
	KMC_GUARD(import_check_keys_dir(&c, v));

	/* Every check passed: the key is born, the certificate signed. */
	KMC_GUARD(keygen_generate(type, &c.pkey));
	do
		certmake_serial(plan.serial);
	while (!self && ca_rec_find(&ca.rec, plan.serial, CA_SERIAL_MAX) >= 0);
	plan.serial_len = CA_SERIAL_MAX;
	plan.subject = subject;
	plan.san = san;
	plan.key = c.pkey;
	plan.issuer = self ? NULL : ca.cert;
	plan.issuer_key = self ? NULL : ca.key;
	plan.kind = (p->flags & KMC_ISSUE_SERVER) ? CA_KIND_SERVER :
		CA_KIND_CLIENT;
	KMC_GUARD(certmake_cert(&plan, &x));
	r = push_dup(&c.chain, x);
	if (r == 0)
		r = push_dup(&c.ca, self ? x : ca.cert);
	X509_free(x);
	KMC_GUARD(r);
	/* What an import would check, checked of what was just made. */
	snprintf(ca_show, sizeof(ca_show), "%s/cert", ca.item);
	files = (chain_files){ self ? p->name : ca_show, p->name, p->name,
		NULL };
	KMC_GUARD(chain_verify(&files, c.ca, c.chain, c.pkey, NULL));
	KMC_GUARD(import_make_password(&c.password));
	KMC_GUARD(keygen_pkcs8(c.pkey, &c.pkcs8));
	KMC_GUARD(certs_to_pem(c.ca, &c.copies[COPY_CA].p,
		&c.copies[COPY_CA].len));
	KMC_GUARD(certs_to_pem(c.chain, &c.copies[COPY_CERT].p,
		&c.copies[COPY_CERT].len));
	KMC_GUARD(key_to_encrypted_pem(c.pkey, c.password,
		&c.copies[COPY_KEY].p, &c.copies[COPY_KEY].len));
	if (p->conf_file)
		KMC_GUARD(import_build_conf(&c, v));
	if (!self) {
		memcpy(e.serial, plan.serial, CA_SERIAL_MAX);
		e.serial_len = CA_SERIAL_MAX;
		snprintf(e.name, sizeof(e.name), "%s", p->name);
		e.kind = (uint8_t)plan.kind;
		e.not_after = plan.not_after;
		KMC_GUARD(ca_rec_add(&ca.rec, &e));
		c.extra = note_serial;
		c.extra_arg = &ca;
	}
	KMC_GUARD(import_publish(&c, v));
	if (ret_serial)
		ca_serial_text(plan.serial, CA_SERIAL_MAX, ret_serial);
	return 0;
}
