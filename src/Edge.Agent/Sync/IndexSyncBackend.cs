// The sync engine's view of the box (Edge.Sync.ISyncBackend) over the index: the outbox, clips for completed flags,
// health and status, the nonce store, the audit trail and the commands' effects.
//
// A flag's clip is made when its window is complete: its end (which includes the post-roll) has passed and every
// camera has a sealed segment reaching it, or a camera stayed silent for ClipGrace after the end (it was offline:
// the clip carries what exists). A flag that grows after its clip was made gets a further clip with only the new
// segments, so no footage leaves twice. The flag keeps its segments from retention (FlagRecord.Holds) until the
// central's clip-ack for every clip of the flag; `verified:false` re-uploads that clip from chunk 0.
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using Edge.Agent.Configuration;
using Edge.Agent.Flags;
using Edge.Agent.Index;
using Edge.Agent.Recording;
using Edge.Agent.Storage;
using Edge.Hardware.Board;
using Edge.Hardware.Clock;
using Edge.Sync;
using CommandBody = Edge.Sync.Protocol.CommandBody;
using Edge.Sync.Protocol;
using Microsoft.Extensions.Logging;

namespace Edge.Agent.Sync;

public sealed class IndexSyncBackend : ISyncBackend
{
    public const int ManifestBatch = 100;
    public static readonly TimeSpan ManifestWait = TimeSpan.FromSeconds(10);
    /// <summary>How long after a flag's end a silent camera is waited for before its clip goes without it.</summary>
    public static readonly TimeSpan ClipGrace = TimeSpan.FromSeconds(60);

    private readonly EdgeSettings _settings;
    private readonly SyncOptions _options;
    private readonly EdgeIndex _index;
    private readonly Lock _clipGate = new();
    private readonly Flagger _flagger;
    private readonly RecordingRate _rate;
    private readonly Func<RecordingService?> _recording;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IClockTrust _clock;
    private readonly BoardHealthReader _board = new();
    private readonly DateTime _startedAt;
    private readonly string? _configHash;
    private readonly string? _ownerKeyId;
    private DateTime _noncesPrunedAt;

    public IndexSyncBackend(EdgeSettings settings, EdgeIndex index, Flagger flagger, RecordingRate rate, Func<RecordingService?> recording,
        TimeProvider time, ILogger logger)
    {
        _settings = settings;
        _options = settings.Sync ?? throw new ArgumentException("sync is not configured", nameof(settings));
        _index = index;
        _flagger = flagger;
        _rate = rate;
        _recording = recording;
        _time = time;
        _logger = logger;
        _clock = new KernelClockTrust(settings.ClockTrust, time);
        _startedAt = time.GetUtcNow().UtcDateTime;
        try { _configHash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(settings.ConfigPath))); }
        catch (IOException) { _configHash = null; }
        _ownerKeyId = settings.OwnerPublicKeyFile is { } owner ? Sealing.OwnerKeys.LoadPublic(owner).KeyId : null;
        index.OutboxQueued += () => WorkQueued?.Invoke();
    }

    public string SiteId => _settings.SiteId;
    public string DeviceId => _settings.DeviceId;
    public event Action? WorkQueued;

    public void Housekeep()
    {
        var now = _time.GetUtcNow().UtcDateTime;
        while (_index.BatchSegmentManifests(SyncPayloads.Segments, ManifestBatch, ManifestWait, now)) { }
        while (_index.BatchAuditRecords(SyncPayloads.Audit, ManifestBatch, ManifestWait, now)) { }
        OpenClips(now);
        UploadUnacknowledgedClipsAgain(now);
        if (now - _noncesPrunedAt > TimeSpan.FromMinutes(1))
        {
            // Ids are remembered for twice the accepted age: an older replay is refused as expired anyway.
            _index.ForgetNoncesBefore(now - 2 * _options.CommandMaxAge);
            _noncesPrunedAt = now;
        }
    }

    // A clip the broker took but the central never acknowledged (its ack lost, or the clip itself lost with a broker
    // restarted without persistence while the central was away) would otherwise hold its flag's footage forever.
    private void UploadUnacknowledgedClipsAgain(DateTime now)
    {
        foreach (var waiting in _index.AllClips().Where(c => c.State == ClipStates.Uploaded && now - c.UploadedUtc >= _options.ClipAckTimeout))
        {
            lock (_clipGate)
            {
                var clip = _index.GetClip(waiting.Id);
                if (clip is not { State: ClipStates.Uploaded }) continue; // acknowledged meanwhile
                StartOver(clip);
            }
            _logger.LogWarning("sync: no clip-ack for clip {Clip} {Minutes:0.#} min after its upload; uploading it again (upload {N})",
                waiting.Id, (now - waiting.UploadedUtc!.Value).TotalMinutes, waiting.Uploads + 1);
            WorkQueued?.Invoke();
        }
    }

    // Under _clipGate. The progress goes back to the start before the clip becomes `uploading` again: the pump picks up
    // an uploading clip at any moment, and with the old progress it would send the manifest and no chunk at all.
    private void StartOver(ClipRecord clip)
    {
        _index.SetClipProgress(clip.Id, 0, 0);
        clip.State = ClipStates.Uploading;
        clip.ManifestSent = false;
        clip.Uploads++;
        _index.UpdateClip(clip);
    }

    private void OpenClips(DateTime now)
    {
        foreach (var flag in _index.AllFlags().Where(f => f.SyncState == FlagSyncStates.Pending))
        {
            var clips = _index.ClipsOfFlag(flag.Id);
            if (clips.Any(c => c.State != ClipStates.Acknowledged)) continue; // one upload at a time per flag
            if (now < flag.ToUtc) continue;
            bool complete = flag.Cameras.All(c => _index.LastSegment(c) is { } last && last.EndUtc >= flag.ToUtc) || now >= flag.ToUtc + ClipGrace;
            if (!complete) continue;
            var sent = clips.SelectMany(c => c.SegmentIds).ToHashSet();
            var segments = flag.Cameras
                .SelectMany(c => _index.QuerySegments(c, flag.FromUtc, flag.ToUtc))
                .Where(s => s.State == SegmentState.Stored && !sent.Contains(s.Id))
                .OrderBy(s => s.StartUtc).ThenBy(s => s.Camera).ToList();
            if (segments.Count == 0 && clips.Count > 0)
            {
                // Grew, but nothing new to send (the added time had no footage): what the central has covers it.
                flag.SyncState = FlagSyncStates.Synced;
                _index.UpdateFlag(flag);
                continue;
            }
            int generation = clips.Count == 0 ? 1 : clips.Max(c => c.Generation) + 1;
            var clipId = $"f{flag.Id}-{generation}";
            var clip = new ClipRecord
            {
                Id = clipId,
                FlagId = flag.Id,
                Generation = generation,
                FromUtc = flag.FromUtc,
                ToUtc = flag.ToUtc,
                SegmentIds = segments.Select(s => s.Id).ToList(),
                ChunkBytes = _options.ClipChunkBytes,
                Manifest = SyncPayloads.ClipManifest(clipId, flag, segments, _options.ClipChunkBytes),
                CreatedUtc = now,
            };
            _index.AddClip(clip);
            _logger.LogInformation("sync: clip {Clip} queued: flag {Flag} ({Reason}), {Count} segments, {Bytes} bytes",
                clipId, flag.Id, flag.Reason, segments.Count, segments.Sum(s => s.StoredBytes));
            WorkQueued?.Invoke();
        }
    }

    public IReadOnlyList<OutboxMessage> UnsentMetadata(string stream, int max) =>
        _index.UnsentOutbox(stream, max).Select(r => new OutboxMessage(stream, r.Id, r.Payload)).ToList();

    public void MarkSent(string stream, long fromId, long throughId) => _index.MarkOutboxSent(stream, fromId, throughId);

    public ClipUpload? NextClip()
    {
        var clip = _index.AllClips().FirstOrDefault(c => c.State == ClipStates.Uploading);
        if (clip is null) return null;
        (clip.SegmentIndex, clip.NextChunk) = _index.GetClipProgress(clip.Id);
        var files = new List<ClipSegmentFile>();
        for (int i = 0; i < clip.SegmentIds.Count; i++)
        {
            var segment = _index.GetSegment(clip.SegmentIds[i]);
            bool readable = segment is { State: SegmentState.Stored } && File.Exists(segment.FullPath);
            if (!readable && i >= clip.SegmentIndex)
                _logger.LogError("sync: segment {Segment} of clip {Clip} is {State}; its chunks cannot be sent and the central will find the clip incomplete",
                    clip.SegmentIds[i], clip.Id, segment?.State.ToString() ?? "gone from the index");
            files.Add(readable
                ? new ClipSegmentFile(segment!.Id, segment.FullPath, segment.StoredBytes, ClipManifest.ChunksFor(segment.StoredBytes, clip.ChunkBytes))
                : new ClipSegmentFile(clip.SegmentIds[i], "", 0, 0));
        }
        return new ClipUpload(clip.Id, clip.Manifest, files, clip.ChunkBytes, clip.ManifestSent, clip.SegmentIndex, clip.NextChunk);
    }

    public void ClipManifestSent(string clipId) => Change(clipId, c => c.ManifestSent = true);

    // A small document of its own: written after every acknowledged chunk, it must not rewrite the clip's manifest.
    public void ClipProgress(string clipId, int segmentIndex, int nextChunk) => _index.SetClipProgress(clipId, segmentIndex, nextChunk);

    public void ClipUploaded(string clipId) => Change(clipId, c =>
    {
        if (c.State != ClipStates.Uploading) return; // its clip-ack came while the last chunks were on their way
        c.State = ClipStates.Uploaded;
        c.UploadedUtc = _time.GetUtcNow().UtcDateTime;
    });

    private void Change(string clipId, Action<ClipRecord> change)
    {
        lock (_clipGate)
        {
            var clip = _index.GetClip(clipId) ?? throw new InvalidOperationException($"clip {clipId} is not in the index");
            change(clip);
            _index.UpdateClip(clip);
        }
    }

    public StatusMessage Status(string state, string? reason) => new(SyncJson.Schema, state, SiteId, DeviceId,
        typeof(IndexSyncBackend).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion,
        BootTime(), _startedAt, _configHash, _ownerKeyId, reason)
    {
        DevicePublicKey = DevicePublicKeyBase64(),
        AuditHead = CurrentAuditHead(),
    };

    private Edge.Sync.Protocol.AuditHead? CurrentAuditHead()
    {
        var head = _index.AuditHead();
        return head.Seq == 0 ? null : new Edge.Sync.Protocol.AuditHead(head.Seq, head.Hash);
    }

    /// <summary>device.pub beside the index key (written by `edge run` or `edge provision`); null until it exists.</summary>
    private string? DevicePublicKeyBase64()
    {
        var path = Sealing.DeviceSigningKey.PublicPathFor(_settings.IndexKeyFile);
        if (!File.Exists(path)) return null;
        try { return Convert.ToBase64String(Sealing.DeviceSigningKey.LoadPublic(path).SubjectPublicKeyInfo); }
        catch (Sealing.DeviceKeyException e)
        {
            _logger.LogWarning("sync: status goes without devicePublicKey: {Problem}", e.Message);
            return null;
        }
    }

    private DateTime? BootTime()
    {
        // btime in /proc/stat: seconds since the epoch at boot; absent off Linux.
        try
        {
            foreach (var line in File.ReadLines("/proc/stat"))
                if (line.StartsWith("btime ", StringComparison.Ordinal) && long.TryParse(line[6..], out var seconds))
                    return DateTimeOffset.FromUnixTimeSeconds(seconds).UtcDateTime;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    public HealthMessage Health()
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var recorders = _recording()?.Recorders;
        var cameras = _settings.Cameras.Select(c =>
        {
            var last = _index.LastSegment(c.Id);
            var state = recorders?.GetValueOrDefault(c.Id)?.State.ToString().ToLowerInvariant() ?? "stopped";
            double? kbps = last is { DurationSeconds: > 0 } ? Math.Round(last.Bytes * 8 / last.DurationSeconds / 1000, 1) : null;
            return new CameraHealth(c.Id, state, kbps, last?.EndUtc);
        }).ToList();
        var newest = cameras.Count == 0 ? null : _settings.Cameras.Select(c => _index.LastSegment(c.Id)).Where(s => s is not null).MaxBy(s => s!.EndUtc);
        var volumes = _settings.Volumes.Select(v =>
        {
            if (VolumeSet.Unusable(v) is not null) return new VolumeHealth(v, false, null, null, null);
            var space = VolumeSpace.Of(v);
            var rate = _rate.BytesPerSecond(v);
            return new VolumeHealth(v, newest?.Volume == v, Math.Round(space.UsedPercent, 1), space.FreeBytes,
                rate > 0 ? Math.Round(space.FreeBytes / rate / 86400, 1) : null);
        }).ToList();
        var depth = _index.OutboxDepth();
        int clipsPending = _index.AllClips().Count(c => c.State != ClipStates.Acknowledged);
        if (depth.OverBound)
            _logger.LogWarning("sync: outbox holds {Bytes} bytes of unsent metadata, over sync.outboxMaxBytes; kept (metadata is never dropped)", depth.Bytes);
        var board = _board.Read();
        var lastEvent = _index.LastEvent();
        return new HealthMessage(SyncJson.Schema, now, Math.Round((now - _startedAt).TotalSeconds), cameras, volumes,
            new OutboxHealth(depth.Messages, depth.Bytes, clipsPending, depth.OverBound), _clock.IsTrusted(),
            new BoardHealthMessage
            {
                CpuTemperatureC = board.CpuTemperatureCelsius is { } t ? Math.Round(t, 1) : null,
                UnderVoltageNow = board.Throttling?.UnderVoltageNow,
                UnderVoltageSinceBoot = board.Throttling?.UnderVoltageSinceBoot,
                ThrottledNow = board.Throttling?.LimitedNow,
            },
            lastEvent is null ? null : new LastEvent(lastEvent.Kind, lastEvent.StartUtc))
        {
            AuditHead = CurrentAuditHead(),
        };
    }

    public bool RememberNonce(string id, DateTime nowUtc) => _index.RememberNonce(id, nowUtc);

    public void AuditCommand(string topicName, CommandBody? body, bool accepted, string detail) => _index.Audit(new AuditRecord
    {
        AtUtc = _time.GetUtcNow().UtcDateTime,
        Action = accepted ? "sync_command" : "sync_command_refused",
        User = "central",
        Detail = body is null ? detail : $"{detail} (command {body.Id}, issued {body.IssuedAt:O})",
    });

    public CommandOutcome Execute(CommandBody command)
    {
        try
        {
            return command.Name switch
            {
                "request-window" => RequestWindow(command.Args),
                "resend" => Resend(command.Args),
                "clip-ack" => ClipAck(command.Args),
                _ => CommandOutcome.Failure(CommandErrors.UnknownCommand, $"'{command.Name}' has no effect here"),
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException or ArgumentException)
        {
            return CommandOutcome.Failure(CommandErrors.Malformed, $"args: {e.Message}");
        }
    }

    private CommandOutcome RequestWindow(JsonElement args)
    {
        var cameras = args.GetProperty("cameras").EnumerateArray().Select(c => c.GetString() ?? "").ToList();
        var from = args.GetProperty("from").GetDateTime().ToUniversalTime();
        var to = args.GetProperty("to").GetDateTime().ToUniversalTime();
        var reason = args.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "requested by the central";
        var unknown = cameras.Where(c => _settings.FindCamera(c) is null).ToList();
        if (cameras.Count == 0 || unknown.Count > 0)
            return CommandOutcome.Failure(CommandErrors.Malformed, cameras.Count == 0 ? "args.cameras is empty" : $"unknown camera(s): {string.Join(", ", unknown)}");
        if (to <= from || to - from > TimeSpan.FromDays(1))
            return CommandOutcome.Failure(CommandErrors.Malformed, $"the window {from:O} to {to:O} must be positive and at most 24 h");
        var flag = _flagger.Flag(cameras, from, to, "central: " + reason, null, "central");
        return CommandOutcome.Success(new { flagId = flag.Id });
    }

    private CommandOutcome Resend(JsonElement args)
    {
        var stream = args.GetProperty("stream").GetString();
        if (stream is not (SyncStreams.Events or SyncStreams.Segments or SyncStreams.Audit))
            return CommandOutcome.Failure(CommandErrors.Malformed, $"args.stream '{stream}' is not events, segments or audit");
        var fromId = args.GetProperty("fromId").GetInt64();
        var refused = _index.ResendOutbox(stream, fromId);
        return refused is null ? CommandOutcome.Success(new { stream, fromId }) : CommandOutcome.Failure(CommandErrors.Failed, refused);
    }

    private CommandOutcome ClipAck(JsonElement args)
    {
        var clipId = args.GetProperty("clipId").GetString() ?? "";
        var verified = args.GetProperty("verified").GetBoolean();
        lock (_clipGate) return ClipAck(clipId, verified);
    }

    // Under _clipGate: the housekeeping's re-upload and the pump's "uploaded" change the same clip record.
    private CommandOutcome ClipAck(string clipId, bool verified)
    {
        var clip = _index.GetClip(clipId);
        if (clip is null) return CommandOutcome.Failure(CommandErrors.Failed, $"no clip {clipId} on this box");
        if (!verified)
        {
            StartOver(clip);
            _logger.LogWarning("sync: the central could not verify clip {Clip}; uploading it again (upload {N})", clipId, clip.Uploads);
            return CommandOutcome.Success(new { clipId, reupload = true });
        }
        clip.State = ClipStates.Acknowledged;
        clip.AcknowledgedUtc = _time.GetUtcNow().UtcDateTime;
        _index.UpdateClip(clip);
        var flag = _index.AllFlags().FirstOrDefault(f => f.Id == clip.FlagId);
        if (flag is not null && flag.FromUtc == clip.FromUtc && flag.ToUtc == clip.ToUtc
            && _index.ClipsOfFlag(flag.Id).All(c => c.State == ClipStates.Acknowledged))
        {
            flag.SyncState = FlagSyncStates.Synced; // the sync hold ends: ordinary retention applies again
            _index.UpdateFlag(flag);
        }
        return CommandOutcome.Success(new { clipId, flagSynced = flag?.SyncState == FlagSyncStates.Synced });
    }
}
