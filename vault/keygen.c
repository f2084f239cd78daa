/*
 * keygen.c - private keys born in the vault: the type names, the
 * generation and the move of the private half into guarded memory.
 *
 * The types are the import policy's (pkey.c's key_policy), so a key born
 * here is one an import would have taken.
 */
#include <string.h>
#include <openssl/err.h>
#include "keygen.h"
#include "x509.h"

static const char *const type_names[] = {
	[KMC_KEY_P256] = "p256",
	[KMC_KEY_P384] = "p384",
	[KMC_KEY_ED25519] = "ed25519",
	[KMC_KEY_RSA2048] = "rsa2048",
	[KMC_KEY_RSA3072] = "rsa3072",
	[KMC_KEY_RSA4096] = "rsa4096",
};

const char *kmc_key_type_name(kmc_key_type type)
{
	if ((unsigned)type >= ELEMENTSOF(type_names))
		return NULL;
	return type_names[type];
}

int keygen_type_parse(const char *s, int *ret)
{
	for (size_t i = 0; s && i < ELEMENTSOF(type_names); i++)
		if (strcmp(s, type_names[i]) == 0) {
			*ret = (int)i;
			return 0;
		}
	return kmc_detail(KMC_E_INVALID, "--type: unknown key type '%.32s'%s; "
		"rsa2048, rsa3072, rsa4096, p256, p384 and ed25519 are "
		"accepted", s ? s : "", s && strlen(s) > 32 ? "..." : "");
}

int keygen_generate(int type, EVP_PKEY **ret)
{
	EVP_PKEY *k = NULL;

	ERR_clear_error();
	switch (type) {
	case KMC_KEY_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case KMC_KEY_P384:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case KMC_KEY_ED25519:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case KMC_KEY_RSA2048:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case KMC_KEY_RSA3072:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	case KMC_KEY_RSA4096:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		break;
	default:
		return kmc_detail(KMC_E_INVALID, "key type %d is not one "
			"of kmc_key_type", type);
	}
	/* Fixed, supported algorithms: only the process's resources (memory,
	   the random generator) can fail here, never the input. */
	if (!k)
		return kmc_detail(KMC_E_NOMEM, "generating a %s key failed: %s",
			type_names[type], ossl_reason());
	*ret = k;
	return 0;
}

int keygen_pkcs8(EVP_PKEY *k, kmc_secret **ret)
{
	int r = key_to_pkcs8(k, ret);

	/* The key was made here: an encoder failure is a resource one. */
	return r == KMC_E_INVALID ? KMC_E_NOMEM : r;
}
