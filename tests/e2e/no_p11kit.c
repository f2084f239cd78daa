/*
 * no_p11kit.c - an LD_PRELOAD shim for test_pkcs11.sh: dlopen() of
 * libp11-kit fails as on a host without p11-kit installed, everything
 * else loads as usual.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>

void *dlopen(const char *file, int mode)
{
	static void *(*real)(const char *, int);

	if (file && strstr(file, "libp11-kit"))
		return NULL;
	if (!real)
		real = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	return real(file, mode);
}
