// bench-growth ROOT [DAYS] [RETENTION_DAYS]: index growth in steady state. Simulates DAYS days of 4 cameras × 10 s
// segments (records shaped like the recorder's: 114-byte wrapped key, hashes, paths) through the real encrypted index,
// with the real RetentionService running every simulated minute on a simulated clock (retention.days RETENTION_DAYS,
// 1 by default, so the steady state comes after two days instead of thirty). No files are written: the index is what
// is measured. Prints one JSON line per simulated day: index bytes (data + log), live and purged segment records,
// audit records, per-day summaries. The log (up to ~8 MB before a checkpoint) is given apart from the data file. Put ROOT on tmpfs (/dev/shm) to keep fsyncs from dominating the run time; the
// sizes are the same.
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Edge.Agent.Configuration;
using Edge.Agent.Index;
using Edge.Agent.Storage;
using Microsoft.Extensions.Logging.Abstractions;

internal static class GrowthBench
{
    private const int Cameras = 4;
    private static readonly TimeSpan Segment = TimeSpan.FromSeconds(10);

    public static void Run(string root, int days, int retentionDays)
    {
        Directory.CreateDirectory(root);
        Directory.CreateDirectory(Path.Combine(root, "owner"));
        Edge.Agent.Sealing.OwnerKeys.CreatePair(Path.Combine(root, "owner"), passphrase: null);
        Directory.CreateDirectory(Path.Combine(root, "volume"));
        VolumeMarker.Write(Path.Combine(root, "volume"), TimeProvider.System);
        var config = new
        {
            siteId = "bench", deviceId = "bench-box",
            cameras = Enumerable.Range(1, Cameras).Select(i => new { id = $"cam{i}", segmentSeconds = 10, source = new { type = "testPattern" } }).ToArray(),
            storage = new { volumes = new[] { new { path = "volume" } }, stagingDirectory = "staging" },
            index = new { directory = "index", keyFile = "keys/index.key" },
            sealing = new { ownerPublicKey = "owner/owner.pub" },
            // No space pressure: the volume is a directory on whatever disk ROOT is on; age alone governs.
            retention = new { days = retentionDays, minFreePercent = 0, slackBytesPerCamera = 0 },
        };
        var configPath = Path.Combine(root, "edge.json");
        File.WriteAllText(configPath, JsonSerializer.Serialize(config));
        var settings = EdgeConfigLoader.Load(configPath);
        var clock = new SimulatedClock(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var index = IndexOpener.Open(settings, createKeyIfMissing: true);
        var retention = new RetentionService(settings, index, new RecordingRate(clock), clock, NullLogger<RetentionService>.Instance);
        var volume = settings.Volumes[0];
        var camDirs = Enumerable.Range(1, Cameras).Select(i => Convert.ToHexStringLower(SHA256.HashData(BitConverter.GetBytes(i)))[..16]).ToArray();
        var started = Stopwatch.StartNew();

        var perDay = (long)(TimeSpan.FromDays(1) / Segment);
        for (int day = 1; day <= days; day++)
        {
            for (long n = 0; n < perDay; n++)
            {
                var start = clock.GetUtcNow().UtcDateTime;
                for (int c = 0; c < Cameras; c++)
                    index.AddSegment(new SegmentRecord
                    {
                        Camera = $"cam{c + 1}", StartUtc = start, EndUtc = start + Segment, DurationSeconds = Segment.TotalSeconds,
                        Bytes = 5_000_000, StoredBytes = 5_000_500,
                        Sha256 = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)),
                        StoredSha256 = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)),
                        WrappedKey = RandomNumberGenerator.GetBytes(114), OwnerKeyId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
                        ClockTrusted = true, Volume = volume,
                        RelativePath = $"{camDirs[c]}/{start:yyyy-MM-dd}/{start:yyyyMMddTHHmmss.fff}Z_10000ms_T.sealed",
                    });
                clock.Advance(Segment);
                if (clock.GetUtcNow().Ticks % TimeSpan.TicksPerMinute == 0) retention.RunPass();
            }
            long live = index.CountSegments(), all = index.EnumerateSegments().LongCount();
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                day, indexBytes = index.SizeBytes,
                dataFileBytes = new FileInfo(Path.Combine(settings.IndexDirectory, "index.db")).Length,
                logFileBytes = new FileInfo(Path.Combine(settings.IndexDirectory, "index-log.db")).Length, liveSegments = live, purgedSegments = all - live,
                auditRecords = index.QueryAudit().Count, purgedDays = index.PurgedDays().Count, elapsedSeconds = Math.Round(started.Elapsed.TotalSeconds),
            }));
        }
    }

    private sealed class SimulatedClock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;
        public override DateTimeOffset GetUtcNow() => _now;
        public void Advance(TimeSpan by) => _now += by;
    }
}
