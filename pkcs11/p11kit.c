/*
 * p11kit.c - p11-kit loaded on first use (see p11kit.h).
 */
#include <dlfcn.h>
#include <stddef.h>
#include <pthread.h>
#include <string.h>
#include "p11kit.h"

p11kit_api p11k;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;

/* The name in the library, and where its address goes in p11k. */
#define ENTRY(field, sym) { sym, offsetof(p11kit_api, field) }
static const struct {
	const char *sym;
	size_t off;
} entries[] = {
	ENTRY(message, "p11_kit_message"),
	ENTRY(module_load, "p11_kit_module_load"),
	ENTRY(module_initialize, "p11_kit_module_initialize"),
	ENTRY(module_finalize, "p11_kit_module_finalize"),
	ENTRY(module_release, "p11_kit_module_release"),
	ENTRY(module_get_name, "p11_kit_module_get_name"),
	ENTRY(modules_load, "p11_kit_modules_load"),
	ENTRY(modules_release, "p11_kit_modules_release"),
	ENTRY(uri_new, "p11_kit_uri_new"),
	ENTRY(uri_free, "p11_kit_uri_free"),
	ENTRY(uri_parse, "p11_kit_uri_parse"),
	ENTRY(uri_format, "p11_kit_uri_format"),
	ENTRY(uri_message, "p11_kit_uri_message"),
	ENTRY(uri_get_attribute, "p11_kit_uri_get_attribute"),
	ENTRY(uri_get_module_name, "p11_kit_uri_get_module_name"),
	ENTRY(uri_get_module_path, "p11_kit_uri_get_module_path"),
	ENTRY(uri_get_pin_value, "p11_kit_uri_get_pin_value"),
	ENTRY(uri_set_pin_value, "p11_kit_uri_set_pin_value"),
	ENTRY(uri_get_pin_source, "p11_kit_uri_get_pin_source"),
	ENTRY(uri_set_pin_source, "p11_kit_uri_set_pin_source"),
	ENTRY(uri_match_token_info, "p11_kit_uri_match_token_info"),
	ENTRY(uri_set_attribute, "p11_kit_uri_set_attribute"),
};
_Static_assert(sizeof(entries) / sizeof(entries[0]) * sizeof(void (*)(void))
	== sizeof(p11kit_api), "every p11kit_api field has an entry");

static int load_locked(void)
{
	p11kit_api api;
	void *h;

	if (loaded)
		return 0;
	/* Never closed: modules and URIs it hands out live as long. */
	h = dlopen(P11KIT_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();

		return kmc_detail(KMC_E_P11_MODULE, "PKCS#11 and TPM protectors "
			"need p11-kit, and %s does not load: %s (install p11-kit, "
			"Debian: libp11-kit0)", P11KIT_SONAME, why ? why :
			"unknown reason");
	}
	for (size_t i = 0; i < ELEMENTSOF(entries); i++) {
		void *f = dlsym(h, entries[i].sym);

		if (!f) {
			(void)dlclose(h);
			return kmc_detail(KMC_E_P11_MODULE, "%s has no %s: p11-kit "
				"0.23 or later is needed", P11KIT_SONAME,
				entries[i].sym);
		}
		/* POSIX: a function's address survives the trip through
		   void *; the table is of function pointers only. */
		memcpy((char *)&api + entries[i].off, &f, sizeof(f));
	}
	p11k = api;
	loaded = 1;
	return 0;
}

int p11kit_load(void)
{
	int r;

	pthread_mutex_lock(&load_lock);
	r = load_locked();
	pthread_mutex_unlock(&load_lock);
	return r;
}
