#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "protector.h"
#include "fileio.h"
#include "vault.h"
#include "../kmc/buf.h"

#define RK_AD_LABEL "kmcvault/rk/v1"
#define HOST_LABEL "kmcvault/host/v1"
#define HOST_ID_LABEL "kmcvault/host-id/v1"
#define PASS_PARAMS_LEN (1 + 4 + 8 + KMC_SALT_LEN)
#define ARGON2ID13 1

static int slot_ad(const uint8_t vault_id[KS_VAULT_ID_LEN], const ks_slot *s,
	kmc_wbuf *ad)
{
	kmc_wbuf_bytes(ad, RK_AD_LABEL, strlen(RK_AD_LABEL));
	kmc_wbuf_bytes(ad, vault_id, KS_VAULT_ID_LEN);
	kmc_wbuf_u8(ad, s->id);
	kmc_wbuf_u8(ad, s->type);
	kmc_wbuf_bytes(ad, s->params, s->params_len);
	return ad->err;
}

int slot_wrap(const uint8_t vault_id[KS_VAULT_ID_LEN], ks_slot *s,
	const uint8_t slot_key[KMC_KEY_LEN], const kmc_secret *rk)
{
	kmc_wbuf ad = KMC_WBUF(2 * KS_PARAMS_MAX);
	int r;

	KMC_ASSERT(kmc_secret_len(rk) == KMC_KEY_LEN);
	r = slot_ad(vault_id, s, &ad);
	if (r == 0)
		r = kmc_seal(slot_key, ad.p, ad.len, kmc_secret_data(rk),
			KMC_KEY_LEN, s->wrapped);
	if (r == 0)
		s->wrapped_len = KMC_KEY_LEN + KMC_SEAL_OVERHEAD;
	kmc_wbuf_free(&ad);
	return r;
}

int slot_unwrap(const uint8_t vault_id[KS_VAULT_ID_LEN], const ks_slot *s,
	const uint8_t slot_key[KMC_KEY_LEN], kmc_secret **ret_rk)
{
	kmc_wbuf ad = KMC_WBUF(2 * KS_PARAMS_MAX);
	kmc_secret *rk = NULL;
	int r;

	KMC_ENSURE(s->wrapped_len == KMC_KEY_LEN + KMC_SEAL_OVERHEAD,
		KMC_E_CORRUPT);
	r = slot_ad(vault_id, s, &ad);
	if (r == 0)
		r = kmc_open_secret(slot_key, ad.p, ad.len, s->wrapped,
			s->wrapped_len, &rk);
	kmc_wbuf_free(&ad);
	KMC_GUARD(r);
	kmc_secret_readonly(rk);
	*ret_rk = rk;
	return 0;
}

static const kmc_file_rule host_key_rule = {
	.forbidden = 0177,	/* 0400 or 0600 */
	.max_size = HOST_KEY_LEN,
	.allow_root_owner = 0,
};

static int host_key_create(const char *path)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	_cleanup_(freep) char *base = NULL;
	_cleanup_(freep) char *dir = strdup(path);
	_cleanup_(kmc_secret_freep) kmc_secret *key = NULL;
	char *slash;
	int r;

	KMC_ENSURE(dir, KMC_E_NOMEM);
	slash = strrchr(dir, '/');
	KMC_ENSURE(slash && slash != dir, KMC_E_INVALID);
	*slash = '\0';
	r = kmc_open_parent(path, &dirfd, &base);
	if (r == -ENOENT) {
		/* Make the last directory only, private; never a whole tree. */
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			return kmc_detail(r, "creating %s for the host key: %s",
				dir, kmc_strerror(r));
		}
		r = kmc_open_parent(path, &dirfd, &base);
	}
	if (r < 0)
		return kmc_detail(r, "%s: %s", dir, kmc_strerror(r));
	/* Root may own /etc/kmcvault; others must not be able to write it. */
	KMC_GUARD(kmc_check_dir(dirfd, dir, 1));
	KMC_GUARD(kmc_secret_new(HOST_KEY_LEN, &key));
	kmc_random(kmc_secret_data(key), HOST_KEY_LEN);
	/* noreplace: a host key made meanwhile by another init wins. */
	r = kmc_write_atomic(dirfd, base, kmc_secret_data(key), HOST_KEY_LEN,
		0400, 1);
	if (r == KMC_E_EXISTS)
		return 0;
	if (r < 0)
		return kmc_detail(r, "writing the host key %s: %s", path,
			kmc_strerror(r));
	return 0;
}

int host_key_load(const char *path, int create, kmc_secret **ret)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	_cleanup_(freep) char *base = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *key = NULL;
	int r;

	r = kmc_open_parent(path, &dirfd, &base);
	if (r == 0)
		r = kmc_read_checked_secret(dirfd, base, path, &host_key_rule,
			&key);
	if (r == -ENOENT && create) {
		kmc_detail_clear();
		KMC_GUARD(host_key_create(path));
		kmc_closep(&dirfd);
		free(TAKE_PTR(base));
		KMC_GUARD(kmc_open_parent(path, &dirfd, &base));
		r = kmc_read_checked_secret(dirfd, base, path, &host_key_rule,
			&key);
	}
	if (r == -ENOENT)
		return kmc_detail(KMC_E_HOST_KEY, "host key %s does not exist "
			"(give --host-key or $KMC_HOST_KEY)", path);
	if (r == KMC_E_TOO_LARGE)
		return kmc_detail(KMC_E_HOST_KEY, "host key %s is not %d bytes",
			path, HOST_KEY_LEN);
	KMC_GUARD(r);
	if (kmc_secret_len(key) != HOST_KEY_LEN)
		return kmc_detail(KMC_E_HOST_KEY, "host key %s is not %d bytes",
			path, HOST_KEY_LEN);
	kmc_secret_readonly(key);
	*ret = TAKE_PTR(key);
	return 0;
}

static void host_key_id(const kmc_secret *hk, uint8_t out[8])
{
	uint8_t h[KMC_HASH_LEN];

	kmc_mac(h, kmc_secret_data(hk), HOST_ID_LABEL, strlen(HOST_ID_LABEL));
	memcpy(out, h, 8);
}

static int host_slot_key(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const kmc_secret *hk, const uint8_t salt[KMC_SALT_LEN],
	uint8_t out[KMC_KEY_LEN])
{
	uint8_t msg[sizeof(HOST_LABEL) - 1 + KS_VAULT_ID_LEN + KMC_SALT_LEN];

	memcpy(msg, HOST_LABEL, strlen(HOST_LABEL));
	memcpy(msg + strlen(HOST_LABEL), vault_id, KS_VAULT_ID_LEN);
	memcpy(msg + strlen(HOST_LABEL) + KS_VAULT_ID_LEN, salt, KMC_SALT_LEN);
	kmc_mac(out, kmc_secret_data(hk), msg, sizeof(msg));
	return 0;
}

int host_slot_create(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const char *path, const kmc_secret *rk, uint8_t id, ks_slot *ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *hk = NULL;
	uint8_t key[KMC_KEY_LEN], salt[KMC_SALT_LEN], kid[8];
	kmc_wbuf p = KMC_WBUF(KS_PARAMS_MAX);
	size_t plen = strlen(path);
	int r;

	KMC_ENSURE(path[0] == '/' && plen <= HOST_PATH_MAX, KMC_E_INVALID);
	KMC_GUARD(host_key_load(path, 1, &hk));
	kmc_random(salt, sizeof(salt));
	host_key_id(hk, kid);
	kmc_wbuf_bytes(&p, salt, sizeof(salt));
	kmc_wbuf_bytes(&p, kid, sizeof(kid));
	kmc_wbuf_u16(&p, (uint16_t)plen);
	kmc_wbuf_bytes(&p, path, plen);
	if (p.err) {
		r = p.err;
		kmc_wbuf_free(&p);
		return r;
	}
	memset(ret, 0, sizeof(*ret));
	ret->id = id;
	ret->type = KMC_PROTECTOR_HOST;
	ret->params_len = (uint16_t)p.len;
	memcpy(ret->params, p.p, p.len);
	kmc_wbuf_free(&p);
	host_slot_key(vault_id, hk, salt, key);
	r = slot_wrap(vault_id, ret, key, rk);
	kmc_wipe(key, sizeof(key));
	return r;
}

typedef struct host_params {
	const uint8_t *salt;
	const uint8_t *kid;
	char path[HOST_PATH_MAX + 1];
} host_params;

static int host_params_parse(const ks_slot *s, host_params *hp)
{
	kmc_rbuf b = KMC_RBUF(s->params, s->params_len);
	const uint8_t *path;
	uint16_t plen;

	KMC_GUARD(kmc_rbuf_bytes(&b, KMC_SALT_LEN, &hp->salt));
	KMC_GUARD(kmc_rbuf_bytes(&b, 8, &hp->kid));
	KMC_GUARD(kmc_rbuf_u16(&b, &plen));
	KMC_ENSURE(plen <= HOST_PATH_MAX, KMC_E_CORRUPT);
	KMC_GUARD(kmc_rbuf_bytes(&b, plen, &path));
	KMC_ENSURE(kmc_rbuf_left(&b) == 0, KMC_E_CORRUPT);
	KMC_ENSURE(memchr(path, '\0', plen) == NULL, KMC_E_CORRUPT);
	memcpy(hp->path, path, plen);
	hp->path[plen] = '\0';
	return 0;
}

int host_slot_unlock(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const ks_slot *s, const char *path, kmc_secret **ret_rk)
{
	_cleanup_(kmc_secret_freep) kmc_secret *hk = NULL;
	uint8_t key[KMC_KEY_LEN], kid[8];
	host_params hp;
	int r;

	KMC_GUARD(host_params_parse(s, &hp));
	KMC_GUARD(host_key_load(path ? path : hp.path, 0, &hk));
	host_key_id(hk, kid);
	if (memcmp(kid, hp.kid, sizeof(kid)) != 0)
		return kmc_detail(KMC_E_HOST_KEY, "host key %s is not the one "
			"this vault was made with", path ? path : hp.path);
	host_slot_key(vault_id, hk, hp.salt, key);
	r = slot_unwrap(vault_id, s, key, ret_rk);
	kmc_wipe(key, sizeof(key));
	/* The right host key that fails to open the slot: the slot is bad. */
	return r == KMC_E_AUTH ? KMC_E_CORRUPT : r;
}

int pass_slot_create(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const kmc_secret *pass, uint32_t ops, uint64_t mem,
	const kmc_secret *rk, uint8_t id, ks_slot *ret)
{
	uint8_t key[KMC_KEY_LEN], salt[KMC_SALT_LEN];
	kmc_wbuf p = KMC_WBUF(KS_PARAMS_MAX);
	int r;

	KMC_ENSURE(kmc_secret_len(pass) > 0, KMC_E_EMPTY);
	kmc_random(salt, sizeof(salt));
	kmc_wbuf_u8(&p, ARGON2ID13);
	kmc_wbuf_u32(&p, ops);
	kmc_wbuf_u64(&p, mem);
	kmc_wbuf_bytes(&p, salt, sizeof(salt));
	KMC_ASSERT(!p.err && p.len == PASS_PARAMS_LEN);
	memset(ret, 0, sizeof(*ret));
	ret->id = id;
	ret->type = KMC_PROTECTOR_PASSPHRASE;
	ret->params_len = (uint16_t)p.len;
	memcpy(ret->params, p.p, p.len);
	kmc_wbuf_free(&p);
	r = kmc_argon2id(key, (const char *)kmc_secret_data(pass),
		kmc_secret_len(pass), salt, ops, mem);
	if (r == KMC_E_CORRUPT)
		r = KMC_E_INVALID;	/* bad parameters from the caller */
	if (r == 0)
		r = slot_wrap(vault_id, ret, key, rk);
	kmc_wipe(key, sizeof(key));
	return r;
}

static int pass_params_parse(const ks_slot *s, uint32_t *ops, uint64_t *mem,
	const uint8_t **salt)
{
	kmc_rbuf b = KMC_RBUF(s->params, s->params_len);
	uint8_t alg;

	KMC_GUARD(kmc_rbuf_u8(&b, &alg));
	KMC_ENSURE(alg == ARGON2ID13, KMC_E_VERSION);
	KMC_GUARD(kmc_rbuf_u32(&b, ops));
	KMC_GUARD(kmc_rbuf_u64(&b, mem));
	KMC_GUARD(kmc_rbuf_bytes(&b, KMC_SALT_LEN, salt));
	KMC_ENSURE(kmc_rbuf_left(&b) == 0, KMC_E_CORRUPT);
	return 0;
}

int pass_slot_unlock(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const ks_slot *s, const kmc_secret *pass, kmc_secret **ret_rk)
{
	uint8_t key[KMC_KEY_LEN];
	const uint8_t *salt;
	uint32_t ops;
	uint64_t mem;
	int r;

	KMC_GUARD(pass_params_parse(s, &ops, &mem, &salt));
	r = kmc_argon2id(key, (const char *)kmc_secret_data(pass),
		kmc_secret_len(pass), salt, ops, mem);
	if (r == 0)
		r = slot_unwrap(vault_id, s, key, ret_rk);
	kmc_wipe(key, sizeof(key));
	/* A wrong passphrase and a damaged slot look the same here. */
	return r == KMC_E_AUTH ? KMC_E_UNLOCK : r;
}

void slot_describe(const ks_slot *s, char *buf, size_t size)
{
	switch (s->type) {
	case KMC_PROTECTOR_HOST: {
		host_params hp;

		if (host_params_parse(s, &hp) == 0)
			snprintf(buf, size, "host key %s", hp.path);
		else
			snprintf(buf, size, "damaged parameters");
		break;
	}
	case KMC_PROTECTOR_PASSPHRASE: {
		const uint8_t *salt;
		uint32_t ops;
		uint64_t mem;

		if (pass_params_parse(s, &ops, &mem, &salt) == 0)
			snprintf(buf, size, "argon2id ops=%u mem=%lluKiB",
				(unsigned)ops, (unsigned long long)(mem / 1024));
		else
			snprintf(buf, size, "damaged parameters");
		break;
	}
	default:
		snprintf(buf, size, "type %u (newer than this build)",
			(unsigned)s->type);
	}
}
