/*
 * recovery.c - recovery keys as typed text: encoding with a check symbol
 * per group, and the forgiving decoder (format in recovery.h).
 */
#include <string.h>
#include "recovery.h"
#include "crypto.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static int symbol_value(char c)
{
	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	if (c == 'O')
		c = '0';
	if (c == 'I' || c == 'L')
		c = '1';
	for (int i = 0; i < 32; i++)
		if (alphabet[i] == c)
			return i;
	return -1;
}

static int check_symbol(int group, const int s[5])
{
	int sum = group + 1;

	for (int i = 0; i < 5; i++)
		sum += (2 * i + 1) * s[i];
	return sum % 32;
}

/* Bit i of the 200-bit string, most significant first. */
static int get5(const uint8_t *b, int sym)
{
	int v = 0;

	for (int k = 0; k < 5; k++) {
		int bit = sym * 5 + k;

		v = (v << 1) | ((b[bit / 8] >> (7 - bit % 8)) & 1);
	}
	return v;
}

static void put5(uint8_t *b, int sym, int v)
{
	for (int k = 0; k < 5; k++) {
		int bit = sym * 5 + k;

		if ((v >> (4 - k)) & 1)
			b[bit / 8] |= (uint8_t)(1u << (7 - bit % 8));
	}
}

int kmc_recovery_encode(const uint8_t in[RECOVERY_BYTES], kmc_secret **ret)
{
	kmc_secret *s;
	char *out;
	size_t o = 0;

	KMC_GUARD(kmc_secret_new(RECOVERY_TEXT_LEN - 1, &s));
	out = (char *)kmc_secret_data(s);
	for (int g = 0; g < RECOVERY_GROUPS; g++) {
		int sym[5];
		KMC_CLEANUP_ERASE(sym);

		for (int i = 0; i < 5; i++) {
			sym[i] = get5(in, g * 5 + i);
			out[o++] = alphabet[sym[i]];
		}
		out[o++] = alphabet[check_symbol(g, sym)];
		if (g + 1 < RECOVERY_GROUPS)
			out[o++] = '-';
	}
	KMC_ASSERT(o == RECOVERY_TEXT_LEN - 1);
	*ret = s;
	return 0;
}

int kmc_recovery_decode(const char *text, size_t len, kmc_secret **ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;
	int sym[RECOVERY_GROUPS * 6], n = 0;
	KMC_CLEANUP_ERASE(sym);

	KMC_ENSURE(len <= 256, KMC_E_STRING);
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		int v;

		if (c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		v = symbol_value(c);
		if (v < 0)
			return kmc_detail(KMC_E_STRING, "the recovery key holds '%c', "
				"which is not one of %s", c >= 0x20 && c < 0x7f ? c :
				'?', alphabet);
		if (n == RECOVERY_GROUPS * 6)
			return kmc_detail(KMC_E_STRING, "the recovery key is longer "
				"than 8 groups of 6");
		sym[n++] = v;
	}
	if (n != RECOVERY_GROUPS * 6)
		return kmc_detail(KMC_E_STRING, "the recovery key has %d symbols; "
			"it has 8 groups of 6", n);
	KMC_GUARD(kmc_secret_new(RECOVERY_BYTES, &s));
	for (int g = 0; g < RECOVERY_GROUPS; g++) {
		int *gs = &sym[g * 6];

		if (check_symbol(g, gs) != gs[5])
			return kmc_detail(KMC_E_STRING, "group %d of the recovery "
				"key does not check: a typo there?", g + 1);
		for (int i = 0; i < 5; i++)
			put5(kmc_secret_data(s), g * 5 + i, gs[i]);
	}
	*ret = TAKE_PTR(s);
	return 0;
}
