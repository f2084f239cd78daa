/*
 * audituser.c - the name of the user a record names: /etc/passwd, then
 * NSS, else "uid N". Looked up once a handle (kept in its audit state).
 */
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "audit.h"

/* The name of uid in /etc/passwd, read without stdio or NSS: a bounded
   scan of the file in blocks, with no allocation (glibc's NSS asserts
   or crashes when an allocation fails inside it). 0 when found. */
static int passwd_file_name(uid_t uid, char *out, size_t size)
{
	char buf[4096], line[1024];
	size_t n_line = 0;
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC | O_NOCTTY), found = -1;
	ssize_t got;

	if (fd < 0)
		return -1;
	while (found < 0 && (got = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < got && found < 0; i++) {
			char *f[4], *p;
			int k = 0;

			if (buf[i] != '\n') {
				if (n_line < sizeof(line) - 1)
					line[n_line++] = buf[i];
				continue;
			}
			line[n_line] = '\0';
			n_line = 0;
			/* name:password:uid:... */
			for (p = line, f[k++] = p; *p && k < 4; p++)
				if (*p == ':') {
					*p = '\0';
					f[k++] = p + 1;
				}
			if (k < 4 || !f[0][0] || strlen(f[0]) >= size)
				continue;
			if (strspn(f[2], "0123456789") == strlen(f[2]) && f[2][0] &&
			    strtoul(f[2], NULL, 10) == (unsigned long)uid) {
				snprintf(out, size, "%s", f[0]);
				found = 0;
			}
		}
	}
	close(fd);
	return found;
}

/* The user's name: /etc/passwd first, then NSS (getpwuid_r: LDAP, sssd
   and the like), else "uid N"; never a failure. */
const char *audit_user_name(struct audit_state *a)
{
	struct passwd pw, *res = NULL;
	char buf[1024];
	uid_t uid = getuid();

	if (a->user[0])
		return a->user;
	if (passwd_file_name(uid, a->user, sizeof(a->user)) == 0)
		return a->user;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res &&
	    strlen(res->pw_name) < sizeof(a->user))
		snprintf(a->user, sizeof(a->user), "%s", res->pw_name);
	else
		snprintf(a->user, sizeof(a->user), "uid %u", (unsigned)uid);
	return a->user;
}
