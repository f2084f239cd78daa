/*
 * tokenretry.c - the delay before a token that was not reached is tried
 * again (see tokenretry.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <kmc.h>
#include "tokenretry.h"

typedef struct gone {
	char name[TOKEN_RETRY_NAME];
	char detail[TOKEN_RETRY_DETAIL];
	int err;
	uint64_t at;		/* when it last failed */
	uint64_t delay;		/* until the next attempt, from at */
	int used;
} gone;

static gone slots[TOKEN_RETRY_SLOTS];
static pid_t slots_pid;

uint64_t token_retry_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A child's token is its own to try: the parent's failures are not. */
static void check_fork(void)
{
	pid_t pid = getpid();

	if (slots_pid == pid)
		return;
	memset(slots, 0, sizeof(slots));
	slots_pid = pid;
}

static gone *find(const char *name)
{
	check_fork();
	for (size_t i = 0; i < TOKEN_RETRY_SLOTS; i++)
		if (slots[i].used && strcmp(slots[i].name, name) == 0)
			return &slots[i];
	return NULL;
}

uint64_t token_retry_delay(const char *name, uint64_t now)
{
	const gone *g = find(name);

	if (!g || now >= g->at + g->delay)
		return 0;
	return g->at + g->delay - now;
}

int token_retry_check(const char *name, uint64_t now)
{
	const gone *g = find(name);
	uint64_t left = token_retry_delay(name, now);

	if (!g || left == 0)
		return 0;
	return kmc_detail(g->err, "%s (met %llu ms ago; the token is tried "
		"again in %llu ms)", g->detail, (unsigned long long)(now - g->at),
		(unsigned long long)left);
}

void token_retry_failed(const char *name, int err, uint64_t now)
{
	gone *g = find(name);

	if (strlen(name) >= TOKEN_RETRY_NAME)
		return;
	if (g) {
		g->delay = g->delay * 2 > TOKEN_RETRY_MAX_MS ? TOKEN_RETRY_MAX_MS :
			g->delay * 2;
	} else {
		/* A free slot, else the one that failed longest ago. */
		g = &slots[0];
		for (size_t i = 0; i < TOKEN_RETRY_SLOTS; i++) {
			if (!slots[i].used) {
				g = &slots[i];
				break;
			}
			if (slots[i].at < g->at)
				g = &slots[i];
		}
		memset(g, 0, sizeof(*g));
		g->used = 1;
		memcpy(g->name, name, strlen(name) + 1);
		g->delay = TOKEN_RETRY_FIRST_MS;
	}
	g->err = err;
	g->at = now;
	snprintf(g->detail, sizeof(g->detail), "%s", kmc_error_detail()[0] ?
		kmc_error_detail() : kmc_strerror(err));
}

void token_retry_ok(const char *name)
{
	gone *g = find(name);

	if (g)
		memset(g, 0, sizeof(*g));
}
