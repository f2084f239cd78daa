/*
 * test_tokenwatch.c - the watchdog on calls into a token behind `p11-kit
 * server` (pkcs11/tokenwatch.c): a read blocked on a socket connected to
 * the server's address ends when the bound passes (the socket is shut
 * down, the watchdog says it fired); a call disarmed in time leaves the
 * socket alone; a socket to another address is never touched; the bound
 * comes from KMC_TOKEN_TIMEOUT, a bad value refused by token_watch_check().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "../../pkcs11/tokenwatch.h"

static char dir[] = "/tmp/kmc-tokenwatch.XXXXXX";
static char server[256], other[256];
static int lserver = -1, lother = -1;

static int listen_at(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 4) != 0)
		return -1;
	return fd;
}

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -1;
	return fd;
}

static int setup(void **state)
{
	char addr[300];

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(server, sizeof(server), "%s/server.sock", dir);
	snprintf(other, sizeof(other), "%s/other.sock", dir);
	lserver = listen_at(server);
	lother = listen_at(other);
	snprintf(addr, sizeof(addr), "unix:path=%s", server);
	setenv("P11_KIT_SERVER_ADDRESS", addr, 1);
	setenv("KMC_TOKEN_TIMEOUT", "1", 1);
	return lserver < 0 || lother < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	close(lserver);
	close(lother);
	unlink(server);
	unlink(other);
	rmdir(dir);
	return 0;
}

static void test_bound_from_env(void **state)
{
	static const char *const bad[] = { "0", "5s", "abc", "-1", " 5",
		"+5", "601", "99999999999999999999999" };

	(void)state;
	assert_int_equal(token_watch_bound(), 1);
	assert_int_equal(token_watch_check(), 0);
	setenv("KMC_TOKEN_TIMEOUT", "0600", 1);
	assert_int_equal(token_watch_bound(), 600);
	assert_int_equal(token_watch_check(), 0);
	setenv("KMC_TOKEN_TIMEOUT", "", 1);
	assert_int_equal(token_watch_bound(), TOKEN_WATCH_DEFAULT_S);
	assert_int_equal(token_watch_check(), 0);
	/* Refused, naming the variable; the bound for messages is the
	   default, never a value made of part of it. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("KMC_TOKEN_TIMEOUT", bad[i], 1);
		assert_int_equal(token_watch_check(), KMC_E_INVALID);
		assert_non_null(strstr(kmc_error_detail(), "KMC_TOKEN_TIMEOUT"));
		assert_int_equal(token_watch_bound(), TOKEN_WATCH_DEFAULT_S);
	}
	setenv("KMC_TOKEN_TIMEOUT", "1", 1);
}

static void test_stalled_read_is_cut(void **state)
{
	int to_server = connect_to(server), to_other = connect_to(other);
	char c;

	(void)state;
	assert_true(to_server >= 0 && to_other >= 0);
	alarm(10);	/* a watchdog that never fires fails, not hangs */
	token_watch_arm("/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so");
	/* Nobody answers: only the watchdog ends this read. */
	assert_int_equal(read(to_server, &c, 1), 0);
	assert_true(token_watch_fired());
	alarm(0);
	token_watch_disarm();
	/* The other address's socket still works. */
	assert_int_equal(send(to_other, "x", 1, MSG_NOSIGNAL), 1);
	close(to_server);
	close(to_other);
}

static void test_disarmed_in_time(void **state)
{
	int fd = connect_to(server);

	(void)state;
	assert_true(fd >= 0);
	token_watch_arm("/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so");
	assert_false(token_watch_fired());
	token_watch_disarm();
	sleep(2);
	assert_false(token_watch_fired());
	/* Not shut down: it still writes. */
	assert_int_equal(send(fd, "x", 1, MSG_NOSIGNAL), 1);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound_from_env),
		cmocka_unit_test(test_stalled_read_is_cut),
		cmocka_unit_test(test_disarmed_in_time),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
