/*
 * protector.c - keyslots: the root key sealed under a key each protector
 * derives (host key, passphrase, token, TPM, recovery key); formats in
 * protector.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "protector.h"
#include "../safeio/fileio.h"
#include "vault.h"
#include "../kmc/buf.h"
#include "../kmc/recovery.h"
#include "../pkcs11/p11.h"
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

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
	_cleanup_(kmc_wbuf_free) kmc_wbuf ad = KMC_WBUF(2 * KS_PARAMS_MAX);

	KMC_ASSERT(kmc_secret_len(rk) == KMC_KEY_LEN);
	KMC_GUARD(slot_ad(vault_id, s, &ad));
	KMC_GUARD(kmc_seal(slot_key, ad.p, ad.len, kmc_secret_data(rk),
		KMC_KEY_LEN, s->wrapped));
	s->wrapped_len = KMC_KEY_LEN + KMC_SEAL_OVERHEAD;
	return 0;
}

int slot_unwrap(const uint8_t vault_id[KS_VAULT_ID_LEN], const ks_slot *s,
	const uint8_t slot_key[KMC_KEY_LEN], kmc_secret **ret_rk)
{
	_cleanup_(kmc_wbuf_free) kmc_wbuf ad = KMC_WBUF(2 * KS_PARAMS_MAX);
	kmc_secret *rk = NULL;

	KMC_ENSURE(s->wrapped_len == KMC_KEY_LEN + KMC_SEAL_OVERHEAD,
		KMC_E_CORRUPT);
	KMC_GUARD(slot_ad(vault_id, s, &ad));
	/* In a guarded arena slot; the caller that keeps the root key past
	   the open (a writer's handle) makes it read-only. */
	KMC_GUARD(kmc_open_secret(slot_key, ad.p, ad.len, s->wrapped,
		s->wrapped_len, &rk));
	*ret_rk = rk;
	return 0;
}

static const kmc_file_rule host_key_rule = {
	.forbidden = 0177,	/* 0400 or 0600 */
	.max_size = HOST_KEY_LEN,
	.allow_root_owner = 0,
};

/*
 * The one rule for a host key's folder, when init makes the key and at
 * every open that reads it: the user's or root's (/etc/kmcvault), not
 * writable by group or others even if sticky, and every folder above it
 * safe (kmc_check_dir()). It is opened through the walk that checks each
 * link on its path, so the folder checked is the folder read from.
 * Messages name the host key, not the vault. *ret_base: the key's name in
 * that folder, inside path.
 */
static int host_key_dir_open(const char *path, int *ret_dirfd,
	const char **ret_base)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	char dir[PATH_MAX], holds[PATH_MAX + 16];
	kmc_dir_rule rule = { .holds = holds, .allow_root_owner = 1 };

	KMC_GUARD(kmc_path_parent(path, dir, sizeof(dir), ret_base));
	snprintf(holds, sizeof(holds), "the host key %s", path);
	KMC_GUARD(kmc_open_dir_checked(dir, holds, &dirfd));
	KMC_GUARD(kmc_check_dir(dirfd, dir, &rule));
	*ret_dirfd = TAKE_FD(dirfd);
	return 0;
}

static int host_key_create(const char *path)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	_cleanup_(kmc_secret_freep) kmc_secret *key = NULL;
	char dir[PATH_MAX];
	const char *base;
	int r;

	/* host keys are absolute paths (kmc_path_absolute at init) */
	KMC_GUARD(kmc_path_parent(path, dir, sizeof(dir), &base));
	KMC_ENSURE(strcmp(dir, "/") && strcmp(dir, "."), KMC_E_INVALID);
	r = host_key_dir_open(path, &dirfd, &base);
	if (r == -ENOENT) {
		/* Make the last directory only, private; never a whole tree. */
		kmc_detail_clear();
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			return kmc_detail(r, "creating %s for the host key: %s",
				dir, kmc_strerror(r));
		}
		r = host_key_dir_open(path, &dirfd, &base);
	}
	if (r < 0 && !kmc_error_detail()[0])
		return kmc_detail(r, "%s: %s", dir, kmc_strerror(r));
	KMC_GUARD(r);
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

static int host_key_read(const char *path, int create, kmc_secret **ret,
	int *ret_dirfd)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	_cleanup_(kmc_secret_freep) kmc_secret *key = NULL;
	const char *base;
	int r;

	r = host_key_dir_open(path, &dirfd, &base);
	if (r == 0)
		r = kmc_read_checked_secret(dirfd, base, path, &host_key_rule,
			&key);
	if (r == -ENOENT && create) {
		kmc_detail_clear();
		KMC_GUARD(host_key_create(path));
		kmc_closep(&dirfd);
		dirfd = -1;
		KMC_GUARD(host_key_dir_open(path, &dirfd, &base));
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
	/* Not made read-only: every caller derives one key from it and frees
	   it at once, so pages of its own (and their system calls) would
	   guard nothing the locked, wiped arena slot does not. */
	*ret = TAKE_PTR(key);
	if (ret_dirfd)
		*ret_dirfd = TAKE_FD(dirfd);
	return 0;
}

int host_key_load(const char *path, int create, kmc_secret **ret)
{
	return host_key_read(path, create, ret, NULL);
}

int host_key_load_at(const char *path, kmc_secret **ret, int *ret_dirfd)
{
	return host_key_read(path, 0, ret, ret_dirfd);
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
	_cleanup_(kmc_wbuf_free) kmc_wbuf p = KMC_WBUF(KS_PARAMS_MAX);
	uint8_t key[KMC_KEY_LEN], salt[KMC_SALT_LEN], kid[8];
	KMC_CLEANUP_ERASE(key);
	size_t plen = strlen(path);

	KMC_ENSURE(path[0] == '/' && plen <= HOST_PATH_MAX, KMC_E_INVALID);
	KMC_GUARD(host_key_load(path, 1, &hk));
	kmc_random(salt, sizeof(salt));
	host_key_id(hk, kid);
	kmc_wbuf_bytes(&p, salt, sizeof(salt));
	kmc_wbuf_bytes(&p, kid, sizeof(kid));
	kmc_wbuf_u16(&p, (uint16_t)plen);
	kmc_wbuf_bytes(&p, path, plen);
	KMC_GUARD(p.err);
	memset(ret, 0, sizeof(*ret));
	ret->id = id;
	ret->type = KMC_PROTECTOR_HOST;
	ret->params_len = (uint16_t)p.len;
	memcpy(ret->params, p.p, p.len);
	host_slot_key(vault_id, hk, salt, key);
	return slot_wrap(vault_id, ret, key, rk);
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

int host_slot_path(const ks_slot *s, char *buf, size_t size)
{
	host_params hp;

	KMC_GUARD(host_params_parse(s, &hp));
	KMC_ENSURE(strlen(hp.path) < size, KMC_E_TOO_LARGE);
	memcpy(buf, hp.path, strlen(hp.path) + 1);
	return 0;
}

int host_slot_unlock(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const ks_slot *s, const char *path, kmc_secret **ret_rk,
	int *ret_dirfd)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	_cleanup_(kmc_secret_freep) kmc_secret *hk = NULL;
	uint8_t key[KMC_KEY_LEN], kid[8];
	KMC_CLEANUP_ERASE(key);
	host_params hp;
	int r;

	KMC_GUARD(host_params_parse(s, &hp));
	KMC_GUARD(host_key_load_at(path ? path : hp.path, &hk, &dirfd));
	host_key_id(hk, kid);
	if (memcmp(kid, hp.kid, sizeof(kid)) != 0)
		return kmc_detail(KMC_E_HOST_KEY, "host key %s is not the one "
			"this vault was made with", path ? path : hp.path);
	host_slot_key(vault_id, hk, hp.salt, key);
	r = slot_unwrap(vault_id, s, key, ret_rk);
	if (r == 0 && ret_dirfd) {
		kmc_closep(ret_dirfd);
		*ret_dirfd = TAKE_FD(dirfd);
	}
	/* The right host key that fails to open the slot: the slot is bad. */
	return r == KMC_E_AUTH ? KMC_E_CORRUPT : r;
}

int pass_slot_create(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const kmc_secret *pass, uint32_t ops, uint64_t mem,
	const kmc_secret *rk, uint8_t id, ks_slot *ret)
{
	_cleanup_(kmc_wbuf_free) kmc_wbuf p = KMC_WBUF(KS_PARAMS_MAX);
	uint8_t key[KMC_KEY_LEN], salt[KMC_SALT_LEN];
	KMC_CLEANUP_ERASE(key);
	int r;

	KMC_ENSURE(kmc_secret_len(pass) > 0, KMC_E_EMPTY);
	kmc_random(salt, sizeof(salt));
	kmc_wbuf_u8(&p, ARGON2ID13);
	kmc_wbuf_u32(&p, ops);
	kmc_wbuf_u64(&p, mem);
	kmc_wbuf_bytes(&p, salt, sizeof(salt));
	KMC_GUARD(p.err);
	KMC_ASSERT(p.len == PASS_PARAMS_LEN);
	memset(ret, 0, sizeof(*ret));
	ret->id = id;
	ret->type = KMC_PROTECTOR_PASSPHRASE;
	ret->params_len = (uint16_t)p.len;
	memcpy(ret->params, p.p, p.len);
	r = kmc_argon2id(key, (const char *)kmc_secret_data(pass),
		kmc_secret_len(pass), salt, ops, mem);
	/* KMC_E_CORRUPT here is bad parameters from the caller. */
	KMC_GUARD(r == KMC_E_CORRUPT ? KMC_E_INVALID : r);
	return slot_wrap(vault_id, ret, key, rk);
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

int pass_slot_check(const ks_slot *s)
{
	const uint8_t *salt;
	uint32_t ops;
	uint64_t mem;

	/* Another algorithm or a bad length: pass_slot_unlock() says so,
	   and a newer algorithm's slot is skipped like any that fails. */
	if (pass_params_parse(s, &ops, &mem, &salt) < 0)
		return 0;
	if (ops < KMC_ARGON2_OPS_MIN || ops > KMC_ARGON2_OPS_MAX ||
	    mem < KMC_ARGON2_MEM_MIN || mem > KMC_ARGON2_MEM_MAX)
		return kmc_detail(KMC_E_CORRUPT, "passphrase protector %u asks "
			"Argon2id for %u passes over %llu KiB, outside the "
			"accepted range (passes %u to %u, memory 8 MiB to 4 GiB)",
			(unsigned)s->id, (unsigned)ops,
			(unsigned long long)(mem / 1024), KMC_ARGON2_OPS_MIN,
			KMC_ARGON2_OPS_MAX);
	return 0;
}

int pass_slot_unlock(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const ks_slot *s, const kmc_secret *pass, kmc_secret **ret_rk)
{
	uint8_t key[KMC_KEY_LEN];
	KMC_CLEANUP_ERASE(key);
	const uint8_t *salt;
	uint32_t ops;
	uint64_t mem;
	int r;

	KMC_GUARD(pass_slot_check(s));
	KMC_GUARD(pass_params_parse(s, &ops, &mem, &salt));
	r = kmc_argon2id(key, (const char *)kmc_secret_data(pass),
		kmc_secret_len(pass), salt, ops, mem);
	if (r == 0)
		r = slot_unwrap(vault_id, s, key, ret_rk);
	/* A wrong passphrase and a damaged slot look the same here. */
	return r == KMC_E_AUTH ? KMC_E_UNLOCK : r;
}

/* ---------------------------------------------------------------- */
/* pkcs11 and tpm                                                    */

#define P11_LABEL "kmcvault/p11/v1"
#define RECOVERY_LABEL "kmcvault/recovery/v1"
#define TPM_MODULE "tpm2_pkcs11"

typedef struct p11_params {
	char uri[P11_URI_MAX + 1];
	p11_wrapped w;
} p11_params;

static int p11_params_parse(const ks_slot *s, p11_params *pp)
{
	kmc_rbuf b = KMC_RBUF(s->params, s->params_len);
	const uint8_t *p;
	uint16_t n;
	uint32_t mech;
	uint8_t hash, iv_len;

	memset(pp, 0, sizeof(*pp));
	KMC_GUARD(kmc_rbuf_u16(&b, &n));
	KMC_ENSURE(n >= 1 && n <= P11_URI_MAX, KMC_E_CORRUPT);
	KMC_GUARD(kmc_rbuf_bytes(&b, n, &p));
	KMC_ENSURE(!memchr(p, '\0', n), KMC_E_CORRUPT);
	memcpy(pp->uri, p, n);
	KMC_GUARD(kmc_rbuf_u32(&b, &mech));
	KMC_ENSURE(mech == P11_MECH_AES_CBC || mech == P11_MECH_AES_GCM ||
		mech == P11_MECH_RSA_OAEP, KMC_E_VERSION);
	pp->w.mech = mech;
	KMC_GUARD(kmc_rbuf_u8(&b, &hash));
	KMC_ENSURE(hash <= P11_HASH_SHA256, KMC_E_CORRUPT);
	pp->w.hash = (p11_hash)hash;
	KMC_GUARD(kmc_rbuf_u8(&b, &iv_len));
	KMC_ENSURE(iv_len <= sizeof(pp->w.iv), KMC_E_CORRUPT);
	pp->w.iv_len = iv_len;
	KMC_GUARD(kmc_rbuf_copy(&b, pp->w.iv, iv_len));
	KMC_GUARD(kmc_rbuf_u16(&b, &n));
	KMC_ENSURE(n >= 1 && n <= P11_CT_MAX, KMC_E_CORRUPT);
	pp->w.ct_len = n;
	KMC_GUARD(kmc_rbuf_copy(&b, pp->w.ct, n));
	KMC_ENSURE(kmc_rbuf_left(&b) == 0, KMC_E_CORRUPT);
	return 0;
}

static void p11_slot_key(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const kmc_secret *secret, uint8_t out[KMC_KEY_LEN])
{
	uint8_t msg[sizeof(P11_LABEL) - 1 + KS_VAULT_ID_LEN];

	memcpy(msg, P11_LABEL, strlen(P11_LABEL));
	memcpy(msg + strlen(P11_LABEL), vault_id, KS_VAULT_ID_LEN);
	kmc_mac(out, kmc_secret_data(secret), msg, sizeof(msg));
}

/* RSA-OAEP with a token's public key, for pkcs11/ (which has no crypto). */
static int rsa_oaep_encrypt(const uint8_t *n, size_t nlen, const uint8_t *e,
	size_t elen, int sha1, const uint8_t *in, size_t inlen, uint8_t *out,
	size_t *out_len)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *ectx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen,
		NULL);
	const char *md = sha1 ? "SHA1" : "SHA256";
	int r = KMC_E_P11_KEY_TYPE;

	if (bld && bn && be &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params && ctx && EVP_PKEY_fromdata_init(ctx) > 0 &&
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) > 0)
		ectx = EVP_PKEY_CTX_new(pkey, NULL);
	if (ectx && EVP_PKEY_encrypt_init(ectx) > 0 &&
	    EVP_PKEY_CTX_set_rsa_padding(ectx, RSA_PKCS1_OAEP_PADDING) > 0 &&
	    EVP_PKEY_CTX_set_rsa_oaep_md_name(ectx, md, NULL) > 0 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md_name(ectx, md, NULL) > 0 &&
	    EVP_PKEY_encrypt(ectx, out, out_len, in, inlen) > 0)
		r = 0;
	EVP_PKEY_CTX_free(ectx);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	if (r < 0)
		return kmc_detail(r, "the token's RSA public key does not encrypt");
	return 0;
}

/* A tpm protector means the tpm2-pkcs11 module unless the URI says. */
static int p11_uri_for(kmc_protector_type type, const char *uri, char *buf,
	size_t size)
{
	int n;

	if (type != KMC_PROTECTOR_TPM || strstr(uri, "module-name=") ||
	    strstr(uri, "module-path="))
		n = snprintf(buf, size, "%s", uri);
	else
		n = snprintf(buf, size, "%s%smodule-name=" TPM_MODULE, uri,
			strchr(uri, '?') ? "&" : "?");
	KMC_ENSURE(n > 0 && (size_t)n < size, KMC_E_TOO_LARGE);
	return 0;
}

static p11_pin pin_of(const kmc_options *o)
{
	p11_pin p = { NULL, NULL, NULL };

	if (o) {
		p.pin = o->pin;
		p.cb = o->pin_cb;
		p.cb_arg = o->pin_arg;
	}
	return p;
}

static int p11_slot_create(const uint8_t vault_id[KS_VAULT_ID_LEN],
	kmc_protector_type type, const kmc_options *o, const kmc_secret *rk,
	uint8_t id, ks_slot *ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *secret = NULL;
	_cleanup_(freep) char *clean = NULL;
	_cleanup_(kmc_wbuf_free) kmc_wbuf p = KMC_WBUF(KS_PARAMS_MAX);
	char uri[P11_URI_MAX + 64];
	uint8_t key[KMC_KEY_LEN];
	KMC_CLEANUP_ERASE(key);
	p11_wrapped w;
	p11_pin pin = pin_of(o);

	if (!o->pkcs11_uri)
		return kmc_detail(KMC_E_INVALID, "a %s protector needs "
			"--pkcs11-uri", type == KMC_PROTECTOR_TPM ? "tpm" : "pkcs11");
	KMC_GUARD(p11_uri_for(type, o->pkcs11_uri, uri, sizeof(uri)));
	KMC_GUARD(p11_uri_clean(uri, &clean));
	KMC_GUARD(kmc_secret_new(P11_SECRET_LEN, &secret));
	kmc_random(kmc_secret_data(secret), P11_SECRET_LEN);
	/* The URI as given: a pin-value in it is used now, never stored. */
	KMC_GUARD(p11_protect(uri, &pin, o->pkcs11_create_key,
		o->pkcs11_mechanism, rsa_oaep_encrypt, kmc_secret_data(secret),
		&w));
	kmc_wbuf_u16(&p, (uint16_t)strlen(clean));
	kmc_wbuf_bytes(&p, clean, strlen(clean));
	kmc_wbuf_u32(&p, (uint32_t)w.mech);
	kmc_wbuf_u8(&p, (uint8_t)w.hash);
	kmc_wbuf_u8(&p, (uint8_t)w.iv_len);
	kmc_wbuf_bytes(&p, w.iv, w.iv_len);
	kmc_wbuf_u16(&p, (uint16_t)w.ct_len);
	kmc_wbuf_bytes(&p, w.ct, w.ct_len);
	if (p.err)
		return kmc_detail(p.err, "the token's slot data does not fit the "
			"keystore");
	memset(ret, 0, sizeof(*ret));
	ret->id = id;
	ret->type = (uint8_t)type;
	ret->params_len = (uint16_t)p.len;
	memcpy(ret->params, p.p, p.len);
	p11_slot_key(vault_id, secret, key);
	return slot_wrap(vault_id, ret, key, rk);
}

int p11_slot_uri(const ks_slot *s, char *buf, size_t size)
{
	_cleanup_(freep) p11_params *pp = malloc(sizeof(*pp));

	KMC_ENSURE(pp, KMC_E_NOMEM);
	KMC_GUARD(p11_params_parse(s, pp));
	KMC_ENSURE(strlen(pp->uri) < size, KMC_E_TOO_LARGE);
	memcpy(buf, pp->uri, strlen(pp->uri) + 1);
	return 0;
}

int p11_slot_unlock(const uint8_t vault_id[KS_VAULT_ID_LEN], const ks_slot *s,
	const kmc_options *o, kmc_secret **ret_rk)
{
	_cleanup_(kmc_secret_freep) kmc_secret *secret = NULL;
	_cleanup_(freep) p11_params *pp = malloc(sizeof(*pp));
	uint8_t key[KMC_KEY_LEN];
	KMC_CLEANUP_ERASE(key);
	p11_pin pin = pin_of(o);
	int r;

	KMC_ENSURE(pp, KMC_E_NOMEM);
	KMC_GUARD(p11_params_parse(s, pp));
	KMC_GUARD(p11_unprotect(pp->uri, &pin, &pp->w, &secret));
	p11_slot_key(vault_id, secret, key);
	r = slot_unwrap(vault_id, s, key, ret_rk);
	/* The token gave back a secret that does not open the slot. */
	if (r == KMC_E_AUTH)
		return kmc_detail(KMC_E_P11_KEY, "the token key does not open this "
			"slot: another key of the same name?");
	return r;
}

/* ---------------------------------------------------------------- */
/* recovery                                                          */

static void recovery_slot_key(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const kmc_secret *bytes, const uint8_t salt[KMC_SALT_LEN],
	uint8_t out[KMC_KEY_LEN])
{
	uint8_t h[KMC_HASH_LEN];
	KMC_CLEANUP_ERASE(h);
	uint8_t msg[sizeof(RECOVERY_LABEL) - 1 + KS_VAULT_ID_LEN + KMC_SALT_LEN];
	size_t n = strlen(RECOVERY_LABEL);

	kmc_hash(h, kmc_secret_data(bytes), kmc_secret_len(bytes));
	memcpy(msg, RECOVERY_LABEL, n);
	memcpy(msg + n, vault_id, KS_VAULT_ID_LEN);
	memcpy(msg + n + KS_VAULT_ID_LEN, salt, KMC_SALT_LEN);
	kmc_mac(out, h, msg, sizeof(msg));
}

static int recovery_slot_create(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const kmc_secret *rk, uint8_t id, ks_slot *ret, kmc_secret **ret_text)
{
	_cleanup_(kmc_secret_freep) kmc_secret *bytes = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *text = NULL;
	uint8_t key[KMC_KEY_LEN];
	KMC_CLEANUP_ERASE(key);

	KMC_ENSURE(ret_text, KMC_E_INVALID);
	KMC_GUARD(kmc_secret_new(RECOVERY_BYTES, &bytes));
	kmc_random(kmc_secret_data(bytes), RECOVERY_BYTES);
	KMC_GUARD(kmc_recovery_encode(kmc_secret_data(bytes), &text));
	memset(ret, 0, sizeof(*ret));
	ret->id = id;
	ret->type = KMC_PROTECTOR_RECOVERY;
	ret->params_len = KMC_SALT_LEN;
	kmc_random(ret->params, KMC_SALT_LEN);
	recovery_slot_key(vault_id, bytes, ret->params, key);
	KMC_GUARD(slot_wrap(vault_id, ret, key, rk));
	*ret_text = TAKE_PTR(text);
	return 0;
}

int recovery_slot_unlock(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const ks_slot *s, const kmc_secret *text, kmc_secret **ret_rk)
{
	_cleanup_(kmc_secret_freep) kmc_secret *bytes = NULL;
	uint8_t key[KMC_KEY_LEN];
	KMC_CLEANUP_ERASE(key);
	int r;

	KMC_ENSURE(s->params_len == KMC_SALT_LEN, KMC_E_CORRUPT);
	KMC_GUARD(kmc_recovery_decode((const char *)kmc_secret_data(text),
		kmc_secret_len(text), &bytes));
	recovery_slot_key(vault_id, bytes, s->params, key);
	r = slot_unwrap(vault_id, s, key, ret_rk);
	/* Well formed, checks out, and still wrong: another vault's key. */
	return r == KMC_E_AUTH ? kmc_detail(KMC_E_UNLOCK, "the recovery key is "
		"not this vault's") : r;
}

/* ---------------------------------------------------------------- */

int slot_create(const uint8_t vault_id[KS_VAULT_ID_LEN],
	kmc_protector_type type, const kmc_options *o, const kmc_secret *rk,
	uint8_t id, ks_slot *ret, kmc_secret **ret_recovery)
{
	char def[1024];
	uint32_t ops;
	uint64_t mem;

	switch (type) {
	case KMC_PROTECTOR_HOST: {
		const char *hk = o->host_key;

		if (!hk) {
			KMC_GUARD(kmc_default_host_key(def, sizeof(def)));
			hk = def;
		}
		return host_slot_create(vault_id, hk, rk, id, ret);
	}
	case KMC_PROTECTOR_PASSPHRASE:
		if (!o->passphrase)
			return kmc_detail(KMC_E_NEED_PASSPHRASE, "a passphrase "
				"protector needs a passphrase");
		if (kmc_secret_len(o->passphrase) < 8)
			return kmc_detail(KMC_E_INVALID, "the passphrase is "
				"shorter than 8 characters");
		ops = o->argon2_ops ? o->argon2_ops : KMC_ARGON2_OPS_DEFAULT;
		mem = o->argon2_mem ? o->argon2_mem : KMC_ARGON2_MEM_DEFAULT;
		if (ops > KMC_ARGON2_OPS_MAX || mem < KMC_ARGON2_MEM_MIN ||
		    mem > KMC_ARGON2_MEM_MAX)
			return kmc_detail(KMC_E_INVALID, "Argon2id cost out of "
				"range: passes 1 to %u, memory 8 MiB to 4 GiB",
				KMC_ARGON2_OPS_MAX);
		return pass_slot_create(vault_id, o->passphrase, ops, mem, rk, id,
			ret);
	case KMC_PROTECTOR_PKCS11:
	case KMC_PROTECTOR_TPM:
		return p11_slot_create(vault_id, type, o, rk, id, ret);
	case KMC_PROTECTOR_RECOVERY:
		return recovery_slot_create(vault_id, rk, id, ret, ret_recovery);
	}
	return kmc_detail(KMC_E_INVALID, "unknown protector type %d", (int)type);
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
	case KMC_PROTECTOR_PKCS11:
	case KMC_PROTECTOR_TPM: {
		p11_params *pp = malloc(sizeof(*pp));

		if (pp && p11_params_parse(s, pp) == 0)
			snprintf(buf, size, "%s %s", p11_mech_name(pp->w.mech,
				pp->w.hash), pp->uri);
		else
			snprintf(buf, size, "damaged parameters");
		free(pp);
		break;
	}
	case KMC_PROTECTOR_RECOVERY:
		snprintf(buf, size, "recovery key (shown once when made)");
		break;
	default:
		snprintf(buf, size, "type %u (newer than this build)",
			(unsigned)s->type);
	}
}

const char *kmc_protector_type_name(kmc_protector_type type)
{
	switch (type) {
	case KMC_PROTECTOR_HOST:
		return "host";
	case KMC_PROTECTOR_PASSPHRASE:
		return "passphrase";
	case KMC_PROTECTOR_PKCS11:
		return "pkcs11";
	case KMC_PROTECTOR_TPM:
		return "tpm";
	case KMC_PROTECTOR_RECOVERY:
		return "recovery";
	}
	return "unknown";
}

