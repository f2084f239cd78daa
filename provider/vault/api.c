/*
 * api.c - the provider's vault half (kmc/vault.so): the table of library
 * calls that kmc.so makes once a key is asked for (see ../vaultapi.h),
 * the library's own (vault/provtable.c).
 */
#include "../vaultapi.h"

__attribute__((visibility("default"))) kmcprov_vault_api_fn kmcprov_vault_get;

const kmcprov_vault_api *kmcprov_vault_get(void)
{
	return vault_provider_table();
}
