// The owner's command-signing pair (docs/protocol.md, "commands"): owner-sign.key signs commands at the central,
// owner-sign.pub goes to the box (edge.json: sync.commandPublicKey). ECDSA P-256, kept apart from the sealing key
// (owner.key, ECDH) so that the central can sign without holding the key that opens footage in the same file.
using System.Security.Cryptography;
using System.Text;
using Edge.Hardware.Storage;
using Edge.Sync;

namespace Edge.Agent.Sealing;

public sealed record SigningKeyPair(string PrivateKeyPath, string PublicKeyPath, bool Encrypted);

public static class CommandSigningKeys
{
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

    private static void Write(string path, string content, UnixFileMode mode)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = mode };
        using var stream = new FileStream(path, options);
        stream.Write(Encoding.ASCII.GetBytes(content));
        stream.Flush(flushToDisk: true);
    }
}
