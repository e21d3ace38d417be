using System.Security.Cryptography;
using System.Text.Json;
using Edge.Agent.Cli;
using Edge.Agent.Index;
using Edge.Agent.Recording;
using Edge.Agent.Storage;
using Edge.Hardware.Cameras;
using Edge.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Edge.Tests.Sealing;

public class SealingCrash_Tests(ITestOutputHelper output)
{
    [Fact]
    public async Task SIGKILL_at_random_moments_during_sealing_20_times_leaves_no_plaintext_and_no_record_without_its_file()
    {
        await using var site = new TestSite(output,
            TestSite.TestPatternCamera("cam1", segmentSeconds: 1),
            TestSite.TestPatternCamera("cam2", segmentSeconds: 1, fps: 10));
        var random = new Random(1123);
        var quarantine = Path.Combine(site.Settings.StagingDirectory, Reconciler.QuarantineDirectoryName);
        // Quarantined files are named <camera dir>_<run id>_<n>.ts, the run id being when that ffmpeg started (Unix ms).
        int QuarantinedOf(string camera, long fromMs = 0, long toMs = long.MaxValue) => Directory.Exists(quarantine)
            ? Directory.EnumerateFiles(quarantine, SegmentLayout.CameraDirectory(camera) + "_*")
                .Select(f => long.Parse(Path.GetFileName(f).Split('_')[1]))
                .Count(run => run >= fromMs && run <= toMs) : 0;
        var seen = new HashSet<long>();

        for (int round = 1; round <= 20; round++)
        {
            long roundStartMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            using var agent = EdgeProcess.Start(line => { if (line.Contains("fail", StringComparison.OrdinalIgnoreCase)) output.WriteLine($"[{round}] {line}"); },
                "run", "--config", site.ConfigPath);
            var listed = await EdgeProcess.WaitForNewSegmentsAsync(site.ConfigPath, seen, 2, agent, $"round {round}");
            Assert.Superset(seen, listed.Select(s => s.Id).ToHashSet()); // nothing indexed before a kill went missing
            seen.UnionWith(listed.Select(s => s.Id));
            await Task.Delay(random.Next(0, 1000)); // segments are 1 s long: this lands anywhere in a seal
            // A power cut (or systemd's KillMode=control-group) stops the agent and its ffmpeg children at once.
            foreach (var staging in Directory.GetDirectories(site.Settings.StagingDirectory)) StaleFfmpegGuard.KillSurvivor(staging);
            agent.Kill();
            await agent.WaitForExitAsync();
            long killMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

            // Only ciphertext on the persistent volume, whatever the moment of the kill.
            foreach (var file in Directory.EnumerateFiles(site.Settings.Volumes[0], "*", SearchOption.AllDirectories))
                Assert.True(file.EndsWith(".sealed") || file.EndsWith(".sealed.partial") || Path.GetFileName(file) == VolumeMarker.FileName,
                    $"round {round}: unexpected file on the volume: {file}");

            // Start the agent and stop it cleanly: it seals what ffmpeg finished (journaled, or closed before its line was
            // journaled) and quarantines only the file ffmpeg was writing: at most the segment in flight is lost per camera.
            // What the crash lost is what the restarted agent found unfinished in staging and had to quarantine: at most
            // the segment each camera was writing. (ffmpeg dies a moment before the agent here, so the dying agent often
            // quarantines that file itself; those are counted by the window below only for the log.)
            var report = await StartAndStopAsync(site, round);
            Assert.False(report.FoundInconsistency, $"round {round}: {report}");
            // The message names every quarantined file (<camera>_<run id ms>_<n>) and the round's window, so a failure
            // says whose file was lost: the killed agent's runs, or an earlier clean stop's.
            Assert.True(report.QuarantinedStaged <= site.Settings.Cameras.Count,
                $"round {round} (started {roundStartMs}, killed {killMs}): {report}; quarantine holds " +
                string.Join(", ", Directory.Exists(quarantine) ? Directory.EnumerateFiles(quarantine).Select(Path.GetFileName).Order() : []));
            foreach (var camera in site.Settings.Cameras)
                output.WriteLine($"round {round} {camera.Id}: {QuarantinedOf(camera.Id, roundStartMs, killMs)} file(s) of the killed agent's runs quarantined, " +
                                 $"{report.RecoveredFromJournal} journaled and {report.RecoveredUnjournaled} closed but unjournaled segment(s) sealed at restart (both cameras)");
            using (var index = IndexOpener.Open(site.Settings, createKeyIfMissing: false))
            {
                foreach (var s in index.AllSegments())
                {
                    Assert.True(File.Exists(s.FullPath), $"round {round}: segment {s.Id} has no file at {s.FullPath}");
                    using var stream = File.OpenRead(s.FullPath);
                    Assert.Equal(s.StoredSha256, Convert.ToHexStringLower(SHA256.HashData(stream)));
                }
            }
        }
        using var final = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        Assert.Superset(seen, final.AllSegments().Select(s => s.Id).ToHashSet());
        // A stop right after a start can leave a segment of a frame or two, which ffprobe reports without a duration.
        foreach (var s in final.AllSegments().Where(s => s.DurationSeconds >= 0.5).Take(5))
            Assert.True((await Media.ProbeAsync(site.OpenSegment(s))).Plays, $"segment {s.Id} should open and play");
    }

    [Fact]
    public async Task Agent_frozen_while_ffmpeg_closes_a_segment_then_killed_loses_only_the_segment_in_flight()
    {
        // The window the random kills above hit once in CI: ffmpeg has printed segment N's line and opened N+1, and the
        // agent dies before its recorder journals N. Freezing the agent (SIGSTOP) holds that window open for certain.
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1", segmentSeconds: 1));
        var staging = Path.Combine(site.Settings.StagingDirectory, SegmentLayout.CameraDirectory("cam1"));
        using var agent = EdgeProcess.Start(line => output.WriteLine($"[agent] {line}"), "run", "--config", site.ConfigPath);
        var before = (await EdgeProcess.WaitForNewSegmentsAsync(site.ConfigPath, new HashSet<long>(), 2, agent, "before the freeze"))
            .Select(s => s.Id).ToHashSet();

        Edge.Tests.Doors.Signal.Kill(agent, SigStop);
        await TestSite.WaitUntilAsync(() => IsStopped(agent.Id), TimeSpan.FromSeconds(5), "the agent to be stopped");
        var stagedAtFreeze = StagedSegments(staging);
        await TestSite.WaitUntilAsync(() => StagedSegments(staging).Except(stagedAtFreeze).Any(), TimeSpan.FromSeconds(10),
            "ffmpeg to close the segment it was writing and open the next while the agent is frozen");
        StaleFfmpegGuard.KillSurvivor(staging);
        agent.Kill(); // SIGKILL ends a stopped process too
        await agent.WaitForExitAsync();

        var report = await StartAndStopAsync(site, round: 1);
        Assert.False(report.FoundInconsistency, report.ToString());
        Assert.True(report.QuarantinedStaged == 1, $"only the file ffmpeg was writing is lost: {report}");
        Assert.True(report.RecoveredUnjournaled >= 1, $"the segment ffmpeg closed while the agent was frozen is sealed: {report}");
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        var segments = index.QuerySegments("cam1");
        Assert.Superset(before, segments.Select(s => s.Id).ToHashSet());
        foreach (var s in segments.Where(s => !before.Contains(s.Id)).Where(s => s.DurationSeconds >= 0.5))
            Assert.True((await Media.ProbeAsync(site.OpenSegment(s))).Plays, $"segment {s.Id} should open and play");
    }

    private const int SigStop = 19;

    private static bool IsStopped(int pid) => File.ReadAllText($"/proc/{pid}/stat").Split(')')[^1].Trim().StartsWith('T');

    private static HashSet<string> StagedSegments(string staging) => Directory.EnumerateFiles(staging).Where(Reconciler.IsSegmentFile).ToHashSet();

    /// <summary>Runs the agent until its reconcile is done (status answers), then SIGTERMs it; returns that reconcile's report.</summary>
    private async Task<ReconcileReport> StartAndStopAsync(TestSite site, int round)
    {
        using var agent = EdgeProcess.Start(null, "run", "--config", site.ConfigPath);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                Assert.True(DateTime.UtcNow < deadline, $"round {round}: the restarted agent did not answer within 60 s");
                var status = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(30), "status", "--config", site.ConfigPath, "--json");
                if (status.ExitCode == 0 && JsonDocument.Parse(status.Stdout).RootElement.GetProperty("agentRunning").GetBoolean())
                    return JsonSerializer.Deserialize<ReconcileReport>(JsonDocument.Parse(status.Stdout).RootElement.GetProperty("lastReconcile").GetString()!)!;
                await Task.Delay(200);
            }
        }
        finally
        {
            Edge.Tests.Doors.Signal.Kill(agent, Edge.Tests.Doors.Signal.Term);
            await agent.WaitForExitAsync();
        }
    }
}
