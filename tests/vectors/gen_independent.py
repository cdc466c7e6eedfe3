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
BECH32M, BECH32 = 0x2bc830a3, 1
def bech32m(hrp, data, const=BECH32M, pad_bits=0):
    """Bech32m over the lower-case HRP (`const=BECH32` gives the older Bech32 checksum;
    `pad_bits` sets the unused low bits of the last data character, which must be zero)."""
    d = convertbits(data, 8, 5)
    d[-1] |= pad_bits
    pm = polymod(hrp_expand(hrp) + d + [0] * 6) ^ const
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
         ("cdsk", "cdsk", "sslx-cdsk-", 32, True), ("reply_b", "reply-b", "sslx-reply-b", 32, False),
         ("pair_key", "pair-key", "sslx-pair-key-", 32, True)]
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
    case = (lambda x: x.upper()) if upper else (lambda x: x)
    # A Bech32 (constant 1) checksum is a wrong checksum: Bech32m only.
    write(f"keyline/{name}_bech32.txt", [("expect", "checksum failure"), ("kind", kind), ("line", case(bech32m(hrp, data, BECH32)))])
    # Non-zero padding bits in the last data character (valid checksum): one spelling per key.
    write(f"keyline/{name}_padding.txt", [("expect", "malformed"), ("kind", kind), ("line", case(bech32m(hrp, data, pad_bits=1)))])
    # Mixed case: Bech32m is all lower or all upper case.
    j = max(k for k, c in enumerate(line) if c.isalpha())
    write(f"keyline/{name}_mixed_case.txt", [("expect", "malformed"), ("kind", kind), ("line", line[:j] + line[j].swapcase() + line[j + 1:])])
# A line over 1,000 characters is refused before any decoding.
long = bech32m("sslx-pub", det(64, "public")[:64])
write("keyline/public_too_long.txt", [("expect", "malformed"), ("kind", "public"), ("line", long + "q" * (1001 - len(long)))])
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

# ---------------------------------------------------------------- courier (docs/PROTOCOL.md 5D)
import io, struct, subprocess, tarfile
os.makedirs("courier", exist_ok=True)
VERSION = 2  # the frame version (docs/PROTOCOL.md section 2)
def frame(t, body): return bytes([t, VERSION]) + struct.pack(">I", len(body)) + body
def str8(s): return bytes([len(s)]) + s.encode()
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Pairing derivations from a given X25519 shared secret (no curve arithmetic here).
s = det(32, "pair-shared")[:32]
random_a = det(32, "random-a")[:32]
pub_a, pub_b = det(32, "pub-a")[:32], det(32, "pub-b")[:32]
a1 = frame(0x50, bytes([1, 1]) + str8("alice") + pub_a + hashlib.sha256(random_a).digest())
kp = hkdf(b"sslx-pair-proof-v1", s, b"sslx-pair-proof-v1", 32)
proof_b = H(kp, a1, b"bob", pub_b)
b = frame(0x51, bytes([1]) + str8("bob") + pub_b + proof_b)
a2 = frame(0x52, random_a)
t = hashlib.sha256(a1 + b + a2).digest()
ltk = hkdf(b"sslx-pair-ltk-v1", s, t, 32)
bits = int.from_bytes(hashlib.sha256(b"sslx-pair-sas-v1" + t).digest()[:4], "big") >> 7
sas = "".join(CROCKFORD[(bits >> (5 * (4 - i))) & 31] for i in range(5))
write("courier/pairing.txt", [("expect", "success"), ("shared", s.hex()), ("random_a", random_a.hex()),
    ("public_a", pub_a.hex()), ("public_b", pub_b.hex()), ("a1", a1.hex()), ("b", b.hex()), ("a2", a2.hex()),
    ("proof_b", proof_b.hex()), ("transcript", t.hex()), ("ltk", ltk.hex()), ("short_string", sas),
    ("confirm_a", H(ltk, b"sslx-pair-confirm-v1", b"A", t).hex()), ("confirm_b", H(ltk, b"sslx-pair-confirm-v1", b"B", t).hex()),
    ("ltk_line", bech32m("sslx-pair-key-", ltk).upper())])

# Transfer values: every value is under the key of the direction (K_AB from the LTK and both
# accounts) and covers SHA-256 of transfer packet A1.
def direction_key(ltk, sender, recipient):
    return hkdf(b"sslx-courier-direction-v1", ltk, str8(sender) + str8(recipient), 32)
ltk = det(32, "ltk")[:32]
cha, chb, skey = det(32, "challenge-a")[:32], det(32, "challenge-b")[:32], det(32, "skey")[:32]
a1 = frame(0x58, bytes([1, 1, 1, 1]) + str8("alice") + str8("bob") + cha)
ha1 = hashlib.sha256(a1).digest()
kd = direction_key(ltk, "alice", "bob")
delta = bytes(x ^ y for x, y in zip(skey, hkdf(b"sslx-offset-v1", H(kd, cha, chb, ha1, b"Delta"), b"sslx-courier-delta-v1", 32)))
tags = [det(16, "tag0")[:16], det(16, "tag1")[:16]]
file_hash = H(skey, b"File_Check", *tags)
write("courier/transfer.txt", [("expect", "success"), ("ltk", ltk.hex()), ("sender", "alice"), ("recipient", "bob"),
    ("a1", a1.hex()), ("direction_key", kd.hex()), ("challenge_a", cha.hex()), ("challenge_b", chb.hex()),
    ("skey", skey.hex()), ("proof_b", H(kd, cha, chb, ha1, b"Verify").hex()), ("proof_a", H(kd, cha, chb, ha1, b"Verify2").hex()),
    ("delta_key", delta.hex()), ("key_proof", H(skey, cha, chb, ha1, b"KeyProof").hex()),
    ("aead_key", hkdf(b"sslx-courier-v1", skey, b"sslx-courier-aead-v1", 32).hex()),
    ("des_keys", b"".join(H(skey, l)[:8] for l in (b"KEY1", b"KEY22", b"KEY333")).hex()),
    ("tags", "".join(x.hex() for x in tags)), ("file_hash", file_hash.hex()),
    # FileProof is under K_AB and covers where the bundle starts in the tar stream: a whole
    # transfer (0 and 32 zero bytes), and one resumed after 70,000 kept bytes hashing to held_hash.
    ("file_proof", H(kd, cha, chb, ha1, file_hash, struct.pack(">Q", 0), bytes(32), b"Verify3").hex()),
    ("resume_from", "70000"), ("held_hash", hashlib.sha256(b"\x00" * 70000).hexdigest()),
    ("file_proof_resumed", H(kd, cha, chb, ha1, file_hash, struct.pack(">Q", 70000), hashlib.sha256(b"\x00" * 70000).digest(), b"Verify3").hex())])

# A whole offline bundle in the 3des suite (3DES from the openssl command, tar from tarfile):
# bob must open it with the pair key `ltk` and find hello/greeting.txt.
def tdes(keys, iv, data):
    return subprocess.run(["openssl", "enc", "-des-ede3-cbc", "-K", keys.hex(), "-iv", iv.hex()], input=data,
                          capture_output=True, check=True).stdout  # PKCS#7 padding, as 5D.3
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
    d = tarfile.TarInfo("hello"); d.type = tarfile.DIRTYPE; d.mode = 0o755; d.mtime = 1700000000
    tf.addfile(d)
    body = b"hello from an independent implementation\n" * 40
    f = tarfile.TarInfo("hello/greeting.txt"); f.size = len(body); f.mode = 0o640; f.mtime = 1700000123
    tf.addfile(f, io.BytesIO(body))
tar = buf.getvalue()
payload = bytes([0]) + struct.pack(">II", len(tar), len(tar)) + tar
cha = det(32, "bundle-challenge-a")[:32]
chb = bytes(32)
skey = det(32, "bundle-skey")[:32]
keys = b"".join(H(skey, l)[:8] for l in (b"KEY1", b"KEY22", b"KEY333"))
head = frame(0x58, bytes([1, 1, 2, 3]) + str8("alice") + str8("bob") + cha)
ha1 = hashlib.sha256(head).digest()
kd = direction_key(ltk, "alice", "bob")
delta = bytes(x ^ y for x, y in zip(skey, hkdf(b"sslx-offset-v1", H(kd, cha, chb, ha1, b"Delta"), b"sslx-courier-delta-v1", 32)))
head += frame(0x5a, str8("bob") + H(kd, cha, chb, ha1, b"Verify2") + delta + H(skey, cha, chb, ha1, b"KeyProof") + struct.pack(">QQ", len(tar), 0))
records, macs = b"", []
pieces = [payload[:5000], payload[5000:]]
for i, piece in enumerate(pieces):
    flags = bytes([1 if i == len(pieces) - 1 else 0])
    iv = det(8, f"iv{i}")[:8]
    ct = tdes(keys, iv, piece)
    hdr = bytes([0x5d, VERSION]) + struct.pack(">I", 1 + 8 + len(ct) + 32)
    mac = H(skey, b"Record", struct.pack(">Q", i), hdr, flags, iv, ct)
    macs.append(mac)
    records += hdr + flags + iv + ct + mac
file_hash = H(skey, b"File_Check", *macs)
trailer = frame(0x5e, H(kd, cha, chb, ha1, file_hash, struct.pack(">Q", 0), bytes(32), b"Verify3") + struct.pack(">Q", len(payload)))
with open("courier/bundle_3des.sslx", "wb") as fh:
    fh.write(head + records + trailer)
write("courier/bundle_3des.txt", [("expect", "success"), ("file", "bundle_3des.sslx"), ("sender", "alice"), ("recipient", "bob"),
    ("ltk", ltk.hex()), ("path", "hello/greeting.txt"), ("content_sha256", hashlib.sha256(body).hexdigest()),
    ("mode", "640"), ("mtime", "1700000123")])

# ---------------------------------------------------------------- tokens (docs/PROTOCOL.md 5E)
# token/token.txt is written by the Rust side (Ed25519 is not in the standard library); here its
# layout, CRC-32 and session data are checked independently.
import base64, zlib
if os.path.exists("token/token.txt"):
    f = dict(l.rstrip("\n").split(": ", 1) for l in open("token/token.txt") if ": " in l)
    t = f["token"]
    b = base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))
    assert base64.urlsafe_b64encode(b).decode().rstrip("=") == t
    assert b[0] == 0, "format id"
    sid = int.from_bytes(b[1:9], "big")
    assert sid >> 48 == int(f["node"]) and sid & ((1 << 48) - 1) == int(f["number"], 16)
    n = int.from_bytes(b[9:11], "big")
    assert len(b) == 1 + 8 + 2 + n + 4, "length"
    assert zlib.crc32(b[:-4]) == int.from_bytes(b[-4:], "big"), "CRC-32"
    data = b[11:11 + n]
    assert data[0] == 0, "unsealed"
    body = data[1:-64].decode()
    assert body.endswith(f["session_data"].replace("\\n", "\n")), body
    assert body.startswith(f"Created: {f['now']}\nExpires: {int(f['now']) + int(f['ttl'])}\n"), body
    print("token/token.txt: layout, CRC-32 and session data check out")

# wire/vsu_renewal.txt is written by the Rust side (its wraps are ChaCha20-Poly1305, not in the
# standard library); here the CDS's derivation of the new key and the four layouts (5.8).
if os.path.exists("wire/vsu_renewal.txt") and os.path.exists("wire/vsu_transcript.txt"):
    rf = dict(l.rstrip("\n").split(": ", 1) for l in open("wire/vsu_renewal.txt") if ": " in l)
    tf = dict(l.rstrip("\n").split(": ", 1) for l in open("wire/vsu_transcript.txt") if ": " in l)
    nonce, name = bytes.fromhex(rf["nonce"]), b"alice"
    new = hkdf(b"sslx-vsu-renew-derive-v1", bytes.fromhex(tf["cds_sign_seed"]) + bytes.fromhex(tf["cdsk"]),
               bytes([len(name)]) + name + nonce, 32)
    assert new.hex() == rf["new_cdsk"], "the renewed key's derivation"
    def fr(k, t):
        b = bytes.fromhex(rf[k])
        assert b[0] == t and b[1] == 2 and struct.unpack(">I", b[2:6])[0] == len(b) - 6, k
        return b[6:]
    body = fr("renew", 0x15)
    assert body[:1 + len(name)] == bytes([len(name)]) + name and len(body) == 1 + len(name) + 16 + 28
    assert len(fr("renewed", 0x16)) == 32 + 48 + 28 + 64
    body = fr("renew_confirm", 0x17)
    assert body[1 + len(name):1 + len(name) + 16] == nonce and len(body) == 1 + len(name) + 16 + 28
    assert len(fr("renew_confirmed", 0x18)) == 16 + 28 + 64
    print("wire/vsu_renewal.txt: the renewed key's derivation and the four layouts check out")
