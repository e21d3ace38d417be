using System.Diagnostics;
using Edge.Sync.Protocol;
using Edge.Tests.Fixtures;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Sync;

/// <summary>The real `edge run` as a child process, killed with SIGKILL.</summary>
public class SyncProcess_Tests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private Process StartAgent(TestSite site, string name) =>
        EdgeProcess.Start(line => { try { output.WriteLine($"[{name}] {line}"); } catch (InvalidOperationException) { } }, "run", "--config", site.ConfigPath);

    private static void Kill(Process process)
    {
        process.Kill(); // SIGKILL
        process.WaitForExit(30_000);
    }

    [Fact]
    public async Task A_device_killed_with_SIGKILL_goes_offline_through_its_Last_Will_within_the_keep_alive_window_and_comes_back_online()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var tap = await MqttTap.StartAsync(broker.Url, SyncSupport.Root + "/status");
        using var signer = new CentralSigner();
        await using var site = new TestSite(output, (config, root) => SyncSupport.Configure(config, root, broker.Url, signer),
            TestSite.TestPatternCamera("cam1"));

        using var first = StartAgent(site, "first");
        await tap.WaitForAsync(m => SyncSupport.Read<StatusMessage>(m).State == "online", Patience, "online");
        var killedAt = DateTime.UtcNow;
        Kill(first);
        var will = await tap.WaitForAsync(m => SyncSupport.Read<StatusMessage>(m).State == "offline", Patience, "the Last Will");
        // keepAliveSeconds is 2: the broker gives up after 1.5 × 2 s; the rest is slack for a loaded machine.
        Assert.True(will.ReceivedUtc - killedAt < TimeSpan.FromSeconds(10), $"the Will came {(will.ReceivedUtc - killedAt).TotalSeconds:0.0} s after the kill");
        Assert.Contains("connection lost", System.Text.Encoding.UTF8.GetString(will.Payload));

        using var second = StartAgent(site, "second");
        try
        {
            await tap.WaitForAsync(m => m.ReceivedUtc > will.ReceivedUtc && SyncSupport.Read<StatusMessage>(m).State == "online", Patience, "online again");
            var status = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(60), "status", "--config", site.ConfigPath, "--json");
            Assert.True(status.ExitCode == 0, status.Stderr);
            var sync = System.Text.Json.JsonDocument.Parse(status.Stdout).RootElement.GetProperty("sync");
            Assert.Equal("connected", sync.GetProperty("connection").GetString());
            Assert.Equal(broker.Url.ToString(), sync.GetProperty("broker").GetString());
        }
        finally { Kill(second); }
    }

    [Fact]
    public async Task A_device_killed_in_the_middle_of_a_clip_upload_resumes_after_the_last_acknowledged_chunk()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var tap = await MqttTap.StartAsync(broker.Url);
        using var signer = new CentralSigner();
        // 4 KiB chunks at 400 kbit/s: about 12 chunks a second, so the kill lands mid-clip.
        await using var site = new TestSite(output, (config, root) => SyncSupport.Configure(config, root, broker.Url, signer, bandwidthKbps: 400, chunkBytes: 4096),
            TestSite.TestPatternCamera("cam1", segmentSeconds: 1));

        using var first = StartAgent(site, "first");
        await tap.WaitForAsync(m => m.Topic.EndsWith("/status"), Patience, "online");
        await TestSite.WaitUntilAsync(() => tap.On("/segments").SelectMany(m => SyncSupport.Read<SegmentsMessage>(m).Segments).Count() >= 8, Patience, "eight segments manifested");
        var now = DateTime.UtcNow;
        await tap.PublishAsync(SyncSupport.Root + "/cmd/request-window",
            signer.Sign("request-window", new { cameras = new[] { "cam1" }, from = now.AddSeconds(-9), to = now.AddSeconds(-3), reason = "test" }));
        await TestSite.WaitUntilAsync(() => tap.On("/chunk").Count >= 10, Patience, "ten chunks");
        Kill(first);
        var beforeKill = tap.On("/chunk").Select(Key).ToList();
        var manifest = SyncSupport.Read<ClipManifest>(Assert.Single(tap.On("/manifest")));
        int total = manifest.Segments.Sum(s => s.Chunks);
        Assert.True(beforeKill.Count < total, $"the upload finished ({beforeKill.Count} of {total} chunks) before the kill; the test needs a slower cap");

        using var second = StartAgent(site, "second");
        try
        {
            await TestSite.WaitUntilAsync(() => tap.On("/chunk").Select(Key).Distinct().Count() == total, Patience, $"all {total} chunks");
        }
        finally { Kill(second); }

        var sent = tap.On("/chunk").Select(Key).ToList();
        var repeated = sent.GroupBy(k => k).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        output.WriteLine($"{beforeKill.Count} chunks before the kill, {sent.Count} in all for {total}; repeated: {string.Join(", ", repeated)}");
        // At least once: a chunk whose PUBACK raced the kill may go again (its progress was not yet on disk), so at
        // most the one in flight at the kill (the window under a cap); nothing acknowledged earlier is resent.
        Assert.All(repeated, k => Assert.Contains(k, beforeKill.TakeLast(SyncEngineWindow)));
        Assert.Single(tap.On("/manifest")); // the manifest went once, before the kill

        var files = SyncSupport.Reassemble(tap.On("/chunk"));
        foreach (var s in manifest.Segments)
            Assert.Equal(s.StoredSha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(files[s.Id])));
        using var index = Edge.Agent.Index.IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        foreach (var s in manifest.Segments) Assert.Equal(index.GetSegment(s.Id)!.StoredSha256, s.StoredSha256);
    }

    private static readonly int SyncEngineWindow = Edge.Sync.SyncEngine.ChunkWindowFor(400);

    private static (long Segment, int Chunk) Key(TappedMessage m) => (long.Parse(m.Properties["segment"]), int.Parse(m.Properties["chunk"]));
}
