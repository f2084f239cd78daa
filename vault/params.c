/*
 * params.c - the structs a caller hands the library (kmc_options and
 * every kmc_*_params), each carrying the size it was built with. An
 * older caller's is smaller: what it lacks reads as unset. A newer
 * caller's is larger: what lies past this library's struct must be
 * zero, as the kernel takes openat2's and clone3's. A field set there
 * asks for something this library does not know (a stricter check, a
 * new mode); doing the rest without it would be weaker than asked,
 * without a word, so the call is refused.
 */
#include <string.h>
#include "vault.h"

/* No struct of kmc.h will grow past a page, as the kernel caps
   openat2's: a larger size is a field never set (uninitialised memory),
   whose bytes past the struct would be read far out of the caller's. */
#define PARAMS_SIZE_MAX 4096

int vault_params_known(const void *p, size_t given, size_t known,
	const char *type)
{
	const unsigned char *b = p;

	if (given > PARAMS_SIZE_MAX)
		return kmc_detail(KMC_E_INVALID, "%s.size is %zu, larger than "
			"any %s can be (%d bytes at most): set it to sizeof(%s) "
			"(its _INIT macro)", type, given, type, PARAMS_SIZE_MAX,
			type);
	for (size_t i = known; i < given; i++)
		if (b[i])
			return kmc_detail(KMC_E_INVALID, "%s.size is %zu, and "
				"byte %zu, past the %zu bytes of this library's "
				"%s, is set: a field of a newer kmc.h that this "
				"libkmc cannot honour (build against its own "
				"kmc.h, or install the newer libkmc)", type,
				given, i, known, type);
	return 0;
}

int vault_options_copy(const kmc_options *in, kmc_options *out)
{
	memset(out, 0, sizeof(*out));
	if (in) {
		/* A size left 0 would have every field read as unset: a
		   host key, token URI or cost the caller set, ignored. */
		if (in->size < sizeof(in->size))
			return kmc_detail(KMC_E_INVALID, "kmc_options.size is "
				"%zu: set it to sizeof(kmc_options) "
				"(KMC_OPTIONS_INIT)", in->size);
		KMC_GUARD(vault_params_known(in, in->size, sizeof(*out),
			"kmc_options"));
		memcpy(out, in, in->size < sizeof(*out) ? in->size :
			sizeof(*out));
	}
	out->size = sizeof(*out);
	return 0;
}
