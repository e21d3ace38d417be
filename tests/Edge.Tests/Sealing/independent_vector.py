#!/usr/bin/env python3
# An implementation of docs/sealed-format.md written from the doc alone (Python 3 + the `cryptography` package, not
# .NET), as evidence that the doc is enough to build a decoder. It recomputes every derived value of the doc's test
# vector from its inputs, decodes the vector's sealed file, and prints "ok" or the values that differ.
#   python3 tests/Edge.Tests/Sealing/independent_vector.py docs/sealed-format.md
import hashlib, hmac, math, re, struct, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def read_vector(path):
    block = re.search(r"```test-vector\n(.*?)```", open(path, encoding="utf-8").read(), re.S).group(1)
    values, current = {}, None
    for line in block.splitlines():
        if line.startswith(" ") and current:
            values[current] += line.strip()
        elif line.strip():
            current, value = line.split(":", 1)
            values[current] = value.strip()
    return values


def hkdf(ikm, salt, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def point(key):
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def nonce(i, final):
    return struct.pack("<Q", i) + bytes([final]) + b"\0\0\0"


def seal(v):
    owner = ec.derive_private_key(int(v["owner-private-scalar"], 16), ec.SECP256R1())
    eph = ec.derive_private_key(int(v["ephemeral-private-scalar"], 16), ec.SECP256R1())
    key, path, size = bytes.fromhex(v["data-key"]), v["relative-path"], int(v["chunk-size"])
    plain = bytes.fromhex(v["plaintext"])
    spki = owner.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    binding = hashlib.sha256(b"edge-seal/v1/binding\0" + path.encode()).digest()
    shared = eph.exchange(ec.ECDH(), owner.public_key())
    okm = hkdf(shared, point(eph.public_key()) + point(owner.public_key()), b"edge-seal/v1/wrap", 44)
    wrapped = b"\x01" + point(eph.public_key()) + AESGCM(okm[:32]).encrypt(okm[32:], key, b"\x01" + binding)
    chunk_key = hkdf(key, b"", b"edge-seal/v1/chunk-key", 32)
    header_key = hkdf(key, b"", b"edge-seal/v1/header-key", 32)
    header = b"EDGESEAL" + bytes([1, 1, 0, 0]) + struct.pack("<I", size) + binding
    header += hmac.new(header_key, header, hashlib.sha256).digest()
    gcm, n = AESGCM(chunk_key), math.ceil(len(plain) / size)
    body = b"".join(gcm.encrypt(nonce(i, 0), plain[i * size:(i + 1) * size], None) for i in range(n))
    final = gcm.encrypt(nonce(n, 1), struct.pack("<Q", len(plain)) + hashlib.sha256(plain).digest(), None)
    sealed = header + body + final
    return {
        "owner-public-key": spki.hex(), "owner-key-id": hashlib.sha256(spki).hexdigest()[:16], "binding": binding.hex(),
        "shared-secret": shared.hex(), "kek": okm[:32].hex(), "wrap-nonce": okm[32:].hex(), "chunk-key": chunk_key.hex(),
        "header-key": header_key.hex(), "wrapped-key": wrapped.hex(), "sealed-file": sealed.hex(),
        "plaintext-sha256": hashlib.sha256(plain).hexdigest(), "stored-sha256": hashlib.sha256(sealed).hexdigest(),
    }


def open_sealed(v):
    """Decodes the doc's sealed file with the owner key, following the doc's decoding steps."""
    owner = ec.derive_private_key(int(v["owner-private-scalar"], 16), ec.SECP256R1())
    wrapped, sealed = bytes.fromhex(v["wrapped-key"]), bytes.fromhex(v["sealed-file"])
    binding = hashlib.sha256(b"edge-seal/v1/binding\0" + v["relative-path"].encode()).digest()
    assert wrapped[0] == 1 and len(wrapped) == 114
    eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), wrapped[1:66])
    okm = hkdf(owner.exchange(ec.ECDH(), eph), wrapped[1:66] + point(owner.public_key()), b"edge-seal/v1/wrap", 44)
    key = AESGCM(okm[:32]).decrypt(okm[32:], wrapped[66:], b"\x01" + binding)
    header_key = hkdf(key, b"", b"edge-seal/v1/header-key", 32)
    gcm = AESGCM(hkdf(key, b"", b"edge-seal/v1/chunk-key", 32))
    header, size = sealed[:80], struct.unpack("<I", sealed[12:16])[0]
    assert header[:8] == b"EDGESEAL" and header[8:12] == bytes([1, 1, 0, 0]) and header[16:48] == binding
    assert hmac.compare_digest(hmac.new(header_key, header[:48], hashlib.sha256).digest(), header[48:80])
    n = math.ceil((len(sealed) - 136) / (size + 16))
    final = gcm.decrypt(nonce(n, 1), sealed[-56:], None)
    length, digest = struct.unpack("<Q", final[:8])[0], final[8:]
    assert 80 + length + 16 * math.ceil(length / size) + 56 == len(sealed)
    plain = b""
    for i in range(n):
        at, m = 80 + i * (size + 16), min(size, length - i * size)
        plain += gcm.decrypt(nonce(i, 0), sealed[at:at + m + 16], None)
    assert hashlib.sha256(plain).digest() == digest
    return plain


vector = read_vector(sys.argv[1] if len(sys.argv) > 1 else "docs/sealed-format.md")
wrong = [f"{k}: doc {vector.get(k)} computed {v}" for k, v in seal(vector).items() if vector.get(k) != v]
if open_sealed(vector).hex() != vector["plaintext"]:
    wrong.append("the sealed file did not decode to the plaintext")
print("\n".join(wrong) if wrong else "ok")
sys.exit(1 if wrong else 0)
