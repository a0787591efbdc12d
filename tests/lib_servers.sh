# tests/lib_servers.sh - start real TLS servers on loopback from configuration
# snippets (e.g. `hilt policy render` output), for tests that need a live peer
# configured a known way. Source it after tests/lib.sh.
#
#   mint_cert DIR ec|rsa|rsa3072         self-signed CN=localhost: DIR/cert.pem DIR/key.pem DIR/both.pem
#   nginx_conf SNIPPET_FILE CERTDIR PORT OUT   write a complete nginx.conf around a server{} snippet
#   start_nginx SNIPPET_FILE CERTDIR PORT      nginx -t, then run it (foreground, killed at exit)
#   haproxy_conf GLOBAL_FILE CERTDIR PORT OUT [BIND_OPTS]  complete haproxy.cfg around a global section
#   start_haproxy GLOBAL_FILE CERTDIR PORT [BIND_OPTS]     haproxy -c, then run it
#   start_stunnel SNIPPET_FILE CERTDIR PORT    stunnel with the snippet in its [tls] service
#   start_openssl_server CONF CERTDIR PORT     openssl s_server under OPENSSL_CONF=CONF
#   tls_ok PORT [s_client args...]             0 when a handshake to 127.0.0.1:PORT completes
# Every start_* prints the server's own error output and returns 1 when the
# server rejects its configuration, so a test can report why. Servers listen on
# 127.0.0.1 only (the network rule).

mint_cert() {
  local dir=$1 kind=$2
  mkdir -p "$dir"
  local keyopt
  case "$kind" in
    ec) keyopt=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
    rsa) keyopt=(-newkey rsa:2048) ;;
    rsa3072) keyopt=(-newkey rsa:3072) ;;
    *) echo "mint_cert: unknown kind $kind" >&2; return 2 ;;
  esac
  openssl req -x509 "${keyopt[@]}" -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" \
    -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -addext extendedKeyUsage=serverAuth,clientAuth 2>"$dir/mint.err" || { cat "$dir/mint.err" >&2; return 1; }
  cat "$dir/cert.pem" "$dir/key.pem" > "$dir/both.pem"
}

nginx_conf() {
  local snippet=$1 certdir=$2 port=$3 out=$4 dir
  dir=$(dirname "$out")
  mkdir -p "$dir"
  cat > "$out" <<EOF
worker_processes 1;
daemon off;
master_process off;
error_log $dir/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port ssl;
        server_name localhost;
        ssl_certificate $certdir/cert.pem;
        ssl_certificate_key $certdir/key.pem;
$(sed 's/^/        /' "$snippet")
        location / { return 200 "ok\n"; }
    }
}
EOF
}

start_nginx() {
  local snippet=$1 certdir=$2 port=$3 dir="$T/nginx-$3"
  nginx_conf "$snippet" "$certdir" "$port" "$dir/nginx.conf"
  if ! nginx -t -q -p "$dir" -c "$dir/nginx.conf" 2>"$dir/t.err"; then
    cat "$dir/t.err" >&2; return 1
  fi
  bg nginx -p "$dir" -c "$dir/nginx.conf"
  wait_port "$port" 10 || { cat "$dir/error.log" >&2; return 1; }
}

haproxy_conf() {
  local global=$1 certdir=$2 port=$3 out=$4 bindopts=${5:-}
  mkdir -p "$(dirname "$out")"
  {
    cat "$global"
    cat <<EOF

defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s

frontend tls
    bind 127.0.0.1:$port ssl crt $certdir/both.pem $bindopts
    http-request return status 200 content-type text/plain string ok
EOF
  } > "$out"
}

start_haproxy() {
  local global=$1 certdir=$2 port=$3 bindopts=${4:-} dir="$T/haproxy-$3"
  haproxy_conf "$global" "$certdir" "$port" "$dir/haproxy.cfg" "$bindopts"
  if ! haproxy -q -c -f "$dir/haproxy.cfg" >"$dir/c.err" 2>&1; then
    cat "$dir/c.err" >&2; return 1
  fi
  bg haproxy -db -f "$dir/haproxy.cfg"
  wait_port "$port" 10 || return 1
}

start_stunnel() {
  local snippet=$1 certdir=$2 port=$3 dir="$T/stunnel-$3"
  mkdir -p "$dir"
  cat > "$dir/stunnel.conf" <<EOF
foreground = yes
pid =
debug = 4
output = $dir/stunnel.log

[tls]
accept = 127.0.0.1:$port
connect = 127.0.0.1:9
cert = $certdir/cert.pem
key = $certdir/key.pem
$(cat "$snippet")
EOF
  bg stunnel "$dir/stunnel.conf"
  if ! wait_port "$port" 10; then cat "$dir/stunnel.log" >&2; return 1; fi
}

start_openssl_server() {
  local conf=$1 certdir=$2 port=$3
  bg env OPENSSL_CONF="$conf" openssl s_server -quiet -accept "127.0.0.1:$port" \
    -cert "$certdir/cert.pem" -key "$certdir/key.pem" -www
  wait_port "$port" 10
}

# s_client as a client that offers everything unless the caller narrows it.
tls_ok() {
  local port=$1; shift
  # The exit status is not used: s_client may exit 1 after a TLS 1.3 handshake
  # when stdin closes before the session ticket arrives.
  timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost "$@" \
    </dev/null >"$T/s_client.out" 2>&1
  grep -q '^New, .*Cipher is' "$T/s_client.out" && ! grep -q 'Cipher is (NONE)' "$T/s_client.out"
}
