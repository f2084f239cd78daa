/*
 * fd_inherit.c - a server that opens its vault, then starts a program,
 * for tests/e2e/test_streams.sh:
 *
 *	fd_inherit VAULT [write]
 *
 * opens VAULT (read-only, or for writing with "write"), then prints, one
 * a line, each descriptor above 2 that a program it started would
 * inherit (no FD_CLOEXEC), as "FD PATH". The test looks for the vault's
 * files among them (those the test itself inherited are no concern).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <kmc.h>

int main(int argc, char **argv)
{
	kmc_vault *v = NULL;
	DIR *d;
	struct dirent *e;
	int r;

	if (argc < 2)
		return 2;
	r = kmc_vault_open(argv[1], argc > 2 ? KMC_OPEN_WRITE : 0, &v);
	if (r < 0) {
		fprintf(stderr, "open: rc %d: %s\n", r, kmc_error_detail());
		return 2;
	}
	d = opendir("/proc/self/fd");
	if (!d)
		return 2;
	while ((e = readdir(d))) {
		char link[64], path[PATH_MAX];
		int fd = atoi(e->d_name), flags;
		ssize_t n;

		if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(d))
			continue;
		flags = fcntl(fd, F_GETFD);
		if (flags < 0 || (flags & FD_CLOEXEC))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		path[n < 0 ? 0 : n] = '\0';
		printf("%d %s\n", fd, path);
	}
	closedir(d);
	kmc_vault_close(v);
	return 0;
}
