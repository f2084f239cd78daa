#!/usr/bin/env bash
# test_guides.sh - operators type the guides' kmc lines as written: every
# kmc command line of README.md and docs/integrations/*.md (code blocks
# and inline `kmc ...` spans, as tools/guide-commands.awk finds them)
# names a command `kmc --help` lists, and only options that command's
# --help (or the options every command takes) gives. A renamed option
# or command left in a guide fails here, naming the guide and its line.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

AWKX=$KMC_TOP/tools/guide-commands.awk

# The commands, as test_docs.sh reads them: one or two words.
"$KMC" --help >"$T/help" 2>/dev/null
awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on' "$T/help" |
	grep -E '^  [a-z]' |
	awk '{ if ($2 ~ /^[a-z][a-z0-9-]*$/) print $1 " " $2; else print $1 }' >"$T/commands"
check "kmc --help lists at least 40 commands" test "$(wc -l <"$T/commands")" -ge 40
# The options every command that opens a vault takes, and --vault.
{
	echo --vault
	echo --help
	awk '/^Options taken by every command/ { on = 1; next } /^Secrets/ { on = 0 } on' "$T/help" |
		grep -oE -- '--[a-z0-9][a-z0-9-]*'
} | sort -u >"$T/global"
check "kmc --help gives the options every command takes (--host-key, --recovery-fd)" \
	grep -qx -- --recovery-fd "$T/global"

# opts CMD: the options CMD's --help gives, and the global ones.
opts() {
	local f=$T/opts.${1// /_}
	if [ ! -e "$f" ]; then
		# shellcheck disable=SC2086 # a two-word command is two arguments
		{ "$KMC" $1 --help 2>/dev/null |
			grep -oE -- '(^|[^A-Za-z0-9-])(--[a-z0-9][a-z0-9-]*|-[a-zA-Z])([^A-Za-z0-9-]|$)' |
			grep -oE -- '--?[a-zA-Z0-9][a-z0-9-]*'
		  cat "$T/global"; } | sort -u >"$f"
	fi
	cat "$f"
}

# lint FILE...: "FILE:LINE: what is wrong" for each command line that
# names no command or an option its command does not take.
lint() {
	local where args w cmd two o known
	awk -f "$AWKX" "$@" >"$T/lines" || return 1
	while IFS=$'\t' read -r where args; do
		read -ra w <<<"${args//[\[\]]/}"
		while [ "${w[0]:-}" = --vault ]; do w=("${w[@]:2}"); done
		[ ${#w[@]} -gt 0 ] || continue			# K="kmc --vault DIR"
		case ${w[0]} in
		...|[A-Z]*) continue ;;				# kmc ... --pin-fd, kmc COMMAND
		-*) echo "$where: kmc ${w[*]}: an option before the command"; continue ;;
		esac
		two="${w[0]} ${w[1]:-}"
		if grep -qxF -- "$two" "$T/commands"; then
			cmd=$two; w=("${w[@]:2}")
		elif grep -qxF -- "${w[0]}" "$T/commands"; then
			cmd=${w[0]}; w=("${w[@]:1}")
		elif grep -q -- "^${w[0]} " "$T/commands" && [[ ${w[1]:-} != [a-z]* ]]; then
			cmd=${w[0]}; w=("${w[@]:1}")		# `kmc trust`, the group
		else
			echo "$where: kmc $args: no such command"; continue
		fi
		if grep -q -- "^$cmd " "$T/commands"; then	# a group: any of its commands
			known=$(grep -E -- "^$cmd( |\$)" "$T/commands" | while read -r c; do opts "$c"; done)
		else
			known=$(opts "$cmd")
		fi
		for o in "${w[@]}"; do
			[[ $o == -[-a-zA-Z]* ]] || continue
			o=${o%%=*}
			grep -qxF -- "$o" <<<"$known" ||
				echo "$where: kmc $args: kmc $cmd takes no $o"
		done
	done <"$T/lines"
}

# ---- the check can fail -------------------------------------------------------

cat >"$T/bad.md" <<'EOF'
A guide gone stale:

```
sudo kmc import -c ca.crt -s server.crt --key server.key
sudo -u postgres kmc --vault /v password fetch pg
kmc --vault /v protector add pkcs11 --pkcs11-uri 'pkcs11:token=t' \
    --pin-value 1234
```

Then `kmc cert info server
--days 3` and `kmc --protector tpm`.

    kmc ref server --out s.ref | head -1 --ignored
EOF
lint "$T/bad.md" >"$T/bad.out"
cat "$T/bad.out"
check "a renamed option is found, with its file and line (bad.md:4 --key)" \
	grep -q 'bad.md:4: .*takes no --key$' "$T/bad.out"
check "an unknown command is found after sudo -u and --vault (password fetch)" \
	grep -q 'bad.md:5: .*no such command' "$T/bad.out"
check "a continued line is read whole (--pin-value on the next line)" \
	grep -q 'bad.md:6: .*takes no --pin-value$' "$T/bad.out"
check "an inline span that wraps is read whole (--days)" \
	grep -q 'bad.md:10: .*takes no --days$' "$T/bad.out"
check "an option before the command is found (kmc --protector tpm)" \
	grep -q 'bad.md:10: .*an option before the command' "$T/bad.out"
check "an indented code block is read, up to the pipe" \
	test "$(grep -c 'bad.md:13' "$T/bad.out")" = 0 -a "$(grep -c 'bad.md:13' "$T/lines")" = 1
check "the stale guide gives 5 findings, no more" test "$(wc -l <"$T/bad.out")" = 5

# ---- the guides ---------------------------------------------------------------

guides=("$KMC_TOP/README.md" "$KMC_TOP"/docs/integrations/*.md)
check "there are the README and at least 13 guides" test ${#guides[@]} -ge 14
for g in "${guides[@]}"; do
	rel=${g#"$KMC_TOP"/}
	lint "$g" >"$T/found"
	n=$(wc -l <"$T/lines")
	check "$rel has kmc command lines to check ($n)" test "$n" -gt 0
	check "every kmc line of $rel names a command and options kmc --help knows" \
		test ! -s "$T/found"
	[ ! -s "$T/found" ] || sed "s|^$KMC_TOP/|#   |" "$T/found"
done

# sudo closes every descriptor above 2 before it runs the command (its
# closefrom), so "sudo ... kmc ... --password-fd 3 3<FILE" reads a closed
# descriptor (exit 6). A guide gives sudo's kmc a secret on standard input.
grep -nE 'sudo .*-fd [3-9]' "${guides[@]}" >"$T/sudo-fd" || true
check "no guide passes sudo's kmc a descriptor above 2 (sudo closes it): use --password-fd 0 <FILE" \
	test ! -s "$T/sudo-fd"
[ ! -s "$T/sudo-fd" ] || sed "s|^$KMC_TOP/|#   |" "$T/sudo-fd"

done_testing
