// Opening footage, for the owner: one sealed segment, its index record and the owner's private key in, a verified
// plaintext file out. Checks in order: the record names this owner key; the file's size and SHA-256 match the index
// (no key needed); the wrapped key opens with the private key and this segment's binding; the file decrypts and
// verifies (SealReader); the footage matches the index's plaintext size and SHA-256. Output goes to OUT.partial and is
// renamed to OUT only after all of that; on any failure nothing is left behind.
using System.Security.Cryptography;
using Edge.Agent.Index;

namespace Edge.Agent.Sealing;

/// <summary>What opening a segment needs from its index record.</summary>
public sealed record SealedSegmentRef(long Id, string Camera, string FilePath, string RelativePath, long StoredBytes, string StoredSha256,
    long Bytes, string Sha256, byte[] WrappedKey, string OwnerKeyId)
{
    public static SealedSegmentRef From(SegmentRecord record) => new(record.Id, record.Camera, record.FullPath, record.RelativePath,
        record.StoredBytes, record.StoredSha256, record.Bytes, record.Sha256,
        record.WrappedKey ?? throw new ArgumentException($"segment {record.Id} is not sealed (no wrapped key)", nameof(record)),
        record.OwnerKeyId ?? "");
}

public sealed record OpenedSegment(string OutputPath, long Bytes, string Sha256);

public static class SealedSegments
{
    public const string PartialSuffix = ".partial";

    /// <param name="checkStoredHash">false only in tests that must reach the cryptographic checks behind it.</param>
    public static OpenedSegment OpenToFile(SealedSegmentRef segment, OwnerPrivateKey key, string outputPath, bool checkStoredHash = true)
    {
        outputPath = Path.GetFullPath(outputPath);
        var partialPath = outputPath + PartialSuffix;
        if (Path.Exists(outputPath))
            throw new SealedSegmentException($"{outputPath} already exists; refusing to overwrite it. Choose another --out, or remove the file first.");
        if (segment.OwnerKeyId != key.KeyId)
            throw new SealedSegmentException($"Segment {segment.Id} was sealed to owner key {Show(segment.OwnerKeyId)}, but the key given is {key.KeyId}. " +
                $"Use the owner.key whose owner.pub has id {Show(segment.OwnerKeyId)} (the box's configured owner.pub when it was recorded).");
        if (!File.Exists(segment.FilePath))
            throw new SealedSegmentException($"Segment {segment.Id}: its file {segment.FilePath} does not exist. Check that the volume is mounted; `edge segments list` shows segments marked missing.");
        if (checkStoredHash) CheckStoredFile(segment);

        var binding = SealedFormat.Binding(segment.RelativePath);
        var dataKey = SealedFormat.Unwrap(segment.WrappedKey, key.Key, key.Public.Point, binding)
            ?? throw new SealedSegmentException($"Segment {segment.Id}: its wrapped key does not open with owner key {key.KeyId}. " +
                "Either this is not the owner key it was sealed to, or the wrapped key in the index was changed or belongs to another segment. Use the right owner.key; if it is the right one, the index was tampered with.");
        try
        {
            SealResult result;
            using (var file = new FileStream(segment.FilePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan))
            using (var output = new FileStream(partialPath, new FileStreamOptions
                   {
                       Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 20,
                       // Footage of a My Number room: readable by whoever opened it, nobody else.
                       UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                   }))
            {
                try
                {
                    result = SealReader.Open(file, segment.FilePath, dataKey, binding, output);
                    if (result.PlaintextBytes != segment.Bytes || result.PlaintextSha256 != segment.Sha256)
                        throw new SealedSegmentException($"Segment {segment.Id}: the file decrypted and verified ({result.PlaintextBytes} bytes, SHA-256 {result.PlaintextSha256}), " +
                            $"but the index records {segment.Bytes} bytes, SHA-256 {segment.Sha256}. The index record does not belong to this file; it was changed.");
                    output.Flush(flushToDisk: true);
                }
                catch
                {
                    File.Delete(partialPath);
                    throw;
                }
            }
            File.Move(partialPath, outputPath, overwrite: false);
            return new OpenedSegment(outputPath, result.PlaintextBytes, result.PlaintextSha256);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(partialPath);
            throw new SealedSegmentException($"Segment {segment.Id}: could not read {segment.FilePath} or write {outputPath}: {e.Message}", e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }
    }

    /// <summary>Size and SHA-256 of the stored file against the index: integrity checked without any key.</summary>
    public static void CheckStoredFile(SealedSegmentRef segment)
    {
        long length = new FileInfo(segment.FilePath).Length;
        if (length != segment.StoredBytes)
            throw new SealedSegmentException($"Segment {segment.Id}: its file {segment.FilePath} is {length} bytes; the index records {segment.StoredBytes}. " +
                "The file was truncated, extended or replaced by another segment's file. Restore it from a backup or the central copy.");
        string sha;
        using (var stream = new FileStream(segment.FilePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan))
            sha = Convert.ToHexStringLower(SHA256.HashData(stream));
        if (sha != segment.StoredSha256)
            throw new SealedSegmentException($"Segment {segment.Id}: its file {segment.FilePath} has SHA-256 {sha}; the index records {segment.StoredSha256}. " +
                "The file was changed or replaced by another segment's file. Restore it from a backup or the central copy.");
    }

    private static string Show(string keyId) => keyId.Length == 0 ? "(none recorded)" : keyId;
}
