// An encrypted export, for carrying out on removable media: every file of the export (MP4s, manifest.json,
// manifest.sig) is sealed on its own in the segment format (docs/sealed-format.md) under a fresh data key, as
// NAME.sealed, and export-sealed.json (plain) lists the files with their wrapped data keys and the stored files'
// sizes and SHA-256 (checkable without a key). The data key is wrapped either to a recipient's P-256 public key
// (exactly the segment key wrap) or under a key derived from a passphrase (PBKDF2-HMAC-SHA256, 600,000 rounds, then
// AES-256-GCM). Each file's binding is SHA-256("edge-seal/v1/binding" ‖ 0 ‖ "edge-export/" ‖ NAME), so sealed files
// cannot be swapped between names. The byte layout is in docs/design/export.md.
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Edge.Agent.Cli;
using Edge.Agent.Sealing;

namespace Edge.Agent.Export;

public sealed class SealedExportException(string message, Exception? inner = null) : Exception(message, inner);

public sealed record SealedExportIndex(string Format, string Method, string? RecipientKeyId, SealedExportKdf? Kdf, IReadOnlyList<SealedExportFile> Files);

public sealed record SealedExportKdf(string Name, int Iterations, byte[] Salt);

public sealed record SealedExportFile(string Name, string SealedName, long StoredBytes, string StoredSha256, byte[] WrappedKey);

/// <summary>How the export's data keys are wrapped: to a recipient's public key, or under a passphrase.</summary>
public abstract class ExportKeyWrap
{
    public const string MethodRecipient = "p256";
    public const string MethodPassphrase = "passphrase";
    public const byte PassphraseWrapVersion = 0x02;
    public const int PassphraseIterations = OwnerKeys.PassphraseIterations;

    public abstract string Method { get; }
    public abstract string? RecipientKeyId { get; }
    public abstract SealedExportKdf? Kdf { get; }
    public abstract byte[] Wrap(ReadOnlySpan<byte> dataKey, ReadOnlySpan<byte> binding);

    public static ExportKeyWrap ToRecipient(OwnerPublicKey recipient) => new RecipientWrap(recipient);

    public static ExportKeyWrap WithPassphrase(string passphrase) => new PassphraseWrap(passphrase, RandomNumberGenerator.GetBytes(16), PassphraseIterations);

    private sealed class RecipientWrap(OwnerPublicKey recipient) : ExportKeyWrap
    {
        public override string Method => MethodRecipient;
        public override string? RecipientKeyId => recipient.KeyId;
        public override SealedExportKdf? Kdf => null;
        public override byte[] Wrap(ReadOnlySpan<byte> dataKey, ReadOnlySpan<byte> binding) => SealedFormat.Wrap(dataKey, recipient, binding);
    }

    internal sealed class PassphraseWrap : ExportKeyWrap
    {
        private readonly byte[] _kek;

        public PassphraseWrap(string passphrase, byte[] salt, int iterations)
        {
            Kdf = new SealedExportKdf("PBKDF2-HMAC-SHA256", iterations, salt);
            _kek = Rfc2898DeriveBytes.Pbkdf2(passphrase, salt, iterations, HashAlgorithmName.SHA256, SealedFormat.DataKeySize);
        }

        public override string Method => MethodPassphrase;
        public override string? RecipientKeyId => null;
        public override SealedExportKdf? Kdf { get; }

        /// <summary>0x02 ‖ nonce (12) ‖ encrypted data key (32) ‖ tag (16); AAD = 0x02 ‖ binding.</summary>
        public override byte[] Wrap(ReadOnlySpan<byte> dataKey, ReadOnlySpan<byte> binding)
        {
            var wrapped = new byte[1 + SealedFormat.NonceSize + SealedFormat.DataKeySize + SealedFormat.TagSize];
            wrapped[0] = PassphraseWrapVersion;
            RandomNumberGenerator.Fill(wrapped.AsSpan(1, SealedFormat.NonceSize));
            using var gcm = new AesGcm(_kek, SealedFormat.TagSize);
            gcm.Encrypt(wrapped.AsSpan(1, SealedFormat.NonceSize), dataKey, wrapped.AsSpan(1 + SealedFormat.NonceSize, SealedFormat.DataKeySize),
                wrapped.AsSpan(1 + SealedFormat.NonceSize + SealedFormat.DataKeySize), Aad(binding));
            return wrapped;
        }

        public byte[]? Unwrap(ReadOnlySpan<byte> wrapped, ReadOnlySpan<byte> binding)
        {
            if (wrapped.Length != 1 + SealedFormat.NonceSize + SealedFormat.DataKeySize + SealedFormat.TagSize || wrapped[0] != PassphraseWrapVersion) return null;
            var dataKey = new byte[SealedFormat.DataKeySize];
            using var gcm = new AesGcm(_kek, SealedFormat.TagSize);
            try
            {
                gcm.Decrypt(wrapped.Slice(1, SealedFormat.NonceSize), wrapped.Slice(1 + SealedFormat.NonceSize, SealedFormat.DataKeySize),
                    wrapped.Slice(1 + SealedFormat.NonceSize + SealedFormat.DataKeySize), dataKey, Aad(binding));
                return dataKey;
            }
            catch (AuthenticationTagMismatchException) { return null; }
        }

        private static byte[] Aad(ReadOnlySpan<byte> binding)
        {
            var aad = new byte[1 + binding.Length];
            aad[0] = PassphraseWrapVersion;
            binding.CopyTo(aad.AsSpan(1));
            return aad;
        }
    }
}

public static class SealedExport
{
    public const string IndexFileName = "export-sealed.json";
    public const string Format = "edge-export-sealed/v1";
    public const string BindingPrefix = "edge-export/";

    public static byte[] Binding(string name) => SealedFormat.Binding(BindingPrefix + name);

    /// <summary>Seals <paramref name="plaintext"/> as DIR/NAME.sealed (mode 0600, fsynced); returns its entry for export-sealed.json.</summary>
    public static SealedExportFile SealFile(Stream plaintext, string name, string directory, ExportKeyWrap wrap)
    {
        var sealedName = name + SealedFormat.Extension;
        var path = Path.Combine(directory, sealedName);
        var binding = Binding(name);
        var dataKey = RandomNumberGenerator.GetBytes(SealedFormat.DataKeySize);
        try
        {
            var wrapped = wrap.Wrap(dataKey, binding);
            using var target = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            var result = SealWriter.Seal(plaintext, target, dataKey, binding, SealedFormat.DefaultChunkSize, parallel: false);
            target.Flush(flushToDisk: true);
            return new SealedExportFile(name, sealedName, result.StoredBytes, result.StoredSha256, wrapped);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }
    }

    public static void WriteIndex(string directory, ExportKeyWrap wrap, IReadOnlyList<SealedExportFile> files)
    {
        var index = new SealedExportIndex(Format, wrap.Method, wrap.RecipientKeyId, wrap.Kdf, files);
        var path = Path.Combine(directory, IndexFileName);
        using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
        });
        stream.Write(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(index, CliJson.Options) + "\n"));
        stream.Flush(flushToDisk: true);
    }

    public static bool IsSealed(string directory) => File.Exists(Path.Combine(directory, IndexFileName));

    public static SealedExportIndex ReadIndex(string directory)
    {
        var path = Path.Combine(directory, IndexFileName);
        try
        {
            var index = JsonSerializer.Deserialize<SealedExportIndex>(File.ReadAllText(path), CliJson.Options);
            if (index is null || index.Format != Format || index.Files is null)
                throw new SealedExportException($"{path} is not an encrypted-export index of format {Format}.");
            return index;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new SealedExportException($"{path} could not be read as an encrypted-export index ({e.Message}).", e);
        }
    }

    /// <summary>
    /// Decrypts every file of a sealed export into <paramref name="outputDirectory"/> (which must not exist; it appears
    /// only when every file opened and verified). Give the recipient's private key or the passphrase, as the index's method says.
    /// </summary>
    public static IReadOnlyList<string> Open(string sealedDirectory, string outputDirectory, OwnerPrivateKey? recipientKey, string? passphrase)
    {
        var index = ReadIndex(sealedDirectory);
        Func<SealedExportFile, byte[]?> unwrap;
        PassphraseOrKey(index, recipientKey, passphrase);
        if (index.Method == ExportKeyWrap.MethodRecipient)
            unwrap = f => SealedFormat.Unwrap(f.WrappedKey, recipientKey!.Key, recipientKey.Public.Point, Binding(f.Name));
        else
        {
            var kdf = index.Kdf!;
            var wrap = new ExportKeyWrap.PassphraseWrap(passphrase!, kdf.Salt, kdf.Iterations);
            unwrap = f => wrap.Unwrap(f.WrappedKey, Binding(f.Name));
        }
        foreach (var file in index.Files)
            if (file.Name.Contains('/') || file.Name.Contains('\\') || file.Name is "." or ".." || file.SealedName != file.Name + SealedFormat.Extension)
                throw new SealedExportException($"{IndexFileName}: file name '{file.Name}' is not a plain file name; the index was changed.");

        outputDirectory = Path.GetFullPath(outputDirectory);
        if (Path.Exists(outputDirectory))
            throw new SealedExportException($"{outputDirectory} already exists; choose a new --out directory.");
        var partial = Path.Combine(Path.GetDirectoryName(outputDirectory)!, "." + Path.GetFileName(outputDirectory) + ".partial");
        if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        Directory.CreateDirectory(partial, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            var opened = new List<string>();
            foreach (var file in index.Files)
            {
                var sealedPath = Path.Combine(sealedDirectory, file.SealedName);
                if (!File.Exists(sealedPath))
                    throw new SealedExportException($"{file.SealedName}: missing from {sealedDirectory}; the export is incomplete.");
                var check = new SealedSegmentRef(0, "", sealedPath, BindingPrefix + file.Name, file.StoredBytes, file.StoredSha256, 0, "", file.WrappedKey, "");
                try { SealedSegments.CheckStoredFile(check); }
                catch (SealedSegmentException e) { throw new SealedExportException($"{file.SealedName}: changed since it was written ({e.Message})", e); }
                var dataKey = unwrap(file) ?? throw new SealedExportException(index.Method == ExportKeyWrap.MethodRecipient
                    ? $"{file.SealedName}: its data key does not open with key {recipientKey!.KeyId}; the export was encrypted to key {index.RecipientKeyId}."
                    : $"{file.SealedName}: its data key does not open with this passphrase: wrong passphrase, or {IndexFileName} was changed.");
                try
                {
                    using var input = new FileStream(sealedPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
                    using var output = new FileStream(Path.Combine(partial, file.Name), new FileStreamOptions
                    {
                        Mode = FileMode.CreateNew, Access = FileAccess.Write, BufferSize = 1 << 20, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                    });
                    try { SealReader.Open(input, file.SealedName, dataKey, Binding(file.Name), output); }
                    catch (SealedSegmentException e) { throw new SealedExportException($"{file.SealedName}: {e.Message}", e); }
                    output.Flush(flushToDisk: true);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(dataKey);
                }
                opened.Add(file.Name);
            }
            Directory.Move(partial, outputDirectory);
            Edge.Hardware.Storage.DurableFile.FsyncDirectory(Path.GetDirectoryName(outputDirectory)!);
            return opened;
        }
        catch
        {
            Directory.Delete(partial, recursive: true);
            throw;
        }
    }

    private static void PassphraseOrKey(SealedExportIndex index, OwnerPrivateKey? key, string? passphrase)
    {
        switch (index.Method)
        {
            case ExportKeyWrap.MethodRecipient when key is null:
                throw new SealedExportException($"This export was encrypted to public key {index.RecipientKeyId}: give its private key with --key.");
            case ExportKeyWrap.MethodRecipient when key.KeyId != index.RecipientKeyId:
                throw new SealedExportException($"This export was encrypted to key {index.RecipientKeyId}, but the key given is {key.KeyId}. Use the private key whose public key was given to --encrypt-to.");
            case ExportKeyWrap.MethodPassphrase when passphrase is null:
                throw new SealedExportException("This export was encrypted with a passphrase: give it with --passphrase-file FILE.");
            case ExportKeyWrap.MethodPassphrase when index.Kdf is null || index.Kdf.Salt is not { Length: >= 16 } || index.Kdf.Iterations < 100_000:
                throw new SealedExportException($"{IndexFileName}: the passphrase parameters are missing or weakened (salt, iterations); the index was changed.");
            case ExportKeyWrap.MethodRecipient or ExportKeyWrap.MethodPassphrase:
                return;
            default:
                throw new SealedExportException($"{IndexFileName}: unknown method '{index.Method}'; expected '{ExportKeyWrap.MethodRecipient}' or '{ExportKeyWrap.MethodPassphrase}'.");
        }
    }
}
