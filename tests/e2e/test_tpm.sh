#!/usr/bin/env bash
# test_tpm.sh - the tpm protector end to end against a TPM 2.0 simulator:
# swtpm started by this test on loopback (temp dir, stopped in the EXIT
# trap), a tpm2-pkcs11 token made with tpm2_ptool (an AES-256 key and an
# RSA key), and kmc using it through p11-kit (module-name=tpm2_pkcs11).
#
# swtpm has no resource manager and one client at a time: every command
# here runs alone, one after the other.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TPM_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
skip() {
	echo "skip: $*"
	done_testing
	exit
}
for tool in swtpm tpm2_ptool tpm2_getcap tpm2_flushcontext; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
done
[ -e "$TPM_MODULE" ] || [ -n "$(find /usr/lib /usr/lib64 -name libtpm2_pkcs11.so \
	2>/dev/null | head -1)" ] || skip "the tpm2-pkcs11 module is not installed"

. "$KMC_TOP/tools/swtpm-token.sh"

TPMDIR=$T/tpm
trap 'swtpm_stop "$TPMDIR"; rm -rf "$T"' EXIT
LABEL=kmc-e2e
AES='aes-kek'
RSA='rsa-kek'
AES_URI="pkcs11:token=$LABEL;object=$AES"
RSA_URI="pkcs11:token=$LABEL;object=$RSA"

PIN=$T/pin
secret_file "$PIN" '123456'
BAD=$T/badpin
secret_file "$BAD" '654321'
PW=$T/pw
secret_file "$PW" 'hunter2'
PP=$T/passphrase
secret_file "$PP" 'a long enough passphrase'
ARGON=(--argon2-ops 1 --argon2-mem 8)

# ---- the TPM and its token --------------------------------------------------

if ! swtpm_start "$TPMDIR" >"$OUT" 2>"$ERR"; then
	_report 0 "swtpm starts on loopback"
	done_testing
	exit
fi
_report 1 "swtpm starts on loopback (port $SWTPM_PORT)"
t "tpm2_ptool makes a token with an AES-256 key and an RSA key" \
	swtpm_token "$LABEL" so-123456 123456 "$AES" "$RSA"
TPM_UP=1

# No resource manager: objects a process leaves loaded stay in the TPM,
# which holds three. tpm_flush stands in for the manager between kmc runs
# (see the check below of what kmc itself leaves).
tpm_flush() {
	[ "$TPM_UP" = 1 ] || return 0
	tpm2_flushcontext -t >/dev/null 2>&1
	tpm2_flushcontext -l >/dev/null 2>&1
	return 0
}
tpm_clean() {
	[ -z "$(tpm2_getcap handles-transient 2>/dev/null)" ] &&
		[ -z "$(tpm2_getcap handles-loaded-session 2>/dev/null)" ]
}
# kmcv VAULT ARGS...: kmc on VAULT, never longer than 30 s, then a flush.
kmcv() {
	local v=$1 rc
	shift
	timeout 30 "$KMC" --vault "$v" "$@"
	rc=$?
	tpm_flush
	return $rc
}

# ---- init with the AES key: default mechanism aes-cbc -----------------------------

A=$T/a
tpm_flush
t_err 0 "init --protector tpm with the token's AES key and --pin-file" \
	"created vault $A" kmcv "$A" init --protector tpm --pkcs11-uri "$AES_URI" \
	--pin-file "$PIN"
t "password set stores a password through the TPM" \
	kmcv "$A" password set db --password-file "$PW" --pin-file "$PIN"
t_out "password get reads it back through the TPM" 'hunter2' \
	kmcv "$A" password get db --pin-file "$PIN"
t "protector list works" kmcv "$A" protector list
cp "$OUT" "$T/list.a"
check "protector list shows protector 1 as tpm with aes-cbc and the URI" \
	grep -Eq "^1 +tpm +aes-cbc pkcs11:token=$LABEL;object=$AES\?module-name=tpm2_pkcs11\$" \
	"$T/list.a"
t_err 3 "without a PIN and no terminal, opening fails (exit 3) naming --pin-file" \
	'--pin-file' kmcv "$A" password get db

# ---- the whole folder put back: the counter object in the TPM's token ------------------

tpm_flush
rm -rf "$T/a.old" && cp -a "$A" "$T/a.old"
secret_file "$T/pw.rb" 'changed after the copy'
t "a change after a copy of the folder" \
	kmcv "$A" password set db --password-file "$T/pw.rb" --pin-file "$PIN"
rm -rf "$A" && cp -a "$T/a.old" "$A"
tpm_flush
t_err 12 "the folder put back: the token's counter object has seen more (exit 12)" \
	'counter object kmcvault-counter-[0-9a-f]{32} on the token has seen' \
	kmcv "$A" password get db --pin-file "$PIN"
tpm_flush
t "kmc repair --accept-rollback accepts it" kmcv "$A" repair --accept-rollback --pin-file "$PIN"
tpm_flush

# ---- what kmc leaves in the TPM ----------------------------------------------------

# PKCS#11 wants C_Finalize before exit; tpm2-pkcs11 flushes its objects
# then. Without it, a TPM with no resource manager (swtpm, /dev/tpm0)
# fills up after two or three runs (TPM_RC_OBJECT_MEMORY, 0x902).
tpm_flush
"$KMC" --vault "$A" password get db --pin-file "$PIN" >/dev/null 2>&1 </dev/null
check "kmc leaves no object or session loaded in the TPM when it exits" tpm_clean
tpm_flush
four_runs() {
	for _ in 1 2 3 4; do
		timeout 30 "$KMC" --vault "$A" password get db --pin-file "$PIN" ||
			return 1
	done
}
t "password get works four times in a row on a TPM with no resource manager" \
	four_runs
tpm_flush

# ---- wrong PIN -------------------------------------------------------------------

t_err 3 "a wrong PIN is refused (exit 3) as a wrong PIN" 'wrong PIN' \
	kmcv "$A" password get db --pin-file "$BAD"
t_out "... and the right PIN still works after it" 'hunter2' \
	kmcv "$A" password get db --pin-file "$PIN"

# ---- refusals that change nothing -------------------------------------------------

t_err 9 "--mechanism aes-gcm is refused: the TPM has no AES-GCM (exit 9)" \
	'no AES-GCM' kmcv "$T/gcm" init --protector tpm --pkcs11-uri "$AES_URI" \
	--pin-file "$PIN" --mechanism aes-gcm
check "... and no vault was made" test ! -e "$T/gcm"
t_err 7 "--create-key for a missing key is refused, pointing at tpm2_ptool addkey (exit 7)" \
	'tpm2_ptool addkey' kmcv "$T/ck" init --protector tpm \
	--pkcs11-uri "pkcs11:token=$LABEL;object=no-such-key" --pin-file "$PIN" --create-key
check "... and no vault was made" test ! -e "$T/ck"
t_err 7 "a missing key without --create-key is refused (exit 7)" 'no key matching' \
	kmcv "$T/nk" init --protector tpm \
	--pkcs11-uri "pkcs11:token=$LABEL;object=no-such-key" --pin-file "$PIN"
check "... and no vault was made" test ! -e "$T/nk"
t_err 7 "a token label that does not exist is refused (exit 7)" 'no token matching' \
	kmcv "$T/nt" init --protector tpm --pkcs11-uri "pkcs11:token=no-such-token;object=$AES" \
	--pin-file "$PIN"
t_err 9 "--mechanism rsa-oaep with the AES key is refused (exit 9)" 'rsa-oaep' \
	kmcv "$T/mm" init --protector tpm --pkcs11-uri "$AES_URI" --pin-file "$PIN" \
	--mechanism rsa-oaep
check "... and no vault was made" test ! -e "$T/mm"

# ---- pin-source: a server opens at boot with no flags and no terminal ---------

D=$T/d
t "init with a pin-source URI and no --pin-file" \
	kmcv "$D" init --protector tpm --pkcs11-uri "$AES_URI?pin-source=file:$PIN"
t "protector list of the pin-source vault" kmcv "$D" protector list
cp "$OUT" "$T/list.d"
check "the stored URI keeps the pin-source and adds &module-name=tpm2_pkcs11" \
	grep -Eq "^1 +tpm +aes-cbc pkcs11:token=$LABEL;object=$AES\?pin-source=[^ ]*pin&module-name=tpm2_pkcs11\$" \
	"$T/list.d"
t "password set with no PIN flag (pin-source)" \
	kmcv "$D" password set db --password-file "$PW"
t_out "password get with no flags at all and no terminal (pin-source)" 'hunter2' \
	kmcv "$D" password get db

PV=$T/pv
t_err 2 "init with a pin-value in the URI is refused (ps shows it): exit 2" \
	'holds a pin-value.*--pin-file' \
	kmcv "$PV" init --protector tpm --pkcs11-uri "$AES_URI?pin-value=123456"
check "... and no vault was made" test ! -e "$PV"

E=$T/e
t "init with an explicit module-path and a pin-source" \
	kmcv "$E" init --protector tpm \
	--pkcs11-uri "$AES_URI?pin-source=$PIN&module-path=$TPM_MODULE"
t_out "... opens with no flags" '' kmcv "$E" list

snapshot "$D" >"$T/snap.d"
t_err 9 "protector add tpm --mechanism aes-gcm is refused (exit 9)" 'no AES-GCM' \
	kmcv "$D" protector add tpm --pkcs11-uri "$AES_URI" --pin-file "$PIN" \
	--mechanism aes-gcm
snapshot "$D" >"$T/snap.d2"
check "... and the vault did not change" cmp -s "$T/snap.d" "$T/snap.d2"

# ---- an RSA key protector (RSA-OAEP; the TPM takes SHA-256) ---------------------------

t "a passphrase protector is added to the TPM vault (opened with --pin-file)" \
	kmcv "$A" protector add passphrase --passphrase-file "$PP" "${ARGON[@]}" \
	--pin-file "$PIN"
t_err 0 "a tpm protector on the RSA key is added (the vault opens with the passphrase)" \
	'added protector 3' kmcv "$A" protector add tpm --pkcs11-uri "$RSA_URI" \
	--mechanism rsa-oaep --pin-file "$PIN" --passphrase-file "$PP"
t "protector list after the RSA protector" kmcv "$A" protector list
cp "$OUT" "$T/list.a3"
check "protector list shows the RSA protector as rsa-oaep-sha256" \
	grep -Eq "^3 +tpm +rsa-oaep-sha256 pkcs11:token=$LABEL;object=$RSA\?module-name=tpm2_pkcs11\$" \
	"$T/list.a3"
t "protector 1 (the AES key) is removed" \
	kmcv "$A" protector remove 1 --pin-file "$PIN"
t_out "the RSA protector alone opens the vault: password get" 'hunter2' \
	kmcv "$A" password get db --pin-file "$PIN"
cp "$ERR" "$T/rsa.err"
check "... at the first try (no protector failed before it)" \
	bash -c '! grep -q "after:" "$1"' _ "$T/rsa.err"

R=$T/r
t "init straight on the RSA key (mechanism chosen for it)" \
	kmcv "$R" init --protector tpm --pkcs11-uri "$RSA_URI" --pin-file "$PIN"
t "protector list of the RSA vault" kmcv "$R" protector list
cp "$OUT" "$T/list.r"
check "... shows rsa-oaep-sha256" grep -Eq '^1 +tpm +rsa-oaep-sha256 ' "$T/list.r"
t "password set in the RSA vault" \
	kmcv "$R" password set db --password-file "$PW" --pin-file "$PIN"
t_out "password get in the RSA vault" 'hunter2' \
	kmcv "$R" password get db --pin-file "$PIN"

# ---- a service's user: the module's store must be its own -----------------------

# docs/integrations/tpm.md: a vault of another user than root (postgres)
# needs the tpm2-pkcs11 store to be that user's: the module does not start
# on root's (here in root's 0700 $TPMDIR), and kmc says to look there. A
# copy that is the user's works.
chmod 711 "$T"
mkdir -m 700 "$T/svc" && cp "$PIN" "$T/svc/pin" && chown -R nobody "$T/svc"
SVC_URI="$AES_URI?pin-source=$T/svc/pin"
# kmcnb STORE ARGS...: kmc as nobody with that tpm2-pkcs11 store, then a flush.
kmcnb() {
	local store=$1 rc
	shift
	timeout 30 setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
		env -u KMC_HOST_KEY TPM2_PKCS11_STORE="$store" "$KMC" "$@"
	rc=$?
	tpm_flush
	return $rc
}
t_err 6 "as another user, with root's store: the module does not start, naming the store (exit 6)" \
	"does not start: .*TPM2_PKCS11_STORE.*writable by uid $(id -u nobody) " \
	kmcnb "$TPM2_PKCS11_STORE" --vault "$T/svc/v" init --protector tpm --pkcs11-uri "$SVC_URI"
check "... and made no vault" test ! -e "$T/svc/v"
cp -a "$TPM2_PKCS11_STORE" "$T/svc/store" && chown -R nobody "$T/svc/store"
t "with a copy of the store that is the user's, it makes its vault" \
	kmcnb "$T/svc/store" --vault "$T/svc/v" init --protector tpm --pkcs11-uri "$SVC_URI"
t "... and opens it with the PIN its pin-source names" \
	kmcnb "$T/svc/store" --vault "$T/svc/v" list

# ---- the TPM gone ---------------------------------------------------------------

swtpm_stop "$TPMDIR"
TPM_UP=0
check "swtpm is stopped" bash -c '! kill -0 "$1" 2>/dev/null' _ "$SWTPM_PID"

timed_get() { # exit code of a bounded password get on vault $1
	timeout 20 "$KMC" --vault "$1" password get db "${@:2}" </dev/null \
		>"$T/gone.out" 2>"$T/gone.err"
	echo $? >"$T/gone.rc"
}
timed_get "$D"
check "with swtpm stopped, opening the pin-source vault fails and does not hang" \
	bash -c 'rc=$(cat "$1"); [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]' _ "$T/gone.rc"
t_err 6 "... as a module that does not initialize (exit 6, as with module-path)" \
	'initiali[sz]' kmcv "$D" password get db
check "... and not as a module that is not registered" \
	bash -c '! grep -q "is registered" "$1"' _ "$T/gone.err"
t_err 6 "with swtpm stopped, the module-path vault fails: the module does not initialize (exit 6)" \
	'initializing the PKCS#11 module' kmcv "$E" list
t_out "with swtpm stopped, the vault with a passphrase protector opens with it" \
	'hunter2' kmcv "$A" password get db --passphrase-file "$PP"
cp "$ERR" "$T/fallback.err"
check "... and says what the TPM protector failed with" \
	grep -q 'opened .* with protector 2 after: protector 3 (tpm): ' "$T/fallback.err"
timed_get "$A"
check "with swtpm stopped and no passphrase, opening fails in time" \
	bash -c 'rc=$(cat "$1"); [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]' _ "$T/gone.rc"
check "... naming both the tpm and the passphrase protector" \
	grep -q 'protector 3 (tpm): .*protector 2 (passphrase): ' "$T/gone.err"


done_testing
