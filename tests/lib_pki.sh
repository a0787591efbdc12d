# tests/lib_pki.sh - mint test certificates with the openssl CLI (not hilt), at test time.
# Source after tests/lib.sh. Everything is written under $T/pki; nothing is committed.
#   pki_ca NAME [KEYTYPE]                   self-signed root: $P/NAME.pem, $P/NAME.key
#   pki_int NAME ISSUER [KEYTYPE]           intermediate CA signed by ISSUER
#   pki_leaf NAME ISSUER SAN [DAYS] [KEYTYPE] [DIGEST] [EXTRA-EXT-LINES]
#                                           leaf for SAN (e.g. "DNS:localhost,IP:127.0.0.1")
#   pki_selfsigned NAME SAN [KEYTYPE]       a self-signed leaf
#   pki_past NAME ISSUER SAN                a leaf valid 2020-01-01..2020-02-01 (faketime)
# KEYTYPE: ec (P-256, default) or rsa:BITS. DIGEST: sha256 (default) or sha1.
P="$T/pki"
mkdir -p "$P"

_pki_newkey() { # KEYTYPE OUTKEY
  case "$1" in
    ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2" 2>/dev/null ;;
    rsa:*) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"${1#rsa:}" -out "$2" 2>/dev/null ;;
  esac
  chmod 600 "$2"
}

pki_ca() {
  local name=$1 kt=${2:-ec}
  _pki_newkey "$kt" "$P/$name.key"
  openssl req -x509 -new -key "$P/$name.key" -subj "/O=hilt tests/CN=$name" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$P/$name.pem" 2>/dev/null
}

_pki_sign() { # NAME ISSUER DAYS DIGEST EXTFILE
  openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.pem" -CAkey "$P/$2.key" -CAcreateserial \
    -days "$3" -"$4" -extfile "$5" -out "$P/$1.pem" 2>/dev/null
}

pki_int() {
  local name=$1 issuer=$2 kt=${3:-ec}
  _pki_newkey "$kt" "$P/$name.key"
  openssl req -new -key "$P/$name.key" -subj "/O=hilt tests/CN=$name" -out "$P/$name.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n' > "$P/$name.ext"
  _pki_sign "$name" "$issuer" 1825 sha256 "$P/$name.ext"
}

pki_leaf() {
  local name=$1 issuer=$2 san=$3 days=${4:-60} kt=${5:-ec} dg=${6:-sha256} extra=${7:-}
  _pki_newkey "$kt" "$P/$name.key"
  openssl req -new -key "$P/$name.key" -subj "/CN=$name" -out "$P/$name.csr" 2>/dev/null
  { printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=%s\n' "$san"
    if [[ -z "$extra" || "$extra" != *extendedKeyUsage* ]]; then printf 'extendedKeyUsage=serverAuth,clientAuth\n'; fi
    [[ -n "$extra" ]] && printf '%b\n' "$extra"; } > "$P/$name.ext"
  _pki_sign "$name" "$issuer" "$days" "$dg" "$P/$name.ext"
}

pki_selfsigned() {
  local name=$1 san=$2 kt=${3:-ec}
  _pki_newkey "$kt" "$P/$name.key"
  openssl req -x509 -new -key "$P/$name.key" -subj "/CN=$name" -days 60 \
    -addext "subjectAltName=$san" -out "$P/$name.pem" 2>/dev/null
}

pki_past() {
  local name=$1 issuer=$2 san=$3
  _pki_newkey ec "$P/$name.key"
  openssl req -new -key "$P/$name.key" -subj "/CN=$name" -out "$P/$name.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" > "$P/$name.ext"
  faketime '2020-01-01 00:00:00' openssl x509 -req -in "$P/$name.csr" -CA "$P/$issuer.pem" \
    -CAkey "$P/$issuer.key" -CAcreateserial -days 31 -sha256 -extfile "$P/$name.ext" \
    -out "$P/$name.pem" 2>/dev/null
}
