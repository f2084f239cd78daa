/*
 * cli.h - the kmc command's shared helpers. The command sees only the
 * public headers; every decision about keys lives in the library.
 */
#ifndef KMC_CLI_H
#define KMC_CLI_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdio.h>
#include <limits.h>
#include <kmc.h>
#include <kmc/admin.h>

/* Exit codes, documented in docs/cli.md and kmc --help. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* anything not below */
	EXIT_USAGE = 2,		/* bad arguments, no way to ask for a secret */
	EXIT_AUTH = 3,		/* wrong passphrase, host key, no protector */
	EXIT_INTEGRITY = 4,	/* altered, damaged or foreign data */
	EXIT_PERM = 5,		/* unsafe owner, mode, link */
	EXIT_IO = 6,		/* system and store faults */
	EXIT_NOT_FOUND = 7,	/* no such vault or item */
	EXIT_EXISTS = 8,	/* a vault or item that must be new exists */
	EXIT_VERIFY = 9,	/* material failed a check: dates, chain, key
				   match, CRL, key type */
	EXIT_IN_USE = 10,	/* a master key still seals records or strings */
	EXIT_DUE = 11,		/* kmc cert check: a certificate or CRL
				   expired or expiring within the horizon */
	EXIT_ROLLBACK = 12,	/* the vault is older than it last was */
	EXIT_AUDIT = 13,	/* the audit log cannot be written or fails
				   its chain */
};

/*
 * Internal results of the prompt, beyond kmc_error: below the library's
 * codes, as those are below errno's, so that none is taken for another.
 */
#define CLI_E_BASE (-50000)
#define CLI_NO_TTY (CLI_E_BASE - 1)
#define CLI_INTERRUPTED (CLI_E_BASE - 2)
/*
 * Returned by cli_fail() and friends: already reported, exit with code.
 * CLI_EXIT_CODE() gives the exit code back from such a result, which
 * CLI_IS_EXIT() tells from any other.
 */
#define CLI_EXIT_BASE (-60000)
#define CLI_EXIT(code) (CLI_EXIT_BASE - (code))
#define CLI_IS_EXIT(r) ((r) <= CLI_EXIT_BASE)
#define CLI_EXIT_CODE(r) (CLI_EXIT_BASE - (r))

typedef struct cli_secret_src {
	const char *file;
	int fd;
	const char *hint;	/* the options that supply it */
} cli_secret_src;

int cli_read_secret(const cli_secret_src *src, const char *what, int confirm,
	size_t max, kmc_secret **ret);
int cli_passphrase_cb(char *buf, size_t size, void *arg);
int cli_pin_cb(char *buf, size_t size, void *arg);

/*
 * Printing for people (cli/escape.c): every byte that is not printable
 * text comes out as a C escape (\n, \x1b, ...), so a name or path can
 * neither forge a line nor drive the terminal. Never for secrets.
 */
void cli_put_escaped(FILE *f, const char *s);
/* "kmc: " fmt [": " tail] "\n" on stderr, all of it escaped. */
void cli_vreport(const char *fmt, va_list ap, const char *tail);
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One note a line of kmc_token_note(v): keys on a token a change removed,
   or could not remove. */
void cli_token_note(const kmc_vault *v);

/* Print "kmc: <context>: <detail>" and return CLI_EXIT(code for err). */
int cli_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * restore_exit - after a writable open that finished a restore cut off
 * (kmc_restore_note(); the open said what it did): 0, or the exit for a
 * trust sync file it could not write. kmc repair fails on it; other
 * commands go on, their own work made.
 */
int restore_exit(const kmc_vault *v);
int cli_usage_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* An unknown option as messages name it (cli/options.c): -X for a short
   one, else the word up to its '=' (what follows may be a secret). */
void unknown_word(int short_opt, const char *arg, char *buf, size_t size);

/* ---------------------------------------------------------------- */
/* Commands (cli/kmc.c has the table; one file per command group,   */
/* each with its own options)                                        */

#define PASSWORD_MAX 4096
#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define PASSPHRASE_MAX 1024

/*
 * The options every vault-opening command shares, parsed by cli_parse()
 * (cli/options.c): --vault, --help, and as the command's entry asks,
 * --json (CLI_JSON) and the ones that open a vault (CLI_UNLOCK:
 * --host-key, --passphrase-file/-fd, --pin-file/-fd, --recovery,
 * --recovery-file/-fd). A command's own options are its own: its file
 * holds their table, their struct and the function that parses them.
 */
enum {
	CLI_JSON = 1 << 0,
	CLI_UNLOCK = 1 << 1,
};

/* Values of a command's own long options start here (below: shared);
   those from CLI_REPEAT_OPT up may be given more than once. */
#define CLI_OWN_OPT 512
#define CLI_REPEAT_OPT 768
#define CLI_OPT_MAX 1024

typedef struct cli_opts {
	const char *vault;
	int json;
	const char *host_key;
	cli_secret_src passphrase;
	cli_secret_src pin;
	cli_secret_src recovery;
	int use_recovery;
	int help;
	int argc;		/* operands left after the options */
	char **argv;
} cli_opts;

typedef struct command {
	const char *name;
	const char *sub;	/* second word, e.g. "set" of "password set" */
	int (*run)(cli_opts *a);
	unsigned shared;	/* CLI_JSON, CLI_UNLOCK */
	/* The command's own options: their getopt_long table (values 0 to
	   255 for a short one in short_options, else CLI_OWN_OPT and up),
	   the function that takes one into own, and check, after the last,
	   for options that exclude each other. Each may be NULL. */
	const struct option *options;
	const char *short_options;
	int (*parse)(void *own, int opt, const char *arg);
	int (*check)(void *own);
	void *own;
	int min_operands, max_operands;
	const char *usage;
	const char *help;
	/* Never hands a private key to OpenSSL (the readers a server's boot
	   or a monitor runs): OpenSSL's allocator is left as it is, not
	   made to wipe what it frees (kmc_openssl_wipe_frees), which costs
	   a token's module some 3% more instructions at every boot. */
	unsigned keyless;
} command;

static inline void vault_closep(kmc_vault **v)
{
	kmc_vault_close(*v);
}

static inline void secret_freep(kmc_secret **s)
{
	kmc_secret_free(*s);
}

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Hand a vault on and leave NULL behind for the cleanup handler. */
static inline kmc_vault *take_vault(kmc_vault **v)
{
	kmc_vault *t = *v;

	*v = NULL;
	return t;
}
#define TAKE_VAULT(v) take_vault(&(v))

int vault_dir(const cli_opts *a, char *buf, size_t size,
	const char **ret);
int read_status(cli_opts *a, char *buf, size_t size, const char **ret_dir,
	kmc_status *ret);
/* What opens the vault a command names: its folder, and the options
   (--host-key, and the PIN, passphrase and recovery key given by file or
   descriptor, held in guarded memory until unlock_done()). */
typedef struct cli_unlock {
	char buf[PATH_MAX];
	const char *dir;
	kmc_options o;
	kmc_secret *pass, *pin, *rec;
} cli_unlock;
int unlock_prepare(cli_opts *a, cli_unlock *u);
void unlock_done(cli_unlock *u);
int open_vault(cli_opts *a, unsigned flags, kmc_vault **ret);
/* As open_vault(), and the secrets read for it stay in u (the token PIN
   for a key put on a token) until unlock_done(u). */
int open_vault_keep(cli_opts *a, unsigned flags, cli_unlock *u,
	kmc_vault **ret);
/* As open_vault(), but never prompts: no passphrase or PIN is asked for. */
int open_vault_no_prompt(cli_opts *a, unsigned flags, kmc_vault **ret);
int write_out(const void *buf, size_t len);
/* After EAGAIN on a non-blocking stdout: wait until it is writable. */
int cli_wait_stdout(void);
/* At start: a non-blocking stdout's stream made to wait while it is full
   (tables and JSON printed whole, as secrets are). */
int cli_stdout_waits(void);
int print_secret(const kmc_secret *s);
int refuse_nul(const kmc_secret *s, const char *what,
	const cli_secret_src *src);
int parse_uint(const char *s, unsigned long long max,
	unsigned long long *ret);
int cli_parse(const command *c, int argc, char **argv, cli_opts *a);
/* --X-fd N for the options of a command: a descriptor number, or fail. */
int cli_parse_fd(const char *option, const char *arg, int *ret);
/* A secret given by file and descriptor both is refused. */
int cli_one_source(const cli_secret_src *src, const char *file_option,
	const char *fd_option);
void json_str(FILE *f, const char *s);
struct kmc_cert_info;
/* The fields of one certificate as cert info --json prints them, without
   the braces (cli/cert.c). */
void cert_json_fields(const struct kmc_cert_info *c);
void iso_time(int64_t t, char *buf, size_t size);
/* "in 9 days", "3 days ago", "in less than a day" (cli/cert.c). */
void cli_days_text(int64_t seconds_left, char *buf, size_t size);
void json_backup_info(FILE *f, const char *dir, const kmc_backup_info *i,
	int restore);
int protector_type(const char *name, kmc_protector_type *ret);
struct protector_opts;
int protector_inputs(cli_opts *a, const struct protector_opts *p,
	kmc_protector_type type,
	kmc_options *o, kmc_secret **pass, kmc_secret **pin);
/* Print a new recovery key once, straight from guarded memory (no
   stdio copy): 0, or a CLI_EXIT result already reported. */
int show_recovery(const kmc_secret *key, unsigned id);
int status_healthy(const kmc_status *s);
int cmd_version(cli_opts *a);

/* The dispatch table (cli/kmc.c) and the options (cli/options.c), for
   kmc completion. */
struct option;
const command *const *cli_command_table(size_t *ret_n);

/* Each command's entry, beside its handler: name, options, usage, help. */
extern const command cli_cmd_init;
extern const command cli_cmd_protector_add;
extern const command cli_cmd_protector_list;
extern const command cli_cmd_protector_remove;
extern const command cli_cmd_status;
extern const command cli_cmd_audit_verify;
extern const command cli_cmd_audit;
extern const command cli_cmd_list;
extern const command cli_cmd_rm;
extern const command cli_cmd_password_set;
extern const command cli_cmd_password_get;
extern const command cli_cmd_encrypt;
extern const command cli_cmd_decrypt;
extern const command cli_cmd_import;
extern const command cli_cmd_crl_update;
extern const command cli_cmd_mk_rotate;
extern const command cli_cmd_mk_list;
extern const command cli_cmd_mk_rewrap;
extern const command cli_cmd_mk_retire;
extern const command cli_cmd_unwrap;
extern const command cli_cmd_export;
extern const command cli_cmd_cert_check;
extern const command cli_cmd_cert_info;
extern const command cli_cmd_cert_set_trust;
extern const command cli_cmd_cert_renew;
extern const command cli_cmd_key_gen;
extern const command cli_cmd_csr;
extern const command cli_cmd_cert_set;
extern const command cli_cmd_promote;
extern const command cli_cmd_trust_add;
extern const command cli_cmd_trust_rm;
extern const command cli_cmd_trust_crl;
extern const command cli_cmd_trust_list;
extern const command cli_cmd_trust_export;
extern const command cli_cmd_trust_sync;
extern const command cli_cmd_ca_init, cli_cmd_ca_revoke, cli_cmd_ca_crl,
	cli_cmd_ca_list, cli_cmd_cert_issue;
extern const command cli_cmd_ref;
extern const command cli_cmd_repair;
extern const command cli_cmd_verify;
extern const command cli_cmd_backup;
extern const command cli_cmd_restore;
extern const command cli_cmd_completion;
extern const command cli_cmd_version;
/* The shared options (cli/options.c) and whether c takes shared one o. */
const struct option *cli_shared_options(void);
int cli_takes_shared(const command *c, const struct option *o);

/* The options of a new protector, shared by init and protector add
   (cli/protector.c); values for the command's own table. */
enum {
	PO_ARGON2_OPS = CLI_OWN_OPT + 100, PO_ARGON2_MEM, PO_P11_URI,
	PO_CREATE_KEY, PO_MECH,
};
#define PROTECTOR_NEW_OPTIONS \
	{ "argon2-ops", required_argument, NULL, PO_ARGON2_OPS }, \
	{ "argon2-mem", required_argument, NULL, PO_ARGON2_MEM }, \
	{ "pkcs11-uri", required_argument, NULL, PO_P11_URI }, \
	{ "create-key", no_argument, NULL, PO_CREATE_KEY }, \
	{ "mechanism", required_argument, NULL, PO_MECH }
struct protector_opts {
	uint32_t argon2_ops;
	uint64_t argon2_mem;
	const char *pkcs11_uri, *mechanism;
	int create_key;
};
/* One of PROTECTOR_NEW_OPTIONS into p (nothing else comes here). */
int protector_option(struct protector_opts *p, int opt, const char *arg);

#endif
