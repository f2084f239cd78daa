/*
 * errors.c - one table of messages (s2n's ERR_ENTRY), and the detail of
 * the last failure in this thread, which names the file or item that
 * failed so a caller can say more than the code.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "common.h"

/* Indexed by distance below KMC_E_BASE; errno values never reach it. */
#define ERR_ENTRY(code, msg) [KMC_E_BASE - (code)] = (msg)

static const char *const messages[] = {
	ERR_ENTRY(KMC_E_INVALID, "invalid argument"),
	ERR_ENTRY(KMC_E_NOMEM, "out of memory"),
	ERR_ENTRY(KMC_E_AUTH, "authentication failed: the data was altered, "
		"moved or made by another vault"),
	ERR_ENTRY(KMC_E_UNLOCK, "no protector opened the vault "
		"(wrong passphrase?)"),
	ERR_ENTRY(KMC_E_NEED_PASSPHRASE, "a passphrase is needed to open "
		"the vault"),
	ERR_ENTRY(KMC_E_CORRUPT, "damaged data"),
	ERR_ENTRY(KMC_E_NO_KEYSTORE, "no valid keystore: kmc.ks and "
		"StandbyKsf.ks are both missing or damaged"),
	ERR_ENTRY(KMC_E_VERSION, "format version not supported by this build"),
	ERR_ENTRY(KMC_E_NOT_VAULT, "not a vault"),
	ERR_ENTRY(KMC_E_EXISTS, "already exists"),
	ERR_ENTRY(KMC_E_NOT_FOUND, "no such item"),
	ERR_ENTRY(KMC_E_PERM, "unsafe owner, mode or file type"),
	ERR_ENTRY(KMC_E_NAME, "invalid item name"),
	ERR_ENTRY(KMC_E_TOO_LARGE, "too large"),
	ERR_ENTRY(KMC_E_STRING, "malformed ciphertext string, URI or key text"),
	ERR_ENTRY(KMC_E_WRONG_VAULT, "the item store belongs to another vault"),
	ERR_ENTRY(KMC_E_READONLY, "vault opened read-only"),
	ERR_ENTRY(KMC_E_STORE, "item store failure"),
	ERR_ENTRY(KMC_E_HOST_KEY, "host key missing or not this vault's"),
	ERR_ENTRY(KMC_E_TYPE, "item has another type"),
	ERR_ENTRY(KMC_E_LIMIT, "limit reached"),
	ERR_ENTRY(KMC_E_BUSY, "another process is changing the vault"),
	ERR_ENTRY(KMC_E_EMPTY, "empty secret"),
	ERR_ENTRY(KMC_E_VERIFY, "verification failed"),
	ERR_ENTRY(KMC_E_P11_MODULE, "PKCS#11 module not found or not loadable"),
	ERR_ENTRY(KMC_E_P11_TOKEN, "PKCS#11 token not found"),
	ERR_ENTRY(KMC_E_P11_PIN, "wrong PIN"),
	ERR_ENTRY(KMC_E_P11_PIN_LOCKED, "the token's PIN is locked"),
	ERR_ENTRY(KMC_E_P11_KEY, "token key missing or not the slot's"),
	ERR_ENTRY(KMC_E_P11_KEY_TYPE, "token key of the wrong type or "
		"extractable"),
	ERR_ENTRY(KMC_E_P11, "PKCS#11 token error"),
	ERR_ENTRY(KMC_E_PENDING, "committed but not finished; kmc repair "
		"finishes it"),
	ERR_ENTRY(KMC_E_IN_USE, "still in use"),
	ERR_ENTRY(KMC_E_ROLLBACK, "rolled back to an older state"),
	ERR_ENTRY(KMC_E_AUDIT, "audit log fault"),
};

const char *kmc_strerror(int err)
{
	if (err == 0)
		return "success";
	if (KMC_IS_ERRNO(err))
		return strerror(-err);
	if (err < KMC_E_BASE &&
	    (size_t)(KMC_E_BASE - err) < ELEMENTSOF(messages) &&
	    messages[KMC_E_BASE - err])
		return messages[KMC_E_BASE - err];
	return "unknown error";
}

static _Thread_local char detail[1024];

void kmc_detail_clear(void)
{
	detail[0] = '\0';
}

int kmc_detail(int err, const char *fmt, ...)
{
	char buf[sizeof(detail)];
	va_list ap;

	/* Through a copy: callers may pass kmc_error_detail() itself. */
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	memcpy(detail, buf, sizeof(detail));
	return err;
}

const char *kmc_error_detail(void)
{
	return detail;
}

#ifndef KMC_GIT_VERSION
#define KMC_GIT_VERSION "0.2"
#endif

const char *kmc_version(void)
{
	return KMC_GIT_VERSION;
}
