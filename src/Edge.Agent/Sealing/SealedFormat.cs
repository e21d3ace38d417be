// The sealed-file format, version 1, in one place: constants, the header, key derivation, chunk nonces and the key
// wrap. docs/sealed-format.md is the specification (with a test vector); this file must agree with it byte for byte.
//
//   file    = header (80) ‖ data chunk 0 ‖ … ‖ data chunk n-1 ‖ final chunk (56)
//   header  = "EDGESEAL" ‖ version 1 ‖ suite 1 ‖ 0x0000 ‖ chunk size u32le ‖ binding (32) ‖ HMAC-SHA256(header key, bytes 0..47)
//   chunk i = AES-256-GCM(chunk key, nonce = i u64le ‖ final u8 ‖ 000000, plaintext) ‖ tag (16)
//   final   = the same with final = 1 over (plaintext length u64le ‖ SHA-256 of the plaintext)
//   wrapped = version 1 ‖ ephemeral P-256 point (65) ‖ AES-256-GCM(KEK, data key) (32) ‖ tag (16)
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Edge.Agent.Sealing;

internal static class SealedFormat
{
    public const string Extension = ".sealed";
    public const byte Version = 1;
    public const byte Suite = 1;
    public const int HeaderSize = 80;
    public const int HeaderMacOffset = 48;
    public const int BindingOffset = 16;
    public const int TagSize = 16;
    public const int NonceSize = 12;
    public const int DataKeySize = 32;
    public const int DefaultChunkSize = 64 * 1024;
    public const int MaxChunkSize = 16 * 1024 * 1024;
    public const int FinalPlainSize = 8 + 32;
    public const int FinalChunkSize = FinalPlainSize + TagSize;
    public const int PointSize = 65;
    public const int WrappedKeySize = 1 + PointSize + DataKeySize + TagSize;

    public static ReadOnlySpan<byte> Magic => "EDGESEAL"u8;
    private static ReadOnlySpan<byte> BindingLabel => "edge-seal/v1/binding\0"u8;
    private static ReadOnlySpan<byte> ChunkKeyInfo => "edge-seal/v1/chunk-key"u8;
    private static ReadOnlySpan<byte> HeaderKeyInfo => "edge-seal/v1/header-key"u8;
    private static ReadOnlySpan<byte> WrapInfo => "edge-seal/v1/wrap"u8;

    /// <summary>
    /// What ties a sealed file and its wrapped key to one segment: SHA-256("edge-seal/v1/binding" ‖ 0x00 ‖ the file's
    /// path below its volume, '/'-separated, UTF-8). The path names the camera (hashed) and the start time to the ms.
    /// </summary>
    public static byte[] Binding(string relativePath)
    {
        var path = Encoding.UTF8.GetBytes(relativePath.Replace('\\', '/'));
        var input = new byte[BindingLabel.Length + path.Length];
        BindingLabel.CopyTo(input);
        path.CopyTo(input.AsSpan(BindingLabel.Length));
        return SHA256.HashData(input);
    }

    public static void DeriveFileKeys(ReadOnlySpan<byte> dataKey, Span<byte> chunkKey, Span<byte> headerKey)
    {
        HKDF.DeriveKey(HashAlgorithmName.SHA256, dataKey, chunkKey, salt: default, info: ChunkKeyInfo);
        HKDF.DeriveKey(HashAlgorithmName.SHA256, dataKey, headerKey, salt: default, info: HeaderKeyInfo);
    }

    public static void ChunkNonce(long index, bool final, Span<byte> nonce)
    {
        nonce.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(nonce, (ulong)index);
        nonce[8] = final ? (byte)1 : (byte)0;
    }

    public static void WriteHeader(Span<byte> header, int chunkSize, ReadOnlySpan<byte> binding, ReadOnlySpan<byte> headerKey)
    {
        header[..HeaderSize].Clear();
        Magic.CopyTo(header);
        header[8] = Version;
        header[9] = Suite;
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)chunkSize);
        binding.CopyTo(header[BindingOffset..]);
        HMACSHA256.HashData(headerKey, header[..HeaderMacOffset], header[HeaderMacOffset..HeaderSize]);
    }

    public static bool HeaderMacMatches(ReadOnlySpan<byte> header, ReadOnlySpan<byte> headerKey)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(headerKey, header[..HeaderMacOffset], mac);
        return CryptographicOperations.FixedTimeEquals(mac, header[HeaderMacOffset..HeaderSize]);
    }

    public static long DataChunkCount(long plaintextLength, int chunkSize) => (plaintextLength + chunkSize - 1) / chunkSize;

    public static long StoredLength(long plaintextLength, int chunkSize) =>
        HeaderSize + plaintextLength + DataChunkCount(plaintextLength, chunkSize) * TagSize + FinalChunkSize;

    /// <summary>
    /// Wraps the data key to the owner's public key: ECDH with a fresh ephemeral P-256 key, HKDF-SHA256 of the shared
    /// secret (salt = ephemeral point ‖ owner point, info "edge-seal/v1/wrap") to a 32-byte KEK and a 12-byte nonce,
    /// AES-256-GCM with AAD = version ‖ binding. <paramref name="ephemeral"/> is given only by the test-vector entry point.
    /// </summary>
    public static byte[] Wrap(ReadOnlySpan<byte> dataKey, OwnerPublicKey owner, ReadOnlySpan<byte> binding, ECDiffieHellman? ephemeral = null)
    {
        using var created = ephemeral is null ? ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256) : null;
        var eph = ephemeral ?? created!;
        using var ownerEcdh = owner.CreateEcdh();
        // PublicKey is a new native key object on every read: disposed here, not left to the finalizer (which, for an
        // object that reached gen 2, runs only as often as gen-2 collections do).
        using var ownerPublic = ownerEcdh.PublicKey;
        var shared = eph.DeriveRawSecretAgreement(ownerPublic);
        var ephPoint = OwnerKeys.PointOf(eph);
        var wrapped = new byte[WrappedKeySize];
        wrapped[0] = Version;
        ephPoint.CopyTo(wrapped, 1);
        Span<byte> kekAndNonce = stackalloc byte[DataKeySize + NonceSize];
        try
        {
            DeriveKek(shared, ephPoint, owner.Point, kekAndNonce);
            using var gcm = new AesGcm(kekAndNonce[..DataKeySize], TagSize);
            gcm.Encrypt(kekAndNonce[DataKeySize..], dataKey, wrapped.AsSpan(1 + PointSize, DataKeySize),
                wrapped.AsSpan(1 + PointSize + DataKeySize, TagSize), WrapAad(binding));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(kekAndNonce);
            CryptographicOperations.ZeroMemory(shared);
        }
        return wrapped;
    }

    /// <summary>The data key, or null when the wrapped key does not open with this private key and binding.</summary>
    public static byte[]? Unwrap(ReadOnlySpan<byte> wrapped, ECDiffieHellman ownerPrivate, ReadOnlySpan<byte> ownerPoint, ReadOnlySpan<byte> binding)
    {
        if (wrapped.Length != WrappedKeySize || wrapped[0] != Version) return null;
        var ephPoint = wrapped.Slice(1, PointSize);
        ECDiffieHellman eph;
        try
        {
            eph = ECDiffieHellman.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = ephPoint.Slice(1, 32).ToArray(), Y = ephPoint.Slice(33, 32).ToArray() },
            });
        }
        catch (CryptographicException)
        {
            return null; // not a point on the curve: a damaged wrapped key
        }
        using (eph)
        {
            using var ephPublic = eph.PublicKey;
            var shared = ownerPrivate.DeriveRawSecretAgreement(ephPublic);
            Span<byte> kekAndNonce = stackalloc byte[DataKeySize + NonceSize];
            var dataKey = new byte[DataKeySize];
            try
            {
                DeriveKek(shared, ephPoint, ownerPoint, kekAndNonce);
                using var gcm = new AesGcm(kekAndNonce[..DataKeySize], TagSize);
                gcm.Decrypt(kekAndNonce[DataKeySize..], wrapped.Slice(1 + PointSize, DataKeySize),
                    wrapped.Slice(1 + PointSize + DataKeySize, TagSize), dataKey, WrapAad(binding));
                return dataKey;
            }
            catch (AuthenticationTagMismatchException)
            {
                return null;
            }
            finally
            {
                CryptographicOperations.ZeroMemory(kekAndNonce);
                CryptographicOperations.ZeroMemory(shared);
            }
        }
    }

    private static void DeriveKek(ReadOnlySpan<byte> shared, ReadOnlySpan<byte> ephPoint, ReadOnlySpan<byte> ownerPoint, Span<byte> kekAndNonce)
    {
        Span<byte> salt = stackalloc byte[2 * PointSize];
        ephPoint.CopyTo(salt);
        ownerPoint.CopyTo(salt[PointSize..]);
        HKDF.DeriveKey(HashAlgorithmName.SHA256, shared, kekAndNonce, salt, WrapInfo);
    }

    private static byte[] WrapAad(ReadOnlySpan<byte> binding)
    {
        var aad = new byte[1 + binding.Length];
        aad[0] = Version;
        binding.CopyTo(aad.AsSpan(1));
        return aad;
    }
}
