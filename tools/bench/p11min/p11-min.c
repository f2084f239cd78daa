/*
 * p11-min.c - the peer of kmc-bench's cold HSM row: the least a process
 * must do to have a token unwrap a vault's key, and nothing else.
 *
 *	kmc-p11-min MODULE TOKEN PIN_FILE KEY_LABEL
 *
 * Loads MODULE (dlopen + C_GetFunctionList), C_Initialize, finds the
 * token labelled TOKEN, opens a session, logs in with the PIN read from
 * PIN_FILE, finds the secret key labelled KEY_LABEL and decrypts 32 bytes
 * with it (AES-CBC), as a kmc process opening a vault through the token
 * does; then logs out, closes and finalizes. Exit 0, or 1 naming the
 * failed call.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <p11-kit/pkcs11.h>

static int fail(const char *what, CK_RV rv)
{
	fprintf(stderr, "kmc-p11-min: %s: PKCS#11 error 0x%lx\n", what,
		(unsigned long)rv);
	return 1;
}

int main(int argc, char **argv)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BYTE iv[16] = { 0 }, ct[32] = { 0 }, pt[32];
	CK_MECHANISM m = { CKM_AES_CBC, iv, sizeof(iv) };
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, got = 0, len = sizeof(pt);
	CK_SESSION_HANDLE s = 0;
	CK_OBJECT_HANDLE key;
	CK_RV rv;
	char label[33], pin[256];
	size_t pin_len;
	void *mod;
	FILE *pf;

	if (argc != 5) {
		fprintf(stderr, "usage: kmc-p11-min MODULE TOKEN PIN_FILE "
			"KEY_LABEL\n");
		return 2;
	}
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, argv[4], strlen(argv[4]) },
	};
	pf = fopen(argv[3], "r");
	if (!pf) {
		perror(argv[3]);
		return 1;
	}
	pin_len = fread(pin, 1, sizeof(pin), pf);
	fclose(pf);
	while (pin_len && (pin[pin_len - 1] == '\n' || pin[pin_len - 1] == '\r'))
		pin_len--;
	mod = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!mod) {
		fprintf(stderr, "kmc-p11-min: %s\n", dlerror());
		return 1;
	}
	*(void **)&get = dlsym(mod, "C_GetFunctionList");
	if (!get || (rv = get(&f)) != CKR_OK)
		return fail("C_GetFunctionList", get ? rv : CKR_GENERAL_ERROR);
	if ((rv = f->C_Initialize(NULL)) != CKR_OK)
		return fail("C_Initialize", rv);
	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		return fail("C_GetSlotList", rv);
	snprintf(label, sizeof(label), "%-32s", argv[2]);
	for (CK_ULONG i = 0; i < n && !s; i++) {
		CK_TOKEN_INFO ti;

		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    memcmp(ti.label, label, 32) != 0)
			continue;
		if ((rv = f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL,
				NULL, &s)) != CKR_OK)
			return fail("C_OpenSession", rv);
	}
	if (!s)
		return fail("no such token", CKR_TOKEN_NOT_PRESENT);
	if ((rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)pin, pin_len)) != CKR_OK)
		return fail("C_Login", rv);
	if ((rv = f->C_FindObjectsInit(s, tmpl, 2)) != CKR_OK ||
	    (rv = f->C_FindObjects(s, &key, 1, &got)) != CKR_OK ||
	    (rv = f->C_FindObjectsFinal(s)) != CKR_OK)
		return fail("C_FindObjects", rv);
	if (got != 1)
		return fail("no such key", CKR_KEY_HANDLE_INVALID);
	if ((rv = f->C_DecryptInit(s, &m, key)) != CKR_OK ||
	    (rv = f->C_Decrypt(s, ct, sizeof(ct), pt, &len)) != CKR_OK)
		return fail("C_Decrypt", rv);
	(void)f->C_Logout(s);
	(void)f->C_CloseSession(s);
	(void)f->C_Finalize(NULL);
	return len == sizeof(pt) ? 0 : fail("C_Decrypt length", CKR_GENERAL_ERROR);
}
