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

/* The URI a token place may name: as long as the fixed room it had. */
#define PLACE_URI_MAX 2048
#define PLACE_SHOW_MAX 4199

void bind_place_free(bind_place *p)
{
	free(p->text);
	p->text = NULL;
	p->dir = p->name = p->show = p->what = p->uri = "";
}

static void place_clear(bind_place *p)
{
	p->kind = 0;
	p->dirfd = -1;
	p->text = NULL;
	p->pin = NULL;
	p->dir = p->name = p->show = p->what = p->uri = "";
}

/* p's strings into one allocation: dir, name, show (dir/name, or name
   when dir is ""), what (pre show post), uri. */
static int place_text(bind_place *p, const char *dir, const char *name,
	const char *pre, const char *post, const char *uri)
{
	size_t nd = strlen(dir), nn = strlen(name), ns, nw, nu = strlen(uri);
	char *t;

	ns = nd ? nd + 1 + nn : nn;
	KMC_ENSURE(ns <= PLACE_SHOW_MAX, KMC_E_TOO_LARGE);
	nw = strlen(pre) + ns + strlen(post);
	t = malloc(nd + 1 + nn + 1 + ns + 1 + nw + 1 + nu + 1);
	KMC_ENSURE(t, KMC_E_NOMEM);
	p->text = t;
	p->dir = t;
	memcpy(t, dir, nd + 1);
	t += nd + 1;
	p->name = t;
	memcpy(t, name, nn + 1);
	t += nn + 1;
	p->show = t;
	if (nd)
		snprintf(t, ns + 1, "%s/%s", dir, name);
	else
		memcpy(t, name, nn + 1);
	t += ns + 1;
	p->what = t;
	snprintf(t, nw + 1, "%s%s%s", pre, p->show, post);
	t += nw + 1;
	p->uri = t;
	memcpy(t, uri, nu + 1);
	return 0;
}

int bind_place_host(bind_place *p, const char *host_key,
	const uint8_t vault_id[KS_VAULT_ID_LEN])
{
	char hex[2 * KS_VAULT_ID_LEN + 1], dir[4096], name[64];
	const char *base;

	place_clear(p);
	KMC_GUARD(kmc_path_parent(host_key, dir, sizeof(dir), &base));
	vault_hex(vault_id, KS_VAULT_ID_LEN, hex);
	snprintf(name, sizeof(name), "kmcstate-%s", hex);
	KMC_GUARD(place_text(p, dir, name, "the state file ", "", ""));
	p->kind = BIND_PLACE_HOST;
	return 0;
}

int bind_place_token(bind_place *p, const char *uri, const kmc_secret *pin,
	const uint8_t vault_id[KS_VAULT_ID_LEN])
{
	char hex[2 * KS_VAULT_ID_LEN + 1], name[64];

	place_clear(p);
	KMC_ENSURE(strlen(uri) <= PLACE_URI_MAX, KMC_E_TOO_LARGE);
	vault_hex(vault_id, KS_VAULT_ID_LEN, hex);
	snprintf(name, sizeof(name), "kmcvault-counter-%s", hex);
	KMC_GUARD(place_text(p, "", name, "the counter object ",
		" on the token", uri));
	p->pin = pin;
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

	if (len < 10 || memcmp(raw, STATE_MAGIC, 8) != 0)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged (not a kmcvault "
			"state)", p->what);
	/* The version before the length it governs: a newer state may be
	   longer, and is refused as newer, never taken for damage. */
	if (raw[8] != 0 || raw[9] > STATE_VERSION)
		return kmc_detail(KMC_E_VERSION, "%s has format %u, and this kmc "
			"reads format %u only: a newer kmcvault wrote it",
			p->what, (unsigned)(raw[8] << 8 | raw[9]), STATE_VERSION);
	if (raw[9] != STATE_VERSION)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged (format 0)",
			p->what);
	if (len != BIND_STATE_LEN)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged (%zu bytes, not "
			"%d)", p->what, len, BIND_STATE_LEN);
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
	uint16_t version;
	size_t len;
	int r;

	if (p->kind == BIND_PLACE_TOKEN)
		return token_read(p, key, vault_id, ret_gen);
	KMC_GUARD(place_dir(p, &fd));
	r = kmc_read_checked(fd, p->name, p->show, &state_rule, &raw, &len);
	if (r == -ENOENT)
		return r;
	if (r == KMC_E_TOO_LARGE && bind_head_version(fd, p->name,
	    &state_rule, STATE_MAGIC, &version) == 0 &&
	    version > STATE_VERSION)
		return kmc_detail(KMC_E_VERSION, "%s has format %u, and this kmc "
			"reads format %u only: a newer kmcvault wrote it",
			p->what, (unsigned)version, STATE_VERSION);
	if (r < 0) {
		if (r == KMC_E_TOO_LARGE)
			r = KMC_E_CORRUPT;
		if (!kmc_error_detail()[0] || r == KMC_E_CORRUPT)
			kmc_detail(r, "%s: %s", p->what, kmc_strerror(r));
		return r;
	}
	return state_decode(p, raw, len, key, vault_id, ret_gen);
}

/*
 * SoftHSM2 lists no objects now and then while another process changes
 * its token (its files read half-way): a counter the binding says is
 * there, found missing, would call the whole vault rolled back and send
 * the operator to --accept-rollback. Read again a few times first.
 */
int bind_place_read_in_use(const bind_place *p, const uint8_t key[KMC_KEY_LEN],
	const uint8_t vault_id[KS_VAULT_ID_LEN], uint64_t *ret_gen)
{
	int r = bind_place_read(p, key, vault_id, ret_gen);

	for (int i = 0; r == -ENOENT && p->kind == BIND_PLACE_TOKEN &&
	     i < P11_UNREACHED_TRIES; i++) {
		p11_unreached_pause(i);
		r = bind_place_read(p, key, vault_id, ret_gen);
	}
	return r;
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
