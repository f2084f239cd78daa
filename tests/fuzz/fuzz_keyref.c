/*
 * fuzz_keyref.c - the provider's key-reference DECODER (provider/
 * keyref.c) on arbitrary files: every PEM file a server reads through
 * PEM_read_bio_PrivateKey comes by it once kmc is in openssl.cnf, so it
 * reads bytes of any file, in whatever pieces the core's BIO hands it.
 *
 * The decoder is compiled in here with the provider's other calls
 * stubbed: the vault half's URI parser is the library's own, and a key
 * it would emit is only noted. The first byte sets the size of the
 * pieces the BIO gives (1 to 256 bytes); the rest is the file. Checked:
 *  - the answer (emitted or not, the URI's folder and item, an error
 *    raised or not) is the same whatever the pieces' size;
 *  - the file's first line that begins "-----BEGIN " settles it: any
 *    but the reference's (a CR before its newline allowed), or none, is
 *    passed over, no error;
 *  - a reference: the 16 KiB from that line on, without an END line, is
 *    refused as too large with one error, and the file read to its end;
 *    else their first PEM block, if it is the reference's, is a URI
 *    (the folder and item emitted, once, no error) or refused (one
 *    error, nothing emitted); if not PEM, or another label, passed over.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <kmc.h>
#include <kmc/admin.h>
#include "../../provider/keyref.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the provider's other calls -------------------------------------- */

static const uint8_t *in_p;
static size_t in_left, in_piece;
static int errors, too_large;
static char *got_dir, *got_name;
static int emitted;

static int read_ex(OSSL_CORE_BIO *bio, void *buf, size_t len, size_t *got)
{
	size_t n = len < in_piece ? len : in_piece;

	(void)bio;
	if (n > in_left)
		n = in_left;
	memcpy(buf, in_p, n);
	in_p += n;
	in_left -= n;
	*got = n;
	return 1;
}

void kmcprov_error_at(const char *file, int line, const char *func,
	int reason, const char *fmt, ...)
{
	(void)file;
	(void)line;
	(void)func;
	(void)reason;
	errors++;
	too_large += strstr(fmt, "too large") != NULL;
}

static const char *detail(void)
{
	return kmc_error_detail();
}

static const kmcprov_vault_api api = {
	.size = sizeof(api),
	.error_detail = detail,
	.strerror = kmc_strerror,
	.uri_parse = kmc_uri_parse,
};

const kmcprov_vault_api *kmcprov_vault(void)
{
	return &api;
}

int kmcprov_emit_key(const char *dir, const char *name, int by_ref,
	OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg, OSSL_CALLBACK *cb,
	void *cbarg)
{
	(void)by_ref;
	(void)pw_cb;
	(void)pw_cbarg;
	(void)cb;
	(void)cbarg;
	if (emitted++)
		abort();
	got_dir = dir ? strdup(dir) : NULL;
	got_name = strdup(name);
	if ((dir && !got_dir) || !got_name)
		abort();
	return 1;
}

/* ---- one decode --------------------------------------------------------- */

typedef struct outcome {
	int ok, errors, emitted, drained, too_large;
	char *dir, *name;
} outcome;

static void decode(const uint8_t *file, size_t len, size_t piece,
	outcome *o)
{
	in_p = file;
	in_left = len;
	in_piece = piece;
	errors = emitted = too_large = 0;
	got_dir = got_name = NULL;
	kmcprov_bio_read_ex = read_ex;
	o->ok = ref_decode(NULL, NULL, OSSL_KEYMGMT_SELECT_PRIVATE_KEY, NULL,
		NULL, NULL, NULL);
	o->errors = errors;
	o->emitted = emitted;
	o->drained = in_left == 0;
	o->too_large = too_large;
	o->dir = got_dir;
	o->name = got_name;
	ERR_clear_error();
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Where the first line that begins "-----BEGIN " starts, and whether it
   is the reference's; -1 when there is none. */
static ssize_t first_begin(const uint8_t *f, size_t len, int *ours)
{
	static const char begin[] = "-----BEGIN ";
	static const char want[] = "-----BEGIN " KMC_REF_LABEL "-----";
	size_t at = 0;

	while (at < len) {
		const uint8_t *nl = memchr(f + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (f + at)) : len - at;

		if (n >= strlen(begin) && memcmp(f + at, begin,
			strlen(begin)) == 0) {
			if (f[at + n - 1] == '\r')
				n--;
			*ours = n == strlen(want) && memcmp(f + at, want, n) == 0;
			return (ssize_t)at;
		}
		at += n + (nl ? 1 : 0);
	}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	outcome a, b;
	ssize_t at;
	int ours = 0;

	if (size < 1 || size > 3 * REF_BLOCK_MAX)
		return 0;
	decode(data + 1, size - 1, (size_t)data[0] + 1, &a);
	decode(data + 1, size - 1, REF_BLOCK_MAX, &b);
	if (a.ok != b.ok || a.errors != b.errors || a.emitted != b.emitted ||
	    !same_str(a.dir, b.dir) || !same_str(a.name, b.name))
		abort();
	at = first_begin(data + 1, size - 1, &ours);
	if (at < 0 || !ours) {
		/* Not a reference: passed over, quietly. */
		if (!a.ok || a.errors || a.emitted || a.too_large)
			abort();
	} else {
		/* A reference: what the 16 KiB from its BEGIN line on hold. */
		const uint8_t *w = data + 1 + at;
		size_t wlen = size - 1 - (size_t)at;
		BIO *in;
		char *label = NULL, *header = NULL, *dir = NULL, *name = NULL;
		unsigned char *body = NULL;
		long blen = 0;
		int want;

		if (wlen > REF_BLOCK_MAX)
			wlen = REF_BLOCK_MAX;
		if (wlen == REF_BLOCK_MAX && !memmem(w, wlen, "\n-----END ", 10)) {
			if (a.ok || a.errors != 1 || !a.too_large || a.emitted)
				abort();
		} else {
			in = BIO_new_mem_buf(w, (int)wlen);
			if (!in)
				abort();
			want = PEM_read_bio(in, &label, &header, &body, &blen) > 0 &&
				strcmp(label, KMC_REF_LABEL) == 0;
			/* Not PEM, or another label: passed over. */
			if (!want && (!a.ok || a.errors || a.emitted))
				abort();
			if (want && kmc_uri_parse((const char *)body, (size_t)blen,
				&dir, &name) != 0) {
				/* Not a URI: refused with one error. */
				if (a.ok || a.errors != 1 || a.emitted)
					abort();
			} else if (want && (!a.ok || a.errors || !a.emitted ||
				   !same_str(dir, a.dir) || !same_str(name, a.name))) {
				abort();
			}
			OPENSSL_free(label);
			OPENSSL_free(header);
			OPENSSL_free(body);
			free(dir);
			free(name);
			BIO_free(in);
		}
	}
	/* A block too large is read to its end, whatever the pieces. */
	if (a.too_large != b.too_large || (a.too_large && (!a.drained ||
	    !b.drained)))
		abort();
	free(a.dir);
	free(a.name);
	free(b.dir);
	free(b.name);
	ERR_clear_error();
	return 0;
}
