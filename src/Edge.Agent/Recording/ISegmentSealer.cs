namespace Edge.Agent.Recording;

/// <summary>The result of sealing: the file as it now lies on the volume.</summary>
public sealed record SealedFile(string Volume, string RelativePath, long Bytes, string Sha256);

/// <summary>
/// The "seal" step: takes a finished segment from staging and makes it durable on a storage volume. It is the one
/// place a segment's bytes are transformed on their way to storage, so encryption at rest plugs in here.
/// Contract: when SealAsync returns, the file at Volume/RelativePath is complete and fsynced, and so is its
/// directory entry; the staged file is untouched (the caller deletes it only after indexing).
/// </summary>
public interface ISegmentSealer
{
    Task<SealedFile> SealAsync(string stagedPath, string volume, string relativePath, CancellationToken cancellationToken);
}
