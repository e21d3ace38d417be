using System.Device.Gpio;
using System.Security.Cryptography;
using System.Text;
using Edge.Agent.Doors;
using Edge.Agent.Index;
using Edge.Sync.Protocol;
using Edge.Tests.Fixtures;
using Edge.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Edge.Tests.Sync;

public class SyncBroker_Tests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task After_a_broker_outage_every_event_and_manifest_arrives_in_order_and_only_the_flagged_footage_leaves_sealed()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var tap = await MqttTap.StartAsync(broker.Url);
        using var signer = new CentralSigner();
        await using var site = new TestSite(output, (config, root) =>
        {
            SyncSupport.Configure(config, root, broker.Url, signer);
            SyncSupport.AddDoor(config, root, "cam1");
        }, TestSite.TestPatternCamera("cam1", segmentSeconds: 1), TestSite.TestPatternCamera("cam2", segmentSeconds: 1));
        await site.StartAsync();
        var index = site.Index!;
        var pins = site.Host.GetRequiredService<DoorService>().SimulatedDriver!;
        await tap.WaitForAsync(m => m.Topic == SyncSupport.Root + "/status" && SyncSupport.Read<StatusMessage>(m).State == "online", Patience, "status online");
        await using (var late = await MqttTap.StartAsync(broker.Url, SyncSupport.Root + "/status"))
            Assert.True((await late.WaitForAsync(_ => true, Patience, "the retained status")).Retain);
        await TestSite.WaitUntilAsync(() => index.QuerySegments("cam1").Count >= 4, Patience, "four segments before the first door event");

        // A door opening while connected, then the broker goes away; another opening while it is away.
        await SyncSupport.OpenDoorAsync(pins, TimeSpan.FromMilliseconds(1200));
        await TestSite.WaitUntilAsync(() => index.AllFlags().Count == 1, Patience, "the first flag");
        await broker.StopAsync();
        await Task.Delay(5500); // past the first flag's post-roll plus the next one's pre-roll: two flags, not one merged

        await SyncSupport.OpenDoorAsync(pins, TimeSpan.FromMilliseconds(1200));
        await TestSite.WaitUntilAsync(() => index.AllFlags().Count == 2, Patience, "the second flag, while the broker is away");
        await Task.Delay(4000); // recording goes on, offline
        Assert.True(index.OutboxDepth().Messages > 0, "messages queued during the outage");
        var queuedEvents = index.QueryEvents().Count;
        await broker.StartAsync();
        await tap.ReconnectAsync(); // before the box, whose backoff has grown to several seconds by now

        // Everything queued during the outage drains, and both flags' clips are uploaded.
        await TestSite.WaitUntilAsync(() => index.OutboxDepth().Messages == 0 && index.AllClips().Count == 2
            && index.AllClips().All(c => c.State == ClipStates.Uploaded), Patience, "the outbox drained and both clips uploaded");
        await site.StopAsync();

        using var reopened = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        var events = tap.On("/events").Select(SyncSupport.Read<EventMessage>).ToList();
        var eventIds = SyncSupport.AssertInOrderWithoutGaps(events.Select(e => e.Id), "events");
        // Four door events (two openings, each opened and closed) at least; every change of every event is there.
        var latest = events.GroupBy(e => e.Event.Id).ToDictionary(g => g.Key, g => g.Last().Event);
        foreach (var e in reopened.QueryEvents())
        {
            Assert.True(latest.ContainsKey(e.Id), $"event {e.Id} ({e.Kind}) never reached the broker");
            Assert.Equal(e.EndUtc, latest[e.Id].End);
        }
        Assert.True(eventIds.Count >= 4 && queuedEvents >= 2, $"{eventIds.Count} event messages");

        var manifests = tap.On("/segments").Select(SyncSupport.Read<SegmentsMessage>).ToList();
        SyncSupport.AssertInOrderWithoutGaps(manifests.Select(m => m.Id), "segments");
        var manifested = manifests.SelectMany(m => m.Segments).ToDictionary(s => s.Id, s => s.StoredSha256);
        var recordedBeforeRestart = reopened.QuerySegments().Where(s => s.Id <= manifested.Keys.Max()).ToList();
        Assert.All(recordedBeforeRestart, s => Assert.Equal(s.StoredSha256, manifested.GetValueOrDefault(s.Id)));

        // Only the flagged windows' sealed segments left the box, each whole and unchanged.
        var flags = reopened.AllFlags();
        var flagged = reopened.QuerySegments().Where(s => flags.Any(f => f.Covers(s))).ToList();
        Assert.NotEmpty(flagged);
        Assert.DoesNotContain(flagged, s => s.Camera == "cam2"); // the door's camera only
        var chunks = tap.Messages.Where(m => m.Topic.EndsWith("/chunk")).ToList();
        var files = SyncSupport.Reassemble(chunks);
        Assert.Equal(flagged.Select(s => s.Id).Order(), files.Keys.Order());
        foreach (var s in flagged) Assert.Equal(s.StoredSha256, Convert.ToHexStringLower(SHA256.HashData(files[s.Id])));
        Assert.Equal(flagged.Sum(s => s.StoredBytes), files.Values.Sum(f => (long)f.Length));
        var clipManifests = tap.On("/manifest").Select(SyncSupport.Read<ClipManifest>).ToList();
        Assert.Equal(reopened.AllClips().Select(c => c.Id).Order(), clipManifests.Select(m => m.ClipId).Distinct().Order());
        Assert.All(clipManifests.SelectMany(m => m.Segments), s => Assert.NotNull(s.WrappedKey));

        var plaintext = flagged.Select(s => File.ReadAllBytes(site.OpenSegment(s))).ToList();
        SyncSupport.AssertNoPlaintextVideo(tap.Messages, plaintext);

        // Health was published, retained, with the outbox and the cameras.
        var health = SyncSupport.Read<HealthMessage>(tap.On("/health").Last());
        Assert.Equal(["cam1", "cam2"], health.Cameras.Select(c => c.Id));
        Assert.All(health.Cameras, c => Assert.True(c.BitrateKbps > 0));
        Assert.True(health.Volumes.Single().Active);
        Assert.True(health.ClockSynchronised); // clock.trust is "always" in test sites
        // Board figures only where the board reports them: absent, not zero, elsewhere.
        var board = System.Text.Json.JsonDocument.Parse(tap.On("/health").Last().Payload).RootElement.GetProperty("board");
        Assert.Equal(File.Exists("/sys/class/thermal/thermal_zone0/temp"), board.TryGetProperty("cpuTemperatureC", out _));
        Assert.Equal(File.Exists("/usr/bin/vcgencmd") || File.Exists("/opt/vc/bin/vcgencmd"), board.TryGetProperty("underVoltageNow", out _));
        var offline = SyncSupport.Read<StatusMessage>(tap.On("/status").Last());
        Assert.Equal(("offline", "shutdown"), (offline.State, offline.Reason));
    }

    [Fact]
    public async Task Commands_are_verified_answered_and_audited_and_a_clip_ack_ends_the_flags_sync_hold()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var tap = await MqttTap.StartAsync(broker.Url);
        using var signer = new CentralSigner();
        await using var site = new TestSite(output, (config, root) => SyncSupport.Configure(config, root, broker.Url, signer),
            TestSite.TestPatternCamera("cam1", segmentSeconds: 1));
        await site.StartAsync();
        var index = site.Index!;
        await tap.WaitForAsync(m => m.Topic.EndsWith("/status"), Patience, "status online");
        await TestSite.WaitUntilAsync(() => index.QuerySegments("cam1").Count >= 3, Patience, "three segments");
        var cmd = SyncSupport.Root + "/cmd/";

        async Task<CommandReply> SendAsync(string name, byte[] payload, int replyNumber)
        {
            await tap.PublishAsync(cmd + name, payload);
            await TestSite.WaitUntilAsync(() => tap.Messages.Count(m => m.Topic.Contains("/cmd-reply/")) >= replyNumber, Patience, $"reply {replyNumber}");
            return SyncSupport.Read<CommandReply>(tap.Messages.Where(m => m.Topic.Contains("/cmd-reply/")).ElementAt(replyNumber - 1));
        }
        int n = 0;
        var ping = signer.Sign("ping", new { });
        var pong = await SendAsync("ping", ping, ++n);
        Assert.True(pong.Ok, pong.Detail);
        Assert.Equal(Encoding.UTF8.GetString(ping).Length > 0, pong.Result!.Value.GetProperty("pong").GetBoolean());
        Assert.Equal("replayed", (await SendAsync("ping", ping, ++n)).Error);
        using (var stranger = new CentralSigner())
            Assert.Equal("bad_signature", (await SendAsync("ping", stranger.Sign("ping", new { }), ++n)).Error);
        Assert.Equal("expired", (await SendAsync("ping", signer.Sign("ping", new { }, issuedAt: DateTime.UtcNow.AddHours(-1)), ++n)).Error);
        Assert.Equal("wrong_device", (await SendAsync("ping", signer.Sign("ping", new { }, device: "other-box"), ++n)).Error);
        Assert.Equal("malformed", (await SendAsync("ping", "{not json"u8.ToArray(), ++n)).Error);
        Assert.Equal("malformed", (await SendAsync("a/b", signer.Sign("ping", new { }), ++n)).Error);
        Assert.Equal("malformed", (await SendAsync("resend", signer.Sign("resend", new { stream = 3 }), ++n)).Error);

        // The central asks for a window; the box flags it, uploads its clip, and releases it on clip-ack.
        var from = index.QuerySegments("cam1")[0].StartUtc;
        var request = await SendAsync("request-window", signer.Sign("request-window", new { cameras = new[] { "cam1" }, from, to = from.AddSeconds(2), reason = "police request" }), ++n);
        Assert.True(request.Ok, request.Detail);
        var flagId = request.Result!.Value.GetProperty("flagId").GetInt64();
        await TestSite.WaitUntilAsync(() => index.AllClips().Any(c => c.FlagId == flagId && c.State == ClipStates.Uploaded), Patience, "the requested clip uploaded");
        var clip = index.AllClips().Single(c => c.FlagId == flagId);
        Assert.Equal(FlagSyncStates.Pending, index.AllFlags().Single(f => f.Id == flagId).SyncState);
        var ack = await SendAsync("clip-ack", signer.Sign("clip-ack", new { clipId = clip.Id, verified = true }), ++n);
        Assert.True(ack.Ok, ack.Detail);
        Assert.Equal(FlagSyncStates.Synced, index.AllFlags().Single(f => f.Id == flagId).SyncState);

        var audit = index.QueryAudit().Where(a => a.User == "central").ToList();
        Assert.Equal(n, audit.Count);
        Assert.Equal(3, audit.Count(a => a.Action == "sync_command"));
        Assert.Contains(audit, a => a.Detail.Contains("bad_signature"));
        Assert.Contains(audit, a => a.Detail.Contains("replayed"));
        Assert.Contains(audit, a => a.Detail.Contains("expired"));
    }
}

public class SyncRefusal_Tests(ITestOutputHelper output)
{
    private sealed class CapturingOutput(ITestOutputHelper inner) : ITestOutputHelper
    {
        public readonly System.Collections.Concurrent.ConcurrentQueue<string> Lines = new();
        public void WriteLine(string message) { Lines.Enqueue(message); inner.WriteLine(message); }
        public void WriteLine(string format, params object[] args) => WriteLine(string.Format(format, args));
    }

    /// <summary>A mosquitto for anonymous clients with only the ACL lines given: every other topic gets reason 135.</summary>
    private static async Task<(MosquittoBroker Broker, string AclDirectory)> StartWithAclAsync(IEnumerable<string> acl)
    {
        var directory = Directory.CreateTempSubdirectory("edge-acl-").FullName;
        var file = Path.Combine(directory, "acl");
        File.WriteAllLines(file, acl);
        // mosquitto reads the ACL after dropping root for its own user: it must be readable by others.
        File.SetUnixFileMode(directory, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(file, (UnixFileMode)0b110_100_100);
        return (await MosquittoBroker.StartAsync([$"acl_file {file}"]), directory);
    }

    [Fact]
    public async Task A_publish_the_broker_refuses_is_logged_with_its_MQTT_5_reason_code_and_stays_queued()
    {
        // Anonymous clients may publish status and health and read commands, nothing else (mosquitto answers 135).
        var (broker, aclDirectory) = await StartWithAclAsync([
            $"topic readwrite {SyncSupport.Root}/status",
            $"topic readwrite {SyncSupport.Root}/health",
            $"topic read {SyncSupport.Root}/cmd/#",
        ]);
        await using var _ = broker;
        using var signer = new CentralSigner();
        var capture = new CapturingOutput(output);
        await using var site = new TestSite(capture, (config, root) => SyncSupport.Configure(config, root, broker.Url, signer),
            TestSite.TestPatternCamera("cam1", segmentSeconds: 1));
        await site.StartAsync();

        await TestSite.WaitUntilAsync(() => capture.Lines.Any(l => l.Contains("reason 135")), TimeSpan.FromSeconds(90), "a logged refusal with reason 135");
        var line = capture.Lines.First(l => l.Contains("reason 135"));
        Assert.Contains("/segments", line);
        Assert.Contains("NotAuthorized", line);
        Assert.True(site.Index!.OutboxDepth().Messages > 0, "the refused message stays queued");
        Assert.Equal(0, site.Index.OutboxDepth().SentThrough[Edge.Agent.Index.EdgeIndex.SyncStreamSegments]);
        await site.StopAsync();
        Directory.Delete(aclDirectory, recursive: true);
    }

    [Fact]
    public async Task A_stream_the_brokers_ACL_refuses_waits_in_the_outbox_while_the_other_streams_go_on()
    {
        // A broker whose ACL predates the `audit` stream: every other topic of the box is allowed.
        var (broker, aclDirectory) = await StartWithAclAsync([
            .. new[] { "status", "health", "events", "segments", "clips/#", "cmd-reply/#" }.Select(t => $"topic readwrite {SyncSupport.Root}/{t}"),
            $"topic read {SyncSupport.Root}/cmd/#",
        ]);
        await using var _ = broker;
        using var signer = new CentralSigner();
        var capture = new CapturingOutput(output);
        await using var site = new TestSite(capture, (config, root) => SyncSupport.Configure(config, root, broker.Url, signer),
            TestSite.TestPatternCamera("cam1", segmentSeconds: 1));
        await site.StartAsync();
        // An operator's action on the box: one audit record to sync (the in-process host writes none at start).
        site.Index!.Audit(new AuditRecord { AtUtc = DateTime.UtcNow, Action = "flag", User = "alice", Detail = "a manual hold" });

        await TestSite.WaitUntilAsync(() => capture.Lines.Any(l => l.Contains("reason 135") && l.Contains("/audit")), TimeSpan.FromSeconds(90), "the audit stream refused with reason 135");
        long segmentsSentAtRefusal = site.Index!.OutboxDepth().SentThrough[EdgeIndex.SyncStreamSegments];
        // Segment batches keep going after the refusal (one at most every 10 s), and the refused stream stays queued, unsent.
        await TestSite.WaitUntilAsync(() => site.Index.OutboxDepth().SentThrough[EdgeIndex.SyncStreamSegments] > segmentsSentAtRefusal,
            TimeSpan.FromSeconds(60), "a segments batch sent after the audit stream was refused");
        Assert.Equal(0, site.Index.OutboxDepth().SentThrough[EdgeIndex.SyncStreamAudit]);
        Assert.Contains(capture.Lines, l => l.Contains("audit set aside"));
        // Set aside, not a broken connection: the engine did not drop and re-make its connection over it.
        Assert.Single(capture.Lines, l => l.Contains("sync: connected to"));
        await site.StopAsync();
        Directory.Delete(aclDirectory, recursive: true);
    }
}
