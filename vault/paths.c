/*
 * paths.c - where things are: the default vault and host-key locations,
 * item names, the vault folder's checked open, and a hex printer. Calls nothing else in
 * vault/.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "vault.h"
#include "../safeio/fileio.h"

/* The vault folder: the user's alone, and so is every folder above it
   but root's and sticky ones (kmc_check_dir()). */
static const kmc_dir_rule vault_dir_rule = {
	.holds = NULL,
	.allow_root_owner = 0,
};

/* ---------------------------------------------------------------- */
/* Defaults                                                          */

/*
 * Where a vault or a host key goes when no path is given: the variable
 * if set, else a fixed path for root, else an XDG base directory
 * ($XDG_DATA_HOME, $XDG_CONFIG_HOME) or its fallback under $HOME.
 */
typedef struct default_loc {
	const char *env;	/* names a path explicitly */
	const char *what;	/* for messages */
	const char *root_path;
	const char *xdg;
	const char *fallback;	/* under $HOME when xdg is unset */
	const char *leaf;	/* below .../kmcvault, "" for the folder */
} default_loc;

static const default_loc default_locs[] = {
	[KMC_DEFAULT_VAULT] = { "KMC_VAULT", "the vault",
		"/var/lib/kmcvault", "XDG_DATA_HOME", ".local/share", "" },
	[KMC_DEFAULT_HOST_KEY] = { "KMC_HOST_KEY", "the host key",
		"/etc/kmcvault/host.key", "XDG_CONFIG_HOME", ".config",
		"/host.key" },
};

/*
 * Make the missing folders above path, 0700 as the XDG base directory
 * specification asks: for the built-in locations only
 * (~/.local/share/kmcvault, ~/.config/kmcvault/host.key), never above a
 * path the user named, where a typing error would grow a tree. A folder
 * that cannot be made is named with what wanted it and where its path
 * came from: under runuser, or sudo -E, $HOME is still the caller's
 * (/root), which a bare "creating /root/.config: Permission denied"
 * does not tell the user who runs kmc.
 */
static int mkdir_parents(const default_loc *d, const char *path,
	const char *from)
{
	char buf[PATH_MAX];
	int n = snprintf(buf, sizeof(buf), "%s", path);

	KMC_ENSURE(n > 0 && (size_t)n < sizeof(buf), KMC_E_TOO_LARGE);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
			int r = -errno;

			return kmc_detail(r, "creating %s for %s %s (the default "
				"under %s) as uid %u: %s; set $%s to a path of "
				"yours, or run with your own $HOME (sudo -u USER "
				"-H, runuser -l USER)", buf, d->what, path, from,
				(unsigned)geteuid(), kmc_strerror(r), d->env);
		}
		*p = '/';
	}
	return 0;
}

int kmc_default_path(kmc_default which, char *buf, size_t size,
	int make_parents)
{
	const default_loc *d = &default_locs[which];
	const char *env = secure_getenv(d->env);
	const char *base, *home = NULL;
	char from[PATH_MAX + 64];
	int n;

	/* An empty variable is unset, as the shell's ${VAR:-default}. */
	if (env && *env) {
		n = snprintf(buf, size, "%s", env);
		if (n < 0 || (size_t)n >= size)
			return kmc_detail(KMC_E_TOO_LARGE, "$%s is %zu bytes "
				"long; a path must be shorter than %zu", d->env,
				strlen(env), size);
		return 0;
	}
	if (geteuid() == 0) {
		n = snprintf(buf, size, "%s", d->root_path);
		snprintf(from, sizeof(from), "root's fixed path");
	} else {
		base = secure_getenv(d->xdg);
		if (!base || base[0] != '/') {
			home = secure_getenv("HOME");
			if (home && home[0] == '/') {
				snprintf(from, sizeof(from), "$HOME=%s", home);
			} else {
				struct passwd *pw = getpwuid(geteuid());

				home = pw ? pw->pw_dir : NULL;
				snprintf(from, sizeof(from), "the home directory "
					"/etc/passwd gives, %s", home ? home : "");
			}
			if (!home || home[0] != '/')
				return kmc_detail(KMC_E_INVALID, "no place for %s: "
					"$%s and $HOME are not absolute paths and "
					"uid %u has no home directory; set $%s",
					d->what, d->xdg, (unsigned)geteuid(),
					d->env);
		} else {
			snprintf(from, sizeof(from), "$%s=%s", d->xdg, base);
		}
		/* HOME=/ is the root folder, not "//.config". */
		if (home && !strcmp(home, "/"))
			home = "";
		if (home)
			n = snprintf(buf, size, "%s/%s/kmcvault%s", home,
				d->fallback, d->leaf);
		else
			n = snprintf(buf, size, "%s/kmcvault%s", base, d->leaf);
	}
	if (n < 0 || (size_t)n >= size)
		return kmc_detail(KMC_E_TOO_LARGE, "the default path of %s "
			"(from $%s or $HOME) is longer than %zu bytes", d->what,
			d->xdg, size - 1);
	if (make_parents)
		KMC_GUARD(mkdir_parents(d, buf, from));
	return 0;
}

/* On failure buf holds "": a path cut to fit names another file or
   folder, which a caller that uses it anyway must not get. */
static int default_path(kmc_default which, char *buf, size_t size)
{
	int r;

	kmc_detail_clear();
	r = kmc_default_path(which, buf, size, 0);
	if (r < 0 && size)
		buf[0] = '\0';
	return r;
}

int kmc_default_vault_dir(char *buf, size_t size)
{
	return default_path(KMC_DEFAULT_VAULT, buf, size);
}

int kmc_default_host_key(char *buf, size_t size)
{
	return default_path(KMC_DEFAULT_HOST_KEY, buf, size);
}

/* ---------------------------------------------------------------- */
/* Names                                                             */

int kmc_name_check(const char *name)
{
	size_t n = strnlen(name, KMC_NAME_MAX + 1);

	KMC_ENSURE(n >= 1 && n <= KMC_NAME_MAX, KMC_E_NAME);
	KMC_ENSURE(name[0] != '.' && name[0] != '/', KMC_E_NAME);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._@:/+-", c))
			continue;
		return KMC_E_NAME;
	}
	return 0;
}

int vault_name_guard(const char *name)
{
	if (kmc_name_check(name) < 0)
		return kmc_detail(KMC_E_NAME, "item name \"%.*s\" is not 1 to %d "
			"of [A-Za-z0-9._@:/+-] starting with neither '.' nor '/'",
			KMC_NAME_MAX, name, KMC_NAME_MAX);
	return 0;
}

/*
 * Names the vault makes for itself: a CA is ca:NAME with ca:NAME/key and
 * ca:NAME/cert, a trust store trust:STORE with trust:STORE/ALIAS. A
 * password made first under such a name (kmc password set ca:x) took it
 * from the CA or store kmc ca init or trust add makes later, which then
 * failed. trust:STORE/truststore-password is a user's to choose: the
 * password kmc trust export keeps for a PKCS#12 truststore.
 */
int vault_user_name_guard(const char *name)
{
	static const char keep[] = "/truststore-password";
	size_t tl = strlen(TRUST_ITEM_PREFIX), n = strlen(name);
	const char *slash;

	if (!strncmp(name, KMC_CA_ITEM_PREFIX, strlen(KMC_CA_ITEM_PREFIX)))
		return kmc_detail(KMC_E_NAME, "item name \"%s\": names that "
			"begin with %s are kept for the vault's CAs (kmc ca init "
			"makes %sNAME, %sNAME/key and %sNAME/cert); choose "
			"another name", name, KMC_CA_ITEM_PREFIX,
			KMC_CA_ITEM_PREFIX, KMC_CA_ITEM_PREFIX,
			KMC_CA_ITEM_PREFIX);
	if (strncmp(name, TRUST_ITEM_PREFIX, tl))
		return 0;
	slash = strchr(name + tl, '/');
	if (slash && slash > name + tl && n > sizeof(keep) - 1 &&
	    slash == name + n - (sizeof(keep) - 1) && !strcmp(slash, keep))
		return 0;
	return kmc_detail(KMC_E_NAME, "item name \"%s\": names that begin "
		"with %s are kept for trust stores (kmc trust add makes "
		"%sSTORE and its aliases); of those only "
		"%sSTORE%s, the password kmc trust export keeps, may be set; "
		"choose another name", name, TRUST_ITEM_PREFIX,
		TRUST_ITEM_PREFIX, TRUST_ITEM_PREFIX, keep);
}

/*
 * The host key named by $KMC_HOST_KEY, in buf, into *ret; NULL when it is
 * unset or empty: then the path the slot recorded applies. One that does
 * not fit is an error, never a silent fallback.
 */
int vault_env_host_key(char buf[PATH_MAX], const char **ret)
{
	const char *e = secure_getenv("KMC_HOST_KEY");

	*ret = NULL;
	if (!e || !*e)
		return 0;
	KMC_GUARD(kmc_default_path(KMC_DEFAULT_HOST_KEY, buf, PATH_MAX, 0));
	*ret = buf;
	return 0;
}

int vault_open_dir(const char *dir, int *ret_fd)
{
	int fd = -1, r;

	/* Opened through the walk that checks each link on the way, so the
	   folder checked is the folder used. */
	r = kmc_open_dir_checked(dir, "the vault", &fd);
	if (r == -ENOENT)
		return kmc_detail(KMC_E_NOT_VAULT, "%s does not exist (kmc init "
			"makes a vault there)", dir);
	KMC_GUARD(r);
	r = kmc_check_dir(fd, dir, &vault_dir_rule);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

void vault_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void import_split(const char *path, char *dir, size_t dsize, const char **base)
{
	const char *slash = strrchr(path, '/');

	snprintf(dir, dsize, "%.*s", slash == path ? 1 : (int)(slash - path),
		path);
	*base = slash + 1;
}

int bundle_meta_value(const kmc_secret *meta, const char *key, char *buf,
	size_t size)
{
	const char *p = (const char *)kmc_secret_data(meta);
	const char *end = p + kmc_secret_len(meta);
	size_t klen = strlen(key);

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
			KMC_ENSURE(n - klen - 1 < size, KMC_E_CORRUPT);
			/* A NUL would cut the value short: a URI or a path
			   read short names something else. */
			KMC_ENSURE(!memchr(p + klen + 1, '\0', n - klen - 1),
				KMC_E_CORRUPT);
			memcpy(buf, p + klen + 1, n - klen - 1);
			buf[n - klen - 1] = '\0';
			return 0;
		}
		p += n + 1;
	}
	return KMC_E_CORRUPT;
}
