#!/usr/bin/env bash
# test_one_version.sh - several items read as one version of the vault.
#
# kmc_ssl_ctx_use, kmc_export, kmc_ca_list and kmc_cert_info_get read a
# bundle's or a CA's items together. They ran their reads again while
# the vault's generation moved, so a writer committing without pause,
# even to other items, made all 8 tries fail (KMC_E_BUSY). They now read
# one snapshot; tests/e2e/one_version.c calls each 150 times beside a
# writer thread putting items of its own without pause, and 40 times
# with a bundle whose key is on a token (a load of milliseconds, which
# met a commit in each of 8 tries nearly every time): none may fail.
# kmc_vault_snapshot() gives a program the same: a held handle reads the
# vault of before another handle's change, refuses a change of its own,
# and reads the new value after kmc_vault_snapshot_end(). A token key
# the kmc provider loads through a handle of its own is checked against
# the record the snapshot holds: a key replaced meanwhile is refused as
# changed, never served under the old record. kmc cert info reads a
# bundle's certificates, versions and trust store in one snapshot. The
# vault is on tmpfs when there is one, where a commit's sync costs
# nothing and the writer commits as fast as it can.
ON_TMPFS=1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OV=$T/one_version
check "the one_version helper builds" kmc_cc "$OV" "$KMC_TOP/tests/e2e/one_version.c"
check "mkpki.sh makes a PKI" bash "$KMC_TOP/tools/mkpki.sh" "$T/p"

V=$T/v
kmc() { "$KMC" --vault "$V" "$@" </dev/null; }
t "a vault" kmc init
t "bundle srv" kmc import -c "$T/p/ca.crt" -s "$T/p/server.crt" \
	-k "$T/p/server.plain.key" --name srv
t "ca init root" kmc ca init root --subject "/CN=One Version Root"

t "a snapshot holds the version of before, refuses a change, ends" "$OV" snapshot "$V"
check "... the refused change wrote nothing" \
	bash -c "[ \"\$('$KMC' --vault '$V' password get pw)\" = new ]"

out=$T/beside.out
"$OV" beside-writer "$V" srv root 150 >"$out" 2>&1
check "ctx_use, export, ca list and cert info beside a writer never fail: $(tail -1 "$out")" \
	bash -c 'grep -q "^calls 600 commits [1-9]" "$1" || { cat "$1" >&2; false; }' _ "$out"
t "kmc verify is clean afterwards" kmc verify

# ---- a token key moved while a snapshot is held -------------------------------------------
if [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null &&
	command -v pkcs11-tool >/dev/null; then
	. "$KMC_TOP/tools/softhsm-token.sh"
	PIN=ov-pin-3
	softhsm_token "$T" srv so-3 "$PIN" >/dev/null || exit 1
	secret_file "$T/pin" "$PIN"
	TOK="pkcs11:token=srv?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=$T/pin"
	"$T/p/issue.sh" "$T/k2" prime256v1 unused >/dev/null
	t "import web --on-token" kmc import -c "$T/p/ca.crt" -s "$T/p/server.crt" \
		-k "$T/p/server.plain.key" --name web --on-token "$TOK"
	out=$T/beside-token.out
	OPENSSL_MODULES="$KMC_BUILD/provider" "$OV" beside-writer "$V" web root 40 token >"$out" 2>&1
	check "... and a bundle whose key is on the token: $(tail -1 "$out")" \
		bash -c 'grep -q "^calls 120 commits [1-9]" "$1" || { cat "$1" >&2; false; }' _ "$out"
	t "a token key replaced under a snapshot is refused as changed, then loads" \
		env OPENSSL_MODULES="$KMC_BUILD/provider" "$OV" token-moved "$V" web "$KMC" --vault "$V" import -c "$T/p/ca.crt" \
		-s "$T/k2.crt" -k "$T/k2.plain" --name web --replace --on-token "$TOK"
else
	echo "# skip: SoftHSM2 or pkcs11-tool is missing: the token key's check is not run"
fi

done_testing
