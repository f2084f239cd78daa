/*
 * bindplace.c - the places outside the vault folder that only move
 * forward, so that a whole folder put back is caught: for a host
 * protector, a state file beside the host key.
 *
 *	HOSTKEYDIR/kmcstate-<vault id, 32 hex digits>   0600, the user's
 *	magic "KMCSTATE" 8 || format_version u16 1 || vault_id 16 ||
 *	generation u64 || mac 32 (BLAKE2b-256 keyed with the "kmcbind"
 *	subkey over what precedes it): 66 bytes exactly.
 *
 * The host key's folder is not the vault's: a restore of the vault
 * folder leaves it as it is. It is written with the same atomic, mode and
 * no-link rules as the vault's files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "vault.h"
#include "bind.h"
#include "../safeio/fileio.h"
#include "../kmc/buf.h"

#define STATE_MAGIC "KMCSTATE"
#define STATE_VERSION 1

static const kmc_file_rule state_rule = {
	.forbidden = 077,
	.max_size = 4096,
	.allow_root_owner = 0,
};

int bind_place_host(bind_place *p, const char *host_key,
	const uint8_t vault_id[KS_VAULT_ID_LEN])
{
	char hex[2 * KS_VAULT_ID_LEN + 1];
	const char *base;
	int n;

	memset(p, 0, sizeof(*p));
	KMC_GUARD(kmc_path_parent(host_key, p->dir, sizeof(p->dir), &base));
	vault_hex(vault_id, KS_VAULT_ID_LEN, hex);
	snprintf(p->name, sizeof(p->name), "kmcstate-%s", hex);
	n = snprintf(p->show, sizeof(p->show), "%s/%s", p->dir, p->name);
	KMC_ENSURE(n > 0 && (size_t)n < sizeof(p->show), KMC_E_TOO_LARGE);
	p->kind = BIND_PLACE_HOST;
	return 0;
}

static int place_dir(const bind_place *p, int *ret_fd)
{
	int r = kmc_open_dir_checked(p->dir, "the host key", ret_fd);

	if (r < 0 && !kmc_error_detail()[0])
		kmc_detail(r, "%s: %s", p->dir, kmc_strerror(r));
	return r;
}

int bind_place_read(const bind_place *p, const uint8_t key[KMC_KEY_LEN],
	const uint8_t vault_id[KS_VAULT_ID_LEN], uint64_t *ret_gen)
{
	_cleanup_(kmc_closep) int fd = -1;
	_cleanup_(freep) uint8_t *raw = NULL;
	kmc_rbuf b;
	const uint8_t *magic, *id;
	uint8_t mac[32];
	uint16_t version;
	uint64_t g;
	size_t len;
	int r;

	KMC_GUARD(place_dir(p, &fd));
	r = kmc_read_checked(fd, p->name, p->show, &state_rule, &raw, &len);
	if (r == -ENOENT)
		return r;
	if (r < 0) {
		if (r == KMC_E_TOO_LARGE)
			r = KMC_E_CORRUPT;
		if (!kmc_error_detail()[0] || r == KMC_E_CORRUPT)
			kmc_detail(r, "the state file %s: %s", p->show,
				kmc_strerror(r));
		return r;
	}
	if (len != BIND_STATE_LEN)
		return kmc_detail(KMC_E_CORRUPT, "the state file %s is damaged "
			"(%zu bytes, not %d)", p->show, len, BIND_STATE_LEN);
	b = KMC_RBUF(raw, len);
	KMC_GUARD(kmc_rbuf_bytes(&b, 8, &magic));
	KMC_GUARD(kmc_rbuf_u16(&b, &version));
	KMC_GUARD(kmc_rbuf_bytes(&b, KS_VAULT_ID_LEN, &id));
	KMC_GUARD(kmc_rbuf_u64(&b, &g));
	if (memcmp(magic, STATE_MAGIC, 8) != 0 || version != STATE_VERSION)
		return kmc_detail(KMC_E_CORRUPT, "the state file %s is damaged "
			"(not a kmcvault state file)", p->show);
	if (memcmp(id, vault_id, KS_VAULT_ID_LEN) != 0)
		return kmc_detail(KMC_E_ROLLBACK, "the state file %s belongs to "
			"another vault: it was copied or renamed; kmc repair "
			"--accept-rollback writes this vault's own", p->show);
	kmc_mac(mac, key, raw, len - 32);
	if (kmc_memcmp(mac, raw + len - 32, 32) != 0)
		return kmc_detail(KMC_E_ROLLBACK, "the state file %s fails its "
			"MAC: it was forged or altered; kmc repair "
			"--accept-rollback writes it again", p->show);
	*ret_gen = g;
	return 0;
}

int bind_place_write(const bind_place *p, const uint8_t key[KMC_KEY_LEN],
	const uint8_t vault_id[KS_VAULT_ID_LEN], uint64_t gen)
{
	_cleanup_(kmc_closep) int fd = -1;
	uint8_t raw[BIND_STATE_LEN];

	KMC_GUARD(place_dir(p, &fd));
	memcpy(raw, STATE_MAGIC, 8);
	raw[8] = 0;
	raw[9] = STATE_VERSION;
	memcpy(raw + 10, vault_id, KS_VAULT_ID_LEN);
	bind_put64(raw + 10 + KS_VAULT_ID_LEN, gen);
	kmc_mac(raw + BIND_STATE_LEN - 32, key, raw, BIND_STATE_LEN - 32);
	return kmc_write_atomic(fd, p->name, raw, sizeof(raw), 0600, 0);
}

void bind_place_remove_temps(const bind_place *p)
{
	_cleanup_(kmc_closep) int fd = -1;

	if (place_dir(p, &fd) == 0)
		bind_remove_temps(fd, p->name);
	kmc_detail_clear();
}
