#!/usr/bin/env bash
# swtpm-token.sh - a throwaway TPM 2.0 PKCS#11 token for tests and trials:
# swtpm (the TPM simulator) on two adjacent loopback ports, and a
# tpm2-pkcs11 store holding one token with an AES-256 key and an RSA key.
# Nothing outside DIR is written; the only process started is swtpm.
#
# Sourced (the e2e tests do this):
#	. tools/swtpm-token.sh
#	swtpm_start DIR || ...	# starts swtpm, exports the variables below
#	swtpm_token LABEL SOPIN PIN AES_LABEL RSA_LABEL	# tpm2_ptool init,
#				# addtoken, addkey aes256 (id a1), addkey
#				# rsa2048 (id r1)
#	swtpm_env		# prints the environment, shell syntax
#	swtpm_stop DIR		# stops swtpm by its pid (idempotent)
#
# Run:
#	tools/swtpm-token.sh start DIR [LABEL [PIN [AES_LABEL [RSA_LABEL]]]]
#		starts swtpm (left running), makes the token, prints the
#		environment to eval; defaults: kmc-tpm 123456 aes-kek rsa-kek,
#		SO PIN so-<PIN>
#	tools/swtpm-token.sh stop DIR
#
# What it exports (and what a program using the token needs):
#	TPM2TOOLS_TCTI, TPM2_PKCS11_TCTI  swtpm:host=127.0.0.1,port=P
#	TPM2_PKCS11_STORE                 DIR/store (must always be set: the
#	                                  module and tpm2_ptool otherwise make
#	                                  ~/.tpm2_pkcs11)
#	SWTPM_PID, SWTPM_PORT, SWTPM_DIR, SWTPM_SHIM
#
# There is no resource manager: swtpm holds three transient objects, so
# tpm2_ptool runs with SWTPM_SHIM first in PATH, where each tpm2 tool it
# calls is followed by `tpm2_flushcontext -t`. Only one process may use
# the TPM at a time. The dictionary-attack lockout is relaxed (1000 tries,
# 1 s recovery) so tests of a wrong PIN do not lock the token.
#
# Needs: swtpm, tpm2-tools, tpm2_ptool (libtpm2-pkcs11-tools).

# The tpm2 tools tpm2_ptool runs, each to be followed by a flush.
_SWTPM_SHIMMED="tpm2_changeauth tpm2_create tpm2_createprimary
tpm2_encryptdecrypt tpm2_evictcontrol tpm2_import tpm2_load
tpm2_loadexternal tpm2_readpublic tpm2_sign tpm2_unseal"

_swtpm_say() { printf 'swtpm-token: %s\n' "$*" >&2; }

# _swtpm_port_free P: nothing listens on 127.0.0.1:P (best effort; swtpm
# failing to bind is caught anyway).
_swtpm_port_free() {
	if command -v ss >/dev/null 2>&1; then
		[ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
	else
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# _swtpm_is_ours PID: PID is still a swtpm process.
_swtpm_is_ours() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
		[ "$(cat "/proc/$1/comm" 2>/dev/null)" = swtpm ]
}

# swtpm_start DIR: start swtpm with its state in DIR/state on two free
# adjacent loopback ports, wait until it answers, make the PATH shim.
swtpm_start() {
	local dir=${1:?swtpm_start DIR} port pid t
	local bin=${SWTPM_BIN:-swtpm}

	command -v "$bin" >/dev/null 2>&1 || {
		_swtpm_say "$bin is not installed"
		return 1
	}
	mkdir -p "$dir/state" "$dir/store" "$dir/shim" || return 1
	chmod 700 "$dir" "$dir/store" || return 1
	dir=$(cd "$dir" && pwd)
	for t in $_SWTPM_SHIMMED; do
		printf '#!/bin/sh\n/usr/bin/%s "$@"; rc=$?\n%s\nexit $rc\n' "$t" \
			'/usr/bin/tpm2_flushcontext -t >/dev/null 2>&1' >"$dir/shim/$t"
		chmod 755 "$dir/shim/$t"
	done
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + RANDOM % 30000))
		if ! _swtpm_port_free "$port" ||
			! _swtpm_port_free $((port + 1)); then
			continue
		fi
		# not-need-init,startup-clear: swtpm does CMD_INIT and
		# TPM2_Startup(CLEAR) itself. Its output goes to a log, never
		# to a caller's $(...) that would then wait for it.
		"$bin" socket --tpm2 --tpmstate dir="$dir/state" \
			--server type=tcp,port=$port,bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear \
			--log file="$dir/swtpm.log" \
			</dev/null >>"$dir/swtpm.log" 2>&1 &
		pid=$!
		export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$port"
		export TPM2_PKCS11_TCTI="$TPM2TOOLS_TCTI"
		export TPM2_PKCS11_STORE="$dir/store"
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			if tpm2_getcap properties-fixed >/dev/null 2>&1; then
				echo "$pid" >"$dir/swtpm.pid"
				echo "$port" >"$dir/swtpm.port"
				export SWTPM_PID=$pid SWTPM_PORT=$port
				export SWTPM_DIR=$dir SWTPM_SHIM=$dir/shim
				# Wrong PINs in tests must not lock the TPM.
				tpm2_dictionarylockout --setup-parameters \
					--max-tries=1000 --recovery-time=1 \
					--lockout-recovery-time=1 >/dev/null 2>&1 ||
					_swtpm_say "could not relax the DA lockout"
				return 0
			fi
			sleep 0.1
		done
		# Died (a port taken meanwhile) or never answered: next port.
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	_swtpm_say "swtpm did not start; see $dir/swtpm.log"
	unset TPM2TOOLS_TCTI TPM2_PKCS11_TCTI
	return 1
}

# _swtpm_ptool ARGS...: tpm2_ptool with the flushing shim first in PATH.
_swtpm_ptool() {
	PATH="$SWTPM_SHIM:$PATH" tpm2_ptool "$@"
}

# swtpm_token LABEL SOPIN PIN AES_LABEL RSA_LABEL: a token in the store
# with an AES-256 key (CKA_ID "a1" = 0x6131) and an RSA-2048 key pair
# (CKA_ID "r1" = 0x7231). An empty AES_LABEL or RSA_LABEL skips that key.
swtpm_token() {
	local label=${1:?label} sopin=${2:?sopin} pin=${3:?pin}
	local aes=${4-aes-kek} rsa=${5-rsa-kek} pid

	[ -n "${SWTPM_SHIM:-}" ] || {
		_swtpm_say "swtpm_start first"
		return 1
	}
	command -v tpm2_ptool >/dev/null 2>&1 || {
		_swtpm_say "tpm2_ptool is not installed"
		return 1
	}
	# init makes the persistent primary key once per TPM; reuse it.
	pid=$(_swtpm_ptool listprimaries 2>/dev/null | awk '/id:/{print $NF; exit}')
	if [ -z "$pid" ]; then
		pid=$(_swtpm_ptool init 2>>"$SWTPM_DIR/ptool.log" |
			awk '/^id:/{print $2}')
	fi
	[ -n "$pid" ] || {
		_swtpm_say "tpm2_ptool init failed; see $SWTPM_DIR/ptool.log"
		return 1
	}
	_swtpm_ptool addtoken --pid "$pid" --label "$label" --sopin "$sopin" \
		--userpin "$pin" >>"$SWTPM_DIR/ptool.log" 2>&1 || {
		_swtpm_say "tpm2_ptool addtoken failed; see $SWTPM_DIR/ptool.log"
		return 1
	}
	if [ -n "$aes" ]; then
		_swtpm_ptool addkey --label "$label" --key-label "$aes" --id a1 \
			--userpin "$pin" --algorithm aes256 \
			>>"$SWTPM_DIR/ptool.log" 2>&1 || {
			_swtpm_say "tpm2_ptool addkey aes256 failed"
			return 1
		}
	fi
	if [ -n "$rsa" ]; then
		_swtpm_ptool addkey --label "$label" --key-label "$rsa" --id r1 \
			--userpin "$pin" --algorithm rsa2048 \
			>>"$SWTPM_DIR/ptool.log" 2>&1 || {
			_swtpm_say "tpm2_ptool addkey rsa2048 failed"
			return 1
		}
	fi
	return 0
}

# swtpm_env: the environment a program needs to use the token.
swtpm_env() {
	printf "export TPM2TOOLS_TCTI='%s'\n" "$TPM2TOOLS_TCTI"
	printf "export TPM2_PKCS11_TCTI='%s'\n" "$TPM2_PKCS11_TCTI"
	printf "export TPM2_PKCS11_STORE='%s'\n" "$TPM2_PKCS11_STORE"
	printf "export SWTPM_PID=%s SWTPM_PORT=%s SWTPM_DIR='%s' SWTPM_SHIM='%s'\n" \
		"$SWTPM_PID" "$SWTPM_PORT" "$SWTPM_DIR" "$SWTPM_SHIM"
	printf "# tpm2_ptool: PATH=\"\$SWTPM_SHIM:\$PATH\" tpm2_ptool ...\n"
	printf "# stop: %s stop '%s'\n" "${BASH_SOURCE[0]}" "$SWTPM_DIR"
}

# swtpm_stop DIR: stop the swtpm started for DIR (by its pid only).
swtpm_stop() {
	local dir=${1:-${SWTPM_DIR:-}} pid=""

	[ -n "$dir" ] && [ -f "$dir/swtpm.pid" ] && pid=$(cat "$dir/swtpm.pid")
	[ -n "$pid" ] || pid=${SWTPM_PID:-}
	if _swtpm_is_ours "$pid"; then
		kill "$pid" 2>/dev/null
		for _ in $(seq 50); do
			_swtpm_is_ours "$pid" || break
			sleep 0.1
		done
		_swtpm_is_ours "$pid" && kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	[ -n "$dir" ] && rm -f "$dir/swtpm.pid"
	return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	case ${1:-} in
	start)
		dir=${2:?usage: $0 start DIR [LABEL [PIN [AES_LABEL [RSA_LABEL]]]]}
		pin=${4:-123456}
		swtpm_start "$dir" || exit 1
		if ! swtpm_token "${3:-kmc-tpm}" "so-$pin" "$pin" "${5-aes-kek}" \
			"${6-rsa-kek}"; then
			swtpm_stop "$dir"
			exit 1
		fi
		swtpm_env
		;;
	stop)
		swtpm_stop "${2:?usage: $0 stop DIR}"
		;;
	*)
		echo "usage: $0 start DIR [LABEL [PIN [AES_LABEL [RSA_LABEL]]]]" >&2
		echo "       $0 stop DIR" >&2
		exit 2
		;;
	esac
fi
