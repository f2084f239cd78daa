/*
 * fork_snapshot.c - a snapshot (kmc_vault_snapshot()) on one side of a
 * fork() while the other side closes a handle and commits, for
 * tests/e2e/test_fork_snapshot.sh:
 *
 *	fork_snapshot parent VAULT
 *	fork_snapshot child VAULT
 *
 * parent: the process opens VAULT, holds a snapshot and forks; the child
 * closes the handle it inherited (as man/kmc.3 lets it), opens its own
 * and commits 100 changes to items "pw" and "junk". The parent's
 * snapshot must still read "pw" as it was. The child's close of the
 * inherited snapshot released the parent's reader slot, and the child's
 * commits reused its pages: the parent read a value "pw" never had in
 * its snapshot.
 *
 * child: the parent opens VAULT and forks; the child opens a handle of
 * its own and holds a snapshot while the parent closes its handle,
 * reopens the vault for writing and commits 100 changes. The child's
 * snapshot must still read "pw" as it was. The child's handle shared the
 * parent's LMDB environment, whose reader slots carry the parent's pid:
 * the parent's close cleared them, and its commits reused the pages
 * under the child ("no item pw").
 *
 * Prints "ok" and exits 0, or what went wrong and exits 1; 2 when the
 * set-up fails. The vault opens with $KMC_HOST_KEY.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <kmc.h>

#define COMMITS 100

/* Item "pw" into buf; 0, or the error printed. */
static int get_pw(kmc_vault *v, const char *who, char *buf, size_t size)
{
	kmc_secret *s;
	int r = kmc_item_get_secret(v, "pw", &s);

	if (r < 0) {
		printf("%s: reading pw: %s (%s)\n", who, kmc_strerror(r),
			kmc_error_detail());
		return r;
	}
	snprintf(buf, size, "%.*s", (int)kmc_secret_len(s),
		(const char *)kmc_secret_data(s));
	kmc_secret_free(s);
	return 0;
}

/* COMMITS changes through a new writable handle; 0 or 1. */
static int commit_many(const char *dir, const char *who)
{
	kmc_vault *w;
	char val[64];
	int r = kmc_vault_open(dir, KMC_OPEN_WRITE, &w);

	for (int i = 0; r == 0 && i < COMMITS; i++) {
		snprintf(val, sizeof(val), "%s-%d", who, i);
		r = kmc_item_put(w, "pw", KMC_ITEM_PASSWORD, val, strlen(val));
		if (r == 0)
			r = kmc_item_put(w, "junk", KMC_ITEM_SECRET, val,
				strlen(val));
	}
	if (r < 0)
		printf("%s: writing: %s (%s)\n", who, kmc_strerror(r),
			kmc_error_detail());
	kmc_vault_close(w);
	return r < 0;
}

/* Whether the snapshot of v still reads before; 0 or 1. */
static int still(kmc_vault *v, const char *who, const char *before)
{
	char now[64];

	if (get_pw(v, who, now, sizeof(now)) < 0)
		return 1;
	if (strcmp(now, before) != 0) {
		printf("%s: the snapshot read pw as \"%s\", it held \"%s\"\n",
			who, now, before);
		return 1;
	}
	return 0;
}

static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return 2;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

static int parent_holds(const char *dir)
{
	kmc_vault *v;
	char before[64];
	pid_t pid;
	int bad;

	if (kmc_vault_open(dir, 0, &v) < 0 || kmc_vault_snapshot(v) < 0 ||
	    get_pw(v, "parent", before, sizeof(before)) < 0)
		return 2;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		kmc_vault_close(v);	/* the inherited handle */
		exit(commit_many(dir, "child"));	/* leak checks run */
	}
	if (wait_child(pid) != 0)
		return 2;
	bad = still(v, "parent", before);
	kmc_vault_snapshot_end(v);
	kmc_vault_close(v);
	return bad;
}

static int child_holds(const char *dir)
{
	kmc_vault *v, *cv;
	char before[64], c = 0;
	int go[2], done[2], r;
	pid_t pid;

	if (pipe(go) < 0 || pipe(done) < 0 || kmc_vault_open(dir, 0, &v) < 0)
		return 2;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		if (kmc_vault_open(dir, 0, &cv) < 0 ||
		    kmc_vault_snapshot(cv) < 0 ||
		    get_pw(cv, "child", before, sizeof(before)) < 0)
			_exit(2);
		if (write(go[1], "x", 1) != 1 || read(done[0], &c, 1) != 1)
			_exit(2);
		r = still(cv, "child", before);
		kmc_vault_snapshot_end(cv);
		kmc_vault_close(cv);
		fflush(stdout);
		_exit(r);
	}
	if (read(go[0], &c, 1) != 1)
		return 2;
	kmc_vault_close(v);	/* a server's reload: close, open again */
	r = commit_many(dir, "parent");
	if (write(done[1], "x", 1) != 1)
		return 2;
	r |= wait_child(pid);
	return r;
}

int main(int argc, char **argv)
{
	int r;

	if (argc != 3)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "parent") == 0)
		r = parent_holds(argv[2]);
	else if (strcmp(argv[1], "child") == 0)
		r = child_holds(argv[2]);
	else
		return 2;
	if (r == 0)
		printf("ok\n");
	return r;
}
