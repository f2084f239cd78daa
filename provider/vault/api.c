/*
 * api.c - the provider's vault half (kmc/vault.so): the table of library
 * calls that kmc.so makes once a key is asked for (see ../vaultapi.h).
 * KMC_GIT_VERSION comes from the Makefile, as for kmc.so itself.
 */
#include "../vaultapi.h"
#include "../../vault/tokenkey.h"

__attribute__((visibility("default"))) kmcprov_vault_api_fn kmcprov_vault_get;

const kmcprov_vault_api *kmcprov_vault_get(void)
{
	static const kmcprov_vault_api api = {
		.size = sizeof(kmcprov_vault_api),
		.version = KMC_GIT_VERSION,
		.error_detail = kmc_error_detail,
		.strerror = kmc_strerror,
		.escape = kmc_escape,
		.default_vault_dir = kmc_default_vault_dir,
		.uri_parse = kmc_uri_parse,
		.vault_open_ex = kmc_vault_open_ex,
		.vault_close = kmc_vault_close,
		.key_or_token = vault_key_or_token,
		.secret_data = kmc_secret_data,
		.secret_len = kmc_secret_len,
		.secret_free = kmc_secret_free,
		.token_key_sign = kmc_token_key_sign,
		.token_key_decrypt = kmc_token_key_decrypt,
		.token_key_check = kmc_token_key_check,
	};

	return &api;
}
