/*
 * provtable.c - the library's calls the kmc provider makes, as a table
 * (provtable.h): given by the provider's vault half, kmc/vault.so, and
 * offered by tokenprov.c to a kmc.so loaded beside this library. Its
 * version is kmc_version(), the build's (kmc/errors.c), which kmc.so
 * compares with its own.
 */
#include <pthread.h>
#include "provtable.h"
#include "tokenkey.h"

static kmcprov_vault_api api;
static pthread_once_t api_once = PTHREAD_ONCE_INIT;

static void api_fill(void)
{
	api = (kmcprov_vault_api){
		.size = sizeof(kmcprov_vault_api),
		.version = kmc_version(),
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
}

const kmcprov_vault_api *vault_provider_table(void)
{
	(void)pthread_once(&api_once, api_fill);
	return &api;
}
