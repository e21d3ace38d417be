// The box's own signing key (ECDSA P-256): it signs what the box vouches for, such as an export's manifest, so
// anyone holding the box's public key can check it was not altered. device.key (PKCS#8 PEM, 0600) and device.pub
// (SubjectPublicKeyInfo PEM) live beside the index key (index.keyFile's directory); `edge run` and `edge provision`
// create them when missing and never replace them. The key id is computed like an owner key's (OwnerKeys.KeyIdOf).
// See docs/design/export.md.
using System.Security.Cryptography;
using System.Text;
using Edge.Hardware.Storage;

namespace Edge.Agent.Sealing;

/// <summary>device.key or device.pub is missing, unreadable, not a P-256 key, or too widely readable.</summary>
public sealed class DeviceKeyException(string path, string message, Exception? inner = null) : Exception(message, inner)
{
    public string Path { get; } = path;
}

/// <summary>The device's public key: what a signature is checked against.</summary>
public sealed class DevicePublicKey
{
    private DevicePublicKey(byte[] subjectPublicKeyInfo)
    {
        SubjectPublicKeyInfo = subjectPublicKeyInfo;
        KeyId = OwnerKeys.KeyIdOf(subjectPublicKeyInfo);
    }

    public byte[] SubjectPublicKeyInfo { get; }
    public string KeyId { get; }
    public string Pem => PemEncoding.WriteString("PUBLIC KEY", SubjectPublicKeyInfo);

    /// <summary>A P-256 public key from PEM text; <paramref name="source"/> names where it came from in errors.</summary>
    public static DevicePublicKey FromPem(string pem, string source)
    {
        using var key = ECDsa.Create();
        try { key.ImportFromPem(pem); }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new DeviceKeyException(source, $"{source} is not an EC public key in PEM ({e.Message}); expected a device.pub (PEM 'PUBLIC KEY', ECDSA P-256).", e);
        }
        DeviceSigningKey.RequireP256(key, source);
        return new DevicePublicKey(key.ExportSubjectPublicKeyInfo());
    }

    /// <summary>Checks a DER (RFC 3279) ECDSA-SHA256 signature over exactly these bytes.</summary>
    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        using var key = ECDsa.Create();
        key.ImportSubjectPublicKeyInfo(SubjectPublicKeyInfo, out _);
        try { return key.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence); }
        catch (CryptographicException) { return false; } // not a DER signature at all
    }
}

/// <summary>The device's private signing key. Only the box (the agent, provisioning, an export run on it) loads it.</summary>
public sealed class DeviceSigningKey : IDisposable
{
    public const string PrivateKeyFileName = "device.key";
    public const string PublicKeyFileName = "device.pub";

    private const string P256Oid = "1.2.840.10045.3.1.7";
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private readonly ECDsa _key;

    private DeviceSigningKey(ECDsa key, string privatePath)
    {
        _key = key;
        PrivateKeyPath = privatePath;
        Public = DevicePublicKey.FromPem(key.ExportSubjectPublicKeyInfoPem(), privatePath);
    }

    public string PrivateKeyPath { get; }
    public DevicePublicKey Public { get; }
    public string KeyId => Public.KeyId;

    /// <summary>The directory of the device key: the index key's (index.keyFile's) directory.</summary>
    public static string DirectoryFor(string indexKeyFile) => System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexKeyFile))!;

    public static string PrivatePathFor(string indexKeyFile) => System.IO.Path.Combine(DirectoryFor(indexKeyFile), PrivateKeyFileName);
    public static string PublicPathFor(string indexKeyFile) => System.IO.Path.Combine(DirectoryFor(indexKeyFile), PublicKeyFileName);

    /// <summary>
    /// Loads DIR/device.key, or creates it (and DIR/device.pub) when missing. An existing key is never replaced: a box
    /// that got a new key would no longer match the public key the central and past exports know it by.
    /// device.pub is rewritten from the private key when it is missing or differs.
    /// </summary>
    public static DeviceSigningKey LoadOrCreate(string directory, out bool created)
    {
        directory = System.IO.Path.GetFullPath(directory);
        var privatePath = System.IO.Path.Combine(directory, PrivateKeyFileName);
        var publicPath = System.IO.Path.Combine(directory, PublicKeyFileName);
        created = false;
        DeviceSigningKey key;
        if (File.Exists(privatePath)) key = Load(privatePath);
        else
        {
            if (!Directory.Exists(directory))
            {
                DurableFile.CreateDirectoryDurably(directory);
                File.SetUnixFileMode(directory, OwnerOnly | UnixFileMode.UserExecute);
            }
            var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            try
            {
                WriteAtomically(privatePath, ecdsa.ExportPkcs8PrivateKeyPem() + "\n", OwnerOnly, createNew: true);
                key = new DeviceSigningKey(ecdsa, privatePath);
            }
            catch
            {
                ecdsa.Dispose();
                throw;
            }
            created = true;
        }
        try
        {
            var wanted = key.Public.Pem + "\n";
            if (!File.Exists(publicPath) || File.ReadAllText(publicPath) != wanted)
                WriteAtomically(publicPath, wanted, OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead, createNew: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            key.Dispose();
            throw new DeviceKeyException(publicPath, $"{publicPath} could not be written: {e.Message}. Check that the key directory is writable by the agent's user.", e);
        }
        return key;
    }

    /// <summary>Loads an existing device.key (mode 0600 required: whoever reads it can sign as this box).</summary>
    public static DeviceSigningKey Load(string privatePath)
    {
        privatePath = System.IO.Path.GetFullPath(privatePath);
        string text;
        try
        {
            if (!File.Exists(privatePath))
                throw new DeviceKeyException(privatePath, $"{privatePath} does not exist; the device signing key is created by `edge run` or `edge provision` on the box. Run one of them first.");
            var mode = File.GetUnixFileMode(privatePath);
            if ((mode & GroupOrOther) != 0)
                throw new DeviceKeyException(privatePath, $"{privatePath} has mode 0{Convert.ToString((int)mode & 0xFFF, 8)}; expected 0600, because anyone who can read it can sign as this box. " +
                                                          $"Run `chmod 600 {privatePath}` and check who may have copied it.");
            text = File.ReadAllText(privatePath, Encoding.ASCII);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DeviceKeyException(privatePath, $"{privatePath} could not be read: {e.Message}. The device signing key is readable by the agent's user only: run this as root (sudo) or as that user.", e);
        }
        var ecdsa = ECDsa.Create();
        try
        {
            try { ecdsa.ImportFromPem(text); }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                throw new DeviceKeyException(privatePath, $"{privatePath} is not a PEM EC private key ({e.Message}); expected the device.key written by `edge run` or `edge provision`. " +
                                                          "It was left as it is: move it aside only if this box may get a new identity.", e);
            }
            RequireP256(ecdsa, privatePath);
            return new DeviceSigningKey(ecdsa, privatePath);
        }
        catch
        {
            ecdsa.Dispose();
            throw;
        }
    }

    /// <summary>Reads device.pub.</summary>
    public static DevicePublicKey LoadPublic(string publicPath)
    {
        publicPath = System.IO.Path.GetFullPath(publicPath);
        try
        {
            if (!File.Exists(publicPath))
                throw new DeviceKeyException(publicPath, $"{publicPath} does not exist; the device signing key is created by `edge run` or `edge provision` on the box. Run one of them first.");
            return DevicePublicKey.FromPem(File.ReadAllText(publicPath, Encoding.ASCII), publicPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DeviceKeyException(publicPath, $"{publicPath} could not be read: {e.Message}.", e);
        }
    }

    /// <summary>A DER (RFC 3279) ECDSA-SHA256 signature over exactly these bytes (what `openssl dgst -sha256 -verify` checks).</summary>
    public byte[] Sign(ReadOnlySpan<byte> data) => _key.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature) => Public.Verify(data, signature);

    public void Dispose() => _key.Dispose();

    internal static void RequireP256(ECDsa key, string path)
    {
        var curve = key.ExportParameters(false).Curve;
        if (curve.Oid?.Value != P256Oid)
            throw new DeviceKeyException(path, $"{path} is an EC key on curve {curve.Oid?.FriendlyName ?? curve.Oid?.Value ?? "(unnamed)"}; expected NIST P-256.");
    }

    /// <summary>Writes NAME.tmp with the final mode, fsyncs, renames over NAME, fsyncs the directory: never half a key.</summary>
    private static void WriteAtomically(string path, string content, UnixFileMode mode, bool createNew)
    {
        var temporary = path + ".tmp";
        File.Delete(temporary);
        using (var stream = new FileStream(temporary, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode }))
        {
            stream.Write(Encoding.ASCII.GetBytes(content));
            stream.Flush(flushToDisk: true);
        }
        try
        {
            if (createNew && File.Exists(path))
                throw new DeviceKeyException(path, $"{path} appeared while it was being created; it was kept.");
            File.Move(temporary, path, overwrite: !createNew);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
        DurableFile.FsyncDirectory(System.IO.Path.GetDirectoryName(path)!);
    }
}
