// The encrypting seal step: a finished segment goes from staging to its volume as a sealed file, encrypted to the
// owner's public key (docs/sealed-format.md). Only ciphertext is written: NAME.sealed.partial, fsynced. The wrapped
// data key is returned for the index and is kept nowhere else (docs/design/storage.md); the caller indexes, then
// publishes the file under its final name, then deletes the staged plaintext (in RAM on a box).
using System.Security.Cryptography;
using Edge.Agent.Recording;
using Edge.Hardware.Storage;

namespace Edge.Agent.Sealing;

/// <param name="owner">The only key the box holds: enough to seal, useless for opening.</param>
/// <param name="parallel">
/// Hash and encrypt on up to three threads. Off by default: on a box the volume's fsync, not the CPU, bounds a seal,
/// and the parallel path costs about 20 % more CPU time (docs/design/storage.md, "Performance").
/// </param>
public sealed class SealingSegmentSealer(OwnerPublicKey owner, bool parallel = false) : ISegmentSealer
{
    /// <summary>Sealed files replace the media extension (.ts, .mkv) with this one; the record keeps the container.</summary>
    public const string Extension = SealedFormat.Extension;

    /// <summary>Every sealed segment is NAME.sealed, whatever container it holds (the container is in the index).</summary>
    public string ExtensionFor(string stagedExtension) => Extension;

    public OwnerPublicKey Owner { get; } = owner;

    public Task<SealedFile> SealAsync(string stagedPath, string volume, string relativePath, CancellationToken cancellationToken) =>
        Task.Run(() => Seal(stagedPath, volume, relativePath, cancellationToken), CancellationToken.None);

    public SealedFile Seal(string stagedPath, string volume, string relativePath, CancellationToken cancellationToken = default)
    {
        var sealedRelative = Path.ChangeExtension(relativePath, Extension);
        var finalPath = Path.Combine(volume, sealedRelative);
        DurableFile.CreateDirectoryDurably(Path.GetDirectoryName(finalPath)!);
        var partialPath = finalPath + SegmentLayout.PartialSuffix;

        var binding = SealedFormat.Binding(sealedRelative);
        var dataKey = RandomNumberGenerator.GetBytes(SealedFormat.DataKeySize);
        try
        {
            var wrapped = SealedFormat.Wrap(dataKey, Owner, binding);
            SealResult result;
            // Unbuffered both ways: the writer moves whole 1 MiB batches.
            using (var source = new FileStream(stagedPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan))
            using (var target = new FileStream(partialPath, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                try
                {
                    result = SealWriter.Seal(source, target, dataKey, binding, SealedFormat.DefaultChunkSize, parallel, cancellationToken);
                    target.Flush(flushToDisk: true);
                }
                catch
                {
                    File.Delete(partialPath);
                    throw;
                }
            }
            // The record comes next and must never point at a name a power cut could take back.
            DurableFile.FsyncDirectory(Path.GetDirectoryName(partialPath)!);
            return new SealedFile(volume, sealedRelative, result.PlaintextBytes, result.PlaintextSha256, result.StoredBytes, result.StoredSha256,
                new SealEnvelope(wrapped, Owner.KeyId));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }
    }

    /// <summary>
    /// The test-vector entry point: every random input given (data key, ephemeral private scalar), so the output is
    /// reproducible byte for byte. Never used for footage.
    /// </summary>
    internal static (byte[] WrappedKey, byte[] File) SealDeterministic(byte[] plaintext, byte[] dataKey, byte[] ephemeralScalar,
        OwnerPublicKey owner, string relativePath, int chunkSize)
    {
        var binding = SealedFormat.Binding(relativePath);
        using var ephemeral = ECDiffieHellman.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = ephemeralScalar });
        var wrapped = SealedFormat.Wrap(dataKey, owner, binding, ephemeral);
        using var output = new MemoryStream();
        SealWriter.Seal(new MemoryStream(plaintext, writable: false), output, dataKey, binding, chunkSize, parallel: false);
        return (wrapped, output.ToArray());
    }
}
