// bench-doors ROOT [CHANGES]: pin change → door event durable in the index, through the real agent host (simulated
// GPIO driver, 4 doors, 2 test-pattern cameras recording). Baseline in the same run: one durable insert into the
// same index (the floor any event pays). Prints one JSON line.
using System.Device.Gpio;
using System.Diagnostics;
using System.Text.Json;
using Edge.Agent.Configuration;
using Edge.Agent.Doors;
using Edge.Agent.Hosting;
using Edge.Agent.Index;
using Edge.Agent.Sealing;
using Edge.Agent.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

internal static class DoorBench
{
    private static readonly int[] Pins = [17, 22, 23, 24];
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(50);

    public static async Task RunAsync(string root, int changes)
    {
        Directory.CreateDirectory(root);
        OwnerKeys.CreatePair(Path.Combine(root, "owner"), passphrase: null);
        Directory.CreateDirectory(Path.Combine(root, "volume"));
        VolumeMarker.Write(Path.Combine(root, "volume"), TimeProvider.System);
        File.WriteAllText(Path.Combine(root, "idle.json"), """{ "initial": { "17": "low", "22": "low", "23": "low", "24": "low" }, "steps": [] }""");
        var config = new
        {
            siteId = "bench", deviceId = "bench-box",
            cameras = new[] { Camera("cam1"), Camera("cam2") },
            storage = new { volumes = new[] { new { path = "volume" } }, stagingDirectory = "staging" },
            index = new { directory = "index", keyFile = "keys/index.key" },
            sealing = new { ownerPublicKey = "owner/owner.pub" },
            doors = Pins.Select((pin, i) => new
            {
                id = $"door{i + 1}", contactPin = pin, contactClosedLevel = "low", cameras = new[] { "cam1" },
                debounce = "00:00:00.050", chatterLimit = 1000, heldOpenLimit = "01:00:00",
            }).ToArray(),
            gpio = new { driver = "simulated", scenarioFile = "idle.json" },
        };
        var configPath = Path.Combine(root, "edge.json");
        File.WriteAllText(configPath, JsonSerializer.Serialize(config));
        var settings = EdgeConfigLoader.Load(configPath);
        using var index = IndexOpener.Open(settings, createKeyIfMissing: true);
        using var host = AgentHost.Build(settings, index, TimeProvider.System, _ => { });
        await host.StartAsync();
        var doors = host.Services.GetRequiredService<DoorService>();
        var pins = doors.SimulatedDriver!;
        await Task.Delay(TimeSpan.FromSeconds(3)); // cameras up, monitors settled

        var waiting = new TaskCompletionSource<long>[Pins.Length];
        doors.EventRecorded += (e, _) =>
        {
            int door = int.Parse(e.Door!["door".Length..]) - 1;
            Volatile.Read(ref waiting[door])?.TrySetResult(Stopwatch.GetTimestamp());
        };
        var latencies = new List<double>();
        long fsyncsBefore = index.LogFsyncCount, pagesBefore = index.LogPageWrites, epochBefore = index.LogEpoch;
        var level = new bool[Pins.Length];
        var loops = Enumerable.Range(0, Pins.Length).Select(door => Task.Run(async () =>
        {
            for (int i = 0; i < changes / Pins.Length; i++)
            {
                var done = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
                Volatile.Write(ref waiting[door], done);
                level[door] = !level[door];
                long changedAt = Stopwatch.GetTimestamp();
                pins.SetInputLevel(Pins[door], level[door] ? PinValue.High : PinValue.Low);
                long recordedAt = await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
                lock (latencies) latencies.Add(Stopwatch.GetElapsedTime(changedAt, recordedAt).TotalMilliseconds);
                await Task.Delay(10);
            }
        })).ToArray();
        await Task.WhenAll(loops);
        // The cameras' segment records included. A checkpoint empties the log (copies it into the data file) and holds
        // every writer meanwhile: the epoch counts them.
        long logFsyncs = index.LogFsyncCount - fsyncsBefore, logPages = index.LogPageWrites - pagesBefore, checkpoints = index.LogEpoch - epochBefore;

        var baseline = new List<double>();
        for (int i = 0; i < 1000; i++)
        {
            long t = Stopwatch.GetTimestamp();
            index.AddEvent(new EventRecord { Kind = "bench", StartUtc = DateTime.UtcNow, DecidedBy = "bench" });
            baseline.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        await host.StopAsync();

        static double P(List<double> xs, double q) { var s = xs.Order().ToList(); return s[(int)Math.Min(s.Count - 1, Math.Ceiling(q * s.Count) - 1)]; }
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            changes = latencies.Count,
            debounceMs = Debounce.TotalMilliseconds,
            p50Ms = P(latencies, 0.5), p99Ms = P(latencies, 0.99), maxMs = latencies.Max(),
            p50BeyondDebounceMs = P(latencies, 0.5) - Debounce.TotalMilliseconds,
            p99BeyondDebounceMs = P(latencies, 0.99) - Debounce.TotalMilliseconds,
            baselineDurableInsertP50Ms = P(baseline, 0.5), baselineDurableInsertP99Ms = P(baseline, 0.99),
            segmentsSealedMeanwhile = index.CountSegments(),
            logFsyncsPerChange = (double)logFsyncs / latencies.Count,
            logPagesPerChange = (double)logPages / latencies.Count,
            checkpoints,
            // The agent ships with the non-concurrent workstation GC (Edge.Agent.csproj); scripts/bench runs this the same way.
            gc = $"{(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}, {System.Runtime.GCSettings.LatencyMode}",
        }));
    }

    private static object Camera(string id) => new { id, segmentSeconds = 2, source = new { type = "testPattern", videoSize = "640x360", fps = 15, bitrateKbps = 800 } };
}
