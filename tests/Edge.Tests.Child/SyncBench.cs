// bench-sync-drain ROOT BROKER N: N events queued in the outbox while the broker is unreachable (the engine not yet
//   running), then the real SyncEngine drains them to BROKER; a subscriber in this process checks that every id
//   1..N arrived. Prints one JSON line: fill rate (durable event + outbox message) and drain rate.
// bench-sync-clip ROOT BROKER MIB CHUNK: a flag covering MIB MiB of sealed segments (random bytes, as ciphertext
//   looks), uploaded by the real SyncEngine with the bandwidth cap off. Prints one JSON line with MiB/s.
using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Edge.Agent.Configuration;
using Edge.Agent.Flags;
using Edge.Agent.Index;
using Edge.Agent.Sealing;
using Edge.Agent.Storage;
using Edge.Agent.Sync;
using Edge.Sync;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;

internal static class SyncBench
{
    private static EdgeSettings Site(string root, Uri broker, int chunkBytes)
    {
        Directory.CreateDirectory(root);
        OwnerKeys.CreatePair(Path.Combine(root, "owner"), passphrase: null);
        Directory.CreateDirectory(Path.Combine(root, "volume"));
        VolumeMarker.Write(Path.Combine(root, "volume"), TimeProvider.System);
        var config = new
        {
            siteId = "bench", deviceId = "bench-box",
            cameras = new[] { new { id = "cam1", source = new { type = "testPattern" } } },
            storage = new { volumes = new[] { new { path = "volume" } }, stagingDirectory = "staging" },
            index = new { directory = "index", keyFile = "keys/index.key" },
            sealing = new { ownerPublicKey = "owner/owner.pub" },
            sync = new { broker = broker.ToString(), clipBandwidthKbps = 0, clipChunkBytes = chunkBytes, healthSeconds = 3600 },
        };
        var path = Path.Combine(root, "edge.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        return EdgeConfigLoader.Load(path);
    }

    private static (SyncEngine Engine, IndexSyncBackend Backend) Engine(EdgeSettings settings, EdgeIndex index)
    {
        var backend = new IndexSyncBackend(settings, index, new Flagger(index, TimeProvider.System), new RecordingRate(TimeProvider.System),
            () => null, TimeProvider.System, NullLogger.Instance);
        return (new SyncEngine(settings.Sync!, backend, null, TimeProvider.System, NullLogger.Instance), backend);
    }

    public static async Task DrainAsync(string root, Uri broker, int count)
    {
        var settings = Site(root, broker, 65536);
        using var index = IndexOpener.Open(settings, createKeyIfMissing: true);
        index.EnableOutbox(SyncPayloads.Event, settings.Sync!.OutboxMaxBytes, TimeProvider.System);
        var fill = Stopwatch.StartNew();
        var t0 = DateTime.UtcNow;
        // Filled in transactions of 1,000 (one durable write each): an outage queues its backlog over hours, and the
        // fill is not what is measured.
        for (int from = 0; from < count; from += 1000)
            index.AddEvents(Enumerable.Range(from, Math.Min(1000, count - from))
                .Select(i => new EventRecord { Kind = "door_opened", Door = "server-room", Cameras = ["cam1"], StartUtc = t0.AddMilliseconds(i), DecidedBy = "bench" }).ToList());
        fill.Stop();

        var received = new HashSet<long>();
        long highest = 0, gaps = 0;
        var done = new TaskCompletionSource();
        var subscriber = new MqttClientFactory().CreateMqttClient();
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            var id = JsonDocument.Parse(e.ApplicationMessage.Payload.ToArray()).RootElement.GetProperty("id").GetInt64();
            lock (received)
            {
                if (id > highest + 1) gaps++;
                highest = Math.Max(highest, id);
                received.Add(id);
                if (received.Count == count) done.TrySetResult();
            }
            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(broker.Host, broker.Port).WithClientId("bench-central").Build());
        await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic("edge/v1/bench/bench-box/events").WithAtLeastOnceQoS()).Build());

        var (engine, _) = Engine(settings, index);
        using var stop = new CancellationTokenSource();
        var drain = Stopwatch.StartNew();
        var run = engine.RunAsync(stop.Token);
        await done.Task.WaitAsync(TimeSpan.FromMinutes(20));
        drain.Stop();
        while (index.OutboxDepth().Messages > 0) await Task.Delay(10); // the last batch's mark
        var marked = drain.Elapsed;
        await stop.CancelAsync();
        await run;
        await engine.DisposeAsync();
        await subscriber.DisconnectAsync();
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            messages = count,
            fillSeconds = fill.Elapsed.TotalSeconds,
            fillPerSecond = count / fill.Elapsed.TotalSeconds,
            drainSeconds = drain.Elapsed.TotalSeconds,
            drainPerSecond = count / drain.Elapsed.TotalSeconds,
            allMarkedSentSeconds = marked.TotalSeconds,
            received = received.Count,
            gaps,
        }));
    }

    public static async Task ClipAsync(string root, Uri broker, int mebibytes, int chunkBytes)
    {
        var settings = Site(root, broker, chunkBytes);
        using var index = IndexOpener.Open(settings, createKeyIfMissing: true);
        index.EnableOutbox(SyncPayloads.Event, settings.Sync!.OutboxMaxBytes, TimeProvider.System);
        var volume = settings.Volumes[0];
        Directory.CreateDirectory(Path.Combine(volume, "bench"));
        const int segmentBytes = 4 << 20; // a 10 s segment of an 3.3 Mbit/s camera
        var start = DateTime.UtcNow.AddHours(-1);
        long total = 0;
        int segments = (int)((long)mebibytes * 1048576 / segmentBytes);
        for (int i = 0; i < segments; i++)
        {
            var bytes = RandomNumberGenerator.GetBytes(segmentBytes);
            var relative = Path.Combine("bench", $"seg{i}.sealed");
            File.WriteAllBytes(Path.Combine(volume, relative), bytes);
            index.AddSegment(new SegmentRecord
            {
                Camera = "cam1", StartUtc = start.AddSeconds(10 * i), EndUtc = start.AddSeconds(10 * i + 10), DurationSeconds = 10,
                Bytes = segmentBytes, StoredBytes = segmentBytes, StoredSha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
                WrappedKey = RandomNumberGenerator.GetBytes(113), OwnerKeyId = "0000000000000000", Volume = volume, RelativePath = relative,
            });
            total += segmentBytes;
        }
        new Flagger(index, TimeProvider.System).Flag(["cam1"], start, start.AddSeconds(10 * segments), "bench", null, "bench");

        var (engine, _) = Engine(settings, index);
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var run = engine.RunAsync(stop.Token);
        TimeSpan? firstChunk = null, connected = null;
        var cpuAtConnected = TimeSpan.Zero;
        long expected = total / chunkBytes;
        while (engine.Snapshot().ChunksPublished < expected)
        {
            if (connected is null && engine.Snapshot().State == SyncConnectionState.Connected) (connected, cpuAtConnected) = (clock.Elapsed, Process.GetCurrentProcess().TotalProcessorTime);
            if (firstChunk is null && engine.Snapshot().ChunksPublished > 0) firstChunk = clock.Elapsed;
            if (clock.Elapsed > TimeSpan.FromMinutes(20)) throw new TimeoutException("the clip did not upload within 20 minutes");
            await Task.Delay(2);
        }
        while (!index.AllClips().Any(c => c.State == ClipStates.Uploaded)) await Task.Delay(2);
        var elapsed = clock.Elapsed;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuAtConnected;
        await stop.CancelAsync();
        await run;
        await engine.DisposeAsync();
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            bytes = total,
            chunkBytes,
            chunks = engine.Snapshot().ChunksPublished,
            seconds = elapsed.TotalSeconds,
            mebibytesPerSecond = total / 1048576.0 / elapsed.TotalSeconds,
            // From the connection up (mosquitto_pub's figure includes its own connect, ~1 ms): without the engine's
            // process-level start (the JIT compiling MQTTnet's connect path), but with opening the clip and its manifest.
            fromConnectedSeconds = (elapsed - connected!.Value).TotalSeconds,
            fromConnectedMebibytesPerSecond = total / 1048576.0 / (elapsed - connected!.Value).TotalSeconds,
            // CPU of this process (engine and the bench's 2 ms polling) from the connection to the last PUBACK.
            cpuSecondsFromConnected = cpu.TotalSeconds,
            // Without the engine's start (connect, first housekeeping pass that opens the clip, manifest).
            fromFirstChunkSeconds = (elapsed - firstChunk!.Value).TotalSeconds,
            fromFirstChunkMebibytesPerSecond = total / 1048576.0 / (elapsed - firstChunk!.Value).TotalSeconds,
        }));
    }
}
