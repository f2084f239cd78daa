/*
 * export.c - a vault key in the forms servers and Java ask for (PKCS#8
 * DER or PEM, encrypted or not, and a PKCS#12 keystore with its chain),
 * and a trust store as a PKCS#12 truststore Java reads.
 *
 * The password of an export comes from the caller or from a password
 * item; an item that does not exist yet is made first, holding a new
 * random password, and only then is the file written. A run cut off
 * between the two leaves the item alone, which the next export with the
 * same item takes again; never a file whose password is nowhere.
 *
 * PKCS#12, as OpenSSL 3 makes it by default: the key in a shrouded key
 * bag and the certificates in an encrypted safe, both PBES2 (AES-256-CBC,
 * PBKDF2 with HMAC-SHA256), and a MAC with SHA-256. The key's bag and its
 * certificate's share a localKeyID (Java pairs them by it) and carry the
 * alias as friendlyName. A truststore's certificate bags carry Oracle's
 * trusted-key-usage attribute (anyExtendedKeyUsage): without it Java
 * lists a certificate-only PKCS#12 as holding no entry at all.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>
#include "x509.h"
#include "trust.h"
#include "audit.h"
#include "tokenkey.h"

#define EXPORT_ITER 2048	/* PKCS12_DEFAULT_ITER, OpenSSL 3's own */
#define EXPORT_PASSWORD_LEN 32
/* Oracle's trusted key usage: what marks a trustedCertEntry for Java. */
#define JDK_TRUSTED_USAGE_OID "2.16.840.1.113894.746875.1.1"
#define KEYSTORE_ITEM "keystore-password"
#define TRUSTSTORE_ITEM "truststore-password"	/* in TRUST_STORE_PARTS */

static void bags_freep(STACK_OF(PKCS12_SAFEBAG) **s)
{
	sk_PKCS12_SAFEBAG_pop_free(*s, PKCS12_SAFEBAG_free);
}

static void safes_freep(STACK_OF(PKCS7) **s)
{
	sk_PKCS7_pop_free(*s, PKCS7_free);
}

/* Whether s is UTF-8 (as OpenSSL's friendlyName takes it) without C0
   controls or DEL, and of characters of the Basic Multilingual Plane:
   the friendlyName is a BMPString, which holds no other (an emoji made
   OpenSSL fail late, on "ASN1 lib", a password item already made). */
static int alias_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned long c = 0;
		int n = UTF8_getc(p, (int)strlen((const char *)p), &c);

		if (n <= 0 || c < 0x20 || c == 0x7f || c > 0xffff ||
		    (c >= 0xd800 && c <= 0xdfff))
			return 0;
		p += n;
	}
	return 1;
}

static int check_params(const kmc_export_params *p, int trust)
{
	if (!p || p->size < sizeof(*p))
		return kmc_detail(KMC_E_INVALID, "export: no parameters, or "
			"parameters of an older size");
	KMC_GUARD(vault_params_known(p, p->size, sizeof(*p),
		"kmc_export_params"));
	if (trust ? p->format != KMC_EXPORT_PEM &&
	    p->format != KMC_EXPORT_PKCS12 :
	    p->format < KMC_EXPORT_PKCS8_DER || p->format > KMC_EXPORT_PKCS12)
		return kmc_detail(KMC_E_INVALID, "export: unknown format %d",
			(int)p->format);
	/* A key: never more than the owner may write, nor others read.
	   Certificates only: others may read. */
	if (p->mode & ~(mode_t)(trust ? 0644 : 0640))
		return kmc_detail(KMC_E_INVALID, "export: mode %04o; at most "
			"%s", (unsigned)p->mode, trust ? "0644" : "0640 (owner "
			"read-write, group read)");
	if ((p->flags & KMC_EXPORT_NO_PASSWORD) &&
	    (p->password || p->password_item))
		return kmc_detail(KMC_E_INVALID, "export: a password and no "
			"password both given");
	if (p->password && p->password_item)
		return kmc_detail(KMC_E_INVALID, "export: a password and a "
			"password item both given");
	if ((p->flags & KMC_EXPORT_NO_PASSWORD) &&
	    p->format == KMC_EXPORT_PKCS12)
		return kmc_detail(KMC_E_INVALID, "export: a PKCS#12 store always "
			"has a password");
	if (p->alias && (!*p->alias || strlen(p->alias) > KMC_NAME_MAX))
		return kmc_detail(KMC_E_INVALID, "export: --alias %s: an alias "
			"has 1 to %d bytes", *p->alias ? "too long" : "empty",
			KMC_NAME_MAX);
	/* Checked here, not left to OpenSSL's friendlyName: by then a
	   password item may have been made for a keystore never written. */
	if (p->alias && !alias_text(p->alias))
		return kmc_detail(KMC_E_INVALID, "export: the alias is not UTF-8 "
			"text, or holds a control character or one beyond "
			"U+FFFF (an emoji), which a PKCS#12 alias cannot hold");
	return 0;
}

/* A password OpenSSL and Java both take: 1 to 100 bytes, no NUL. A
   PKCS#12 store's, printable ASCII too: Java derives its PBES2 keys
   through SunJCE's PBEKey, which refuses any other character ("Password
   is not ASCII"), so keytool and JSSE would call a store whose password
   holds an "é" or a tab one of a wrong password, though OpenSSL opens it. */
static int check_password(const kmc_secret *pw, const char *show, int java)
{
	const uint8_t *d = kmc_secret_data(pw);
	size_t n = kmc_secret_len(pw);

	if (n == 0)
		return kmc_detail(KMC_E_EMPTY, "%s is empty", show);
	if (n > KMC_KEY_PASSWORD_MAX)
		return kmc_detail(KMC_E_TOO_LARGE, "%s is %zu characters; at most "
			"%d are accepted", show, n, KMC_KEY_PASSWORD_MAX);
	if (memchr(d, '\0', n))
		return kmc_detail(KMC_E_INVALID, "%s holds a NUL byte", show);
	for (size_t i = 0; java && i < n; i++)
		if (d[i] < 0x20 || d[i] > 0x7e)
			return kmc_detail(KMC_E_INVALID, "%s holds a character "
				"other than printable ASCII, which Java cannot "
				"open a PKCS#12 store with", show);
	return 0;
}

/* The file the user named must not exist: checked before the vault is
   written, so that refusing it changes nothing. */
static int out_free(const char *out)
{
	char dir[PATH_MAX];
	const char *base, *slash;
	struct stat st;

	if (!out)
		return 0;
	if (!*out)
		return kmc_detail(KMC_E_INVALID, "export: an empty file name");
	if (lstat(out, &st) == 0)
		return kmc_detail(KMC_E_EXISTS, "%s exists; an export never "
			"overwrites a file", out);
	if (errno != ENOENT)
		return kmc_detail(-errno, "%s: %s", out, kmc_strerror(-errno));
	/* Its folder too: a password item made for a file that cannot be
	   written would be a change for nothing. */
	slash = strrchr(out, '/');
	base = slash ? slash + 1 : out;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if ((size_t)(slash - out) >= sizeof(dir))
		return kmc_detail(KMC_E_INVALID, "%s: path too long", out);
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == out ? 1 :
			(int)(slash - out), out);
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return kmc_detail(KMC_E_INVALID, "%s: not a file name", out);
	if (stat(dir, &st) < 0)
		return kmc_detail(-errno, "%s: its folder %s: %s", out, dir,
			kmc_strerror(-errno));
	if (!S_ISDIR(st.st_mode))
		return kmc_detail(-ENOTDIR, "%s: %s is not a folder", out, dir);
	KMC_GUARD(out_folder_check(out));
	if (access(dir, W_OK | X_OK) < 0)
		return kmc_detail(-errno, "%s: its folder %s: %s", out, dir,
			kmc_strerror(-errno));
	return 0;
}

/* The password of item, or a new one stored there first. */
static int password_from_item(kmc_vault *v, const char *item, int java,
	kmc_secret **ret, int *ret_made)
{
	_cleanup_(kmc_secret_freep) kmc_secret *pw = NULL;
	char show[KMC_NAME_MAX + 32];
	uint8_t raw[24];
	KMC_CLEANUP_ERASE(raw);
	int r;

	snprintf(show, sizeof(show), "the password in item %s", item);
	r = kmc_item_get(v, item, KMC_ITEM_PASSWORD, &pw);
	if (r == 0) {
		KMC_GUARD(check_password(pw, show, java));
		*ret = TAKE_PTR(pw);
		return 0;
	}
	if (r == KMC_E_TYPE)
		return kmc_detail(r, "item %s is not a password", item);
	if (r != KMC_E_NOT_FOUND)
		return r;
	kmc_detail_clear();
	KMC_GUARD(kmc_secret_new(EXPORT_PASSWORD_LEN, &pw));
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64((char *)kmc_secret_data(pw), EXPORT_PASSWORD_LEN + 1,
		raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	r = kmc_item_put(v, item, KMC_ITEM_PASSWORD, kmc_secret_data(pw),
		kmc_secret_len(pw));
	if (r == KMC_E_READONLY)
		return kmc_detail(r, "item %s does not exist, and a new password "
			"needs the vault open for writing", item);
	KMC_GUARD(r);
	*ret_made = 1;
	*ret = TAKE_PTR(pw);
	return 0;
}

/* The export's password as a C string in guarded memory; *ret NULL for
   none. def: the item a PKCS#12 store's password is kept in when the
   caller named none. */
static int export_password(kmc_vault *v, const kmc_export_params *p,
	const char *def, kmc_secret **ret, int *ret_made)
{
	_cleanup_(kmc_secret_freep) kmc_secret *pw = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *z = NULL;
	const char *item = p->password_item;
	int java = p->format == KMC_EXPORT_PKCS12;

	*ret = NULL;
	if (p->flags & KMC_EXPORT_NO_PASSWORD)
		return 0;
	if (p->password) {
		KMC_GUARD(check_password(p->password, "the password", java));
		KMC_GUARD(kmc_secret_dup(kmc_secret_data(p->password),
			kmc_secret_len(p->password), &pw));
	} else {
		if (!item && p->format == KMC_EXPORT_PKCS12)
			item = def;
		if (!item)
			return kmc_detail(KMC_E_INVALID, "export: PKCS#8 needs a "
				"password, a password item, or no password asked "
				"for");
		KMC_GUARD(vault_name_guard(item));
		KMC_GUARD(password_from_item(v, item, java, &pw, ret_made));
	}
	KMC_GUARD(kmc_secret_new(kmc_secret_len(pw) + 1, &z));
	memcpy(kmc_secret_data(z), kmc_secret_data(pw), kmc_secret_len(pw));
	kmc_secret_data(z)[kmc_secret_len(pw)] = '\0';
	*ret = TAKE_PTR(z);
	return 0;
}

/* OpenSSL's output (ciphertext, yet wiped all the same) into guarded
   memory. */
static int take_ossl(unsigned char *buf, size_t len, kmc_secret **ret)
{
	int r = buf ? kmc_secret_dup(buf, len, ret) : KMC_E_NOMEM;

	OPENSSL_clear_free(buf, len);
	return r;
}

static int ossl_failed(const char *what)
{
	if (ossl_nomem())
		return KMC_E_NOMEM;
	return kmc_detail(KMC_E_NOMEM, "%s failed: %s", what, ossl_reason());
}

/* PKCS#8, encrypted with PBES2 (AES-256-CBC, PBKDF2) under pw. */
static int pkcs8_encrypted(EVP_PKEY *k, int pem, const kmc_secret *pw,
	kmc_secret **ret)
{
	OSSL_ENCODER_CTX *ectx;
	unsigned char *buf = NULL;
	size_t len = 0;
	int ok;

	ERR_clear_error();
	ectx = OSSL_ENCODER_CTX_new_for_pkey(k, EVP_PKEY_KEYPAIR,
		pem ? "PEM" : "DER", "PrivateKeyInfo", NULL);
	KMC_ENSURE(ectx, KMC_E_NOMEM);
	ok = OSSL_ENCODER_CTX_set_cipher(ectx, "AES-256-CBC", NULL) &&
		OSSL_ENCODER_CTX_set_passphrase(ectx, kmc_secret_data(pw),
			kmc_secret_len(pw) - 1) &&
		OSSL_ENCODER_to_data(ectx, &buf, &len);
	OSSL_ENCODER_CTX_free(ectx);
	if (!ok) {
		OPENSSL_clear_free(buf, len);
		return ossl_failed("encrypting the key (AES-256-CBC)");
	}
	return take_ossl(buf, len, ret);
}

/* Wrap bags into an encrypted safe and the safes into a PKCS#12 with its
   MAC, DER into *ret. */
static int p12_finish(STACK_OF(PKCS7) **safes, STACK_OF(PKCS12_SAFEBAG) *certs,
	const char *pass, kmc_secret **ret)
{
	PKCS12 *p12;
	unsigned char *der = NULL;
	int len;

	if (!PKCS12_add_safe_ex(safes, certs, NID_aes_256_cbc, EXPORT_ITER,
			pass, NULL, NULL))
		return ossl_failed("encrypting the certificates");
	p12 = PKCS12_add_safes_ex(*safes, 0, NULL, NULL);
	if (!p12)
		return ossl_failed("building the PKCS#12");
	if (!PKCS12_set_mac(p12, pass, -1, NULL, 0, EXPORT_ITER, EVP_sha256())) {
		PKCS12_free(p12);
		return ossl_failed("the PKCS#12 MAC");
	}
	len = i2d_PKCS12(p12, &der);
	PKCS12_free(p12);
	if (len <= 0)
		return ossl_failed("encoding the PKCS#12");
	return take_ossl(der, (size_t)len, ret);
}

/* A certificate bag for x under alias (NULL: none). */
static PKCS12_SAFEBAG *cert_bag(STACK_OF(PKCS12_SAFEBAG) **bags, X509 *x,
	const char *alias)
{
	PKCS12_SAFEBAG *bag = PKCS12_add_cert(bags, x);

	if (bag && alias && !PKCS12_add_friendlyname_utf8(bag, alias, -1))
		return NULL;
	return bag;
}

/* The key and the chain: leaf, intermediates, then the CA certificates
   that are not already there. */
static int make_keystore(EVP_PKEY *k, STACK_OF(X509) *chain, STACK_OF(X509) *cas,
	const char *alias, const char *pass, kmc_secret **ret)
{
	_cleanup_(bags_freep) STACK_OF(PKCS12_SAFEBAG) *certs = NULL;
	_cleanup_(bags_freep) STACK_OF(PKCS12_SAFEBAG) *keys = NULL;
	_cleanup_(safes_freep) STACK_OF(PKCS7) *safes = NULL;
	unsigned char id[EVP_MAX_MD_SIZE];
	unsigned id_len = 0;
	PKCS12_SAFEBAG *bag;
	X509 *leaf = sk_X509_value(chain, 0);

	ERR_clear_error();
	if (!X509_digest(leaf, EVP_sha256(), id, &id_len))
		return ossl_failed("the certificate's digest");
	bag = cert_bag(&certs, leaf, alias);
	if (!bag || !PKCS12_add_localkeyid(bag, id, (int)id_len))
		return ossl_failed("the certificate's bag");
	for (int i = 1; i < sk_X509_num(chain); i++)
		if (!cert_bag(&certs, sk_X509_value(chain, i), NULL))
			return ossl_failed("a chain certificate's bag");
	for (int i = 0; cas && i < sk_X509_num(cas); i++) {
		X509 *c = sk_X509_value(cas, i);
		int seen = 0;

		for (int j = 0; j < sk_X509_num(chain); j++)
			seen |= X509_cmp(c, sk_X509_value(chain, j)) == 0;
		if (!seen && !cert_bag(&certs, c, NULL))
			return ossl_failed("a CA certificate's bag");
	}
	bag = PKCS12_add_key_ex(&keys, k, 0, EXPORT_ITER, NID_aes_256_cbc,
		pass, NULL, NULL);
	if (!bag || !PKCS12_add_localkeyid(bag, id, (int)id_len) ||
	    !PKCS12_add_friendlyname_utf8(bag, alias, -1))
		return ossl_failed("encrypting the key");
	/* The key's bag is shrouded already: its safe is plain data. */
	if (!PKCS12_add_safe_ex(&safes, keys, -1, 0, NULL, NULL, NULL))
		return ossl_failed("the key's safe");
	return p12_finish(&safes, certs, pass, ret);
}

/* What export needs of bundle name, read before anything is written. */
typedef struct export_src {
	EVP_PKEY *k;
	STACK_OF(X509) *chain, *cas;
} export_src;

static void export_src_clear(export_src *s)
{
	EVP_PKEY_free(s->k);
	sk_X509_pop_free(s->chain, X509_free);
	sk_X509_pop_free(s->cas, X509_free);
}

static int export_load(kmc_vault *v, const char *name, int certs,
	export_src *s)
{
	_cleanup_(kmc_secret_freep) kmc_secret *der = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *cert = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *ca = NULL;
	int r;

	if (strlen(name) > KMC_BUNDLE_NAME_MAX || kmc_name_check(name) < 0)
		return kmc_detail(KMC_E_NAME, "bundle name \"%.*s\" is not 1 to "
			"%d of [A-Za-z0-9._@:/+-]", KMC_BUNDLE_NAME_MAX + 1, name,
			KMC_BUNDLE_NAME_MAX);
	r = vault_part_get(v, name, "key", KMC_ITEM_PRIVATE_KEY, &der);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "%s holds no key %s (no item %s/key)",
			v->dir, name, name);
	KMC_GUARD(token_key_refused(v, name, "exported", r));
	r = key_from_pkcs8(der, &s->k);
	if (r == KMC_E_CORRUPT)
		return kmc_detail(r, "item %s/key: not a PKCS#8 private key",
			name);
	KMC_GUARD(r);
	if (!certs)
		return 0;
	r = vault_part_get(v, name, "cert", KMC_ITEM_CERTIFICATE, &cert);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "key %s has no certificate yet (kmc csr, "
			"then kmc cert set): a PKCS#12 keystore needs one", name);
	KMC_GUARD(r);
	KMC_GUARD(certs_parse(name, kmc_secret_data(cert),
		kmc_secret_len(cert), &s->chain));
	/* Before any write: a keystore of a key and another's certificate
	   would make a password item for nothing. */
	r = cert_key_matches(sk_X509_value(s->chain, 0), s->k);
	if (r != 1)
		return r < 0 ? r : kmc_detail(KMC_E_VERIFY, "item %s/cert: its "
			"certificate is not the key's", name);
	r = vault_part_get(v, name, "ca", KMC_ITEM_CERTIFICATE, &ca);
	if (r == KMC_E_NOT_FOUND)
		return 0;
	KMC_GUARD(r);
	return certs_parse(name, kmc_secret_data(ca), kmc_secret_len(ca),
		&s->cas);
}

typedef struct export_job {
	const char *name;
	int certs;
	export_src s;
} export_job;

static int export_read(kmc_vault *v, void *arg)
{
	export_job *j = arg;

	return export_load(v, j->name, j->certs, &j->s);
}

static void export_undo(void *arg)
{
	export_job *j = arg;

	export_src_clear(&j->s);
	j->s = (export_src){ 0 };
}

static int export_write(const kmc_export_params *p, kmc_secret **data,
	mode_t def_mode, kmc_secret **ret)
{
	if (p->out)
		KMC_GUARD(kmc_file_write_new(p->out, kmc_secret_data(*data),
			kmc_secret_len(*data), p->mode ? p->mode : def_mode));
	if (ret)
		*ret = TAKE_PTR(*data);
	return 0;
}

int kmc_export(kmc_vault *v, const char *name, const kmc_export_params *p,
	kmc_secret **ret, int *ret_made)
{
	AUDIT_OP(v, "kmc_export");
	_cleanup_(kmc_secret_freep) kmc_secret *pw = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *out = NULL;
	char def[KMC_NAME_MAX + 64];
	export_job job = { name, 0, { 0 } };
	export_src s = { 0 };
	int made = 0, r;

	kmc_detail_clear();
	KMC_GUARD(check_params(p, 0));
	KMC_ENSURE(p->out || ret, KMC_E_INVALID);
	job.certs = p->format == KMC_EXPORT_PKCS12;
	/* The key, certificate and CA of one version of the bundle: a
	   keystore made during a rotation pairs no key with the next
	   version's certificate. */
	r = vault_read_one_version(v, name, export_read, export_undo, &job);
	s = job.s;
	if (r == 0)
		r = out_free(p->out);
	snprintf(def, sizeof(def), "%s/%s", name, KEYSTORE_ITEM);
	/* The default item, by name here or from a caller that spelled it
	   out (the CLI does, to name it in its notes): past KMC_NAME_MAX
	   for a bundle name of over 110 bytes. */
	if (r == 0 && !p->password && p->format == KMC_EXPORT_PKCS12 &&
	    (!p->password_item || !strcmp(p->password_item, def)) &&
	    kmc_name_check(def) < 0)
		r = kmc_detail(KMC_E_NAME, "%s/%s, the item that keeps the "
			"keystore's password, would be %zu bytes, more than the "
			"%d of an item name: name another item for it "
			"(--password-item ITEM) or give the password "
			"(--password-file FILE)", name, KEYSTORE_ITEM,
			strlen(def), KMC_NAME_MAX);
	if (r == 0)
		r = export_password(v, p, def, &pw, &made);
	if (r == 0 && p->format == KMC_EXPORT_PKCS12)
		r = make_keystore(s.k, s.chain, s.cas, p->alias ? p->alias : name,
			(const char *)kmc_secret_data(pw), &out);
	else if (r == 0 && pw)
		r = pkcs8_encrypted(s.k, p->format == KMC_EXPORT_PKCS8_PEM, pw,
			&out);
	else if (r == 0)
		r = kmc_key_export(v, name, p->format == KMC_EXPORT_PKCS8_PEM ?
			KMC_FORMAT_PEM : KMC_FORMAT_DER, &out);
	export_src_clear(&s);
	if (r == 0)
		r = export_write(p, &out, 0600, ret);
	/* The item made stays: a second try takes the same password. */
	if (ret_made)
		*ret_made = made;
	return r;
}

/* Java lowers the case of a PKCS#12 alias, and of two that differ only
   in case keeps one: its truststore would silently trust one CA less. */
static int aliases_distinct(const trust_set *t, const char *sname)
{
	for (size_t i = 0; i < t->n; i++)
		for (size_t j = i + 1; j < t->n; j++)
			if (!strcasecmp(t->c[i].alias, t->c[j].alias))
				return kmc_detail(KMC_E_EXISTS, "trust store %s: "
					"aliases %s and %s differ only in case, "
					"and Java, which lowers an alias's case, "
					"would keep one of the two; rename one "
					"(kmc trust rm, kmc trust add)", sname,
					t->c[i].alias, t->c[j].alias);
	return 0;
}

/* A certificate-only PKCS#12 of store t: one trusted bag an alias. */
static int make_truststore(const trust_set *t, const char *pass, kmc_secret **ret)
{
	_cleanup_(bags_freep) STACK_OF(PKCS12_SAFEBAG) *certs = NULL;
	_cleanup_(safes_freep) STACK_OF(PKCS7) *safes = NULL;
	ASN1_OBJECT *any = OBJ_nid2obj(NID_anyExtendedKeyUsage);

	ERR_clear_error();
	KMC_ENSURE(any, KMC_E_NOMEM);
	for (size_t i = 0; i < t->n; i++) {
		PKCS12_SAFEBAG *bag = cert_bag(&certs, t->c[i].x,
			t->c[i].alias);

		if (!bag || !PKCS12_add1_attr_by_txt(bag, JDK_TRUSTED_USAGE_OID,
				V_ASN1_OBJECT, (const unsigned char *)any, -1))
			return ossl_failed("a trusted certificate's bag");
	}
	return p12_finish(&safes, certs, pass, ret);
}

int kmc_trust_export(kmc_vault *v, const char *sname_in,
	const kmc_export_params *p, kmc_secret **ret, int *ret_made)
{
	AUDIT_OP(v, "kmc_trust_export");
	_cleanup_(kmc_secret_freep) kmc_secret *pw = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *out = NULL;
	char def[KMC_NAME_MAX + 1];
	const char *sname = sname_in ? sname_in : KMC_TRUST_DEFAULT;
	trust_set *t = NULL;
	char *pem = NULL;
	size_t len = 0;
	int made = 0, r;

	kmc_detail_clear();
	KMC_GUARD(check_params(p, 1));
	KMC_ENSURE(p->out || ret, KMC_E_INVALID);
	if (p->format == KMC_EXPORT_PEM &&
	    (p->password || p->password_item ||
	     (p->flags & KMC_EXPORT_NO_PASSWORD)))
		return kmc_detail(KMC_E_INVALID, "trust export: PEM has no "
			"password");
	if (trust_name_check(sname, 0) < 0)
		return kmc_detail(KMC_E_NAME, "trust store name \"%.*s\" is not "
			"1 to %d of [A-Za-z0-9._-]", KMC_TRUST_NAME_MAX + 1, sname,
			KMC_TRUST_NAME_MAX);
	r = trust_load(v, sname, &t);
	/* A truststore without an entry is of no use to Java; a PEM file
	   of none is what a sync file of an empty store holds too. */
	if (r == 0 && t->n == 0 && p->format == KMC_EXPORT_PKCS12)
		r = kmc_detail(KMC_E_NOT_FOUND, "trust store %s holds no "
			"certificate to put in a truststore", sname);
	if (r == 0 && p->format == KMC_EXPORT_PKCS12)
		r = aliases_distinct(t, sname);
	if (r == 0)
		r = out_free(p->out);
	snprintf(def, sizeof(def), "%s%s/%s", TRUST_ITEM_PREFIX, sname,
		TRUSTSTORE_ITEM);
	if (r == 0 && p->format == KMC_EXPORT_PKCS12)
		r = export_password(v, p, def, &pw, &made);
	if (r == 0 && p->format == KMC_EXPORT_PKCS12)
		r = make_truststore(t, (const char *)kmc_secret_data(pw), &out);
	else if (r == 0 && (r = trust_to_pem(t, &pem, &len)) == 0) {
		r = kmc_secret_dup(pem, len, &out);
		free(pem);
	}
	trust_set_free(t);
	/* Certificates only: public, 0644 unless asked otherwise. */
	if (r == 0)
		r = export_write(p, &out, 0644, ret);
	if (ret_made)
		*ret_made = made;
	return r;
}
