#!/usr/bin/env bash
# softhsm-token.sh - a throwaway SoftHSM2 token in a directory, for tests
# and trials of the pkcs11 protector. Nothing outside DIR is written.
#
# Sourced:
#	. tools/softhsm-token.sh
#	softhsm_token DIR LABEL SOPIN PIN [AES_LABEL [RSA_LABEL]]
#		writes DIR/softhsm2.conf, makes the token in DIR/tokens,
#		exports SOFTHSM2_CONF; with AES_LABEL a sensitive,
#		non-extractable AES-256 key (CKA_ID 01), with RSA_LABEL an
#		RSA-2048 key pair (CKA_ID 02), both made with pkcs11-tool
# Run:
#	tools/softhsm-token.sh DIR [LABEL [PIN [AES_LABEL [RSA_LABEL]]]]
#		prints the line to eval: export SOFTHSM2_CONF=DIR/softhsm2.conf
#		(defaults: kmc-hsm, 123456, SO PIN so-<PIN>, no keys)
#
# Select the token by label (pkcs11:token=LABEL), never by slot: SoftHSM
# moves an initialized token to a random slot id. kmc finds the module as
# module-name=softhsm2 (p11-kit's registration) or by its module-path,
# and can make the AES key itself with --create-key.

SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

softhsm_token() {
	local dir=${1:?softhsm_token DIR LABEL SOPIN PIN [AES [RSA]]}
	local label=${2:?label} sopin=${3:?sopin} pin=${4:?pin}
	local aes=${5:-} rsa=${6:-} p11

	command -v softhsm2-util >/dev/null 2>&1 || {
		echo "softhsm-token: softhsm2-util is not installed" >&2
		return 1
	}
	mkdir -p "$dir/tokens" && chmod 700 "$dir" "$dir/tokens" || return 1
	dir=$(cd "$dir" && pwd)
	cat >"$dir/softhsm2.conf" <<-EOF
		directories.tokendir = $dir/tokens
		objectstore.backend = file
		log.level = ERROR
		slots.removable = false
		slots.mechanisms = ALL
		library.reset_on_fork = false
	EOF
	export SOFTHSM2_CONF=$dir/softhsm2.conf
	softhsm2-util --init-token --free --label "$label" --so-pin "$sopin" \
		--pin "$pin" >"$dir/init.log" 2>&1 || {
		cat "$dir/init.log" >&2
		return 1
	}
	[ -n "$aes$rsa" ] || return 0
	command -v pkcs11-tool >/dev/null 2>&1 || {
		echo "softhsm-token: pkcs11-tool (opensc) is needed for keys" >&2
		return 1
	}
	p11="pkcs11-tool --module $SOFTHSM_MODULE --token-label $label --login --pin $pin"
	if [ -n "$aes" ]; then
		$p11 --keygen --key-type AES:32 --label "$aes" --id 01 --sensitive \
			--private --usage-decrypt --usage-wrap >>"$dir/init.log" 2>&1 ||
			return 1
	fi
	if [ -n "$rsa" ]; then
		$p11 --keypairgen --key-type rsa:2048 --label "$rsa" --id 02 \
			--usage-decrypt --usage-wrap >>"$dir/init.log" 2>&1 || return 1
	fi
	return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	dir=${1:?usage: $0 DIR [LABEL [PIN [AES_LABEL [RSA_LABEL]]]]}
	pin=${3:-123456}
	softhsm_token "$dir" "${2:-kmc-hsm}" "so-$pin" "$pin" "${4:-}" "${5:-}" ||
		exit 1
	printf "export SOFTHSM2_CONF='%s'\n" "$SOFTHSM2_CONF"
fi
