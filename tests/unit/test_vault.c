/*
 * test_vault.c - the public vault API (vault/) on throwaway
 * directories: init, open, items, ciphertext strings, keystore repair,
 * permission checks and kmc_vault_status().
 *
 * Every test gets its own temp dir holding the host key (host.key, also
 * $KMC_HOST_KEY) and the vault (v). Passphrase vaults use the cheapest
 * Argon2id cost the library accepts so the suite stays fast.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit_files.h"
#include "unit_child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <valgrind/valgrind.h>

#include <kmc.h>
#include <kmc/admin.h>
/* Only for the keystore-generation tests, which forge a newer twin. */
#include "../../vault/vault.h"
#include "../../vault/bind.h"

#define PASSPHRASE "correct horse battery"
#define A2_OPS 1
#define A2_MEM (8u * 1024u * 1024u)

typedef struct fixture {
	char tmp[256];
	char vdir[512];		/* tmp/v */
	char hk[512];		/* tmp/host.key */
	char ks[600];		/* tmp/v/kmc.ks */
	char sb[600];		/* tmp/v/StandbyKsf.ks */
	kmc_secret *pass;
} fixture;

/* ---- file helpers -------------------------------------------------- */

/* kmc_vault_status() into st, releasing the lists of the call before. */
static int status_get(const char *dir, kmc_status *st)
{
	kmc_status_free(st);
	return kmc_vault_status(dir, st);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Entries in a directory other than . and .. */
static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static uint8_t *slurp(const char *path, size_t *ret_len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*ret_len = (size_t)st.st_size;
	return p;
}

static int files_equal(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *pa = slurp(a, &la), *pb = slurp(b, &lb);
	int eq = la == lb && memcmp(pa, pb, la) == 0;

	free(pa);
	free(pb);
	return eq;
}

static void flip_byte(const char *path, size_t off)
{
	size_t len;
	uint8_t *p = slurp(path, &len);
	mode_t mode = mode_of(path);

	assert_true(off < len);
	p[off] ^= 0x5a;
	write_file(path, p, len, mode);
	free(p);
}

/* ---- fixture --------------------------------------------------------- */

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (unit_tree_make("vault", f->tmp, f->vdir, f->hk) != 0)
		return -1;
	snprintf(f->ks, sizeof(f->ks), "%s/kmc.ks", f->vdir);
	snprintf(f->sb, sizeof(f->sb), "%s/StandbyKsf.ks", f->vdir);
	if (kmc_secret_new(strlen(PASSPHRASE), &f->pass) != 0)
		return -1;
	memcpy(kmc_secret_data(f->pass), PASSPHRASE, strlen(PASSPHRASE));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	if (f) {
		unit_tree_remove(f->tmp);
		kmc_secret_free(f->pass);
		free(f);
	}
	return 0;
}

static kmc_options pass_opts(const kmc_secret *pass)
{
	kmc_options o = KMC_OPTIONS_INIT;

	o.passphrase = pass;
	o.argon2_ops = A2_OPS;
	o.argon2_mem = A2_MEM;
	return o;
}

static void init_host_at(const fixture *f, const char *dir)
{
	assert_int_equal(unit_host_vault(dir, f->hk, NULL), 0);
}

static void init_host(const fixture *f)
{
	init_host_at(f, f->vdir);
}

static void init_pass(const fixture *f)
{
	kmc_options o = pass_opts(f->pass);

	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_PASSPHRASE, &o),
		0);
}

static kmc_vault *open_vault(const fixture *f, unsigned flags)
{
	kmc_vault *v = NULL;

	assert_int_equal(kmc_vault_open(f->vdir, flags, &v), 0);
	assert_non_null(v);
	return v;
}

static kmc_secret *secret_of(const char *s)
{
	kmc_secret *p = NULL;

	assert_int_equal(kmc_secret_new(strlen(s), &p), 0);
	memcpy(kmc_secret_data(p), s, strlen(s));
	return p;
}

static void assert_item(kmc_vault *v, const char *name, const char *want)
{
	kmc_secret *s = NULL;

	assert_int_equal(kmc_item_get_secret(v, name, &s), 0);
	assert_non_null(s);
	assert_int_equal(kmc_secret_len(s), strlen(want));
	assert_memory_equal(kmc_secret_data(s), want, strlen(want));
	kmc_secret_free(s);
}

static uint64_t generation(kmc_vault *v)
{
	uint64_t g = 0;

	assert_int_equal(kmc_vault_generation(v, &g), 0);
	return g;
}

/* ---- init ------------------------------------------------------------ */

static void test_init_host(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	char path[700];

	init_host(f);
	assert_int_equal(mode_of(f->vdir), 0700);
	assert_int_equal(mode_of(f->ks), 0600);
	assert_int_equal(mode_of(f->sb), 0600);
	assert_true(files_equal(f->ks, f->sb));
	snprintf(path, sizeof(path), "%s/items.mdb", f->vdir);
	assert_true(exists(path));
	assert_int_equal(mode_of(path) & 077, 0);
	/* The host key was made, private and 32 bytes. */
	assert_int_equal(mode_of(f->hk), 0400);
	{
		struct stat st;

		assert_int_equal(stat(f->hk, &st), 0);
		assert_int_equal(st.st_size, 32);
	}
	/* Nothing else beside the vault: the build directory is gone (the
	   host key's state file comes with the first change). */
	assert_int_equal(count_entries(f->tmp), 2);

	v = open_vault(f, 0);
	assert_int_equal(kmc_vault_opened_by(v), 1);
	assert_int_equal(kmc_vault_repaired(v), 0);
	assert_string_equal(kmc_vault_dir(v), f->vdir);
	kmc_vault_close(v);
}

static void test_init_existing_vault(void **state)
{
	fixture *f = *state;
	kmc_options o = KMC_OPTIONS_INIT;
	size_t len;
	uint8_t *before;

	init_host(f);
	before = slurp(f->ks, &len);
	o.host_key = f->hk;
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_HOST, &o),
		KMC_E_EXISTS);
	assert_non_null(strstr(kmc_error_detail(), f->vdir));
	{
		size_t len2;
		uint8_t *after = slurp(f->ks, &len2);

		assert_int_equal(len2, len);
		assert_memory_equal(after, before, len);
		free(after);
	}
	free(before);
	assert_int_equal(count_entries(f->tmp), 2);
}

static void test_init_into_empty_dir(void **state)
{
	fixture *f = *state;
	kmc_vault *v;

	assert_int_equal(mkdir(f->vdir, 0700), 0);
	init_host(f);
	assert_true(exists(f->ks));
	v = open_vault(f, 0);
	kmc_vault_close(v);
}

static void test_init_into_non_empty_dir(void **state)
{
	fixture *f = *state;
	kmc_options o = KMC_OPTIONS_INIT;
	kmc_options po = pass_opts(f->pass);
	char junk[700];

	assert_int_equal(mkdir(f->vdir, 0700), 0);
	snprintf(junk, sizeof(junk), "%s/junk", f->vdir);
	write_file(junk, "x", 1, 0600);
	o.host_key = f->hk;
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_HOST, &o),
		KMC_E_EXISTS);
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_PASSPHRASE, &po),
		KMC_E_EXISTS);
	/* Nothing created: not in the dir, not beside it, no host key. */
	assert_int_equal(count_entries(f->vdir), 1);
	assert_true(exists(junk));
	assert_false(exists(f->ks));
	assert_false(exists(f->hk));
	assert_int_equal(count_entries(f->tmp), 1);
	/* A hidden file counts as well. */
	assert_int_equal(unlink(junk), 0);
	snprintf(junk, sizeof(junk), "%s/.hidden", f->vdir);
	write_file(junk, "x", 1, 0600);
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_HOST, &o),
		KMC_E_EXISTS);
	assert_false(exists(f->hk));
	/* The twin: once empty again, init works. */
	assert_int_equal(unlink(junk), 0);
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_HOST, &o), 0);
}

static void test_init_passphrase(void **state)
{
	fixture *f = *state;
	kmc_options o = pass_opts(f->pass);
	kmc_vault *v = NULL;

	init_pass(f);
	assert_true(files_equal(f->ks, f->sb));
	/* No host key is made for a passphrase vault. */
	assert_false(exists(f->hk));
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v), 0);
	assert_non_null(v);
	assert_int_equal(kmc_vault_opened_by(v), 1);
	kmc_vault_close(v);
}

static void test_init_passphrase_invalid(void **state)
{
	fixture *f = *state;
	kmc_secret *p7 = secret_of("1234567"), *p8 = secret_of("12345678");
	kmc_options o = pass_opts(p7);

	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_PASSPHRASE, &o),
		KMC_E_INVALID);
	assert_false(exists(f->vdir));
	o.passphrase = NULL;
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_PASSPHRASE, &o),
		KMC_E_NEED_PASSPHRASE);
	assert_false(exists(f->vdir));
	/* Argon2id memory below 8 MiB, and passes above the maximum. */
	o.passphrase = p8;
	o.argon2_mem = A2_MEM - 1;
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_PASSPHRASE, &o),
		KMC_E_INVALID);
	o.argon2_mem = A2_MEM;
	o.argon2_ops = 65;
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_PASSPHRASE, &o),
		KMC_E_INVALID);
	assert_false(exists(f->vdir));
	assert_int_equal(count_entries(f->tmp), 0);
	/* Unknown protector type. */
	assert_int_equal(kmc_vault_init(f->vdir, (kmc_protector_type)9, &o),
		KMC_E_INVALID);
	assert_false(exists(f->vdir));
	/* The twin: 8 bytes is enough. */
	o.argon2_ops = A2_OPS;
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_PASSPHRASE, &o),
		0);
	assert_true(exists(f->ks));
	kmc_secret_free(p7);
	kmc_secret_free(p8);
}

/* "dir/" names the same directory as "dir". */
static void test_init_trailing_slash(void **state)
{
	fixture *f = *state;
	kmc_options o = KMC_OPTIONS_INIT;
	char slash[600];
	kmc_vault *v = NULL;

	snprintf(slash, sizeof(slash), "%s/", f->vdir);
	o.host_key = f->hk;
	assert_int_equal(kmc_vault_init(slash, KMC_PROTECTOR_HOST, &o), 0);
	assert_true(exists(f->ks));
	assert_int_equal(kmc_vault_open(slash, 0, &v), 0);
	kmc_vault_close(v);
}

static void test_init_host_key_dir(void **state)
{
	fixture *f = *state;
	kmc_options o = KMC_OPTIONS_INIT;
	char hk[700], dir[600];
	kmc_vault *v = NULL;

	/* The host key's own directory is made, private. */
	snprintf(dir, sizeof(dir), "%s/etc", f->tmp);
	snprintf(hk, sizeof(hk), "%s/host.key", dir);
	unsetenv("KMC_HOST_KEY");
	o.host_key = hk;
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_HOST, &o), 0);
	assert_int_equal(mode_of(dir), 0700);
	assert_int_equal(mode_of(hk), 0400);
	/* The slot remembers where it is: no option needed to open. */
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), 0);
	kmc_vault_close(v);
}

static void test_options_size(void **state)
{
	fixture *f = *state;
	kmc_options o = KMC_OPTIONS_INIT;
	kmc_vault *v = NULL;

	o.host_key = f->hk;
	o.size = 0;
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_HOST, &o),
		KMC_E_INVALID);
	assert_false(exists(f->vdir));
	o.size = sizeof(o);
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_HOST, &o), 0);
	o.size = 0;
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v), KMC_E_INVALID);
	assert_null(v);
	o.size = sizeof(o);
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v), 0);
	kmc_vault_close(v);
	v = NULL;
}

/* A caller built against a newer kmc.h: its larger kmc_options and
   params are taken while the fields this library does not know are 0,
   and refused, naming the byte, once one is set (it was ignored, so
   the call did less than the caller asked). */
static void test_options_newer(void **state)
{
	fixture *f = *state;
	struct {
		kmc_options o;
		uint64_t later;
	} n = { .o = KMC_OPTIONS_INIT };
	struct {
		kmc_import_params p;
		uint32_t later;
	} ip = { .p = KMC_IMPORT_PARAMS_INIT };
	kmc_vault *v = NULL;
	char want[300];

	n.o.host_key = f->hk;
	n.o.size = sizeof(n);
	n.later = 1;
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_HOST, &n.o),
		KMC_E_INVALID);
	snprintf(want, sizeof(want), "byte %zu, past the %zu bytes",
		sizeof(kmc_options), sizeof(kmc_options));
	assert_non_null(strstr(kmc_error_detail(), want));
	assert_non_null(strstr(kmc_error_detail(), "kmc_options.size is"));
	assert_false(exists(f->vdir));
	n.later = 0;
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_HOST, &n.o), 0);
	n.later = 1;
	assert_int_equal(kmc_vault_open_ex(f->vdir, KMC_OPEN_WRITE, &n.o, &v),
		KMC_E_INVALID);
	assert_null(v);
	n.later = 0;
	assert_int_equal(kmc_vault_open_ex(f->vdir, KMC_OPEN_WRITE, &n.o, &v),
		0);
	/* A params struct the same way: refused before anything is read. */
	ip.p.size = sizeof(ip);
	ip.p.name = "web";
	ip.later = 1;
	assert_int_equal(kmc_import(v, &ip.p), KMC_E_INVALID);
	assert_non_null(strstr(kmc_error_detail(), "kmc_import_params.size"));
	/* A size never set (garbage far past any struct) is refused before
	   the bytes past the struct are read: out of the caller's memory. */
	ip.later = 0;
	ip.p.size = (size_t)1 << 40;
	assert_int_equal(kmc_import(v, &ip.p), KMC_E_INVALID);
	assert_non_null(strstr(kmc_error_detail(), "larger than any"));
	kmc_vault_close(v);
	snprintf(want, sizeof(want), "%s/v2", f->tmp);
	n.o.size = (size_t)-1;
	assert_int_equal(kmc_vault_init(want, KMC_PROTECTOR_HOST, &n.o),
		KMC_E_INVALID);
	assert_non_null(strstr(kmc_error_detail(), "kmc_options.size"));
	assert_false(exists(want));
}

static void test_init_passphrase_long(void **state)
{
	fixture *f = *state;
	kmc_secret *p = NULL;
	kmc_options o;
	kmc_vault *v = NULL;

	assert_int_equal(kmc_secret_new(1025, &p), 0);
	memset(kmc_secret_data(p), 'p', 1025);
	o = pass_opts(p);
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_PASSPHRASE, &o),
		KMC_E_TOO_LARGE);
	assert_false(exists(f->vdir));
	/* The twin: 1024 bytes, and it opens with them. */
	assert_int_equal(kmc_secret_shrink(p, 1024), 0);
	assert_int_equal(kmc_vault_init(f->vdir, KMC_PROTECTOR_PASSPHRASE, &o),
		0);
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v), 0);
	kmc_vault_close(v);
	kmc_secret_free(p);
}

/* ---- open ------------------------------------------------------------ */

static void test_open_wrong_passphrase(void **state)
{
	fixture *f = *state;
	kmc_secret *wrong = secret_of("correct horse battery!");
	kmc_options o = pass_opts(wrong);
	kmc_vault *v = NULL;

	init_pass(f);
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v), KMC_E_UNLOCK);
	assert_null(v);
	assert_int_equal(kmc_vault_open_ex(f->vdir, KMC_OPEN_WRITE, &o, &v),
		KMC_E_UNLOCK);
	assert_null(v);
	/* A wrong passphrase repairs nothing and changes nothing. */
	assert_true(files_equal(f->ks, f->sb));
	/* The twin. */
	o.passphrase = f->pass;
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v), 0);
	kmc_vault_close(v);
	kmc_secret_free(wrong);
}

static void test_open_needs_passphrase(void **state)
{
	fixture *f = *state;
	kmc_options o = KMC_OPTIONS_INIT;
	kmc_vault *v = NULL;

	init_pass(f);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_NEED_PASSPHRASE);
	assert_null(v);
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, NULL, &v),
		KMC_E_NEED_PASSPHRASE);
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v),
		KMC_E_NEED_PASSPHRASE);
	assert_int_equal(kmc_vault_open_ex(f->vdir, KMC_OPEN_WRITE, &o, &v),
		KMC_E_NEED_PASSPHRASE);
	assert_null(v);
}

typedef struct cb_ctx {
	const char *give;	/* NULL: refuse */
	int calls;
} cb_ctx;

static int passphrase_cb(char *buf, size_t size, void *arg)
{
	cb_ctx *c = arg;
	size_t n;

	c->calls++;
	if (!c->give)
		return -1;
	n = strlen(c->give);
	assert_true(n <= size);
	memcpy(buf, c->give, n);
	return (int)n;
}

static void test_open_passphrase_callback(void **state)
{
	fixture *f = *state;
	kmc_options o = KMC_OPTIONS_INIT;
	cb_ctx c = { PASSPHRASE, 0 };
	kmc_vault *v = NULL;

	init_pass(f);
	o.passphrase_cb = passphrase_cb;
	o.passphrase_arg = &c;
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v), 0);
	assert_non_null(v);
	assert_int_equal(c.calls, 1);
	kmc_vault_close(v);
	v = NULL;

	/* A wrong answer from the callback: KMC_E_UNLOCK, asked once. */
	c.give = "not the passphrase";
	c.calls = 0;
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v), KMC_E_UNLOCK);
	assert_null(v);
	assert_int_equal(c.calls, 1);

	/* The callback gives up. */
	c.give = NULL;
	c.calls = 0;
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v),
		KMC_E_NEED_PASSPHRASE);
	assert_null(v);
	assert_int_equal(c.calls, 1);

	/* A passphrase in the options wins over the callback. */
	c.give = "not the passphrase";
	c.calls = 0;
	o.passphrase = f->pass;
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v), 0);
	assert_int_equal(c.calls, 0);
	kmc_vault_close(v);
}

/* A host vault never asks for a passphrase. */
static void test_open_host_no_callback(void **state)
{
	fixture *f = *state;
	kmc_options o = KMC_OPTIONS_INIT;
	cb_ctx c = { "whatever", 0 };
	kmc_vault *v = NULL;

	init_host(f);
	o.passphrase_cb = passphrase_cb;
	o.passphrase_arg = &c;
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v), 0);
	assert_int_equal(c.calls, 0);
	kmc_vault_close(v);
}

static void test_open_not_vault(void **state)
{
	fixture *f = *state;
	kmc_vault *v = NULL;

	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_NOT_VAULT);
	assert_null(v);
	assert_int_equal(mkdir(f->vdir, 0700), 0);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_NOT_VAULT);
	assert_int_equal(kmc_vault_open(f->vdir, KMC_OPEN_WRITE, &v),
		KMC_E_NOT_VAULT);
	assert_null(v);
	/* Opening never creates anything. */
	assert_int_equal(count_entries(f->vdir), 0);
}

static void test_open_wrong_host_key(void **state)
{
	fixture *f = *state;
	kmc_vault *v = NULL;
	uint8_t other[32];
	size_t len;
	uint8_t *orig;

	init_host(f);
	orig = slurp(f->hk, &len);
	assert_int_equal(len, 32);
	for (size_t i = 0; i < sizeof(other); i++)
		other[i] = (uint8_t)(orig[i] ^ (0x11 + i));
	write_file(f->hk, other, sizeof(other), 0400);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_HOST_KEY);
	assert_null(v);
	assert_int_equal(kmc_vault_open(f->vdir, KMC_OPEN_WRITE, &v),
		KMC_E_HOST_KEY);
	assert_null(v);
	/* A host key of the wrong size. */
	write_file(f->hk, other, 31, 0400);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_HOST_KEY);
	write_file(f->hk, other, 32, 0400);
	/* Missing. */
	assert_int_equal(unlink(f->hk), 0);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_HOST_KEY);
	assert_null(v);
	/* Readable by others: refused before it is used. */
	write_file(f->hk, orig, 32, 0444);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_PERM);
	assert_null(v);
	/* The twin: the original key, private again, opens. */
	write_file(f->hk, orig, 32, 0400);
	v = open_vault(f, 0);
	kmc_vault_close(v);
	free(orig);
}

static void test_open_host_key_option(void **state)
{
	fixture *f = *state;
	kmc_options o = KMC_OPTIONS_INIT;
	kmc_vault *v = NULL;
	char moved[600];

	init_host(f);
	/* Moved host key: found through the option, not the slot's path. */
	snprintf(moved, sizeof(moved), "%s/moved.key", f->tmp);
	assert_int_equal(rename(f->hk, moved), 0);
	unsetenv("KMC_HOST_KEY");
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_HOST_KEY);
	o.host_key = moved;
	assert_int_equal(kmc_vault_open_ex(f->vdir, 0, &o, &v), 0);
	kmc_vault_close(v);
	v = NULL;
	/* ...or through $KMC_HOST_KEY. */
	setenv("KMC_HOST_KEY", moved, 1);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), 0);
	kmc_vault_close(v);
}

static void test_open_busy(void **state)
{
	fixture *f = *state;
	kmc_vault *w, *w2 = NULL, *r;

	init_host(f);
	w = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_vault_open(f->vdir,
		KMC_OPEN_WRITE | KMC_OPEN_NOWAIT, &w2), KMC_E_BUSY);
	assert_null(w2);
	/* Readers take no lock. */
	r = open_vault(f, 0);
	kmc_vault_close(r);
	kmc_vault_close(w);
	/* The twin: with the writer gone the lock is free. */
	w2 = open_vault(f, KMC_OPEN_WRITE | KMC_OPEN_NOWAIT);
	kmc_vault_close(w2);
}

/* ---- items ------------------------------------------------------------ */

typedef struct list_rec {
	int n;
	char names[8][KMC_NAME_MAX + 1];
	kmc_item_info info[8];
} list_rec;

static int list_cb(const kmc_item_info *info, void *arg)
{
	list_rec *l = arg;

	assert_true(l->n < 8);
	snprintf(l->names[l->n], sizeof(l->names[l->n]), "%s", info->name);
	l->info[l->n] = *info;
	l->info[l->n].name = l->names[l->n];
	l->n++;
	return 0;
}

static int list_stop_cb(const kmc_item_info *info, void *arg)
{
	int *calls = arg;

	(void)info;
	(*calls)++;
	return 42;
}

static void test_item_roundtrip(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *r;
	kmc_secret *s = NULL;
	list_rec l = { 0 };
	static const uint8_t der[] = { 0x30, 0x82, 0x00, 0x00, 0x02, 0x01 };

	init_host(f);
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_item_put(v, "web/tls-pass", KMC_ITEM_PASSWORD,
		"s3cret!", 7), 0);
	assert_int_equal(kmc_item_put(v, "web/key", KMC_ITEM_PRIVATE_KEY, der,
		sizeof(der)), 0);
	assert_item(v, "web/tls-pass", "s3cret!");
	assert_int_equal(kmc_item_get(v, "web/key", KMC_ITEM_PRIVATE_KEY, &s),
		0);
	assert_int_equal(kmc_secret_len(s), sizeof(der));
	assert_memory_equal(kmc_secret_data(s), der, sizeof(der));
	kmc_secret_free(s);
	s = NULL;

	assert_int_equal(kmc_item_list(v, list_cb, &l), 0);
	assert_int_equal(l.n, 2);
	/* Name order. */
	assert_string_equal(l.info[0].name, "web/key");
	assert_int_equal(l.info[0].type, KMC_ITEM_PRIVATE_KEY);
	assert_int_equal(l.info[0].version, 1);
	assert_int_equal(l.info[0].mk_id, 1);
	assert_true(l.info[0].created > 0);
	assert_int_equal(l.info[0].size, sizeof(der));
	assert_string_equal(l.info[1].name, "web/tls-pass");
	assert_int_equal(l.info[1].type, KMC_ITEM_PASSWORD);
	assert_int_equal(l.info[1].version, 1);
	assert_int_equal(l.info[1].mk_id, 1);
	assert_int_equal(l.info[1].size, 7);

	/* A callback's non-zero return stops the walk and is returned. */
	{
		int calls = 0;

		assert_int_equal(kmc_item_list(v, list_stop_cb, &calls), 42);
		assert_int_equal(calls, 1);
	}

	/* Another handle, read-only, sees the items. */
	r = open_vault(f, 0);
	assert_item(r, "web/tls-pass", "s3cret!");
	kmc_vault_close(r);

	assert_int_equal(kmc_item_remove(v, "web/tls-pass"), 0);
	assert_int_equal(kmc_item_get_secret(v, "web/tls-pass", &s),
		KMC_E_NOT_FOUND);
	assert_null(s);
	assert_int_equal(kmc_item_remove(v, "web/tls-pass"), KMC_E_NOT_FOUND);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kmc_item_list(v, list_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.info[0].name, "web/key");
	kmc_vault_close(v);
}

static void test_item_get_missing(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	kmc_secret *s = NULL;

	init_host(f);
	v = open_vault(f, 0);
	assert_int_equal(kmc_item_get_secret(v, "nope", &s), KMC_E_NOT_FOUND);
	assert_null(s);
	assert_int_equal(kmc_item_get(v, "nope", KMC_ITEM_SECRET, &s),
		KMC_E_NOT_FOUND);
	assert_null(s);
	assert_non_null(strstr(kmc_error_detail(), "nope"));
	kmc_vault_close(v);
}

static void test_item_readonly(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *w;

	init_host(f);
	w = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_item_put(w, "a", KMC_ITEM_SECRET, "x", 1), 0);
	kmc_vault_close(w);

	v = open_vault(f, 0);
	assert_int_equal(kmc_item_put(v, "b", KMC_ITEM_SECRET, "x", 1),
		KMC_E_READONLY);
	assert_int_equal(kmc_item_put(v, "a", KMC_ITEM_SECRET, "y", 1),
		KMC_E_READONLY);
	assert_int_equal(kmc_item_remove(v, "a"), KMC_E_READONLY);
	/* Nothing changed. */
	assert_item(v, "a", "x");
	{
		kmc_secret *s = NULL;

		assert_int_equal(kmc_item_get_secret(v, "b", &s),
			KMC_E_NOT_FOUND);
	}
	kmc_vault_close(v);
}

static void test_item_names(void **state)
{
	fixture *f = *state;
	char long_name[KMC_NAME_MAX + 2];
	static const char *const bad[] = {
		"", ".hidden", ".", "..", "/abs", "a b", " a", "a\n", "a\t",
		"a\\b", "a*", "a?", "a%", "a\"b", "caf\xc3\xa9", "a#b", "a,b",
		"a=b", "a~b",
	};
	kmc_vault *v;
	kmc_secret *s = NULL;

	init_host(f);
	v = open_vault(f, KMC_OPEN_WRITE);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(kmc_item_put(v, bad[i], KMC_ITEM_SECRET, "x",
			1), KMC_E_NAME);
		assert_int_equal(kmc_item_get_secret(v, bad[i], &s),
			KMC_E_NAME);
		assert_int_equal(kmc_item_remove(v, bad[i]), KMC_E_NAME);
	}
	memset(long_name, 'a', sizeof(long_name));
	long_name[KMC_NAME_MAX + 1] = '\0';	/* 129 bytes */
	assert_int_equal(kmc_item_put(v, long_name, KMC_ITEM_SECRET, "x", 1),
		KMC_E_NAME);
	assert_int_equal(kmc_item_get_secret(v, long_name, &s), KMC_E_NAME);
	assert_null(s);
	/* The twins: 128 bytes, and every allowed character. */
	long_name[KMC_NAME_MAX] = '\0';
	assert_int_equal(kmc_item_put(v, long_name, KMC_ITEM_SECRET, "x", 1), 0);
	assert_item(v, long_name, "x");
	assert_int_equal(kmc_item_put(v, "Az09._@:/+-", KMC_ITEM_SECRET, "y",
		1), 0);
	assert_item(v, "Az09._@:/+-", "y");
	assert_int_equal(kmc_item_put(v, "a", KMC_ITEM_SECRET, "z", 1), 0);
	assert_item(v, "a", "z");
	kmc_vault_close(v);
}

static void test_item_values(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	uint8_t *big = calloc(1, KMC_ITEM_MAX + 1);
	kmc_secret *s = NULL;

	assert_non_null(big);
	init_host(f);
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_item_put(v, "e", KMC_ITEM_SECRET, "", 0),
		KMC_E_EMPTY);
	assert_int_equal(kmc_item_put(v, "e", KMC_ITEM_SECRET, big,
		KMC_ITEM_MAX + 1), KMC_E_TOO_LARGE);
	assert_int_equal(kmc_item_put(v, "e", (kmc_item_type)0, "x", 1),
		KMC_E_INVALID);
	assert_int_equal(kmc_item_put(v, "e", (kmc_item_type)200, "x", 1),
		KMC_E_INVALID);
	assert_int_equal(kmc_item_put(v, "e", (kmc_item_type)-1, "x", 1),
		KMC_E_INVALID);
	assert_int_equal(kmc_item_get_secret(v, "e", &s), KMC_E_NOT_FOUND);
	/* The twins: one byte, and exactly the maximum. */
	assert_int_equal(kmc_item_put(v, "e", KMC_ITEM_SECRET, "x", 1), 0);
	assert_item(v, "e", "x");
	big[0] = 1;
	big[KMC_ITEM_MAX - 1] = 2;
	assert_int_equal(kmc_item_put(v, "big", KMC_ITEM_CRL, big,
		KMC_ITEM_MAX), 0);
	assert_int_equal(kmc_item_get(v, "big", KMC_ITEM_CRL, &s), 0);
	assert_int_equal(kmc_secret_len(s), KMC_ITEM_MAX);
	assert_memory_equal(kmc_secret_data(s), big, KMC_ITEM_MAX);
	kmc_secret_free(s);
	/* Every type goes in and comes out. */
	for (int t = KMC_ITEM_PASSWORD; t <= KMC_ITEM_CRL; t++) {
		char name[16];

		snprintf(name, sizeof(name), "t%d", t);
		s = NULL;
		assert_int_equal(kmc_item_put(v, name, (kmc_item_type)t, name,
			strlen(name)), 0);
		assert_int_equal(kmc_item_get(v, name, (kmc_item_type)t, &s), 0);
		kmc_secret_free(s);
	}
	kmc_vault_close(v);
	free(big);
}

static void test_item_type(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	kmc_secret *s = NULL;
	list_rec l = { 0 };

	init_host(f);
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_item_put(v, "x", KMC_ITEM_SECRET, "one", 3), 0);
	assert_int_equal(kmc_item_put(v, "x", KMC_ITEM_PASSWORD, "two", 3),
		KMC_E_TYPE);
	assert_int_equal(kmc_item_put(v, "x", KMC_ITEM_CERTIFICATE, "two", 3),
		KMC_E_TYPE);
	/* The item is untouched: same value, version 1. */
	assert_item(v, "x", "one");
	assert_int_equal(kmc_item_list(v, list_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.info[0].version, 1);
	assert_int_equal(l.info[0].type, KMC_ITEM_SECRET);

	assert_int_equal(kmc_item_get(v, "x", KMC_ITEM_PASSWORD, &s),
		KMC_E_TYPE);
	assert_null(s);
	assert_int_equal(kmc_item_get(v, "x", KMC_ITEM_PRIVATE_KEY, &s),
		KMC_E_TYPE);
	assert_null(s);
	assert_int_equal(kmc_item_get(v, "x", KMC_ITEM_SECRET, &s), 0);
	kmc_secret_free(s);
	/* Removed, the name takes another type. */
	assert_int_equal(kmc_item_remove(v, "x"), 0);
	assert_int_equal(kmc_item_put(v, "x", KMC_ITEM_PASSWORD, "two", 3), 0);
	assert_item(v, "x", "two");
	kmc_vault_close(v);
}

static void test_item_version(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	list_rec l = { 0 };

	init_host(f);
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_item_put(v, "k", KMC_ITEM_SECRET, "v1", 2), 0);
	assert_int_equal(kmc_item_put(v, "k", KMC_ITEM_SECRET, "v2!", 3), 0);
	assert_int_equal(kmc_item_put(v, "k", KMC_ITEM_SECRET, "v3!!", 4), 0);
	assert_item(v, "k", "v3!!");
	assert_int_equal(kmc_item_list(v, list_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.info[0].version, 3);
	assert_int_equal(l.info[0].size, 4);
	/* Removed and put again: a new item, version 1. */
	assert_int_equal(kmc_item_remove(v, "k"), 0);
	assert_int_equal(kmc_item_put(v, "k", KMC_ITEM_SECRET, "new", 3), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kmc_item_list(v, list_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.info[0].version, 1);
	kmc_vault_close(v);
}

static void test_generation(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *r;
	uint64_t g0, g1, g2, g3, g4;

	init_host(f);
	v = open_vault(f, KMC_OPEN_WRITE);
	r = open_vault(f, 0);
	g0 = generation(v);
	assert_true(generation(r) == g0);
	assert_int_equal(kmc_item_put(v, "a", KMC_ITEM_SECRET, "1", 1), 0);
	g1 = generation(v);
	assert_true(g1 > g0);
	assert_int_equal(kmc_item_put(v, "a", KMC_ITEM_SECRET, "2", 1), 0);
	g2 = generation(v);
	assert_true(g2 > g1);
	/* A reader polling sees the change without reopening. */
	assert_true(generation(r) == g2);
	assert_int_equal(kmc_item_remove(v, "a"), 0);
	g3 = generation(v);
	assert_true(g3 > g2);
	/* The twins: failed changes leave it alone. */
	assert_int_equal(kmc_item_remove(v, "a"), KMC_E_NOT_FOUND);
	assert_int_equal(kmc_item_put(v, "a b", KMC_ITEM_SECRET, "1", 1),
		KMC_E_NAME);
	assert_int_equal(kmc_item_put(v, "b", KMC_ITEM_SECRET, "", 0),
		KMC_E_EMPTY);
	assert_int_equal(kmc_item_put(r, "b", KMC_ITEM_SECRET, "1", 1),
		KMC_E_READONLY);
	assert_true(generation(v) == g3);
	assert_int_equal(kmc_item_put(v, "b", KMC_ITEM_SECRET, "1", 1), 0);
	assert_int_equal(kmc_item_put(v, "b", KMC_ITEM_PASSWORD, "1", 1),
		KMC_E_TYPE);
	g4 = generation(v);
	assert_true(g4 > g3);
	assert_int_equal(kmc_item_put(v, "b", KMC_ITEM_PASSWORD, "1", 1),
		KMC_E_TYPE);
	assert_true(generation(v) == g4);
	/* Reads do not count. */
	assert_item(v, "b", "1");
	assert_true(generation(v) == g4);
	kmc_vault_close(r);
	kmc_vault_close(v);
}

/* ---- ciphertext strings ----------------------------------------------- */

static void test_string_roundtrip(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *r;
	char *str = NULL;
	kmc_secret *s = NULL;

	init_host(f);
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_string_encrypt(v, "hunter2", 7, &str), 0);
	assert_non_null(str);
	assert_int_equal(strncmp(str, "kmc:v1:1:", 9), 0);
	assert_int_equal(kmc_string_decrypt(v, str, &s), 0);
	assert_int_equal(kmc_secret_len(s), 7);
	assert_memory_equal(kmc_secret_data(s), "hunter2", 7);
	kmc_secret_free(s);
	s = NULL;
	/* A read-only handle decrypts too, with white space around. */
	r = open_vault(f, 0);
	{
		char *padded = malloc(strlen(str) + 4);

		assert_non_null(padded);
		sprintf(padded, "  %s\n", str);
		assert_int_equal(kmc_string_decrypt(r, padded, &s), 0);
		assert_memory_equal(kmc_secret_data(s), "hunter2", 7);
		kmc_secret_free(s);
		s = NULL;
		free(padded);
	}
	/* Two encryptions of one secret differ. */
	{
		char *str2 = NULL;

		assert_int_equal(kmc_string_encrypt(r, "hunter2", 7, &str2), 0);
		assert_string_not_equal(str, str2);
		free(str2);
	}
	kmc_vault_close(r);
	free(str);

	/* Limits. */
	{
		char big[KMC_STRING_SECRET_MAX + 1];

		memset(big, 'b', sizeof(big));
		str = NULL;
		assert_int_equal(kmc_string_encrypt(v, "", 0, &str),
			KMC_E_EMPTY);
		assert_int_equal(kmc_string_encrypt(v, big, sizeof(big), &str),
			KMC_E_TOO_LARGE);
		assert_null(str);
		assert_int_equal(kmc_string_encrypt(v, big,
			KMC_STRING_SECRET_MAX, &str), 0);
		assert_int_equal(kmc_string_decrypt(v, str, &s), 0);
		assert_int_equal(kmc_secret_len(s), KMC_STRING_SECRET_MAX);
		assert_memory_equal(kmc_secret_data(s), big,
			KMC_STRING_SECRET_MAX);
		kmc_secret_free(s);
		free(str);
	}
	kmc_vault_close(v);
}

static void test_string_tampered(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	char *str = NULL, *bad;
	kmc_secret *s = NULL;
	size_t n;

	init_host(f);
	v = open_vault(f, 0);
	assert_int_equal(kmc_string_encrypt(v, "hunter2", 7, &str), 0);
	n = strlen(str);
	bad = strdup(str);
	assert_non_null(bad);
	/* Change one payload character to another base64url character. */
	for (size_t i = 9; i < n - 1; i++) {
		char c = bad[i];

		bad[i] = c == 'A' ? 'B' : 'A';
		assert_int_equal(kmc_string_decrypt(v, bad, &s), KMC_E_AUTH);
		assert_null(s);
		bad[i] = c;
	}
	assert_int_equal(kmc_string_decrypt(v, "kmc:v1:1:", &s), KMC_E_STRING);
	assert_int_equal(kmc_string_decrypt(v, "hunter2", &s), KMC_E_STRING);
	assert_int_equal(kmc_string_decrypt(v, "kmc:v2:1:AAAA", &s),
		KMC_E_VERSION);
	/* Too short to hold a seal. */
	assert_int_equal(kmc_string_decrypt(v, "kmc:v1:1:AAAA", &s),
		KMC_E_STRING);
	assert_null(s);
	/* The twin: the unchanged string. */
	assert_int_equal(kmc_string_decrypt(v, bad, &s), 0);
	kmc_secret_free(s);
	free(bad);
	free(str);
	kmc_vault_close(v);
}

static void test_string_other_vault(void **state)
{
	fixture *f = *state;
	char v2dir[600];
	kmc_vault *v, *v2;
	char *str = NULL;
	kmc_secret *s = NULL;

	init_host(f);
	snprintf(v2dir, sizeof(v2dir), "%s/v2", f->tmp);
	init_host_at(f, v2dir);
	v = open_vault(f, 0);
	assert_int_equal(kmc_vault_open(v2dir, 0, &v2), 0);
	/* Same host key, same master-key id 1, another vault. */
	assert_int_equal(kmc_string_encrypt(v2, "hunter2", 7, &str), 0);
	assert_int_equal(strncmp(str, "kmc:v1:1:", 9), 0);
	assert_int_equal(kmc_string_decrypt(v, str, &s), KMC_E_AUTH);
	assert_null(s);
	/* The twin: it opens where it was made. */
	assert_int_equal(kmc_string_decrypt(v2, str, &s), 0);
	kmc_secret_free(s);
	free(str);
	kmc_vault_close(v2);
	kmc_vault_close(v);
}

static void test_string_unknown_mk(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	char *str = NULL, *other;
	kmc_secret *s = NULL;

	init_host(f);
	v = open_vault(f, 0);
	assert_int_equal(kmc_string_encrypt(v, "hunter2", 7, &str), 0);
	assert_int_equal(strncmp(str, "kmc:v1:1:", 9), 0);
	other = malloc(strlen(str) + 16);
	assert_non_null(other);
	sprintf(other, "kmc:v1:2:%s", str + 9);
	assert_int_equal(kmc_string_decrypt(v, other, &s), KMC_E_NOT_FOUND);
	assert_null(s);
	sprintf(other, "kmc:v1:4294967295:%s", str + 9);
	assert_int_equal(kmc_string_decrypt(v, other, &s), KMC_E_NOT_FOUND);
	assert_null(s);
	/* The twin: master key 1 is the one it names. */
	sprintf(other, "kmc:v1:1:%s", str + 9);
	assert_int_equal(kmc_string_decrypt(v, other, &s), 0);
	kmc_secret_free(s);
	free(other);
	free(str);
	kmc_vault_close(v);
}

/* ---- keystore repair ---------------------------------------------------- */

static void test_repair_missing_master(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;

	init_host(f);
	assert_int_equal(unlink(f->ks), 0);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.master, KMC_KS_MISSING);
	assert_int_equal(st.standby, KMC_KS_OK);

	/* A reader opens from the standby and repairs nothing. */
	v = open_vault(f, 0);
	assert_int_equal(kmc_vault_repaired(v), 0);
	kmc_vault_close(v);
	assert_false(exists(f->ks));

	/* A writer rewrites kmc.ks from the standby. */
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_vault_repaired(v), 1u);
	kmc_vault_close(v);
	assert_true(exists(f->ks));
	assert_int_equal(mode_of(f->ks), 0600);
	assert_true(files_equal(f->ks, f->sb));
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.master, KMC_KS_OK);
	assert_int_equal(st.standby, KMC_KS_OK);
	/* Healthy now: the next writer repairs nothing. */
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_vault_repaired(v), 0);
	kmc_vault_close(v);
}

static void test_repair_missing_standby(void **state)
{
	fixture *f = *state;
	kmc_vault *v;

	init_host(f);
	assert_int_equal(unlink(f->sb), 0);
	v = open_vault(f, 0);
	assert_int_equal(kmc_vault_repaired(v), 0);
	kmc_vault_close(v);
	assert_false(exists(f->sb));
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_vault_repaired(v), 2u);
	kmc_vault_close(v);
	assert_true(files_equal(f->ks, f->sb));
}

static void test_repair_damaged_standby(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;

	init_host(f);
	flip_byte(f->sb, 40);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.master, KMC_KS_OK);
	assert_int_equal(st.standby, KMC_KS_DAMAGED);
	assert_true(st.standby_generation == 0);
	/* A reader opens and leaves it as it is. */
	v = open_vault(f, 0);
	assert_int_equal(kmc_vault_repaired(v), 0);
	kmc_vault_close(v);
	assert_false(files_equal(f->ks, f->sb));
	/* A writer repairs it. */
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_vault_repaired(v), 2u);
	kmc_vault_close(v);
	assert_true(files_equal(f->ks, f->sb));
	assert_int_equal(mode_of(f->sb), 0600);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.master, KMC_KS_OK);
	assert_int_equal(st.standby, KMC_KS_OK);
}

static void test_repair_damaged_master(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;
	size_t len;
	uint8_t *p = NULL;

	init_host(f);
	p = slurp(f->ks, &len);
	/* Damage the last byte (the checksum itself). */
	flip_byte(f->ks, len - 1);
	free(p);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.master, KMC_KS_DAMAGED);
	assert_int_equal(st.standby, KMC_KS_OK);
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_vault_repaired(v), 1u);
	kmc_vault_close(v);
	assert_true(files_equal(f->ks, f->sb));
}

/*
 * Write a keystore like the vault's own but one generation newer into
 * path, MAC'd under the vault's root key (or another key when forge), with
 * the first master key's wrapping damaged when bad_mk. Returns the new
 * generation.
 */
static uint64_t write_newer_keystore(const fixture *f, const char *path,
	int forge, int bad_mk)
{
	kmc_vault *v = open_vault(f, KMC_OPEN_WRITE);
	keystore *ks = malloc(sizeof(*ks));
	uint8_t other[KMC_KEY_LEN], *raw = NULL;
	size_t len = 0;
	uint64_t gen;

	assert_non_null(ks);
	assert_non_null(v->rk);
	memcpy(ks, v->ks, sizeof(*ks));
	ks->generation++;
	gen = ks->generation;
	if (bad_mk)
		ks->mks[0].wrapped[KMC_NONCE_LEN] ^= 1;
	memset(other, 0x42, sizeof(other));
	assert_int_equal(ks_serialize(ks, forge ? other :
		kmc_secret_data(v->rk), &raw, &len), 0);
	/* A genuine keystore change names the new keystore in kmc.bind; a
	   forged or damaged one is never named there. */
	if (!forge && !bad_mk)
		assert_int_equal(bind_on_keystore(v, STORE_COMMITTED, gen, raw,
			len), 0);
	kmc_vault_close(v);
	write_file(path, raw, len, 0600);
	free(raw);
	free(ks);
	return gen;
}

static void test_repair_stale_twin(void **state)
{
	fixture *f = *state;
	kmc_vault *v, *w;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;
	uint64_t gen;

	init_host(f);
	w = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_item_put(w, "a", KMC_ITEM_SECRET, "1", 1), 0);
	kmc_vault_close(w);
	/* A crash between the two keystore writes, the other way round. */
	gen = write_newer_keystore(f, f->sb, 0, 0);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.master, KMC_KS_STALE);
	assert_int_equal(st.standby, KMC_KS_OK);
	assert_true(st.generation == gen);
	assert_true(st.standby_generation == gen);
	assert_true(st.master_generation == gen - 1);

	v = open_vault(f, 0);
	assert_int_equal(kmc_vault_repaired(v), 0);
	assert_item(v, "a", "1");
	kmc_vault_close(v);
	assert_false(files_equal(f->ks, f->sb));

	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_vault_repaired(v), 1u);
	assert_item(v, "a", "1");
	kmc_vault_close(v);
	assert_true(files_equal(f->ks, f->sb));
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.master, KMC_KS_OK);
	assert_int_equal(st.standby, KMC_KS_OK);
	assert_true(st.generation == gen);
}

/* A newer twin whose MAC fails is passed over for the older one. */
static void test_forged_newer_twin(void **state)
{
	fixture *f = *state;
	kmc_vault *v;
	size_t len;
	uint8_t *good;

	init_host(f);
	good = slurp(f->ks, &len);
	write_newer_keystore(f, f->sb, 1, 0);
	v = open_vault(f, 0);
	assert_int_equal(kmc_vault_repaired(v), 0);
	kmc_vault_close(v);
	/* A writer puts the good one back over the forgery. */
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_vault_repaired(v), 2u);
	kmc_vault_close(v);
	assert_true(files_equal(f->ks, f->sb));
	{
		size_t len2;
		uint8_t *now = slurp(f->ks, &len2);

		assert_int_equal(len2, len);
		assert_memory_equal(now, good, len);
		free(now);
	}
	free(good);
}

/* A newer twin with a valid MAC but a master key that does not open. */
static void test_newer_twin_bad_master_key(void **state)
{
	fixture *f = *state;
	kmc_vault *v;

	init_host(f);
	write_newer_keystore(f, f->ks, 0, 1);
	v = open_vault(f, 0);
	kmc_vault_close(v);
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_vault_repaired(v), 1u);
	kmc_vault_close(v);
	assert_true(files_equal(f->ks, f->sb));
}

/* No keystore left that verifies: "both missing or damaged". */
static void test_no_keystore_verifies(void **state)
{
	fixture *f = *state;
	kmc_vault *v = NULL;
	size_t len;
	uint8_t *forged;

	init_host(f);
	write_newer_keystore(f, f->ks, 1, 0);
	forged = slurp(f->ks, &len);
	write_file(f->sb, forged, len, 0600);
	free(forged);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_NO_KEYSTORE);
	assert_null(v);
	/* Only one keystore, and it fails its MAC. */
	assert_int_equal(unlink(f->sb), 0);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_NO_KEYSTORE);
	assert_null(v);
}

/* ---- a keystore copied in from another vault ----------------------------- */

/*
 * Make vault B beside the fixture's vault A (A holding item a = 1), under
 * the fixture's host key or, when other_key, one of its own; with bump, B's
 * keystore is a generation ahead of A's. B's path goes to bdir.
 */
static void two_vaults(const fixture *f, char *bdir, size_t size,
	int other_key, int bump)
{
	kmc_options o = KMC_OPTIONS_INIT;
	char key[600];
	kmc_vault *v;

	init_host(f);
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_item_put(v, "a", KMC_ITEM_SECRET, "1", 1), 0);
	kmc_vault_close(v);
	snprintf(bdir, size, "%s/b", f->tmp);
	snprintf(key, sizeof(key), "%s/other.key", f->tmp);
	o.host_key = other_key ? key : f->hk;
	assert_int_equal(kmc_vault_init(bdir, KMC_PROTECTOR_HOST, &o), 0);
	if (bump) {
		assert_int_equal(kmc_vault_open_ex(bdir, KMC_OPEN_WRITE, &o, &v),
			0);
		assert_int_equal(kmc_protector_add(v, KMC_PROTECTOR_HOST, &o,
			NULL, NULL), 0);
		kmc_vault_close(v);
	}
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	uint8_t *p = slurp(from, &len);

	write_file(to, p, len, 0600);
	free(p);
}

static void assert_file_is(const char *path, const uint8_t *want, size_t len)
{
	size_t n;
	uint8_t *p = slurp(path, &n);

	assert_int_equal(n, len);
	assert_memory_equal(p, want, len);
	free(p);
}

/*
 * Every root vault on a host shares the host key, so another vault's
 * keystore copied over a twin opens, even a generation ahead. The item
 * store says which keystore is this vault's: the other twin wins and is
 * never overwritten; a writer puts the foreign one (which: 0 kmc.ks,
 * 1 StandbyKsf.ks) back from it.
 */
static void foreign_twin(const fixture *f, int which, int other_key)
{
	const char *foreign = which ? f->sb : f->ks;
	const char *good_path = which ? f->ks : f->sb;
	char bdir[600], bks[700];
	kmc_vault *v;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;
	size_t len;
	uint8_t *good;

	two_vaults(f, bdir, sizeof(bdir), other_key, !other_key);
	good = slurp(good_path, &len);
	snprintf(bks, sizeof(bks), "%s/kmc.ks", bdir);
	copy_file(bks, foreign);

	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(which ? st.standby : st.master, KMC_KS_FOREIGN);
	assert_int_equal(which ? st.master : st.standby, KMC_KS_OK);
	assert_true((which ? st.standby_generation : st.master_generation) ==
		(other_key ? 1 : 2));
	assert_true(st.generation == 1);
	assert_true(st.items == 1);

	v = open_vault(f, 0);
	assert_int_equal(kmc_vault_repaired(v), 0);
	assert_item(v, "a", "1");
	kmc_vault_close(v);
	assert_file_is(good_path, good, len);

	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_vault_repaired(v), 1u << which);
	assert_item(v, "a", "1");
	kmc_vault_close(v);
	assert_file_is(f->ks, good, len);
	assert_file_is(f->sb, good, len);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.master, KMC_KS_OK);
	assert_int_equal(st.standby, KMC_KS_OK);
	free(good);
}

static void test_foreign_master(void **state)
{
	foreign_twin(*state, 0, 0);
}

static void test_foreign_standby(void **state)
{
	foreign_twin(*state, 1, 0);
}

/*
 * A keystore of another host key: it cannot even be tried, and before,
 * it kept the vault shut although the standby was intact.
 */
static void test_foreign_master_other_host_key(void **state)
{
	foreign_twin(*state, 0, 1);
}

/*
 * When the store cannot vouch for a keystore, nothing is written: not
 * with both keystores foreign, not with the only one foreign and its twin
 * missing, not with twins of two ids and no store to tell them apart.
 */
static void test_foreign_nothing_written(void **state)
{
	fixture *f = *state;
	char bdir[600], bks[700], mdb[700], saved[700];
	kmc_vault *v = NULL;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;
	size_t len, blen;
	uint8_t *good, *foreign;

	two_vaults(f, bdir, sizeof(bdir), 0, 1);
	good = slurp(f->ks, &len);
	snprintf(bks, sizeof(bks), "%s/kmc.ks", bdir);
	foreign = slurp(bks, &blen);

	/* Both foreign. */
	copy_file(bks, f->ks);
	copy_file(bks, f->sb);
	assert_int_equal(kmc_vault_open(f->vdir, KMC_OPEN_WRITE, &v),
		KMC_E_WRONG_VAULT);
	assert_null(v);
	assert_non_null(strstr(kmc_error_detail(), "items.mdb belongs to "
		"another vault"));
	assert_non_null(strstr(kmc_error_detail(), "StandbyKsf.ks"));
	assert_int_equal(status_get(f->vdir, &st), KMC_E_WRONG_VAULT);
	assert_file_is(f->ks, foreign, blen);
	assert_file_is(f->sb, foreign, blen);

	/* The only keystore foreign, its twin missing: not repaired from it. */
	assert_int_equal(unlink(f->sb), 0);
	assert_int_equal(kmc_vault_open(f->vdir, KMC_OPEN_WRITE, &v),
		KMC_E_WRONG_VAULT);
	assert_null(v);
	assert_non_null(strstr(kmc_error_detail(), "kmc.ks"));
	assert_false(exists(f->sb));

	/* Two ids and the store gone: no guess. */
	write_file(f->sb, good, len, 0600);
	snprintf(mdb, sizeof(mdb), "%s/items.mdb", f->vdir);
	snprintf(saved, sizeof(saved), "%s/items.saved", f->tmp);
	assert_int_equal(rename(mdb, saved), 0);
	assert_int_not_equal(kmc_vault_open(f->vdir, KMC_OPEN_WRITE, &v), 0);
	assert_null(v);
	assert_non_null(strstr(kmc_error_detail(), "belong to different "
		"vaults"));
	assert_int_not_equal(status_get(f->vdir, &st), 0);
	assert_file_is(f->ks, foreign, blen);
	assert_file_is(f->sb, good, len);

	/* The store back: the standby wins. */
	assert_int_equal(rename(saved, mdb), 0);
	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_vault_repaired(v), 1u);
	assert_item(v, "a", "1");
	kmc_vault_close(v);
	assert_file_is(f->ks, good, len);
	free(good);
	free(foreign);
}

/*
 * A keystore forged a generation ahead (checksum recomputed, MAC under a
 * key not the vault's) into path, from the vault's kmc.ks.
 */
static void forge_newer(const fixture *f, const char *path)
{
	keystore *ks = malloc(sizeof(*ks));
	uint8_t other[KMC_KEY_LEN], *raw, *out = NULL;
	size_t len, olen;

	assert_non_null(ks);
	raw = slurp(f->ks, &len);
	assert_int_equal(ks_parse(raw, len, ks), 0);
	ks->generation += 5;
	memset(other, 0x42, sizeof(other));
	assert_int_equal(ks_serialize(ks, other, &out, &olen), 0);
	write_file(path, out, olen, 0600);
	free(out);
	free(raw);
	free(ks);
}

/* Status checks the MAC with the host key: a forgery is not "ok". */
static void test_status_forged_newer_host(void **state)
{
	fixture *f = *state;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;

	init_host(f);
	forge_newer(f, f->ks);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.master, KMC_KS_DAMAGED);
	assert_int_equal(st.standby, KMC_KS_OK);
	assert_true(st.generation == 1);
	forge_newer(f, f->sb);
	assert_int_equal(status_get(f->vdir, &st), KMC_E_NO_KEYSTORE);
}

/*
 * Without a protector that opens unprompted, status cannot check a MAC:
 * it says so of every valid keystore rather than rank them by a
 * generation a forger chose.
 */
static void test_status_unverified(void **state)
{
	fixture *f = *state;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;

	init_pass(f);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.master, KMC_KS_UNVERIFIED);
	assert_int_equal(st.standby, KMC_KS_UNVERIFIED);
	assert_true(st.master_generation == st.standby_generation);
	forge_newer(f, f->ks);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.master, KMC_KS_UNVERIFIED);
	assert_int_equal(st.standby, KMC_KS_UNVERIFIED);
	assert_true(st.master_generation == st.standby_generation + 5);
	assert_string_equal(kmc_keystore_state_name(st.master), "unverified");
}

static void test_both_keystores_damaged(void **state)
{
	fixture *f = *state;
	kmc_vault *v = NULL;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;

	init_host(f);
	flip_byte(f->ks, 20);
	flip_byte(f->sb, 100);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_NO_KEYSTORE);
	assert_null(v);
	assert_int_equal(kmc_vault_open(f->vdir, KMC_OPEN_WRITE, &v),
		KMC_E_NO_KEYSTORE);
	assert_null(v);
	assert_int_equal(status_get(f->vdir, &st), KMC_E_NO_KEYSTORE);
	/* Both missing is reported the same way while the store is there. */
	assert_int_equal(unlink(f->ks), 0);
	assert_int_equal(unlink(f->sb), 0);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_NO_KEYSTORE);
	assert_null(v);
	/* Opening repaired nothing it could not. */
	assert_false(exists(f->ks));
	assert_false(exists(f->sb));
}

/* ---- permissions --------------------------------------------------------- */

static void test_keystore_mode(void **state)
{
	fixture *f = *state;
	kmc_vault *v = NULL;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;

	init_host(f);
	assert_int_equal(chmod(f->ks, 0644), 0);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_PERM);
	assert_null(v);
	assert_int_equal(kmc_vault_open(f->vdir, KMC_OPEN_WRITE, &v),
		KMC_E_PERM);
	assert_null(v);
	assert_non_null(strstr(kmc_error_detail(), f->ks));
	/* Not repaired over: the unsafe file stays as it was. */
	assert_int_equal(mode_of(f->ks), 0644);
	/* Status names the unsafe file as well, without reading it. */
	assert_int_equal(status_get(f->vdir, &st), KMC_E_PERM);
	assert_non_null(strstr(kmc_error_detail(), f->ks));
	/* The standby likewise. */
	assert_int_equal(chmod(f->ks, 0600), 0);
	assert_int_equal(chmod(f->sb, 0640), 0);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_PERM);
	assert_null(v);
	/* The twin: private again, it opens. */
	assert_int_equal(chmod(f->sb, 0400), 0);
	v = open_vault(f, 0);
	kmc_vault_close(v);
}

static void test_keystore_symlink(void **state)
{
	fixture *f = *state;
	kmc_vault *v = NULL;
	char real[600];

	init_host(f);
	snprintf(real, sizeof(real), "%s/real.ks", f->tmp);
	assert_int_equal(rename(f->ks, real), 0);
	assert_int_equal(symlink(real, f->ks), 0);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_PERM);
	assert_null(v);
}

static void test_dir_mode(void **state)
{
	fixture *f = *state;
	kmc_vault *v = NULL;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;

	init_host(f);
	assert_int_equal(chmod(f->vdir, 0777), 0);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_PERM);
	assert_null(v);
	assert_non_null(strstr(kmc_error_detail(), f->vdir));
	assert_int_equal(status_get(f->vdir, &st), KMC_E_PERM);
	assert_int_equal(chmod(f->vdir, 0720), 0);
	assert_int_equal(kmc_vault_open(f->vdir, KMC_OPEN_WRITE, &v),
		KMC_E_PERM);
	assert_int_equal(chmod(f->vdir, 0702), 0);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_PERM);
	assert_null(v);
	/* The twins: others may look, but not write. */
	assert_int_equal(chmod(f->vdir, 0755), 0);
	v = open_vault(f, 0);
	kmc_vault_close(v);
	assert_int_equal(chmod(f->vdir, 0700), 0);
	v = open_vault(f, KMC_OPEN_WRITE);
	kmc_vault_close(v);
}

static void test_store_mode(void **state)
{
	fixture *f = *state;
	kmc_vault *v = NULL;
	char path[700];

	init_host(f);
	snprintf(path, sizeof(path), "%s/items.mdb", f->vdir);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &v), KMC_E_PERM);
	assert_null(v);
	assert_int_equal(chmod(path, 0600), 0);
	v = open_vault(f, 0);
	kmc_vault_close(v);
}

/* ---- status ------------------------------------------------------- */

/*
 * kmc_status carries its size: a caller built when the struct ended
 * before the lists gets the fields it knows, no lists (nothing to leak)
 * and not a byte past its struct; size 0 is refused.
 */
static void test_status_size(void **state)
{
	fixture *f = *state;
	size_t old = offsetof(kmc_status, n_protectors);
	union {
		kmc_status st;
		unsigned char b[sizeof(kmc_status) + 16];
	} u;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;

	init_host(f);
	memset(&st, 0, sizeof(st));
	assert_int_equal(kmc_vault_status(f->vdir, &st), KMC_E_INVALID);
	assert_null(st.protectors);

	memset(&u, 0xa5, sizeof(u));
	u.st.size = old;
	assert_int_equal(kmc_vault_status(f->vdir, &u.st), 0);
	assert_int_equal(u.st.size, old);
	assert_int_equal(u.st.generation, 1);
	for (size_t i = old; i < sizeof(u.b); i++)
		assert_int_equal(u.b[i], 0xa5);

	st.size = sizeof(st);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.size, sizeof(st));
	assert_int_equal(st.n_protectors, 1);
	assert_non_null(st.protectors);
	assert_int_equal(st.protectors[0].type, KMC_PROTECTOR_HOST);
	assert_int_equal(st.n_master_keys, 1);
	assert_true(st.master_keys[0].active);
}

/* kmc_backup_info carries its size too: 0 is refused before anything is
   made, and a smaller struct is filled no further than it reaches. */
static void test_backup_info_size(void **state)
{
	fixture *f = *state;
	size_t old = offsetof(kmc_backup_info, items);
	union {
		kmc_backup_info info;
		unsigned char b[sizeof(kmc_backup_info) + 16];
	} u;
	char out[600];
	kmc_vault *v;

	init_host(f);
	v = open_vault(f, KMC_OPEN_WRITE);
	snprintf(out, sizeof(out), "%s/bk", f->tmp);
	memset(&u, 0, sizeof(u));
	assert_int_equal(kmc_vault_backup(v, out, &u.info), KMC_E_INVALID);
	assert_false(exists(out));

	memset(&u, 0xa5, sizeof(u));
	u.info.size = old;
	assert_int_equal(kmc_vault_backup(v, out, &u.info), 0);
	assert_true(exists(out));
	assert_int_equal(u.info.size, old);
	assert_int_equal(u.info.generation, 1);
	for (size_t i = old; i < sizeof(u.b); i++)
		assert_int_equal(u.b[i], 0xa5);
	kmc_vault_close(v);
}

static void test_status_host(void **state)
{
	fixture *f = *state;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;
	kmc_vault *v;

	init_host(f);
	/* Every field is written: none keeps the caller's bytes. */
	memset(&st, 0xff, sizeof(st));
	st.size = sizeof(st);
	assert_int_equal(kmc_vault_status(f->vdir, &st), 0);
	assert_int_equal(st.size, sizeof(st));
	assert_int_equal(strlen(st.vault_id), 32);
	for (size_t i = 0; i < 32; i++)
		assert_non_null(strchr("0123456789abcdef", st.vault_id[i]));
	assert_int_equal(st.format_version, 1);
	assert_true(st.generation >= 1);
	assert_int_equal(st.master, KMC_KS_OK);
	assert_int_equal(st.standby, KMC_KS_OK);
	assert_true(st.master_generation == st.generation);
	assert_true(st.standby_generation == st.generation);
	assert_int_equal(st.n_protectors, 1);
	assert_int_equal(st.protectors[0].id, 1);
	assert_int_equal(st.protectors[0].type, KMC_PROTECTOR_HOST);
	assert_non_null(strstr(st.protectors[0].detail, f->hk));
	assert_int_equal(st.n_master_keys, 1);
	assert_int_equal(st.master_keys[0].id, 1);
	assert_true(st.master_keys[0].active);
	assert_true(st.master_keys[0].created > 0);
	assert_true(st.items == 0);

	v = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_item_put(v, "a", KMC_ITEM_SECRET, "1", 1), 0);
	assert_int_equal(kmc_item_put(v, "b", KMC_ITEM_SECRET, "2", 1), 0);
	assert_int_equal(kmc_item_put(v, "b", KMC_ITEM_SECRET, "3", 1), 0);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_true(st.items == 2);
	assert_true(st.store_generation == generation(v));
	assert_int_equal(kmc_item_remove(v, "a"), 0);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_true(st.items == 1);
	kmc_vault_close(v);

	/* Status needs no host key: it unlocks nothing. */
	assert_int_equal(unlink(f->hk), 0);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_true(st.items == 1);
}

static void test_status_passphrase(void **state)
{
	fixture *f = *state;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;
	char vid[33];

	init_pass(f);
	assert_int_equal(status_get(f->vdir, &st), 0);
	assert_int_equal(st.n_protectors, 1);
	assert_int_equal(st.protectors[0].type, KMC_PROTECTOR_PASSPHRASE);
	assert_non_null(strstr(st.protectors[0].detail, "argon2id"));
	assert_int_equal(st.n_master_keys, 1);
	assert_true(st.master_keys[0].active);
	assert_true(st.items == 0);
	assert_int_equal(strlen(st.vault_id), 32);
	memcpy(vid, st.vault_id, sizeof(vid));
	/* Another vault has another id. */
	{
		char v2dir[600];

		snprintf(v2dir, sizeof(v2dir), "%s/v2", f->tmp);
		init_host_at(f, v2dir);
		assert_int_equal(status_get(v2dir, &st), 0);
		assert_string_not_equal(st.vault_id, vid);
	}
}

static void test_status_not_vault(void **state)
{
	fixture *f = *state;
	kmc_status st;

	/* Never filled, so never released: the lists stay the caller's
	   bytes. */
	memset(&st, 0x5a, sizeof(st));
	st.size = sizeof(st);
	assert_int_equal(kmc_vault_status(f->vdir, &st), KMC_E_NOT_VAULT);
	assert_int_equal(mkdir(f->vdir, 0700), 0);
	assert_int_equal(kmc_vault_status(f->vdir, &st), KMC_E_NOT_VAULT);
	/* Output written only on success. */
	assert_int_equal((unsigned char)st.vault_id[0], 0x5a);
}

/* ---- the keys a handle keeps are read-only ------------------------ */

/* A store the sanitizer does not see: the page protection must stop it. */
#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize_address, noinline))
#endif
/* Whether a child that stores one byte at p ends well (it must not). */
static int child_can_write(unsigned char *p)
{
	int status = unit_child_store(p, 1, (unsigned char)~*p);

	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/*
 * The keys a handle keeps while it is open (the master-key wrapping key,
 * each master key's keys, the binding's key) are read-only, whether a
 * reader's open made them so together (one mapping) or a writer's one by
 * one; and the reader's still read and write nothing wrong: an item put
 * by the writer reads back through the reader.
 */
static void test_kept_keys_readonly(void **state)
{
	fixture *f = *state;
	kmc_vault *w, *r;
	kmc_secret *pw = secret_of("s3cret-value"), *got = NULL;

	if (RUNNING_ON_VALGRIND) {
		/* memcheck reports the deliberate store in the child */
		kmc_secret_free(pw);
		skip();
		return;
	}
	init_host(f);
	w = open_vault(f, KMC_OPEN_WRITE);
	assert_int_equal(kmc_item_put(w, "db", KMC_ITEM_PASSWORD,
		kmc_secret_data(pw), kmc_secret_len(pw)), 0);
	r = open_vault(f, 0);
	for (int i = 0; i < 2; i++) {
		kmc_vault *v = i ? r : w;

		assert_non_null(v->mkwrap);
		assert_false(child_can_write(kmc_secret_data(v->mkwrap)));
		assert_true(v->n_mks > 0);
		assert_false(child_can_write(kmc_secret_data(v->mks[0].keys)));
		assert_non_null(bind_kept_key(v));
		assert_false(child_can_write(kmc_secret_data(bind_kept_key(v))));
	}
	/* The control: an ordinary secret is writable in a child. */
	assert_true(child_can_write(kmc_secret_data(pw)));
	assert_int_equal(kmc_item_get_secret(r, "db", &got), 0);
	assert_int_equal(kmc_secret_len(got), strlen("s3cret-value"));
	assert_memory_equal(kmc_secret_data(got), "s3cret-value",
		strlen("s3cret-value"));
	kmc_secret_free(got);
	kmc_secret_free(pw);
	kmc_vault_close(r);
	kmc_vault_close(w);
}

/* A default path too long for the buffer leaves "", never the part that
   fits, which names another folder or file. */
static void test_default_path_never_cut(void **state)
{
	const char *hk = getenv("KMC_HOST_KEY");
	char saved[4096], buf[8];

	(void)state;
	assert_non_null(hk);
	snprintf(saved, sizeof(saved), "%s", hk);
	setenv("KMC_VAULT", "/srv/vault-of-another-service", 1);
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(kmc_default_vault_dir(buf, sizeof(buf)),
		KMC_E_TOO_LARGE);
	assert_string_equal(buf, "");
	unsetenv("KMC_VAULT");
	setenv("KMC_HOST_KEY", "/etc/kmcvault/host.key.other", 1);
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(kmc_default_host_key(buf, sizeof(buf)),
		KMC_E_TOO_LARGE);
	assert_string_equal(buf, "");
	setenv("KMC_HOST_KEY", saved, 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_default_path_never_cut),
		T(test_init_host),
		T(test_init_existing_vault),
		T(test_init_into_empty_dir),
		T(test_init_into_non_empty_dir),
		T(test_init_passphrase),
		T(test_init_passphrase_invalid),
		T(test_init_trailing_slash),
		T(test_init_host_key_dir),
		T(test_options_size),
		T(test_options_newer),
		T(test_init_passphrase_long),
		T(test_open_wrong_passphrase),
		T(test_open_needs_passphrase),
		T(test_open_passphrase_callback),
		T(test_open_host_no_callback),
		T(test_open_not_vault),
		T(test_open_wrong_host_key),
		T(test_open_host_key_option),
		T(test_open_busy),
		T(test_item_roundtrip),
		T(test_item_get_missing),
		T(test_item_readonly),
		T(test_kept_keys_readonly),
		T(test_item_names),
		T(test_item_values),
		T(test_item_type),
		T(test_item_version),
		T(test_generation),
		T(test_string_roundtrip),
		T(test_string_tampered),
		T(test_string_other_vault),
		T(test_string_unknown_mk),
		T(test_repair_missing_master),
		T(test_repair_missing_standby),
		T(test_repair_damaged_standby),
		T(test_repair_damaged_master),
		T(test_repair_stale_twin),
		T(test_forged_newer_twin),
		T(test_newer_twin_bad_master_key),
		T(test_no_keystore_verifies),
		T(test_both_keystores_damaged),
		T(test_foreign_master),
		T(test_foreign_standby),
		T(test_foreign_master_other_host_key),
		T(test_foreign_nothing_written),
		T(test_status_forged_newer_host),
		T(test_status_unverified),
		T(test_keystore_mode),
		T(test_keystore_symlink),
		T(test_dir_mode),
		T(test_store_mode),
		T(test_status_host),
		T(test_status_size),
		T(test_backup_info_size),
		T(test_status_passphrase),
		T(test_status_not_vault),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
