#!/usr/bin/env bash
# A self-signed TLS certificate for a first intranet install (replace it with one from your
# organisation's CA when you have one). The certificate names the host both ways browsers check:
# subjectAltName DNS:<host name> and IP:<address> (plus localhost and 127.0.0.1).
#
#   deploy/selfsigned-cert.sh [HOST] [IP] [OUT_DIR]
#     HOST     the name users type (default: this machine's fully qualified name)
#     IP       the address users may type instead (default: this machine's first address)
#     OUT_DIR  where winterops.crt and winterops.key go (default: var/tls)
#
# Then either let Streamlit serve HTTPS itself:
#   winterops serve --address 0.0.0.0 --certfile var/tls/winterops.crt --keyfile var/tls/winterops.key
# or give both files to nginx (deploy/nginx-winterops.conf). Tablets must trust the certificate:
# install winterops.crt on them (it is its own CA), or browser geolocation stays off.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${1:-$(hostname -f 2>/dev/null || hostname)}
IP=${2:-$(hostname -I 2>/dev/null | awk '{print $1}')}
OUT=${3:-var/tls}
DAYS=${DAYS:-825}  # the longest validity browsers accept for a server certificate

command -v openssl >/dev/null || { echo "selfsigned-cert: openssl is not installed" >&2; exit 1; }
case "$HOST" in
  ""|*[!A-Za-z0-9.-]*) echo "selfsigned-cert: bad host name '$HOST'" >&2; exit 2 ;;
esac
SAN="DNS:$HOST,DNS:localhost,IP:127.0.0.1"
if [ -n "$IP" ]; then
  case "$IP" in
    *[!0-9a-fA-F.:]*) echo "selfsigned-cert: bad IP address '$IP'" >&2; exit 2 ;;
  esac
  [ "$IP" = "127.0.0.1" ] || SAN="$SAN,IP:$IP"
fi

mkdir -p "$OUT"
umask 077  # the private key is readable by its owner only
openssl req -x509 -newkey rsa:3072 -sha256 -nodes -days "$DAYS" \
  -subj "/O=winterops/CN=$HOST" \
  -addext "subjectAltName=$SAN" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" \
  -addext "extendedKeyUsage=serverAuth" \
  -keyout "$OUT/winterops.key" -out "$OUT/winterops.crt" 2>/dev/null
chmod 600 "$OUT/winterops.key"
chmod 644 "$OUT/winterops.crt"
echo "certificate: $OUT/winterops.crt  (subjectAltName $SAN, $DAYS days)"
echo "private key: $OUT/winterops.key"
openssl x509 -in "$OUT/winterops.crt" -noout -fingerprint -sha256
