/*
 * certinfo.c - kmc_cert_info_get() and _version(): a bundle's or a
 * file's certificates, described. Apart from tls.c because the kmc
 * command needs these and nothing of libssl: a program that never sets up
 * an SSL_CTX (the command, linked with --as-needed) then does not load
 * libssl at all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>
#include <kmc/tls.h>
#include "x509.h"

static void sk_X509_pop_freep(STACK_OF(X509) **s)
{
	sk_X509_pop_free(*s, X509_free);
}

void kmc_cert_info_free(kmc_cert_info *info, size_t n)
{
	if (!info)
		return;
	for (size_t i = 0; i < n; i++)
		free(info[i].pem);
	free(info);
}

/* Describe each certificate of certs into a new array. */
static int describe_all(STACK_OF(X509) *certs, kmc_cert_info **ret_info,
	size_t *ret_n)
{
	kmc_cert_info *info;
	int r, n;

	n = sk_X509_num(certs);
	info = calloc((size_t)n, sizeof(*info));
	KMC_ENSURE(info, KMC_E_NOMEM);
	for (int i = 0; i < n; i++) {
		r = cert_describe(sk_X509_value(certs, i), &info[i]);
		if (r < 0) {
			kmc_cert_info_free(info, (size_t)i);
			return r;
		}
	}
	*ret_info = info;
	*ret_n = (size_t)n;
	return 0;
}

int kmc_cert_info_version(kmc_vault *v, const char *name, uint32_t version,
	kmc_cert_info **ret_info, size_t *ret_n)
{
	_cleanup_(kmc_secret_freep) kmc_secret *item = NULL;
	_cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
	char full[KMC_NAME_MAX + 1];
	int n = snprintf(full, sizeof(full), "%s/cert", name);

	kmc_detail_clear();
	if (n < 0 || (size_t)n >= sizeof(full) ||
	    strlen(name) > KMC_BUNDLE_NAME_MAX)
		return kmc_detail(KMC_E_NAME, "bundle name %s is too long", name);
	KMC_GUARD(kmc_item_get_version(v, full, version, KMC_ITEM_CERTIFICATE,
		&item));
	KMC_GUARD(certs_parse(full, kmc_secret_data(item),
		kmc_secret_len(item), &certs));
	return describe_all(certs, ret_info, ret_n);
}

/* The vault's certificate of name: a bundle's, or a certificate item's. */
typedef struct info_job {
	const char *name;
	kmc_secret *item;
	int no_cert_yet;	/* a bundle whose key awaits its certificate */
} info_job;

static int info_read(kmc_vault *v, void *arg)
{
	info_job *j = arg;
	int r = KMC_E_NOT_FOUND;

	if (strlen(j->name) <= KMC_BUNDLE_NAME_MAX)
		r = vault_part_get(v, j->name, "cert", KMC_ITEM_CERTIFICATE,
			&j->item);
	if (r == KMC_E_NOT_FOUND && bundle_without_cert(v, j->name)) {
		j->no_cert_yet = 1;
		return kmc_detail(r, "bundle %s has no certificate yet: kmc csr "
			"%s, then kmc cert set %s -s SIGNED.crt", j->name,
			j->name, j->name);
	}
	if (r == KMC_E_NOT_FOUND && kmc_name_check(j->name) == 0)
		r = kmc_item_get(v, j->name, KMC_ITEM_CERTIFICATE, &j->item);
	return r;
}

static void info_undo(void *arg)
{
	info_job *j = arg;

	kmc_secret_free(j->item);
	j->item = NULL;
	j->no_cert_yet = 0;
}

int kmc_cert_info_get(kmc_vault *v, const char *name_or_file,
	kmc_cert_info **ret_info, size_t *ret_n)
{
	_cleanup_(kmc_secret_freep) kmc_secret *item = NULL;
	_cleanup_(freep) uint8_t *raw = NULL;
	_cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
	info_job job = { name_or_file, NULL, 0 };
	size_t len = 0;
	int r = KMC_E_NOT_FOUND;

	kmc_detail_clear();
	/* The bundle's certificate, else the item of that name, as of one
	   version of the vault: read across a kmc rm and import of the
	   bundle, the first could be gone and the second be the bundle's
	   password item, refused as "not a certificate". */
	if (v) {
		r = vault_read_one_version(v, name_or_file, info_read,
			info_undo, &job);
		item = TAKE_PTR(job.item);
		if (job.no_cert_yet)
			return r;
	}
	if (r == 0) {
		KMC_GUARD(certs_parse(name_or_file, kmc_secret_data(item),
			kmc_secret_len(item), &certs));
	} else if (r == KMC_E_NOT_FOUND) {
		kmc_detail_clear();
		r = input_read(name_or_file, INPUT_CERT, &raw, &len, NULL);
		if (r == -ENOENT)
			return kmc_detail(KMC_E_NOT_FOUND, "%s is neither a "
				"certificate item%s nor a file", name_or_file,
				v ? "" : " (no vault open)");
		KMC_GUARD(r);
		KMC_GUARD(input_error(certs_parse(name_or_file, raw, len,
			&certs)));
	} else {
		return r;
	}
	return describe_all(certs, ret_info, ret_n);
}
