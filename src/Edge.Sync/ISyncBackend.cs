// What the sync engine needs from the box, without depending on the agent: the outbox (kept in the index), the clip
// uploads' durable progress, the state for status and health, the nonce store and the audit trail, and the effect of
// an accepted command. The agent implements it over its index (Edge.Agent/Sync/IndexSyncBackend.cs).
using Edge.Sync.Protocol;

namespace Edge.Sync;

/// <summary>One queued metadata message; <see cref="Id"/> is its sequence number in its stream (1, 2, 3, ...).</summary>
public sealed record OutboxMessage(string Stream, long Id, byte[] Payload);

public sealed record ClipSegmentFile(long SegmentId, string Path, long StoredBytes, int Chunks);

/// <summary>A clip to upload and how far it got: chunks before (SegmentIndex, NextChunk) were acknowledged.</summary>
public sealed record ClipUpload(string ClipId, byte[] Manifest, IReadOnlyList<ClipSegmentFile> Segments, int ChunkBytes,
    bool ManifestSent, int SegmentIndex, int NextChunk);

public sealed record CommandOutcome(bool Ok, string? Error, string? Detail, object? Result)
{
    public static CommandOutcome Success(object? result) => new(true, null, null, result);
    public static CommandOutcome Failure(string error, string detail) => new(false, error, detail, null);
}

public interface ISyncBackend
{
    string SiteId { get; }
    string DeviceId { get; }

    /// <summary>Raised when something was queued (an event, a batch, a clip): the engine stops waiting.</summary>
    event Action? WorkQueued;

    /// <summary>Local, connection-independent work: batch segment manifests, open clips for completed flags.</summary>
    void Housekeep();

    /// <summary>The oldest unsent messages of a stream, in id order.</summary>
    IReadOnlyList<OutboxMessage> UnsentMetadata(string stream, int max);

    /// <summary>
    /// The messages <paramref name="fromId"/>..<paramref name="throughId"/> of the stream were acknowledged (PUBACK).
    /// Ignored when a `resend` moved the stream back meanwhile (the batch no longer follows what is marked sent).
    /// </summary>
    void MarkSent(string stream, long fromId, long throughId);

    ClipUpload? NextClip();
    void ClipManifestSent(string clipId);
    /// <summary>Chunks before (segmentIndex, nextChunk) are acknowledged; persisted before returning.</summary>
    void ClipProgress(string clipId, int segmentIndex, int nextChunk);
    void ClipUploaded(string clipId);

    StatusMessage Status(string state, string? reason);
    HealthMessage Health();

    /// <summary>Remembers a command id; false when it was seen before (a replay).</summary>
    bool RememberNonce(string id, DateTime nowUtc);
    void AuditCommand(string topicName, CommandBody? body, bool accepted, string detail);
    CommandOutcome Execute(CommandBody command);
}
