/*
 * test_fileio.c - safeio/fileio.c: the library's writer of new files
 * (kmc_file_write_new(), which kmc unwrap --out and kmc ref --out use;
 * that a crash leaves no part of a file is test_unwrap_faults.sh's), the
 * atomic writer under it, and the walk of a path as given
 * (kmc_check_path_links()): each symbolic link on it is checked where it
 * lives, since the walk up by ".." from the opened folder never sees the
 * folder that holds a link (RT2-37 in docs/test-plan.md).
 *
 * The link tests work in a fresh 0700 folder under /tmp. The test of a
 * link owned by another user gives it away with lchown(), which needs
 * root; it is skipped otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit_files.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>

#include <kmc.h>
#include <kmc/admin.h>
#include "../../safeio/fileio.h"
#include "../../safeio/fsize.h"

typedef struct fixture {
	char dir[64];
	char path[PATH_MAX];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kmc-fileio-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/out", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static size_t read_back(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, size);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

/* The mode asked for, whatever the umask; the bytes written. */
static void test_creates_with_mode(void **state)
{
	fixture *f = *state;
	struct stat st;
	char buf[32];
	mode_t old = umask(0277);

	assert_int_equal(kmc_file_write_new(f->path, "secret", 6, 0640), 0);
	umask(old);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(read_back(f->path, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "secret", 6);
}

/* An existing file is never replaced, and the detail names it. */
static void test_refuses_existing(void **state)
{
	fixture *f = *state;
	char buf[32];

	assert_int_equal(kmc_file_write_new(f->path, "first", 5, 0600), 0);
	assert_int_equal(kmc_file_write_new(f->path, "second", 6, 0600),
		KMC_E_EXISTS);
	assert_non_null(strstr(kmc_error_detail(), f->path));
	assert_int_equal(read_back(f->path, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "first", 5);
}

/* A link at the path is not followed: its target is not made. */
static void test_refuses_link(void **state)
{
	fixture *f = *state;
	char target[PATH_MAX];

	snprintf(target, sizeof(target), "%s/target", f->dir);
	assert_int_equal(symlink(target, f->path), 0);
	assert_int_equal(kmc_file_write_new(f->path, "x", 1, 0600),
		KMC_E_EXISTS);
	assert_int_equal(access(target, F_OK), -1);
}

/* A missing folder fails with the errno and names the file. */
static void test_missing_folder(void **state)
{
	fixture *f = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/no/such", f->dir);
	assert_int_equal(kmc_file_write_new(path, "x", 1, 0600), -ENOENT);
	assert_non_null(strstr(kmc_error_detail(), path));
}

static void test_refuses_folder_name(void **state)
{
	fixture *f = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/", f->dir);
	assert_int_equal(kmc_file_write_new(path, "x", 1, 0600),
		KMC_E_INVALID);
	assert_int_equal(kmc_file_write_new("", "x", 1, 0600), KMC_E_INVALID);
}

/* A vault's folder (any one of the files only a vault's folder holds)
 * takes no file a user names: the vault could read it as its own. The
 * same folder without them takes it. */
static void test_refuses_vault_folder(void **state)
{
	static const char *const marks[] = {
		"kmc.ks", "StandbyKsf.ks", "items.mdb", "kmc.bind",
		".kmc-restore", ".kmc-restore.d",
	};
	fixture *f = *state;
	char mark[PATH_MAX];
	struct stat st;
	int fd;

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		snprintf(mark, sizeof(mark), "%s/%s", f->dir, marks[i]);
		fd = open(mark, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(kmc_file_write_new(f->path, "x", 1, 0600),
			KMC_E_INVALID);
		assert_non_null(strstr(kmc_error_detail(), f->dir));
		assert_int_equal(lstat(f->path, &st), -1);
		assert_int_equal(unlink(mark), 0);
	}
	assert_int_equal(kmc_file_write_new(f->path, "x", 1, 0600), 0);
}

/* The names in f->dir, space-separated, "." and ".." left out. */
static void names_in(const char *dir, char *buf, size_t size)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	size_t off = 0;

	assert_non_null(d);
	buf[0] = '\0';
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			off += (size_t)snprintf(buf + off, size - off, "%s%s",
				off ? " " : "", e->d_name);
	closedir(d);
}

/* Neither a success nor a refusal leaves a temporary beside the file. */
static void test_no_temporary_left(void **state)
{
	fixture *f = *state;
	char names[1024];

	assert_int_equal(kmc_file_write_new(f->path, "first", 5, 0600), 0);
	names_in(f->dir, names, sizeof(names));
	assert_string_equal(names, "out");
	assert_int_equal(kmc_file_write_new(f->path, "second", 6, 0600),
		KMC_E_EXISTS);
	names_in(f->dir, names, sizeof(names));
	assert_string_equal(names, "out");
}

/* A write that fails halfway (here past RLIMIT_FSIZE) leaves nothing. */
static void test_failed_write_leaves_nothing(void **state)
{
	fixture *f = *state;
	struct rlimit old, small = { 4, 4 };
	void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
	char names[1024];
	int r;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	r = kmc_file_write_new(f->path, "0123456789", 10, 0600);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_xfsz);
	assert_int_equal(r, -EFBIG);
	assert_non_null(strstr(kmc_error_detail(), f->path));
	names_in(f->dir, names, sizeof(names));
	assert_string_equal(names, "");
}

/* A name as long as a file name may be: the temporary of the atomic
   writer must fit NAME_MAX as well. */
static void test_longest_name(void **state)
{
	fixture *f = *state;
	char name[NAME_MAX + 1], path[PATH_MAX], buf[8];
	int dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);

	assert_true(dirfd >= 0);
	memset(name, 'n', NAME_MAX);
	name[NAME_MAX] = '\0';
	assert_int_equal(kmc_write_atomic(dirfd, name, "abc", 3, 0600, 1), 0);
	assert_int_equal(kmc_write_atomic(dirfd, name, "xyz", 3, 0600, 1),
		KMC_E_EXISTS);
	close(dirfd);
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_int_equal(read_back(path, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(kmc_file_write_new(path, "def", 3, 0600), 0);
	assert_int_equal(read_back(path, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "def", 3);
}

/*
 * readdir() as libc's, or failing with EIO while readdir_fails is set:
 * defined in this program, it takes the place of libc's for the library
 * linked in, so a folder can fail to read without a broken disk.
 */
static int readdir_fails;

struct dirent *readdir(DIR *d)
{
	static struct dirent *(*real)(DIR *);

	if (readdir_fails) {
		errno = EIO;
		return NULL;
	}
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "readdir");
	return real(d);
}

/* kmc_dir_empty: a folder that could not be read is not "empty".
   readdir() reports an error only through errno. */
static void test_dir_empty_read_error(void **state)
{
	fixture *f = *state;
	int r, empty = -1;

	assert_int_equal(kmc_dir_empty(AT_FDCWD, f->dir, &empty), 0);
	assert_int_equal(empty, 1);
	readdir_fails = 1;
	empty = -1;
	r = kmc_dir_empty(AT_FDCWD, f->dir, &empty);
	readdir_fails = 0;
	assert_int_equal(r, -EIO);
	assert_int_equal(empty, -1);
	assert_int_equal(kmc_file_write_new(f->path, "x", 1, 0600), 0);
	assert_int_equal(kmc_dir_empty(AT_FDCWD, f->dir, &empty), 0);
	assert_int_equal(empty, 0);
}

/* kmc_write_new (staging) replaces what is there. */
static void test_write_new_replaces(void **state)
{
	fixture *f = *state;
	kmc_file_meta meta = { 0600, (uid_t)-1, (gid_t)-1, NULL, 0 };
	int dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	char buf[32];

	assert_true(dirfd >= 0);
	assert_int_equal(kmc_write_new(dirfd, "out", "one", 3, &meta), 0);
	assert_int_equal(kmc_write_new(dirfd, "out", "two", 3, &meta), 0);
	close(dirfd);
	assert_int_equal(read_back(f->path, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "two", 3);
}

/*
 * kmc_write_new under umask 0 (a server calling the library: only the kmc
 * command sets umask 077) makes the staged file private while it is
 * written: seen at its creation it has no group or other bits, though the
 * file it replaces is 0644 (a trust sync file, a config a group reads) and
 * the group it gets is given only afterwards. A watcher thread stats the
 * file at inotify's IN_CREATE, while 32 MiB are still being written.
 */
typedef struct watch {
	int ifd, dirfd;
	struct stat st;
	int seen;
} watch;

static void *watch_create(void *arg)
{
	watch *w = arg;
	char ev[sizeof(struct inotify_event) + NAME_MAX + 1];

	if (read(w->ifd, ev, sizeof(ev)) > 0 &&
	    fstatat(w->dirfd, "staged", &w->st, AT_SYMLINK_NOFOLLOW) == 0)
		w->seen = 1;
	return NULL;
}

static void test_write_new_private_while_written(void **state)
{
	fixture *f = *state;
	kmc_file_meta meta = { 0644, (uid_t)-1, (gid_t)-1, NULL, 0 };
	const size_t len = 32u << 20;
	char *big = calloc(1, len);
	watch w = { 0 };
	pthread_t t;
	mode_t old = umask(0);
	struct stat st;

	assert_non_null(big);
	w.dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(w.dirfd >= 0);
	w.ifd = inotify_init1(IN_CLOEXEC);
	assert_true(w.ifd >= 0);
	assert_true(inotify_add_watch(w.ifd, f->dir, IN_CREATE) >= 0);
	assert_int_equal(pthread_create(&t, NULL, watch_create, &w), 0);
	assert_int_equal(kmc_write_new(w.dirfd, "staged", big, len, &meta), 0);
	pthread_join(t, NULL);
	umask(old);
	free(big);
	assert_true(w.seen);
	/* Seen while it was written, not after (else the check says nothing). */
	assert_true((size_t)w.st.st_size < len);
	assert_int_equal(w.st.st_mode & 077, 0);
	assert_int_equal(fstatat(w.dirfd, "staged", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	close(w.ifd);
	close(w.dirfd);
}

static char top[64];

static int links_setup(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/tmp/kmc-test-fileio-XXXXXX");
	assert_non_null(mkdtemp(top));
	return 0;
}

static int links_teardown(void **state)
{
	(void)state;
	return rm_rf(top);
}

/* top/name made with mode (umask aside). */
static void mkdir_in(const char *name, mode_t mode)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", top, name);
	assert_int_equal(mkdir(path, mode), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* The link top/name pointing at target (top/ put before a target
   starting with '@'). */
static void link_in(const char *target, const char *name)
{
	char path[PATH_MAX], to[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", top, name);
	if (target[0] == '@')
		snprintf(to, sizeof(to), "%s/%s", top, target + 1);
	else
		snprintf(to, sizeof(to), "%s", target);
	assert_int_equal(symlink(to, path), 0);
}

/*
 * kmc_open_no_links() where openat2 fails with err, as a container's
 * seccomp filter makes it (EPERM) or an older kernel (ENOSYS, E2BIG):
 * in a child, since a filter cannot be taken off again. A plain file
 * opens, a link on the path is refused with ELOOP.
 */
static void open_no_links_blocked(int err)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO |
			((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(filter) / sizeof(filter[0]),
		filter };
	char file[PATH_MAX], via[PATH_MAX];
	int fd, status;
	pid_t pid;

	snprintf(file, sizeof(file), "%s/real/file", top);
	snprintf(via, sizeof(via), "%s/lnk/file", top);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
			_exit(2);
		/* The filter works: openat2 itself fails with err. Under
		   valgrind, which does not know openat2, it never reaches the
		   kernel: ENOSYS whatever the filter says (77: skipped). */
		if (syscall(SYS_openat2, AT_FDCWD, file,
		    &(struct open_how){ .flags = O_RDONLY },
		    sizeof(struct open_how)) >= 0 || errno != err)
			_exit(errno == ENOSYS ? 77 : 3);
		fd = kmc_open_no_links(file);
		if (fd < 0)
			_exit(4);
		close(fd);
		fd = kmc_open_no_links(via);
		_exit(fd < 0 && errno == ELOOP ? 0 : 5);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		print_message("openat2 never reaches the kernel here "
			"(valgrind?): the fallback for %s not tried\n",
			strerror(err));
		return;
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_open_no_links_fallback(void **state)
{
	char file[PATH_MAX];
	int fd;

	(void)state;
	mkdir_in("real", 0700);
	link_in("@real", "lnk");
	snprintf(file, sizeof(file), "%s/real/file", top);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	open_no_links_blocked(ENOSYS);
	open_no_links_blocked(EPERM);
	open_no_links_blocked(E2BIG);
}

static int walk(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	return kmc_check_path_links(path, "the vault");
}

static void test_safe_folders(void **state)
{
	(void)state;
	mkdir_in("real", 0700);
	mkdir_in("real/v", 0700);
	mkdir_in("safe", 0700);
	mkdir_in("rootish", 0755);
	link_in("@real", "safe/abs");
	link_in("../real", "rootish/rel");
	assert_int_equal(walk("real/v"), 0);
	assert_int_equal(walk("safe/abs/v"), 0);
	assert_int_equal(walk("rootish/rel/v"), 0);
	/* The last name may be what init is about to make... */
	assert_int_equal(walk("safe/abs/new"), 0);
	/* ...but not one before it. */
	assert_int_equal(walk("safe/none/v"), -ENOENT);
}

static void test_link_in_writable_folder(void **state)
{
	(void)state;
	mkdir_in("real", 0700);
	mkdir_in("ww", 0777);
	link_in("@real", "ww/link");
	assert_int_equal(walk("ww/link/v"), KMC_E_PERM);
	assert_non_null(strstr(kmc_error_detail(), "holding the link"));
	assert_non_null(strstr(kmc_error_detail(), "/ww/link"));
	assert_non_null(strstr(kmc_error_detail(), "mode 0777"));
	assert_null(strstr(kmc_error_detail(), "chmod"));
	/* The same folder's files are no concern without a link in it. */
	mkdir_in("ww/v", 0700);
	assert_int_equal(walk("ww/v"), 0);
	/* Group-writable is as bad; sticky is the exception. */
	mkdir_in("gw", 0770);
	link_in("@real", "gw/link");
	assert_int_equal(walk("gw/link/v"), KMC_E_PERM);
	mkdir_in("st", 01777);
	link_in("@real", "st/link");
	assert_int_equal(walk("st/link/v"), 0);
}

static void test_link_of_another_user(void **state)
{
	char path[PATH_MAX];

	(void)state;
	if (geteuid() != 0)
		skip();
	mkdir_in("real", 0700);
	mkdir_in("st", 01777);
	link_in("@real", "st/link");
	snprintf(path, sizeof(path), "%s/st/link", top);
	assert_int_equal(lchown(path, 65534, (gid_t)-1), 0);
	assert_int_equal(walk("st/link/v"), KMC_E_PERM);
	assert_non_null(strstr(kmc_error_detail(), "the link"));
	assert_non_null(strstr(kmc_error_detail(), "belongs to uid 65534"));
	/* Outside a sticky folder its owner cannot touch it: only who may
	   write the folder can rename or remove a link. */
	mkdir_in("safe", 0700);
	link_in("@real", "safe/link");
	snprintf(path, sizeof(path), "%s/safe/link", top);
	assert_int_equal(lchown(path, 65534, (gid_t)-1), 0);
	assert_int_equal(walk("safe/link/v"), 0);
	/* A folder of another user holding the link is refused too. */
	mkdir_in("theirs", 0755);
	link_in("@real", "theirs/link");
	snprintf(path, sizeof(path), "%s/theirs", top);
	assert_int_equal(chown(path, 65534, (gid_t)-1), 0);
	assert_int_equal(walk("theirs/link/v"), KMC_E_PERM);
	assert_non_null(strstr(kmc_error_detail(), "belongs to uid 65534"));
}

static void test_chain(void **state)
{
	(void)state;
	mkdir_in("real", 0700);
	mkdir_in("a", 0700);
	mkdir_in("b", 0700);
	mkdir_in("ww", 0777);
	/* a/1 -> ../b/2 (relative) -> top/real (absolute) */
	link_in("../b/2", "a/1");
	link_in("@real", "b/2");
	assert_int_equal(walk("a/1/v"), 0);
	/* The last link of the chain in a folder others can write. */
	link_in("../ww/3", "a/4");
	link_in("@real", "ww/3");
	assert_int_equal(walk("a/4/v"), KMC_E_PERM);
	assert_non_null(strstr(kmc_error_detail(), "/ww/3"));
	/* A link to a link's folder by a name with ".." after it. */
	link_in("@ww", "b/5");
	assert_int_equal(walk("b/5/../real/v"), 0);
}

static void test_loop(void **state)
{
	char name[32], target[32];

	(void)state;
	mkdir_in("d", 0700);
	link_in("2", "d/1");
	link_in("1", "d/2");
	assert_int_equal(walk("d/1/v"), -ELOOP);
	/* 40 links in a row are followed, the 41st is too many. */
	mkdir_in("real", 0700);
	for (int i = 0; i < 41; i++) {
		snprintf(name, sizeof(name), "d/c%d", i);
		if (i == 40)
			snprintf(target, sizeof(target), "../real");
		else
			snprintf(target, sizeof(target), "c%d", i + 1);
		link_in(target, name);
	}
	assert_int_equal(walk("d/c1/v"), 0);
	assert_int_equal(walk("d/c0/v"), -ELOOP);
}

static void test_relative_path(void **state)
{
	char old[PATH_MAX];

	(void)state;
	mkdir_in("real", 0700);
	mkdir_in("ww", 0777);
	mkdir_in("safe", 0700);
	link_in("../real", "ww/link");
	link_in("../real", "safe/link");
	assert_non_null(getcwd(old, sizeof(old)));
	assert_int_equal(chdir(top), 0);
	assert_int_equal(kmc_check_path_links("ww/link/v", "v"), KMC_E_PERM);
	assert_int_equal(kmc_check_path_links("safe/link/v", "v"), 0);
	assert_int_equal(kmc_check_path_links("./safe//link/", "v"), 0);
	assert_int_equal(chdir(old), 0);
}

/* Opened through the walk, the folder checked is the folder used: a
   link repointed after the walk changes nothing for the caller (RT2-37
   raced when the folder was opened by name first and walked after, as a
   review found by stopping kmc in between). */
static void test_open_dir_checked(void **state)
{
	char path[PATH_MAX], lnk[PATH_MAX];
	struct stat real, got;
	int fd = -1;

	(void)state;
	mkdir_in("real", 0700);
	mkdir_in("other", 0700);
	mkdir_in("safe", 0700);
	mkdir_in("ww", 0777);
	link_in("@real", "safe/link");
	link_in("@real", "ww/link");
	snprintf(path, sizeof(path), "%s/real", top);
	assert_int_equal(stat(path, &real), 0);
	snprintf(path, sizeof(path), "%s/safe/link", top);
	assert_int_equal(kmc_open_dir_checked(path, "the vault", &fd), 0);
	snprintf(lnk, sizeof(lnk), "%s/safe/link", top);
	assert_int_equal(unlink(lnk), 0);
	link_in("@other", "safe/link");
	assert_int_equal(fstat(fd, &got), 0);
	assert_true(got.st_dev == real.st_dev && got.st_ino == real.st_ino);
	close(fd);
	/* The same refusals as the plain walk, and nothing opened. */
	fd = -1;
	snprintf(path, sizeof(path), "%s/ww/link", top);
	assert_int_equal(kmc_open_dir_checked(path, "the vault", &fd),
		KMC_E_PERM);
	assert_int_equal(fd, -1);
	/* A missing last name is no folder to open. */
	snprintf(path, sizeof(path), "%s/safe/none", top);
	assert_int_equal(kmc_open_dir_checked(path, "the vault", &fd), -ENOENT);
}

/* kmc_path_parent: the folder holding the last name, and that name. */
static void test_path_parent(void **state)
{
	char buf[PATH_MAX];
	const char *base;

	(void)state;
	assert_int_equal(kmc_path_parent("/a/b/c", buf, sizeof(buf), &base), 0);
	assert_string_equal(buf, "/a/b");
	assert_string_equal(base, "c");
	assert_int_equal(kmc_path_parent("/a/b//", buf, sizeof(buf), &base), 0);
	assert_string_equal(buf, "/a");
	assert_string_equal(base, "b//");
	assert_int_equal(kmc_path_parent("/v", buf, sizeof(buf), &base), 0);
	assert_string_equal(buf, "/");
	assert_string_equal(base, "v");
	assert_int_equal(kmc_path_parent("v", buf, sizeof(buf), &base), 0);
	assert_string_equal(buf, ".");
	assert_string_equal(base, "v");
	assert_int_equal(kmc_path_parent("a/..", buf, sizeof(buf), &base),
		KMC_E_INVALID);
	assert_int_equal(kmc_path_parent(".", buf, sizeof(buf), &base),
		KMC_E_INVALID);
	assert_int_equal(kmc_path_parent("/a", buf, 2, &base),
		KMC_E_TOO_LARGE);
}

/*
 * Under a file size limit, with SIGXFSZ at its default (a server's): in a
 * child, which reports how it ended. kmc_write_full() of a file that
 * would pass the limit returns -EFBIG and writes nothing (the build
 * before was killed by the signal, or wrote up to the limit); a write
 * past it inside kmc_xfsz_hold() fails with EFBIG and the signal it
 * raised is taken off at kmc_xfsz_release(), while one pending before
 * the hold is left for the process.
 */
enum { FSIZE_OK = 0, FSIZE_WRITE = 3, FSIZE_SHORT, FSIZE_HELD, FSIZE_KEPT };

static int fsize_child(const char *path, int which)
{
	struct rlimit lim = { 4096, 4096 };
	char buf[6000];
	sigset_t s, pend;
	kmc_xfsz x;
	struct stat st;
	int fd, status;
	pid_t pid;

	memset(buf, 'x', sizeof(buf));
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_DFL);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || setrlimit(RLIMIT_FSIZE, &lim) < 0)
			_exit(2);
		if (which == 0) {
			if (kmc_write_full(fd, buf, sizeof(buf)) != -EFBIG)
				_exit(FSIZE_WRITE);
			/* Nothing written, as on a full disk. */
			_exit(fstat(fd, &st) == 0 && st.st_size == 0 ?
				FSIZE_OK : FSIZE_SHORT);
		}
		sigemptyset(&s);
		sigaddset(&s, SIGXFSZ);
		if (which == 2) {	/* one pending before: not ours */
			sigprocmask(SIG_BLOCK, &s, NULL);
			raise(SIGXFSZ);
		}
		kmc_xfsz_hold(&x);
		if (lseek(fd, 8192, SEEK_SET) < 0 ||
		    write(fd, "x", 1) != -1 || errno != EFBIG)
			_exit(FSIZE_HELD);
		kmc_xfsz_release(&x);
		if (which == 2)
			_exit(sigpending(&pend) == 0 &&
				sigismember(&pend, SIGXFSZ) == 1 ? FSIZE_OK :
				FSIZE_KEPT);
		_exit(FSIZE_OK);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/*
 * A SIGXFSZ another process sends with kill() while the signal is held is
 * the user's, not a write's: kmc_xfsz_release() must leave it to the
 * process, as sent (its sender and code, which a SA_SIGINFO handler
 * reads), with or without one a write in the hold raised meanwhile. In a
 * child with a handler that notes what it got; a grandchild sends it.
 */
enum { SENT_OK = 0, SENT_LOST = 3, SENT_SENDER, SENT_TWICE, SENT_HELD };

static volatile sig_atomic_t sent_count;
static volatile sig_atomic_t sent_pid;
static volatile sig_atomic_t sent_code;

static void sent_handler(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	sent_count++;
	sent_pid = si->si_pid;
	sent_code = si->si_code;
}

static int fsize_sent_child(const char *path, int write_too)
{
	struct rlimit lim = { 4096, 4096 };
	struct sigaction sa;
	kmc_xfsz x;
	pid_t pid, killer;
	int fd, status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = sent_handler;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || setrlimit(RLIMIT_FSIZE, &lim) < 0 ||
		    sigaction(SIGXFSZ, &sa, NULL) < 0)
			_exit(2);
		kmc_xfsz_hold(&x);
		killer = fork();
		if (killer < 0)
			_exit(2);
		if (killer == 0)
			_exit(kill(getppid(), SIGXFSZ) == 0 ? 0 : 1);
		if (waitpid(killer, &status, 0) != killer ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			_exit(2);
		if (write_too && (lseek(fd, 8192, SEEK_SET) < 0 ||
		    write(fd, "x", 1) != -1 || errno != EFBIG))
			_exit(SENT_HELD);
		if (sent_count)
			_exit(SENT_HELD);
		kmc_xfsz_release(&x);
		if (sent_count == 0)
			_exit(SENT_LOST);
		if (sent_count > 1)
			_exit(SENT_TWICE);
		if (sent_pid != killer || sent_code != SI_USER)
			_exit(SENT_SENDER);
		_exit(SENT_OK);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_fsize_kill_kept(void **state)
{
	fixture *f = *state;
	int status;

	status = fsize_sent_child(f->path, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), SENT_OK);
	status = fsize_sent_child(f->path, 1);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), SENT_OK);
}

static void test_fsize_limit(void **state)
{
	fixture *f = *state;
	int status;

	status = fsize_child(f->path, 0);
	assert_false(WIFSIGNALED(status));
	assert_int_equal(WEXITSTATUS(status), FSIZE_OK);
	status = fsize_child(f->path, 1);
	assert_false(WIFSIGNALED(status));
	assert_int_equal(WEXITSTATUS(status), FSIZE_OK);
	status = fsize_child(f->path, 2);
	assert_false(WIFSIGNALED(status));
	assert_int_equal(WEXITSTATUS(status), FSIZE_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_creates_with_mode,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsize_limit,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsize_kill_kept,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_existing,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_link,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_folder,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_folder_name,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_vault_folder,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_temporary_left,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_leaves_nothing,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_longest_name,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_empty_read_error,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_new_replaces,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_new_private_while_written,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_safe_folders,
			links_setup, links_teardown),
		cmocka_unit_test_setup_teardown(test_link_in_writable_folder,
			links_setup, links_teardown),
		cmocka_unit_test_setup_teardown(test_link_of_another_user,
			links_setup, links_teardown),
		cmocka_unit_test_setup_teardown(test_chain,
			links_setup, links_teardown),
		cmocka_unit_test_setup_teardown(test_loop,
			links_setup, links_teardown),
		cmocka_unit_test_setup_teardown(test_relative_path,
			links_setup, links_teardown),
		cmocka_unit_test_setup_teardown(test_open_no_links_fallback,
			links_setup, links_teardown),
		cmocka_unit_test_setup_teardown(test_open_dir_checked,
			links_setup, links_teardown),
		cmocka_unit_test(test_path_parent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
