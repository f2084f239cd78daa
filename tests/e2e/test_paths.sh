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

# A $HOME that is not the user's (runuser, sudo -E keep the caller's):
# the folder that cannot be made is named with what wanted it, where its
# path came from, and what to set.
mkdir -m 700 "$T/roots-home"
mkdir -m 700 "$T/nb-v" && chown nobody "$T/nb-v"
t_err 5 "a \$HOME of root's: init names the host key's folder, \$HOME and \$KMC_HOST_KEY (exit 5)" \
	"creating $T/roots-home/.config for the host key $T/roots-home/.config/kmcvault/host.key \\(the default under \\\$HOME=$T/roots-home\\) as uid $NOBODY: Permission denied; set \\\$KMC_HOST_KEY" \
	as_nobody env -u KMC_HOST_KEY -u XDG_CONFIG_HOME HOME="$T/roots-home" "$KMC" --vault "$T/nb-v/v" init
check "... and made no vault" test ! -e "$T/nb-v/v"
t_err 5 "HOME=/: the default vault is /.local/share/kmcvault, named once (exit 5)" \
	"creating /.local for the vault /.local/share/kmcvault \\(the default under \\\$HOME=/\\)" \
	as_nobody env -u KMC_HOST_KEY -u KMC_VAULT -u XDG_DATA_HOME HOME=/ "$KMC" init

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
# root's password file handed to the service user (sudo -u postgres kmc
# ... --password-file /root/pw): named with its owner and mode, and the
# descriptor way, which docs/integrations/postgresql.md gives, works.
t_err 5 "a root-owned 0600 password file: names its owner and mode (exit 5)" \
	"$PW: Permission denied: it belongs to uid 0 \\(root\\), mode 0600, which does not let uid $NOBODY \\(nobody\\) read it" \
	nb password set db2 --password-file "$PW"
check "... and says it may come on a descriptor instead (--password-fd)" \
	grep -q 'descriptor instead: .*--password-fd' "$LAST_ERR"
t "... and on a descriptor root opens, it is stored" nb password set db2 --password-fd 3 3<"$PW"
# A file of the user's in a folder it may enter but not list ($T is 0711,
# as /srv or /etc/ssl/private 0710 to a group): read, as open(2) would.
cp "$PW" "$T/nobodys-pw" && chown nobody "$T/nobodys-pw"
t "the user's password file in a 0711 folder of root's is read" \
	nb password set db3 --password-file "$T/nobodys-pw"
printf 'db4 s3cret\n' >"$T/nobodys-batch" && chmod 600 "$T/nobodys-batch" && chown nobody "$T/nobodys-batch"
t "... and so is its batch file" nb password set --batch "$T/nobodys-batch"
# The user's own file in a folder it may not enter (the operator's 0700
# home, with sudo -u): the folder is named, given as a path or relative
# to a current folder the user may not enter.
cp "$PW" "$T/roots-home/pw" && chown nobody "$T/roots-home/pw"
t_err 5 "the user's password file in root's 0700 folder: names the folder (exit 5)" \
	"$T/roots-home/pw: Permission denied: directory $T/roots-home belongs to uid 0 \\(root\\), mode 0700, and does not let uid $NOBODY \\(nobody\\) in" \
	nb password set db5 --password-file "$T/roots-home/pw"
in_dir() { (cd "$1" && shift && "$@"); }
t_err 5 "... and so given relative to such a current folder (exit 5)" \
	"pw: Permission denied: directory $T/roots-home belongs to uid 0 \\(root\\)" \
	in_dir "$T/roots-home" nb password set db5 --password-file pw
# An import's key of root's, 0600 (not readable by the service's user):
# named with its owner and mode, as a password file is.
mkdir -m 755 "$T/rootpki" && bash "$KMC_TOP/tools/mkpki.sh" "$T/rootpki" kp >/dev/null 2>&1
chmod 600 "$T/rootpki/server.key"
t_err 5 "an import's key of root's, 0600: names its owner and mode (exit 5)" \
	"$T/rootpki/server.key: Permission denied: it belongs to uid 0 \\(root\\), mode 0600, which does not let uid $NOBODY \\(nobody\\) read it" \
	nb import -c "$T/rootpki/ca.crt" -s "$T/rootpki/server.crt" -k "$T/rootpki/server.key" --password-file "$T/nobodys-pw" --name web
t_out "... which stored db4" 's3cret' nb password get db4

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

# ---- folders above the vault ------------------------------------------------------------

# Another user swaps v and v.bak in a folder every user can write: root
# must refuse that folder, not read the old secret.
S=$T/shared
mkdir -m 700 "$T/a"
"$KMC" --vault "$T/a/v" init 2>/dev/null
"$KMC" --vault "$T/a/v" password set db --password-file "$PWO" 2>/dev/null
cp -a "$T/a/v" "$T/a/v.bak"
"$KMC" --vault "$T/a/v" password set db --password-file "$PW" 2>/dev/null
mkdir "$S"
chmod 777 "$S"
mv "$T/a/v" "$T/a/v.bak" "$S/"
as_nobody mv "$S/v" "$S/v.new" && as_nobody mv "$S/v.bak" "$S/v"
check "another user could swap the vault in a 0777 folder" test -e "$S/v.new"
t_err 5 "a vault in a non-sticky 0777 folder is refused, naming it (exit 5)" \
	"directory $S above the vault $S/v has mode 0777.*move the vault" \
	"$KMC" --vault "$S/v" password get db
no_stdout "... and the old secret was not printed"
advice_safe "a vault in a 0777 folder"
t_err 5 "... password set is refused too (exit 5)" "directory $S above" \
	"$KMC" --vault "$S/v" password set db --password-file "$PW"
t_err 5 "init in a non-sticky 0777 folder is refused (exit 5)" "directory $S above the vault $S/w" \
	"$KMC" --vault "$S/w" init
check "... and made no vault" test ! -e "$S/w"
chmod 775 "$S"
t_err 5 "a group-writable folder above is refused (exit 5)" "directory $S above .* 0775" \
	"$KMC" --vault "$S/v" password get db
advice_safe "a group-writable folder above"

# Sticky, as /tmp: others cannot rename what is ours, so it is accepted.
mv "$S/v" "$S/v.bak" && mv "$S/v.new" "$S/v"
chmod 1777 "$S"
t_out "a vault in a sticky 1777 folder opens" 'new secret' "$KMC" --vault "$S/v" password get db
check "... where another user cannot swap it" bash -c '! setpriv --reuid='"$NOBODY"' --regid='"$NOGROUP"' --clear-groups mv "$0/v" "$0/v.x" 2>/dev/null' "$S"
t "init directly in a sticky folder works" "$KMC" --vault "$S/w" init

# Two levels up: the walk goes to /.
mkdir -m 700 "$S/deep"
"$KMC" --vault "$S/deep/v" init 2>/dev/null
chmod 1777 "$S"
chmod 777 "$T/a"
mv "$S/deep" "$T/a/deep"
t_err 5 "a 0777 folder two levels above is refused (exit 5)" "directory $T/a above the vault $T/a/deep/v" \
	"$KMC" --vault "$T/a/deep/v" status
chmod 700 "$T/a"
t "... and accepted once it is private" "$KMC" --vault "$T/a/deep/v" status

mkdir -m 755 "$T/theirs"
chown nobody "$T/theirs"
mv "$T/a/deep/v" "$T/theirs/v"
t_err 5 "a folder above owned by another user is refused (exit 5)" \
	"directory $T/theirs above the vault $T/theirs/v belongs to uid $NOBODY" \
	"$KMC" --vault "$T/theirs/v" password get db
advice_safe "a folder above owned by another user"
t_err 5 "root making a vault in another user's folder is told to run as that user (exit 5)" \
	"directory $T/theirs above the vault $T/theirs/new belongs to uid $NOBODY .*run as that user \\(sudo -u nobody\\)" \
	"$KMC" --vault "$T/theirs/new" init
advice_safe "a vault made in another user's folder"
check "... and made no vault" test ! -e "$T/theirs/new"
t "... as that user, the vault is made there" \
	as_nobody env KMC_HOST_KEY="$T/theirs/hk" "$KMC" --vault "$T/theirs/new" init

# ---- another user's vault --------------------------------------------------------------------

# A service's vault: root is told to run as the service's user, not to
# take the vault over (docs/provider.md).
mkdir -m 700 "$T/svc"
KMC_HOST_KEY=$T/svc/hk "$KMC" --vault "$T/svc/v" init 2>/dev/null
chown -R nobody "$T/svc"
t_err 5 "root opening nobody's vault is told to run as nobody (exit 5)" \
	"$T/svc/v belongs to uid $NOBODY .*sudo -u nobody" \
	env KMC_HOST_KEY="$T/svc/hk" "$KMC" --vault "$T/svc/v" password get db
advice_safe "another user's vault"
t_err 5 "... and so is root opening a new user's default vault (exit 5)" \
	"$H/.local/share/kmcvault belongs to uid $NOBODY .*sudo -u nobody" \
	"$KMC" --vault "$H/.local/share/kmcvault" password get db
# A uid without a name (a container's, a removed user's) is named the way
# sudo takes it, never as "sudo -u ?".
NONAME=54321
while getent passwd "$NONAME" >/dev/null; do NONAME=$((NONAME + 1)); done
mkdir -m 700 "$T/noname"
KMC_HOST_KEY=$T/noname/hk "$KMC" --vault "$T/noname/v" init 2>/dev/null
chown -R "$NONAME" "$T/noname"
t_err 5 "root opening the vault of a uid without a name is told sudo -u '#uid' (exit 5)" \
	"$T/noname/v belongs to uid $NONAME .*\\(sudo -u '#$NONAME'\\)" \
	env KMC_HOST_KEY="$T/noname/hk" "$KMC" --vault "$T/noname/v" list
cp "$PW" "$T/pw-noname" && chown "$NONAME" "$T/pw-noname"
t_err 5 "... and so is root reading a password file of that uid (exit 5)" \
	"$T/pw-noname is owned by uid $NONAME.*\\(sudo -u '#$NONAME'\\)" \
	"$KMC" --vault "$V" password set other --password-file "$T/pw-noname"
# A user the vault's folders do not let in (a web server's worker, an
# operator in the owner's group) is told which folder, whose it is and
# whom to run as, not a bare "Permission denied".
t_err 5 "nobody opening root's 0700 vault is told whose folder it is (exit 5)" \
	"$V: Permission denied: directory $V belongs to uid 0 \\(root\\), mode 0700, and does not let uid $NOBODY in; run as that user instead \\(sudo -u root\\)" \
	as_nobody env -u KMC_HOST_KEY "$KMC" --vault "$V" password get db
no_stdout "... and printed no secret"
advice_safe "a vault another user may not enter"
mkdir -m 700 "$T/closed"
t_err 5 "... and a closed folder above the vault is the one named (exit 5)" \
	"directory $T/closed belongs to uid 0 \\(root\\), mode 0700, and does not let uid $NOBODY in" \
	as_nobody env -u KMC_HOST_KEY "$KMC" --vault "$T/closed/v" list
chmod 770 "$V"
t_err 5 "a group-writable vault folder: chmod 700 of the vault itself" "chmod 700 $V" \
	"$KMC" --vault "$V" password get db
chmod 700 "$V"

# ---- the host key's folder --------------------------------------------------------------------

# Directly in /tmp: the message names the host key and never says to
# chmod /tmp; nothing is made.
HK=/tmp/kmc-e2e-hk.$$.$RANDOM
t_err 5 "a host key directly in /tmp is refused, naming the host key (exit 5)" \
	"directory /tmp holding the host key $HK has mode 1777.*move the host key" \
	env KMC_HOST_KEY="$HK" "$KMC" --vault "$T/v-tmp" init
advice_safe "a host key in /tmp"
check "... and no host key was made" test ! -e "$HK"
check "... nor a vault" test ! -e "$T/v-tmp"
rm -f "$HK"

mkdir "$T/hst"
chmod 1777 "$T/hst"
t_err 5 "a host key in a sticky folder is refused by init (exit 5)" \
	"directory $T/hst holding the host key $T/hst/k has mode 1777" \
	env KMC_HOST_KEY="$T/hst/k" "$KMC" --vault "$T/v-hst" init
advice_safe "a host key in a sticky folder"

# init and open apply one rule to the host key's folder.
mkdir -m 700 "$T/hkd"
KMC_HOST_KEY=$T/hkd/k "$KMC" --vault "$T/v-hkd" init 2>/dev/null
KMC_HOST_KEY=$T/hkd/k "$KMC" --vault "$T/v-hkd" password set db --password-file "$PW" 2>/dev/null
before=$(snapshot "$T/v-hkd")
chmod 777 "$T/hkd"
t_err 5 "opening with a host key in a 0777 folder is refused as init refuses it (exit 5)" \
	"directory $T/hkd holding the host key $T/hkd/k has mode 0777" \
	env KMC_HOST_KEY="$T/hkd/k" "$KMC" --vault "$T/v-hkd" password get db
no_stdout "... and printed no secret"
advice_safe "a host key in a 0777 folder"
t_err 5 "... the key's recorded path is held to the same rule (exit 5)" \
	"holding the host key $T/hkd/k" env -u KMC_HOST_KEY "$KMC" --vault "$T/v-hkd" password get db
t_err 5 "... and init with it is refused (exit 5)" "holding the host key $T/hkd/k" \
	env KMC_HOST_KEY="$T/hkd/k" "$KMC" --vault "$T/v-hkd2" init
chmod 700 "$T/hkd"
mkdir -m 700 "$T/hkp"
mv "$T/hkd" "$T/hkp/hkd"
chmod 777 "$T/hkp"
t_err 5 "a 0777 folder above the host key's is refused (exit 5)" \
	"directory $T/hkp above the host key $T/hkp/hkd/k has mode 0777" \
	env KMC_HOST_KEY="$T/hkp/hkd/k" "$KMC" --vault "$T/v-hkd" password get db
advice_safe "a 0777 folder above the host key"
chmod 700 "$T/hkp"
t_out "... and the vault opens once it is private" 'new secret' \
	env KMC_HOST_KEY="$T/hkp/hkd/k" "$KMC" --vault "$T/v-hkd" password get db
check "the refused commands changed nothing" unchanged "$T/v-hkd"

# A vault's last name the file system takes, too long for the hidden
# folder it is built in beside it (.NAME.init- and 12 hex digits, 19
# bytes more): refused saying so (exit 2), not a bare "too large", and
# nothing made.
mkdir -m 700 "$T/long"
LONG=$(printf 'v%.0s' $(seq 240))
t_err 2 "init of a vault whose name is too long for its build folder says why" \
	"$LONG: the name is 240 bytes; a vault's may have at most 236" \
	"$KMC" --vault "$T/long/$LONG" init --host-key "$T/long.key"
check "... and nothing is made" test -z "$(ls -A "$T/long")" -a ! -e "$T/long.key"
t "a name of 236 bytes is made" "$KMC" --vault "$T/long/${LONG:4}" init --host-key "$T/long.key"

done_testing
