/*
 * ciphers.h - the options of kmc_ssl_ctx_use_ex() (vault/ciphers.c), for
 * vault/tls.c.
 */
#ifndef KMC_CIPHERS_H
#define KMC_CIPHERS_H

#include <kmc/tls.h>
#include "vault.h"

/* p (NULL: the defaults) checked whole and copied into *ret, at the
   library's size; KMC_E_INVALID names the field or the cipher-string
   part at fault. */
KMC_INTERNAL int tls_params_read(const kmc_tls_params *p,
	kmc_tls_params *ret) KMC_MUST_CHECK;
/* The cipher strings of a checked q onto ctx. */
KMC_INTERNAL int tls_params_apply(SSL_CTX *ctx, const kmc_tls_params *q)
	KMC_MUST_CHECK;

#endif
