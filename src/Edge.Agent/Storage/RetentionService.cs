// Retention: footage is kept only as long as needed. Each pass (every retention.checkSeconds, and after a segment
// is sealed onto a volume that is short of space):
//   1. age:   unprotected segments that ended more than retention.days ago are purged;
//   2. space: while a volume's free space is under its floor, its oldest unprotected segments are purged;
//   3. emergency: if nothing unprotected is left and the volume is above retention.emergencyAbovePercent full,
//      protected segments go too, oldest first, each with a retention_emergency event.
// Floor = max(minFreePercent of the volume, one hour of its measured recording rate) + slackBytesPerCamera × cameras.
// A segment is protected while a flag covers it (door events, holds, requests from the central) and the central has
// not yet acknowledged the flag's clip (FlagRecord.Holds: after the clip-ack, ordinary retention applies again).
using Edge.Agent.Configuration;
using Edge.Agent.Index;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Agent.Storage;

public sealed record VolumeSpace(long TotalBytes, long FreeBytes)
{
    public double UsedPercent => TotalBytes == 0 ? 100 : 100.0 * (TotalBytes - FreeBytes) / TotalBytes;

    public static VolumeSpace Of(string volume)
    {
        var drive = new DriveInfo(volume);
        return new VolumeSpace(drive.TotalSize, drive.AvailableFreeSpace);
    }
}

public sealed class RetentionService(EdgeSettings settings, EdgeIndex index, RecordingRate rate, TimeProvider time, ILogger<RetentionService> logger)
    : BackgroundService
{
    private readonly SegmentPurger _purger = new(index, time);
    private readonly Audit.RecordRetention _records = new(index, settings, time);
    private readonly SemaphoreSlim _nudge = new(0, 1);
    private readonly RetentionConfig _config = settings.Raw.Retention;

    public long Passes => Interlocked.Read(ref _passes);
    private long _passes;

    /// <summary>Asks for a pass soon (after a seal); cheap and non-blocking.</summary>
    public void Nudge()
    {
        try { _nudge.Release(); } catch (SemaphoreFullException) { /* a pass is already pending */ }
    }

    /// <summary>
    /// Never more than half the volume: an hour of 8 cameras at 4 Mbit/s is 14 GB, and the rule must not keep a small
    /// SD card empty. The cap is the one liberty taken with the floor rule (docs/design/storage.md).
    /// </summary>
    public const double MaxFloorShare = 0.5;

    public long FloorBytes(string volume, VolumeSpace space) => (long)Math.Min(space.TotalBytes * MaxFloorShare,
        Math.Max(space.TotalBytes * _config.MinFreePercent / 100, rate.BytesPerSecond(volume) * 3600)
        + _config.SlackBytesPerCamera * settings.Cameras.Count);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(_config.CheckSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                RunPass();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or LiteDB.LiteException)
            {
                logger.LogError(e, "retention pass failed; retrying at the next pass");
            }
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            wake.CancelAfter(interval);
            try { await _nudge.WaitAsync(wake.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested) { }
            catch (OperationCanceledException) { break; }
        }
    }

    public void RunPass()
    {
        var flags = index.AllFlags();
        bool Protected(SegmentRecord s) => flags.Any(f => f.Holds(s));
        var cutoff = time.GetUtcNow().UtcDateTime.AddDays(-_config.Days);

        foreach (var old in index.OldestSegments().TakeWhile(s => s.EndUtc < cutoff).Where(s => !Protected(s)).ToList())
            _purger.Purge(old, PurgeReasons.Age);

        foreach (var volume in settings.Volumes.Where(v => VolumeSet.Unusable(v) is null))
            EnforceFloor(volume, Protected);
        _records.RunPass();
        Interlocked.Increment(ref _passes);
    }

    private void EnforceFloor(string volume, Func<SegmentRecord, bool> isProtected)
    {
        var space = VolumeSpace.Of(volume);
        long floor = FloorBytes(volume, space);
        if (space.FreeBytes >= floor) return;

        using var candidates = index.OldestSegments(volume).Where(s => s.State == SegmentState.Stored).ToList().GetEnumerator();
        var protectedOnes = new List<SegmentRecord>();
        while (space.FreeBytes < floor && candidates.MoveNext())
        {
            var segment = candidates.Current;
            if (isProtected(segment)) { protectedOnes.Add(segment); continue; }
            _purger.Purge(segment, PurgeReasons.Space);
            space = VolumeSpace.Of(volume);
        }
        if (space.FreeBytes < floor)
            logger.LogWarning("volume {Volume}: {Free} bytes free, under its floor of {Floor}, and only protected footage is left",
                volume, space.FreeBytes, floor);

        foreach (var segment in protectedOnes)
        {
            if (space.UsedPercent <= _config.EmergencyAbovePercent) break;
            var now = time.GetUtcNow().UtcDateTime;
            index.AddEvent(new EventRecord
            {
                Kind = EventKinds.RetentionEmergency,
                Cameras = [segment.Camera],
                StartUtc = now,
                EndUtc = now,
                DecidedBy = $"volume {space.UsedPercent:0.0} % full, above retention.emergencyAbovePercent {_config.EmergencyAbovePercent} %, with only protected footage left",
                Detail = $"purged protected segment {segment.Id} ({segment.StartUtc:O})",
            });
            _purger.Purge(segment, PurgeReasons.Emergency);
            space = VolumeSpace.Of(volume);
        }
    }
}
