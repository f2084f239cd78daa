#!/usr/bin/env bash
# test_token_limits.sh - what a real token may answer and SoftHSM2 never
# does, through tests/e2e/p11_wrap.c (a module passing every call to
# SoftHSM2 but those it is told to refuse): a token without room
# (CKR_DEVICE_MEMORY) for kmc key gen --on-token and kmc import --on-token,
# and a token that cannot make EC keys. Each is refused with a message
# naming the token and the cause, its documented exit code, and nothing
# changed in the vault or on the token (a token without room refuses
# only once the vault has listed the key about to be made, in a commit of
# its own, and taken it off again: the items stay as they were and
# nothing waits to be destroyed, though the store's generation moved);
# and eight processes signing at
# once on one SoftHSM2 token all get through. Runs as root (the wrapper
# must be under /usr/local/lib: kmc loads modules from the system's trees
# only).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

. "$(dirname "${BASH_SOURCE[0]}")/p11wrap.sh"
V=$T/vault
P=$T/pki
kmc() { "$KMC" --vault "$V" "$@"; }
same() { cmp -s <(snapshot "$V") "$1" || { echo "the vault changed" >&2; false; }; }
. "$KMC_TOP/tools/softhsm-token.sh"
softhsm_token "$T" lim so-5 lim-pin-5 >/dev/null
secret_file "$T/pin" lim-pin-5
TOK="pkcs11:token=lim?module-path=$WRAP&pin-source=$T/pin"
count_keys() {
	pkcs11-tool --module "$MOD" --token-label lim --login --pin lim-pin-5 --list-objects 2>/dev/null |
		grep -c '^Private Key Object'
}
"$KMC_TOP/tools/mkpki.sh" "$P" >/dev/null
t "a vault" kmc init
t "key gen through the wrapping module (it passes calls on)" \
	kmc key gen ok --type p256 --on-token "$TOK"
N0=$(count_keys)
L0=$(kmc list 2>&1)

t_err 6 "a token without room: key gen refused, naming the token and CKR_DEVICE_MEMORY (exit 6)" \
	"token lim has no room for another key \(CKR_DEVICE_MEMORY\)" \
	env P11_WRAP_FULL=1 "$KMC" --vault "$V" key gen full --type rsa2048 --on-token "$TOK"
t_err 6 "... import --on-token refused the same way" \
	"token lim has no room for another key \(CKR_DEVICE_MEMORY\)" \
	env P11_WRAP_FULL=1 "$KMC" --vault "$V" import -c "$P/ca.crt" -s "$P/server.crt" \
	-k "$P/server.plain.key" --name full --on-token "$TOK"
check "... no keys-folder copy was written" test ! -e "$V/keys/full"
check "the vault's items are as they were" test "$(kmc list 2>&1)" = "$L0"
check "... nothing waits to be destroyed" \
	bash -c '[[ $("$0" --vault "$1" status --json) == *"\"token_destroys_pending\":0,"* ]]' "$KMC" "$V"
check "... nor was anything left on the token" test "$(count_keys)" = "$N0"
t "kmc verify: the item store agrees with its digest" kmc verify
S0=$T/s0
snapshot "$V" >"$S0"
t_err 9 "a token that cannot make EC keys: refused (exit 9), naming the token" \
	"token lim cannot make EC keys" \
	env P11_WRAP_NO_EC=1 "$KMC" --vault "$V" key gen noec --type p384 --on-token "$TOK"
# p11-kit says "bad encoding" for a failed malloc too; kmc tells a real
# bad escape (this one) from want of memory by checking the escapes.
t_err 2 "a URI with a bad escape: refused as not a PKCS#11 URI (exit 2)" \
	"pkcs11:token=l%zzm.* is not a PKCS#11 URI: URI encoding invalid" \
	"$KMC" --vault "$V" key gen badesc --type p256 \
	--on-token "pkcs11:token=l%zzm?module-path=$WRAP&pin-source=$T/pin"
check "nothing changed in the vault" same "$S0"
check "nor on the token" test "$(count_keys)" = "$N0"
t "an RSA key on the same token still works" env P11_WRAP_NO_EC=1 \
	"$KMC" --vault "$V" key gen rsa --type rsa2048 --on-token "$TOK"

# SoftHSM2 rewrites its token file at each login: eight processes signing
# at once on one token (forked workers starting together) must all get
# through, not "no token matching" for those that read it meanwhile.
TOK2="pkcs11:token=lim?module-path=$MOD&pin-source=$T/pin"
t "key gen par on the token itself" kmc key gen par --type p256 --on-token "$TOK2"
csr_burst() {
	local i j
	for j in 1 2; do
		for i in 1 2 3 4 5 6 7 8; do
			"$KMC" --vault "$V" csr par --subject /CN=x --out "$T/par$j$i.csr" \
				2>"$T/par$j$i.err" &
		done
		wait
	done
	[ "$(ls "$T"/par??.csr | wc -l)" = 16 ] || { cat "$T"/par??.err >&2; false; }
}
check "16 kmc csr, eight at a time, all sign on the token" csr_burst
done_testing
