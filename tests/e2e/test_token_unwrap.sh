#!/usr/bin/env bash
# test_token_unwrap.sh - what opening a vault through its token asks of
# the token, and what it still refuses. An unwrap makes no call it does
# not need: the token's info is read once (the PIN-locked flag is taken
# from the read that found the token), the key is searched for by its
# class, name and the slot's key type at once (its type is not read back),
# the counter object's value is read in one call, and no mechanism list
# is asked for (the token's C_DecryptInit says whether it has one). Each
# check those calls made is still made: a locked PIN, a key of another
# type, no key, two keys of one name, a token that is not there, a token
# without the slot's mechanism, a counter object too large. Each is
# refused with its message and exit code, and the vault is unchanged,
# as is a KMC_TOKEN_TIMEOUT that is no number of seconds it takes.
# A login or a search failing as SoftHSM2's do while another process
# rewrites the token is tried again (P11_WRAP_FLAKY_LOGIN, _HIDE_DATA).
# Calls are seen through tests/e2e/p11_wrap.c (P11_WRAP_LOG), a module
# passing every call to SoftHSM2; it must sit under /usr/local/lib (kmc
# loads modules from the system's trees only), so this runs as root.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

. "$(dirname "${BASH_SOURCE[0]}")/p11wrap.sh"
V=$T/vault
. "$KMC_TOP/tools/softhsm-token.sh"
softhsm_token "$T" unw so-8 unw-pin-8 >/dev/null
secret_file "$T/pin" unw-pin-8
LOG=$T/calls
p11() { pkcs11-tool --module "$MOD" --token-label unw --login --pin unw-pin-8 "$@" >/dev/null 2>&1; }
get() { env "$@" "$KMC" --vault "$V" password get db --pin-file "$T/pin"; }
calls() { grep -c "^$1\$" "$LOG" || true; }
secret_file "$T/pw" db-password-8

t "a vault whose one protector is a key kmc makes on the token" \
	"$KMC" --vault "$V" init --protector pkcs11 --create-key --pin-file "$T/pin" \
	--pkcs11-uri "pkcs11:token=unw;object=vk?module-path=$WRAP"
t "a password in it" "$KMC" --vault "$V" password set db --password-file "$T/pw" --pin-file "$T/pin"
S0=$T/s0
snapshot "$V" >"$S0"
same() { cmp -s <(snapshot "$V") "$S0" || { echo "the vault changed" >&2; false; }; }

rm -f "$LOG"
t_out "password get opens the vault through the token" db-password-8 get P11_WRAP_LOG="$LOG"
check "... reading the token's info once (the search for the token; the login takes the PIN flags from it)" \
	test "$(calls C_GetTokenInfo)" = 1
check "... logging in once" test "$(calls C_Login)" = 1
check "... searching twice: the key, and the counter object" test "$(calls C_FindObjectsInit)" = 2
check "... reading one attribute: the counter's value (the key's type is in its search)" \
	test "$(calls C_GetAttributeValue)" = 1
check "... asking for no mechanism information" test "$(calls C_GetMechanismInfo)" = 0
check "... and decrypting once" test "$(calls C_Decrypt)" = 1

# KMC_TOKEN_TIMEOUT bounds a call into a token behind p11-kit server;
# a value it cannot be (a unit, a sign, 0, past 600) was the default
# unseen, so an operator's 30s was 10. Refused before the token is used,
# naming the variable and what it takes (exit 2); empty is unset.
for bad in abc 10s -1 0 601 99999999999999999999 ' 5'; do
	t_err 2 "KMC_TOKEN_TIMEOUT='$bad' is refused (exit 2), naming it" \
		'KMC_TOKEN_TIMEOUT=.* is not a number of seconds from 1 to 600' \
		get KMC_TOKEN_TIMEOUT="$bad"
done
check "... and the vault is unchanged" same
t_out "KMC_TOKEN_TIMEOUT=600 is taken" db-password-8 get KMC_TOKEN_TIMEOUT=600
t_out "KMC_TOKEN_TIMEOUT empty is unset" db-password-8 get KMC_TOKEN_TIMEOUT=

# SoftHSM2 shared by several processes: while one rewrites the token's
# files, another's login fails (CKR_GENERAL_ERROR), its token is not
# found, or its search lists no objects. Such a call is tried three
# more times, some 20, 60 and 150 ms on; a token that keeps failing is
# still refused, and a counter object that stays missing still means
# the folder went back. Before, one such answer failed the open, and a
# missing counter called the vault rolled back (exit 12).
rm -f "$LOG"
t_out "two logins failing as SoftHSM2's do mid-rewrite: the open still succeeds" \
	db-password-8 get P11_WRAP_FLAKY_LOGIN=2 P11_WRAP_LOG="$LOG"
check "... after three logins" test "$(calls C_Login)" = 3
t_err 6 "every login failing: refused (exit 6), naming the login's error" \
	"logging in to the token: CKR_GENERAL_ERROR" get P11_WRAP_FLAKY_LOGIN=9
check "... and the vault is unchanged" same
rm -f "$LOG"
t_out "the counter object not listed twice, as mid-rewrite: the open succeeds" \
	db-password-8 get P11_WRAP_HIDE_DATA=2 P11_WRAP_LOG="$LOG"
check "... after three searches for it" test "$(calls C_FindObjectsInit)" = 4
t_err 12 "the counter object never listed: the folder went back (exit 12)" \
	"kmcvault-counter-.* on the token is missing" get P11_WRAP_HIDE_DATA=9
check "... and the vault is unchanged" same

t_err 3 "a token reporting its user PIN locked: refused before any login (exit 3)" \
	"token unw: the user PIN is locked" get P11_WRAP_LOCKED=1 P11_WRAP_LOG="$LOG.locked"
check "... no C_Login was made" test "$(grep -c '^C_Login$' "$LOG.locked")" = 0
check "... and the vault is unchanged" same

t_err 9 "a token without AES-CBC, the slot's mechanism: refused naming it (exit 9)" \
	"this token has no aes-cbc, the mechanism this slot was made with" get P11_WRAP_NO_CBC=1
check "... and the vault is unchanged" same

# A counter object past the bound the reader keeps (256 bytes): read in
# one call now, its size still checked.
VID=$("$KMC" --vault "$V" status --json | sed -n 's/.*"vault_id":"\([0-9a-f]*\)".*/\1/p')
check "the vault's id is known" test -n "$VID"
head -c 300 /dev/zero | tr '\0' x >"$T/big"
cp -a "$T/tokens" "$T/tokens.saved"
check "a 300-byte data object labelled as the vault's counter, on the token" \
	p11 --write-object "$T/big" --type data --label "kmcvault-counter-$VID" --private
t_err 4 "... is refused as damaged (exit 4), not read past its bound" \
	"kmcvault-counter-$VID on the token is damaged" get
check "... and the vault is unchanged" same
rm -rf "$T/tokens" && mv "$T/tokens.saved" "$T/tokens"
t_out "the token as it was: the vault opens again" db-password-8 get

# The token taken away: its directory moved aside.
TOKDIR=$(ls -d "$T"/tokens/*/)
mv "$TOKDIR" "$T/aside"
t_err 7 "a token that is not there: refused naming the URI (exit 7)" "no token matching .*token=unw" get
check "... and the vault is unchanged" same
mv "$T/aside" "$TOKDIR"
t_out "the token back: the vault opens" db-password-8 get

check "a second AES key with the vault key's name" p11 --keygen --key-type AES:32 --label vk --id 09
t_err 7 "two keys of one name: refused (exit 7), the URI names more than one" \
	"the URI names more than one key" get
check "... and the vault is unchanged" same
# pkcs11-tool removes one matching object per call (OpenSC 0.23), or
# all of them: call it until none is left.
has_vk() {
	pkcs11-tool --module "$MOD" --token-label unw --login --pin unw-pin-8 \
		--list-objects --type secrkey 2>/dev/null | grep -Eq 'label: +vk$'
}
drop_vk() {
	local _
	for _ in 1 2 3; do
		has_vk || return 0
		p11 --delete-object --type secrkey --label vk || return 1
	done
	! has_vk
}
check "both removed" drop_vk
t_err 7 "no key of that name: refused (exit 7)" "no key matching .*object=vk" get
check "... and the vault is unchanged" same
check "a generic secret key (not AES) with the vault key's name" \
	p11 --keygen --key-type GENERIC:32 --label vk --id 0a
t_err 9 "a key of another type: refused (exit 9), not of the slot's type" \
	"is not of the type this slot was made with" get
check "... and the vault is unchanged" same

done_testing
