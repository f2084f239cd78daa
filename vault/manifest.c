/*
 * manifest.c - the text of backup.manifest (format in vault/backup.h):
 * writing it and parsing it, bounded and exact.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <lmdb.h>
#include "backup.h"
#include "../safeio/fileio.h"
#include "vault.h"

#define MANIFEST_MAGIC "kmcvault-backup"

const char *const backup_file_names[BACKUP_FILES] = {
	KS_MASTER_NAME, KS_STANDBY_NAME, STORE_NAME,
};

/* ---------------------------------------------------------------- */
/* Manifest                                                          */

int manifest_encode(const backup_manifest *m, char **ret, size_t *ret_len)
{
	char id[2 * KS_VAULT_ID_LEN + 1], h[2 * KMC_HASH_LEN + 1];
	uint8_t sum[KMC_HASH_LEN];
	char *buf;
	size_t n;
	int k;

	buf = malloc(BACKUP_MANIFEST_MAX);
	KMC_ENSURE(buf, KMC_E_NOMEM);
	vault_hex(m->vault_id, KS_VAULT_ID_LEN, id);
	k = snprintf(buf, BACKUP_MANIFEST_MAX, MANIFEST_MAGIC " %d\n"
		"vault_id %s\ngeneration %" PRIu64 "\nstore_generation %" PRIu64
		"\nitems %" PRIu64 "\ncreated %" PRId64 "\n",
		BACKUP_MANIFEST_VERSION, id, m->generation, m->store_generation,
		m->items, m->created < 0 ? (int64_t)0 : m->created);
	KMC_ASSERT(k > 0 && k < BACKUP_MANIFEST_MAX);
	n = (size_t)k;
	for (size_t i = 0; i < BACKUP_FILES; i++) {
		vault_hex(m->file[i].hash, KMC_HASH_LEN, h);
		k = snprintf(buf + n, BACKUP_MANIFEST_MAX - n, "file %s %" PRIu64
			" %s\n", backup_file_names[i], m->file[i].size, h);
		KMC_ASSERT(k > 0 && (size_t)k < BACKUP_MANIFEST_MAX - n);
		n += (size_t)k;
	}
	kmc_hash(sum, buf, n);
	vault_hex(sum, KMC_HASH_LEN, h);
	k = snprintf(buf + n, BACKUP_MANIFEST_MAX - n, "checksum %s\n", h);
	KMC_ASSERT(k > 0 && (size_t)k < BACKUP_MANIFEST_MAX - n);
	*ret = buf;
	*ret_len = n + (size_t)k;
	return 0;
}

/* A cursor over the manifest's lines. */
typedef struct lines {
	const char *p;
	size_t left;
} lines;

/* The next line without its "\n"; KMC_E_CORRUPT when there is none. */
static int next_line(lines *l, const char **ret, size_t *ret_len)
{
	const char *nl = memchr(l->p, '\n', l->left);

	KMC_ENSURE(nl, KMC_E_CORRUPT);
	*ret = l->p;
	*ret_len = (size_t)(nl - l->p);
	l->left -= *ret_len + 1;
	l->p = nl + 1;
	return 0;
}

/* "WORD " at the start of the line: the rest in *ret. */
static int field(const char *line, size_t len, const char *word,
	const char **ret, size_t *ret_len)
{
	size_t w = strlen(word);

	KMC_ENSURE(len > w + 1 && memcmp(line, word, w) == 0 &&
		line[w] == ' ', KMC_E_CORRUPT);
	*ret = line + w + 1;
	*ret_len = len - w - 1;
	return 0;
}

static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	KMC_ENSURE(len >= 1 && len <= 20, KMC_E_CORRUPT);
	KMC_ENSURE(len == 1 || s[0] != '0', KMC_E_CORRUPT);
	for (size_t i = 0; i < len; i++) {
		KMC_ENSURE(s[i] >= '0' && s[i] <= '9', KMC_E_CORRUPT);
		KMC_ENSURE(v <= (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10,
			KMC_E_CORRUPT);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return 0;
}

static int parse_hex(const char *s, size_t len, uint8_t *out, size_t n)
{
	KMC_ENSURE(len == 2 * n, KMC_E_CORRUPT);
	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return KMC_E_CORRUPT;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(d << 4);
		else
			out[i / 2] |= (uint8_t)d;
	}
	return 0;
}

static int parse_u64_field(lines *l, const char *word, uint64_t *ret)
{
	const char *line, *v;
	size_t len, vlen;

	KMC_GUARD(next_line(l, &line, &len));
	KMC_GUARD(field(line, len, word, &v, &vlen));
	return parse_u64(v, vlen, ret);
}

int manifest_version(const uint8_t *p, size_t len, uint64_t *ret)
{
	lines l = { (const char *)p, len };
	const char *line, *v;
	size_t n, vlen;

	KMC_GUARD(next_line(&l, &line, &n));
	KMC_GUARD(field(line, n, MANIFEST_MAGIC, &v, &vlen));
	return parse_u64(v, vlen, ret);
}

int manifest_parse(const uint8_t *p, size_t len, backup_manifest *ret)
{
	lines l;
	backup_manifest m;
	const char *line, *v, *text = (const char *)p;
	uint8_t sum[KMC_HASH_LEN], want[KMC_HASH_LEN];
	size_t n, vlen, body;
	uint64_t x;

	/* A newer version may be longer or end otherwise: it is refused as
	   newer, before its length, its bytes or its checksum are judged
	   (manifest_version() reads the first line only, bounded). */
	KMC_ENSURE(manifest_version(p, len, &x) < 0 ||
		x <= BACKUP_MANIFEST_VERSION, KMC_E_VERSION);
	KMC_ENSURE(len >= 2 && len <= BACKUP_MANIFEST_MAX, KMC_E_CORRUPT);
	KMC_ENSURE(!memchr(p, '\0', len) && p[len - 1] == '\n', KMC_E_CORRUPT);
	/* Then the checksum: a changed byte is damage, whatever it hit. */
	body = len - 1;
	while (body > 0 && text[body - 1] != '\n')
		body--;
	l = (lines){ text + body, len - body };
	KMC_GUARD(next_line(&l, &line, &n));
	KMC_GUARD(field(line, n, "checksum", &v, &vlen));
	KMC_GUARD(parse_hex(v, vlen, want, KMC_HASH_LEN));
	kmc_hash(sum, p, body);
	KMC_ENSURE(kmc_memcmp(sum, want, KMC_HASH_LEN) == 0, KMC_E_CORRUPT);

	l = (lines){ text, body };
	memset(&m, 0, sizeof(m));
	KMC_GUARD(next_line(&l, &line, &n));
	KMC_GUARD(field(line, n, MANIFEST_MAGIC, &v, &vlen));
	KMC_GUARD(parse_u64(v, vlen, &x));
	KMC_ENSURE(x == BACKUP_MANIFEST_VERSION, KMC_E_VERSION);
	KMC_GUARD(next_line(&l, &line, &n));
	KMC_GUARD(field(line, n, "vault_id", &v, &vlen));
	KMC_GUARD(parse_hex(v, vlen, m.vault_id, KS_VAULT_ID_LEN));
	KMC_GUARD(parse_u64_field(&l, "generation", &m.generation));
	KMC_GUARD(parse_u64_field(&l, "store_generation", &m.store_generation));
	KMC_GUARD(parse_u64_field(&l, "items", &m.items));
	KMC_GUARD(parse_u64_field(&l, "created", &x));
	KMC_ENSURE(x <= INT64_MAX, KMC_E_CORRUPT);
	m.created = (int64_t)x;
	for (size_t i = 0; i < BACKUP_FILES; i++) {
		const char *name = backup_file_names[i], *sp;
		size_t nlen = strlen(name);

		KMC_GUARD(next_line(&l, &line, &n));
		KMC_GUARD(field(line, n, "file", &v, &vlen));
		KMC_ENSURE(vlen > nlen + 1 && memcmp(v, name, nlen) == 0 &&
			v[nlen] == ' ', KMC_E_CORRUPT);
		v += nlen + 1;
		vlen -= nlen + 1;
		sp = memchr(v, ' ', vlen);
		KMC_ENSURE(sp, KMC_E_CORRUPT);
		KMC_GUARD(parse_u64(v, (size_t)(sp - v), &m.file[i].size));
		vlen -= (size_t)(sp - v) + 1;
		KMC_GUARD(parse_hex(sp + 1, vlen, m.file[i].hash, KMC_HASH_LEN));
	}
	KMC_ENSURE(l.left == 0, KMC_E_CORRUPT);
	*ret = m;
	return 0;
}

/* Hand info to a caller whose struct is ret->size bytes: only what fits. */
void backup_info_out(const kmc_backup_info *info, kmc_backup_info *ret)
{
	size_t n = ret->size < sizeof(*info) ? ret->size : sizeof(*info);

	memcpy(ret, info, n);
	ret->size = n;
}

/* What a caller is told of a backup: the manifest's facts. */
void manifest_info(const backup_manifest *m, kmc_backup_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	vault_hex(m->vault_id, KS_VAULT_ID_LEN, info->vault_id);
	info->generation = m->generation;
	info->store_generation = m->store_generation;
	info->items = m->items;
	info->created = m->created;
}

int backup_info_check(const kmc_backup_info *ret)
{
	if (ret && ret->size == 0)
		return kmc_detail(KMC_E_INVALID, "kmc_backup_info.size is 0: "
			"set it to sizeof(kmc_backup_info) (KMC_BACKUP_INFO_INIT)");
	return 0;
}
