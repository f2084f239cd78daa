/*
 * mk_state.c - a test helper for the mk fault suites (mk_faults.sh):
 * print what a vault's records and some config files' kmc: strings hold,
 * and which master key seals each, one line apiece, so that a suite can
 * tell after every broken run that everything still opens with its own
 * value, and which records and strings a rewrap has reached.
 *
 *	mk_state VAULT [CONF...]
 *
 * prints what they hold, then a line "--", then which master key seals
 * each (the same lines with mk=ID in place of sha256=HEX):
 *
 *	item NAME v=VERSION sha256=HEX   (kmc_item_get, the path of kmc
 *	                                  password get)
 *	old NAME v=VERSION sha256=HEX    (each superseded record, which
 *	                                  nothing in the kmc command reads)
 *	string CONF:LINE sha256=HEX      (what it decrypts to)
 *	text CONF sha256=HEX             (its bytes, each kmc: string as
 *	                                  kmc:v1:*)
 *	meta CONF mode=MODE uid=UID gid=GID
 *
 * and, after the "--", "keystores: the same bytes" or "keystores: differ"
 * (kmc.ks against StandbyKsf.ks).
 *
 * HEX is the SHA-256 of the plaintext. A record or string that does not
 * open prints "... FAILS: why" and the exit is 1. The vault is opened
 * read-only (KMC_HOST_KEY as for kmc). Built by the suite against the
 * internal headers (the history is not reachable otherwise) and the
 * static library of the build whose kmc the inspections run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sodium.h>
#include "vault/vault.h"
#include "vault/store.h"

#define CONF_MAX_TEST (1024u * 1024u)	/* as the library's CONF_MAX */

static int failed;
/* The mk=ID lines, printed after the values. */
static char *mks;
static size_t mks_len;
static FILE *mkf;

static void hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void sha(const void *p, size_t n, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, p, n);
	hex(h, sizeof(h), out);
}

static const char *why(int r)
{
	return kmc_error_detail()[0] ? kmc_error_detail() : kmc_strerror(r);
}

static int item_one(const kmc_item_info *info, void *arg)
{
	kmc_vault *v = arg;
	kmc_secret *s = NULL;
	char h[65];
	int r = kmc_item_get(v, info->name, info->type, &s);

	if (r < 0) {
		printf("item %s v=%u FAILS: %s\n", info->name,
			(unsigned)info->version, why(r));
		failed = 1;
		return 0;
	}
	sha(kmc_secret_data(s), kmc_secret_len(s), h);
	printf("item %s v=%u sha256=%s\n", info->name,
		(unsigned)info->version, h);
	fprintf(mkf, "item %s v=%u mk=%u\n", info->name,
		(unsigned)info->version, (unsigned)info->mk_id);
	kmc_secret_free(s);
	return 0;
}

/* A history key: name || 0x00 || u32 version (big-endian). */
static int old_one(const uint8_t *key, size_t key_len, const uint8_t *rec,
	size_t len, void *arg)
{
	kmc_vault *v = arg;
	const uint8_t *nul = memchr(key, 0, key_len);
	char name[KMC_NAME_MAX + 1], h[65];
	record_info info = { 0 };
	kmc_secret *s = NULL;
	size_t n;
	int r;

	if (!nul || (size_t)(nul - key) > KMC_NAME_MAX ||
	    key_len != (size_t)(nul - key) + 5) {
		printf("old ? FAILS: a history key of %zu bytes\n", key_len);
		failed = 1;
		return 0;
	}
	n = (size_t)(nul - key);
	memcpy(name, key, n);
	name[n] = '\0';
	r = record_open(v, name, rec, len, &info, &s);
	if (r < 0) {
		if (record_parse_header(rec, len, &info) < 0)
			info = (record_info){ 0 };
		printf("old %s v=%u mk=%u FAILS: %s\n", name,
			(unsigned)info.version, (unsigned)info.mk_id, why(r));
		failed = 1;
		return 0;
	}
	sha(kmc_secret_data(s), kmc_secret_len(s), h);
	printf("old %s v=%u sha256=%s\n", name, (unsigned)info.version, h);
	fprintf(mkf, "old %s v=%u mk=%u\n", name, (unsigned)info.version,
		(unsigned)info.mk_id);
	kmc_secret_free(s);
	return 0;
}

/* Whether kmc.ks and StandbyKsf.ks in dir hold the same bytes. */
static int twins_same(const char *dir)
{
	static const char *const names[2] = { "kmc.ks", "StandbyKsf.ks" };
	char *buf[2] = { NULL, NULL }, path[4096];
	size_t len[2] = { 0, 0 };
	int same = 0;

	for (int i = 0; i < 2; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "rb");
		if (!f)
			goto out;
		buf[i] = malloc(1 << 20);
		if (buf[i])
			len[i] = fread(buf[i], 1, 1 << 20, f);
		fclose(f);
		if (!buf[i])
			goto out;
	}
	same = len[0] == len[1] && memcmp(buf[0], buf[1], len[0]) == 0;
out:
	free(buf[0]);
	free(buf[1]);
	return same;
}

static int token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '_' || c == ':';
}

static void conf_one(kmc_vault *v, const char *path)
{
	static const char prefix[] = "kmc:v1:";
	crypto_hash_sha256_state st;
	struct stat sb;
	unsigned char dig[crypto_hash_sha256_BYTES];
	char *text = malloc(CONF_MAX_TEST + 1), h[65];
	size_t len = 0;
	unsigned line = 1;
	const char *p, *end;
	ssize_t k;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !text) {
		printf("text %s FAILS: %s\n", path, strerror(errno));
		failed = 1;
		free(text);
		if (fd >= 0)
			close(fd);
		return;
	}
	while (len <= CONF_MAX_TEST &&
	       (k = read(fd, text + len, CONF_MAX_TEST + 1 - len)) > 0)
		len += (size_t)k;
	close(fd);
	crypto_hash_sha256_init(&st);
	p = text;
	end = text + len;
	while (p < end) {
		const char *hit = memmem(p, (size_t)(end - p), prefix,
			sizeof(prefix) - 1);
		const char *e, *q;
		char tok[1024];
		kmc_secret *s = NULL;
		unsigned long id;
		int r;

		if (!hit)
			break;
		for (q = p; q < hit; q++)
			line += *q == '\n';
		crypto_hash_sha256_update(&st, (const unsigned char *)p,
			(size_t)(hit - p));
		crypto_hash_sha256_update(&st, (const unsigned char *)"kmc:v1:*",
			8);
		for (e = hit + sizeof(prefix) - 1; e < end && token_char(*e); e++)
			;
		snprintf(tok, sizeof(tok), "%.*s", (int)(e - hit), hit);
		id = strtoul(tok + sizeof(prefix) - 1, NULL, 10);
		r = kmc_string_decrypt(v, tok, &s);
		if (r < 0) {
			printf("string %s:%u mk=%lu FAILS: %s\n", path, line, id,
				why(r));
			failed = 1;
		} else {
			sha(kmc_secret_data(s), kmc_secret_len(s), h);
			printf("string %s:%u sha256=%s\n", path, line, h);
			kmc_secret_free(s);
		}
		fprintf(mkf, "string %s:%u mk=%lu\n", path, line, id);
		p = e;
	}
	crypto_hash_sha256_update(&st, (const unsigned char *)p,
		(size_t)(end - p));
	crypto_hash_sha256_final(&st, dig);
	hex(dig, sizeof(dig), h);
	printf("text %s sha256=%s\n", path, h);
	if (stat(path, &sb) == 0)
		printf("meta %s mode=%o uid=%u gid=%u\n", path,
			(unsigned)(sb.st_mode & 07777), (unsigned)sb.st_uid,
			(unsigned)sb.st_gid);
	else
		printf("meta %s FAILS: %s\n", path, strerror(errno));
	free(text);
}

int main(int argc, char **argv)
{
	kmc_vault *v;
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: mk_state VAULT [CONF...]\n");
		return 2;
	}
	mkf = open_memstream(&mks, &mks_len);
	if (!mkf)
		return 1;
	r = kmc_vault_open(argv[1], 0, &v);
	if (r < 0) {
		printf("vault %s FAILS to open: %s\n", argv[1], why(r));
		return 1;
	}
	r = kmc_item_list(v, item_one, v);
	if (r == 0)
		r = store_walk_db(&v->st, STORE_DB_HISTORY, old_one, v);
	if (r < 0) {
		printf("walk FAILS: %s\n", why(r));
		failed = 1;
	}
	for (int i = 2; i < argc; i++)
		conf_one(v, argv[i]);
	kmc_vault_close(v);
	if (fclose(mkf) != 0)
		return 1;
	printf("--\nkeystores: %s\n%s", twins_same(argv[1]) ? "the same bytes" :
		"differ", mks);
	free(mks);
	return failed || fflush(stdout) != 0;
}
