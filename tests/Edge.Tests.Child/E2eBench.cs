// bench-e2e ROOT BROKER CYCLES: door closed → clip verified at the central, through the real agent host (simulated
// GPIO door, one test-pattern camera recording 1 s segments, sealing, the sync engine) and the real central
// (CentralReceiver: reassembly, unwrap, decrypt and verify, ffmpeg cut) over BROKER. The clock starts at the end of
// the flag's post-roll (the door's close + postRoll: before that the window is not complete) and stops when the
// central has verified the clip of that flag. Prints one JSON line with every latency and p50/p99.
using System.Device.Gpio;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Edge.Agent.Configuration;
using Edge.Agent.Demo;
using Edge.Agent.Doors;
using Edge.Agent.Hosting;
using Edge.Agent.Index;
using Edge.Agent.Sealing;
using Edge.Agent.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

internal static class E2eBench
{
    private static readonly TimeSpan PostRoll = TimeSpan.FromSeconds(2);

    public static async Task RunAsync(string root, Uri broker, int cycles)
    {
        Directory.CreateDirectory(root);
        var owner = Path.Combine(root, "owner");
        OwnerKeys.CreatePair(owner, passphrase: null);
        CommandSigningKeys.CreatePair(owner, passphrase: null);
        Directory.CreateDirectory(Path.Combine(root, "volume"));
        VolumeMarker.Write(Path.Combine(root, "volume"), TimeProvider.System);
        File.WriteAllText(Path.Combine(root, "closed.json"), """{ "initial": { "17": "low" }, "steps": [] }""");
        var config = new
        {
            siteId = "bench", deviceId = "bench-box",
            cameras = new[] { new { id = "cam1", segmentSeconds = 1.0, source = new { type = "testPattern", videoSize = "640x360", fps = 15, bitrateKbps = 800 } } },
            storage = new { volumes = new[] { new { path = "volume" } }, stagingDirectory = "staging" },
            index = new { directory = "index", keyFile = "keys/index.key" },
            sealing = new { ownerPublicKey = "owner/owner.pub" },
            doors = new[] { new { id = "server-room", contactPin = 17, contactClosedLevel = "low", cameras = new[] { "cam1" } } },
            gpio = new { driver = "simulated", scenarioFile = "closed.json" },
            flags = new { preRoll = "00:00:02", postRoll = "00:00:02" },
            clock = new { trust = "always" },
            sync = new { broker = broker.ToString(), clipBandwidthKbps = 0, healthSeconds = 3600, commandPublicKey = "owner/owner-sign.pub" },
        };
        var configPath = Path.Combine(root, "edge.json");
        File.WriteAllText(configPath, JsonSerializer.Serialize(config));
        var settings = EdgeConfigLoader.Load(configPath);

        await using var central = await DemoCentral.StartAsync(root, broker, embeddedBroker: false, NullLoggerProvider.Instance, TimeProvider.System, CancellationToken.None);
        var verifiedAt = new System.Collections.Concurrent.ConcurrentDictionary<long, DateTime>();
        central.Receiver.ClipHandled += (clip, result) =>
        {
            var now = DateTime.UtcNow;
            if (result.Outcome == Edge.Agent.Central.ClipOutcome.Verified && clip.ManifestJson is { } m && JsonNode.Parse(m)?["flagId"]?.GetValue<long>() is { } flagId)
                verifiedAt.TryAdd(flagId, now);
        };
        using var index = IndexOpener.Open(settings, createKeyIfMissing: true);
        using var host = AgentHost.Build(settings, index, TimeProvider.System, _ => { });
        await host.StartAsync();
        var pins = host.Services.GetRequiredService<DoorService>().SimulatedDriver!;
        await Task.Delay(TimeSpan.FromSeconds(6)); // cameras up, the pre-roll recorded, the box connected

        var latencies = new List<double>();
        for (int i = 0; i < cycles; i++)
        {
            int flagsBefore = index.AllFlags().Count;
            pins.SetInputLevel(17, PinValue.High);
            await Task.Delay(1000);
            pins.SetInputLevel(17, PinValue.Low);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (index.AllFlags().Count == flagsBefore && DateTime.UtcNow < deadline) await Task.Delay(20);
            var flag = index.AllFlags().OrderBy(f => f.Id).Last();
            while (!verifiedAt.ContainsKey(flag.Id) && DateTime.UtcNow < deadline) await Task.Delay(20);
            if (!verifiedAt.TryGetValue(flag.Id, out var at)) throw new TimeoutException($"cycle {i}: flag {flag.Id}'s clip was not verified at the central within 60 s");
            // The flag's end is the door's close plus the post-roll (read back, in case it grew).
            var end = index.AllFlags().Single(f => f.Id == flag.Id).ToUtc;
            latencies.Add((at - end).TotalMilliseconds);
            Console.Error.WriteLine($"cycle {i + 1}: flag {flag.Id} end of post-roll → verified at the central {(at - end).TotalMilliseconds:0} ms");
            await Task.Delay(PostRoll + TimeSpan.FromSeconds(3)); // the next opening starts a new flag, not a longer one
        }
        await host.StopAsync();

        var sorted = latencies.Order().ToList();
        double P(double q) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];
        Console.WriteLine(JsonSerializer.Serialize(new { cycles, p50Ms = P(0.50), p99Ms = P(0.99), maxMs = sorted[^1], minMs = sorted[0], latenciesMs = latencies }));
    }
}
