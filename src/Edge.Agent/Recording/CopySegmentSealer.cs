// Seals by copying the staged file to its volume as it is (no encryption): write NAME.partial, hash while copying,
// fsync. Used where no owner key is configured: tests of the recording path and volumes that are encrypted below
// the file system. The caller indexes, then publishes the file under its final name.
using System.Security.Cryptography;
using Edge.Hardware.Storage;

namespace Edge.Agent.Recording;

public sealed class CopySegmentSealer : ISegmentSealer
{
    private const int BufferSize = 256 * 1024;

    public string ExtensionFor(string stagedExtension) => stagedExtension;

    public async Task<SealedFile> SealAsync(string stagedPath, string volume, string relativePath, CancellationToken cancellationToken)
    {
        var finalPath = Path.Combine(volume, relativePath);
        var directory = Path.GetDirectoryName(finalPath)!;
        DurableFile.CreateDirectoryDurably(directory);
        var partialPath = finalPath + SegmentLayout.PartialSuffix;

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long bytes = 0;
        await using (var source = new FileStream(stagedPath, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, useAsync: true))
        await using (var target = new FileStream(partialPath, FileMode.Create, FileAccess.Write, FileShare.None, BufferSize, useAsync: true))
        {
            var buffer = new byte[BufferSize];
            int read;
            while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                bytes += read;
            }
            target.Flush(flushToDisk: true);
        }
        var sha = Convert.ToHexStringLower(hash.GetHashAndReset());
        return new SealedFile(volume, relativePath, bytes, sha, bytes, sha, Envelope: null);
    }
}
