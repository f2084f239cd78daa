#!/usr/bin/env bash
# deps.sh - install the Debian packages that building and testing kmcvault
# need, and only those that are missing: one `apt-get update`, then one
# `apt-get install -y`. Safe to run again; does nothing when all are there.
set -eu

packages=(
	gcc make pkg-config		# build
	libsodium-dev liblmdb-dev libssl-dev libp11-kit-dev	# the library's

	libcmocka-dev			# unit tests
	lmdb-utils jq openssl attr acl	# end-to-end tests, demo and bench
	groff-base			# test_docs renders the man pages
	curl postgresql			# real clients and servers in tests
	nginx apache2 haproxy		# servers that load keys through the provider
	mosquitto mosquitto-clients
	softhsm2 swtpm swtpm-tools tpm2-tools	# tokens for the PKCS#11 tests
	libtpm2-pkcs11-1 libtpm2-pkcs11-tools opensc p11-kit
	libengine-pkcs11-openssl	# bench: the OpenSC engine, token-tls's peer
	valgrind clang libclang-rt-14-dev	# check-valgrind, fuzzing
	util-linux procps		# setsid, timeout-free process checks
	gdb				# test_secret_hygiene: a core of kmc at exit
	openjdk-17-jdk-headless		# keytool reads kmc export's PKCS#12 stores;
					# a Java TLS client in tests
)

missing=()
for p in "${packages[@]}"; do
	if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
	echo "deps.sh: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
