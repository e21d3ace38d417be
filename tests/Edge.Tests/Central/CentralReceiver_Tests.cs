// The central against a real mosquitto, fed by a test-side box over real MQTT, with footage recorded and sealed by the
// real agent. The box's half is played by BoxPublisher; nothing here is mocked.
using Edge.Sync.Protocol;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Edge.Agent.Audit;
using Edge.Agent.Central;
using Edge.Agent.Sync;
using AuditRecord = Edge.Agent.Index.AuditRecord;
using ClipStates = Edge.Agent.Central.ClipStates;
using Edge.Sync;
using Edge.Tests.Fixtures;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Central;

public sealed class CentralReceiver_Tests(RecordedFootage footage, ITestOutputHelper output) : IClassFixture<RecordedFootage>
{
    private const int ChunkBytes = 16 * 1024;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    /// <summary>A window from the middle of the second segment to the middle of the fourth: it crosses segment boundaries.</summary>
    private (DateTimeOffset From, DateTimeOffset To, List<Edge.Agent.Index.SegmentRecord> Segments) Window()
    {
        var s = footage.Segments;
        var from = new DateTimeOffset(s[1].StartUtc, TimeSpan.Zero) + TimeSpan.FromSeconds(0.5);
        var to = new DateTimeOffset(s[3].StartUtc, TimeSpan.Zero) + TimeSpan.FromSeconds(1.2);
        return (from, to, [s[1], s[2], s[3]]);
    }

    private async Task PublishClipAsync(BoxPublisher box, string clipId, Func<TestChunk, byte[]?>? alter = null, int skipFirst = 0, int? take = null)
    {
        var (from, to, segments) = Window();
        if (skipFirst == 0) await box.PublishJsonAsync($"clips/{clipId}/manifest", BoxPublisher.Manifest(clipId, from, to, segments, ChunkBytes));
        var chunks = segments.SelectMany(s => BoxPublisher.ChunksOf(s, ChunkBytes)).Skip(skipFirst).Take(take ?? int.MaxValue);
        foreach (var chunk in chunks) await box.PublishChunkAsync(clipId, chunk, alter?.Invoke(chunk));
    }

    [Fact]
    public async Task A_clip_sent_as_manifest_and_chunks_is_verified_opened_cut_to_its_window_and_acknowledged_with_a_signed_clip_ack()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var central = new CentralUnderTest(output, broker.Url, footage.OwnerKeyPath);
        await central.StartAsync();
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);

        // Both cameras: the second camera's segments that overlap the window go in the same clip.
        var (from, to, segments) = Window();
        segments.AddRange(footage.SecondCameraSegments.Where(s => s.StartUtc < to.UtcDateTime && s.EndUtc > from.UtcDateTime));
        await box.PublishJsonAsync("clips/f12-1/manifest", BoxPublisher.Manifest("f12-1", from, to, segments, ChunkBytes));
        foreach (var chunk in segments.SelectMany(s => BoxPublisher.ChunksOf(s, ChunkBytes))) await box.PublishChunkAsync("f12-1", chunk);

        var ack = await box.NextCommandAsync("clip-ack", Patience);
        Assert.Equal("f12-1", ack.Args["clipId"]!.GetValue<string>());
        Assert.True(ack.Args["verified"]!.GetValue<bool>());
        Assert.Equal((BoxPublisher.SiteId, BoxPublisher.DeviceId), (ack.SiteId, ack.DeviceId));
        Assert.InRange(ack.IssuedAt, DateTimeOffset.UtcNow.AddMinutes(-2), DateTimeOffset.UtcNow.AddSeconds(5));

        var dir = central.ClipDirectory("f12-1");
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))!;
        Assert.True(manifest["verified"]!.GetValue<bool>());
        Assert.Equal(ProtocolTime.Format(from), manifest["from"]!.GetValue<string>());
        Assert.Equal(segments.Select(s => s.StoredSha256).Order(), manifest["sourceSegments"]!.AsArray().Select(s => s!["storedSha256"]!.GetValue<string>()).Order());
        Assert.Equal(segments.Select(s => s.Sha256).Order(), manifest["sourceSegments"]!.AsArray().Select(s => s!["sha256"]!.GetValue<string>()).Order());
        foreach (var camera in new[] { RecordedFootage.Camera, RecordedFootage.SecondCamera })
        {
            var mp4 = Path.Combine(dir, $"{camera}.mp4");
            var probe = await MediaProbe.ProbeFileAsync(mp4);
            Assert.Equal("h264", probe.Video!.CodecName);
            // The cut starts on the key frame at or before `from` (one a second) and ends at `to`: window length, within one GOP.
            var window = (to - from).TotalSeconds;
            Assert.InRange(probe.Duration!.Value.TotalSeconds, window - 0.2, window + 1.0 + 0.2);
            var decode = await ProcessRunner.RunAsync("ffmpeg", ["-v", "error", "-i", mp4, "-f", "null", "-"], TimeSpan.FromSeconds(60));
            Assert.True(decode.Succeeded && decode.StandardError.Trim().Length == 0, $"{camera}.mp4 does not decode cleanly: {decode.StandardError}");
            var described = manifest["outputs"]!.AsArray().Single(x => x!["camera"]!.GetValue<string>() == camera)!;
            Assert.Equal(SealedBytesSha(mp4), described["sha256"]!.GetValue<string>());
            Assert.Equal(ProtocolTime.Format(from), described["coveredFrom"]!.GetValue<string>());
        }
        // Nothing decrypted is left beside the outputs, and the chunks (ciphertext) are gone from the store once done.
        Assert.Equal(["door-cam.mp4", "manifest.json", "rack-cam.mp4"], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order());
        Assert.False(Directory.Exists(new ClipChunks(central.Settings.StoreDirectory).ClipDirectory(BoxPublisher.SiteId, BoxPublisher.DeviceId, "f12-1")));
        Assert.Equal(ClipStates.Done, central.Store.GetClip(BoxPublisher.SiteId, BoxPublisher.DeviceId, "f12-1")!.State);
    }

    private static string SealedBytesSha(string path) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public async Task Duplicated_events_segment_batches_and_chunks_are_stored_once()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var central = new CentralUnderTest(output, broker.Url, footage.OwnerKeyPath);
        await central.StartAsync();
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);

        JsonObject Event(long id, long eventId, string? end) => new()
        {
            ["schema"] = 1, ["id"] = id, ["stream"] = "events",
            ["event"] = new JsonObject { ["id"] = eventId, ["kind"] = "door_entry", ["door"] = "server-room", ["cameras"] = new JsonArray("door-cam"), ["start"] = "2026-11-23T01:00:00.000Z", ["end"] = end, ["decidedBy"] = "contact", ["detail"] = null },
        };
        await box.PublishJsonAsync("events", Event(1, 17, null));
        await box.PublishJsonAsync("events", Event(1, 17, null)); // the same message again (no PUBACK reached the box)
        await box.PublishJsonAsync("events", Event(2, 17, "2026-11-23T01:00:09.000Z")); // the event closed
        await box.PublishJsonAsync("events", Event(2, 17, "2026-11-23T01:00:09.000Z"));
        await box.PublishJsonAsync("events", Event(1, 17, null)); // a resend from the start: below the cursor
        var batch = new JsonObject
        {
            ["schema"] = 1, ["id"] = 1, ["stream"] = "segments",
            ["segments"] = new JsonArray(footage.Segments.Take(2).Select(s => (JsonNode)new JsonObject
            {
                ["id"] = s.Id, ["camera"] = s.Camera, ["start"] = ProtocolTime.Format(new DateTimeOffset(s.StartUtc, TimeSpan.Zero)),
                ["end"] = ProtocolTime.Format(new DateTimeOffset(s.EndUtc, TimeSpan.Zero)), ["storedSha256"] = s.StoredSha256, ["storedBytes"] = s.StoredBytes,
            }).ToArray()),
        };
        await box.PublishJsonAsync("segments", batch);
        await box.PublishJsonAsync("segments", batch);
        // Every chunk of the clip twice, the manifest twice.
        var (from, to, segments) = Window();
        await box.PublishJsonAsync("clips/dup-1/manifest", BoxPublisher.Manifest("dup-1", from, to, segments, ChunkBytes));
        var chunks = segments.SelectMany(s => BoxPublisher.ChunksOf(s, ChunkBytes)).ToList();
        foreach (var chunk in chunks.Take(3)) await box.PublishChunkAsync("dup-1", chunk);
        await box.PublishJsonAsync("clips/dup-1/manifest", BoxPublisher.Manifest("dup-1", from, to, segments, ChunkBytes));
        foreach (var chunk in chunks) await box.PublishChunkAsync("dup-1", chunk);
        await box.NextCommandAsync("clip-ack", Patience);
        foreach (var chunk in chunks.Take(2)) await box.PublishChunkAsync("dup-1", chunk); // late duplicates after the ack

        var receiver = central.Receiver!;
        // 5 events, 2 batches, 2 manifests, 3 + all + 2 chunks.
        await TestSite.WaitUntilAsync(() => receiver.Counters.Received >= 5 + 2 + 2 + 3 + chunks.Count + 2, Patience, "every message to be handled");
        var events = central.Store.Events(BoxPublisher.SiteId, BoxPublisher.DeviceId);
        var stored = Assert.Single(events);
        Assert.Equal(2, stored.MessageId);
        Assert.Contains("01:00:09", stored.Json);
        Assert.Equal(2, central.Store.HighestId(BoxPublisher.SiteId, BoxPublisher.DeviceId, "events"));
        Assert.Equal(footage.Segments.Take(2).Select(s => s.Id), central.Store.Segments(BoxPublisher.SiteId, BoxPublisher.DeviceId).Select(s => s.SegmentId));
        Assert.Equal(1, receiver.Counters.ClipsVerified);
        Assert.Equal(1, receiver.Counters.AcksSent);
        // 3 duplicate events, 1 duplicate batch, 1 duplicate manifest, 3 + 2 duplicate chunks.
        Assert.Equal(3 + 1 + 1 + 3 + 2, receiver.Counters.Duplicates);
        Assert.Equal(0, receiver.Counters.MalformedTotal);
    }

    [Fact]
    public async Task A_gap_makes_the_central_ask_for_a_resend_from_the_first_missing_id_and_the_message_that_fills_it_is_kept()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var central = new CentralUnderTest(output, broker.Url, footage.OwnerKeyPath);
        await central.StartAsync();
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);
        JsonObject Event(long id, long eventId, string? end) => new()
        {
            ["schema"] = 1, ["id"] = id, ["stream"] = "events",
            ["event"] = new JsonObject { ["id"] = eventId, ["kind"] = "door_entry", ["start"] = "2026-11-23T01:00:00.000Z", ["end"] = end },
        };

        // Message 2 (event 8 closing) is lost on the first try, then re-sent after 3: both must be kept, and event 8 stays closed.
        await box.PublishJsonAsync("events", Event(1, 8, null));
        await box.PublishJsonAsync("events", Event(3, 9, null));
        await box.PublishJsonAsync("events", Event(2, 8, "2026-11-23T01:00:05.000Z"));
        await box.PublishJsonAsync("events", Event(3, 9, null));
        await box.PublishJsonAsync("events", Event(2, 8, "2026-11-23T01:00:05.000Z"));
        await box.PublishJsonAsync("events", Event(1, 8, null));

        var receiver = central.Receiver!;
        await TestSite.WaitUntilAsync(() => receiver.Counters.Received >= 6, Patience, "six messages");
        var events = central.Store.Events(BoxPublisher.SiteId, BoxPublisher.DeviceId);
        Assert.Equal([8L, 9L], events.Select(e => e.EventId));
        Assert.Contains("01:00:05", events[0].Json);
        Assert.Equal(3, central.Store.HighestId(BoxPublisher.SiteId, BoxPublisher.DeviceId, "events"));
        Assert.Equal(3, receiver.Counters.Duplicates);
        Assert.Equal(1, receiver.Counters.Gaps);
        // The gap (3 after 1) asked the box, once, for the stream again from 2; signed as the box's verifier accepts.
        var resend = await box.NextCommandAsync("resend", Patience);
        Assert.Equal("events", resend.Args["stream"]!.GetValue<string>());
        Assert.Equal(2, resend.Args["fromId"]!.GetValue<long>());
        await TestSite.WaitUntilAsync(() => receiver.Counters.ResendsRequested == 1, Patience, "the resend counted");
        await Task.Delay(1000);
        await Assert.ThrowsAsync<TimeoutException>(() => box.NextCommandAsync("resend", TimeSpan.FromSeconds(1)));
    }

    [Theory]
    [InlineData(ChunkChecksums.Crc32C)] // what the box sends
    [InlineData(ChunkChecksums.Sha256)] // what older boxes sent
    [InlineData(ChunkChecksums.Both)]
    public async Task A_changed_chunk_byte_is_caught_by_the_chunk_checksum_refused_with_verified_false_and_the_clip_sent_again_verifies(ChunkChecksums checksums)
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var central = new CentralUnderTest(output, broker.Url, footage.OwnerKeyPath);
        await central.StartAsync();
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);
        var (from, to, segments) = Window();

        // In transit: the chunk's bytes changed after the box described them, so its checksum property no longer matches.
        await box.PublishJsonAsync("clips/bad-1/manifest", BoxPublisher.Manifest("bad-1", from, to, segments, ChunkBytes));
        foreach (var chunk in segments.SelectMany(s => BoxPublisher.ChunksOf(s, ChunkBytes)))
            await box.PublishChunkAsync("bad-1", chunk, chunk is { Index: 2 } ? Flip(chunk.Bytes, 100) : null, checksums);
        var refused = await box.NextCommandAsync("clip-ack", Patience);
        Assert.False(refused.Args["verified"]!.GetValue<bool>());
        Assert.False(Directory.Exists(central.ClipDirectory("bad-1")));
        Assert.False(Directory.Exists(central.ClipDirectory("bad-1") + ".partial"));
        // Refused at the chunk (which one, and by which checksum), not only when the whole segment was hashed.
        var detail = central.Store.GetClip(BoxPublisher.SiteId, BoxPublisher.DeviceId, "bad-1")!.Detail!;
        Assert.Contains($"chunk 2 of segment {segments[0].Id}", detail);
        Assert.Contains(checksums == ChunkChecksums.Sha256 ? "its sha256 property says" : "its crc32c property says", detail);

        // On the box: the sealed file's bytes changed before the chunk was described, so every chunk checksum matches
        // (as it would for damage that happened to keep the checksum); only the whole segment's storedSha256 catches it.
        await box.PublishJsonAsync("clips/bad-2/manifest", BoxPublisher.Manifest("bad-2", from, to, segments, ChunkBytes));
        foreach (var chunk in segments.SelectMany(s => BoxPublisher.ChunksOf(s, ChunkBytes)))
        {
            var changed = chunk.Index == 1 && chunk.Segment == segments[1].Id ? chunk with { Bytes = Flip(chunk.Bytes, 7) } : chunk;
            await box.PublishChunkAsync("bad-2", changed, checksums: checksums);
        }
        var refused2 = await box.NextCommandAsync("clip-ack", Patience, b => b.Args["clipId"]!.GetValue<string>() == "bad-2");
        Assert.False(refused2.Args["verified"]!.GetValue<bool>());
        Assert.False(Directory.Exists(central.ClipDirectory("bad-2")));
        Assert.Contains($"segment {segments[1].Id}: reassembled SHA-256", central.Store.GetClip(BoxPublisher.SiteId, BoxPublisher.DeviceId, "bad-2")!.Detail);
        Assert.Contains("storedSha256", central.Store.GetClip(BoxPublisher.SiteId, BoxPublisher.DeviceId, "bad-2")!.Detail);

        // verified:false makes the box send the clip again from chunk 0: this time intact.
        await box.PublishJsonAsync("clips/bad-1/manifest", BoxPublisher.Manifest("bad-1", from, to, segments, ChunkBytes));
        foreach (var chunk in segments.SelectMany(s => BoxPublisher.ChunksOf(s, ChunkBytes))) await box.PublishChunkAsync("bad-1", chunk, checksums: checksums);
        var accepted = await box.NextCommandAsync("clip-ack", Patience, b => b.Args["clipId"]!.GetValue<string>() == "bad-1");
        Assert.True(accepted.Args["verified"]!.GetValue<bool>());
        Assert.True(File.Exists(Path.Combine(central.ClipDirectory("bad-1"), $"{RecordedFootage.Camera}.mp4")));
        Assert.Equal(1, central.Store.GetClip(BoxPublisher.SiteId, BoxPublisher.DeviceId, "bad-1")!.Attempts);
        Assert.Equal(2, central.Receiver!.Counters.ClipsFailed);
    }

    private static byte[] Flip(byte[] bytes, int at)
    {
        var copy = bytes.ToArray();
        copy[at] ^= 0x01;
        return copy;
    }

    [Fact]
    public async Task Malformed_payloads_on_every_topic_the_central_subscribes_to_are_counted_and_dropped_without_a_crash()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var central = new CentralUnderTest(output, broker.Url, footage.OwnerKeyPath);
        await central.StartAsync();
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);
        var (from, to, segments) = Window();
        var manifest = BoxPublisher.Manifest("m-1", from, to, segments, ChunkBytes);
        var chunk = BoxPublisher.ChunksOf(segments[0], ChunkBytes)[0];

        byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);
        var cases = new (string Topic, byte[] Payload, string Kind)[]
        {
            ("status", Bytes("not json"), "status"),
            ("status", Bytes("{\"schema\":1,\"state\":\"asleep\"}"), "status"),
            ("status", Bytes("{\"schema\":2,\"state\":\"online\"}"), "status"),
            ("health", Bytes("[1,2,3]"), "health"),
            ("health", Bytes("{\"schema\":1,\"at\":42}"), "health"),
            ("events", [0xff, 0xfe, 0x00], "events"),
            ("events", Bytes("{\"schema\":1,\"id\":1,\"stream\":\"segments\",\"event\":{}}"), "events"),
            ("events", Bytes("{\"schema\":1,\"id\":\"one\",\"stream\":\"events\"}"), "events"),
            ("events", Bytes("{\"schema\":1,\"id\":3,\"stream\":\"events\",\"event\":{\"id\":1}}"), "events"),
            ("segments", Bytes("{\"schema\":1,\"id\":1,\"stream\":\"segments\",\"segments\":[{\"id\":1}]}"), "segments"),
            ("segments", Bytes("{}"), "segments"),
            ("audit", Bytes("{\"schema\":1,\"id\":1,\"stream\":\"audit\",\"records\":[]}"), "audit"),
            ("audit", Bytes("{\"schema\":1,\"id\":1,\"stream\":\"audit\",\"records\":[{\"seq\":1,\"prevHash\":\"00\",\"hash\":\"00\",\"at\":\"2026-11-23T01:00:00.000Z\",\"action\":\"x\"}]}"), "audit"),
            ("clips/m-1/manifest", Bytes("{\"schema\":1}"), "manifest"),
            ("clips/m-1/manifest", JsonSerializer.SerializeToUtf8Bytes(With(manifest, m => m["clipId"] = "other")), "manifest"),
            ("clips/m-1/manifest", JsonSerializer.SerializeToUtf8Bytes(With(manifest, m => m["segments"]![0]!["chunks"] = 1)), "manifest"),
            ("clips/m-1/manifest", JsonSerializer.SerializeToUtf8Bytes(With(manifest, m => m["segments"]![0]!["relativePath"] = "../../etc/passwd")), "manifest"),
            ("clips/m-1/manifest", JsonSerializer.SerializeToUtf8Bytes(With(manifest, m => m["to"] = m["from"]!.GetValue<string>())), "manifest"),
            ("clips/m-1/manifest", JsonSerializer.SerializeToUtf8Bytes(With(manifest, m => m["cameras"] = new JsonArray("../../../tmp/evil"))), "manifest"),
            ("clips/m-1/chunk", chunk.Bytes, "chunk"), // no user properties
            ("cmd-reply/ping", Bytes("{\"schema\":1,\"ok\":\"yes\"}"), "cmd-reply"),
        };
        foreach (var (topic, payload, _) in cases) await box.PublishAsync(topic, payload);
        // A chunk whose properties are wrong, and a clip id with a character the protocol does not allow.
        await box.PublishAsync("clips/m-1/chunk", chunk.Bytes, [("schema", "1"), ("segment", "x"), ("chunk", "0"), ("chunks", "1"), ("offset", "0"), ("sha256", chunk.Sha256)]);
        await box.PublishAsync("clips/m.1/manifest", JsonSerializer.SerializeToUtf8Bytes(manifest));
        // A chunk with no checksum at all, and one whose crc32c is not 8 lowercase hex digits.
        var described = new[] { ("schema", "1"), ("segment", chunk.Segment.ToString()), ("chunk", "0"), ("chunks", chunk.Count.ToString()), ("offset", "0") };
        await box.PublishAsync("clips/m-1/chunk", chunk.Bytes, described);
        await box.PublishAsync("clips/m-1/chunk", chunk.Bytes, [.. described, ("crc32c", "E3069283")]);

        var receiver = central.Receiver!;
        int expected = cases.Length + 4;
        await TestSite.WaitUntilAsync(() => receiver.Counters.MalformedTotal >= expected, Patience, $"{expected} malformed messages to be counted");
        foreach (var kind in cases.Select(c => c.Kind).Distinct())
            Assert.True(receiver.Counters.Malformed.GetValueOrDefault(kind) > 0, $"no malformed {kind} counted");
        Assert.Equal(expected, receiver.Counters.MalformedTotal);

        // Still alive and still storing: a good event after all that is kept.
        await box.PublishJsonAsync("events", new JsonObject
        {
            ["schema"] = 1, ["id"] = 1, ["stream"] = "events",
            ["event"] = new JsonObject { ["id"] = 5, ["kind"] = "door_entry", ["start"] = "2026-11-23T01:00:00.000Z" },
        });
        await TestSite.WaitUntilAsync(() => central.Store.Events(BoxPublisher.SiteId, BoxPublisher.DeviceId).Count == 1, Patience, "the good event");
        Assert.True(receiver.IsConnected);
        Assert.Null(central.Store.GetClip(BoxPublisher.SiteId, BoxPublisher.DeviceId, "m-1"));
    }

    /// <summary>A chain as the box's index builds it (Audit/AuditChain.cs), seq 1 to <paramref name="count"/>.</summary>
    private static List<AuditRecord> AuditChainOf(int count)
    {
        var records = new List<AuditRecord>();
        string prev = AuditChain.GenesisHash;
        for (int seq = 1; seq <= count; seq++)
        {
            var r = new AuditRecord
            {
                Id = seq, Seq = seq, PrevHash = prev, AtUtc = new DateTime(2026, 11, 23, 1, 0, seq, DateTimeKind.Utc), Action = seq == 3 ? "export" : "flag",
                User = "alice (sudo as edge)", Detail = $"record {seq}", Purpose = seq == 3 ? "investigation" : null, Recipient = seq == 3 ? "Marunouchi police station" : null,
            };
            r.Hash = AuditChain.HashOf(r, prev);
            prev = r.Hash;
            records.Add(r);
        }
        return records;
    }

    [Fact]
    public async Task The_audit_trail_copy_is_checked_record_by_record_even_when_its_batches_arrive_out_of_order_and_a_changed_record_is_named()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var central = new CentralUnderTest(output, broker.Url, footage.OwnerKeyPath);
        await central.StartAsync();
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);
        string site = BoxPublisher.SiteId, device = BoxPublisher.DeviceId;
        var chain = AuditChainOf(9);

        // The second batch first: nothing can be checked before the copy's start (the first message) is there.
        await box.PublishAsync("audit", SyncPayloads.Audit(chain.GetRange(3, 3), 2));
        await TestSite.WaitUntilAsync(() => central.Store.AuditRecords(site, device).Count == 3, Patience, "the second batch stored");
        Assert.Equal(0, central.Store.GetDevice(site, device)?.AuditCopyVerifiedSeq ?? 0);
        await box.PublishAsync("audit", SyncPayloads.Audit(chain.GetRange(0, 3), 1));
        await TestSite.WaitUntilAsync(() => central.Store.GetDevice(site, device)?.AuditCopyVerifiedSeq == 6, Patience, "the copy checked through seq 6");
        var export = central.Store.GetAuditRecord(site, device, 3)!;
        Assert.Equal(("export", "investigation", "Marunouchi police station"), (export.Action, export.Purpose, export.Recipient));

        // Seq 8 changed on the box after it was hashed (its hash left as it was): the copy names it and stops there.
        var changed = chain.GetRange(6, 3).Select(r => new AuditRecord
        {
            Id = r.Id, Seq = r.Seq, PrevHash = r.PrevHash, Hash = r.Hash, AtUtc = r.AtUtc, Action = r.Action, User = r.User,
            Detail = r.Seq == 8 ? "nothing happened" : r.Detail,
        }).ToList();
        await box.PublishAsync("audit", SyncPayloads.Audit(changed, 3));
        await TestSite.WaitUntilAsync(() => central.Store.GetDevice(site, device)?.AuditCopyProblem is not null, Patience, "the break found");
        var state = central.Store.GetDevice(site, device)!;
        Assert.Equal(7, state.AuditCopyVerifiedSeq);
        Assert.StartsWith("seq 8 ", state.AuditCopyProblem);
        Assert.Contains("does not match its hash", state.AuditCopyProblem);

        // A record sent again under a seq the central holds, with another hash (a rewritten trail), does not replace the first copy.
        var rewritten = chain[1];
        var forged = new AuditRecord { Id = 2, Seq = 2, PrevHash = rewritten.PrevHash, AtUtc = rewritten.AtUtc, Action = "flag", User = "mallory", Detail = "record 2" };
        forged.Hash = AuditChain.HashOf(forged, rewritten.PrevHash!);
        await box.PublishAsync("audit", SyncPayloads.Audit([forged], 4));
        await TestSite.WaitUntilAsync(() => central.Store.HighestId(site, device, "audit") == 4, Patience, "the fourth audit message");
        Assert.Equal(rewritten.Hash, central.Store.GetAuditRecord(site, device, 2)!.Hash);
        Assert.Equal(0, central.Receiver!.Counters.MalformedTotal);
    }

    private static JsonObject With(JsonObject o, Action<JsonObject> change)
    {
        var copy = (JsonObject)o.DeepClone();
        change(copy);
        return copy;
    }

    [Fact]
    public async Task A_central_restarted_in_the_middle_of_a_clip_finishes_it_with_what_arrived_before_and_while_it_was_down()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var central = new CentralUnderTest(output, broker.Url, footage.OwnerKeyPath);
        await central.StartAsync();
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);
        var (_, _, segments) = Window();
        int total = segments.Sum(s => BoxPublisher.ChunksOf(s, ChunkBytes).Count);
        int half = total / 2;

        await PublishClipAsync(box, "r-1", take: half);
        var chunkDir = new ClipChunks(central.Settings.StoreDirectory).ClipDirectory(BoxPublisher.SiteId, BoxPublisher.DeviceId, "r-1");
        await TestSite.WaitUntilAsync(() => Directory.Exists(chunkDir) && Directory.EnumerateFiles(chunkDir, "*.chunk", SearchOption.AllDirectories).Count() == half, Patience, "half the chunks on disk");
        await central.StopAsync();
        // While the central is down the box goes on; its persistent session at the broker keeps the messages.
        await PublishClipAsync(box, "r-1", skipFirst: half);
        Assert.Empty(box.Commands);

        await central.StartAsync();
        var ack = await box.NextCommandAsync("clip-ack", Patience);
        Assert.True(ack.Args["verified"]!.GetValue<bool>());
        Assert.True(File.Exists(Path.Combine(central.ClipDirectory("r-1"), $"{RecordedFootage.Camera}.mp4")));
    }

    [Fact]
    public async Task A_clip_sent_again_in_other_chunks_after_a_partial_upload_drops_the_old_chunks_and_verifies()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var central = new CentralUnderTest(output, broker.Url, footage.OwnerKeyPath);
        await central.StartAsync();
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);
        var (from, to, segments) = Window();

        // Half an upload in 16 KiB chunks, then the box (reconfigured, restarted) sends it all in 32 KiB chunks.
        await PublishClipAsync(box, "c-1", take: 4);
        await box.PublishJsonAsync("clips/c-1/manifest", BoxPublisher.Manifest("c-1", from, to, segments, 2 * ChunkBytes));
        foreach (var chunk in segments.SelectMany(s => BoxPublisher.ChunksOf(s, 2 * ChunkBytes))) await box.PublishChunkAsync("c-1", chunk);

        var ack = await box.NextCommandAsync("clip-ack", Patience);
        Assert.True(ack.Args["verified"]!.GetValue<bool>());
    }

    [Fact]
    public async Task A_clip_that_cannot_be_cut_because_ffmpeg_is_missing_stays_complete_unacknowledged_and_is_cut_at_the_next_start()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var central = new CentralUnderTest(output, broker.Url, footage.OwnerKeyPath, c => c["ffmpegPath"] = "/nonexistent/ffmpeg");
        await central.StartAsync();
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);

        await PublishClipAsync(box, "x-1");
        await TestSite.WaitUntilAsync(() => central.Receiver!.Counters.ClipsDeferred == 1, Patience, "the worker to try the clip and defer it");
        Assert.Equal(ClipStates.Complete, central.Store.GetClip(BoxPublisher.SiteId, BoxPublisher.DeviceId, "x-1")!.State);
        Assert.Empty(box.Commands);
        Assert.False(Directory.Exists(central.ClipDirectory("x-1") + ".partial"));

        await central.StopAsync();
        central.Rewrite(c => c["ffmpegPath"] = "ffmpeg");
        await central.StartAsync();
        var ack = await box.NextCommandAsync("clip-ack", Patience);
        Assert.True(ack.Args["verified"]!.GetValue<bool>());
    }

    [Fact]
    public async Task A_clip_sealed_to_another_owner_key_is_kept_as_unopenable_and_not_acknowledged_at_all()
    {
        var otherOwner = Directory.CreateTempSubdirectory("edge-other-owner-").FullName;
        try
        {
            var other = Edge.Agent.Sealing.OwnerKeys.CreatePair(otherOwner, passphrase: null);
            await using var broker = await MosquittoBroker.StartAsync();
            await using var central = new CentralUnderTest(output, broker.Url, other.PrivateKeyPath);
            await central.StartAsync();
            await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);

            await PublishClipAsync(box, "k-1");

            await TestSite.WaitUntilAsync(() => central.Receiver!.Counters.ClipsUnopenable == 1, Patience, "the clip to be found unopenable");
            var clip = central.Store.GetClip(BoxPublisher.SiteId, BoxPublisher.DeviceId, "k-1")!;
            Assert.Equal(ClipStates.Unopenable, clip.State);
            Assert.Contains("sealed to owner key", clip.Detail);
            Assert.False(clip.AckSent);
            Assert.Empty(box.Commands);
            Assert.False(Directory.Exists(central.ClipDirectory("k-1")));
            // The ciphertext is kept for a person to look at (with the right key, later).
            var chunks = new ClipChunks(central.Settings.StoreDirectory).ClipDirectory(BoxPublisher.SiteId, BoxPublisher.DeviceId, "k-1");
            Assert.NotEmpty(Directory.EnumerateFiles(chunks, "*.chunk", SearchOption.AllDirectories));
        }
        finally
        {
            Directory.Delete(otherOwner, recursive: true);
        }
    }

    [Fact]
    public async Task Chunks_the_central_cannot_store_are_not_acknowledged_and_arrive_again_after_its_reconnect()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var central = new CentralUnderTest(output, broker.Url, footage.OwnerKeyPath);
        await central.StartAsync();
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);
        // A file where the clip's chunk directory must go: every chunk write fails (as a full or broken disk would).
        var blocked = new ClipChunks(central.Settings.StoreDirectory).ClipDirectory(BoxPublisher.SiteId, BoxPublisher.DeviceId, "d-1");
        Directory.CreateDirectory(Path.GetDirectoryName(blocked)!);
        File.WriteAllText(blocked, "in the way");

        await PublishClipAsync(box, "d-1");
        await TestSite.WaitUntilAsync(() => central.Receiver!.Counters.Received >= 3, Patience, "the first chunks to fail");
        File.Delete(blocked);

        var ack = await box.NextCommandAsync("clip-ack", Patience);
        Assert.True(ack.Args["verified"]!.GetValue<bool>());
        Assert.True(File.Exists(Path.Combine(central.ClipDirectory("d-1"), $"{RecordedFootage.Camera}.mp4")));
    }

    [Fact]
    public async Task Fleet_state_follows_status_and_health_and_a_command_reply_is_kept()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, commandPublicKeyPath: null);
        // Retained before the central exists: it must still learn the state (status and health are not shared subscriptions).
        await box.PublishJsonAsync("status", new JsonObject { ["schema"] = 1, ["state"] = "online", ["siteId"] = BoxPublisher.SiteId, ["deviceId"] = BoxPublisher.DeviceId, ["version"] = "0.1.0" }, retain: true);
        await using var central = new CentralUnderTest(output, broker.Url, footage.OwnerKeyPath);
        await central.StartAsync();
        await TestSite.WaitUntilAsync(() => central.Store.GetDevice(BoxPublisher.SiteId, BoxPublisher.DeviceId)?.State == "online", Patience, "the retained status");

        await box.PublishJsonAsync("health", new JsonObject { ["schema"] = 1, ["at"] = "2026-11-23T01:00:00.000Z", ["uptimeSeconds"] = 60, ["cameras"] = new JsonArray() }, retain: true);
        await box.PublishJsonAsync("cmd-reply/ping", new JsonObject { ["schema"] = 1, ["commandId"] = "abc", ["ok"] = true, ["result"] = new JsonObject { ["pong"] = true } });
        await box.PublishJsonAsync("status", new JsonObject { ["schema"] = 1, ["state"] = "offline", ["reason"] = "connection lost" }, retain: true);
        await TestSite.WaitUntilAsync(() => central.Store.GetDevice(BoxPublisher.SiteId, BoxPublisher.DeviceId)?.State == "offline", Patience, "offline");
        var device = central.Store.GetDevice(BoxPublisher.SiteId, BoxPublisher.DeviceId)!;
        Assert.Equal("connection lost", device.Reason);
        Assert.Contains("uptimeSeconds", device.HealthJson);
        Assert.Contains("0.1.0", device.StatusJson); // the last online status is kept beside the offline state
        Assert.Single(central.Store.Replies());
    }
}
