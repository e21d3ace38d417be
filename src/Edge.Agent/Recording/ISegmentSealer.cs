namespace Edge.Agent.Recording;

/// <summary>
/// What sealing produced: a complete, fsynced file at Volume/RelativePath + ".partial", not yet published under its
/// final name. Sha256 is of the footage itself (the plaintext); StoredSha256 and StoredBytes are of the file as it lies
/// on the volume (the ciphertext, when encrypted), so integrity can be checked without decrypting.
/// </summary>
public sealed record SealedFile(string Volume, string RelativePath, long Bytes, string Sha256, long StoredBytes, string StoredSha256, SealEnvelope? Envelope)
{
    public string PartialPath => Path.Combine(Volume, RelativePath) + SegmentLayout.PartialSuffix;
    public string FinalPath => Path.Combine(Volume, RelativePath);
}

/// <summary>How an encrypted segment's data key is wrapped; kept in the index, not in the file (docs/design/storage.md).</summary>
public sealed record SealEnvelope(byte[] WrappedKey, string OwnerKeyId);

/// <summary>
/// The "seal" step: takes a finished segment from staging and writes it durably to a storage volume. It is the one
/// place a segment's bytes are transformed on their way to storage, so encryption at rest plugs in here.
/// Contract: when SealAsync returns, SealedFile.PartialPath is complete and fsynced. The caller then writes the index
/// record and only after that publishes the file (rename to FinalPath, fsync of the directory); the staged file is
/// untouched and deleted by the caller last. See docs/design/recording.md, "Crash-safe write order".
/// </summary>
public interface ISegmentSealer
{
    Task<SealedFile> SealAsync(string stagedPath, string volume, string relativePath, CancellationToken cancellationToken);

    /// <summary>The file extension a sealed segment gets on the volume, given the staged file's (".ts", ".mkv").</summary>
    string ExtensionFor(string stagedExtension);
}
