#!/usr/bin/env bash
# test_paths.sh - where a vault and its host key live: the default
# locations and what kmc makes there, a default that cannot be worked out,
# and the folders above a vault or a host key (owned by root or the user,
# not writable by others unless sticky). Every refusal exits 5 and its
# advice is safe to follow: it never says to chmod a shared folder such as
# /tmp, nor to chown another user's vault. The tests run as root; "another
# user" is nobody, run through setpriv.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NOBODY=$(id -u nobody)
NOGROUP=$(id -g nobody)
PW=$T/pw
secret_file "$PW" 'new secret'
PWO=$T/pw.old
secret_file "$PWO" 'old secret'
# nobody must reach the folders made for it below $T.
chmod 711 "$T"
as_nobody() { setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups -- "$@"; }
# advice_safe DESC: the last refusal's message gives no advice that would
# hurt: no chmod of /tmp (or of any sticky shared folder), no chown.
advice_safe() {
	cp "$ERR" "$T/.advice"
	check "$1: the advice is safe (no chmod of /tmp, no chown)" \
		bash -c '! grep -Eq "chmod [0-7]+ /tmp([ ;]|$)|chown" "$0"' "$T/.advice"
}
unchanged() { test "$before" = "$(snapshot "$1")"; }
# no_stdout DESC: the last command printed nothing (no secret leaked).
no_stdout() {
	cp "$OUT" "$T/.stdout"
	check "$1" test ! -s "$T/.stdout"
}

# ---- a default that cannot be worked out --------------------------------------------

V=$T/v
"$KMC" --vault "$V" init 2>/dev/null
"$KMC" --vault "$V" password set db --password-file "$PW" 2>/dev/null
before=$(snapshot "$V")
LONG=/$(printf 'x%.0s' $(seq 4100))
t_err 2 "an over-long \$KMC_VAULT is refused, naming it (exit 2)" 'KMC_VAULT is 4101 bytes' \
	env -C "$V" KMC_VAULT="$LONG" "$KMC" password get db
no_stdout "... and the vault in the current folder was not read"
t_err 2 "an over-long \$KMC_VAULT: password set is refused (exit 2)" 'KMC_VAULT' \
	env -C "$V" KMC_VAULT="$LONG" "$KMC" password set db --password-file "$PWO"
check "... and the vault in the current folder is unchanged" unchanged "$V"
mkdir -m 700 "$T/empty"
t_err 2 "an over-long \$KMC_VAULT: init is refused (exit 2)" 'KMC_VAULT' \
	env -C "$T/empty" KMC_VAULT="$LONG" "$KMC" init
check "... and made nothing in the current folder" test -z "$(ls -A "$T/empty")"
t_err 2 "an over-long \$KMC_VAULT: status is refused (exit 2)" 'KMC_VAULT' \
	env -C "$V" KMC_VAULT="$LONG" "$KMC" status
t_err 2 "an over-long \$KMC_HOST_KEY is refused, not replaced by the recorded path (exit 2)" \
	'KMC_HOST_KEY is 4101 bytes' env KMC_HOST_KEY="$LONG" "$KMC" --vault "$V" password get db
no_stdout "... and printed no secret"

# ---- the default locations of a new user ----------------------------------------------

H=$T/home
mkdir -m 700 "$H"
chown nobody "$H"
nb() { as_nobody env -u KMC_HOST_KEY -u KMC_VAULT -u XDG_DATA_HOME -u XDG_CONFIG_HOME HOME="$H" "$KMC" "$@"; }
t "init of a new user with no ~/.local/share makes it" nb init
check "~/.local is 0700 and the user's" test "$(stat -c '%a %u' "$H/.local")" = "700 $NOBODY"
check "~/.local/share is 0700 and the user's" test "$(stat -c '%a %u' "$H/.local/share")" = "700 $NOBODY"
check "the vault is ~/.local/share/kmcvault, 0700" test "$(stat -c '%a %u' "$H/.local/share/kmcvault")" = "700 $NOBODY"
check "~/.config/kmcvault is 0700" test "$(stat -c '%a %u' "$H/.config/kmcvault")" = "700 $NOBODY"
check "the host key is ~/.config/kmcvault/host.key, 0400" \
	test "$(stat -c '%a %u' "$H/.config/kmcvault/host.key")" = "400 $NOBODY"
cp "$PW" "$H/pw" && chown nobody "$H/pw"
t "the new user stores a password in its default vault" nb password set db --password-file "$H/pw"
t_out "... and reads it back" 'new secret' nb password get db

H2=$T/home2
mkdir -m 700 "$H2"
chown nobody "$H2"
t "init makes a missing \$XDG_DATA_HOME and \$XDG_CONFIG_HOME, 0700" \
	as_nobody env -u KMC_HOST_KEY -u KMC_VAULT HOME="$H2" XDG_DATA_HOME="$H2/x/data" \
	XDG_CONFIG_HOME="$H2/x/conf" "$KMC" init
check "... \$XDG_DATA_HOME/kmcvault is the vault" test -s "$H2/x/data/kmcvault/kmc.ks"
check "... the folders made are 0700" \
	test "$(stat -c '%a' "$H2/x" "$H2/x/data" "$H2/x/conf" | sort -u)" = 700

# A path the user named is not grown: a typing error must not make a tree.
t_err 7 "--vault under a missing folder is refused (exit 7)" "$H/typo/v: cannot open its parent" \
	nb --vault "$H/typo/v" init
check "... and the missing folder was not made" test ! -e "$H/typo"
t_err 7 "\$KMC_VAULT under a missing folder is refused (exit 7)" "$H/typo2/v: cannot open its parent" \
	as_nobody env HOME="$H" KMC_VAULT="$H/typo2/v" "$KMC" init --host-key "$H/hk2"
check "... and the missing folder was not made" test ! -e "$H/typo2"
t_rc 7 "\$KMC_HOST_KEY two folders deep in missing ones is refused" \
	as_nobody env HOME="$H" KMC_HOST_KEY="$H/typo3/a/hk" "$KMC" --vault "$H/v3" init
check "... and its missing folders were not made" test ! -e "$H/typo3"
check "... nor the vault" test ! -e "$H/v3"

done_testing
