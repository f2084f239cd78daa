# shellcheck shell=bash
# p11wrap.sh - tests/e2e/p11_wrap.c built as a PKCS#11 module that passes
# every call to SoftHSM2 but those the P11_WRAP_* variables name. Source
# it after lib.sh, right at the start: it ends the suite with a skip line
# when SoftHSM2 or pkcs11-tool is missing, or when /usr/local/lib is not
# writable (kmc loads modules from the system's library trees only, so
# the wrapper goes to a directory of its own there, removed at exit with
# $T). Then it sets
#   MOD   SoftHSM2's module (P11_WRAP_MODULE, what the wrapper passes to);
#   WRAP  the wrapping module.

MOD=/usr/lib/softhsm/libsofthsm2.so
if [ ! -e "$MOD" ] || ! command -v softhsm2-util >/dev/null || ! command -v pkcs11-tool >/dev/null; then
	echo "# skip: SoftHSM2 ($MOD) or pkcs11-tool is missing (tools/deps.sh installs them)"
	done_testing
	exit
fi
if [ ! -w /usr/local/lib ]; then
	echo "# skip: the wrapping module must go under /usr/local/lib, which is not writable here"
	done_testing
	exit
fi
WD=$(mktemp -d /usr/local/lib/kmc-test-p11.XXXXXX)
trap 'rm -rf "$WD" "$T"' EXIT
WRAP=$WD/p11_wrap.so
# shellcheck disable=SC2046
check "the wrapping module builds" cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -shared -fPIC \
	$(pkg-config --cflags p11-kit-1) -o "$WRAP" "$KMC_TOP/tests/e2e/p11_wrap.c" -ldl
export P11_WRAP_MODULE=$MOD
