/*
 * vaultapi.h - between the provider module (kmc.so, provider/kmcprov.c)
 * and its vault half (kmc/vault.so beside it, provider/vault/api.c).
 *
 * Every program that loads the provider pays for what kmc.so links, even
 * one that never asks it for a key (a server with kmc in openssl.cnf and
 * a plain PEM key). So kmc.so links libcrypto only, and the vault code
 * (libkmcvault, libsodium, LMDB) is in vault.so, loaded on the first
 * kmc: URI or KMC KEY REFERENCE. vault.so exports one function, which
 * returns the table of the library calls the provider makes
 * (vault/provtable.h). A process that links libkmcvault offers kmc.so
 * its own table first when it loads a token key through it, and kmc.so
 * then never loads vault.so (vault/tokenprov.c).
 *
 * Both halves come from one build: the provider takes the table only if
 * its version string is its own, so a half left from another build is
 * refused rather than called with another layout.
 */
#ifndef KMC_PROVIDER_VAULTAPI_H
#define KMC_PROVIDER_VAULTAPI_H
#include "../vault/provtable.h"

/* Where the vault half lives, relative to kmc.so's directory. */
#define KMCPROV_VAULT_FILE "kmc/vault.so"
#define KMCPROV_VAULT_SYM "kmcprov_vault_get"

#endif
