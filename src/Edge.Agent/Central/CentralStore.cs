// The central's own store: fleet state, events, segment manifests, per-stream cursors and clip states, in a LiteDB
// behind the same encrypted page layer as the box's index (Index/IndexStore.cs), with its own key file. One receiver
// process opens it (IndexStore's lock); see docs/design/central.md for what a cluster of receivers needs instead.
// Every write that decides whether a message is a duplicate waits until it is durable before the message is acked.
using Edge.Agent.Index;
using LiteDB;

namespace Edge.Agent.Central;

public sealed class DeviceRecord
{
    /// <summary>"{siteId}/{deviceId}".</summary>
    public string Id { get; set; } = "";
    public string SiteId { get; set; } = "";
    public string DeviceId { get; set; } = "";
    public string State { get; set; } = "unknown";
    public string? Reason { get; set; }
    public DateTime LastSeenUtc { get; set; }
    public string? StatusJson { get; set; }
    public string? HealthJson { get; set; }
    public DateTime? LastHealthUtc { get; set; }
    /// <summary>The box's audit chain head as last reported (status or health): the central's copy, so a box whose chain is later cut back or rewritten shows it.</summary>
    public long? AuditHeadSeq { get; set; }
    public string? AuditHeadHash { get; set; }
    public DateTime? AuditHeadUtc { get; set; }
    /// <summary>The device signing key (base64 SPKI) the box first reported; a different one later is logged, not taken.</summary>
    public string? DevicePublicKey { get; set; }
    /// <summary>Where the central's copy of the box's audit chain starts: the first record of the box's first `audit` message.</summary>
    public long? AuditCopyStartSeq { get; set; }
    /// <summary>The copy is checked (each hash recomputed, each record chained to the one before) through this seq.</summary>
    public long AuditCopyVerifiedSeq { get; set; }
    public string? AuditCopyVerifiedHash { get; set; }
    /// <summary>The first break found in the copy; checking stops there, and a person looks (docs/design/central.md).</summary>
    public string? AuditCopyProblem { get; set; }
}

/// <summary>One record of a box's audit trail, as the box sent it (docs/protocol.md, `audit`).</summary>
public sealed class CentralAuditRecord
{
    /// <summary>"{siteId}/{deviceId}/{seq}".</summary>
    public string Id { get; set; } = "";
    public string SiteId { get; set; } = "";
    public string DeviceId { get; set; } = "";
    public long Seq { get; set; }
    public string PrevHash { get; set; } = "";
    public string Hash { get; set; } = "";
    public DateTime AtUtc { get; set; }
    public string Action { get; set; } = "";
    public string User { get; set; } = "";
    public string Detail { get; set; } = "";
    public string? Purpose { get; set; }
    public string? Recipient { get; set; }
    public DateTime ReceivedUtc { get; set; }
}

public sealed class StreamCursor
{
    /// <summary>"{siteId}/{deviceId}/{stream}".</summary>
    public string Id { get; set; } = "";
    /// <summary>Every message up to this id is stored.</summary>
    public long HighestId { get; set; }
    /// <summary>Ids above HighestId already stored (after a gap): a message that fills the gap later is still taken.</summary>
    public List<long> Above { get; set; } = [];
}

public sealed class CentralEventRecord
{
    /// <summary>"{siteId}/{deviceId}/{event id}": an event opened and later closed stays one record, the latest kept.</summary>
    public string Id { get; set; } = "";
    public string SiteId { get; set; } = "";
    public string DeviceId { get; set; } = "";
    public long EventId { get; set; }
    /// <summary>The `events` stream message id that last changed it.</summary>
    public long MessageId { get; set; }
    public string Kind { get; set; } = "";
    public string Json { get; set; } = "";
    public DateTime ReceivedUtc { get; set; }
}

public sealed class CentralSegmentRecord
{
    /// <summary>"{siteId}/{deviceId}/{segment id}".</summary>
    public string Id { get; set; } = "";
    public string SiteId { get; set; } = "";
    public string DeviceId { get; set; } = "";
    public long SegmentId { get; set; }
    public string Camera { get; set; } = "";
    public string StoredSha256 { get; set; } = "";
    public string Json { get; set; } = "";
}

public static class ClipStates
{
    /// <summary>Manifest or chunks seen, not all chunks yet.</summary>
    public const string Receiving = "receiving";
    /// <summary>Every chunk on disk; waiting for the worker to verify, open and cut it.</summary>
    public const string Complete = "complete";
    /// <summary>Verified, cut and acknowledged (verified:true).</summary>
    public const string Done = "done";
    /// <summary>A hash did not match: chunks discarded, acknowledged with verified:false; the box uploads the clip again.</summary>
    public const string Failed = "failed";
    /// <summary>Every hash matched but it does not open with this central's owner key (or does not cut): kept, not acknowledged, for a person.</summary>
    public const string Unopenable = "unopenable";
}

public sealed class ClipRecord
{
    /// <summary>"{siteId}/{deviceId}/{clipId}".</summary>
    public string Id { get; set; } = "";
    public string SiteId { get; set; } = "";
    public string DeviceId { get; set; } = "";
    public string ClipId { get; set; } = "";
    public string? ManifestJson { get; set; }
    public string State { get; set; } = ClipStates.Receiving;
    public string? Detail { get; set; }
    public int Attempts { get; set; }
    public DateTime FirstSeenUtc { get; set; }
    public DateTime? DoneUtc { get; set; }
    public bool AckSent { get; set; }
}

public sealed class CommandReplyRecord
{
    public long Id { get; set; }
    public string SiteId { get; set; } = "";
    public string DeviceId { get; set; } = "";
    public string Name { get; set; } = "";
    public string Json { get; set; } = "";
    public DateTime ReceivedUtc { get; set; }
}

public sealed class CentralStore : IDisposable
{
    private readonly IndexStore _store;
    private readonly ILiteCollection<DeviceRecord> _devices;
    private readonly ILiteCollection<StreamCursor> _cursors;
    private readonly ILiteCollection<CentralEventRecord> _events;
    private readonly ILiteCollection<CentralSegmentRecord> _segments;
    private readonly ILiteCollection<ClipRecord> _clips;
    private readonly ILiteCollection<CommandReplyRecord> _replies;
    private readonly ILiteCollection<CentralAuditRecord> _audit;
    // LiteDB's transactions belong to a thread; the receiver and the clip worker share the store, so one at a time.
    private readonly Lock _gate = new();

    private CentralStore(IndexStore store)
    {
        _store = store;
        var db = store.Database;
        _devices = db.GetCollection<DeviceRecord>("devices");
        _cursors = db.GetCollection<StreamCursor>("cursors");
        _events = db.GetCollection<CentralEventRecord>("events");
        _segments = db.GetCollection<CentralSegmentRecord>("segments");
        _clips = db.GetCollection<ClipRecord>("clips");
        _replies = db.GetCollection<CommandReplyRecord>("replies");
        _audit = db.GetCollection<CentralAuditRecord>("audit");
        _clips.EnsureIndex(c => c.State);
    }

    /// <summary>Opens (creating when missing) the store in DIR/db, its key created on first start when missing.</summary>
    public static CentralStore Open(CentralSettings settings)
    {
        try { return new CentralStore(IndexStore.Open(Path.Combine(settings.StoreDirectory, "db"), settings.StoreKeyFile, createKeyIfMissing: true)); }
        catch (IndexKeyException e) { throw new Configuration.ConfigException(settings.ConfigPath, [$"storeKeyFile: {e.Message}"]); }
    }

    public static string DeviceKey(string siteId, string deviceId) => $"{siteId}/{deviceId}";

    public DeviceRecord? GetDevice(string siteId, string deviceId) { lock (_gate) return _devices.FindById(DeviceKey(siteId, deviceId)); }

    public IReadOnlyList<DeviceRecord> AllDevices() { lock (_gate) return _devices.FindAll().OrderBy(d => d.Id).ToList(); }

    public void UpdateDevice(string siteId, string deviceId, Action<DeviceRecord> change)
    {
        lock (_gate)
        {
            var key = DeviceKey(siteId, deviceId);
            var device = _devices.FindById(key) ?? new DeviceRecord { Id = key, SiteId = siteId, DeviceId = deviceId };
            change(device);
            _devices.Upsert(device);
            _store.WaitUntilDurable();
        }
    }

    public long HighestId(string siteId, string deviceId, string stream)
    {
        lock (_gate) return _cursors.FindById($"{DeviceKey(siteId, deviceId)}/{stream}")?.HighestId ?? 0;
    }

    /// <summary>Ids kept above a gap before the central stops waiting for the gap and moves its cursor past it.</summary>
    public const int MaxIdsAboveGap = 10_000;

    /// <summary>
    /// Stores one stream message unless it was stored before: its id is at or below the highest id up to which every
    /// message is stored, or it is one of the ids stored above a gap. Returns the highest contiguous id before this
    /// message, or null when it was a duplicate and nothing was written. The message and the cursor are one
    /// transaction, durable before this returns.
    /// </summary>
    public long? AcceptStreamMessage(string siteId, string deviceId, string stream, long id, Action write)
    {
        lock (_gate)
        {
            var key = $"{DeviceKey(siteId, deviceId)}/{stream}";
            var cursor = _cursors.FindById(key) ?? new StreamCursor { Id = key };
            if (id <= cursor.HighestId || cursor.Above.Contains(id)) return null;
            long previous = cursor.HighestId;
            var db = _store.Database;
            db.BeginTrans();
            try
            {
                write();
                if (id == cursor.HighestId + 1)
                {
                    cursor.HighestId = id;
                    while (cursor.Above.Remove(cursor.HighestId + 1)) cursor.HighestId++;
                }
                else
                {
                    cursor.Above.Add(id);
                    cursor.Above.Sort();
                    // A gap that never fills (the box dropped sent metadata from a full outbox) must not grow this forever.
                    while (cursor.Above.Count > MaxIdsAboveGap)
                    {
                        cursor.HighestId = cursor.Above[0];
                        cursor.Above.RemoveAt(0);
                        while (cursor.Above.Remove(cursor.HighestId + 1)) cursor.HighestId++;
                    }
                }
                _cursors.Upsert(cursor);
                db.Commit();
            }
            catch
            {
                db.Rollback();
                throw;
            }
            _store.WaitUntilDurable();
            return previous;
        }
    }

    /// <summary>Inside AcceptStreamMessage's write: keeps the newest change of an event (the higher message id), whatever the arrival order.</summary>
    public void UpsertEvent(CentralEventRecord record)
    {
        if (_events.FindById(record.Id) is { } existing && existing.MessageId > record.MessageId) return;
        _events.Upsert(record);
    }

    public void UpsertSegment(CentralSegmentRecord record) => _segments.Upsert(record);

    public static string AuditKey(string siteId, string deviceId, long seq) => $"{DeviceKey(siteId, deviceId)}/{seq}";

    /// <summary>
    /// Inside AcceptStreamMessage's write: stores an audit record unless one with its seq is stored already; returns the
    /// stored one then (the first copy is kept: a later record with the same seq and another hash is the box's trail
    /// rewritten, which the caller reports).
    /// </summary>
    public CentralAuditRecord? InsertAuditRecord(CentralAuditRecord record)
    {
        if (_audit.FindById(record.Id) is { } existing) return existing;
        _audit.Insert(record);
        return null;
    }

    public CentralAuditRecord? GetAuditRecord(string siteId, string deviceId, long seq)
    {
        lock (_gate) return _audit.FindById(AuditKey(siteId, deviceId, seq));
    }

    public IReadOnlyList<CentralAuditRecord> AuditRecords(string siteId, string deviceId)
    {
        lock (_gate) return _audit.Find(a => a.SiteId == siteId && a.DeviceId == deviceId).OrderBy(a => a.Seq).ToList();
    }

    public IReadOnlyList<CentralEventRecord> Events(string siteId, string deviceId)
    {
        lock (_gate) return _events.Find(e => e.SiteId == siteId && e.DeviceId == deviceId).OrderBy(e => e.EventId).ToList();
    }

    public IReadOnlyList<CentralSegmentRecord> Segments(string siteId, string deviceId)
    {
        lock (_gate) return _segments.Find(s => s.SiteId == siteId && s.DeviceId == deviceId).OrderBy(s => s.SegmentId).ToList();
    }

    public ClipRecord? GetClip(string siteId, string deviceId, string clipId) { lock (_gate) return _clips.FindById($"{DeviceKey(siteId, deviceId)}/{clipId}"); }

    public IReadOnlyList<ClipRecord> ClipsIn(string state) { lock (_gate) return _clips.Find(c => c.State == state).ToList(); }

    public IReadOnlyList<ClipRecord> AllClips() { lock (_gate) return _clips.FindAll().OrderBy(c => c.Id).ToList(); }

    public ClipRecord UpdateClip(string siteId, string deviceId, string clipId, DateTime nowUtc, Action<ClipRecord> change)
    {
        lock (_gate)
        {
            var key = $"{DeviceKey(siteId, deviceId)}/{clipId}";
            var clip = _clips.FindById(key) ?? new ClipRecord { Id = key, SiteId = siteId, DeviceId = deviceId, ClipId = clipId, FirstSeenUtc = nowUtc };
            change(clip);
            _clips.Upsert(clip);
            _store.WaitUntilDurable();
            return clip;
        }
    }

    public void AddReply(CommandReplyRecord reply)
    {
        lock (_gate)
        {
            _replies.Insert(reply);
            _store.WaitUntilDurable();
        }
    }

    public IReadOnlyList<CommandReplyRecord> Replies() { lock (_gate) return _replies.FindAll().OrderBy(r => r.Id).ToList(); }

    public void Dispose() { lock (_gate) _store.Dispose(); }
}
