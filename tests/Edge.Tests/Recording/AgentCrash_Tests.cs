using System.Diagnostics;
using System.Text.Json;
using Edge.Agent.Cli;
using Edge.Agent.Index;
using Edge.Agent.Recording;
using Edge.Hardware.Cameras;
using Edge.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Edge.Tests.Recording;

public class AgentCrash_Tests(ITestOutputHelper output)
{
    private static readonly JsonSerializerOptions Json = CliJson.Options;

    [Fact]
    public async Task Agent_killed_with_SIGKILL_five_times_during_recording_loses_no_finished_segment()
    {
        await using var site = new TestSite(output,
            TestSite.TestPatternCamera("cam1", segmentSeconds: 1),
            TestSite.TestPatternCamera("cam2", segmentSeconds: 1, fps: 10));
        var random = new Random(20261123);
        var seenBeforeKills = new HashSet<long>();

        for (int round = 1; round <= 5; round++)
        {
            using var agent = EdgeProcess.Start(line => output.WriteLine($"[agent {round}] {line}"), "run", "--config", site.ConfigPath);
            var listed = await EdgeProcess.WaitForNewSegmentsAsync(site.ConfigPath, seenBeforeKills, 3, agent, $"round {round}");
            Assert.Superset(seenBeforeKills, listed.Select(s => s.Id).ToHashSet());

            var status = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(30), "status", "--config", site.ConfigPath, "--json");
            var reconcile = JsonSerializer.Deserialize<ReconcileReport>(
                JsonDocument.Parse(status.Stdout).RootElement.GetProperty("lastReconcile").GetString()!)!;
            Assert.False(reconcile.FoundInconsistency, $"round {round}: reconcile found {reconcile}");

            seenBeforeKills.UnionWith(listed.Select(s => s.Id));
            await Task.Delay(random.Next(100, 1500)); // land anywhere: mid-segment, mid-seal, mid-commit
            agent.Kill(); // SIGKILL
            await agent.WaitForExitAsync();
        }

        // The ffmpeg children outlive a SIGKILLed agent; the next agent kills them (StaleFfmpegGuard). Do it here too.
        foreach (var staging in Directory.GetDirectories(site.Settings.StagingDirectory))
            StaleFfmpegGuard.KillSurvivor(staging);

        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        var report = new Reconciler(index, site.Settings.StagingDirectory, new Edge.Agent.Storage.VolumeSet(site.Settings.Volumes), NullLogger.Instance).Run();
        Assert.False(report.FoundInconsistency, report.ToString());
        var segments = index.AllSegments();
        Assert.Superset(seenBeforeKills, segments.Select(s => s.Id).ToHashSet());
        Assert.All(segments, s => Assert.Equal(SegmentState.Stored, s.State));
        foreach (var s in segments)
            Assert.True((await Media.ProbeAsync(site.OpenSegment(s))).Plays, $"segment {s.Id} ({s.FullPath}) should play");
    }
}
