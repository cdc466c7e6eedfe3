#!/usr/bin/env python3
"""A second implementation, in Python's standard library, of the pieces of docs/PROTOCOL.md that
need no curve arithmetic: the offset function, the VSU sent value, and Bech32m key lines. It
writes the vectors in offset/ and keyline/; tests/vectors.rs checks the Rust code against them.
Run from this folder: python3 gen_independent.py"""
import hashlib, hmac, os

def hkdf(salt, ikm, info, n):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t; i += 1
    return out[:n]

def offset(x, v, label):
    pad = hkdf(b"sslx-offset-v1", v, label, len(x))
    return bytes(a ^ b for a, b in zip(x, pad))

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
def polymod(values):
    gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1ffffff) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk
def hrp_expand(h): return [ord(c) >> 5 for c in h] + [0] + [ord(c) & 31 for c in h]
def convertbits(data, frm, to):
    acc = bits = 0; ret = []
    for v in data:
        acc = (acc << frm) | v; bits += frm
        while bits >= to:
            bits -= to; ret.append((acc >> bits) & ((1 << to) - 1))
    if bits: ret.append((acc << (to - bits)) & ((1 << to) - 1))
    return ret
def bech32m(hrp, data):
    d = convertbits(data, 8, 5)
    pm = polymod(hrp_expand(hrp) + d + [0] * 6) ^ 0x2bc830a3
    chk = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[x] for x in d + chk)

def write(path, fields):
    with open(path, "w") as f:
        for k, v in fields:
            f.write(f"{k}: {v}\n")

def det(n, seed):  # deterministic bytes
    return hashlib.sha256(seed.encode()).digest() * (n // 32 + 1)

# offset: (name, x, v, label)
cases = [
    ("h1_by_pin", det(16, "h1")[:16], b"1A2B3C", b"sslx-vsu-h1-by-pin-v1"),
    ("h2_by_h1", det(16, "h2")[:16], det(16, "h1")[:16], b"sslx-vsu-h2-by-h1-v1"),
    ("empty_x", b"", b"PIN", b"label"),
    ("long_x_100", det(100, "long")[:100], b"v", b"sslx-test-v1"),
]
for name, x, v, label in cases:
    write(f"offset/{name}.txt", [("expect", "success"), ("x", x.hex()), ("v", v.hex()), ("label", label.decode()), ("out", offset(x, v, label).hex())])

# The VSU sent value HMAC(CDSK, "confirm" || request id || nonce)
cdsk, rid, nonce = det(32, "cdsk")[:32], det(16, "rid")[:16], det(32, "nonce")[:32]
write("offset/sent_value.txt", [("expect", "success"), ("cdsk", cdsk.hex()), ("request_id", rid.hex()), ("nonce", nonce.hex()),
    ("sent_value", hmac.new(cdsk, b"confirm" + rid + nonce, hashlib.sha256).hexdigest())])

# key lines: (name, kind, hrp, data, upper)
kinds = [("public", "public", "sslx-pub", 64, False), ("secret_key", "secret-key", "sslx-secret-key-", 64, True),
         ("cdsk", "cdsk", "sslx-cdsk-", 32, True), ("reply_b", "reply-b", "sslx-reply-b", 32, False)]
for name, kind, hrp, n, upper in kinds:
    data = det(n, name)[:n]
    line = bech32m(hrp, data)
    line = line.upper() if upper else line
    write(f"keyline/{name}.txt", [("expect", "success"), ("kind", kind), ("data", data.hex()), ("line", line)])
    # failures: a changed character, a truncated line, the wrong kind, the wrong length
    i = len(line) - 3
    ch = line[i].lower()
    repl = "q" if ch != "q" else "p"
    bad = line[:i] + (repl.upper() if upper else repl) + line[i + 1:]
    write(f"keyline/{name}_checksum.txt", [("expect", "checksum failure"), ("kind", kind), ("line", bad)])
    write(f"keyline/{name}_truncated.txt", [("expect", "checksum failure"), ("kind", kind), ("line", line[:-1])])
    short = bech32m(hrp, data[:-1]); short = short.upper() if upper else short
    write(f"keyline/{name}_wrong_length.txt", [("expect", "wrong length"), ("kind", kind), ("line", short)])
other = bech32m("sslx-pub", det(64, "x")[:64])
write("keyline/cdsk_wrong_kind.txt", [("expect", "wrong kind"), ("kind", "cdsk"), ("line", other)])

# Session key schedule (DESIGN.md "Handshake"): MK, Key-ID, direction keys, finished values.
os.makedirs("session", exist_ok=True)
def H(k, *parts): return hmac.new(k, b"".join(parts), hashlib.sha256).digest()
for name, dh in [("full_no_fs", None), ("full_with_dh", det(32, "dh")[:32])]:
    psk, sn, cn = det(32, "psk")[:32], det(32, "sn")[:32], det(32, "cn")[:32]
    m1, m2 = det(96, "m1")[:90], det(96, "m2")[:95]
    parts = b"sslx-mk-v1" + sn + cn + hashlib.sha256(m1).digest() + hashlib.sha256(m2).digest() + (dh or b"")
    mk = hmac.new(psk, parts, hashlib.sha256).digest()
    fields = [("expect", "success"), ("psk", psk.hex()), ("server_nonce", sn.hex()), ("client_nonce", cn.hex()),
              ("m1", m1.hex()), ("m2", m2.hex())]
    if dh: fields.append(("dh", dh.hex()))
    fields += [("client_name", "alice"), ("server_name", "bob"), ("master_key", mk.hex()),
               ("key_id", hashlib.sha256(b"sslx-key-id-v1" + mk).digest()[:16].hex()),
               ("client_key", H(mk, b"alice").hex()), ("server_key", H(mk, b"bob").hex()),
               ("client_finished", H(mk, b"sslx-finished-v1", cn, sn).hex()),
               ("server_finished", H(mk, b"sslx-finished-v1", sn, cn).hex())]
    write(f"session/{name}.txt", fields)
