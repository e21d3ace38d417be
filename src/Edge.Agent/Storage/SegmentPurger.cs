// Deleting a segment for good. On flash, unlinking (or overwriting) a file does not erase its blocks: the card's
// wear levelling keeps old copies out of reach of the file system. So deletion is a crypto-erase: the segment's
// data key, wrapped to the owner, lives only in the index; destroying it first makes the ciphertext on the card
// unreadable even to the owner. Then the file is unlinked, then the purge is audited. See docs/design/storage.md.
using Edge.Agent.Index;

namespace Edge.Agent.Storage;

public static class PurgeReasons
{
    public const string Age = "age";
    public const string Space = "space";
    public const string Emergency = "emergency";
}

public sealed class SegmentPurger(EdgeIndex index, TimeProvider time)
{
    public void Purge(SegmentRecord segment, string reason)
    {
        var now = time.GetUtcNow().UtcDateTime;
        // 1. crypto-erase: the record keeps its identity and hashes (so the gap is explained), never its key.
        segment.WrappedKey = null;
        segment.OwnerKeyId = null;
        segment.State = SegmentState.Purged;
        segment.PurgedUtc = now;
        segment.PurgeReason = reason;
        index.UpdateSegment(segment);
        // 2. unlink. A crash before this line leaves a keyless file that reconcile deletes.
        File.Delete(segment.FullPath);
        // 3. the deletion record.
        index.Audit(new AuditRecord
        {
            AtUtc = now,
            Action = "purge",
            User = "edge (retention)",
            Detail = $"segment {segment.Id} of camera {segment.Camera} from {segment.StartUtc:O} to {segment.EndUtc:O}, " +
                     $"{segment.StoredBytes} bytes, sha256 {segment.StoredSha256}: deleted, reason {reason}",
        });
    }
}
