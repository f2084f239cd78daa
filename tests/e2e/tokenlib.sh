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
#           $T/saved and put back, for the fault suites' runs;
#   token_labels: the labels of the token's private keys, one a line,
#           sorted; keys: the same on one line;
#   signs_for CERT: the provider signs for item web of $V, and the
#           signature verifies under CERT's key;
#   waiting_json N: kmc status --json of $V counts N keys waiting to be
#           destroyed;
#   $T/away.conf: a SOFTHSM2_CONF of the same module with no token at
#           all (the token taken away).

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

token_labels() { p11 --list-objects --type privkey | awk '$1 == "label:" { print $2 }' | sort; }
keys() { token_labels | tr '\n' ' ' | sed 's/ $//'; }

mkdir -m 700 "$T/none"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$T/none" >"$T/away.conf"

printf 'a handshake to sign\n' >"$T/msg"
signs_for() {
	rm -f "$T/sig"
	openssl dgst -sha256 -provider-path "$KMC_BUILD/provider" -provider kmc \
		-provider default -sign "kmc://$V?item=web" -out "$T/sig" \
		"$T/msg" 2>/dev/null &&
		openssl dgst -sha256 -verify <(openssl x509 -in "$1" -pubkey -noout) \
			-signature "$T/sig" "$T/msg" >/dev/null
}

waiting_json() {
	local js
	js=$("$KMC" --vault "$V" status --json 2>/dev/null)
	[[ $js == *"\"token_destroys_pending\":$1"[,}]* ]] || { echo "status --json: $js" >&2; false; }
}
