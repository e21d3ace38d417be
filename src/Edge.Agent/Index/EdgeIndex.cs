// The index's operations, on top of the encrypted store (IndexStore). Records that must not be lost (segments,
// events, audit) wait until they are on disk before the call returns; see docs/design/index.md for the window.
using LiteDB;

namespace Edge.Agent.Index;

public sealed class EdgeIndex : IDisposable
{
    private readonly IndexStore _store;
    private readonly ILiteCollection<SegmentRecord> _segments;
    private readonly ILiteCollection<EventRecord> _events;
    private readonly ILiteCollection<AuditRecord> _audit;
    private readonly ILiteCollection<SettingRecord> _settings;
    private readonly ILiteCollection<FlagRecord> _flags;

    private EdgeIndex(IndexStore store)
    {
        _store = store;
        var db = store.Database;
        _segments = db.GetCollection<SegmentRecord>("segments");
        _events = db.GetCollection<EventRecord>("events");
        _audit = db.GetCollection<AuditRecord>("audit");
        _settings = db.GetCollection<SettingRecord>("settings");
        _flags = db.GetCollection<FlagRecord>("flags");
        _segments.EnsureIndex(s => s.CameraStartKey);
        _segments.EnsureIndex(s => s.StartUtc);
        _segments.EnsureIndex(s => s.RelativePath);
        _events.EnsureIndex(e => e.StartUtc);
        _audit.EnsureIndex(a => a.AtUtc);
        _flags.EnsureIndex(f => f.ToUtc);
    }

    public static EdgeIndex Open(string directory, string keyFile, bool createKeyIfMissing = true) =>
        new(IndexStore.Open(directory, keyFile, createKeyIfMissing));

    public long SizeBytes => _store.SizeBytes;

    public long AddSegment(SegmentRecord segment)
    {
        segment.CameraStartKey = SegmentRecord.KeyFor(segment.Camera, segment.StartUtc);
        var id = _segments.Insert(segment).AsInt64;
        _store.WaitUntilDurable();
        return id;
    }

    public void UpdateSegment(SegmentRecord segment)
    {
        _segments.Update(segment);
        _store.WaitUntilDurable();
    }

    public SegmentRecord? GetSegment(long id) => _segments.FindById(id);

    public bool HasSegmentAt(string relativePath) => _segments.Exists(s => s.RelativePath == relativePath);

    public SegmentRecord? FindSegmentAt(string relativePath) => _segments.FindOne(s => s.RelativePath == relativePath);

    /// <summary>Segments of one camera (or all) overlapping [from, to), ordered by start.</summary>
    public IReadOnlyList<SegmentRecord> QuerySegments(string? camera = null, DateTime? fromUtc = null, DateTime? toUtc = null)
    {
        IEnumerable<SegmentRecord> found;
        if (camera is not null)
        {
            // Range over the camera+start key; a segment that started before `from` but ends after it still overlaps,
            // so the lower bound reaches back one hour (far longer than any segment).
            var lower = SegmentRecord.KeyFor(camera, (fromUtc ?? DateTime.MinValue.AddHours(1)).AddHours(-1));
            var upper = SegmentRecord.KeyFor(camera, toUtc ?? DateTime.MaxValue);
            found = _segments.Find(Query.Between(nameof(SegmentRecord.CameraStartKey), lower, upper));
        }
        else
        {
            found = _segments.Find(Query.Between(nameof(SegmentRecord.StartUtc),
                (fromUtc ?? DateTime.MinValue.AddHours(1)).AddHours(-1), toUtc ?? DateTime.MaxValue));
        }
        return found
            .Where(s => s.State != SegmentState.Purged)
            .Where(s => (fromUtc is null || s.EndUtc > fromUtc) && (toUtc is null || s.StartUtc < toUtc))
            .OrderBy(s => s.StartUtc).ThenBy(s => s.Camera).ToList();
    }

    public IReadOnlyList<SegmentRecord> AllSegments() => _segments.FindAll().ToList();

    /// <summary>Every segment, streamed: for whole-index passes (reconcile) that must not hold months of records in memory.</summary>
    public IEnumerable<SegmentRecord> EnumerateSegments() => _segments.FindAll();

    public int CountSegments() => _segments.Count(s => s.State != SegmentState.Purged);

    public SegmentRecord? LastSegment(string camera)
    {
        string lower = SegmentRecord.KeyFor(camera, DateTime.MinValue), upper = SegmentRecord.KeyFor(camera, DateTime.MaxValue);
        // Walks the camera+start index backwards and stops at the first live segment.
        return _segments.Query()
            .Where(Query.Between(nameof(SegmentRecord.CameraStartKey), lower, upper))
            .OrderByDescending(s => s.CameraStartKey)
            .ToEnumerable()
            .FirstOrDefault(s => s.State != SegmentState.Purged);
    }

    public long AddEvent(EventRecord e)
    {
        var id = _events.Insert(e).AsInt64;
        _store.WaitUntilDurable();
        return id;
    }

    public void UpdateEvent(EventRecord e)
    {
        _events.Update(e);
        _store.WaitUntilDurable();
    }

    public IReadOnlyList<EventRecord> QueryEvents(DateTime? fromUtc = null, DateTime? toUtc = null, string? kind = null, string? door = null)
    {
        var q = _events.Query();
        if (fromUtc is { } f) q = q.Where(e => e.StartUtc >= f);
        if (toUtc is { } t) q = q.Where(e => e.StartUtc < t);
        if (kind is not null) q = q.Where(e => e.Kind == kind);
        if (door is not null) q = q.Where(e => e.Door == door);
        return q.OrderBy(e => e.Id).ToList();
    }

    public IReadOnlyList<EventRecord> OpenDoorEvents(string door) => _events.Find(e => e.Door == door && e.EndUtc == null).ToList();

    public EventRecord? GetEvent(long id) => _events.FindById(id);

    public EventRecord? OpenEvent(string kind, string camera) =>
        _events.Find(e => e.Kind == kind && e.EndUtc == null).FirstOrDefault(e => e.Cameras.Contains(camera));

    public void Audit(AuditRecord record)
    {
        _audit.Insert(record);
        _store.WaitUntilDurable();
    }

    public IReadOnlyList<AuditRecord> QueryAudit() => _audit.Query().OrderBy(a => a.Id).ToList();

    /// <summary>Segments in start order, optionally on one volume; purged ones only when asked for.</summary>
    public IEnumerable<SegmentRecord> OldestSegments(string? volume = null, bool includePurged = false) =>
        _segments.Query().OrderBy(s => s.StartUtc).ToEnumerable()
            .Where(s => (includePurged || s.State != SegmentState.Purged) && (volume is null || s.Volume == volume));

    public long AddFlag(FlagRecord flag)
    {
        var id = _flags.Insert(flag).AsInt64;
        _store.WaitUntilDurable();
        return id;
    }

    public void UpdateFlag(FlagRecord flag)
    {
        _flags.Update(flag);
        _store.WaitUntilDurable();
    }

    public void DeleteFlag(long id)
    {
        _flags.Delete(id);
        _store.WaitUntilDurable();
    }

    public IReadOnlyList<FlagRecord> AllFlags() => _flags.Query().OrderBy(f => f.Id).ToList();

    /// <summary>
    /// Flags whose window overlaps or touches [from, to], by id: walks the index on the flags' end from
    /// <paramref name="fromUtc"/> on, so a door event reads the recent flags, not every flag the box ever made.
    /// </summary>
    public IReadOnlyList<FlagRecord> FlagsTouching(DateTime fromUtc, DateTime toUtc) =>
        _flags.Find(Query.GTE(nameof(FlagRecord.ToUtc), fromUtc))
            .Where(f => f.FromUtc <= toUtc)
            .OrderBy(f => f.Id).ToList();

    public string? GetSetting(string id) => _settings.FindById(id)?.Value;

    public void SetSetting(string id, string value)
    {
        _settings.Upsert(new SettingRecord { Id = id, Value = value });
        _store.WaitUntilDurable();
    }

    /// <summary>Runs several writes and waits once until all are durable (see <see cref="IndexStore.Durably{T}"/>).</summary>
    public T Durably<T>(Func<T> writes) => _store.Durably(writes);

    /// <summary>fsyncs of the log file since the index was opened (for benchmarks: the cost of durability is in them).</summary>
    internal long LogFsyncCount => _store.LogStream.FsyncCount;

    public void Dispose() => _store.Dispose();
}
