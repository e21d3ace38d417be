// The documents of the local index. Times are UTC (the store sets UtcDate); people see them in the site's zone.
namespace Edge.Agent.Index;

public enum SegmentState
{
    /// <summary>The file is on its volume, complete and fsynced, and matches Bytes and Sha256.</summary>
    Stored,
    /// <summary>Reconcile found no file for this record. Kept so the gap is explained, never silently forgotten.</summary>
    Missing,
    /// <summary>Deleted by retention: the wrapped key was destroyed first (crypto-erase), then the file unlinked. The record
    /// is compacted into its day's PurgedDayRecord an hour later, once the file is known gone.</summary>
    Purged,
}

public sealed class SegmentRecord
{
    public long Id { get; set; }
    public string Camera { get; set; } = "";
    public DateTime StartUtc { get; set; }
    public DateTime EndUtc { get; set; }
    /// <summary>From the media (ffmpeg's segment list, i.e. packet timestamps), not from file times.</summary>
    public double DurationSeconds { get; set; }
    /// <summary>Size of the footage (the plaintext).</summary>
    public long Bytes { get; set; }
    /// <summary>SHA-256 of the footage (the plaintext).</summary>
    public string Sha256 { get; set; } = "";
    /// <summary>Size and SHA-256 of the file as stored on the volume (the ciphertext when sealed): checkable without a key.</summary>
    public long StoredBytes { get; set; }
    public string StoredSha256 { get; set; } = "";
    /// <summary>The segment's data key wrapped to the owner's public key; null for an unencrypted segment. Destroying it is the deletion.</summary>
    public byte[]? WrappedKey { get; set; }
    public string? OwnerKeyId { get; set; }
    [LiteDB.BsonIgnore]
    public bool Sealed => WrappedKey is not null;
    /// <summary>Whether the wall clock was trusted (NTP synchronised, or an RTC) when the segment was stamped.</summary>
    public bool ClockTrusted { get; set; }
    /// <summary>Absolute path of the storage volume's root.</summary>
    public string Volume { get; set; } = "";
    /// <summary>Path of the file below the volume root.</summary>
    public string RelativePath { get; set; } = "";
    public string Container { get; set; } = "mpegts";
    public SegmentState State { get; set; } = SegmentState.Stored;
    public DateTime? PurgedUtc { get; set; }
    public string? PurgeReason { get; set; }
    /// <summary>Set when reconcile adopted the file after a crash between sealing and indexing.</summary>
    public bool Recovered { get; set; }
    /// <summary>camera + start, for the one index that range queries per camera use (LiteDB uses one index per query).</summary>
    public string CameraStartKey { get; set; } = "";

    [LiteDB.BsonIgnore]
    public string FullPath => System.IO.Path.Combine(Volume, RelativePath);

    public static string KeyFor(string camera, DateTime startUtc) => $"{camera}\u0001{startUtc:yyyyMMddTHHmmssfff}";
}

/// <summary>
/// What is left of one camera's purged segments of one UTC day (by segment start) once their records are compacted
/// (docs/design/storage.md "Retention"): a gap in the footage stays explained, in a few hundred bytes a day instead of
/// one record per segment. Deleted after retention.eventYears. Each purge itself is in the audit trail.
/// </summary>
public sealed class PurgedDayRecord
{
    /// <summary>camera + day (KeyFor).</summary>
    public string Id { get; set; } = "";
    public string Camera { get; set; } = "";
    public DateTime DayUtc { get; set; }
    public long Segments { get; set; }
    public long StoredBytes { get; set; }
    public double Seconds { get; set; }
    public DateTime FirstStartUtc { get; set; }
    public DateTime LastEndUtc { get; set; }
    public long FirstId { get; set; }
    public long LastId { get; set; }
    /// <summary>Segments per purge reason (age, space, emergency).</summary>
    public Dictionary<string, long> Reasons { get; set; } = [];

    public static string KeyFor(string camera, DateTime startUtc) => $"{camera}\u0001{startUtc:yyyy-MM-dd}";

    public void Add(IEnumerable<SegmentRecord> purged)
    {
        foreach (var s in purged)
        {
            FirstStartUtc = Segments == 0 || s.StartUtc < FirstStartUtc ? s.StartUtc : FirstStartUtc;
            LastEndUtc = Segments == 0 || s.EndUtc > LastEndUtc ? s.EndUtc : LastEndUtc;
            FirstId = Segments == 0 ? s.Id : Math.Min(FirstId, s.Id);
            LastId = Math.Max(LastId, s.Id);
            Segments++;
            StoredBytes += s.StoredBytes;
            Seconds += s.DurationSeconds;
            var reason = s.PurgeReason ?? "unknown";
            Reasons[reason] = Reasons.GetValueOrDefault(reason) + 1;
        }
    }
}

public static class EventKinds
{
    public const string CameraOffline = "camera_offline";
    public const string CameraOnline = "camera_online";
    public const string Reconcile = "reconcile";
    public const string StorageFailover = "storage_failover";
    public const string RetentionEmergency = "retention_emergency";
}

public sealed class EventRecord
{
    public long Id { get; set; }
    public string Kind { get; set; } = "";
    public string? Door { get; set; }
    public List<string> Cameras { get; set; } = [];
    public DateTime StartUtc { get; set; }
    /// <summary>Null while the condition lasts (a camera still offline, a door still open).</summary>
    public DateTime? EndUtc { get; set; }
    /// <summary>How the event was decided, in words a person can check.</summary>
    public string DecidedBy { get; set; } = "";
    public string? Detail { get; set; }
}

/// <summary>
/// One line of the hash-chained audit trail (docs/design/audit.md). Callers fill in the time, action, user and what
/// applies; EdgeIndex.Audit assigns Seq, PrevHash and Hash.
/// </summary>
public sealed class AuditRecord
{
    public long Id { get; set; }
    /// <summary>1, 2, 3, … in append order, with no gaps; set by EdgeIndex.Audit.</summary>
    public long Seq { get; set; }
    /// <summary>Hash of the record before this one (of the checkpoint after pruning; 64 zeros for the first).</summary>
    public string? PrevHash { get; set; }
    /// <summary>SHA-256 (hex) of this record's canonical encoding, PrevHash included (Edge.Agent.Audit.AuditChain).</summary>
    public string? Hash { get; set; }
    public DateTime AtUtc { get; set; }
    public string Action { get; set; } = "";
    /// <summary>The Unix user (or "central" / "agent") on whose behalf the action ran.</summary>
    public string User { get; set; } = "";
    public string Detail { get; set; } = "";
    /// <summary>Why footage was accessed or handed over (an export's reason), where it applies.</summary>
    public string? Purpose { get; set; }
    /// <summary>Who received footage (police station, prosecutor's office, court), where it applies.</summary>
    public string? Recipient { get; set; }
}

public sealed class SettingRecord
{
    public string Id { get; set; } = "";
    public string Value { get; set; } = "";
}

public static class FlagSyncStates
{
    public const string Pending = "pending";
    public const string Synced = "synced";
    public const string LocalOnly = "local_only";
}

/// <summary>
/// A window of footage that matters: flagged by a door event, a manual hold, or a request from the central. Its
/// segments are protected from retention and marked for sync. Overlapping flags on a camera are merged.
/// </summary>
public sealed class FlagRecord
{
    public long Id { get; set; }
    public List<string> Cameras { get; set; } = [];
    public DateTime FromUtc { get; set; }
    public DateTime ToUtc { get; set; }
    public string Reason { get; set; } = "";
    public List<long> EventIds { get; set; } = [];
    public string SyncState { get; set; } = FlagSyncStates.Pending;
    public DateTime CreatedUtc { get; set; }
    public string CreatedBy { get; set; } = "";

    public bool Covers(SegmentRecord s) => Cameras.Contains(s.Camera) && s.StartUtc < ToUtc && s.EndUtc > FromUtc;

    /// <summary>Whether the flag keeps the segment from retention: until the central acknowledged its clip (sync hold).</summary>
    public bool Holds(SegmentRecord s) => SyncState != FlagSyncStates.Synced && Covers(s);
}
