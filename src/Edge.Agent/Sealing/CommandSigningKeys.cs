// The owner's command-signing pair (docs/protocol.md, "commands"): owner-sign.key signs commands at the central,
// owner-sign.pub goes to the box (edge.json: sync.commandPublicKey). ECDSA P-256, kept apart from the sealing key
// (owner.key, ECDH) so that the central can sign without holding the key that opens footage in the same file.
// Every problem with a key file is an OwnerKeyException naming the file and what was expected.
using System.Security.Cryptography;
using System.Text;
using Edge.Hardware.Storage;
using Edge.Sync;

namespace Edge.Agent.Sealing;

public sealed record SigningKeyPair(string PrivateKeyPath, string PublicKeyPath, bool Encrypted);

public static class CommandSigningKeys
{
    public const string PrivateKeyFileName = CommandSigning.PrivateKeyFileName;
    public const string PublicKeyFileName = CommandSigning.PublicKeyFileName;
    private const string P256Oid = "1.2.840.10045.3.1.7";
    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Writes DIR/owner-sign.key (PKCS#8 PEM, encrypted like owner.key when a passphrase is given, mode 0600) and DIR/owner-sign.pub.</summary>
    public static SigningKeyPair CreatePair(string dir, string? passphrase)
    {
        var directory = Path.GetFullPath(dir);
        var privatePath = Path.Combine(directory, CommandSigning.PrivateKeyFileName);
        var publicPath = Path.Combine(directory, CommandSigning.PublicKeyFileName);
        foreach (var existing in new[] { privatePath, publicPath }.Where(Path.Exists))
            throw new OwnerKeyException(existing, $"{existing} already exists; refusing to overwrite the command-signing key (boxes trusting it would refuse the central's commands).");
        Directory.CreateDirectory(directory);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var privatePem = passphrase is null
            ? key.ExportPkcs8PrivateKeyPem()
            : key.ExportEncryptedPkcs8PrivateKeyPem(passphrase, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, OwnerKeys.PassphraseIterations));
        Write(privatePath, privatePem + "\n", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try
        {
            Write(publicPath, PemEncoding.WriteString("PUBLIC KEY", key.ExportSubjectPublicKeyInfo()) + "\n",
                UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }
        catch
        {
            File.Delete(privatePath);
            throw;
        }
        DurableFile.FsyncDirectory(directory);
        return new SigningKeyPair(privatePath, publicPath, passphrase is not null);
    }

    public static bool IsEncrypted(string path) => Label(Read(path), path) == "ENCRYPTED PRIVATE KEY";

    /// <summary>Loads owner-sign.key; the passphrase is needed when it is encrypted and ignored otherwise.</summary>
    public static ECDsa LoadPrivate(string path, string? passphrase)
    {
        path = Path.GetFullPath(path);
        var text = Read(path);
        var label = Label(text, path);
        var key = ECDsa.Create();
        try
        {
            switch (label)
            {
                case "ENCRYPTED PRIVATE KEY":
                    if (passphrase is null) throw new OwnerKeyException(path, $"{path} is encrypted; a passphrase is required (passphraseFile).");
                    try { key.ImportFromEncryptedPem(text, passphrase); }
                    catch (CryptographicException e) { throw new OwnerKeyException(path, $"{path} did not decrypt with the passphrase given: wrong passphrase, or the file is damaged.", e); }
                    break;
                case "PRIVATE KEY":
                    if ((File.GetUnixFileMode(path) & GroupOrOther) != 0)
                        throw new OwnerKeyException(path, $"{path} is an unencrypted private key readable by others; expected mode 0600 (anyone who reads it can command every box). Run `chmod 600 {path}`.");
                    try { key.ImportFromPem(text); }
                    catch (Exception e) when (e is CryptographicException or ArgumentException)
                    { throw new OwnerKeyException(path, $"{path} is not an EC private key ({e.Message}); expected owner-sign.key (ECDSA P-256, PKCS#8 PEM).", e); }
                    break;
                default:
                    throw new OwnerKeyException(path, $"{path} holds a PEM '{label}'; expected the command-signing private key (owner-sign.key: 'PRIVATE KEY' or 'ENCRYPTED PRIVATE KEY').");
            }
            RequireP256(key, path);
            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    public static ECDsa LoadPublic(string path)
    {
        path = Path.GetFullPath(path);
        var text = Read(path);
        if (Label(text, path) != "PUBLIC KEY")
            throw new OwnerKeyException(path, $"{path} is not a PEM 'PUBLIC KEY'; expected owner-sign.pub (ECDSA P-256).");
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(text);
            RequireP256(key, path);
            return key;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            key.Dispose();
            throw new OwnerKeyException(path, $"{path} is not an EC P-256 public key ({e.Message}).", e);
        }
    }

    private static void RequireP256(ECDsa key, string path)
    {
        if (key.ExportParameters(false).Curve.Oid?.Value != P256Oid)
        {
            key.Dispose();
            throw new OwnerKeyException(path, $"{path} is not on curve P-256; commands are signed with ECDSA P-256.");
        }
    }

    private static string Read(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new OwnerKeyException(path, $"{path} does not exist; expected a command-signing key file ({PrivateKeyFileName} or {PublicKeyFileName}).");
            if (info.Length > 64 * 1024) throw new OwnerKeyException(path, $"{path} is {info.Length} bytes; expected a PEM key file of under 1 KiB.");
            return File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OwnerKeyException(path, $"{path} could not be read: {e.Message}", e);
        }
    }

    private static string Label(string text, string path) => PemEncoding.TryFind(text, out var fields)
        ? text[fields.Label].ToString()
        : throw new OwnerKeyException(path, $"{path} is not a PEM file; expected a command-signing key.");

    private static void Write(string path, string content, UnixFileMode mode)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = mode };
        using var stream = new FileStream(path, options);
        stream.Write(Encoding.ASCII.GetBytes(content));
        stream.Flush(flushToDisk: true);
    }
}
