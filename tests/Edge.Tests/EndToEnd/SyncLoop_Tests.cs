// The box and the central as one loop over a real mosquitto: the agent in this process (TestSite, simulated GPIO,
// test-pattern cameras, the real index and sealing), the central in this process (the CentralReceiver `edge central`
// runs, its own store and ffmpeg). Nothing stands in for the broker, the index or ffmpeg.
using System.Device.Gpio;
using System.Text.Json.Nodes;
using Edge.Agent.Doors;
using Edge.Agent.Index;
using Edge.Agent.Sealing;
using Edge.Tests.Central;
using Edge.Tests.Fixtures;
using Edge.Tests.Support;
using Edge.Tests.Sync;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using CentralClipStates = Edge.Agent.Central.ClipStates;

namespace Edge.Tests.EndToEnd;

public class SyncLoop_Tests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private const string Site = "test-site";
    private const string Device = "test-box";

    [Fact]
    public async Task After_a_broker_outage_with_door_events_every_event_manifest_and_clip_reaches_the_central_once_and_the_flags_become_synced()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await RunLoopAsync(broker, certificates: null);
    }

    [Fact]
    public async Task The_same_loop_runs_over_TLS_with_client_certificates_and_the_ACL_on_both_sides()
    {
        await using var broker = await MosquittoBroker.StartSecureAsync();
        await RunLoopAsync(broker, broker.Certificates!);
    }

    [Fact]
    public async Task A_device_killed_in_the_middle_of_a_clip_upload_resumes_without_resending_acknowledged_chunks_and_the_clip_verifies_at_the_central()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var tap = await MqttTap.StartAsync(broker.Url);
        using var placeholder = new CentralSigner();
        // 4 KiB chunks at 400 kbit/s: about 12 chunks a second, so the kill lands mid-clip.
        await using var site = new TestSite(output, (config, root) => SyncSupport.Configure(config, root, broker.Url, placeholder, bandwidthKbps: 400, chunkBytes: 4096),
            TestSite.TestPatternCamera("cam1", segmentSeconds: 1));
        await using var central = new CentralUnderTest(output, broker.Url, site.OwnerKeys.PrivateKeyPath);
        File.Copy(central.CommandPublicKeyPath, Path.Combine(site.Root, "keys", "owner-sign.pub"), overwrite: true);
        await central.StartAsync();

        using var first = StartAgent(site, "first");
        await TestSite.WaitUntilAsync(() => central.Store.Segments(Site, Device).Count >= 8, Patience, "eight segments at the central");
        var now = DateTime.UtcNow;
        await central.Receiver!.SendCommandAsync(Site, Device, "request-window", new JsonObject
        {
            ["cameras"] = new JsonArray("cam1"), ["from"] = Edge.Sync.Protocol.ProtocolTime.Format(now.AddSeconds(-9)),
            ["to"] = Edge.Sync.Protocol.ProtocolTime.Format(now.AddSeconds(-3)), ["reason"] = "test",
        }, CancellationToken.None);
        await TestSite.WaitUntilAsync(() => tap.On("/chunk").Count >= 10, Patience, "ten chunks");
        Kill(first);
        // A chunk the box published just before the kill may still be on its way from the broker to the tap: let it
        // arrive, or the chunk that was legitimately in flight would look like an earlier one sent twice.
        await Task.Delay(TimeSpan.FromSeconds(1));
        var beforeKill = tap.On("/chunk").Select(Key).ToList();
        var manifest = SyncSupport.Read<Edge.Sync.Protocol.ClipManifest>(Assert.Single(tap.On("/manifest")));
        int total = manifest.Segments.Sum(s => s.Chunks);
        Assert.True(beforeKill.Count < total, $"the upload finished ({beforeKill.Count} of {total} chunks) before the kill; the test needs a slower cap");

        using var second = StartAgent(site, "second");
        try
        {
            // Verified at the central, and its clip-ack answered by the box (so the box's flag is synced on disk).
            await TestSite.WaitUntilAsync(() => central.Store.GetClip(Site, Device, manifest.ClipId)?.State == CentralClipStates.Done
                && central.Store.Replies().Any(r => r.Name == "clip-ack" && JsonNode.Parse(r.Json)!["ok"]!.GetValue<bool>()), Patience, "the clip verified and acknowledged");
        }
        finally { Kill(second); }

        var sent = tap.On("/chunk").Select(Key).ToList();
        var repeated = sent.GroupBy(k => k).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        output.WriteLine($"{beforeKill.Count} chunks before the kill, {sent.Count} in all for {total}; repeated: {string.Join(", ", repeated)}");
        // Only the chunks in flight at the kill (the window under a cap) may go twice; nothing acknowledged earlier.
        Assert.All(repeated, k => Assert.Contains(k, beforeKill.TakeLast(Edge.Sync.SyncEngine.ChunkWindowFor(400))));
        Assert.Single(tap.On("/manifest"));
        var dir = central.ClipDirectory(manifest.ClipId);
        Assert.True(JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))!["verified"]!.GetValue<bool>());
        var probe = await MediaProbe.ProbeFileAsync(Path.Combine(dir, "cam1.mp4"));
        Assert.InRange(probe.Duration!.Value.TotalSeconds, 6 - 0.3, 6 + 2.5);
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        Assert.Equal(ClipStates.Acknowledged, index.GetClip(manifest.ClipId)!.State);
        Assert.Equal(FlagSyncStates.Synced, index.AllFlags().Single().SyncState);
    }

    private System.Diagnostics.Process StartAgent(TestSite site, string name) =>
        EdgeProcess.Start(line => { try { output.WriteLine($"[{name}] {line}"); } catch (InvalidOperationException) { } }, "run", "--config", site.ConfigPath);

    private static void Kill(System.Diagnostics.Process process)
    {
        process.Kill(); // SIGKILL
        process.WaitForExit(30_000);
    }

    [Fact]
    public async Task A_clip_sent_while_no_central_listened_is_sent_again_when_its_clip_ack_does_not_come_and_then_verifies()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        using var placeholder = new CentralSigner();
        await using var site = new TestSite(output, (config, root) =>
        {
            SyncSupport.Configure(config, root, broker.Url, placeholder);
            SyncSupport.AddDoor(config, root, "cam1");
            config["sync"]!["clipAckTimeoutSeconds"] = 10;
        }, TestSite.TestPatternCamera("cam1", segmentSeconds: 1));
        await using var central = new CentralUnderTest(output, broker.Url, site.OwnerKeys.PrivateKeyPath);
        File.Copy(central.CommandPublicKeyPath, Path.Combine(site.Root, "keys", "owner-sign.pub"), overwrite: true);
        await site.StartAsync();
        var index = site.Index!;
        var pins = site.Host.GetRequiredService<DoorService>().SimulatedDriver!;
        await TestSite.WaitUntilAsync(() => index.QuerySegments("cam1").Count >= 3, Patience, "three segments before the door opens");

        // No central subscribed yet: the broker takes every chunk (PUBACK) and hands them to nobody.
        await SyncSupport.OpenDoorAsync(pins, TimeSpan.FromMilliseconds(1200));
        await TestSite.WaitUntilAsync(() => index.AllClips() is [{ State: ClipStates.Uploaded }], Patience, "the clip sent into the void");
        var lost = index.AllClips()[0];
        Assert.Equal(1, lost.Uploads);

        await central.StartAsync();
        await TestSite.WaitUntilAsync(() => index.AllClips() is [{ State: ClipStates.Acknowledged }], Patience, "the clip sent again, verified and acknowledged");
        Assert.Equal(2, index.AllClips()[0].Uploads);
        Assert.Equal(CentralClipStates.Done, central.Store.GetClip(Site, Device, lost.Id)!.State);
        Assert.Equal(FlagSyncStates.Synced, Assert.Single(index.AllFlags()).SyncState);
    }

    private static (long Segment, int Chunk) Key(TappedMessage m) => (long.Parse(m.Properties["segment"]), int.Parse(m.Properties["chunk"]));

    private async Task RunLoopAsync(MosquittoBroker broker, TestCertificates? certificates)
    {
        using var placeholder = new CentralSigner(); // replaced by the central's own owner-sign.pub before the box starts
        await using var site = new TestSite(output, (config, root) =>
        {
            SyncSupport.Configure(config, root, broker.Url, placeholder);
            SyncSupport.AddDoor(config, root, "cam1");
            // The broker restarts without persistence below: a clip the box sends before the central is back is lost
            // on the way, and the box sends it again when its clip-ack does not come.
            config["sync"]!["clipAckTimeoutSeconds"] = 15;
            if (certificates is not null)
            {
                var (cert, key) = certificates.Client(Device);
                var sync = config["sync"]!.AsObject();
                sync["caFile"] = certificates.CaFile;
                sync["certFile"] = cert;
                sync["keyFile"] = key;
            }
        }, TestSite.TestPatternCamera("cam1", segmentSeconds: 1), TestSite.TestPatternCamera("cam2", segmentSeconds: 1));
        await using var central = new CentralUnderTest(output, broker.Url, site.OwnerKeys.PrivateKeyPath, c =>
        {
            if (certificates is null) return;
            var (cert, key) = certificates.Client(TestCertificates.Central);
            c["caFile"] = certificates.CaFile;
            c["certFile"] = cert;
            c["keyFile"] = key;
        });
        File.Copy(central.CommandPublicKeyPath, Path.Combine(site.Root, "keys", "owner-sign.pub"), overwrite: true);
        // `edge run` creates the device signing key; the in-process site does what it does.
        using (DeviceSigningKey.LoadOrCreate(DeviceSigningKey.DirectoryFor(site.Settings.IndexKeyFile), out _)) { }
        var devicePublicKey = Convert.ToBase64String(DeviceSigningKey.LoadPublic(DeviceSigningKey.PublicPathFor(site.Settings.IndexKeyFile)).SubjectPublicKeyInfo);

        await central.StartAsync();
        await site.StartAsync();
        var index = site.Index!;
        var pins = site.Host.GetRequiredService<DoorService>().SimulatedDriver!;
        await TestSite.WaitUntilAsync(() => central.Store.GetDevice(Site, Device)?.State == "online", Patience, "the central to see the box online");
        await TestSite.WaitUntilAsync(() => index.QuerySegments("cam1").Count >= 4, Patience, "four segments before the first door event");

        // A door opening while connected; the broker goes away; another opening while it is away.
        await SyncSupport.OpenDoorAsync(pins, TimeSpan.FromMilliseconds(1200));
        await TestSite.WaitUntilAsync(() => index.AllFlags().Count == 1, Patience, "the first flag");
        await broker.StopAsync();
        await Task.Delay(5500); // past the first flag's post-roll plus the next one's pre-roll: two flags, not one merged
        await SyncSupport.OpenDoorAsync(pins, TimeSpan.FromMilliseconds(1200));
        await TestSite.WaitUntilAsync(() => index.AllFlags().Count == 2, Patience, "the second flag, while the broker is away");
        await Task.Delay(3000);
        Assert.True(index.OutboxDepth().Messages > 0, "messages queued during the outage");
        await broker.StartAsync();

        // The loop closes: the central verifies each clip and its clip-ack ends each flag's sync hold on the box.
        await TestSite.WaitUntilAsync(() => index.AllFlags().Count == 2 && index.AllFlags().All(f => f.SyncState == FlagSyncStates.Synced)
            && index.AllClips().All(c => c.State == ClipStates.Acknowledged) && index.OutboxDepth().Messages == 0, Patience,
            "both flags synced after the central's clip-ack, and the outbox drained");
        var boxHead = index.AuditHead();
        await TestSite.WaitUntilAsync(() => central.Store.GetDevice(Site, Device)?.AuditHeadSeq >= 1, Patience, "the central to hold the box's audit head");
        // The audit trail leaves the box too: the central's copy is checked (hashes recomputed, links followed) from seq 1.
        await TestSite.WaitUntilAsync(() => central.Store.GetDevice(Site, Device)?.AuditCopyVerifiedSeq >= boxHead.Seq, Patience,
            $"the central's copy of the audit trail checked through seq {boxHead.Seq}");
        var receiver = central.Receiver!;
        await site.StopAsync();

        using var reopened = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        // Every event, in its latest state, once; the stream's cursor has no hole.
        var events = central.Store.Events(Site, Device);
        Assert.Equal(events.Count, events.Select(e => e.EventId).Distinct().Count());
        foreach (var e in reopened.QueryEvents().Where(e => e.Id <= events.Max(x => x.EventId)))
        {
            var atCentral = events.SingleOrDefault(x => x.EventId == e.Id);
            Assert.True(atCentral is not null, $"event {e.Id} ({e.Kind}) never reached the central");
            var end = JsonNode.Parse(atCentral.Json)!["end"];
            Assert.Equal(e.EndUtc is null, end is null);
        }
        Assert.True(reopened.QueryEvents().Count(e => e.Kind.StartsWith("door", StringComparison.Ordinal)) >= 2);
        // The broker restarts without persistence: what the box publishes after reconnecting and before the central
        // has subscribed again is acknowledged to the box and dropped. The central sees the hole and asks for a
        // resend (protocol.md, "order and duplicates"; seen in CI for the segments and audit streams). The checks
        // around this one (every event, every segment manifest, the audit copy from seq 1) show that it filled.
        Assert.True(receiver.Counters.Gaps == 0 || receiver.Counters.ResendsRequested > 0,
            $"{receiver.Counters.Gaps} gap(s) in a stream and no resend requested");
        Assert.Equal(events.Max(e => e.MessageId), central.Store.HighestId(Site, Device, "events"));

        // Every segment manifest up to the last batch that went, with the box's hash.
        var segments = central.Store.Segments(Site, Device).ToDictionary(s => s.SegmentId, s => s.StoredSha256);
        Assert.All(reopened.QuerySegments().Where(s => s.Id <= segments.Keys.Max()), s => Assert.Equal(s.StoredSha256, segments.GetValueOrDefault(s.Id)));

        // Each clip: done at the central, once, its MP4 plays and covers the flag's window.
        var clips = reopened.AllClips();
        Assert.Equal(2, clips.Count);
        Assert.Equal(clips.Count, central.Store.AllClips().Count);
        foreach (var clip in clips)
        {
            Assert.Equal(CentralClipStates.Done, central.Store.GetClip(Site, Device, clip.Id)!.State);
            var dir = central.ClipDirectory(clip.Id);
            Assert.Equal(["cam1.mp4", "manifest.json"], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order());
            Assert.True(JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))!["verified"]!.GetValue<bool>());
            var probe = await MediaProbe.ProbeFileAsync(Path.Combine(dir, "cam1.mp4"));
            Assert.Equal("h264", probe.Video!.CodecName);
            var window = (clip.ToUtc - clip.FromUtc).TotalSeconds;
            // The cut starts on the key frame at or before `from` and ends at `to`.
            Assert.InRange(probe.Duration!.Value.TotalSeconds, window - 0.3, window + 2.5);
        }

        // Status brought the device key, status and health the audit chain's head.
        var device = central.Store.GetDevice(Site, Device)!;
        Assert.Equal(devicePublicKey, device.DevicePublicKey);
        Assert.InRange(device.AuditHeadSeq!.Value, 1, reopened.AuditHead().Seq);
        if (device.AuditHeadSeq == boxHead.Seq) Assert.Equal(boxHead.Hash, device.AuditHeadHash);
        Assert.Null(device.AuditCopyProblem);
        Assert.Equal(1, device.AuditCopyStartSeq);
        var copy = central.Store.AuditRecords(Site, Device).ToDictionary(r => r.Seq);
        foreach (var record in reopened.QueryAudit().Where(r => r.Seq <= device.AuditCopyVerifiedSeq))
        {
            Assert.True(copy.TryGetValue(record.Seq, out var copied), $"audit seq {record.Seq} ({record.Action}) is not in the central's copy");
            Assert.Equal((record.Hash, record.Action, record.User ?? "", record.Detail ?? ""), (copied.Hash, copied.Action, copied.User, copied.Detail));
        }
    }
}
