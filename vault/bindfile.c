/*
 * bindfile.c - the bytes of kmc.bind (format in bind.h and
 * docs/format.md): serialized and MAC'd, parsed, its MAC checked; and
 * the temporaries a killed write of it (or of the state file) left.
 * What the binding means, and when it is written, is bind.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "vault.h"
#include "bind.h"
#include "../kmc/buf.h"
#include "../safeio/fileio.h"

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
	return p + 8;
}

static uint8_t *put(uint8_t *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

/* No allocation: a binding is written even where memory ran out. */
void bind_serialize(const bind_state *b, const uint8_t key[KMC_KEY_LEN],
	uint8_t out[BIND_FILE_LEN])
{
	uint8_t *p = out;

	p = put(p, BIND_MAGIC, 8);
	*p++ = (uint8_t)(BIND_FORMAT_VERSION >> 8);
	*p++ = (uint8_t)BIND_FORMAT_VERSION;
	*p++ = (uint8_t)(b->flags >> 8);
	*p++ = (uint8_t)b->flags;
	p = put(p, b->vault_id, KS_VAULT_ID_LEN);
	p = put(put64(p, b->ks_gen), b->ks_digest, 32);
	p = put(put64(p, b->ks_next_gen), b->ks_next_digest, 32);
	p = put(put64(p, b->gen), b->root, 32);
	p = put(put64(p, b->next_gen), b->next_root, 32);
	p = put(put64(p, b->audit_seq), b->audit_hash, 32);
	*p++ = b->places;
	KMC_ASSERT(p - out == BIND_FILE_LEN - 32);
	kmc_mac(p, key, out, BIND_FILE_LEN - 32);
}

uint8_t *bind_put64(uint8_t *p, uint64_t v)
{
	return put64(p, v);
}

int bind_parse(const uint8_t *data, size_t len, bind_state *ret)
{
	kmc_rbuf r = KMC_RBUF(data, len);
	const uint8_t *magic;
	uint16_t version;
	bind_state b;

	memset(&b, 0, sizeof(b));
	KMC_GUARD(kmc_rbuf_bytes(&r, 8, &magic));
	KMC_ENSURE(memcmp(magic, BIND_MAGIC, 8) == 0, KMC_E_CORRUPT);
	/* The version before the length it governs: a newer binding may
	   be longer or shorter, and must be refused as newer, never taken
	   for damage that kmc repair --accept-rollback would write over. */
	KMC_GUARD(kmc_rbuf_u16(&r, &version));
	KMC_ENSURE(version <= BIND_FORMAT_VERSION, KMC_E_VERSION);
	/* Format 0 no kmcvault wrote: damage, which kmc repair
	   --accept-rollback writes over, not a newer binding it must keep. */
	KMC_ENSURE(version == BIND_FORMAT_VERSION, KMC_E_CORRUPT);
	KMC_ENSURE(len == BIND_FILE_LEN, KMC_E_CORRUPT);
	KMC_GUARD(kmc_rbuf_u16(&r, &b.flags));
	KMC_ENSURE(!(b.flags & ~(BIND_FLAG_NEXT | BIND_FLAG_KS_NEXT)),
		KMC_E_CORRUPT);
	KMC_GUARD(kmc_rbuf_copy(&r, b.vault_id, KS_VAULT_ID_LEN));
	KMC_GUARD(kmc_rbuf_u64(&r, &b.ks_gen));
	KMC_GUARD(kmc_rbuf_copy(&r, b.ks_digest, 32));
	KMC_GUARD(kmc_rbuf_u64(&r, &b.ks_next_gen));
	KMC_GUARD(kmc_rbuf_copy(&r, b.ks_next_digest, 32));
	KMC_GUARD(kmc_rbuf_u64(&r, &b.gen));
	KMC_GUARD(kmc_rbuf_copy(&r, b.root, 32));
	KMC_GUARD(kmc_rbuf_u64(&r, &b.next_gen));
	KMC_GUARD(kmc_rbuf_copy(&r, b.next_root, 32));
	KMC_GUARD(kmc_rbuf_u64(&r, &b.audit_seq));
	KMC_GUARD(kmc_rbuf_copy(&r, b.audit_hash, 32));
	KMC_GUARD(kmc_rbuf_u8(&r, &b.places));
	KMC_ENSURE(kmc_rbuf_left(&r) == 32, KMC_E_CORRUPT);
	*ret = b;
	return 0;
}

int bind_verify_mac(const uint8_t *data, size_t len,
	const uint8_t key[KMC_KEY_LEN])
{
	uint8_t mac[32];

	KMC_ENSURE(len == BIND_FILE_LEN, KMC_E_AUTH);
	kmc_mac(mac, key, data, len - 32);
	return kmc_memcmp(mac, data + len - 32, 32) == 0 ? 0 : KMC_E_AUTH;
}

/*
 * The temporaries a write killed halfway left (".NAME.tmp-*" of
 * kmc_write_atomic()): the writer lock is held, so no write of them is
 * under way.
 */
void bind_remove_temps(int dirfd, const char *name)
{
	char prefix[128];
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	snprintf(prefix, sizeof(prefix), ".%s.tmp-", name);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			(void)unlinkat(dirfd, e->d_name, 0);
	closedir(d);
}

int bind_head_version(int dirfd, const char *name,
	const struct kmc_file_rule *rule, const char *magic,
	uint16_t *ret_version)
{
	kmc_file_rule any_size = *rule;
	_cleanup_(kmc_closep) int fd = -1;
	uint8_t head[10];
	struct stat st;
	ssize_t n;

	any_size.max_size = SIZE_MAX;
	fd = kmc_open_checked(dirfd, name, name, &any_size, &st);
	kmc_detail_clear();
	if (fd < 0)
		return -1;
	do
		n = pread(fd, head, sizeof(head), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(head) || memcmp(head, magic, 8) != 0)
		return -1;
	*ret_version = (uint16_t)(head[8] << 8 | head[9]);
	return 0;
}
