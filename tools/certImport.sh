#!/usr/bin/env bash
# certImport.sh - import a CA certificate, a server certificate, its key
# and optionally a CRL into the kmc vault, with the flags of certImport:
#
#   certImport.sh -c ca.crt -s server.crt -k server.key [-r ca.crl] [-- KMC-IMPORT-OPTIONS]
#
# Everything after "--" goes to `kmc import` unchanged (--name, --conf,
# --keys-dir, --replace, --password-file, --vault ...). The key's password
# is asked without echo, as kmc import does. $KMC names the kmc binary;
# else `kmc` on PATH, else the one built beside this script.
set -u

usage() {
	cat <<USAGE
Usage: $(basename "$0") -c CA_CERT -s SERVER_CERT -k SERVER_KEY [-r CRL] [-h] [-- KMC-IMPORT-OPTIONS]
  -c  CA certificate (PEM or DER)
  -s  server certificate, with any intermediates after it
  -k  the server's private key (mode at most 0640), usually password-encrypted
  -r  certificate revocation list of the CA (optional)
  -h  show this help
Every file is checked before anything is written; see: kmc import --help
USAGE
}

ca= cert= key= crl=
while getopts ":c:s:k:r:h" opt; do
	case $opt in
	c) ca=$OPTARG ;;
	s) cert=$OPTARG ;;
	k) key=$OPTARG ;;
	r) crl=$OPTARG ;;
	h) usage; exit 0 ;;
	:) echo "certImport.sh: -$OPTARG needs a file" >&2; usage >&2; exit 2 ;;
	*) echo "certImport.sh: unknown option -$OPTARG" >&2; usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
if [ -z "$ca" ] || [ -z "$cert" ] || [ -z "$key" ]; then
	echo "certImport.sh: -c, -s and -k are required" >&2
	usage >&2
	exit 2
fi

kmc=${KMC:-}
if [ -z "$kmc" ]; then
	if command -v kmc >/dev/null 2>&1; then
		kmc=kmc
	else
		kmc="$(cd "$(dirname "$0")/.." && pwd)/build/kmc"
	fi
fi

args=(import -c "$ca" -s "$cert" -k "$key")
[ -n "$crl" ] && args+=(-r "$crl")
exec "$kmc" "${args[@]}" "$@"
