// Deleting segments for good. On flash, unlinking (or overwriting) a file does not erase its blocks: the card's
// wear levelling keeps old copies out of reach of the file system. So deletion is a crypto-erase: the segment's
// data key, wrapped to the owner, lives only in the index; destroying it first makes the ciphertext on the card
// unreadable even to the owner. Segments are purged in batches: the batch's keys are destroyed and one `purge` audit
// record naming the batch is appended in the same transaction, made durable, and only then are the files unlinked.
// See docs/design/storage.md "Retention" and docs/design/audit.md.
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
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
    public const string User = "edge (retention)";
    /// <summary>Most segments one purge record (and one transaction) covers; a bigger pass writes several.</summary>
    public const int MaxBatch = 5000;

    /// <summary>
    /// Crypto-erases <paramref name="segments"/> and deletes their files, with one audit record per batch of up to
    /// <see cref="MaxBatch"/>. <paramref name="why"/> says in words what made them due (the cutoff, the floor).
    /// Returns the stored bytes deleted.
    /// </summary>
    public long Purge(IReadOnlyList<SegmentRecord> segments, string reason, string why)
    {
        long bytes = 0;
        foreach (var batch in segments.Chunk(MaxBatch))
        {
            var now = time.GetUtcNow().UtcDateTime;
            // 1. crypto-erase: the record keeps its identity and hashes (so the gap is explained), never its key;
            //    the audit record of the batch is written in the same transaction, durable before any unlink.
            foreach (var segment in batch)
            {
                segment.WrappedKey = null;
                segment.OwnerKeyId = null;
                segment.State = SegmentState.Purged;
                segment.PurgedUtc = now;
                segment.PurgeReason = reason;
            }
            index.PurgeSegments(batch, new AuditRecord { AtUtc = now, Action = "purge", User = User, Detail = Describe(batch, reason, why) });
            // 2. unlink. A crash before this leaves keyless files that reconcile (at start) or compaction deletes.
            foreach (var segment in batch)
            {
                DeleteFile(segment);
                bytes += segment.StoredBytes;
            }
        }
        return bytes;
    }

    /// <summary>
    /// The purge record's detail: reason, totals, per camera its count, bytes, time range and first/last id, and a
    /// hash that pins the exact set (docs/design/audit.md "Purge records").
    /// </summary>
    public static string Describe(IReadOnlyCollection<SegmentRecord> batch, string reason, string why)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{batch.Count} segment(s), {batch.Sum(s => s.StoredBytes)} bytes, " +
            $"from {batch.Min(s => s.StartUtc):O} to {batch.Max(s => s.EndUtc):O}: deleted, reason {reason} ({why});");
        foreach (var camera in batch.GroupBy(s => s.Camera).OrderBy(g => g.Key, StringComparer.Ordinal))
            text.Append(CultureInfo.InvariantCulture, $" camera {camera.Key}: {camera.Count()} segment(s), {camera.Sum(s => s.StoredBytes)} bytes, " +
                $"{camera.Min(s => s.StartUtc):O} to {camera.Max(s => s.EndUtc):O}, ids {camera.Min(s => s.Id)}..{camera.Max(s => s.Id)};");
        text.Append(CultureInfo.InvariantCulture, $" set sha256 {SetHash(batch)}");
        return text.ToString();
    }

    /// <summary>SHA-256 of the lines "ID STORED-SHA256\n" of the segments in id order: anyone holding the segment list
    /// (the central's metadata, a backup of the index) can check which segments a purge record covers.</summary>
    public static string SetHash(IEnumerable<SegmentRecord> segments)
    {
        var lines = new StringBuilder();
        foreach (var s in segments.OrderBy(s => s.Id))
            lines.Append(CultureInfo.InvariantCulture, $"{s.Id} {s.StoredSha256}\n");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(lines.ToString())));
    }

    /// <summary>Unlinks a purged segment's file; one whose directory is gone is gone too.</summary>
    public static void DeleteFile(SegmentRecord segment)
    {
        try { File.Delete(segment.FullPath); }
        catch (DirectoryNotFoundException) { }
    }
}
