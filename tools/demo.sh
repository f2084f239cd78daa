#!/usr/bin/env bash
# demo.sh BUILD_DIR - the main job end to end on a throwaway vault, each
# step shown as the command an operator would type.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
PATH="$build:$PATH"
work=$(mktemp -d /tmp/kmc-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
export KMC_VAULT="$work/vault" KMC_HOST_KEY="$work/host.key"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
say() { printf '\n# %s\n' "$*"; }

say "A throwaway vault in $work; the host key sits beside it for the demo."
step kmc init
step ls -l vault
step kmc status

say "Store the password of a server key (read from a 0600 file, never argv)."
(umask 077 && printf 'correct horse battery staple\n' > pw.txt)
step kmc password set pgkey --password-file pw.txt
rm -f pw.txt
step kmc list
say "What PostgreSQL's ssl_passphrase_command would read:"
step kmc password get pgkey; echo

say "A ciphertext string for a config file, and back."
mm=$(printf 'correct horse battery staple' | kmc encrypt)
printf 'server_key = /etc/app/server.key\nserver_key_mm = %s\n' "$mm" > app.conf
step cat app.conf
step kmc decrypt "$mm"; echo

say "A server at boot, through the C API (examples/server_boot.c):"
step "$build/examples/server_boot" pgkey app.conf

say "Lose kmc.ks: the standby copy opens the vault; a write repairs it."
rm vault/kmc.ks
kmc status || true
(umask 077 && printf 'another password\n' > pw2.txt)
step kmc password set other --password-file pw2.txt
step kmc status --json

say "Each keystore is healthy again; exit codes are documented in kmc --help."
echo "demo: done"
