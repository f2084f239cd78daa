#!/usr/bin/env bash
# test_completion.sh - kmc completion: the bash script kmc prints, sourced
# into bash and run as bash's completion would run it, completes
# commands, the second word of a group, options and item names.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$T/vault
kmc() { "$KMC" --vault "$V" "$@"; }
PW=$T/pw
secret_file "$PW" 'hunter2'

t "kmc completion bash prints a script" kmc completion bash
cp "$OUT" "$T/kmc.bash"
check "the bash script parses (bash -n)" bash -n "$T/kmc.bash"
t "kmc completion zsh prints a script" kmc completion zsh
cp "$OUT" "$T/kmc.zsh"
check "the zsh script declares itself for compinit (#compdef kmc)" \
	grep -qx '#compdef kmc' "$T/kmc.zsh"
t_err 2 "kmc completion fish is a usage error naming the shell" 'bash or zsh, not fish' \
	kmc completion fish

t "a vault with two passwords for the item names" kmc init
t "... db" kmc password set db --password-file "$PW"
t "... web" kmc password set web --password-file "$PW"

# complete WORD...: source the script in a fresh bash, set COMP_WORDS to
# the words (the last one being completed) and print COMPREPLY sorted.
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_kmc; printf "%s\n" "${COMPREPLY[@]}" | sort' \
		complete "$T/kmc.bash" "$KMC" "$@"
}
# offers EXPECTED WORD...: the completions are exactly EXPECTED (lines).
offers() {
	local want=$1
	shift
	[ "$(complete_words "$@")" = "$(printf '%b' "$want")" ]
}

check "a command: 'pass' completes to password" offers 'password' pass
check "a command: 're' offers ref, repair, restore" offers 'ref\nrepair\nrestore' re
check "a command: 'comp' completes to completion" offers 'completion' comp
check "a group: 'protector ' offers add, list, remove" \
	offers 'add\nlist\nremove' protector ''
check "a group: 'cert i' offers info and issue" offers 'info\nissue' cert i
check "a group: 'ca ' offers crl, init, list, revoke" offers 'crl\ninit\nlist\nrevoke' ca ''
check "an option of cert issue: '--se' offers --self-signed and --server" \
	offers '--self-signed\n--server' cert issue --se
check "a group: 'mk ' offers list, retire, rewrap, rotate" \
	offers 'list\nretire\nrewrap\nrotate' mk ''
check "a group: 'mk re' offers retire and rewrap" offers 'retire\nrewrap' mk re
check "an option of mk rewrap: '--c' completes to --conf" offers '--conf' mk rewrap --c
check "an option of mk list: '--j' completes to --json" offers '--json' mk list --j
check "mk rotate takes no --json" offers '' mk rotate --j
check "a group: 'cert ' offers check, info, issue, renew, set and set-trust" \
	offers 'check\ninfo\nissue\nrenew\nset\nset-trust' cert ''
check "a new group: 'key ' offers gen" offers 'gen' key ''
check "a group that is a command too: 'audit ' offers verify" offers 'verify' audit ''
check "... and 'audit --s' the command's own --since" offers '--since' audit --s
check "... after an option: 'audit --item db --j' offers --json" offers '--json' audit --item db --j
check "... and 'audit verify --j' the second's --json" offers '--json' audit verify --j
check "an option of key gen: '--t' completes to --type" offers '--type' key gen --t
check "an option's value: 'key gen k --type ' offers the key types" \
	offers 'ed25519\np256\np384\nrsa2048\nrsa3072\nrsa4096' key gen k --type ''
check "an option of csr: '--s' offers --san and --subject" \
	offers '--san\n--subject' csr --s
check "an option of cert check: 'cert check --w' offers --within" \
	offers '--within' cert check --w
check "a group after --vault DIR: 'password g' completes to get" \
	offers 'get' --vault "$V" password g
check "an option of the command: 'import --ke' offers --key and --keys-dir" \
	offers '--key\n--keys-dir' import --ke
check "an option of a group's command: 'protector list --j' offers --json" \
	offers '--json' protector list --j
check "an option the command does not take is not offered ('rm --js')" \
	offers '' rm --js
check "an option's value: '--format ' offers pem and der" \
	offers 'der\npem' unwrap server --format ''
check "export's formats: 'export server --format ' offers the three" \
	offers 'pkcs12\npkcs8-der\npkcs8-pem' export server --format ''
check "trust export's formats: pem and pkcs12" \
	offers 'pem\npkcs12' trust export --format ''
check "export --password-item offers item names" \
	offers 'db\nweb' --vault "$V" export server --password-item ''
check "export --mode offers 0600 and 0640" \
	offers '0600\n0640' export server --mode ''
check "item names from kmc list: 'password get ' offers db and web" \
	offers 'db\nweb' --vault "$V" password get ''
check "item names complete a prefix: 'rm w' gives web" \
	offers 'web' --vault "$V" rm w
check "a vault that does not open offers no names, quietly" \
	offers '' --vault "$T/none" password get ''
# Operands as the usage names them: the words of a choice, files where
# a file is wanted, and nothing for an ID or a secret (files in the
# current folder would be wrong there).
mkdir "$T/cwd" && touch "$T/cwd/backup.tar" "$T/cwd/notes"
in_cwd() { (cd "$T/cwd" && offers "$@"); }
check "a choice: 'protector add p' offers passphrase and pkcs11" \
	in_cwd 'passphrase\npkcs11' protector add p
check "a file: 'restore b' offers backup.tar" in_cwd 'backup.tar' restore b
check "an ID: 'mk retire ' offers no files" in_cwd '' mk retire ''
check "an ID: 'protector remove ' offers no files" in_cwd '' protector remove ''
check "a secret: 'encrypt ' offers no files" in_cwd '' encrypt ''
check "an alias: 'trust rm ' offers no files" in_cwd '' trust rm ''
check "a store: 'trust sync ' offers no files" in_cwd '' trust sync ''
check "a choice: 'completion ' offers bash and zsh" in_cwd 'bash\nzsh' completion ''
# The option lists come from the table: every option kmc COMMAND --help
# usage names is offered for it (here: import and init).
for c in import init; do
	kmc "$c" --help | awk '/^$/ { exit } 1' | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u >"$T/help.$c"
	complete_words "$c" '--' >"$T/offered.$c"
	check "every option of the usage of kmc $c is offered for '$c --'" \
		bash -c 'comm -23 "$1" "$2" | grep -q . && exit 1; exit 0' _ \
		"$T/help.$c" "$T/offered.$c"
done

done_testing
