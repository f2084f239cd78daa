/*
 * keyref.c - the kmc provider's DECODER for key-reference files
 * (-----BEGIN KMC KEY REFERENCE-----, docs/provider.md), which any
 * PEM_read_bio_PrivateKey caller runs: nginx, Apache, HAProxy,
 * PostgreSQL, Mosquitto, curl. It sees every PEM file such a program
 * reads, so it tells a reference from the rest by the file's first BEGIN
 * line, without parsing the others; a reference's URI goes to the same
 * key export as the STORE's (kmcprov.c).
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "kmcprov.h"

#define prov_error kmcprov_error

OSSL_FUNC_BIO_read_ex_fn *kmcprov_bio_read_ex;

static OSSL_FUNC_decoder_newctx_fn ref_newctx;
static OSSL_FUNC_decoder_freectx_fn ref_freectx;
static OSSL_FUNC_decoder_does_selection_fn ref_does_selection;
static OSSL_FUNC_decoder_decode_fn ref_decode;
static OSSL_FUNC_decoder_export_object_fn ref_export_object;

static void *ref_newctx(void *provctx)
{
	return provctx;		/* no state of its own */
}

static void ref_freectx(void *ctx)
{
	(void)ctx;
}

static int ref_does_selection(void *provctx, int selection)
{
	(void)provctx;
	return selection == 0 ||
		(selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

/*
 * What the decoder reads of its input before it knows whether the file
 * is a reference: PEM_read_bio()'s own rule, the first line that begins
 * "-----BEGIN " names the block, any lines before it passed over (in a
 * buffer of fixed size, however many). Only a reference's block is read
 * whole, and it is short (a URI in base64): at most REF_BLOCK_MAX bytes.
 *
 * Through the core's BIO calls, not a BIO of libcrypto's: that needs a
 * library context made from the core's (OSSL_LIB_CTX_new_from_dispatch),
 * whose making at every provider load cost more than all the rest of
 * kmc.so's init (docs/performance.md, row provider-load). And no PEM
 * parse of a file that is not a reference: every key, certificate and
 * parameter file a server reads comes by here, and its first line says.
 */
#define REF_BLOCK_MAX 16384

typedef struct ref_in {
	OSSL_CORE_BIO *cin;
	char buf[REF_BLOCK_MAX];
	size_t pos, have;	/* buf[pos, have): not yet looked at */
	int eof;
} ref_in;

/* More input into r->buf, what was looked at moved out first; 0 at the
   end, on a read error or when the buffer is full (then r->eof is set
   too: nothing more will be read). */
static int ref_more(ref_in *r)
{
	size_t got = 0;

	if (r->pos) {
		r->have -= r->pos;
		/* Byte by byte, as vault/filemap.c says why. */
		for (size_t i = 0; i < r->have; i++)
			r->buf[i] = r->buf[r->pos + i];
		r->pos = 0;
	}
	if (r->eof || r->have == sizeof(r->buf) || !kmcprov_bio_read_ex ||
	    !kmcprov_bio_read_ex(r->cin, r->buf + r->have,
		    sizeof(r->buf) - r->have, &got) || got == 0) {
		r->eof = 1;
		return 0;
	}
	r->have += got;
	return 1;
}

/* 1 when the input's first PEM block is a reference, its lines from the
   BEGIN line on at the start of r->buf (r->have bytes, the block's end
   among them unless it is longer than the buffer); 0 when it is
   anything else. */
static int ref_find(ref_in *r)
{
	static const char begin[] = "-----BEGIN ";
	static const char ours[] = "-----BEGIN " KMC_REF_LABEL "-----";
	int line_start = 1;

	for (;;) {
		char *p = r->buf + r->pos;
		size_t left = r->have - r->pos, len;
		char *nl = memchr(p, '\n', left);

		/* A line not yet whole, and room for more of it. */
		if (!nl && !r->eof && (r->pos || r->have < sizeof(r->buf))) {
			ref_more(r);
			continue;
		}
		len = nl ? (size_t)(nl - p) : left;
		if (line_start && len >= sizeof(begin) - 1 &&
		    memcmp(p, begin, sizeof(begin) - 1) == 0) {
			if (len && p[len - 1] == '\r')
				len--;
			if (len != sizeof(ours) - 1 || memcmp(p, ours, len) != 0)
				return 0;
			while (ref_more(r))
				;	/* the block, up to the buffer's size */
			return 1;
		}
		if (!nl && r->eof)
			return 0;	/* the last line, and no BEGIN line */
		/* Not a BEGIN line: passed over, as PEM_read_bio does.
		   Without a newline the buffer is full: a line longer than
		   it, whose rest that follows is no line of its own. */
		if (nl)
			len++;
		line_start = nl != NULL;
		r->pos += len;
	}
}

static int ref_decode(void *ctx, OSSL_CORE_BIO *cin, int selection,
	OSSL_CALLBACK *data_cb, void *data_cbarg,
	OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	const kmcprov_vault_api *k;
	ref_in *ri = NULL;
	BIO *in = NULL;
	char *label = NULL, *header = NULL, *dir = NULL, *name = NULL;
	unsigned char *data = NULL;
	long len = 0;
	int ok = 1, r;

	(void)ctx;
	if (!ref_does_selection(NULL, selection))
		return 1;
	ri = malloc(sizeof(*ri));
	if (!ri)
		return 0;
	/* Not the buffer: 16 KiB cleared would cost more than the look. */
	ri->cin = cin;
	ri->pos = ri->have = 0;
	ri->eof = 0;
	if (!ref_find(ri))
		goto out;
	/* Ours, and its END line not within the buffer: a body no URI can
	   be, refused here rather than left to other decoders to chew on
	   (13 MB of it kept openssl busy for minutes). */
	if (ri->have == sizeof(ri->buf) &&
	    !memmem(ri->buf, ri->have, "\n-----END ", 10)) {
		prov_error(KMCPROV_R_BAD_URI, "a KMC KEY REFERENCE whose body is "
			"not a kmc: URI: too large (its block passes %d bytes)",
			REF_BLOCK_MAX);
		/* Read to its end, a buffer at a time: after a decoder's
		   failure OpenSSL 3.0 goes on from where it stopped, and every
		   other decoder would read the rest again, each of them. */
		ri->eof = 0;
		do
			ri->pos = ri->have = 0;
		while (ref_more(ri));
		ok = 0;
		goto out;
	}
	in = BIO_new_mem_buf(ri->buf, (int)ri->have);
	if (!in) {
		ok = 0;
		goto out;
	}
	/* Not PEM, or another label first: empty-handed, no error. */
	ERR_set_mark();
	if (PEM_read_bio(in, &label, &header, &data, &len) <= 0 ||
	    strcmp(label, KMC_REF_LABEL) != 0) {
		ERR_pop_to_mark();
		goto out;
	}
	ERR_clear_last_mark();
	/* Ours: only now is the vault code needed. */
	k = kmcprov_vault();
	if (!k) {
		ok = 0;
		goto out;
	}
	r = k->uri_parse((const char *)data, (size_t)len, &dir, &name);
	if (r < 0) {
		prov_error(KMCPROV_R_BAD_URI, "a KMC KEY REFERENCE whose body is "
			"not a kmc: URI: %s", k->error_detail()[0] ?
			k->error_detail() : k->strerror(r));
		ok = 0;
		goto out;
	}
	ok = kmcprov_emit_key(dir, name, 0, pw_cb, pw_cbarg, data_cb, data_cbarg);
out:
	OPENSSL_free(label);
	OPENSSL_free(header);
	OPENSSL_free(data);
	free(dir);
	free(name);
	BIO_free(in);
	free(ri);
	return ok;
}

/* OpenSSL 3.0 calls this, without checking it is there, when the key
   management it chose for a reference is another provider's: a token
   key's private half cannot go there, and nothing less may pass for it. */
static int ref_export_object(void *ctx, const void *ref, size_t ref_size,
	OSSL_CALLBACK *export_cb, void *export_cbarg)
{
	(void)ctx;
	(void)ref;
	(void)ref_size;
	(void)export_cb;
	(void)export_cbarg;
	return 0;
}

static const OSSL_DISPATCH ref_functions[] = {
	{ OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))ref_newctx },
	{ OSSL_FUNC_DECODER_FREECTX, (void (*)(void))ref_freectx },
	{ OSSL_FUNC_DECODER_DOES_SELECTION, (void (*)(void))ref_does_selection },
	{ OSSL_FUNC_DECODER_DECODE, (void (*)(void))ref_decode },
	{ OSSL_FUNC_DECODER_EXPORT_OBJECT, (void (*)(void))ref_export_object },
	{ 0, NULL },
};

/* Named for its output: the chain goes on with the DER key decoders. */
const OSSL_ALGORITHM kmcprov_decoders[] = {
	{ "DER", "provider=kmc,input=pem", ref_functions,
	  "kmc: KMC KEY REFERENCE files" },
	{ NULL, NULL, NULL, NULL },
};
