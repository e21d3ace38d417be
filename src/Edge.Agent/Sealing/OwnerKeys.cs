// The owner's key pair (ECDH P-256). The box holds only owner.pub and seals to it; owner.key (PKCS#8 PEM, encrypted
// with a passphrase or plain with mode 0600) stays with the owner and is the only thing that opens footage. A key's id
// is the first 16 hex digits of SHA-256 of its SubjectPublicKeyInfo DER, so a record says which owner key it needs.
// See docs/sealed-format.md and docs/design/storage.md.
using System.Security.Cryptography;
using System.Text;
using Edge.Hardware.Storage;

namespace Edge.Agent.Sealing;

public sealed record OwnerKeyPair(string PrivateKeyPath, string PublicKeyPath, string KeyId, bool Encrypted);

/// <summary>An owner key file is missing, unreadable, of the wrong kind, or its passphrase is wrong.</summary>
public sealed class OwnerKeyException(string path, string message, Exception? inner = null) : Exception(message, inner)
{
    public string Path { get; } = path;
}

/// <summary>The owner's public key: enough to seal, useless for opening.</summary>
public sealed class OwnerPublicKey
{
    internal OwnerPublicKey(byte[] point, byte[] subjectPublicKeyInfo)
    {
        Point = point;
        SubjectPublicKeyInfo = subjectPublicKeyInfo;
        KeyId = OwnerKeys.KeyIdOf(subjectPublicKeyInfo);
    }

    public string KeyId { get; }

    /// <summary>The SubjectPublicKeyInfo DER (what owner.pub holds, base64 in PEM).</summary>
    public byte[] SubjectPublicKeyInfo { get; }

    /// <summary>The uncompressed SEC1 point 0x04 ‖ X ‖ Y (65 bytes), as it enters the key wrap's HKDF salt.</summary>
    internal byte[] Point { get; }

    internal ECDiffieHellman CreateEcdh()
    {
        var ecdh = ECDiffieHellman.Create();
        ecdh.ImportSubjectPublicKeyInfo(SubjectPublicKeyInfo, out _);
        return ecdh;
    }
}

/// <summary>The owner's private key. Only the owner's own `edge segments open` (or the demo) ever loads one.</summary>
public sealed class OwnerPrivateKey : IDisposable
{
    internal OwnerPrivateKey(ECDiffieHellman key)
    {
        Key = key;
        var spki = key.ExportSubjectPublicKeyInfo();
        Public = new OwnerPublicKey(OwnerKeys.PointOf(key), spki);
    }

    internal ECDiffieHellman Key { get; }

    public OwnerPublicKey Public { get; }

    public string KeyId => Public.KeyId;

    public void Dispose() => Key.Dispose();
}

public static class OwnerKeys
{
    public const string PrivateKeyFileName = "owner.key";
    public const string PublicKeyFileName = "owner.pub";

    /// <summary>PBKDF2-HMAC-SHA256 rounds protecting owner.key (OWASP's 2023 figure): about 0.4 s on x64, a few s on a Pi.</summary>
    public const int PassphraseIterations = 600_000;

    private const string P256Oid = "1.2.840.10045.3.1.7";
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    public static string KeyIdOf(byte[] subjectPublicKeyInfo) => Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo))[..16];

    /// <summary>
    /// Writes DIR/owner.key (PKCS#8 PEM; encrypted with PBES2 AES-256-CBC + PBKDF2-SHA256 when a passphrase is given,
    /// plain otherwise; mode 0600 either way) and DIR/owner.pub (SubjectPublicKeyInfo PEM). Refuses to overwrite.
    /// </summary>
    public static OwnerKeyPair CreatePair(string dir, string? passphrase)
    {
        var directory = Path.GetFullPath(dir);
        var privatePath = Path.Combine(directory, PrivateKeyFileName);
        var publicPath = Path.Combine(directory, PublicKeyFileName);
        foreach (var existing in new[] { privatePath, publicPath }.Where(Path.Exists))
            throw new OwnerKeyException(existing,
                $"{existing} already exists; refusing to overwrite an owner key (footage sealed to it would become unreadable). " +
                "Choose another --out directory, or move the old pair away first if you are sure nothing was sealed to it.");
        if (passphrase is { Length: 0 })
            throw new OwnerKeyException(privatePath, "The passphrase is empty; expected at least one character. Use --no-passphrase for a plain key file kept with mode 0600.");

        if (!Directory.Exists(directory))
        {
            DurableFile.CreateDirectoryDurably(directory);
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        using var key = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var privatePem = passphrase is null
            ? key.ExportPkcs8PrivateKeyPem()
            : key.ExportEncryptedPkcs8PrivateKeyPem(passphrase,
                new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, PassphraseIterations));
        var spki = key.ExportSubjectPublicKeyInfo();
        var publicPem = PemEncoding.WriteString("PUBLIC KEY", spki);
        WriteNew(privatePath, privatePem + "\n", OwnerOnly);
        try
        {
            WriteNew(publicPath, publicPem + "\n", OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }
        catch
        {
            // Only the half written here is removed: a public key that appeared meanwhile is someone else's.
            File.Delete(privatePath);
            throw;
        }
        DurableFile.FsyncDirectory(directory);
        return new OwnerKeyPair(privatePath, publicPath, KeyIdOf(spki), passphrase is not null);
    }

    /// <summary>Whether the private key file is passphrase-protected (so the caller knows to ask for one).</summary>
    public static bool IsEncrypted(string path) => Label(ReadPem(path), path) == "ENCRYPTED PRIVATE KEY";

    public static OwnerPublicKey LoadPublic(string path)
    {
        path = Path.GetFullPath(path);
        var text = ReadPem(path);
        var label = Label(text, path);
        if (label is "PRIVATE KEY" or "ENCRYPTED PRIVATE KEY")
            throw new OwnerKeyException(path,
                $"{path} is a private key; expected the owner's public key (owner.pub). The box must hold only owner.pub: " +
                "remove this file from the box and keep it with the owner.");
        if (label != "PUBLIC KEY")
            throw new OwnerKeyException(path, $"{path} holds a PEM '{label}'; expected 'PUBLIC KEY' (an owner.pub written by `edge keys init-owner`).");
        using var ecdh = ECDiffieHellman.Create();
        try
        {
            ecdh.ImportFromPem(text);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new OwnerKeyException(path, $"{path} is not an EC P-256 public key ({e.Message}); expected an owner.pub written by `edge keys init-owner`.", e);
        }
        RequireP256(ecdh, path);
        return new OwnerPublicKey(PointOf(ecdh), ecdh.ExportSubjectPublicKeyInfo());
    }

    /// <summary>Loads owner.key; <paramref name="passphrase"/> is required when the file is encrypted and ignored otherwise.</summary>
    public static OwnerPrivateKey LoadPrivate(string path, string? passphrase)
    {
        path = Path.GetFullPath(path);
        var text = ReadPem(path);
        var label = Label(text, path);
        var ecdh = ECDiffieHellman.Create();
        try
        {
            switch (label)
            {
                case "ENCRYPTED PRIVATE KEY":
                    if (passphrase is null)
                        throw new OwnerKeyException(path, $"{path} is encrypted; a passphrase is required (--passphrase-file FILE, or run in a terminal to be asked).");
                    try { ecdh.ImportFromEncryptedPem(text, passphrase); }
                    catch (CryptographicException e)
                    {
                        throw new OwnerKeyException(path, $"{path} did not decrypt with the passphrase given: wrong passphrase, or the file is damaged. Try again with the passphrase chosen at `edge keys init-owner`.", e);
                    }
                    break;
                case "PRIVATE KEY":
                    if ((File.GetUnixFileMode(path) & GroupOrOther) != 0)
                        throw new OwnerKeyException(path,
                            $"{path} is an unencrypted private key with mode {ToOctal(File.GetUnixFileMode(path))}; expected 0600, because anyone who can read it can open all footage. " +
                            $"Run `chmod 600 {path}` and check who may have copied it.");
                    try { ecdh.ImportFromPem(text); }
                    catch (Exception e) when (e is CryptographicException or ArgumentException)
                    {
                        throw new OwnerKeyException(path, $"{path} is not an EC private key ({e.Message}); expected an owner.key written by `edge keys init-owner`.", e);
                    }
                    break;
                case "PUBLIC KEY":
                    throw new OwnerKeyException(path,
                        $"{path} is a public key (owner.pub); opening footage needs the owner's private key (owner.key), which is never kept on the box.");
                default:
                    throw new OwnerKeyException(path, $"{path} holds a PEM '{label}'; expected an owner private key ('PRIVATE KEY' or 'ENCRYPTED PRIVATE KEY').");
            }
            RequireP256(ecdh, path);
            return new OwnerPrivateKey(ecdh);
        }
        catch
        {
            ecdh.Dispose();
            throw;
        }
    }

    internal static byte[] PointOf(ECDiffieHellman key)
    {
        var q = key.ExportParameters(false).Q;
        var point = new byte[65];
        point[0] = 0x04;
        q.X!.CopyTo(point, 1);
        q.Y!.CopyTo(point, 33);
        return point;
    }

    private static void RequireP256(ECDiffieHellman key, string path)
    {
        var curve = key.ExportParameters(false).Curve;
        if (curve.Oid?.Value != P256Oid)
            throw new OwnerKeyException(path, $"{path} is an EC key on curve {curve.Oid?.FriendlyName ?? curve.Oid?.Value ?? "(unnamed)"}; expected NIST P-256.");
    }

    private static string ReadPem(string path)
    {
        if (Directory.Exists(path))
            throw new OwnerKeyException(path, $"{path} is a directory; expected an owner key file (owner.key or owner.pub).");
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new OwnerKeyException(path, $"{path} does not exist; expected an owner key file written by `edge keys init-owner`.");
            // A PEM key is well under 1 KiB; anything large is not a key and is not read whole.
            if (info.Length > 64 * 1024) throw new OwnerKeyException(path, $"{path} is {info.Length} bytes; expected a PEM key file of under 1 KiB.");
            return File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OwnerKeyException(path, $"{path} could not be read: {e.Message}. Check the path and that you may read it.", e);
        }
    }

    private static string Label(string text, string path)
    {
        if (!PemEncoding.TryFind(text, out var fields))
            throw new OwnerKeyException(path, $"{path} is not a PEM file; expected an owner key written by `edge keys init-owner` (owner.key or owner.pub).");
        return text[fields.Label].ToString();
    }

    private static void WriteNew(string path, string content, UnixFileMode mode)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = mode };
        using var stream = new FileStream(path, options);
        try
        {
            stream.Write(Encoding.ASCII.GetBytes(content));
            stream.Flush(flushToDisk: true);
        }
        catch
        {
            File.Delete(path); // created by us just above: never leave half a key under its real name
            throw;
        }
    }

    private static string ToOctal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0xFFF, 8);
}
