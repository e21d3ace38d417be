// Authenticated encryption of one 8192-byte LiteDB page into one physical slot, and the MACs of the file header.
//
// Keys: from the 32-byte master key and the database id (random, in the data file header) HKDF-SHA256 derives one
// page key per file role ("data", "log", "temp") and one header MAC key. Each write draws a fresh 24-byte random
// nonce: its first 12 bytes select a per-write AES-256 key, HMAC-SHA256(roleKey, nonce[0..12]), and its last
// 12 bytes are the AES-GCM nonce. A per-write key lifts the 2^32-messages bound of random 96-bit GCM nonces under
// one key (XAES-256-GCM follows the same idea), so the number of page writes over the box's life needs no counting.
// The associated data binds each slot to its place: format version, file role, database id and page number, so a
// page copied to another position, into the other file or into another database fails authentication.
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Edge.Agent.Index.Storage;

internal enum PageFileRole : byte
{
    Data = 1,
    Log = 2,
    Temp = 3,
}

internal sealed class PageCipher
{
    public const int PageSize = 8192;
    public const int NonceSize = 24;
    public const int TagSize = 16;
    public const int SlotSize = NonceSize + TagSize + PageSize; // 8232
    public const int DatabaseIdSize = 16;
    public const byte FormatVersion = 1;

    private static readonly byte[] AadMagic = "EDGEIDX1"u8.ToArray();

    private readonly byte[] _pageKey;
    private readonly byte[] _headerKey;
    private readonly byte[] _aadPrefix;

    public PageCipher(ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> databaseId, PageFileRole role)
    {
        if (databaseId.Length != DatabaseIdSize)
            throw new ArgumentException($"database id must be {DatabaseIdSize} bytes", nameof(databaseId));
        Role = role;
        var roleName = RoleName(role);
        _pageKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey.ToArray(), 32, databaseId.ToArray(),
            System.Text.Encoding.ASCII.GetBytes($"edge-index/v1/page-key/{roleName}"));
        // The header key does not depend on the role: the header itself names its role and is MACed whole.
        _headerKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey.ToArray(), 32, databaseId.ToArray(),
            "edge-index/v1/header-mac"u8.ToArray());

        _aadPrefix = new byte[AadMagic.Length + 2 + DatabaseIdSize];
        AadMagic.CopyTo(_aadPrefix, 0);
        _aadPrefix[AadMagic.Length] = FormatVersion;
        _aadPrefix[AadMagic.Length + 1] = (byte)role;
        databaseId.CopyTo(_aadPrefix.AsSpan(AadMagic.Length + 2));
    }

    public PageFileRole Role { get; }

    public static string RoleName(PageFileRole role) => role switch
    {
        PageFileRole.Data => "data",
        PageFileRole.Log => "log",
        PageFileRole.Temp => "temp",
        _ => $"unknown({(byte)role})",
    };

    /// <summary>Encrypts <paramref name="page"/> (8192 bytes) for page number <paramref name="pageNumber"/> into <paramref name="slot"/>.</summary>
    public void Seal(long pageNumber, ReadOnlySpan<byte> page, Span<byte> slot)
    {
        var nonce = slot[..NonceSize];
        var tag = slot.Slice(NonceSize, TagSize);
        var ciphertext = slot.Slice(NonceSize + TagSize, PageSize);
        RandomNumberGenerator.Fill(nonce);

        Span<byte> writeKey = stackalloc byte[32];
        Span<byte> aad = stackalloc byte[_aadPrefix.Length + 8];
        DeriveWriteKey(nonce[..12], writeKey);
        BuildAad(pageNumber, aad);
        using var gcm = new AesGcm(writeKey, TagSize);
        gcm.Encrypt(nonce[12..], page, ciphertext, tag, aad);
        CryptographicOperations.ZeroMemory(writeKey);
    }

    /// <summary>Decrypts a slot into <paramref name="page"/>; false when it does not authenticate as page <paramref name="pageNumber"/>.</summary>
    public bool TryOpen(long pageNumber, ReadOnlySpan<byte> slot, Span<byte> page)
    {
        var nonce = slot[..NonceSize];
        var tag = slot.Slice(NonceSize, TagSize);
        var ciphertext = slot.Slice(NonceSize + TagSize, PageSize);

        Span<byte> writeKey = stackalloc byte[32];
        Span<byte> aad = stackalloc byte[_aadPrefix.Length + 8];
        DeriveWriteKey(nonce[..12], writeKey);
        BuildAad(pageNumber, aad);
        try
        {
            using var gcm = new AesGcm(writeKey, TagSize);
            gcm.Decrypt(nonce[12..], ciphertext, tag, page, aad);
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            page.Clear();
            return false;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(writeKey);
        }
    }

    public void HeaderMac(ReadOnlySpan<byte> data, Span<byte> mac) => HMACSHA256.HashData(_headerKey, data, mac);

    public bool CheckHeaderMac(ReadOnlySpan<byte> data, ReadOnlySpan<byte> mac)
    {
        Span<byte> expected = stackalloc byte[32];
        HMACSHA256.HashData(_headerKey, data, expected);
        return CryptographicOperations.FixedTimeEquals(expected, mac);
    }

    private void DeriveWriteKey(ReadOnlySpan<byte> keyNonce, Span<byte> writeKey) =>
        HMACSHA256.HashData(_pageKey, keyNonce, writeKey);

    private void BuildAad(long pageNumber, Span<byte> aad)
    {
        _aadPrefix.CopyTo(aad);
        BinaryPrimitives.WriteInt64LittleEndian(aad[_aadPrefix.Length..], pageNumber);
    }
}
