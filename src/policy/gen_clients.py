#!/usr/bin/env python3
"""gen_clients.py - generate data/clients.json, hilt's client profiles, from facts.

Every profile is one real client. Its handshake comes from a ClientHello that
was captured from that client and published, decoded here byte by byte:
  * testssl.sh's client simulation data (Debian package testssl.sh
    3.0.8+dfsg-1, /etc/testssl/client-simulation.txt). Most of those hellos are
    SSL Labs' own captures (api.ssllabs.com/api/v3/getClients, via testssl's
    update_client_sim_data.pl); the rest were captured by testssl.sh's
    maintainers (etc/client-simulation.wiresharked.txt).
  * ClientHellos captured on loopback from the Debian 12 packages named in the
    profile (curl, Python, OpenSSL, Java 17, GnuTLS, Node.js, mbedTLS, wolfSSL),
    run with their defaults (see docs/clients.md for the commands).
A few profiles have no published capture (Chromium 137 and Android 13/14 are in
testssl.sh's newer upstream data without a byte-exact copy here; Java 21 and the
.NET Framework defaults are documented by their vendors): those are written out
field by field below, each with its source.

What a hello cannot show (minimum key sizes, SHA-1 acceptance, AIA fetching,
trust store) comes from the vendors' documentation, per family, cited in
LIMITS. Unknown stays null: hilt does not judge what no source states.

Run: src/policy/gen_clients.py [client-simulation.txt] > data/clients.json
The unit test tests/unit/test_clients.c re-parses every stored hello and checks
that the profile fields say exactly what the hello says.
"""
import json
import re
import sys

TESTSSL = "/etc/testssl/client-simulation.txt"
TESTSSL_CITE = ("testssl.sh 3.0.8 etc/client-simulation.txt (Debian package testssl.sh 3.0.8+dfsg-1), "
                "entry \"{name}\"; originally from the SSL Labs client list "
                "https://api.ssllabs.com/api/v3/getClients")
TESTSSL_WS_CITE = ("testssl.sh 3.0.8 etc/client-simulation.wiresharked.txt (Debian package testssl.sh "
                   "3.0.8+dfsg-1), entry \"{name}\": a ClientHello captured by the testssl.sh project")
UPSTREAM_CITE = ("testssl.sh upstream etc/client-simulation.txt (github.com/testssl/testssl.sh, commit "
                 "0d6ab6b620204cd2255aa33f7b4016faa359a43c), entry \"{name}\"")

# ---- the vocabulary (read from hilt's own tables so the output always resolves) ----

def load_tables(root):
    ciphers = {}
    for m in re.finditer(r'HILT_CIPHER\(0x([0-9A-F]{4}), (NULL|"[^"]*"), (NULL|"[^"]*")',
                         open(root + "/src/policy/cipher_table.inc").read()):
        code = int(m.group(1), 16)
        iana = m.group(2).strip('"') if m.group(2) != "NULL" else None
        ossl = m.group(3).strip('"') if m.group(3) != "NULL" else None
        ciphers[code] = iana or ossl
    src = open(root + "/src/policy/suites.c").read()
    groups = {}
    for m in re.finditer(r'\{(0x[0-9A-Fa-f]+|\d+), "([^"]+)", "[^"]+", (?:NULL|"[^"]*"), \d+,', src):
        groups[int(m.group(1), 0)] = m.group(2)
    sigalgs = {}
    for m in re.finditer(r'\{0x([0-9A-Fa-f]{4}), "([a-z0-9_A-Z]+)", [01]\}', src):
        sigalgs[int(m.group(1), 16)] = m.group(2)
    return ciphers, groups, sigalgs


VERSION_NAMES = {0x0300: "SSLv3", 0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
EXT_NAMES = {
    0x0000: "server_name", 0x0005: "status_request", 0x000a: "supported_groups",
    0x000b: "ec_point_formats", 0x000d: "signature_algorithms", 0x000f: "heartbeat",
    0x0010: "alpn", 0x0011: "status_request_v2", 0x0012: "signed_certificate_timestamp",
    0x0015: "padding", 0x0016: "encrypt_then_mac", 0x0017: "extended_master_secret",
    0x001b: "compress_certificate", 0x001c: "record_size_limit", 0x0022: "delegated_credentials",
    0x0023: "session_ticket", 0x0029: "pre_shared_key", 0x002a: "early_data",
    0x002b: "supported_versions", 0x002c: "cookie", 0x002d: "psk_key_exchange_modes",
    0x0031: "post_handshake_auth", 0x0032: "signature_algorithms_cert", 0x0033: "key_share",
    0x3374: "next_protocol_negotiation", 0x4469: "application_settings_old",
    0x44cd: "application_settings", 0x754f: "channel_id_old", 0x7550: "channel_id",
    0xfe0d: "encrypted_client_hello", 0xff01: "renegotiation_info",
}


def grease(v):
    return (v & 0x0f0f) == 0x0a0a and (v >> 8) == (v & 0xff)


class Rd:
    def __init__(self, b):
        self.b, self.o = b, 0

    def u8(self):
        v = self.b[self.o]
        self.o += 1
        return v

    def u16(self):
        v = int.from_bytes(self.b[self.o:self.o + 2], "big")
        self.o += 2
        return v

    def u24(self):
        v = int.from_bytes(self.b[self.o:self.o + 3], "big")
        self.o += 3
        return v

    def take(self, n):
        if self.o + n > len(self.b):
            raise ValueError("truncated")
        v = self.b[self.o:self.o + n]
        self.o += n
        return v

    def vec(self, k):
        n = int.from_bytes(self.take(k), "big")
        return Rd(self.take(n))

    def left(self):
        return len(self.b) - self.o


def decode_v2_hello(raw):
    """An SSLv2-compatible ClientHello (RFC 6101 E.1, RFC 5246 E.2): 3-byte cipher
    specs, of which those starting with 0 are SSLv3/TLS suites."""
    r = Rd(raw)
    r.u16()
    if r.u8() != 1:
        raise ValueError("not an SSLv2 CLIENT-HELLO")
    ver = r.u16()
    nspec, nsid, nchal = r.u16(), r.u16(), r.u16()
    specs = r.take(nspec)
    r.take(nsid)
    r.take(nchal)
    ciphers = [int.from_bytes(specs[i + 1:i + 3], "big") for i in range(0, nspec, 3) if specs[i] == 0]
    return {"record_version": 0x0002, "sslv2": True, "exts": [], "legacy_version": ver, "session_id": nsid > 0,
            "ciphers": ciphers, "grease": False, "compression": False, "groups": [], "sigalgs": [],
            "versions": [], "key_shares": [], "alpn": [], "sni": False}


def decode_hello(hexstr):
    """The facts a ClientHello record states (RFC 8446 4.1.2, RFC 5246 7.4.1.2)."""
    raw = bytes.fromhex(hexstr)
    if raw[0] & 0x80:
        return decode_v2_hello(raw)
    rec = Rd(raw)
    out = {"record_version": None, "exts": []}
    body = b""
    while rec.left() >= 5:
        t, rv, n = rec.u8(), rec.u16(), rec.u16()
        if t != 22:
            raise ValueError("not a handshake record")
        out["record_version"] = out["record_version"] or rv
        body += rec.take(n)
    hs = Rd(body)
    if hs.u8() != 1:
        raise ValueError("not a ClientHello")
    hs = Rd(hs.take(hs.u24()))
    out["legacy_version"] = hs.u16()
    hs.take(32)
    out["session_id"] = hs.vec(1).left() > 0
    cs = hs.vec(2)
    out["ciphers"], out["grease"] = [], False
    while cs.left():
        c = cs.u16()
        if grease(c):
            out["grease"] = True
        else:
            out["ciphers"].append(c)
    comp = hs.vec(1)
    out["compression"] = comp.left() > 1
    out.update(groups=[], sigalgs=[], versions=[], key_shares=[], alpn=[], sni=False)
    if hs.left():
        ex = hs.vec(2)
        while ex.left():
            t = ex.u16()
            b = ex.vec(2)
            if grease(t):
                out["grease"] = True
                continue
            out["exts"].append(t)
            if t == 0x0000:
                out["sni"] = True
            elif t == 0x000a:
                g = b.vec(2)
                while g.left():
                    v = g.u16()
                    if grease(v):
                        out["grease"] = True
                    else:
                        out["groups"].append(v)
            elif t == 0x000d:
                s = b.vec(2)
                while s.left():
                    out["sigalgs"].append(s.u16())
            elif t == 0x0010:
                lst = b.vec(2)
                while lst.left():
                    out["alpn"].append(lst.vec(1).b.decode("ascii", "replace"))
            elif t == 0x002b:
                s = b.vec(1)
                while s.left():
                    v = s.u16()
                    if not grease(v):
                        out["versions"].append(v)
            elif t == 0x0033:
                ks = b.vec(2)
                while ks.left():
                    g = ks.u16()
                    ks.vec(2)
                    if not grease(g):
                        out["key_shares"].append(g)
    return out


# ---- per-family limits: what no hello shows ----------------------------------
# sha1: "reject" (any certificate), "reject_public" (only chains to the vendor's
# public roots; a private CA may still use SHA-1), "accept".
LIMITS = {
    "chrome": dict(rsa_min_bits=1024, dh_min_bits=1024, sha1="reject", aia_fetch=True, trust_store="chrome",
                   cite="Chromium: RSA keys under 1024 bits are ERR_CERT_WEAK_KEY (net/cert/cert_verify_proc.cc, "
                        "IsWeakKey); DHE groups under 1024 bits refused since Chrome 45 (SSL Labs minDhBits 1024); "
                        "SHA-1 certificates refused since Chrome 57 (security.googleblog.com, 'A further update on "
                        "SHA-1', 2016-11); Chrome fetches missing intermediates from the AIA caIssuers URL on every "
                        "platform (chromium.org Root Program and net/cert docs)"),
    "chrome-old": dict(rsa_min_bits=1024, sha1="accept", aia_fetch=True, trust_store="microsoft",
                       cite="Chrome before 57 accepted SHA-1 certificates (security.googleblog.com, 'Gradually sunsetting "
                            "SHA-1', 2014-09); on Windows it verified through CryptoAPI, which rejects RSA under 1024 "
                            "bits (Microsoft Security Advisory 2661254) and fetches AIA intermediates"),
    "firefox": dict(rsa_min_bits=1024, dh_min_bits=1024, sha1="reject_public", aia_fetch=False,
                    intermediate_preload=True, trust_store="mozilla",
                    cite="Firefox/NSS mozilla::pkix: RSA keys under 1024 bits rejected (MIN_RSA_BITS_WEAK); DHE under "
                         "1024 bits refused since Firefox 39 (Logjam); SHA-1 refused for publicly trusted roots since "
                         "Firefox 51 (security.pki.sha1_enforcement_level, blog.mozilla.org/security 2017-02-23); "
                         "Firefox does not fetch AIA intermediates, it preloads the intermediates disclosed in CCADB "
                         "since Firefox 75 (wiki.mozilla.org/Security/CryptoEngineering/Intermediate_Preloading)"),
    "ie-xp": dict(sha1="accept", aia_fetch=True, trust_store="microsoft",
                  cite="Windows XP CryptoAPI/SChannel: fetches AIA intermediates (Certificate Chain Validation in "
                       "Windows, learn.microsoft.com); never received the 2017 SHA-1 deprecation (XP support ended "
                       "2014-04)"),
    "ie-win7": dict(rsa_min_bits=1024, dh_min_bits=1024, sha1="reject_public", aia_fetch=True, trust_store="microsoft",
                    cite="Windows CryptoAPI/SChannel: RSA under 1024 bits blocked (Microsoft Security Advisory 2661254, "
                         "2012); DHE under 1024 bits refused since MS15-055 (KB3061518); SHA-1 TLS certificates from "
                         "roots of the Microsoft Trusted Root Program blocked in IE 11 and Edge since 2017-05 "
                         "(Microsoft Security Advisory 4010323); CryptoAPI fetches AIA intermediates"),
    "safari-old": dict(sha1="accept", aia_fetch=True, trust_store="apple",
                       cite="Apple Secure Transport before iOS 13/macOS 10.15 accepted SHA-1 and RSA-1024 server "
                            "certificates (support.apple.com/HT210176 describes the change); Apple's trust evaluation "
                            "fetches missing intermediates from AIA"),
    "safari": dict(rsa_min_bits=2048, sha1="reject", aia_fetch=True, trust_store="apple",
                   cite="Requirements for trusted certificates in iOS 13 and macOS 10.15 (support.apple.com/HT210176): "
                        "RSA keys must be 2048 bits or more and SHA-1 signatures are not trusted for TLS; Apple's "
                        "trust evaluation fetches missing intermediates from AIA"),
    "ats": dict(rsa_min_bits=2048, ec_min_bits=256, sha1="reject", aia_fetch=True, trust_store="apple",
                cite="App Transport Security requirements (developer.apple.com, NSAppTransportSecurity / 'Preventing "
                     "Insecure Network Connections'): TLS 1.2, forward secrecy, certificates signed with SHA-256 or "
                     "better, RSA 2048+ or ECC 256+ bits"),
    "android": dict(sha1="accept", aia_fetch=False, trust_store="android",
                    cite="Android platform TLS (Conscrypt, TrustManagerImpl) does not fetch AIA intermediates "
                         "(developer.android.com/privacy-and-security/security-ssl, 'Missing intermediate certificate "
                         "authority'); no SHA-1 or key-size floor is documented for apps"),
    "java7": dict(dh_max_bits=1024, sha1="accept", aia_fetch=False, trust_store="java",
                  cite="Java 7 SunJCE cannot use DH groups above 1024 bits (JDK-7044060; SSL Labs maxDhBits 1024); "
                       "JSSE does not fetch AIA intermediates unless com.sun.security.enableAIAcaIssuers=true "
                       "(JDK PKIX docs; off by default)"),
    "java8old": dict(rsa_min_bits=1024, dh_min_bits=768, sha1="accept", aia_fetch=False, trust_store="java",
                     cite="Java 8 before 8u141: jdk.certpath.disabledAlgorithms 'RSA keySize < 1024', "
                          "jdk.tls.disabledAlgorithms 'DH keySize < 768' (java.security of 8u31-8u131); SHA-1 "
                          "accepted; AIA not fetched (com.sun.security.enableAIAcaIssuers off by default)"),
    "java": dict(rsa_min_bits=1024, dh_min_bits=1024, ec_min_bits=224, sha1="reject_public", aia_fetch=False,
                 trust_store="java",
                 cite="OpenJDK java.security: jdk.certpath.disabledAlgorithms 'RSA keySize < 1024, SHA1 jdkCA & usage "
                      "TLSServer' (SHA-1 refused for chains to JDK cacerts roots since 8u141/9), jdk.tls."
                      "disabledAlgorithms 'DH keySize < 1024, EC keySize < 224'; AIA not fetched unless "
                      "com.sun.security.enableAIAcaIssuers=true"),
    "openssl-old": dict(sha1="accept", aia_fetch=False, trust_store="system",
                        cite="OpenSSL before 1.1.0 has no security levels: no key-size floor, SHA-1 accepted "
                             "(openssl.org/docs/man1.1.0/man3/SSL_CTX_set_security_level.html: levels are new in "
                             "1.1.0); OpenSSL never fetches AIA intermediates"),
    "openssl-debian": dict(rsa_min_bits=2048, dh_min_bits=2048, ec_min_bits=224, sha1="reject", aia_fetch=False,
                           trust_store="system", legacy_kx_signatures=False,
                           cite="Debian's OpenSSL (1.1.1 from buster, 3.0 in bookworm) defaults to TLS 1.2+ and "
                                "security level 2 (/usr/share/doc/openssl/README.Debian); level 2 means RSA/DH keys of "
                                "2048+ bits, ECC of 224+ and no SHA-1 signatures (SSL_CTX_set_security_level(3)); "
                                "OpenSSL never fetches AIA intermediates. Checked on Debian 12: an RSA-1024 server "
                                "fails with 'EE certificate key too weak' in openssl s_client, curl and Python. OpenSSL 3.0 still offers "
                                "TLS 1.0/1.1, but refuses their MD5+SHA-1 ServerKeyExchange signatures ('legacy "
                                "sigalg disallowed or unsupported'), so only RSA key exchange works there (checked "
                                "with curl and Python against openssl s_server -tls1)"),
    "openssl3": dict(rsa_min_bits=1024, dh_min_bits=1024, ec_min_bits=160, sha1="reject", aia_fetch=False,
                     trust_store="system", legacy_kx_signatures=False,
                     cite="OpenSSL 3.0 default security level 1 (SSL_CTX_set_security_level(3), OpenSSL 3.0): RSA/DH "
                          "1024+ bits, ECC 160+, and 'signatures using SHA1 and MD5 are also forbidden at this level'; "
                          "OpenSSL never fetches AIA intermediates"),
    "go117": dict(dh_min_bits=1024, ec_min_bits=224, sha1="accept", aia_fetch=False, trust_store="system",
                  cite="Go 1.17 crypto/x509 still accepted SHA-1 signatures (refused from Go 1.18, go.dev/doc/go1.18 "
                       "'crypto/x509'); Go never fetches AIA intermediates (golang/go#31773); DH/EC floors from SSL "
                       "Labs' record of this client"),
    "gnutls": dict(rsa_min_bits=2048, dh_min_bits=2048, sha1="reject", aia_fetch=False, trust_store="system",
                   cite="GnuTLS 3.7 default priority string NORMAL uses the 'medium' certificate verification profile "
                        "(gnutls.org manual, 'Selecting cryptographic key sizes': medium = 2048-bit RSA/DH) and does "
                        "not accept SHA-1 certificate signatures (GnuTLS 3.6+ marks SHA1 insecure for certificates); "
                        "GnuTLS does not fetch AIA intermediates"),
    "node": dict(rsa_min_bits=1024, dh_min_bits=1024, sha1="reject", aia_fetch=False, trust_store="mozilla",
                 legacy_kx_signatures=False,
                 cite="Node.js 20 bundles OpenSSL 3.0 at its default security level 1 (nodejs.org/api/tls.html, "
                      "'OpenSSL security level'), and uses its own copy of Mozilla's root store "
                      "(tls.rootCertificates); it does not fetch AIA intermediates"),
    "mbedtls": dict(rsa_min_bits=2048, ec_min_bits=256, dh_min_bits=1024, sha1="reject", aia_fetch=False,
                    trust_store="application",
                    cite="Mbed TLS 2.28 mbedtls_x509_crt_profile_default (library/x509_crt.c): SHA-2 hashes only, "
                         "RSA 2048+ bits, curves of 256+ bits; MBEDTLS_SSL_MIN_DHM_BYTES default 128 (1024-bit DH, "
                         "mbedtls/ssl.h); the application supplies the CA chain, no AIA fetching"),
    "wolfssl": dict(rsa_min_bits=1024, ec_min_bits=224, dh_min_bits=1024, sha1="accept", aia_fetch=False,
                    trust_store="application",
                    cite="wolfSSL 5.5 defaults: WOLFSSL_MIN_RSA_BITS 1024, WOLFSSL_MIN_ECC_BITS 224, WOLFSSL_MIN_DHKEY_"
                         "BITS 1024 (wolfssl/internal.h); SHA-1 certificate signatures verify unless built with "
                         "NO_SHA; the application loads the CAs, no AIA fetching"),
    "dotnet-fw": dict(rsa_min_bits=1024, dh_min_bits=1024, sha1="reject_public", aia_fetch=True,
                      trust_store="microsoft",
                      cite="On Windows, .NET Framework uses SChannel and CryptoAPI, so key floors, SHA-1 rules and AIA "
                           "fetching are Windows's (Microsoft Security Advisories 2661254 and 4010323, MS15-055)"),
}

# ---- the profiles -------------------------------------------------------------
# (id, name, version, platform, category, current, testssl entry or capture, limits family, extra note)
T = "testssl"
W = "testssl-ws"
C = "capture"
PROFILES = [
    # browsers, oldest first
    ("ie-6-xp", "Internet Explorer", "6", "Windows XP", "browser", False, (T, "IE 6 XP"), "ie-xp"),
    ("ie-8-xp", "Internet Explorer", "8", "Windows XP", "browser", False, (T, "IE 8 XP"), "ie-xp"),
    ("ie-8-10-win7", "Internet Explorer", "8-10", "Windows 7", "browser", False, (T, "IE 8-10 Win 7"), "ie-win7"),
    ("ie-11-win7", "Internet Explorer", "11", "Windows 7", "browser", False, (T, "IE 11 Win 7"), "ie-win7"),
    ("ie-11-win81", "Internet Explorer", "11", "Windows 8.1", "browser", False, (T, "IE 11 Win 8.1"), "ie-win7"),
    ("ie-11-win10", "Internet Explorer", "11", "Windows 10", "browser", False, (T, "IE 11 Win 10"), "ie-win7"),
    ("edge-15-win10", "Edge (EdgeHTML)", "15", "Windows 10", "browser", False, (T, "Edge 15 Win 10"), "ie-win7"),
    ("edge-101-win10", "Edge", "101", "Windows 10 21H2", "browser", True, (W, "Edge 101 Win 10 21H2"), "chrome"),
    ("chrome-49-xp", "Chrome", "49", "Windows XP SP3", "browser", False, (T, "Chrome 49 XP SP3"), "chrome-old"),
    ("chrome-70-win10", "Chrome", "70", "Windows 10", "browser", False, (T, "Chrome 70 Win 10"), "chrome"),
    ("chrome-79-win10", "Chrome", "79", "Windows 10", "browser", False, (W, "Chrome 79 (Win 10)"), "chrome"),
    ("chrome-101-win10", "Chrome", "101", "Windows 10", "browser", True, (W, "Chrome 101 (Win 10)"), "chrome"),
    ("firefox-49-xp", "Firefox", "49", "Windows XP SP3", "browser", False, (T, "Firefox 49 XP SP3"), "firefox"),
    ("firefox-62-win7", "Firefox", "62", "Windows 7", "browser", False, (T, "Firefox 62 Win 7"), "firefox"),
    ("firefox-71-win10", "Firefox", "71", "Windows 10", "browser", False, (W, "Firefox 71 (Win 10)"), "firefox"),
    ("firefox-100-win10", "Firefox", "100", "Windows 10", "browser", True, (W, "Firefox 100 (Win 10)"), "firefox"),
    ("safari-6-ios6", "Safari", "6", "iOS 6.0.1", "browser", False, (T, "Safari 6 iOS 6.0.1"), "safari-old"),
    ("safari-9-ios9", "Safari", "9", "iOS 9", "browser", False, (T, "Safari 9 iOS 9"), "safari-old"),
    ("safari-10-osx1012", "Safari", "10", "OS X 10.12", "browser", False, (T, "Safari 10 OS X 10.12"), "safari-old"),
    ("safari-12.1-ios12", "Safari", "12.1", "iOS 12.2", "browser", False, (W, "Safari 12.1 (iOS 12.2)"), "safari-old"),
    ("safari-13-macos1014", "Safari", "13.0", "macOS 10.14.6", "browser", False,
     (W, "Safari 13.0 (macOS 10.14.6)"), "safari-old"),
    ("safari-15.4-macos12", "Safari", "15.4", "macOS 12.3.1", "browser", True,
     (W, "Safari 15.4 (macOS 12.3.1)"), "safari"),
    ("apple-ats-ios9", "Apple ATS", "9", "iOS 9", "mobile", False, (T, "Apple ATS 9 iOS 9"), "ats"),
    # Android platform TLS (apps using HttpsURLConnection / OkHttp on the system provider)
    ("android-4.4", "Android", "4.4.2", "platform TLS", "mobile", False, (T, "Android 4.4.2"), "android"),
    ("android-5.0", "Android", "5.0.0", "platform TLS", "mobile", False, (T, "Android 5.0.0"), "android"),
    ("android-6.0", "Android", "6.0", "platform TLS", "mobile", False, (T, "Android 6.0"), "android"),
    ("android-7.0", "Android", "7.0", "platform TLS", "mobile", False, (W, "Android 7.0 (native)"), "android"),
    ("android-8.1", "Android", "8.1", "platform TLS", "mobile", False, (W, "Android 8.1 (native)"), "android"),
    ("android-9", "Android", "9.0", "platform TLS", "mobile", False, (W, "Android 9.0 (native)"), "android"),
    ("android-10", "Android", "10.0", "platform TLS", "mobile", False, (W, "Android 10.0 (native)"), "android"),
    ("android-11", "Android", "11", "platform TLS", "mobile", True, (W, "Android 11 (native)"), "android"),
    ("android-12", "Android", "12", "platform TLS", "mobile", True, (W, "Android 12 (native)"), "android"),
    # Java (SunJSSE defaults)
    ("java-7u25", "Java", "7u25", "any", "runtime", False, (T, "Java 7u25"), "java7"),
    ("java-8u31", "Java", "8u31", "any", "runtime", False, (T, "Java 8u31"), "java8old"),
    ("java-8u161", "Java", "8u161", "any", "runtime", False, (T, "Java 8u161"), "java"),
    ("java-11", "Java (OpenJDK)", "11.0.2", "any", "runtime", False, (W, "Java 11.0.2 (OpenJDK)"), "java"),
    ("java-17", "Java (OpenJDK)", "17.0.15", "Debian 12", "runtime", True, (C, "java17"), "java"),
    # OpenSSL-based clients
    ("openssl-1.0.2", "OpenSSL", "1.0.2e", "any", "library", False, (T, "OpenSSL 1.0.2e"), "openssl-old"),
    ("openssl-1.1.1-debian", "OpenSSL", "1.1.1d", "Debian 10", "library", False,
     (W, "OpenSSL 1.1.1d (Debian)"), "openssl-debian"),
    ("openssl-3.0", "OpenSSL", "3.0.3", "upstream build", "library", True, (W, "OpenSSL 3.0.3 (git)"), "openssl3"),
    ("openssl-3.0-debian", "OpenSSL s_client", "3.0", "Debian 12", "library", True, (C, "openssl30"),
     "openssl-debian"),
    ("curl-debian12", "curl", "7.88.1", "Debian 12 (OpenSSL 3.0)", "library", True, (C, "curl"), "openssl-debian"),
    ("python-3.11-debian12", "Python ssl.create_default_context", "3.11", "Debian 12 (OpenSSL 3.0)", "runtime",
     True, (C, "python3"), "openssl-debian"),
    ("wget-debian12", "GNU Wget", "1.21.3", "Debian 12 (GnuTLS 3.7)", "library", True, (C, "wget"), "gnutls"),
    ("gnutls-3.7-debian12", "GnuTLS gnutls-cli", "3.7.9", "Debian 12", "library", True, (C, "gnutls"), "gnutls"),
    ("node-20", "Node.js https", "20.20", "linux (bundled OpenSSL 3.0)", "runtime", True, (C, "node"), "node"),
    ("go-1.17", "Go crypto/tls", "1.17.8", "any", "runtime", False, (W, "go 1.17.8"), "go117"),
    # IoT stacks
    ("mbedtls-2.28", "Mbed TLS", "2.28.3", "Debian 12 (default config)", "iot", True, (C, "mbedtls"), "mbedtls"),
    ("wolfssl-5.5", "wolfSSL", "5.5.4", "Debian 12 (default config)", "iot", True, (C, "wolfssl"), "wolfssl"),
]

CAPTURE_CITE = {
    "java17": "ClientHello captured on loopback from Debian 12 openjdk-17-jre-headless 17.0.15+6-Debian-1deb12u1: "
              "SSLSocketFactory.getDefault().createSocket(socket, \"www.hilt.test\", port, true).startHandshake(), "
              "no system properties (JSSE sends SNI only for names with a dot, so not for 'localhost')",
    "openssl30": "ClientHello captured on loopback from Debian 12 openssl 3.0 (libssl3): openssl s_client -connect "
                 "HOST:PORT -servername localhost, with Debian's /etc/ssl/openssl.cnf",
    "curl": "ClientHello captured on loopback from Debian 12 curl 7.88.1 (libcurl/7.88.1 OpenSSL/3.0): curl "
            "https://localhost:PORT/",
    "python3": "ClientHello captured on loopback from Debian 12 python3.11 (OpenSSL 3.0): "
               "ssl.create_default_context().wrap_socket(sock, server_hostname='localhost')",
    "wget": "ClientHello captured on loopback from Debian 12 wget 1.21.3: wget https://localhost:PORT/",
    "gnutls": "ClientHello captured on loopback from Debian 12 gnutls-bin 3.7.9: gnutls-cli --port PORT localhost",
    "node": "ClientHello captured on loopback from Node.js 20.20 (bundled OpenSSL 3.0.19): "
            "require('https').get('https://localhost:PORT/')",
    "mbedtls": "ClientHello captured on loopback from Debian 12 libmbedtls14 2.28.3: mbedtls_ssl_config_defaults("
               "MBEDTLS_SSL_IS_CLIENT, STREAM, PRESET_DEFAULT) plus mbedtls_ssl_set_hostname(), nothing else set",
    "wolfssl": "ClientHello captured on loopback from Debian 12 libwolfssl35 5.5.4: wolfSSL_CTX_new("
               "wolfSSLv23_client_method()) plus wolfSSL_UseSNI(), nothing else set",
}

# Profiles without a byte-exact published hello: the fields, with their sources.
HAND = [
    dict(id="chromium-137-win11", name="Chromium", version="137", platform="Windows 11", category="browser",
         current=True, family="chrome",
         versions=["TLSv1.2", "TLSv1.3"], grease=True,
         ciphers=["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                  "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                  "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                  "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
                  "TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_GCM_SHA384",
                  "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA"],
         groups=["X25519MLKEM768", "x25519", "secp256r1", "secp384r1"], key_shares=["X25519MLKEM768", "x25519"],
         sigalgs=["ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256", "rsa_pkcs1_sha256", "ecdsa_secp384r1_sha384",
                  "rsa_pss_rsae_sha384", "rsa_pkcs1_sha384", "rsa_pss_rsae_sha512", "rsa_pkcs1_sha512"],
         alpn=["h2", "http/1.1"], sni=True, session_id=True, compression=False,
         record_version="TLSv1.0", client_version="TLSv1.2",
         extensions=["session_ticket", "encrypted_client_hello", "key_share", "psk_key_exchange_modes",
                     "status_request", "signature_algorithms", "server_name", "alpn", "supported_versions",
                     "extended_master_secret", "signed_certificate_timestamp", "application_settings",
                     "ec_point_formats", "compress_certificate", "supported_groups", "renegotiation_info"],
         sources=[UPSTREAM_CITE.format(name="Chromium 137 (Win 11)") +
                  ": ch_ciphers, ciphersuites, curves X25519MLKEM768:x25519:secp256r1:secp384r1, alpn h2,http/1.1, "
                  "and the extensions, signature_algorithms and key_share groups read from its handshakebytes; "
                  "JA4 t13d1516h2_8daaf6152771_d8a2da3f94cd (the published JA4 example). Chrome shuffles its "
                  "extension order per connection."]),
    dict(id="android-13-14", name="Android", version="13/14", platform="platform TLS", category="mobile",
         current=True, family="android",
         versions=["TLSv1.2", "TLSv1.3"], grease=False,
         ciphers=["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                  "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                  "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                  "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
                  "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
                  "TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_GCM_SHA384",
                  "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA"],
         groups=["x25519", "secp256r1", "secp384r1"], key_shares=["x25519"],
         sigalgs=["ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256", "rsa_pkcs1_sha256", "ecdsa_secp384r1_sha384",
                  "rsa_pss_rsae_sha384", "rsa_pkcs1_sha384", "rsa_pss_rsae_sha512", "rsa_pkcs1_sha512",
                  "rsa_pkcs1_sha1"],
         alpn=["http/1.1"], sni=True, session_id=True, compression=False,
         record_version="TLSv1.0", client_version="TLSv1.2",
         extensions=["server_name", "extended_master_secret", "renegotiation_info", "supported_groups",
                     "ec_point_formats", "session_ticket", "alpn", "status_request", "signature_algorithms",
                     "key_share", "psk_key_exchange_modes", "supported_versions", "pre_shared_key"],
         sources=[UPSTREAM_CITE.format(name="Android 13/14 (native)") +
                  ": ch_ciphers, ciphersuites, curves x25519:secp256r1:secp384r1, alpn http/1.1, lowest_protocol "
                  "0x0303, and the signature_algorithms, key_share and extensions read from its handshakebytes; "
                  "JA4 t13d1713h1_5b57614c22b0_352634941f3a"]),
    dict(id="java-21", name="Java (OpenJDK)", version="21", platform="any", category="runtime", current=True,
         family="java",
         versions=["TLSv1.2", "TLSv1.3"], grease=False,
         ciphers=["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256",
                  "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                  "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                  "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                  "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                  "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
                  "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
                  "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
                  "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
                  "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
                  "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
                  "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
                  "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
                  "TLS_DHE_DSS_WITH_AES_256_CBC_SHA", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
                  "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_GCM_SHA384",
                  "TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_CBC_SHA256",
                  "TLS_RSA_WITH_AES_128_CBC_SHA256", "TLS_RSA_WITH_AES_256_CBC_SHA",
                  "TLS_RSA_WITH_AES_128_CBC_SHA"],
         groups=["x25519", "secp256r1", "secp384r1", "secp521r1", "x448", "ffdhe2048", "ffdhe3072", "ffdhe4096",
                 "ffdhe6144", "ffdhe8192"], key_shares=["x25519", "secp256r1"],
         alpn=[], sni=True, session_id=True, compression=False, scsv_renegotiation=True,
         record_version="TLSv1.2", client_version="TLSv1.2", like="java-17",
         sources=["Oracle JDK 21 Security Developer's Guide, 'JDK Providers Documentation', SunJSSE: default enabled "
                  "cipher suites in preference order, and jdk.tls.namedGroups default order "
                  "(docs.oracle.com/en/java/javase/21/security/oracle-providers.html)",
                  "OpenJDK 21 java.security: jdk.tls.disabledAlgorithms 'SSLv3, TLSv1, TLSv1.1, DTLSv1.0, RC4, DES, "
                  "MD5withRSA, DH keySize < 1024, EC keySize < 224, 3DES_EDE_CBC, anon, NULL, ECDH' (ECDH since "
                  "JDK-8279164), so TLS 1.2 and 1.3 only and no TLS_ECDH_* suites",
                  "the suites and groups above equal those of the Java 17.0.15 capture in this file; the signature "
                  "schemes and extension order, which the JDK 21 documentation does not list, are taken from that "
                  "capture; hilt assumes 21 sends them as 17 does"]),
    dict(id="dotnet-fw-4.5-win7", name=".NET Framework", version="4.5 (default SecurityProtocol)",
         platform="Windows 7 (SChannel)", category="runtime", current=False, family="dotnet-fw",
         testssl="IE 8-10 Win 7", versions=["SSLv3", "TLSv1.0"],
         sources=["Microsoft Learn, 'Transport Layer Security (TLS) best practices with the .NET Framework': "
                  ".NET Framework 4.5.2 and earlier default ServicePointManager.SecurityProtocol to Ssl3 | Tls, "
                  "i.e. TLS 1.0 at most, unless the application or SchUseStrongCrypto changes it",
                  "the TLS 1.0 ClientHello of SChannel on Windows 7: " + TESTSSL_CITE.format(name="IE 8-10 Win 7")]),
    dict(id="dotnet-fw-4.8-win10", name=".NET Framework", version="4.8 (SystemDefaultTlsVersions)",
         platform="Windows 10 (SChannel)", category="runtime", current=True, family="dotnet-fw",
         testssl="IE 11 Win 10", strip_alpn=True,
         sources=["Microsoft Learn, 'Transport Layer Security (TLS) best practices with the .NET Framework': "
                  ".NET Framework 4.7 and later let the operating system choose (SystemDefaultTlsVersions), so "
                  "HttpWebRequest/SslStream send SChannel's own hello",
                  "SChannel's ClientHello on Windows 10, without the browser's ALPN: " +
                  TESTSSL_CITE.format(name="IE 11 Win 10")]),
]


def testssl_entries(path):
    text = open(path).read()
    out = {}
    for blk in text.split("names+=(")[1:]:
        name = blk.split('"')[1]
        f = {"name": name}
        for k in ("handshakebytes", "lowest_protocol", "highest_protocol", "alpn"):
            m = re.search(k + r'\+=\("([^"]*)"\)', blk)
            f[k] = m.group(1) if m else None
        for k in ("minDhBits", "maxDhBits", "minRsaBits", "maxRsaBits", "minEcdsaBits"):
            m = re.search(k + r'\+=\((-?\d+)\)', blk)
            f[k] = int(m.group(1)) if m else -1
        m = re.search(r'requiresSha2\+=\((\w+)\)', blk)
        f["requiresSha2"] = m and m.group(1) == "true"
        out.setdefault(name, f)
    return out


def names_of(codes, table, what, pid, unresolved):
    res = []
    for c in codes:
        if c in table:
            if table[c] not in res:  # some clients repeat an entry (Safari 12 lists rsa_pss_rsae_sha384 twice)
                res.append(table[c])
        else:
            unresolved.append("%s 0x%04x" % (what, c))
    return res


def build_from_hello(pid, hexstr, lowest, tables):
    ciphers_t, groups_t, sig_t = tables
    h = decode_hello(hexstr)
    unresolved = []
    scsv_reneg = 0x00ff in h["ciphers"]
    scsv_fallback = 0x5600 in h["ciphers"]
    ciphers = [c for c in h["ciphers"] if c not in (0x00ff, 0x5600)]
    if h["versions"]:
        versions = sorted(h["versions"])
    else:
        lo = lowest or h["legacy_version"]
        versions = [v for v in (0x0300, 0x0301, 0x0302, 0x0303) if lo <= v <= h["legacy_version"]]
        if lo < 0x0300:
            unresolved.append("version SSLv2 (hilt does not model SSLv2)")
    for v in versions:
        if v not in VERSION_NAMES:
            unresolved.append("version 0x%04x (a TLS 1.3 draft; final RFC 8446 servers do not negotiate it)" % v)
    versions = [v for v in versions if v in VERSION_NAMES]
    if 0x0304 not in versions:
        # TLS 1.3 suites offered for a draft version only: nothing can negotiate them.
        for c in [c for c in ciphers if 0x1301 <= c <= 0x1305]:
            unresolved.append("cipher 0x%04x (TLS 1.3 suite, offered for a draft version only)" % c)
        ciphers = [c for c in ciphers if not 0x1301 <= c <= 0x1305]
    p = dict(
        versions=[VERSION_NAMES[v] for v in versions],
        ciphers=names_of(ciphers, ciphers_t, "cipher", pid, unresolved),
        grease=h["grease"],
        groups=names_of(h["groups"], groups_t, "group", pid, unresolved),
        key_shares=names_of(h["key_shares"], groups_t, "group", pid, unresolved),
        sigalgs=names_of(h["sigalgs"], sig_t, "sigalg", pid, unresolved),
        alpn=h["alpn"], sni=h["sni"], session_id=h["session_id"], compression=h["compression"],
        scsv_renegotiation=scsv_reneg, scsv_fallback=scsv_fallback,
        record_version="SSLv2" if h.get("sslv2") else VERSION_NAMES.get(h["record_version"], "TLSv1.0"),
        client_version=VERSION_NAMES[h["legacy_version"]],
        extensions=[EXT_NAMES.get(t, "0x%04x" % t) for t in h["exts"]],
    )
    if unresolved:
        p["unresolved"] = unresolved
    return p


def main():
    root = __file__.rsplit("/src/", 1)[0] if "/src/" in __file__ else "."
    path = sys.argv[1] if len(sys.argv) > 1 else TESTSSL
    captures = sys.argv[2] if len(sys.argv) > 2 else None
    tables = load_tables(root)
    ts = testssl_entries(path)
    ws_names = set()
    try:
        ws = open(path.replace("client-simulation.txt", "client-simulation.wiresharked.txt")).read()
        ws_names = set(re.findall(r'names\+=\("([^"]+)"\)', ws))
    except OSError:
        pass
    old = {}
    try:
        for p in json.load(open(root + "/data/clients.json"))["clients"]:
            old[p["id"]] = p
    except (OSError, ValueError, KeyError):
        pass
    out = []
    for pid, name, version, platform, cat, current, (kind, ref), fam in PROFILES:
        prof = dict(id=pid, name=name, version=version, platform=platform, category=cat, current=current)
        lim = dict(LIMITS[fam])
        cite_limits = lim.pop("cite")
        if kind == C:
            hexstr = None
            if captures:
                hexstr = open("%s/%s.hex" % (captures, ref)).read().strip()
            elif pid in old:
                hexstr = old[pid]["hello"]
            hello = build_from_hello(pid, hexstr, None, tables)
            sources = [CAPTURE_CITE[ref]]
        else:
            e = ts[ref]
            hexstr = e["handshakebytes"]
            lowest = int(e["lowest_protocol"], 16) if e["lowest_protocol"] else None
            hello = build_from_hello(pid, hexstr, lowest, tables)
            sources = [(TESTSSL_WS_CITE if ref in ws_names else TESTSSL_CITE).format(name=ref)]
            # SSL Labs' measured limits win over family defaults when present.
            if e["minDhBits"] > 0:
                lim["dh_min_bits"] = e["minDhBits"]
            if e["maxDhBits"] > 0:
                lim["dh_max_bits"] = e["maxDhBits"]
            if e["minRsaBits"] > 0:
                lim["rsa_min_bits"] = e["minRsaBits"]
            if e["minEcdsaBits"] > 0:
                lim["ec_min_bits"] = e["minEcdsaBits"]
        prof.update(hello)
        prof.update(limits_block(lim))
        prof["sources"] = sources + [cite_limits]
        prof["hello"] = hexstr
        out.append(prof)
    for h in HAND:
        h = dict(h)
        fam = h.pop("family")
        lim = dict(LIMITS[fam])
        cite_limits = lim.pop("cite")
        prof = dict(id=h.pop("id"), name=h.pop("name"), version=h.pop("version"), platform=h.pop("platform"),
                    category=h.pop("category"), current=h.pop("current"))
        sources = h.pop("sources")
        if "testssl" in h:
            e = ts[h.pop("testssl")]
            lowest = int(e["lowest_protocol"], 16) if e["lowest_protocol"] else None
            hello = build_from_hello(prof["id"], e["handshakebytes"], lowest, tables)
            if h.pop("strip_alpn", False):
                hello["alpn"] = []
                hello["extensions"] = [x for x in hello["extensions"] if x != "alpn"]
            if "versions" in h:
                hello["versions"] = h.pop("versions")
            prof.update(hello)
        else:
            base = dict(scsv_renegotiation=False, scsv_fallback=False)
            like = h.pop("like", None)
            if like:
                twin = next(p for p in out if p["id"] == like)
                base.update(sigalgs=twin["sigalgs"], extensions=twin["extensions"])
            base.update(h)
            prof.update(base)
        prof.update(limits_block(lim))
        prof["sources"] = sources + [cite_limits]
        out.append(prof)
    doc = {
        "_comment": "hilt client profiles: generated by src/policy/gen_clients.py from the sources each profile "
                    "cites; the schema is in docs/clients.md. 'hello' is the ClientHello the fields were read "
                    "from, kept so tests/unit/test_clients.c can check them.",
        "version": 1,
        "clients": out,
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


def limits_block(lim):
    return dict(
        rsa_min_bits=lim.get("rsa_min_bits"), dh_min_bits=lim.get("dh_min_bits"),
        dh_max_bits=lim.get("dh_max_bits"), ec_min_bits=lim.get("ec_min_bits"),
        sha1_certificates=lim["sha1"], aia_fetch=lim["aia_fetch"],
        intermediate_preload=lim.get("intermediate_preload", False),
        legacy_kx_signatures=lim.get("legacy_kx_signatures", True), trust_store=lim["trust_store"],
    )


if __name__ == "__main__":
    main()
