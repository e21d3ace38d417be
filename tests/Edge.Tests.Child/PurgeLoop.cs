// purge-loop ROOT: for the crash test of retention (Retention_Tests). The first run sets up a site in ROOT (config,
// owner key, marked volume, index) holding 12 hours of 4 cameras × 60 s segments with real files; every run then
// moves a simulated clock forward an hour at a time, runs a retention pass (one purge batch each) and prints
// "pass N" after it. Killed at random moments by the test, which checks what the index says against the files.
using System.Text.Json;
using Edge.Agent.Configuration;
using Edge.Agent.Index;
using Edge.Agent.Storage;
using Microsoft.Extensions.Logging.Abstractions;

internal static class PurgeLoop
{
    public static readonly DateTime Start = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    public const int Cameras = 4, Hours = 12;

    public static void Run(string root)
    {
        var configPath = Path.Combine(root, "edge.json");
        bool fresh = !File.Exists(configPath);
        if (fresh) WriteSite(root, configPath);
        var settings = EdgeConfigLoader.Load(configPath);
        var clock = new Clock(Start);
        using var index = IndexOpener.Open(settings, createKeyIfMissing: fresh);
        if (fresh)
        {
            var volume = settings.Volumes[0];
            for (int c = 1; c <= Cameras; c++) Directory.CreateDirectory(Path.Combine(volume, $"cam{c}"));
            for (int minute = 0; minute < Hours * 60; minute++)
                for (int c = 1; c <= Cameras; c++)
                {
                    var start = Start.AddMinutes(minute);
                    var relative = $"cam{c}/{start:yyyyMMddTHHmm}.sealed";
                    File.WriteAllBytes(Path.Combine(volume, relative), new byte[100]);
                    index.AddSegment(new SegmentRecord
                    {
                        Camera = $"cam{c}", StartUtc = start, EndUtc = start.AddMinutes(1), DurationSeconds = 60, Volume = volume,
                        RelativePath = relative, StoredBytes = 100, StoredSha256 = $"{c}-{minute}", WrappedKey = [1, 2, 3],
                    });
                }
        }
        var retention = new RetentionService(settings, index, new RecordingRate(clock), clock, NullLogger<RetentionService>.Instance);
        Console.WriteLine("ready");
        for (int hour = 1; hour <= Hours + 1; hour++)
        {
            clock.Now = new DateTimeOffset(Start.AddDays(1).AddHours(hour));
            retention.RunPass();
            Console.WriteLine($"pass {hour}");
        }
    }

    private static void WriteSite(string root, string configPath)
    {
        Directory.CreateDirectory(Path.Combine(root, "owner"));
        Edge.Agent.Sealing.OwnerKeys.CreatePair(Path.Combine(root, "owner"), passphrase: null);
        Directory.CreateDirectory(Path.Combine(root, "volume"));
        VolumeMarker.Write(Path.Combine(root, "volume"), TimeProvider.System);
        var config = new
        {
            siteId = "crash", deviceId = "crash-box",
            cameras = Enumerable.Range(1, Cameras).Select(i => new { id = $"cam{i}", segmentSeconds = 60, source = new { type = "testPattern" } }).ToArray(),
            storage = new { volumes = new[] { new { path = "volume" } }, stagingDirectory = "staging" },
            index = new { directory = "index", keyFile = "keys/index.key" },
            sealing = new { ownerPublicKey = "owner/owner.pub" },
            retention = new { days = 1, minFreePercent = 0, slackBytesPerCamera = 0 },
        };
        // Written last: its presence says the setup is complete (a kill during setup is not what is tested).
        File.WriteAllText(configPath + ".tmp", JsonSerializer.Serialize(config));
        File.Move(configPath + ".tmp", configPath);
    }

    private sealed class Clock(DateTime start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(start);
        public override DateTimeOffset GetUtcNow() => Now;
    }
}
