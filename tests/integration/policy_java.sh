#!/usr/bin/env bash
# policy_java.sh - the Java rendering is accepted by a real JVM and yields
# exactly the profile: a server socket's enabled protocols and cipher suites
# (in order) under -Djava.security.properties=<rendered> plus the rendered -D
# flags. Needs a JDK (java with source-file mode, 11+); skips without one.
source "$(dirname "$0")/../lib.sh"

if ! command -v java >/dev/null || ! java -version 2>&1 | grep -qE 'version "(1[1-9]|[2-9][0-9])'; then
  skip policy_java "no JDK 11+ (install default-jre-headless)"; exit 0
fi
cat > "$T/TlsProps.java" <<'EOF'
import javax.net.ssl.*;
public class TlsProps {
    public static void main(String[] a) throws Exception {
        SSLContext c = SSLContext.getInstance("TLS");
        c.init(null, null, null);
        SSLServerSocket s = (SSLServerSocket) c.getServerSocketFactory().createServerSocket();
        System.out.println(String.join(",", s.getEnabledProtocols()));
        System.out.println(String.join(",", s.getEnabledCipherSuites()));
        s.close();
    }
}
EOF
for prof in modern intermediate old public-web internal-api partner iot; do
  "$HILT" policy render --profile "$prof" --target java > "$T/$prof.security" || { fail "render java $prof" "exit $?"; continue; }
  sed -n 's/^# -D/-D/p' "$T/$prof.security" > "$T/$prof.args"
  "$HILT" policy show "$prof" --json > "$T/$prof.json"
  if ! timeout 120 java -Djava.security.properties="$T/$prof.security" @"$T/$prof.args" \
        "$T/TlsProps.java" > "$T/$prof.out" 2>"$T/$prof.err"; then
    fail "JVM accepts $prof" "$(head -c 300 "$T/$prof.err")"; continue
  fi
  pass "JVM accepts $prof"
  want_v=$(jq -r '[.versions[] | sub("TLSv1.0"; "TLSv1")] | join(",")' "$T/$prof.json")
  got_v=$(sed -n 1p "$T/$prof.out")
  [[ $got_v == "$want_v" ]] && pass "java/$prof: protocols $got_v" || fail "java/$prof: protocols" "got $got_v wanted $want_v"
  # Every suite of the profile Java implements, in order (Java names some 3DES
  # suites SSL_*); the ones it cannot are named in the rendered LIMITS.
  want_c=$(sed -n 's/^# -Djdk.tls.server.cipherSuites=//p' "$T/$prof.security")
  got_c=$(sed -n 2p "$T/$prof.out" | sed 's/SSL_RSA_/TLS_RSA_/g')
  [[ $got_c == "$want_c" ]] && pass "java/$prof: cipher suites in profile order" \
    || fail "java/$prof: cipher suites" "got $got_c wanted $want_c"
  all=$(jq -r '[.tls13_ciphersuites[].name, .ciphers[].name] | join(",")' "$T/$prof.json")
  if [[ $want_c == "$all" ]]; then pass "java/$prof: every profile suite enabled"
  elif grep -q 'Java (SunJSSE) cannot name these ciphers' "$T/$prof.security"; then
    pass "java/$prof: suites Java lacks are stated in LIMITS"
  else fail "java/$prof: suites" "profile has $all, rendered $want_c, and no LIMITS note"; fi
done
exit 0
