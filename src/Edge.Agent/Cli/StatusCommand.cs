using Edge.Agent.Configuration;
using Edge.Agent.Index;

namespace Edge.Agent.Cli;

public static class StatusCommand
{
    public sealed record CameraStatus(string Id, string Source, string State, SegmentsCommand.SegmentJson? LastSegment, string? LastError);
    public sealed record VolumeStatus(string Path, bool Mounted, long? TotalBytes, long? FreeBytes);
    public sealed record IndexStatus(string Directory, long SizeBytes, int Segments);
    /// <summary>The agent process itself, when the status comes from it: for the soak benchmark and for support.</summary>
    /// <param name="ManagedHeapBytes">Everything allocated and not yet collected, garbage included.</param>
    /// <param name="ManagedHeapAfterLastGcBytes">What the last collection left: live objects, plus fragmentation.</param>
    /// <param name="GcCommittedBytes">Memory the GC holds from the OS (what the heap costs in RSS, at most).</param>
    /// <param name="GcCollections">Collections so far of generations 0, 1 and 2.</param>
    public sealed record AgentProcess(int Pid, long RssBytes, long ManagedHeapBytes, double CpuSeconds, double UptimeSeconds, long SegmentsSealed,
        Recording.LatencyWindow.Summary SealLatency)
    {
        public long ManagedHeapAfterLastGcBytes { get; init; }
        public long GcCommittedBytes { get; init; }
        public IReadOnlyList<int> GcCollections { get; init; } = [];
    }
    /// <summary>Sync to the central: the connection (from the running agent) and the outbox (from the index).</summary>
    public sealed record SyncStatus(string Broker, string Connection, DateTime? ConnectedSince, string? LastError, long QueuedMessages, long OutboxBytes,
        IReadOnlyDictionary<string, long> SentThrough, int ClipsUploading, int ClipsAwaitingAck);
    public sealed record Status(string SiteId, string DeviceId, string TimeZone, bool AgentRunning, DateTimeOffset At,
        IReadOnlyList<CameraStatus> Cameras, IReadOnlyList<VolumeStatus> Volumes, IndexStatus Index, string? LastReconcile, AgentProcess? Agent)
    {
        public SyncStatus? Sync { get; init; }
    }

    private static SyncStatus? DescribeSync(EdgeSettings settings, EdgeIndex index, CommandContext context)
    {
        if (settings.Sync is not { } options) return null;
        var snapshot = context.Sync?.Engine.Snapshot();
        // Outside the agent the outbox is not enabled on this index: count what the collections hold.
        var depth = index.OutboxEnabled ? index.OutboxDepth() : index.OutboxDepthAtRest();
        var clips = index.AllClips();
        return new SyncStatus(options.Broker.ToString(), snapshot?.State.ToString().ToLowerInvariant() ?? "agent not running", snapshot?.ConnectedSinceUtc,
            snapshot?.LastError, depth.Messages, depth.Bytes, depth.SentThrough,
            clips.Count(c => c.State == ClipStates.Uploading), clips.Count(c => c.State == ClipStates.Uploaded));
    }

    private static AgentProcess Describe(Recording.RecordingService recording, TimeProvider time)
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        var gc = GC.GetGCMemoryInfo();
        return new AgentProcess(self.Id, self.WorkingSet64, GC.GetTotalMemory(forceFullCollection: false),
            self.TotalProcessorTime.TotalSeconds, (time.GetUtcNow() - self.StartTime.ToUniversalTime()).TotalSeconds, recording.SegmentsSealed,
            recording.SealLatency.Summarise())
        {
            ManagedHeapAfterLastGcBytes = gc.HeapSizeBytes,
            GcCommittedBytes = gc.TotalCommittedBytes,
            GcCollections = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)],
        };
    }

    public static Task<int> RunAsync(FileInfo configFile, bool json, CommandContext context, CancellationToken _)
    {
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        using var lease = context.OpenIndex(settings);
        var index = lease.Index;
        var cameras = settings.Cameras.Select(c =>
        {
            var last = index.LastSegment(c.Id);
            var recorder = context.Recording?.Recorders.GetValueOrDefault(c.Id);
            string state = recorder?.State.ToString().ToLowerInvariant() ?? "agent not running";
            return new CameraStatus(c.Id, c.Source.Describe(), state, last is null ? null : SegmentsCommand.ToJson(last, settings), recorder?.LastError);
        }).ToList();
        var volumes = settings.Volumes.Select(v =>
        {
            if (!Directory.Exists(v)) return new VolumeStatus(v, false, null, null);
            var drive = new DriveInfo(v);
            return new VolumeStatus(v, true, drive.TotalSize, drive.AvailableFreeSpace);
        }).ToList();
        var status = new Status(settings.SiteId, settings.DeviceId, settings.TimeZone.Id, context.InsideAgent,
            settings.ToSiteTime(context.Time.GetUtcNow()), cameras, volumes,
            new IndexStatus(settings.IndexDirectory, index.SizeBytes, index.CountSegments()), index.GetSetting("lastReconcile"),
            context.Recording is { } recording ? Describe(recording, context.Time) : null)
        {
            Sync = DescribeSync(settings, index, context),
        };

        if (json)
        {
            CliJson.Write(context.Out, status);
            return Task.FromResult(EdgeCli.ExitOk);
        }
        var o = context.Out;
        o.WriteLine($"site {status.SiteId}, device {status.DeviceId}, {status.At:yyyy-MM-dd HH:mm:ss zzz} ({status.TimeZone}); agent {(status.AgentRunning ? "running" : "not running")}");
        o.WriteLine("cameras:");
        foreach (var c in cameras)
        {
            var last = c.LastSegment is null ? "no segment yet" : $"last segment {c.LastSegment.End:yyyy-MM-dd HH:mm:ss}";
            o.WriteLine($"  {c.Id,-14} {c.State,-17} {last}  ({c.Source}){(c.LastError is null ? "" : "  error: " + c.LastError)}");
        }
        o.WriteLine("volumes:");
        foreach (var v in volumes)
            o.WriteLine(v.Mounted ? $"  {v.Path}  {v.FreeBytes / 1e9:0.0} GB free of {v.TotalBytes / 1e9:0.0} GB" : $"  {v.Path}  NOT PRESENT");
        if (status.Agent is { } a)
            o.WriteLine($"agent: pid {a.Pid}, up {a.UptimeSeconds / 3600:0.0} h, RSS {a.RssBytes / 1048576.0:0.0} MiB, managed heap {a.ManagedHeapBytes / 1048576.0:0.0} MiB, {a.SegmentsSealed} segments sealed");
        if (status.Sync is { } sync)
            o.WriteLine($"sync: {sync.Connection} to {sync.Broker}{(sync.LastError is null ? "" : $" (last error: {sync.LastError})")}; " +
                        $"{sync.QueuedMessages} messages queued, {sync.ClipsUploading} clip(s) uploading, {sync.ClipsAwaitingAck} awaiting the central's ack");
        o.WriteLine($"index: {status.Index.Segments} segments, {status.Index.SizeBytes / 1024.0:0} KiB at {status.Index.Directory}");
        return Task.FromResult(EdgeCli.ExitOk);
    }
}
