/*
 * p11_wrap.c - a PKCS#11 module for the tests that passes every call to
 * a real one (P11_WRAP_MODULE, say SoftHSM2) except what the test makes
 * it refuse, for what a real token may answer and SoftHSM2 never does:
 *
 *   P11_WRAP_FULL=1   C_GenerateKeyPair and C_CreateObject answer
 *                     CKR_DEVICE_MEMORY (a token without room);
 *   P11_WRAP_NO_EC=1  the token has no CKM_EC_KEY_PAIR_GEN (a token
 *                     that cannot make EC keys).
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST wrapped;
static CK_FUNCTION_LIST_PTR real;

static int set(const char *name)
{
	const char *v = getenv(name);

	return v && strcmp(v, "1") == 0;
}

static CK_RV wrap_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
	CK_MECHANISM_INFO_PTR info)
{
	if (type == CKM_EC_KEY_PAIR_GEN && set("P11_WRAP_NO_EC"))
		return CKR_MECHANISM_INVALID;
	return real->C_GetMechanismInfo(slot, type, info);
}

static CK_RV wrap_GenerateKeyPair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
	CK_ATTRIBUTE_PTR pt, CK_ULONG pn, CK_ATTRIBUTE_PTR st, CK_ULONG sn,
	CK_OBJECT_HANDLE_PTR ph, CK_OBJECT_HANDLE_PTR sh)
{
	if (set("P11_WRAP_FULL"))
		return CKR_DEVICE_MEMORY;
	if (m && m->mechanism == CKM_EC_KEY_PAIR_GEN && set("P11_WRAP_NO_EC"))
		return CKR_MECHANISM_INVALID;
	return real->C_GenerateKeyPair(s, m, pt, pn, st, sn, ph, sh);
}

static CK_RV wrap_CreateObject(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t,
	CK_ULONG n, CK_OBJECT_HANDLE_PTR h)
{
	if (set("P11_WRAP_FULL"))
		return CKR_DEVICE_MEMORY;
	return real->C_CreateObject(s, t, n, h);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	const char *path = getenv("P11_WRAP_MODULE");
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	void *h;
	CK_RV rv;

	if (!list)
		return CKR_ARGUMENTS_BAD;
	if (!real) {
		if (!path || !(h = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
			return CKR_GENERAL_ERROR;
		get = (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(h, "C_GetFunctionList");
		if (!get || (rv = get(&real)) != CKR_OK)
			return CKR_GENERAL_ERROR;
		wrapped = *real;
		wrapped.C_GetMechanismInfo = wrap_GetMechanismInfo;
		wrapped.C_GenerateKeyPair = wrap_GenerateKeyPair;
		wrapped.C_CreateObject = wrap_CreateObject;
	}
	*list = &wrapped;
	return CKR_OK;
}
