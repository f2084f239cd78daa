# shellcheck shell=bash
# tokenlib.sh - the SoftHSM2 token the token-key suites share. Source it
# after lib.sh (or faultlib.sh), right at the start: it ends the suite
# with a skip line when SoftHSM2 or pkcs11-tool is missing, then makes
# the token "srv" in $T/tokens (tools/softhsm-token.sh; SOFTHSM2_CONF
# exported) whose PIN $PIN is in the file $PINF, and sets
#   MOD     SoftHSM2's module;
#   TOKDIR  the token directory;
#   TOK     the token's URI for --on-token, with module-path and pin-source;
#   p11     pkcs11-tool on that token, logged in;
#   token_vault_save, token_vault_load: the vault $V and the token as
#           they are, with the host state file (state_save), kept in
#           $T/saved and put back, for the fault suites' runs.

MOD=/usr/lib/softhsm/libsofthsm2.so
if [ ! -e "$MOD" ] || ! command -v softhsm2-util >/dev/null ||
	! command -v pkcs11-tool >/dev/null; then
	echo "# skip: SoftHSM2 ($MOD, softhsm2-util) or pkcs11-tool is missing (tools/deps.sh installs them)"
	done_testing
	exit
fi
. "$KMC_TOP/tools/softhsm-token.sh"
PIN=srv-pin-7
softhsm_token "$T" srv so-7 "$PIN" >/dev/null || exit 1
TOKDIR=$T/tokens
PINF=$T/pin
secret_file "$PINF" "$PIN"
TOK="pkcs11:token=srv?module-path=$MOD&pin-source=$PINF"
p11() { pkcs11-tool --module "$MOD" --token-label srv --login --pin "$PIN" "$@" 2>/dev/null; }

# The state file beside the host key only moves forward: a folder put
# back without it would be a rolled-back vault.
token_vault_save() {
	rm -rf "$T/saved"; mkdir "$T/saved" && cp -a "$V" "$TOKDIR" "$T/saved/" &&
		state_save "$V" "$T/saved/state"
}
token_vault_load() {
	rm -rf "$V" "$TOKDIR" && cp -a "$T/saved/vault" "$T/saved/tokens" "$T/" &&
		state_load "$V" "$T/saved/state"
}
