/*
 * subject.c - the subject of a CSR or certificate ("/CN=a/O=b", as
 * openssl's -subj writes it) and its subject alternative names
 * ("DNS:a,IP:1.2.3.4"), from the command line to OpenSSL's structures.
 *
 * Both parsers are bounded (keygen.h's *_MAX) and name the part they
 * refuse, shown with anything outside printable ASCII as '?' so that a
 * message never carries control bytes to a terminal.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include "keygen.h"
#include "x509.h"

/* Text of p[0..n) fit for a message: printable ASCII, others '?', cut. */
static const char *shown(const char *p, size_t n, char buf[72])
{
	size_t i, max = 64;

	for (i = 0; i < n && i < max; i++)
		buf[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
	if (n > max)
		memcpy(buf + i, "...", 3), i += 3;
	buf[i] = '\0';
	return buf;
}

/* The attributes a subject may name: the short names OpenSSL knows. */
static const char *const subject_attrs[] = {
	"C", "ST", "L", "O", "OU", "CN", "emailAddress", "serialNumber",
	"DC", "UID", "street", "title", "GN", "SN", "pseudonym",
	"postalCode",
};

static int attr_nid(const char *p, size_t n)
{
	for (size_t i = 0; i < ELEMENTSOF(subject_attrs); i++)
		if (strlen(subject_attrs[i]) == n &&
		    strncasecmp(subject_attrs[i], p, n) == 0)
			return OBJ_sn2nid(subject_attrs[i]);
	return NID_undef;
}

/* Whether p[0..n) is UTF-8 (no overlong forms, no surrogates) without
 * C0 or C1 controls or DEL. */
static int utf8_clean(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i], need, cp;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, cp = c & 0x07;
		else
			return 0;
		if (n - i <= need)
			return 0;
		for (unsigned k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
		    (cp >= 0x80 && cp < 0xa0))
			return 0;
		i += need + 1;
	}
	return 1;
}

static void x509_name_freep(X509_NAME **n)
{
	X509_NAME_free(*n);
}

/* The part p[0..n) whose value is too long or too short for attribute
 * nid: the bounds X.520 sets for it, in characters, as OpenSSL's table
 * holds them, else as upper_bound() does. */
static int length_fault(const char *p, size_t n, int nid, long max)
{
	const ASN1_STRING_TABLE *t = ASN1_STRING_TABLE_get(nid);
	long min = t && t->minsize > 0 ? t->minsize : 1;
	char show[72], bounds[64] = "";

	if (t && t->maxsize > 0)
		max = t->maxsize;
	if (max > 0 && min == max)
		snprintf(bounds, sizeof(bounds), " (exactly %ld characters)",
			min);
	else if (max > 0)
		snprintf(bounds, sizeof(bounds), " (%ld to %ld characters)",
			min, max);
	return kmc_detail(KMC_E_INVALID, "--subject: part '%s': the value's "
		"length is outside what X.520 allows for %s%s",
		shown(p, n, show), OBJ_nid2sn(nid), bounds);
}

/* X.520's upper bound on attributes OpenSSL sets none for (its table
 * covers CN, C, L, ST, O, OU, emailAddress, serialNumber, GN, SN...):
 * 0 for none. */
static long upper_bound(int nid)
{
	switch (nid) {
	case NID_title: return 64;		/* ub-title */
	case NID_postalCode: return 40;		/* ub-postal-code */
	case NID_streetAddress: return 128;	/* ub-street-address */
	case NID_pseudonym: return 128;		/* ub-pseudonym */
	}
	return 0;
}

/* Characters in UTF-8 text p[0..n): bytes that do not continue one. */
static size_t utf8_chars(const char *p, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)p[i] & 0xc0) != 0x80;
	return c;
}

/* One "ATTR=value" part, p[0..n) as written (escapes still in), added
 * to name. */
static int subject_part(X509_NAME *name, const char *p, size_t n)
{
	char show[72], value[SUBJECT_TEXT_MAX + 1];
	const char *eq = memchr(p, '=', n);
	size_t vlen = 0;
	unsigned long e;
	int nid;

	if (n == 0)
		return kmc_detail(KMC_E_INVALID, "--subject: an empty part "
			"(two '/' in a row, or one at the end)");
	if (!eq)
		return kmc_detail(KMC_E_INVALID, "--subject: part '%s' has no "
			"'=' (write ATTR=value, e.g. CN=host.example)",
			shown(p, n, show));
	nid = attr_nid(p, (size_t)(eq - p));
	if (nid == NID_undef)
		return kmc_detail(KMC_E_INVALID, "--subject: part '%s': unknown "
			"attribute '%s' (C, ST, L, O, OU, CN, emailAddress, "
			"serialNumber, DC, UID, street, title, GN, SN, pseudonym "
			"and postalCode are accepted)", shown(p, n, show),
			shown(p, (size_t)(eq - p), (char[72]){0}));
	for (const char *q = eq + 1; q < p + n; q++) {
		if (*q == '\\') {
			if (++q == p + n)
				return kmc_detail(KMC_E_INVALID, "--subject: part "
					"'%s' ends in a backslash that escapes "
					"nothing", shown(p, n, show));
		} else if (*q == '+') {
			return kmc_detail(KMC_E_INVALID, "--subject: part '%s': "
				"multi-valued parts ('+') are not supported; "
				"for a plus sign in the value, put a backslash "
				"before it", shown(p, n, show));
		}
		value[vlen++] = *q;
	}
	if (vlen == 0)
		return kmc_detail(KMC_E_INVALID, "--subject: part '%s' has an "
			"empty value", shown(p, n, show));
	if (!utf8_clean((const unsigned char *)value, vlen))
		return kmc_detail(KMC_E_INVALID, "--subject: part '%s': the "
			"value is not UTF-8 text, or holds control characters",
			shown(p, n, show));
	if (upper_bound(nid) && utf8_chars(value, vlen) > (size_t)upper_bound(nid))
		return length_fault(p, n, nid, upper_bound(nid));
	ERR_clear_error();
	if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
			(const unsigned char *)value, (int)vlen, -1, 0))
		return 0;
	e = ERR_peek_last_error();
	if (ossl_nomem() || !e)
		return KMC_E_NOMEM;
	switch (ERR_GET_REASON(e)) {
	case ASN1_R_STRING_TOO_LONG:
	case ASN1_R_STRING_TOO_SHORT:
		return length_fault(p, n, nid, 0);
	case ASN1_R_ILLEGAL_CHARACTERS:
		/* An IA5String (emailAddress, DC) takes any ASCII; a
		   PrintableString (C, serialNumber) only these. */
		if (ASN1_STRING_TABLE_get(nid) &&
		    !(ASN1_STRING_TABLE_get(nid)->mask & B_ASN1_PRINTABLESTRING))
			return kmc_detail(KMC_E_INVALID, "--subject: part '%s': "
				"%s takes ASCII only", shown(p, n, show),
				OBJ_nid2sn(nid));
		return kmc_detail(KMC_E_INVALID, "--subject: part '%s': %s "
			"takes printable ASCII only (letters, digits, and "
			"' ()+,-./:=?)", shown(p, n, show), OBJ_nid2sn(nid));
	}
	return kmc_detail(KMC_E_INVALID, "--subject: part '%s' refused: %s",
		shown(p, n, show), ossl_reason());
}

int subject_parse(const char *s, X509_NAME **ret)
{
	_cleanup_(x509_name_freep) X509_NAME *name = NULL;
	size_t len = s ? strnlen(s, SUBJECT_TEXT_MAX + 1) : 0, parts = 0;
	const char *p, *end;

	if (len > SUBJECT_TEXT_MAX)
		return kmc_detail(KMC_E_TOO_LARGE, "--subject: longer than %u "
			"bytes", SUBJECT_TEXT_MAX);
	if (len == 0 || s[0] != '/')
		return kmc_detail(KMC_E_INVALID, "--subject: '%s' does not "
			"start with '/' (write /CN=host.example/O=Org)",
			shown(s ? s : "", len, (char[72]){0}));
	name = X509_NAME_new();
	KMC_ENSURE(name, KMC_E_NOMEM);
	for (p = s + 1; ; p = end + 1) {
		/* The part ends at the next '/' no '\' escapes. */
		for (end = p; *end && *end != '/'; end++)
			if (*end == '\\' && end[1])
				end++;
		if (++parts > SUBJECT_PARTS_MAX)
			return kmc_detail(KMC_E_TOO_LARGE, "--subject: more than "
				"%u parts", SUBJECT_PARTS_MAX);
		KMC_GUARD(subject_part(name, p, (size_t)(end - p)));
		if (!*end)
			break;
	}
	*ret = TAKE_PTR(name);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Subject alternative names                                         */

static int dns_ok(const char *p, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > SAN_VALUE_MAX)
		return 0;
	/* A wildcard only as the whole first label, with more after it. */
	if (n > 2 && p[0] == '*' && p[1] == '.')
		p += 2, n -= 2;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (label == 0 || p[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-')
			return 0;
		if ((label == 0 && c == '-') || ++label > 63)
			return 0;
	}
	return label > 0 && p[n - 1] != '-';
}

/* Whether the last label of host name p[0..n) is digits only. */
static int numeric_tld(const char *p, size_t n)
{
	size_t i = n;

	while (i > 0 && p[i - 1] != '.')
		i--;
	return i < n && strspn(p + i, "0123456789") == n - i;
}

static int ascii_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return 0;
	return n > 0;
}

static int email_ok(const char *p, size_t n)
{
	const char *at = memchr(p, '@', n);

	return ascii_ok(p, n) && n <= SAN_URI_MAX && at && at > p &&
		at < p + n - 1 && !memchr(at + 1, '@', (size_t)(p + n - at - 1));
}

static int uri_ok(const char *p, size_t n)
{
	size_t i = 0;

	if (!ascii_ok(p, n) || n > SAN_URI_MAX || !isalpha((unsigned char)p[0]))
		return 0;
	while (i < n && (isalnum((unsigned char)p[i]) || p[i] == '+' ||
	    p[i] == '-' || p[i] == '.'))
		i++;
	return i < n - 1 && p[i] == ':';
}

static void general_names_freep(GENERAL_NAMES **g)
{
	GENERAL_NAMES_free(*g);
}

static void general_name_freep(GENERAL_NAME **g)
{
	GENERAL_NAME_free(*g);
}

enum { SAN_DNS, SAN_IP, SAN_EMAIL, SAN_URI };

static const struct {
	const char *name;
	int gen;
} san_types[] = {
	[SAN_DNS] = { "DNS", GEN_DNS },
	[SAN_IP] = { "IP", GEN_IPADD },
	[SAN_EMAIL] = { "email", GEN_EMAIL },
	[SAN_URI] = { "URI", GEN_URI },
};

/* One entry p[0..n), spaces trimmed, as a GENERAL_NAME. */
static int san_entry(const char *p, size_t n, GENERAL_NAME **ret)
{
	_cleanup_(general_name_freep) GENERAL_NAME *g = NULL;
	const char *colon = memchr(p, ':', n), *v;
	unsigned char ip[16];
	char show[72], buf[64];
	size_t t, vlen, iplen = 0;
	ASN1_STRING *str;

	if (n == 0)
		return kmc_detail(KMC_E_INVALID, "--san: an empty entry (two "
			"',' in a row, or one at either end)");
	for (t = 0; colon && t < ELEMENTSOF(san_types); t++)
		if (strlen(san_types[t].name) == (size_t)(colon - p) &&
		    strncasecmp(san_types[t].name, p, (size_t)(colon - p)) == 0)
			break;
	if (!colon || t == ELEMENTSOF(san_types))
		return kmc_detail(KMC_E_INVALID, "--san: entry '%s' is not "
			"TYPE:value with TYPE one of DNS, IP, email, URI",
			shown(p, n, show));
	v = colon + 1;
	vlen = (size_t)(p + n - v);
	switch (t) {
	case SAN_DNS:
		if (!dns_ok(v, vlen))
			return kmc_detail(KMC_E_INVALID, "--san: entry '%s' is "
				"not a host name (letters, digits and '-', "
				"labels of 1 to 63, '*.' only in front)",
				shown(p, n, show));
		/* Clients match an address only against an IP entry (RFC
		   6125), and no top-level domain is all digits (RFC 3696):
		   DNS:10.0.0.5 would be a name no client ever checks. */
		if (!numeric_tld(v, vlen))
			break;
		if (vlen < sizeof(buf)) {
			memcpy(buf, v, vlen);
			buf[vlen] = '\0';
			if (inet_pton(AF_INET, buf, ip) == 1)
				return kmc_detail(KMC_E_INVALID, "--san: entry "
					"'%s' is an address, which clients check "
					"only against IP entries: write IP:%s",
					shown(p, n, show), buf);
		}
		return kmc_detail(KMC_E_INVALID, "--san: entry '%s' ends in a "
			"label of digits only, which no host name does",
			shown(p, n, show));
	case SAN_IP:
		if (vlen >= sizeof(buf))
			vlen = 0;
		memcpy(buf, v, vlen);
		buf[vlen] = '\0';
		if (vlen && inet_pton(AF_INET, buf, ip) == 1)
			iplen = 4;
		else if (vlen && inet_pton(AF_INET6, buf, ip) == 1)
			iplen = 16;
		else
			return kmc_detail(KMC_E_INVALID, "--san: entry '%s' is "
				"not an IPv4 or IPv6 address", shown(p, n, show));
		/* An IPv4-mapped address (::ffff:a.b.c.d, RFC 4291 2.5.5.2)
		   goes in as its 16 bytes, as openssl req -addext puts it;
		   but a client reaching a.b.c.d compares the 4 bytes of
		   IPv4 (RFC 5280 4.2.1.6, OpenSSL's X509_check_ip), which
		   never match: the certificate would name no address any
		   client checks. */
		if (iplen == 16 && !memcmp(ip, "\0\0\0\0\0\0\0\0\0\0"
				"\xff\xff", 12)) {
			char v4[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, ip + 12, v4, sizeof(v4));
			return kmc_detail(KMC_E_INVALID, "--san: entry '%s' is "
				"an IPv4-mapped IPv6 address, which clients "
				"reaching %s never match (they compare its 4 "
				"bytes): write IP:%s", shown(p, n, show), v4, v4);
		}
		break;
	case SAN_EMAIL:
		if (!email_ok(v, vlen))
			return kmc_detail(KMC_E_INVALID, "--san: entry '%s' is "
				"not an e-mail address (ASCII, one '@' with text "
				"on both sides)", shown(p, n, show));
		break;
	case SAN_URI:
		if (!uri_ok(v, vlen))
			return kmc_detail(KMC_E_INVALID, "--san: entry '%s' is "
				"not a URI (scheme:rest, printable ASCII, at most "
				"%u bytes)", shown(p, n, show), SAN_URI_MAX);
		break;
	}
	g = GENERAL_NAME_new();
	str = t == SAN_IP ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
	if (!g || !str) {
		ASN1_STRING_free(str);
		return KMC_E_NOMEM;
	}
	if (!ASN1_STRING_set(str, t == SAN_IP ? (const void *)ip : v,
			t == SAN_IP ? (int)iplen : (int)vlen)) {
		ASN1_STRING_free(str);
		return KMC_E_NOMEM;
	}
	GENERAL_NAME_set0_value(g, san_types[t].gen, str);
	*ret = TAKE_PTR(g);
	return 0;
}

/* Whether a and b name the same: host names in any case (RFC 4343),
   the rest byte for byte. */
static int same_name(GENERAL_NAME *a, GENERAL_NAME *b)
{
	const ASN1_IA5STRING *x, *y;

	if (a->type != GEN_DNS || b->type != GEN_DNS)
		return GENERAL_NAME_cmp(a, b) == 0;
	x = a->d.dNSName;
	y = b->d.dNSName;
	return x->length == y->length && strncasecmp((const char *)x->data,
		(const char *)y->data, (size_t)x->length) == 0;
}

int san_parse(const char *s, GENERAL_NAMES **ret)
{
	_cleanup_(general_names_freep) GENERAL_NAMES *names = NULL;
	size_t len = s ? strnlen(s, SAN_TEXT_MAX + 1) : 0;
	const char *p, *end;
	char show[72];

	if (len > SAN_TEXT_MAX)
		return kmc_detail(KMC_E_TOO_LARGE, "--san: longer than %u bytes",
			SAN_TEXT_MAX);
	names = GENERAL_NAMES_new();
	KMC_ENSURE(names, KMC_E_NOMEM);
	for (p = s ? s : ""; ; p = end + 1) {
		_cleanup_(general_name_freep) GENERAL_NAME *g = NULL;
		const char *a, *b;

		end = p + strcspn(p, ",");
		for (a = p; a < end && *a == ' '; a++)
			;
		for (b = end; b > a && b[-1] == ' '; b--)
			;
		if (sk_GENERAL_NAME_num(names) >= SAN_ENTRIES_MAX)
			return kmc_detail(KMC_E_TOO_LARGE, "--san: more than %u "
				"entries", SAN_ENTRIES_MAX);
		KMC_GUARD(san_entry(a, (size_t)(b - a), &g));
		for (int i = 0; i < sk_GENERAL_NAME_num(names); i++)
			if (same_name(sk_GENERAL_NAME_value(names, i), g))
				return kmc_detail(KMC_E_INVALID, "--san: entry "
					"'%s' is given twice",
					shown(a, (size_t)(b - a), show));
		KMC_ENSURE(sk_GENERAL_NAME_push(names, g) > 0, KMC_E_NOMEM);
		g = NULL;
		if (!*end)
			break;
	}
	*ret = TAKE_PTR(names);
	return 0;
}
