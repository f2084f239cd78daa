/*
 * provtable.c - the library's calls the kmc provider makes, as a table
 * (provtable.h): given by the provider's vault half, kmc/vault.so, and
 * offered by tokenprov.c to a kmc.so loaded beside this library.
 * KMC_GIT_VERSION comes from the Makefile, as for kmc.so itself.
 */
#include "provtable.h"
#include "tokenkey.h"

const kmcprov_vault_api *vault_provider_table(void)
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
