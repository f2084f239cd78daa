/*
 * server_boot.c - what a server does at start-up with kmcvault: open the
 * vault, take the password that unlocks its TLS key into guarded memory,
 * check it against the ciphertext string its config file carries, and
 * notice later changes through the vault's generation.
 *
 *	server_boot [--vault DIR] NAME [CONFIG]
 *
 * CONFIG is a "key = value" file; its server_key_mm entry, if present, is
 * a ciphertext string made by `kmc encrypt`. Nothing secret is printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <kmc.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The value of "key = value" in a config file, or NULL. */
static char *config_value(const char *path, const char *key)
{
	char line[8448];
	char *found = NULL;
	FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = line, *eq;
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || strncmp(p, key, strlen(key)) != 0)
			continue;
		eq = p + strlen(key);
		while (*eq == ' ' || *eq == '\t')
			eq++;
		if (*eq != '=')
			continue;
		eq++;
		while (*eq == ' ' || *eq == '\t')
			eq++;
		n = strcspn(eq, "\r\n");
		eq[n] = '\0';
		found = strdup(eq);
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *name, *config;
	kmc_vault *v;
	kmc_secret *pw, *mm;
	uint64_t gen;
	double t0, t1;
	char *s;
	int i = 1, r;

	if (argc > 2 && strcmp(argv[1], "--vault") == 0) {
		dir = argv[2];
		i = 3;
	}
	if (argc - i < 1 || argc - i > 2) {
		fprintf(stderr, "usage: server_boot [--vault DIR] NAME [CONFIG]\n");
		return 2;
	}
	name = argv[i];
	config = argc - i == 2 ? argv[i + 1] : NULL;

	t0 = now_us();
	r = kmc_vault_open(dir, 0, &v);
	if (r == 0) {
		r = kmc_item_get(v, name, KMC_ITEM_PASSWORD, &pw);
		if (r < 0)
			kmc_vault_close(v);
	}
	t1 = now_us();
	if (r < 0) {
		fprintf(stderr, "server_boot: %s: %s\n", kmc_strerror(r),
			kmc_error_detail());
		return 1;
	}
	printf("opened the vault and unwrapped password %s (%zu bytes) "
		"in %.0f us\n", name, kmc_secret_len(pw), t1 - t0);

	if (config && (s = config_value(config, "server_key_mm")) != NULL) {
		r = kmc_string_decrypt(v, s, &mm);
		free(s);
		if (r < 0) {
			fprintf(stderr, "server_boot: %s: server_key_mm: %s\n",
				config, kmc_error_detail());
			kmc_secret_free(pw);
			kmc_vault_close(v);
			return 1;
		}
		printf("%s: server_key_mm %s the stored password\n", config,
			kmc_secret_len(mm) == kmc_secret_len(pw) &&
			memcmp(kmc_secret_data(mm), kmc_secret_data(pw),
				kmc_secret_len(pw)) == 0 ? "matches" :
			"DIFFERS FROM");
		kmc_secret_free(mm);
	}
	/* A long-running server polls this and reloads when it grows. */
	if (kmc_vault_generation(v, &gen) == 0)
		printf("vault generation %llu\n", (unsigned long long)gen);
	/* Here the server would hand the password to its key loader. */
	kmc_secret_free(pw);
	kmc_vault_close(v);
	return 0;
}
