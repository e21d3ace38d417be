// The sync outbox and the clip uploads' state, in the index (docs/protocol.md "Outbox"). Each metadata stream
// (`events`, `segments`) is a collection whose _id is the stream's sequence number (1, 2, 3, ... with no gaps), and a
// setting `sync.sent.{stream}` marks how far the broker acknowledged: sending is in order, so "sent" is one
// watermark, and marking a batch sent is one durable write. Sent messages are kept for `resend` until the outbox
// outgrows sync.outboxMaxBytes; then the oldest sent ones go first. Unsent messages are never dropped.
//
// An event and its outbox message are written in one LiteDB transaction and made durable together: after a power
// cut either both are there or neither. Segment manifests are batched (a watermark `sync.manifested.segment` on the
// segments' ids, advanced in the batch's own transaction), so a crash between sealing and batching loses nothing.
// The audit trail goes the same way (`audit`, watermark `sync.audited.audit` on the audit records' ids): the central
// keeps a copy of the chain off the box, so a stolen or wiped box does not take the record of who did what with it.
using LiteDB;

namespace Edge.Agent.Index;

public sealed class OutboxRecord
{
    /// <summary>The stream's sequence number: the message's `id` on the wire.</summary>
    public long Id { get; set; }
    public byte[] Payload { get; set; } = [];
    public DateTime QueuedUtc { get; set; }
}

public static class ClipStates
{
    public const string Uploading = "uploading";
    /// <summary>Every chunk acknowledged by the broker; the segments stay held until the central's clip-ack.</summary>
    public const string Uploaded = "uploaded";
    public const string Acknowledged = "acknowledged";
}

/// <summary>One upload of a flag's window: the segments it carries and how far the upload got.</summary>
public sealed class ClipRecord
{
    /// <summary>f{flagId}-{generation}: a flag that grows after its clip was made gets a further clip for the new segments.</summary>
    public string Id { get; set; } = "";
    public long FlagId { get; set; }
    public int Generation { get; set; }
    public DateTime FromUtc { get; set; }
    public DateTime ToUtc { get; set; }
    public List<long> SegmentIds { get; set; } = [];
    public int ChunkBytes { get; set; }
    public byte[] Manifest { get; set; } = [];
    public string State { get; set; } = ClipStates.Uploading;
    public bool ManifestSent { get; set; }
    /// <summary>Progress: every chunk before (SegmentIndex, NextChunk) was acknowledged (kept in the setting sync.clip.{id}.progress).</summary>
    public int SegmentIndex { get; set; }
    public int NextChunk { get; set; }
    public int Uploads { get; set; } = 1;
    public DateTime CreatedUtc { get; set; }
    public DateTime? UploadedUtc { get; set; }
    public DateTime? AcknowledgedUtc { get; set; }
}

public sealed class NonceRecord
{
    public string Id { get; set; } = "";
    public DateTime SeenUtc { get; set; }
}

public sealed record OutboxDepth(long Messages, long Bytes, bool OverBound, IReadOnlyDictionary<string, long> SentThrough);

public sealed partial class EdgeIndex
{
    public const string SyncStreamEvents = "events";
    public const string SyncStreamSegments = "segments";
    public const string SyncStreamAudit = "audit";
    private const string ManifestedSetting = "sync.manifested.segment";
    private const string AuditedSetting = "sync.audited.audit";

    private readonly ILiteCollection<OutboxRecord> _outboxEvents;
    private readonly ILiteCollection<OutboxRecord> _outboxSegments;
    private readonly ILiteCollection<OutboxRecord> _outboxAudit;
    private readonly ILiteCollection<ClipRecord> _clips;
    private readonly ILiteCollection<NonceRecord> _nonces;
    private readonly Lock _outboxGate = new();
    private Func<EventRecord, long, byte[]>? _eventMessage;
    private Dictionary<string, StreamState>? _streams;
    private long _outboxMaxBytes;
    private TimeProvider _outboxTime = TimeProvider.System;
    private DateTime? _manifestsPendingSince;
    private DateTime? _auditPendingSince;

    private sealed class StreamState
    {
        public long Next;
        public long Sent;
        public long Bytes;
    }

    /// <summary>Raised after a message was queued durably (outside any lock).</summary>
    public event Action? OutboxQueued;

    public bool OutboxEnabled => _eventMessage is not null;

    /// <summary>
    /// Turns the outbox on: from now on every event change is queued with <paramref name="eventMessage"/>(event, id).
    /// Called before anything records events (AgentHost, when sync is configured).
    /// </summary>
    public void EnableOutbox(Func<EventRecord, long, byte[]> eventMessage, long maxBytes, TimeProvider time)
    {
        lock (_outboxGate)
        {
            _streams = new Dictionary<string, StreamState>
            {
                [SyncStreamEvents] = LoadStream(SyncStreamEvents),
                [SyncStreamSegments] = LoadStream(SyncStreamSegments),
                [SyncStreamAudit] = LoadStream(SyncStreamAudit),
            };
            _outboxMaxBytes = maxBytes;
            _outboxTime = time;
            _eventMessage = eventMessage;
        }
    }

    // Inside Atomically() the sync engine is told once the block has committed (it would find nothing before).
    private void NotifyOutboxQueued()
    {
        if (_atomic.Value) _atomicQueuedOutbox = true;
        else OutboxQueued?.Invoke();
    }

    private ILiteCollection<OutboxRecord> OutboxOf(string stream) => stream switch
    {
        SyncStreamEvents => _outboxEvents,
        SyncStreamSegments => _outboxSegments,
        SyncStreamAudit => _outboxAudit,
        _ => throw new ArgumentException($"unknown outbox stream '{stream}' (expected events, segments or audit)", nameof(stream)),
    };

    private StreamState LoadStream(string stream)
    {
        var collection = OutboxOf(stream);
        long newest = collection.Find(Query.All("_id", Query.Descending), 0, 1).FirstOrDefault()?.Id ?? 0;
        long bytes = 0;
        foreach (var record in collection.FindAll()) bytes += record.Payload.Length;
        long sent = long.TryParse(GetSetting($"sync.sent.{stream}"), out var s) ? s : 0;
        return new StreamState { Next = newest + 1, Sent = Math.Min(sent, newest), Bytes = bytes };
    }

    private long WithOutbox(string stream, Func<EventRecord> write)
    {
        if (_eventMessage is not { } message) return write().Id;
        EventRecord? written = null;
        lock (_outboxGate)
        {
            var state = _streams![stream];
            int bytes = 0;
            Transaction(() =>
            {
                written = write();
                var payload = message(written, state.Next);
                OutboxOf(stream).Insert(new OutboxRecord { Id = state.Next, Payload = payload, QueuedUtc = _outboxTime.GetUtcNow().UtcDateTime });
                bytes = payload.Length;
            });
            // Inside Atomically() the counters move before the commit; a rollback there reloads them from the index.
            state.Next++;
            state.Bytes += bytes;
            TrimOutbox();
        }
        NotifyOutboxQueued();
        return written!.Id;
    }

    /// <summary>
    /// Adds many events, each with its outbox message when sync is on, in one transaction and one durable wait
    /// (a durable write costs milliseconds; this is for bulk loads such as the drain benchmark's backlog).
    /// </summary>
    public void AddEvents(IReadOnlyList<EventRecord> events)
    {
        lock (_outboxGate)
        {
            long next = _streams?[SyncStreamEvents].Next ?? 0, bytes = 0;
            Transaction(() =>
            {
                foreach (var e in events)
                {
                    e.Id = _events.Insert(e).AsInt64;
                    if (_eventMessage is not { } message) continue;
                    var payload = message(e, next);
                    _outboxEvents.Insert(new OutboxRecord { Id = next++, Payload = payload, QueuedUtc = _outboxTime.GetUtcNow().UtcDateTime });
                    bytes += payload.Length;
                }
            });
            if (_streams is not null)
            {
                _streams[SyncStreamEvents].Next = next;
                _streams[SyncStreamEvents].Bytes += bytes;
                TrimOutbox();
            }
        }
        _store.WaitUntilDurable();
        NotifyOutboxQueued();
    }

    /// <summary>
    /// Queues a `segments` message for segments indexed since the last batch, when there are
    /// <paramref name="maxBatch"/> of them or the first has waited <paramref name="maxWait"/>. True when a batch was queued.
    /// </summary>
    public bool BatchSegmentManifests(Func<IReadOnlyList<SegmentRecord>, long, byte[]> message, int maxBatch, TimeSpan maxWait, DateTime nowUtc) =>
        BatchSince(_segments, s => s.Id, SyncStreamSegments, ManifestedSetting, ref _manifestsPendingSince, message, maxBatch, maxWait, nowUtc);

    /// <summary>
    /// Queues an `audit` message for the audit records appended since the last batch (in id order, which is seq order),
    /// on the same terms as <see cref="BatchSegmentManifests"/>. True when a batch was queued.
    /// </summary>
    public bool BatchAuditRecords(Func<IReadOnlyList<AuditRecord>, long, byte[]> message, int maxBatch, TimeSpan maxWait, DateTime nowUtc) =>
        BatchSince(_audit, r => r.Id, SyncStreamAudit, AuditedSetting, ref _auditPendingSince, message, maxBatch, maxWait, nowUtc);

    // One batch of a collection's records after the watermark `setting` (on their _id), queued with the watermark's
    // advance in one transaction: a crash before the commit re-batches the same records, after it never again.
    private bool BatchSince<T>(ILiteCollection<T> source, Func<T, long> idOf, string stream, string setting, ref DateTime? pendingSince,
        Func<IReadOnlyList<T>, long, byte[]> message, int maxBatch, TimeSpan maxWait, DateTime nowUtc)
    {
        if (_streams is null) return false;
        lock (_outboxGate)
        {
            long last = long.TryParse(GetSetting(setting), out var l) ? l : 0;
            var pending = source.Find(Query.GT("_id", last), 0, maxBatch).ToList(); // walks the primary key from `last`
            if (pending.Count == 0) { pendingSince = null; return false; }
            pendingSince ??= nowUtc;
            if (pending.Count < maxBatch && nowUtc - pendingSince < maxWait) return false;
            var state = _streams[stream];
            byte[] payload = [];
            Transaction(() =>
            {
                payload = message(pending, state.Next);
                OutboxOf(stream).Insert(new OutboxRecord { Id = state.Next, Payload = payload, QueuedUtc = nowUtc });
                _settings.Upsert(new SettingRecord { Id = setting, Value = idOf(pending[^1]).ToString(System.Globalization.CultureInfo.InvariantCulture) });
            });
            state.Next++;
            state.Bytes += payload.Length;
            pendingSince = pending.Count == maxBatch ? nowUtc : null;
            TrimOutbox();
        }
        _store.WaitUntilDurable();
        NotifyOutboxQueued();
        return true;
    }

    /// <summary>Over the bound: drop the oldest already-sent messages (kept for resend), never an unsent one, never a stream's newest.</summary>
    private void TrimOutbox()
    {
        long total = _streams!.Values.Sum(s => s.Bytes);
        if (total <= _outboxMaxBytes) return;
        foreach (var (stream, state) in _streams)
        {
            if (total <= _outboxMaxBytes) break;
            var collection = OutboxOf(stream);
            long limit = Math.Min(state.Sent, state.Next - 2); // keep the newest: it carries the sequence across restarts
            long through = 0, freed = 0;
            foreach (var record in collection.Find(Query.LTE("_id", limit)))
            {
                if (total - freed <= _outboxMaxBytes) break;
                freed += record.Payload.Length;
                through = record.Id;
            }
            if (through == 0) continue;
            collection.DeleteMany(r => r.Id <= through);
            state.Bytes -= freed;
            total -= freed;
        }
    }

    public IReadOnlyList<OutboxRecord> UnsentOutbox(string stream, int max)
    {
        long sent;
        lock (_outboxGate) sent = _streams?[stream].Sent ?? long.MaxValue;
        // A range on _id walks the primary key in order and stops at the limit; Where + OrderBy read and sorted the
        // whole collection per batch (quadratic over a 100,000-message backlog).
        var unsent = OutboxOf(stream).Find(Query.GT("_id", sent), 0, max).ToList();
        // A message may have been committed inside another thread's Durably() block and not be on disk yet. Once
        // published, a power cut must not let the box forget it and reuse its id for something else (the central
        // would drop that as a duplicate), so what was read is made durable first: one log fsync per batch.
        if (unsent.Count > 0) _store.WaitUntilDurable();
        return unsent;
    }

    /// <summary>
    /// Records that the broker acknowledged the stream's messages <paramref name="fromId"/>..<paramref name="throughId"/>.
    /// A batch that does not follow the watermark (a resend moved it back while the batch was out) marks nothing.
    /// </summary>
    public void MarkOutboxSent(string stream, long fromId, long throughId)
    {
        lock (_outboxGate)
        {
            var state = _streams![stream];
            if (throughId <= state.Sent || fromId > state.Sent + 1) return;
            state.Sent = throughId;
            _settings.Upsert(new SettingRecord { Id = $"sync.sent.{stream}", Value = throughId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        _store.WaitUntilDurable();
    }

    /// <summary>Re-queues a stream from <paramref name="fromId"/> (the central's `resend`); null when done, else why not.</summary>
    public string? ResendOutbox(string stream, long fromId)
    {
        lock (_outboxGate)
        {
            var state = _streams![stream];
            var oldest = OutboxOf(stream).Find(Query.All("_id", Query.Ascending), 0, 1).FirstOrDefault()?.Id;
            if (oldest is null || fromId >= state.Next)
                return $"{stream} holds messages {(oldest is null ? "none" : $"{oldest} to {state.Next - 1}")}; {fromId} is not among them";
            if (fromId < oldest)
                return $"{stream} messages before {oldest} were dropped to keep the outbox under sync.outboxMaxBytes; resend from {oldest}";
            state.Sent = Math.Min(state.Sent, fromId - 1);
            _settings.Upsert(new SettingRecord { Id = $"sync.sent.{stream}", Value = state.Sent.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        _store.WaitUntilDurable();
        NotifyOutboxQueued();
        return null;
    }

    public OutboxDepth OutboxDepth()
    {
        lock (_outboxGate)
        {
            if (_streams is null) return new OutboxDepth(0, 0, false, new Dictionary<string, long>());
            long bytes = _streams.Values.Sum(s => s.Bytes);
            return new OutboxDepth(_streams.Values.Sum(s => s.Next - 1 - s.Sent), bytes, bytes > _outboxMaxBytes,
                _streams.ToDictionary(kv => kv.Key, kv => kv.Value.Sent));
        }
    }

    /// <summary>The outbox as stored, for `edge status` outside the agent (where the outbox is not enabled).</summary>
    public OutboxDepth OutboxDepthAtRest()
    {
        long messages = 0, bytes = 0;
        var sentThrough = new Dictionary<string, long>();
        foreach (var stream in new[] { SyncStreamEvents, SyncStreamSegments, SyncStreamAudit })
        {
            long sent = long.TryParse(GetSetting($"sync.sent.{stream}"), out var s) ? s : 0;
            sentThrough[stream] = sent;
            messages += OutboxOf(stream).Count(r => r.Id > sent);
            foreach (var record in OutboxOf(stream).FindAll()) bytes += record.Payload.Length;
        }
        return new OutboxDepth(messages, bytes, false, sentThrough);
    }

    public void AddClip(ClipRecord clip)
    {
        _clips.Insert(clip);
        _store.WaitUntilDurable();
    }

    public void UpdateClip(ClipRecord clip)
    {
        _clips.Update(clip);
        _store.WaitUntilDurable();
    }

    public ClipRecord? GetClip(string id) => _clips.FindById(id);

    /// <summary>Every chunk before (segmentIndex, nextChunk) of the clip was acknowledged; durable on return.</summary>
    public void SetClipProgress(string clipId, int segmentIndex, int nextChunk) =>
        SetSetting($"sync.clip.{clipId}.progress", $"{segmentIndex}/{nextChunk}");

    public (int SegmentIndex, int NextChunk) GetClipProgress(string clipId) =>
        GetSetting($"sync.clip.{clipId}.progress")?.Split('/') is [var s, var c] ? (int.Parse(s, System.Globalization.CultureInfo.InvariantCulture), int.Parse(c, System.Globalization.CultureInfo.InvariantCulture)) : (0, 0);

    public IReadOnlyList<ClipRecord> ClipsOfFlag(long flagId) => _clips.Find(c => c.FlagId == flagId).OrderBy(c => c.Generation).ToList();

    public IReadOnlyList<ClipRecord> AllClips() => _clips.FindAll().OrderBy(c => c.CreatedUtc).ToList();

    /// <summary>Records a command id; false when it was already there (a replay).</summary>
    public bool RememberNonce(string id, DateTime nowUtc)
    {
        lock (_outboxGate)
        {
            if (_nonces.FindById(id) is not null) return false;
            _nonces.Insert(new NonceRecord { Id = id, SeenUtc = nowUtc });
        }
        _store.WaitUntilDurable();
        return true;
    }

    /// <summary>The most recently recorded event, by id.</summary>
    public EventRecord? LastEvent() => _events.Find(Query.All("_id", Query.Descending), 0, 1).FirstOrDefault();

    public int ForgetNoncesBefore(DateTime utc) => _nonces.DeleteMany(n => n.SeenUtc < utc);
}
