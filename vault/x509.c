/*
 * x509.c - reading what an import takes: certificates, a CRL; OpenSSL's
 * error queue (ossl_nomem()); PEM out. Verifying a chain and a CRL is in
 * vault/chainverify.c, private keys in vault/pkey.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/proverr.h>
#include <openssl/x509v3.h>
#include "x509.h"
#include "../safeio/fileio.h"

/* OpenSSL's error queue holds 16 entries (ERR_NUM_ERRORS, which its
   headers hide where deprecated names are). */
#define OSSL_QUEUE_MAX 16

static int is_nomem(unsigned long e)
{
	if (ERR_SYSTEM_ERROR(e))
		return ERR_GET_REASON(e) == ENOMEM;
	return ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE;
}

/* Whether an allocation failure is anywhere in OpenSSL's error queue:
 * then the input is not at fault and must not be blamed. Not only the
 * newest: OpenSSL queues the allocation's failure first and then the
 * failures of each caller up the stack ("nested asn1 error", "unsupported",
 * "bad decrypt"), the last of which names no allocation at all.
 *
 * OpenSSL offers no way to look at the queue but to take each entry off:
 * they are taken off and put back as they were (library, reason, data,
 * where raised), so ossl_reason() and the callers that read the queue
 * after this see what they would have. */
int ossl_nomem(void)
{
	struct {
		unsigned long e;
		const char *file, *func;
		int line, has_data;
		char data[256];
	} q[OSSL_QUEUE_MAX];
	const char *file, *func, *data;
	unsigned long e;
	int n = 0, line, flags, nomem = 0;

	while ((e = ERR_get_error_all(&file, &line, &func, &data,
			&flags)) != 0) {
		nomem |= is_nomem(e);
		if (n == OSSL_QUEUE_MAX)
			continue;	/* more than the queue holds: cannot be */
		q[n].e = e;
		q[n].file = file;
		q[n].func = func;
		q[n].line = line;
		q[n].has_data = data && (flags & ERR_TXT_STRING);
		snprintf(q[n].data, sizeof(q[n].data), "%s",
			q[n].has_data ? data : "");
		n++;
	}
	for (int i = 0; i < n; i++) {
		ERR_new();
		ERR_set_debug(q[i].file, q[i].line, q[i].func);
		if (q[i].has_data)
			ERR_set_error(ERR_GET_LIB(q[i].e), ERR_GET_REASON(q[i].e),
				"%s", q[i].data);
		else
			ERR_set_error(ERR_GET_LIB(q[i].e), ERR_GET_REASON(q[i].e),
				NULL);
	}
	return nomem;
}

#define NOMEM_OR(show, r) \
	(ossl_nomem() ? kmc_detail(KMC_E_NOMEM, "%s: out of memory while "\
		"checking it", (show)) : (r))

/* Whether OpenSSL's error queue is lost to this thread: its memory is
 * allocated at the first error of a thread, and when that fails every
 * error after is dropped, so a failure then is seen with nothing queued
 * (as some failures of bad input are too: a PEM armour with nothing in
 * it). An error raised to try it is taken off again. */
static int ossl_errors_lost(void)
{
	int lost;

	ERR_set_mark();
	ERR_raise(ERR_LIB_USER, ERR_R_INTERNAL_ERROR);
	lost = ERR_peek_last_error() == 0;
	ERR_pop_to_mark();
	return lost;
}

int ossl_verify_failed_run(void)
{
	unsigned long first = ERR_peek_error();
	int lib = ERR_GET_LIB(first);

	if (ossl_nomem())
		return 1;
	if (first == 0)
		return ossl_errors_lost();
	return lib == ERR_LIB_EVP || lib == ERR_LIB_CRYPTO ||
		ERR_GET_REASON(first) == ERR_R_INTERNAL_ERROR;
}

/* OpenSSL failed with nothing queued, and could queue nothing: not the
 * input's fault. */
#define NO_TRACE_OR(show, r) \
	(ERR_peek_last_error() == 0 && ossl_errors_lost() ? kmc_detail( \
		KMC_E_NOMEM, "%s: out of memory while reading it (OpenSSL " \
		"could not record its errors)", (show)) : (r))

/* A date OpenSSL's comparison refused: what it holds (x509_time_text())
   and the forms RFC 5280 allows. */
void x509_time_text(const ASN1_TIME *t, char *buf, size_t size)
{
	const unsigned char *d = t ? ASN1_STRING_get0_data(t) : NULL;
	int len = t ? ASN1_STRING_length(t) : 0;
	int type = t ? ASN1_STRING_type(t) : 0;
	char text[48];
	int n = 0;

	for (; d && n < len && n < 40; n++)
		text[n] = d[n] >= 0x20 && d[n] < 0x7f && d[n] != '"' ?
			(char)d[n] : '?';
	text[n] = '\0';
	snprintf(buf, size, "%s \"%s%s\"", type == V_ASN1_UTCTIME ?
		"UTCTime" : type == V_ASN1_GENERALIZEDTIME ? "GeneralizedTime" :
		"not a time type", text, len > 40 ? "..." : "");
}

static int time_fault(const ASN1_TIME *t, const char *show,
	const char *field)
{
	char text[80];

	x509_time_text(t, text, sizeof(text));
	return kmc_detail(KMC_E_VERIFY, "%s: its %s date (%s) is not one "
		"RFC 5280 allows: UTCTime YYMMDDHHMMSSZ or GeneralizedTime "
		"YYYYMMDDHHMMSSZ, in UTC to the whole second, with no "
		"fraction, offset or leap second", show, field, text);
}

int time_cmp_now(const ASN1_TIME *t, const char *show, const char *field,
	int *ret)
{
	int cmp;

	ERR_clear_error();
	cmp = X509_cmp_current_time(t);
	if (cmp == 0 && (ossl_nomem() || ossl_errors_lost())) {
		ERR_clear_error();
		return KMC_E_NOMEM;
	}
	ERR_clear_error();
	/* 0 is OpenSSL's failure: a date not in the one form DER allows
	   (a second 60, a fraction, an offset, UTCTime without seconds).
	   It is neither past nor to come, and must not read as either. */
	if (cmp == 0)
		return time_fault(t, show, field);
	*ret = cmp;
	return 0;
}

const char *ossl_reason(void)
{
	static _Thread_local char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return "no further detail from OpenSSL";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

/* ---------------------------------------------------------------- */
/* Inputs                                                            */

int input_read(const char *path, input_kind kind, uint8_t **ret,
	size_t *ret_len, kmc_secret **ret_secret)
{
	_cleanup_(kmc_closep) int fd = -1;
	size_t max = kind == INPUT_KEY ? KEY_FILE_MAX : X509_FILE_MAX;
	struct stat st;
	size_t len;
	int r;

	if (!path[0])
		return kmc_detail(KMC_E_INVALID, "an empty file name was given "
			"for a %s", kind == INPUT_KEY ? "key" : kind == INPUT_CRL ?
			"CRL" : "certificate");
	fd = kmc_open_no_links(path);
	if (fd < 0) {
		if (errno == ELOOP)
			return kmc_detail(KMC_E_PERM, "%s is reached through a "
				"symbolic link; give the real path", path);
		r = -errno;
		if (r == -EACCES)	/* whose file, or which folder */
			return kmc_denied_at(AT_FDCWD, path, path);
		return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
	}
	if (!S_ISREG(st.st_mode))
		return kmc_detail(KMC_E_PERM, "%s is not a regular file", path);
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return kmc_detail(KMC_E_PERM, "%s is owned by uid %u, neither "
			"you (uid %u) nor root", path, (unsigned)st.st_uid,
			(unsigned)geteuid());
	if (kind == INPUT_KEY && (st.st_mode & 07137))
		return kmc_detail(KMC_E_PERM, "%s has mode %04o; a private key "
			"may be at most 0640 (chmod 600 %s)", path,
			(unsigned)(st.st_mode & 07777), path);
	if (st.st_size == 0)
		return kmc_detail(KMC_E_EMPTY, "%s is empty", path);
	if ((uint64_t)st.st_size > max)
		return kmc_detail(KMC_E_TOO_LARGE, "%s is larger than %zu bytes",
			path, max);
	if (kind == INPUT_KEY) {
		_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;

		KMC_GUARD(kmc_secret_new(max, &s));
		r = kmc_read_all(fd, kmc_secret_data(s), max, &len);
		if (r == 0)
			r = kmc_secret_shrink(s, len);
		if (r < 0)
			return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
		if (len == 0)
			return kmc_detail(KMC_E_EMPTY, "%s is empty", path);
		*ret_secret = TAKE_PTR(s);
		return 0;
	} else {
		_cleanup_(freep) uint8_t *buf = malloc(max);

		KMC_ENSURE(buf, KMC_E_NOMEM);
		r = kmc_read_all(fd, buf, max, &len);
		if (r < 0)
			return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
		if (len == 0)
			return kmc_detail(KMC_E_EMPTY, "%s is empty", path);
		*ret = TAKE_PTR(buf);
		*ret_len = len;
		return 0;
	}
}

int looks_pem(const uint8_t *data, size_t len)
{
	static const char tag[] = "-----BEGIN ";

	return len >= sizeof(tag) - 1 &&
		memmem(data, len, tag, sizeof(tag) - 1) != NULL;
}

/* Every "-----BEGIN" must have given an object: text around is fine. */
static int pem_all_used(const char *show, const uint8_t *data, size_t len,
	int objects)
{
	const uint8_t *p = data, *end = data + len;
	int begins = 0;

	while (p < end) {
		const uint8_t *q = memmem(p, (size_t)(end - p), "-----BEGIN", 10);

		if (!q)
			break;
		begins++;
		p = q + 10;
	}
	if (begins != objects)
		return kmc_detail(KMC_E_CORRUPT, "%s: %d PEM blocks but %d "
			"certificates: truncated, or holding something else", show,
			begins, objects);
	return 0;
}

static void sk_X509_pop_freep(STACK_OF(X509) **s)
{
	sk_X509_pop_free(*s, X509_free);
}

/* The label of data's first whole "-----BEGIN LABEL-----" line into
   buf, 0; -1 when there is none. */
static int pem_label(const uint8_t *data, size_t len, char *buf, size_t size)
{
	static const char tag[] = "-----BEGIN ";
	const uint8_t *p = memmem(data, len, tag, sizeof(tag) - 1);
	size_t n = 0;

	if (!p)
		return -1;
	p += sizeof(tag) - 1;
	while (p + n < data + len && n + 1 < size &&
	       ((p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9') ||
		p[n] == ' '))
		n++;
	if (n == 0 || (size_t)(data + len - (p + n)) < 5 ||
	    memcmp(p + n, "-----", 5) != 0)
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

/* PEM with no certificate (crl: no CRL) in it: what it holds instead,
   when its armour says, rather than "damaged" of a file that is whole (a
   PKCS#7 bundle of a Windows CA, a key or CA certificate given for the
   wrong option). */
static int pem_not_cert(const char *show, const uint8_t *data, size_t len,
	int crl)
{
	char label[65];

	if (pem_label(data, len, label, sizeof(label)) < 0)
		return 0;
	if (crl ? !strcmp(label, "X509 CRL") : !strcmp(label, "CERTIFICATE") ||
	    !strcmp(label, "X509 CERTIFICATE"))
		return 0;
	return kmc_detail(KMC_E_CORRUPT, "%s holds no %s but a PEM %s%s", show,
		crl ? "CRL" : "certificate", label, crl ? "" :
		!strcmp(label, "PKCS7") ? " (a certificate bundle: "
		"openssl pkcs7 -print_certs -in it writes its certificates as "
		"PEM)" : !strcmp(label, "TRUSTED CERTIFICATE") ? " (openssl x509 "
		"-in it writes it as a plain certificate)" : "");
}

/* One read of data: certs_parse's, but for its second try. */
static int certs_read(const char *show, const uint8_t *data, size_t len,
	STACK_OF(X509) **ret)
{
	_cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *bio;

	KMC_ENSURE(certs, KMC_E_NOMEM);
	KMC_ENSURE(len <= INT32_MAX, KMC_E_TOO_LARGE);
	ERR_clear_error();
	if (looks_pem(data, len)) {
		bio = BIO_new_mem_buf(data, (int)len);
		KMC_ENSURE(bio, KMC_E_NOMEM);
		for (;;) {
			X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

			if (!x)
				break;
			if (!sk_X509_push(certs, x)) {
				X509_free(x);
				BIO_free(bio);
				return KMC_E_NOMEM;
			}
		}
		BIO_free(bio);
		/* The loop ends at "no start line" when all went well. */
		if (ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE &&
		    sk_X509_num(certs) == 0)
			KMC_GUARD(NOMEM_OR(show, pem_not_cert(show, data, len,
				0)));
		if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE ||
		    sk_X509_num(certs) == 0)
			return NO_TRACE_OR(show, NOMEM_OR(show, kmc_detail(
				KMC_E_CORRUPT, "%s: truncated or damaged PEM "
				"certificate (%s)", show, ossl_reason())));
		ERR_clear_error();
		/* OpenSSL reads a cut "-----BEGIN" line as mere text and stops:
		   every armour must have given a certificate. */
		KMC_GUARD(pem_all_used(show, data, len, sk_X509_num(certs)));
	} else {
		const unsigned char *p = data;
		X509 *x = d2i_X509(NULL, &p, (long)len);

		if (!x)
			return NO_TRACE_OR(show, NOMEM_OR(show, kmc_detail(
				KMC_E_CORRUPT, "%s: not a certificate (neither PEM "
				"nor DER)", show)));
		if (p != data + len) {
			X509_free(x);
			return kmc_detail(KMC_E_CORRUPT, "%s: bytes after the DER "
				"certificate", show);
		}
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			return KMC_E_NOMEM;
		}
	}
	*ret = TAKE_PTR(certs);
	return 0;
}

int certs_parse(const char *show, const uint8_t *data, size_t len,
	STACK_OF(X509) **ret)
{
	int r = certs_read(show, data, len, ret);

	/* Some allocation failures inside OpenSSL leave no trace the reader
	   sees (NO_TRACE_OR's), and the failure that follows looks like
	   damage: the same bytes read again fail again only if they are at
	   fault. (The vault's own certificates are read here too, and
	   damage there is exit 4: restore from a backup.) */
	if (r == KMC_E_CORRUPT) {
		r = certs_read(show, data, len, ret);
		if (r == 0)
			kmc_detail_clear();
	}
	return r;
}

/* One read of data: crl_parse's, but for its second try. */
static int crl_read(const char *show, const uint8_t *data, size_t len,
	X509_CRL **ret)
{
	X509_CRL *crl = NULL;

	KMC_ENSURE(len <= INT32_MAX, KMC_E_TOO_LARGE);
	ERR_clear_error();
	if (looks_pem(data, len)) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);

		KMC_ENSURE(bio, KMC_E_NOMEM);
		crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		BIO_free(bio);
		if (!crl && ERR_GET_REASON(ERR_peek_last_error()) ==
		    PEM_R_NO_START_LINE)
			KMC_GUARD(NOMEM_OR(show, pem_not_cert(show, data, len,
				1)));
		if (!crl)
			return NO_TRACE_OR(show, NOMEM_OR(show, kmc_detail(
				KMC_E_CORRUPT, "%s: truncated or damaged PEM CRL "
				"(%s)", show, ossl_reason())));
	} else {
		const unsigned char *p = data;

		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (!crl)
			return NO_TRACE_OR(show, NOMEM_OR(show, kmc_detail(
				KMC_E_CORRUPT, "%s: not a CRL (neither PEM nor "
				"DER)", show)));
		if (p != data + len) {
			X509_CRL_free(crl);
			return kmc_detail(KMC_E_CORRUPT, "%s: bytes after the DER "
				"CRL", show);
		}
	}
	*ret = crl;
	return 0;
}

int crl_parse(const char *show, const uint8_t *data, size_t len,
	X509_CRL **ret)
{
	int r = crl_read(show, data, len, ret);

	/* As certs_parse: the vault's own CRL items are read here too. */
	if (r == KMC_E_CORRUPT) {
		r = crl_read(show, data, len, ret);
		if (r == 0)
			kmc_detail_clear();
	}
	return r;
}

int crl_file_parse(const char *show, const uint8_t *data, size_t len,
	X509_CRL **ret)
{
	const uint8_t *p = data, *end = data + len;
	int begins = 0;

	KMC_GUARD(crl_parse(show, data, len, ret));
	if (!looks_pem(data, len))
		return 0;	/* DER: crl_read refused bytes after it */
	while ((p = memmem(p, (size_t)(end - p), "-----BEGIN", 10))) {
		begins++;
		p += 10;
	}
	if (begins == 1)
		return 0;
	X509_CRL_free(*ret);
	*ret = NULL;
	return kmc_detail(KMC_E_CORRUPT, "%s: %d PEM blocks, and a CRL file "
		"holds the one CRL: a second CRL, one cut short or something "
		"else (servers would read every block, and only the first was "
		"checked)", show, begins);
}

/* ---------------------------------------------------------------- */
/* Fields                                                            */

int x509_time_epoch(const ASN1_TIME *t, int64_t *ret)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return KMC_E_CORRUPT;
	*ret = (int64_t)timegm(&tm);
	return 0;
}

/* The name as RFC 2253 text under flags, cut at a character into buf. */
static int name_print(const X509_NAME *name, unsigned long flags, char *buf,
	size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;

	KMC_ENSURE(bio, KMC_E_NOMEM);
	if (X509_NAME_print_ex(bio, name, 0, flags) < 0) {
		BIO_free(bio);
		return ossl_nomem() ? KMC_E_NOMEM : KMC_E_CORRUPT;
	}
	n = BIO_get_mem_data(bio, &p);
	n = n > 0 && n < INT32_MAX ? n : 0;
	if ((size_t)n < size) {
		snprintf(buf, size, "%.*s", (int)n, p);
		BIO_free(bio);
		return 0;
	}
	/* Cut, and saying so with "...": a name cut short must not read
	   as another whole one. Never half a UTF-8 character at the cut. */
	n = size > 4 ? (long)size - 4 : 0;
	while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
		n--;
	snprintf(buf, size, "%.*s...", (int)n, p);
	BIO_free(bio);
	return 0;
}

int x509_name_text(const X509_NAME *name, char *buf, size_t size)
{
	int r;

	/* Characters above ASCII as UTF-8, as openssl x509 -nameopt utf8
	   and Java show them: "CN=Café", not "CN=Caf\C3\A9", which no
	   operator typed and no tool compares equal. RFC 2253 still
	   escapes the control bytes (a NUL as \00), and the kmc command
	   escapes the C1 controls of UTF-8 text when it prints. */
	r = name_print(name, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB, buf,
		size);
	/* A string that is not valid in its own type (bad UTF-8) has no
	   UTF-8 form: its bytes escaped, as before. */
	if (r == KMC_E_CORRUPT) {
		ERR_clear_error();
		r = name_print(name, XN_FLAG_RFC2253, buf, size);
	}
	return r == KMC_E_CORRUPT ? KMC_E_NOMEM : r;
}

/* ---------------------------------------------------------------- */
/* PEM out                                                           */

static int bio_take(BIO *bio, uint8_t **ret, size_t *ret_len)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);

	KMC_ENSURE(n > 0, KMC_E_INVALID);
	*ret = malloc((size_t)n);
	KMC_ENSURE(*ret, KMC_E_NOMEM);
	memcpy(*ret, p, (size_t)n);
	*ret_len = (size_t)n;
	return 0;
}

int certs_to_pem(STACK_OF(X509) *certs, uint8_t **ret, size_t *ret_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int r = 0;

	KMC_ENSURE(bio, KMC_E_NOMEM);
	for (int i = 0; r == 0 && i < sk_X509_num(certs); i++)
		if (!PEM_write_bio_X509(bio, sk_X509_value(certs, i)))
			r = KMC_E_NOMEM;
	if (r == 0)
		r = bio_take(bio, ret, ret_len);
	BIO_free(bio);
	return r;
}

int crl_to_pem(X509_CRL *crl, uint8_t **ret, size_t *ret_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int r = 0;

	KMC_ENSURE(bio, KMC_E_NOMEM);
	if (!PEM_write_bio_X509_CRL(bio, crl))
		r = KMC_E_NOMEM;
	if (r == 0)
		r = bio_take(bio, ret, ret_len);
	BIO_free(bio);
	return r;
}
