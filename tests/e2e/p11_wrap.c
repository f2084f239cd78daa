/*
 * p11_wrap.c - a PKCS#11 module for the tests that passes every call to
 * a real one (P11_WRAP_MODULE, say SoftHSM2) except what the test makes
 * it refuse, for what a real token may answer and SoftHSM2 never does:
 *
 *   P11_WRAP_FULL=1   C_GenerateKeyPair and C_CreateObject answer
 *                     CKR_DEVICE_MEMORY (a token without room);
 *   P11_WRAP_NO_EC=1  the token has no CKM_EC_KEY_PAIR_GEN (a token
 *                     that cannot make EC keys);
 *   P11_WRAP_NO_CBC=1 C_DecryptInit answers CKR_MECHANISM_INVALID for
 *                     CKM_AES_CBC (a token without AES-CBC);
 *   P11_WRAP_LOCKED=1 C_GetTokenInfo reports CKF_USER_PIN_LOCKED (a
 *                     token that counted too many wrong PINs);
 *   P11_WRAP_LOG=FILE each call a vault unwrap may make is appended to
 *                     FILE by name, one a line (C_Login, C_FindObjectsInit,
 *                     ...), so a test sees which calls reach the token;
 *   P11_WRAP_FLAKY_LOGIN=N  the process's first N C_Login calls answer
 *                     CKR_GENERAL_ERROR, as SoftHSM2 does while another
 *                     process rewrites its token file;
 *   P11_WRAP_HIDE_DATA=N    the process's first N searches for data
 *                     objects find none, as SoftHSM2's do while another
 *                     process replaces one.
 */
#include <dlfcn.h>
#include <stdio.h>
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

/* Whether the variable's count of calls to spoil is not used up yet. */
static int spoil(const char *name, int *used)
{
	const char *v = getenv(name);

	if (!v || *used >= atoi(v))
		return 0;
	(*used)++;
	return 1;
}

static void logged(const char *call)
{
	const char *path = getenv("P11_WRAP_LOG");
	FILE *f;

	if (!path || !(f = fopen(path, "a")))
		return;
	fprintf(f, "%s\n", call);
	fclose(f);
}

static CK_RV wrap_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
	CK_MECHANISM_INFO_PTR info)
{
	logged("C_GetMechanismInfo");
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

static CK_RV wrap_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR slots,
	CK_ULONG_PTR n)
{
	logged("C_GetSlotList");
	return real->C_GetSlotList(present, slots, n);
}

static CK_RV wrap_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv = real->C_GetTokenInfo(slot, info);

	logged("C_GetTokenInfo");
	if (rv == CKR_OK && set("P11_WRAP_LOCKED"))
		info->flags |= CKF_USER_PIN_LOCKED;
	return rv;
}

static CK_RV wrap_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
	CK_NOTIFY notify, CK_SESSION_HANDLE_PTR s)
{
	logged("C_OpenSession");
	return real->C_OpenSession(slot, flags, app, notify, s);
}

static CK_RV wrap_GetSessionInfo(CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info)
{
	logged("C_GetSessionInfo");
	return real->C_GetSessionInfo(s, info);
}

static CK_RV wrap_Login(CK_SESSION_HANDLE s, CK_USER_TYPE who,
	CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	static int flaky;

	logged("C_Login");
	if (spoil("P11_WRAP_FLAKY_LOGIN", &flaky))
		return CKR_GENERAL_ERROR;
	return real->C_Login(s, who, pin, len);
}

static CK_RV wrap_FindObjectsInit(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t,
	CK_ULONG n)
{
	static int hidden;
	static const char none[] = "kmc-test: no such object";

	logged("C_FindObjectsInit");
	for (CK_ULONG i = 0; i < n; i++)
		if (t[i].type == CKA_CLASS && t[i].pValue &&
		    t[i].ulValueLen == sizeof(CK_OBJECT_CLASS) &&
		    *(CK_OBJECT_CLASS *)t[i].pValue == CKO_DATA &&
		    spoil("P11_WRAP_HIDE_DATA", &hidden)) {
			CK_ATTRIBUTE q[] = {
				{ CKA_LABEL, (void *)none, sizeof(none) - 1 },
			};

			return real->C_FindObjectsInit(s, q, 1);
		}
	return real->C_FindObjectsInit(s, t, n);
}

static CK_RV wrap_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
	CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	logged("C_GetAttributeValue");
	return real->C_GetAttributeValue(s, o, t, n);
}

static CK_RV wrap_DecryptInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
	CK_OBJECT_HANDLE k)
{
	logged("C_DecryptInit");
	if (m && m->mechanism == CKM_AES_CBC && set("P11_WRAP_NO_CBC"))
		return CKR_MECHANISM_INVALID;
	return real->C_DecryptInit(s, m, k);
}

static CK_RV wrap_Decrypt(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG n,
	CK_BYTE_PTR out, CK_ULONG_PTR out_n)
{
	logged("C_Decrypt");
	return real->C_Decrypt(s, in, n, out, out_n);
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
		wrapped.C_GetSlotList = wrap_GetSlotList;
		wrapped.C_GetTokenInfo = wrap_GetTokenInfo;
		wrapped.C_OpenSession = wrap_OpenSession;
		wrapped.C_GetSessionInfo = wrap_GetSessionInfo;
		wrapped.C_Login = wrap_Login;
		wrapped.C_FindObjectsInit = wrap_FindObjectsInit;
		wrapped.C_GetAttributeValue = wrap_GetAttributeValue;
		wrapped.C_DecryptInit = wrap_DecryptInit;
		wrapped.C_Decrypt = wrap_Decrypt;
	}
	*list = &wrapped;
	return CKR_OK;
}
