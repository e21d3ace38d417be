// The index's records as protocol messages (docs/protocol.md). Metadata only: no key, no footage, except the clip
// manifest, which carries each segment's key wrapped to the owner's public key (useless without owner.key).
using Edge.Agent.Index;
using Edge.Sync;
using Edge.Sync.Protocol;

namespace Edge.Agent.Sync;

public static class SyncPayloads
{
    public static byte[] Event(EventRecord e, long id) => SyncJson.Serialize(new EventMessage(SyncJson.Schema, id, SyncStreams.Events,
        new EventPayload(e.Id, e.Kind, e.Door, e.Cameras, e.StartUtc, e.EndUtc, e.DecidedBy, e.Detail)));

    public static byte[] Segments(IReadOnlyList<SegmentRecord> segments, long id) => SyncJson.Serialize(new SegmentsMessage(SyncJson.Schema, id,
        SyncStreams.Segments, segments.Select(s => new SegmentManifest(s.Id, s.Camera, s.StartUtc, s.EndUtc, s.DurationSeconds, s.Bytes,
            s.StoredBytes, s.StoredSha256, s.ClockTrusted, s.OwnerKeyId)).ToList()));

    public static byte[] Audit(IReadOnlyList<AuditRecord> records, long id) => SyncJson.Serialize(new AuditMessage(SyncJson.Schema, id,
        SyncStreams.Audit, records.Select(r => new AuditEntry(r.Seq, r.PrevHash ?? "", r.Hash ?? "", r.AtUtc, r.Action, r.User, r.Detail,
            r.Purpose, r.Recipient)).ToList()));

    public static byte[] ClipManifest(string clipId, FlagRecord flag, IReadOnlyList<SegmentRecord> segments, int chunkBytes) =>
        SyncJson.Serialize(new ClipManifest(SyncJson.Schema, clipId, flag.Id, flag.Reason, flag.FromUtc, flag.ToUtc, flag.Cameras, chunkBytes,
            segments.Select(s => new ClipSegment(s.Id, s.Camera, s.StartUtc, s.EndUtc, s.Container, s.StoredBytes, s.StoredSha256,
                s.WrappedKey is null ? null : Convert.ToBase64String(s.WrappedKey), s.OwnerKeyId,
                Edge.Sync.Protocol.ClipManifest.ChunksFor(s.StoredBytes, chunkBytes), s.RelativePath.Replace('\\', '/'))).ToList()));
}
