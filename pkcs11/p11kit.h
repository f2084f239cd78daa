/*
 * p11kit.h - p11-kit, loaded at run time on the first PKCS#11 URI.
 *
 * Only the pkcs11 and tpm protectors use p11-kit; linking it (and its
 * libffi) into every program that opens a vault cost each of them the
 * load and relocation of both, the OpenSSL provider inside every server
 * above all. So the library is not linked against it: p11kit_load()
 * dlopens libp11-kit.so.0 once and fills p11k with the few calls used.
 * Its types and constants still come from the p11-kit headers.
 */
#ifndef KMC_P11KIT_H
#define KMC_P11KIT_H

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>
#include <p11-kit/pkcs11.h>
#include "../kmc/common.h"

#define P11KIT_SONAME "libp11-kit.so.0"

typedef struct p11kit_api {
	const char *(*message)(void);
	CK_FUNCTION_LIST *(*module_load)(const char *path, int flags);
	CK_RV (*module_initialize)(CK_FUNCTION_LIST *module);
	CK_RV (*module_finalize)(CK_FUNCTION_LIST *module);
	void (*module_release)(CK_FUNCTION_LIST *module);
	char *(*module_get_name)(CK_FUNCTION_LIST *module);
	CK_FUNCTION_LIST **(*modules_load)(void *reserved, int flags);
	void (*modules_release)(CK_FUNCTION_LIST **modules);
	P11KitUri *(*uri_new)(void);
	void (*uri_free)(P11KitUri *uri);
	int (*uri_parse)(const char *string, P11KitUriType uri_type,
		P11KitUri *uri);
	int (*uri_format)(P11KitUri *uri, P11KitUriType uri_type,
		char **string);
	const char *(*uri_message)(int code);
	CK_ATTRIBUTE_PTR (*uri_get_attribute)(P11KitUri *uri,
		CK_ATTRIBUTE_TYPE attr_type);
	const char *(*uri_get_module_name)(P11KitUri *uri);
	const char *(*uri_get_module_path)(P11KitUri *uri);
	const char *(*uri_get_pin_value)(P11KitUri *uri);
	void (*uri_set_pin_value)(P11KitUri *uri, const char *pin);
	const char *(*uri_get_pin_source)(P11KitUri *uri);
	void (*uri_set_pin_source)(P11KitUri *uri, const char *pin_source);
	int (*uri_match_token_info)(P11KitUri *uri, CK_TOKEN_INFO_PTR info);
	int (*uri_set_attribute)(P11KitUri *uri, CK_ATTRIBUTE_PTR attr);
} p11kit_api;

/* Filled by p11kit_load(); read only after it returned 0. */
KMC_INTERNAL extern p11kit_api p11k;

/*
 * p11kit_load - load libp11-kit.so.0 unless done. Returns 0, or
 * KMC_E_P11_MODULE with a detail naming the library and why it did not
 * load. A failure is not remembered: the next call tries again.
 */
KMC_INTERNAL int p11kit_load(void) KMC_MUST_CHECK;

#endif
