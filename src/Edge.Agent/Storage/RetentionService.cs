// Retention: footage is kept only as long as needed. Each pass (every retention.checkSeconds, and after a segment
// is sealed onto a volume that is short of space):
//   1. age:   unprotected segments that ended more than retention.days ago, counted to the whole hour, are purged;
//   2. space: when a volume's free space is under its floor, its oldest unprotected segments are purged until it is
//      back above the floor plus ten minutes of its recording rate;
//   3. emergency: if nothing unprotected is left and the volume is above retention.emergencyAbovePercent full,
//      protected segments go too, oldest first, each with a retention_emergency event;
//   4. purged segment records older than an hour whose files are gone are compacted into per-day summaries.
// Floor = max(minFreePercent of the volume, one hour of its measured recording rate) + slackBytesPerCamera × cameras.
// A segment is protected while a flag covers it (door events, holds, requests from the central) and the central has
// not yet acknowledged the flag's clip (FlagRecord.Holds: after the clip-ack, ordinary retention applies again).
// Purges go in batches, each one audit record (SegmentPurger); the whole-hour step and the refill margin are what
// keep those records to a few hundred a day (docs/design/storage.md "Retention").
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

    /// <summary>Age purges go in whole-hour steps: footage is kept retention.days and at most an hour more, and a
    /// box writes about 24 age purge records a day instead of one a pass.</summary>
    public static readonly TimeSpan AgeStep = TimeSpan.FromHours(1);

    /// <summary>A space purge frees this much recording beyond the floor, so that a full volume is purged about every
    /// ten minutes, not after every sealed segment.</summary>
    public static readonly TimeSpan RefillMargin = TimeSpan.FromMinutes(10);

    /// <summary>A purged segment's record is compacted into its day's summary this long after the purge, once its file
    /// is known gone. Short, because every age pass walks the purged records before it reaches the oldest live one.</summary>
    public static readonly TimeSpan CompactAfter = TimeSpan.FromHours(1);

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
        var now = time.GetUtcNow().UtcDateTime;
        var exact = now.AddDays(-_config.Days);
        var cutoff = new DateTime(exact.Ticks - exact.Ticks % AgeStep.Ticks, DateTimeKind.Utc);

        var due = index.OldestSegments().TakeWhile(s => s.StartUtc < cutoff).Where(s => s.EndUtc <= cutoff && !Protected(s)).ToList();
        if (due.Count > 0)
            _purger.Purge(due, PurgeReasons.Age, $"ended by {cutoff:O}, retention.days {_config.Days}");

        var usable = settings.Volumes.Where(v => VolumeSet.Unusable(v) is null).ToList();
        foreach (var volume in usable)
            EnforceFloor(volume, Protected);
        CompactPurgedRecords(now, usable);
        _records.RunPass();
        Interlocked.Increment(ref _passes);
    }

    private void EnforceFloor(string volume, Func<SegmentRecord, bool> isProtected)
    {
        var space = VolumeSpace.Of(volume);
        long floor = FloorBytes(volume, space);
        if (space.FreeBytes >= floor) return;

        // Purge in batches sized by the records' stored bytes to reach the target, then measure again.
        long target = Math.Max(floor, Math.Min((long)(space.TotalBytes * MaxFloorShare),
            floor + (long)(rate.BytesPerSecond(volume) * RefillMargin.TotalSeconds)));
        using var candidates = index.OldestSegments(volume).Where(s => s.State == SegmentState.Stored).ToList().GetEnumerator();
        var protectedOnes = new List<SegmentRecord>();
        bool more = true;
        while (space.FreeBytes < floor && more)
        {
            var batch = new List<SegmentRecord>();
            long freed = 0, needed = target - space.FreeBytes;
            while (freed < needed && (more = candidates.MoveNext()))
            {
                var segment = candidates.Current;
                if (isProtected(segment)) { protectedOnes.Add(segment); continue; }
                batch.Add(segment);
                freed += Math.Max(1, segment.StoredBytes);
            }
            if (batch.Count == 0) break;
            _purger.Purge(batch, PurgeReasons.Space,
                $"volume {volume}: {space.FreeBytes} bytes free, under its floor of {floor}; purging towards {target}");
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
            _purger.Purge([segment], PurgeReasons.Emergency,
                $"volume {volume} {space.UsedPercent:0.0} % full, above retention.emergencyAbovePercent {_config.EmergencyAbovePercent} %, with only protected footage left");
            space = VolumeSpace.Of(volume);
        }
    }

    /// <summary>
    /// Step 4: a purged record is forgotten (folded into its camera's day summary) only once its file is known gone:
    /// its volume is present and marked, and the file is not there (a leftover of a crash is deleted first; it is
    /// keyless). Records on an absent volume wait for it.
    /// </summary>
    private void CompactPurgedRecords(DateTime now, IReadOnlyList<string> usableVolumes)
    {
        bool FileGone(SegmentRecord segment)
        {
            if (!usableVolumes.Contains(segment.Volume)) return false;
            SegmentPurger.DeleteFile(segment);
            return !File.Exists(segment.FullPath);
        }
        var compacted = index.CompactPurgedSegments(now - CompactAfter, FileGone);
        if (compacted > 0) logger.LogInformation("compacted {Count} purged segment record(s) into per-day summaries", compacted);
    }
}
