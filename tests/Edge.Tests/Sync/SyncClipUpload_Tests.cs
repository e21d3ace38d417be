using System.Security.Cryptography;
using System.Text.Json;
using Edge.Agent.Configuration;
using Edge.Agent.Flags;
using Edge.Agent.Index;
using Edge.Agent.Sealing;
using Edge.Agent.Storage;
using Edge.Agent.Sync;
using Edge.Sync;
using Edge.Tests.Fixtures;
using Edge.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Edge.Tests.Sync;

public class SyncClipUpload_Tests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task An_uncapped_upload_that_reuses_its_chunk_buffers_sends_every_chunk_once_with_the_bytes_and_hash_of_its_file()
    {
        // Many small chunks (4 KiB, a partial one at the end of each segment) with the cap off: 16 in flight and 16
        // read ahead, so each chunk buffer goes round several times. A buffer reused before its chunk left would
        // show up here as a chunk whose bytes or hash are not its file's.
        await using var broker = await MosquittoBroker.StartAsync();
        await using var tap = await MqttTap.StartAsync(broker.Url, SyncSupport.Root + "/clips/#");
        var root = Directory.CreateTempSubdirectory("edge-clip-upload-").FullName;
        try
        {
            var settings = Site(root, broker.Url, chunkBytes: 4096);
            using var index = IndexOpener.Open(settings, createKeyIfMissing: true);
            index.EnableOutbox(SyncPayloads.Event, settings.Sync!.OutboxMaxBytes, TimeProvider.System);
            var start = DateTime.UtcNow.AddHours(-1);
            var written = new Dictionary<long, byte[]>();
            for (int i = 0; i < 6; i++)
            {
                var bytes = RandomNumberGenerator.GetBytes(100_000 + 777 * i);
                var relative = Path.Combine("clip", $"seg{i}.sealed");
                Directory.CreateDirectory(Path.Combine(settings.Volumes[0], "clip"));
                File.WriteAllBytes(Path.Combine(settings.Volumes[0], relative), bytes);
                var id = index.AddSegment(new SegmentRecord
                {
                    Camera = "cam1", StartUtc = start.AddSeconds(10 * i), EndUtc = start.AddSeconds(10 * i + 10), DurationSeconds = 10,
                    Bytes = bytes.Length, StoredBytes = bytes.Length, StoredSha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
                    WrappedKey = RandomNumberGenerator.GetBytes(113), OwnerKeyId = "0000000000000000", Volume = settings.Volumes[0], RelativePath = relative,
                });
                written[id] = bytes;
            }
            new Flagger(index, TimeProvider.System).Flag(["cam1"], start, start.AddSeconds(60), "test", null, "test");

            var backend = new IndexSyncBackend(settings, index, new Flagger(index, TimeProvider.System), new RecordingRate(TimeProvider.System),
                () => null, TimeProvider.System, NullLogger.Instance);
            await using var engine = new SyncEngine(settings.Sync!, backend, null, TimeProvider.System, NullLogger.Instance);
            using var stop = new CancellationTokenSource();
            var run = engine.RunAsync(stop.Token);
            int expected = written.Values.Sum(b => (b.Length + 4095) / 4096);
            await TestSite.WaitUntilAsync(() => index.AllClips().Any(c => c.State == ClipStates.Uploaded), Patience, "the clip uploaded");
            await TestSite.WaitUntilAsync(() => tap.On("/chunk").Count >= expected, Patience, $"{expected} chunks at the tap");
            await stop.CancelAsync();
            await run;

            var chunks = tap.On("/chunk");
            Assert.Equal(expected, chunks.Count); // each once: nothing was re-sent
            var files = SyncSupport.Reassemble(chunks); // checks every chunk's hash against its bytes
            Assert.Equal(written.Keys.Order(), files.Keys.Order());
            foreach (var (id, bytes) in written) Assert.Equal(bytes, files[id]);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task An_uncapped_upload_writes_its_progress_at_most_every_200_ms_and_the_whole_clip_at_the_end()
    {
        // 8 MiB in 1 KiB chunks: ~8,000 PUBACKs, long enough for several progress writes. Writing after every fsync
        // instead (what it did before) would show as writes a few milliseconds apart.
        await using var broker = await MosquittoBroker.StartAsync();
        var root = Directory.CreateTempSubdirectory("edge-clip-progress-").FullName;
        try
        {
            var settings = Site(root, broker.Url, chunkBytes: 1024);
            using var index = IndexOpener.Open(settings, createKeyIfMissing: true);
            index.EnableOutbox(SyncPayloads.Event, settings.Sync!.OutboxMaxBytes, TimeProvider.System);
            var start = DateTime.UtcNow.AddHours(-1);
            for (int i = 0; i < 4; i++)
            {
                var bytes = RandomNumberGenerator.GetBytes(2 << 20);
                var relative = Path.Combine("clip", $"seg{i}.sealed");
                Directory.CreateDirectory(Path.Combine(settings.Volumes[0], "clip"));
                File.WriteAllBytes(Path.Combine(settings.Volumes[0], relative), bytes);
                index.AddSegment(new SegmentRecord
                {
                    Camera = "cam1", StartUtc = start.AddSeconds(10 * i), EndUtc = start.AddSeconds(10 * i + 10), DurationSeconds = 10,
                    Bytes = bytes.Length, StoredBytes = bytes.Length, StoredSha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
                    WrappedKey = RandomNumberGenerator.GetBytes(113), OwnerKeyId = "0000000000000000", Volume = settings.Volumes[0], RelativePath = relative,
                });
            }
            new Flagger(index, TimeProvider.System).Flag(["cam1"], start, start.AddSeconds(40), "test", null, "test");

            var backend = new ProgressLog(new IndexSyncBackend(settings, index, new Flagger(index, TimeProvider.System), new RecordingRate(TimeProvider.System),
                () => null, TimeProvider.System, NullLogger.Instance));
            await using var engine = new SyncEngine(settings.Sync!, backend, null, TimeProvider.System, NullLogger.Instance);
            using var stop = new CancellationTokenSource();
            var run = engine.RunAsync(stop.Token);
            await TestSite.WaitUntilAsync(() => index.AllClips().Any(c => c.State == ClipStates.Uploaded), Patience, "the clip uploaded");
            await stop.CancelAsync();
            await run;

            var writes = backend.Writes;
            output.WriteLine($"{writes.Count} progress writes over {(writes[^1].At - writes[0].At).TotalMilliseconds:F0} ms");
            Assert.True(writes.Count >= 2, $"{writes.Count} progress write(s)");
            // Each write starts at least 200 ms after the one before (150 here: a write is timed when it starts, the
            // log when the thread pool runs it); the last is the flush at the end, whenever it comes.
            for (int i = 1; i < writes.Count - 1; i++)
                Assert.True(writes[i].At - writes[i - 1].At >= TimeSpan.FromMilliseconds(150), $"progress writes {i - 1} and {i} only {(writes[i].At - writes[i - 1].At).TotalMilliseconds:F0} ms apart");
            Assert.Equal(writes.Select(w => (w.Segment, w.NextChunk)).Order(), writes.Select(w => (w.Segment, w.NextChunk)));
            Assert.Equal((3, (2 << 20) / 1024), (writes[^1].Segment, writes[^1].NextChunk)); // every chunk acknowledged
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The real backend, with a log of its progress writes (when each started).</summary>
    private sealed class ProgressLog(ISyncBackend inner) : ISyncBackend
    {
        private readonly List<(TimeSpan At, int Segment, int NextChunk)> _writes = [];
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

        public List<(TimeSpan At, int Segment, int NextChunk)> Writes { get { lock (_writes) return [.. _writes]; } }

        public void ClipProgress(string clipId, int segmentIndex, int nextChunk)
        {
            lock (_writes) _writes.Add((_clock.Elapsed, segmentIndex, nextChunk));
            inner.ClipProgress(clipId, segmentIndex, nextChunk);
        }

        public string SiteId => inner.SiteId;
        public string DeviceId => inner.DeviceId;
        public event Action? WorkQueued { add => inner.WorkQueued += value; remove => inner.WorkQueued -= value; }
        public void Housekeep() => inner.Housekeep();
        public IReadOnlyList<OutboxMessage> UnsentMetadata(string stream, int max) => inner.UnsentMetadata(stream, max);
        public void MarkSent(string stream, long fromId, long throughId) => inner.MarkSent(stream, fromId, throughId);
        public ClipUpload? NextClip() => inner.NextClip();
        public void ClipManifestSent(string clipId) => inner.ClipManifestSent(clipId);
        public void ClipUploaded(string clipId) => inner.ClipUploaded(clipId);
        public Edge.Sync.Protocol.StatusMessage Status(string state, string? reason) => inner.Status(state, reason);
        public Edge.Sync.Protocol.HealthMessage Health() => inner.Health();
        public bool RememberNonce(string id, DateTime nowUtc) => inner.RememberNonce(id, nowUtc);
        public void AuditCommand(string topicName, Edge.Sync.Protocol.CommandBody? body, bool accepted, string detail) => inner.AuditCommand(topicName, body, accepted, detail);
        public CommandOutcome Execute(Edge.Sync.Protocol.CommandBody command) => inner.Execute(command);
    }

    [Fact]
    public void The_chunk_checksum_is_CRC_32C_written_as_8_lowercase_hex_digits_and_matches_a_bitwise_reference_at_every_length()
    {
        // The catalogue's check value (CRC-32C of "123456789" is 0xE3069283), so a central built on any CRC-32C library
        // reads the same text.
        Assert.Equal("e3069283", Edge.Sync.Protocol.ChunkChecksum.Crc32C("123456789"u8));
        Assert.Equal("00000000", Edge.Sync.Protocol.ChunkChecksum.Crc32C([]));
        // Lengths around the 8-byte steps and a chunk with a tail, against the definition bit by bit.
        foreach (var length in new[] { 1, 7, 8, 9, 15, 16, 17, 100, 65536, 65536 + 5 })
        {
            var payload = RandomNumberGenerator.GetBytes(length);
            var text = Edge.Sync.Protocol.ChunkChecksum.Crc32C(payload);
            Assert.Equal(BitwiseCrc32C(payload).ToString("x8"), text);
            Assert.Equal(text, System.Text.Encoding.UTF8.GetString(Edge.Sync.Protocol.ChunkChecksum.Crc32CUtf8(payload)));
            payload[length / 2] ^= 1;
            Assert.NotEqual(text, Edge.Sync.Protocol.ChunkChecksum.Crc32C(payload));
        }
    }

    private static uint BitwiseCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
        }
        return ~crc;
    }

    private static EdgeSettings Site(string root, Uri broker, int chunkBytes)
    {
        OwnerKeys.CreatePair(Path.Combine(root, "owner"), passphrase: null);
        Directory.CreateDirectory(Path.Combine(root, "volume"));
        VolumeMarker.Write(Path.Combine(root, "volume"), TimeProvider.System);
        var config = new
        {
            siteId = "test-site", deviceId = "test-box",
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
}
