/*
 * completion.c - kmc completion bash|zsh: a completion script made from
 * the dispatch table, the shared options and each command's own table,
 * so that it follows the commands as they change.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

/* One option as shell words: "--name" and "-c" if it has a short one. */
static void put_option(const struct option *o, const char *sep,
	const char *alt)
{
	printf("%s--%s", sep, o->name);
	if (o->val < 256 && o->val != 'h')
		printf("%s-%c", alt, o->val);
}

/* The options c takes, space-separated, as shell words: the shared
   ones it takes, then its own. */
static void put_options(const command *c)
{
	const struct option *o;
	const char *sep = "";

	for (o = cli_shared_options(); o->name; o++) {
		if (!cli_takes_shared(c, o))
			continue;
		put_option(o, sep, " ");
		sep = " ";
	}
	for (o = c->options; o && o->name; o++) {
		put_option(o, sep, " ");
		sep = " ";
	}
}

/* Whether o's name came earlier: in the shared table or one before. */
static int seen_before(const command *const *t, size_t k,
	const struct option *o)
{
	for (const struct option *p = cli_shared_options(); p->name; p++)
		if (!strcmp(p->name, o->name))
			return 1;
	for (size_t j = 0; j <= k; j++)
		for (const struct option *p = t[j]->options; p && p->name &&
				p != o; p++)
			if (!strcmp(p->name, o->name))
				return 1;
	return 0;
}

/* The options with a value, of every command, each once, as a case
   pattern. */
static void put_valued_options(void)
{
	const char *sep = "";
	size_t n;
	const command *const *t = cli_command_table(&n);

	for (const struct option *o = cli_shared_options(); o->name; o++) {
		if (o->has_arg != required_argument)
			continue;
		put_option(o, sep, "|");
		sep = "|";
	}
	for (size_t k = 0; k < n; k++)
		for (const struct option *o = t[k]->options; o && o->name; o++) {
			if (o->has_arg != required_argument ||
			    seen_before(t, k, o))
				continue;
			put_option(o, sep, "|");
			sep = "|";
		}
}

/* The key a command is known by in the script: "cert info", "list". */
static void put_key(const command *c)
{
	printf("%s%s%s", c->name, c->sub ? " " : "", c->sub ? c->sub : "");
}

/* The usage's first word after the command's own, brackets dropped:
   "ID" of "mk retire ID [--conf FILE]...". */
static void first_operand(const command *c, char *out, size_t size)
{
	const char *u = c->usage + strlen(c->name);
	size_t len;

	if (c->sub)
		u = strstr(u, c->sub) ? strstr(u, c->sub) + strlen(c->sub) : u;
	u += strspn(u, " [");
	len = strcspn(u, " ]\n");
	if (len >= size)
		len = size - 1;
	memcpy(out, u, len);
	out[len] = '\0';
}

/* Whether op is a choice of lower-case words: "bash|zsh". */
static int is_choice(const char *op)
{
	if (!strchr(op, '|'))
		return 0;
	for (; *op; op++)
		if (!(*op >= 'a' && *op <= 'z') && !(*op >= '0' && *op <= '9') &&
				*op != '|' && *op != '-')
			return 0;
	return 1;
}

static void put_bash(void)
{
	size_t n, k, j;
	int bare;
	const command *const *t = cli_command_table(&n);

	printf("# bash completion for kmc; made by `kmc completion bash`.\n"
		"_kmc_items()\n"
		"{\n"
		"\t# Item names, quietly: never a prompt (no terminal under\n"
		"\t# setsid), nothing on the screen, nothing when locked.\n"
		"\tcommand -v setsid >/dev/null 2>&1 || return 0\n"
		"\tsetsid -w \"${COMP_WORDS[0]}\" \"$@\" list </dev/null 2>/dev/null |\n"
		"\t\tawk '{ print $1 }'\n"
		"}\n\n"
		"_kmc()\n"
		"{\n"
		"\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev= w i key=\n"
		"\tlocal -a words=() vault=()\n"
		"\t[ \"$COMP_CWORD\" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD-1]}\n"
		"\tCOMPREPLY=()\n"
		"\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
		"\t\tw=${COMP_WORDS[i]}\n"
		"\t\tcase $w in\n"
		"\t\t--vault) vault=(--vault \"${COMP_WORDS[i+1]}\"); i=$((i + 1)) ;;\n"
		"\t\t--vault=*) vault=(\"$w\") ;;\n"
		"\t\t");
	put_valued_options();
	printf(") i=$((i + 1)) ;;\n"
		"\t\t-*) ;;\n"
		"\t\t*) words+=(\"$w\") ;;\n"
		"\t\tesac\n"
		"\tdone\n"
		"\tcase $prev in\n"
		"\t--protector) COMPREPLY=($(compgen -W 'host passphrase pkcs11 "
		"tpm recovery' -- \"$cur\")); return 0 ;;\n"
		/* The formats of the command named before the option. */
		"\t--format)\n"
		"\t\tcase ${words[0]} in\n"
		"\t\texport) w='pkcs8-der pkcs8-pem pkcs12' ;;\n"
		"\t\ttrust) w='pem pkcs12' ;;\n"
		"\t\t*) w='pem der' ;;\n"
		"\t\tesac\n"
		"\t\tCOMPREPLY=($(compgen -W \"$w\" -- \"$cur\")); return 0 ;;\n"
		"\t--mode) COMPREPLY=($(compgen -W '0600 0640' -- \"$cur\")); "
		"return 0 ;;\n"
		/* A password item is an item: offer the names, as for NAME. */
		"\t--password-item) COMPREPLY=($(compgen -W \"$(_kmc_items "
		"\"${vault[@]}\")\" -- \"$cur\")); return 0 ;;\n"
		"\t--type) COMPREPLY=($(compgen -W 'p256 p384 ed25519 rsa2048 "
		"rsa3072 rsa4096' -- \"$cur\")); return 0 ;;\n"
		"\t--mechanism) COMPREPLY=($(compgen -W 'aes-cbc aes-gcm rsa-oaep' "
		"-- \"$cur\")); return 0 ;;\n"
		"\t");
	put_valued_options();
	printf(") COMPREPLY=($(compgen -f -- \"$cur\")); return 0 ;;\n"
		"\tesac\n"
		"\tif [ ${#words[@]} -eq 0 ]; then\n"
		"\t\tif [[ $cur == -* ]]; then\n"
		"\t\t\tCOMPREPLY=($(compgen -W '--vault --help --version' -- "
		"\"$cur\"))\n"
		"\t\telse\n"
		"\t\t\tCOMPREPLY=($(compgen -W '");
	/* First words, each once. */
	for (k = 0; k < n; k++) {
		for (j = 0; j < k && strcmp(t[j]->name, t[k]->name); j++)
			;
		if (j == k)
			printf("%s%s", k ? " " : "", t[k]->name);
	}
	printf("' -- \"$cur\"))\n"
		"\t\tfi\n"
		"\t\treturn 0\n"
		"\tfi\n"
		"\tkey=${words[0]}\n"
		"\tcase $key in\n");
	/* Two-word groups: the second word, then the pair is the key. */
	for (k = 0; k < n; k++) {
		if (!t[k]->sub)
			continue;
		for (j = 0; j < k && (!t[j]->sub || strcmp(t[j]->name,
				t[k]->name)); j++)
			;
		if (j < k)
			continue;
		/* A group whose first word is a command too ("audit" and
		   "audit verify"): its options when no second word is there. */
		for (bare = 0, j = 0; j < n; j++)
			bare |= !t[j]->sub && !strcmp(t[j]->name, t[k]->name);
		printf("\t%s)\n"
			"\t\tif [ ${#words[@]} -eq 1 ]%s; then\n"
			"\t\t\tCOMPREPLY=($(compgen -W '", t[k]->name,
			bare ? " && [[ $cur != -* ]]" : "");
		for (j = k; j < n; j++)
			if (t[j]->sub && !strcmp(t[j]->name, t[k]->name))
				printf("%s%s", j == k ? "" : " ", t[j]->sub);
		printf("' -- \"$cur\"))\n"
			"\t\t\treturn 0\n"
			"\t\tfi\n"
			"\t\t%skey=\"$key ${words[1]}\" ;;\n",
			bare ? "[ ${#words[@]} -eq 1 ] || " : "");
	}
	printf("\tesac\n"
		"\tif [[ $cur == -* ]]; then\n"
		"\t\tcase $key in\n");
	for (k = 0; k < n; k++) {
		printf("\t\t'");
		put_key(t[k]);
		printf("') COMPREPLY=($(compgen -W '");
		put_options(t[k]);
		printf("' -- \"$cur\")) ;;\n");
	}
	printf("\t\tesac\n"
		"\t\treturn 0\n"
		"\tfi\n"
		"\tcase $key in\n");
	/* Operands, as the usage names the first: item names for NAME,
	   the words of a choice (bash|zsh), nothing for what is neither
	   an item nor a file (a master-key or protector ID, a secret),
	   else files. */
	for (k = 0; k < n; k++) {
		char op[64];

		if (t[k]->max_operands == 0)
			continue;
		printf("\t'");
		put_key(t[k]);
		printf("') ");
		first_operand(t[k], op, sizeof(op));
		if (strstr(op, "NAME"))
			printf("COMPREPLY=($(compgen -W \"$(_kmc_items "
				"\"${vault[@]}\")\" -- \"$cur\"))");
		else if (is_choice(op)) {
			for (char *q = op; *q; q++)
				*q = *q == '|' ? ' ' : *q;
			printf("COMPREPLY=($(compgen -W '%s' -- \"$cur\"))", op);
		} else if (!strcmp(op, "ID") || !strcmp(op, "SECRET") ||
				!strcmp(op, "STRING") || !strcmp(op, "ALIAS") ||
				!strcmp(op, "STORE"))
			printf(":");
		else
			printf("COMPREPLY=($(compgen -f -- \"$cur\"))");
		printf(" ;;\n");
	}
	printf("\tesac\n"
		"\treturn 0\n"
		"}\n"
		"complete -F _kmc kmc\n");
}

static int cmd_completion(cli_opts *a)
{
	const char *shell = a->argv[0];

	if (!strcmp(shell, "bash")) {
		put_bash();
	} else if (!strcmp(shell, "zsh")) {
		/* zsh runs the bash function through bashcompinit. */
		printf("#compdef kmc\n"
			"# zsh completion for kmc; made by `kmc completion zsh`.\n"
			"autoload -U +X bashcompinit && bashcompinit\n");
		put_bash();
	} else {
		return cli_usage_fail("completion: bash or zsh, not %s", shell);
	}
	if (fflush(stdout) != 0)
		return cli_fail(-errno, "writing to standard output");
	return 0;
}

const command cli_cmd_completion = {
	"completion", NULL, cmd_completion, 0, .min_operands = 1, 1, "completion bash|zsh",
	"Print a completion script for bash or zsh, made from this table of\n"
	"commands and their options: commands, the second word of a group,\n"
	"options, item names (from kmc list, asked quietly when you\n"
	"press Tab; nothing is offered if the vault would need a secret),\n"
	"the words of a choice (protector add host|...), files where a\n"
	"file is wanted, and nothing for an ID or a secret.\n"
	"Try: source <(kmc completion bash)"
};
