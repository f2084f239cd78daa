/*
 * bindplace.c - the places outside the vault folder that only move
 * forward, so that a whole folder put back is caught: for a host
 * protector, a state file beside the host key; for a pkcs11 or tpm
 * protector, a counter object on its token. Both hold the same 66 bytes:
 *
 *	magic "KMCSTATE" 8 || format_version u16 1 || vault_id 16 ||
 *	generation u64 || mac 32 (BLAKE2b-256 keyed with the "kmcbind"
 *	subkey over what precedes it)
 *
 *	HOSTKEYDIR/kmcstate-<vault id, 32 hex digits>   0600, the user's
 *	token: CKO_DATA, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL
 *	       "kmcvault-counter-<vault id>", CKA_APPLICATION "kmcvault"
 *
 * Neither is in the vault's folder: a restore of the folder leaves them
 * as they are. The file is written with the same atomic, mode and no-link
 * rules as the vault's files; the object by C_SetAttributeValue (or
 * C_CreateObject the first time) in the session the protector logs into.
 */
#include <dirent.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "vault.h"
#include "bind.h"
#include "../safeio/fileio.h"
#include "../pkcs11/p11.h"

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
	p->dirfd = -1;
	KMC_GUARD(kmc_path_parent(host_key, p->dir, sizeof(p->dir), &base));
	vault_hex(vault_id, KS_VAULT_ID_LEN, hex);
	snprintf(p->name, sizeof(p->name), "kmcstate-%s", hex);
	n = snprintf(p->show, sizeof(p->show), "%s/%s", p->dir, p->name);
	KMC_ENSURE(n > 0 && (size_t)n < sizeof(p->show), KMC_E_TOO_LARGE);
	snprintf(p->what, sizeof(p->what), "the state file %s", p->show);
	p->kind = BIND_PLACE_HOST;
	return 0;
}

int bind_place_token(bind_place *p, const char *uri, const kmc_secret *pin,
	const uint8_t vault_id[KS_VAULT_ID_LEN])
{
	char hex[2 * KS_VAULT_ID_LEN + 1];

	memset(p, 0, sizeof(*p));
	p->dirfd = -1;
	KMC_ENSURE(strlen(uri) < sizeof(p->uri), KMC_E_TOO_LARGE);
	memcpy(p->uri, uri, strlen(uri) + 1);
	p->pin = pin;
	vault_hex(vault_id, KS_VAULT_ID_LEN, hex);
	snprintf(p->name, sizeof(p->name), "kmcvault-counter-%s", hex);
	snprintf(p->show, sizeof(p->show), "%s", p->name);
	snprintf(p->what, sizeof(p->what), "the counter object %s on the "
		"token", p->name);
	p->kind = BIND_PLACE_TOKEN;
	return 0;
}

static int place_dir(const bind_place *p, int *ret_fd)
{
	int r;

	/* The folder the host key was just read from (the open's own):
	   checked then as the walk below checks it, and more (its owner
	   and mode, every folder above it). A copy, as the caller closes
	   it; the walk again if even that fails. */
	if (p->dirfd >= 0) {
		*ret_fd = fcntl(p->dirfd, F_DUPFD_CLOEXEC, 0);
		if (*ret_fd >= 0)
			return 0;
	}
	r = kmc_open_dir_checked(p->dir, "the host key", ret_fd);

	if (r < 0 && !kmc_error_detail()[0])
		kmc_detail(r, "%s: %s", p->dir, kmc_strerror(r));
	return r;
}

static int state_decode(const bind_place *p, const uint8_t *raw, size_t len,
	const uint8_t key[KMC_KEY_LEN],
	const uint8_t vault_id[KS_VAULT_ID_LEN], uint64_t *ret_gen)
{
	uint8_t mac[32];
	uint64_t g = 0;

	if (len != BIND_STATE_LEN)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged (%zu bytes, not "
			"%d)", p->what, len, BIND_STATE_LEN);
	if (memcmp(raw, STATE_MAGIC, 8) != 0 || raw[8] != 0 ||
	    raw[9] != STATE_VERSION)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged (not a kmcvault "
			"state)", p->what);
	if (memcmp(raw + 10, vault_id, KS_VAULT_ID_LEN) != 0)
		return kmc_detail(KMC_E_ROLLBACK, "%s belongs to another vault: "
			"it was copied or renamed; kmc repair --accept-rollback "
			"writes this vault's own", p->what);
	kmc_mac(mac, key, raw, len - 32);
	if (kmc_memcmp(mac, raw + len - 32, 32) != 0)
		return kmc_detail(KMC_E_ROLLBACK, "%s fails its MAC: it was "
			"forged or altered; kmc repair --accept-rollback writes "
			"it again", p->what);
	for (int i = 0; i < 8; i++)
		g = (g << 8) | raw[10 + KS_VAULT_ID_LEN + i];
	*ret_gen = g;
	return 0;
}

static void state_encode(const uint8_t key[KMC_KEY_LEN],
	const uint8_t vault_id[KS_VAULT_ID_LEN], uint64_t gen,
	uint8_t raw[BIND_STATE_LEN])
{
	memcpy(raw, STATE_MAGIC, 8);
	raw[8] = 0;
	raw[9] = STATE_VERSION;
	memcpy(raw + 10, vault_id, KS_VAULT_ID_LEN);
	bind_put64(raw + 10 + KS_VAULT_ID_LEN, gen);
	kmc_mac(raw + BIND_STATE_LEN - 32, key, raw, BIND_STATE_LEN - 32);
}

static p11_pin token_pin(const bind_place *p)
{
	p11_pin pin = { p->pin, NULL, NULL };

	return pin;
}

/* The newest counter that checks out: a write cut off between making
   the new object and removing the old leaves two. */
static int token_read(const bind_place *p, const uint8_t key[KMC_KEY_LEN],
	const uint8_t vault_id[KS_VAULT_ID_LEN], uint64_t *ret_gen)
{
	_cleanup_(freep) p11_data *d = malloc(sizeof(*d));
	p11_pin pin = token_pin(p);
	uint64_t best = 0, g;
	int r, ok = 0;

	KMC_ENSURE(d, KMC_E_NOMEM);
	r = p11_data_get(p->uri, &pin, p->name, d);
	if (r == KMC_E_TOO_LARGE)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged (more than %d "
			"bytes)", p->what, BIND_STATE_LEN);
	KMC_GUARD(r);
	if (d->n == 0)
		return -ENOENT;
	for (size_t i = 0; i < d->n; i++) {
		r = state_decode(p, d->val[i], d->len[i], key, vault_id, &g);
		if (r < 0 && d->n == 1)
			return r;
		if (r == 0 && (!ok || g > best)) {
			best = g;
			ok = 1;
		}
	}
	if (!ok)
		return r;
	kmc_detail_clear();
	*ret_gen = best;
	return 0;
}

int bind_place_read(const bind_place *p, const uint8_t key[KMC_KEY_LEN],
	const uint8_t vault_id[KS_VAULT_ID_LEN], uint64_t *ret_gen)
{
	_cleanup_(kmc_closep) int fd = -1;
	_cleanup_(freep) uint8_t *raw = NULL;
	size_t len;
	int r;

	if (p->kind == BIND_PLACE_TOKEN)
		return token_read(p, key, vault_id, ret_gen);
	KMC_GUARD(place_dir(p, &fd));
	r = kmc_read_checked(fd, p->name, p->show, &state_rule, &raw, &len);
	if (r == -ENOENT)
		return r;
	if (r < 0) {
		if (r == KMC_E_TOO_LARGE)
			r = KMC_E_CORRUPT;
		if (!kmc_error_detail()[0] || r == KMC_E_CORRUPT)
			kmc_detail(r, "%s: %s", p->what, kmc_strerror(r));
		return r;
	}
	return state_decode(p, raw, len, key, vault_id, ret_gen);
}

int bind_place_write(const bind_place *p, const uint8_t key[KMC_KEY_LEN],
	const uint8_t vault_id[KS_VAULT_ID_LEN], uint64_t gen)
{
	_cleanup_(kmc_closep) int fd = -1;
	uint8_t raw[BIND_STATE_LEN];

	state_encode(key, vault_id, gen, raw);
	if (p->kind == BIND_PLACE_TOKEN) {
		p11_pin pin = token_pin(p);

		return p11_data_put(p->uri, &pin, p->name, raw, sizeof(raw));
	}
	KMC_GUARD(place_dir(p, &fd));
	return kmc_write_atomic(fd, p->name, raw, sizeof(raw), 0600, 0);
}

void bind_place_remove_temps(const bind_place *p)
{
	_cleanup_(kmc_closep) int fd = -1;

	if (p->kind == BIND_PLACE_HOST && place_dir(p, &fd) == 0)
		bind_remove_temps(fd, p->name);
	kmc_detail_clear();
}
