// The index's operations, on top of the encrypted store (IndexStore). Records that must not be lost (segments,
// events, audit) wait until they are on disk before the call returns; see docs/design/index.md for the window.
using System.Globalization;
using Edge.Agent.Audit;
using LiteDB;

namespace Edge.Agent.Index;

public sealed partial class EdgeIndex : IDisposable
{
    private readonly IndexStore _store;
    private readonly ILiteCollection<SegmentRecord> _segments;
    private readonly ILiteCollection<EventRecord> _events;
    private readonly ILiteCollection<AuditRecord> _audit;
    private readonly ILiteCollection<SettingRecord> _settings;
    private readonly ILiteCollection<FlagRecord> _flags;
    private readonly ILiteCollection<PurgedDayRecord> _purgedDays;
    // Appends are serialized: each record's seq and PrevHash come from the one appended just before it.
    private readonly Lock _auditGate = new();
    private AuditHead _auditHead;
    // True on the thread running an Atomically() block: every write joins that block's transaction.
    private readonly ThreadLocal<bool> _atomic = new();
    // Set by a write inside the Atomically() block (whose thread holds _outboxGate throughout): an outbox message was
    // queued, and the sync engine is told once the block has committed.
    private bool _atomicQueuedOutbox;

    /// <summary>Settings rows of the chain's bookkeeping (docs/design/audit.md).</summary>
    public const string AuditHeadSetting = "audit.head";
    public const string AuditCheckpointSetting = "audit.checkpoint";

    private EdgeIndex(IndexStore store)
    {
        _store = store;
        var db = store.Database;
        _segments = db.GetCollection<SegmentRecord>("segments");
        _events = db.GetCollection<EventRecord>("events");
        _audit = db.GetCollection<AuditRecord>("audit");
        _settings = db.GetCollection<SettingRecord>("settings");
        _flags = db.GetCollection<FlagRecord>("flags");
        _purgedDays = db.GetCollection<PurgedDayRecord>("purged_days");
        _segments.EnsureIndex(s => s.CameraStartKey);
        _segments.EnsureIndex(s => s.StartUtc);
        _segments.EnsureIndex(s => s.RelativePath);
        _segments.EnsureIndex(s => s.PurgedUtc);
        _events.EnsureIndex(e => e.StartUtc);
        _audit.EnsureIndex(a => a.AtUtc);
        _audit.EnsureIndex(a => a.Seq);
        _auditHead = LoadAuditHead();
        _outboxEvents = db.GetCollection<OutboxRecord>("outbox_events");
        _outboxSegments = db.GetCollection<OutboxRecord>("outbox_segments");
        _outboxAudit = db.GetCollection<OutboxRecord>("outbox_audit");
        _clips = db.GetCollection<ClipRecord>("sync_clips");
        _nonces = db.GetCollection<NonceRecord>("sync_nonces");
        _clips.EnsureIndex(c => c.FlagId);
        _flags.EnsureIndex(f => f.ToUtc);
        // Every collection exists before any other thread uses the index: LiteDB 5.0.20 lets a query read a collection
        // that another thread is creating through a header that is ahead of its snapshot, and fails with "page type
        // must be collection page" (upstream #2792). Creating them all here, alone, closes that window.
        foreach (var name in new[] { "segments", "events", "audit", "settings", "flags", "purged_days", "outbox_events", "outbox_segments", "outbox_audit", "sync_clips", "sync_nonces" })
            CreateCollectionIfMissing(db, name);
    }

    private static void CreateCollectionIfMissing(LiteDatabase db, string name)
    {
        if (db.CollectionExists(name)) return;
        // LiteDB has no "create collection": a document inserted and deleted in one transaction leaves it created and empty.
        db.BeginTrans();
        try
        {
            var collection = db.GetCollection(name);
            collection.Insert(new BsonDocument { ["_id"] = "edge-create-collection" });
            collection.Delete("edge-create-collection");
            db.Commit();
        }
        catch
        {
            db.Rollback();
            throw;
        }
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
        // A caller may rebuild the record (a retry on another volume): the derived key must follow, or the segment
        // would vanish from per-camera queries while still in the index.
        segment.CameraStartKey = SegmentRecord.KeyFor(segment.Camera, segment.StartUtc);
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

    /// <summary>
    /// Up to <paramref name="limit"/> segments with ids above <paramref name="afterId"/>, in id order: for long passes
    /// (verify) that must neither hold every record in memory nor keep a query open while they read the disk.
    /// </summary>
    public IReadOnlyList<SegmentRecord> SegmentsAfter(long afterId, int limit) => _segments.Find(Query.GT("_id", afterId), limit: limit).ToList();

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

    /// <summary>Adds an event; with sync on, its outbox message is queued in the same transaction (one durable write).</summary>
    public long AddEvent(EventRecord e)
    {
        long id = WithOutbox(SyncStreamEvents, () => { e.Id = _events.Insert(e).AsInt64; return e; });
        _store.WaitUntilDurable();
        return id;
    }

    /// <summary>Updates an event; with sync on, the change is queued in the same transaction.</summary>
    public void UpdateEvent(EventRecord e)
    {
        WithOutbox(SyncStreamEvents, () => { _events.Update(e); return e; });
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

    /// <summary>
    /// Appends a record to the hash-chained audit trail: assigns its Seq, PrevHash and Hash (any values the caller
    /// set are replaced) and returns once it is on disk. Safe to call from several threads.
    /// </summary>
    public void Audit(AuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        AppendAudit(record, alsoInTransaction: null);
    }

    /// <summary>
    /// Appends <paramref name="record"/> to the chain in one transaction with <paramref name="alsoInTransaction"/>'s
    /// writes (both or neither reach the disk), and returns once it is durable.
    /// </summary>
    private void AppendAudit(AuditRecord record, Action? alsoInTransaction)
    {
        lock (_auditGate)
        {
            AuditChain.Normalize(record);
            record.Id = 0;
            record.Seq = _auditHead.Seq + 1;
            record.PrevHash = _auditHead.Hash;
            record.Hash = AuditChain.HashOf(record, record.PrevHash);
            var head = new AuditHead(record.Seq, record.Hash);
            // The record and the head it makes are one transaction, so `audit verify` notices a record deleted later
            // from the end of the chain (the stored head names it).
            Transaction(() =>
            {
                alsoInTransaction?.Invoke();
                _audit.Insert(record);
                _settings.Upsert(new SettingRecord { Id = AuditHeadSetting, Value = $"{head.Seq.ToString(CultureInfo.InvariantCulture)} {head.Hash}" });
            });
            // Inside Atomically() the head moves before the commit; a rollback there reloads it from the index.
            _auditHead = head;
        }
        _store.WaitUntilDurable();
    }

    /// <summary>The chain's newest record (seq 0 and 64 zeros before the first append). Cheap: kept in memory.</summary>
    public AuditHead AuditHead()
    {
        lock (_auditGate) return _auditHead;
    }

    /// <summary>Audit records in chain order; [from, to) by time when given.</summary>
    public IReadOnlyList<AuditRecord> QueryAudit(DateTime? fromUtc = null, DateTime? toUtc = null)
    {
        var q = _audit.Query();
        if (fromUtc is { } f) q = q.Where(a => a.AtUtc >= f);
        if (toUtc is { } t) q = q.Where(a => a.AtUtc < t);
        return q.ToEnumerable().OrderBy(a => a.Seq).ToList();
    }

    public AuditCheckpoint? AuditCheckpoint() => AuditChain.ParseCheckpoint(GetSetting(AuditCheckpointSetting));

    /// <summary>Checks the whole chain (docs/design/audit.md); names the first changed, removed or reordered record.</summary>
    public AuditVerification VerifyAudit()
    {
        // The head is read first: records appended while the walk runs lie past it and are checked as chain links.
        var headText = GetSetting(AuditHeadSetting);
        var recordedHead = AuditChain.ParseHead(headText);
        var checkpointText = GetSetting(AuditCheckpointSetting);
        var checkpoint = AuditChain.ParseCheckpoint(checkpointText);
        if (headText is not null && recordedHead is null)
            return new AuditVerification(0, 0, 0, AuditChain.EmptyHead, checkpoint,
                new AuditProblem(AuditProblemKind.Unreadable, 0, null, null, $"the recorded head '{headText}' is not 'SEQ HASH'"));
        if (checkpointText is not null && checkpoint is null)
            return new AuditVerification(0, 0, 0, AuditChain.EmptyHead, null,
                new AuditProblem(AuditProblemKind.Unreadable, 0, null, null, $"the checkpoint '{checkpointText}' is not 'SEQ HASH TIME'"));
        return AuditChain.Verify(AuditInIdOrder(), checkpoint, recordedHead, seq => _audit.FindOne(a => a.Seq == seq));
    }

    /// <summary>The records in storage order, a page at a time: a 5-year trail is not held in memory.</summary>
    private IEnumerable<AuditRecord> AuditInIdOrder()
    {
        long after = 0;
        while (true)
        {
            var page = _audit.Find(Query.GT("_id", after), limit: 1000).ToList();
            if (page.Count == 0) yield break;
            foreach (var record in page) yield return record;
            after = page[^1].Id;
        }
    }

    /// <summary>
    /// Deletes the oldest audit records, the prefix of the chain older than <paramref name="cutoffUtc"/>, and moves
    /// the checkpoint to the last one deleted, in the same transaction, so the rest still verifies. Returns how many
    /// went; a record of the pruning is appended when any did.
    /// </summary>
    public long PruneAudit(DateTime cutoffUtc, DateTime nowUtc, string user)
    {
        long pruned = 0;
        AuditRecord? last = null;
        lock (_auditGate)
        {
            while (true)
            {
                var batch = _audit.Find(Query.All(), limit: 1000).TakeWhile(a => a.AtUtc < cutoffUtc).ToList();
                if (batch.Count == 0) break;
                Transaction(() =>
                {
                    foreach (var record in batch) _audit.Delete(record.Id);
                    var end = batch[^1];
                    _settings.Upsert(new SettingRecord { Id = AuditCheckpointSetting, Value = new AuditCheckpoint(end.Seq, end.Hash ?? "", end.AtUtc).Serialize() });
                });
                _store.WaitUntilDurable();
                pruned += batch.Count;
                last = batch[^1];
                if (batch.Count < 1000) break;
            }
        }
        if (last is not null)
            Audit(new AuditRecord
            {
                AtUtc = nowUtc,
                Action = "audit_prune",
                User = user,
                Detail = $"{pruned} audit record(s) older than {cutoffUtc:O} deleted, up to seq {last.Seq} ({last.AtUtc:O}); " +
                         $"the chain now starts from checkpoint seq {last.Seq} hash {last.Hash}",
            });
        return pruned;
    }

    /// <summary>Deletes closed events that started before <paramref name="cutoffUtc"/>; returns how many.</summary>
    public int PruneEvents(DateTime cutoffUtc)
    {
        var count = _events.DeleteMany(e => e.StartUtc < cutoffUtc && e.EndUtc != null);
        if (count > 0) _store.WaitUntilDurable();
        return count;
    }

    private AuditHead LoadAuditHead()
    {
        var last = _audit.Query().OrderByDescending(a => a.Id).FirstOrDefault();
        var recorded = AuditChain.ParseHead(GetSetting(AuditHeadSetting));
        // The recorded head wins over a shorter chain: records removed from its end leave their seqs unused, and
        // `audit verify` names them, instead of the next append silently taking their place.
        if (recorded is not null && (last is null || recorded.Seq >= last.Seq)) return recorded;
        if (last is not null && last.Seq > 0 && last.Hash is not null) return new AuditHead(last.Seq, last.Hash);
        if (last is null)
            return AuditChain.ParseCheckpoint(GetSetting(AuditCheckpointSetting)) is { } cp ? new AuditHead(cp.Seq, cp.Hash) : AuditChain.EmptyHead;
        return recorded is null && GetSetting(AuditCheckpointSetting) is null ? ChainUnchainedRecords() : recorded ?? AuditChain.EmptyHead;
    }

    /// <summary>
    /// An index written before the chain existed: its records are chained once, in id order, at the first open by
    /// this version. What they say is unchanged; the chain vouches for them only from now on.
    /// </summary>
    private AuditHead ChainUnchainedRecords()
    {
        var head = AuditChain.EmptyHead;
        foreach (var record in _audit.Query().OrderBy(a => a.Id).ToList())
        {
            AuditChain.Normalize(record);
            record.Seq = head.Seq + 1;
            record.PrevHash = head.Hash;
            record.Hash = AuditChain.HashOf(record, record.PrevHash);
            _audit.Update(record);
            head = new AuditHead(record.Seq, record.Hash);
        }
        _settings.Upsert(new SettingRecord { Id = AuditHeadSetting, Value = $"{head.Seq.ToString(CultureInfo.InvariantCulture)} {head.Hash}" });
        _store.WaitUntilDurable();
        return head;
    }

    /// <summary>Segments in start order, optionally on one volume; purged ones only when asked for.</summary>
    public IEnumerable<SegmentRecord> OldestSegments(string? volume = null, bool includePurged = false) =>
        _segments.Query().OrderBy(s => s.StartUtc).ToEnumerable()
            .Where(s => (includePurged || s.State != SegmentState.Purged) && (volume is null || s.Volume == volume));

    /// <summary>
    /// The crypto-erase of a batch of segments and its deletion record, as one transaction: the segments (their
    /// wrapped keys already cleared by the caller, state Purged) are updated and <paramref name="record"/> is appended
    /// to the audit chain together, then made durable. A power cut leaves both or neither, so no key is ever destroyed
    /// without its record, and no record claims an erase that did not happen (docs/design/storage.md "Retention").
    /// </summary>
    public void PurgeSegments(IReadOnlyList<SegmentRecord> erased, AuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(erased);
        ArgumentNullException.ThrowIfNull(record);
        if (erased.Any(s => s.WrappedKey is not null || s.State != SegmentState.Purged))
            throw new ArgumentException("every segment of a purge batch must be crypto-erased (no wrapped key, state Purged) before it is written", nameof(erased));
        AppendAudit(record, () =>
        {
            foreach (var segment in erased) _segments.Update(segment);
        });
    }

    /// <summary>
    /// Folds purged segment records whose purge is older than <paramref name="purgedBeforeUtc"/> and that
    /// <paramref name="canForget"/> allows (their file is gone) into per-camera, per-day summaries, and deletes them:
    /// batches of up to <paramref name="batchSize"/>, each one transaction (summaries and deletions together). Returns
    /// how many records went.
    /// </summary>
    public int CompactPurgedSegments(DateTime purgedBeforeUtc, Func<SegmentRecord, bool> canForget, int batchSize = 1000)
    {
        int compacted = 0;
        var skipped = new HashSet<long>();
        while (true)
        {
            var batch = _segments.Find(Query.Between(nameof(SegmentRecord.PurgedUtc), DateTime.MinValue, purgedBeforeUtc.AddTicks(-1)))
                .Where(s => s.State == SegmentState.Purged && !skipped.Contains(s.Id))
                .Take(batchSize).ToList();
            if (batch.Count == 0) break;
            var forget = new List<SegmentRecord>();
            foreach (var segment in batch)
                if (canForget(segment)) forget.Add(segment);
                else skipped.Add(segment.Id);
            if (forget.Count == 0) continue;
            Transaction(() =>
            {
                foreach (var day in forget.GroupBy(s => PurgedDayRecord.KeyFor(s.Camera, s.StartUtc)))
                {
                    var summary = _purgedDays.FindById(day.Key) ?? new PurgedDayRecord { Id = day.Key, Camera = day.First().Camera, DayUtc = day.First().StartUtc.Date };
                    summary.Add(day);
                    _purgedDays.Upsert(summary);
                }
                foreach (var segment in forget) _segments.Delete(segment.Id);
            });
            _store.WaitUntilDurable();
            compacted += forget.Count;
        }
        return compacted;
    }

    /// <summary>Per-camera, per-day summaries of purged segments, ordered by day then camera.</summary>
    public IReadOnlyList<PurgedDayRecord> PurgedDays(string? camera = null) =>
        _purgedDays.FindAll().Where(d => camera is null || d.Camera == camera).OrderBy(d => d.DayUtc).ThenBy(d => d.Camera).ToList();

    /// <summary>Deletes the summaries of days before <paramref name="cutoffUtc"/>; returns how many.</summary>
    public int PrunePurgedDays(DateTime cutoffUtc)
    {
        var count = _purgedDays.DeleteMany(d => d.DayUtc < cutoffUtc.Date);
        if (count > 0) _store.WaitUntilDurable();
        return count;
    }

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

    /// <summary>
    /// Runs <paramref name="writes"/> (on this thread) as one LiteDB transaction, then waits once until it is durable
    /// (or leaves the wait to an enclosing <see cref="Durably{T}"/>). Every index write inside joins it: an event and
    /// its outbox message, audit records, flags, settings reach the disk together or not at all, and pages they share
    /// (the same data and index pages, the audit head) are written to the log once instead of once per record. Reads
    /// inside see the block's own writes. If <paramref name="writes"/> throws, everything it wrote is rolled back, the
    /// in-memory audit head and outbox counters are reloaded from the index, and the exception propagates. Nested
    /// calls join the outer block. Other threads' writes wait until the block commits (one write at a time).
    /// </summary>
    public T Atomically<T>(Func<T> writes)
    {
        ArgumentNullException.ThrowIfNull(writes);
        if (_atomic.Value) return writes();
        bool queuedOutbox = false;
        var result = _store.Durably(() =>
        {
            // The gates first, then the write lock (BeginTrans), as every other writer takes them: no lock-order cycle.
            lock (_auditGate)
            lock (_outboxGate)
            {
                var db = _store.Database;
                if (!db.BeginTrans())
                    throw new InvalidOperationException("EdgeIndex.Atomically: this thread already has an open index transaction; expected none.");
                _atomic.Value = true;
                _atomicQueuedOutbox = false;
                T value;
                try
                {
                    value = writes();
                    _atomic.Value = false;
                    db.Commit();
                }
                catch
                {
                    _atomic.Value = false;
                    try
                    {
                        db.Rollback();
                    }
                    finally
                    {
                        ReloadMirrors();
                    }
                    throw;
                }
                queuedOutbox = _atomicQueuedOutbox;
                return value;
            }
        });
        if (queuedOutbox) OutboxQueued?.Invoke();
        return result;
    }

    // Writes that belong together, as one explicit transaction; inside Atomically() they join its transaction.
    private void Transaction(Action writes)
    {
        if (_atomic.Value)
        {
            writes();
            return;
        }
        var db = _store.Database;
        db.BeginTrans();
        try
        {
            writes();
            db.Commit();
        }
        catch
        {
            db.Rollback();
            throw;
        }
    }

    // After an Atomically() rollback: the audit head and outbox counters moved with writes that are gone. Called with
    // both gates held.
    private void ReloadMirrors()
    {
        _auditHead = LoadAuditHead();
        if (_streams is not null)
            foreach (var stream in _streams.Keys.ToList())
                _streams[stream] = LoadStream(stream);
    }

    /// <summary>Checkpoints the log when it holds at least <paramref name="pages"/> pages (see <see cref="IndexStore.CheckpointIfLogOver"/>).</summary>
    public bool CheckpointIfLogOver(long pages) => _store.CheckpointIfLogOver(pages);

    /// <summary>fsyncs of the log file since the index was opened (for benchmarks: the cost of durability is in them).</summary>
    internal long LogFsyncCount => _store.LogStream.FsyncCount;

    /// <summary>Pages written to the log file since the index was opened (for benchmarks: every page is sealed, written, fsynced and checkpointed).</summary>
    internal long LogPageWrites => _store.LogStream.WriteCount;

    /// <summary>Pages in the log file now (emptied by each checkpoint).</summary>
    internal long LogPages => _store.LogStream.Length / EncryptedPageStream.PageSize;

    /// <summary>Times the log file was emptied (by a checkpoint) since the index was opened (for tests).</summary>
    internal long LogEpoch => _store.LogStream.Epoch;

    public void Dispose()
    {
        _store.Dispose();
        _atomic.Dispose();
    }
}
