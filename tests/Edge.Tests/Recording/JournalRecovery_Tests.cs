using System.Diagnostics;
using Edge.Agent.Index;
using Edge.Agent.Recording;
using Edge.Hardware.Cameras;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Recording;

public class JournalRecovery_Tests(ITestOutputHelper output)
{
    private static async Task<string> StageSegmentAsync(TestSite site, string name)
    {
        var staging = Path.Combine(site.Settings.StagingDirectory, SegmentLayout.CameraDirectory("cam1"));
        Directory.CreateDirectory(staging);
        var path = Path.Combine(staging, name);
        var ffmpeg = Process.Start(new ProcessStartInfo("ffmpeg", $"-v error -f lavfi -i testsrc2=size=320x240:rate=15 -t 2 -c:v libx264 -preset ultrafast -f mpegts {path}"))!;
        await ffmpeg.WaitForExitAsync();
        Assert.Equal(0, ffmpeg.ExitCode);
        return path;
    }

    private static SegmentFinished Announced(string staged, DateTimeOffset start) =>
        new("cam1", staged, 10, 12, start, start.AddSeconds(2), ClockTrusted: true);

    [Fact]
    public async Task A_segment_ffmpeg_finished_but_the_last_agent_never_sealed_is_sealed_at_the_next_start()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        var staged = await StageSegmentAsync(site, "1700000000000_000004.ts");
        var start = new DateTimeOffset(2026, 11, 23, 1, 0, 0, TimeSpan.Zero);
        int lines = 0;
        SegmentJournal.Append(SegmentJournal.PathFor(Path.GetDirectoryName(staged)!, "1700000000000"), Announced(staged, start), ref lines);

        await site.StartAsync();
        var recovered = site.Index!.QuerySegments("cam1").Single(s => s.StartUtc == start.UtcDateTime);
        await site.StopAsync();

        Assert.Equal(2, recovered.DurationSeconds, 3);
        Assert.True(recovered.Sealed);
        Assert.False(File.Exists(staged));
        Assert.True((await Media.ProbeAsync(site.OpenSegment(recovered))).Plays);
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        Assert.Contains("1 journaled segment(s) sealed", index.GetSetting("lastReconcile") is { } r ? System.Text.Json.JsonSerializer.Deserialize<ReconcileReport>(r)!.ToString() : "");
    }

    [Fact]
    public async Task A_journaled_segment_that_was_already_indexed_is_not_sealed_twice()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        var staged = await StageSegmentAsync(site, "1700000000000_000007.ts");
        var start = new DateTimeOffset(2026, 11, 23, 2, 0, 0, TimeSpan.Zero);
        int lines = 0;
        SegmentJournal.Append(SegmentJournal.PathFor(Path.GetDirectoryName(staged)!, "1700000000000"), Announced(staged, start), ref lines);
        using (var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true))
            index.AddSegment(new SegmentRecord
            {
                Camera = "cam1", StartUtc = start.UtcDateTime, EndUtc = start.AddSeconds(2).UtcDateTime, DurationSeconds = 2,
                Volume = site.Settings.Volumes[0], RelativePath = SegmentLayout.RelativePath("cam1", start, 2, true, ".sealed"),
            });

        await site.StartAsync();
        await site.StopAsync();

        using var reopened = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        Assert.Single(reopened.AllSegments(), s => s.StartUtc == start.UtcDateTime);
        Assert.False(File.Exists(staged));
    }

    /// <summary>Stages a segment cut off mid-write: the first half of a real one, as ffmpeg leaves the file it was writing.</summary>
    private static async Task<string> StageTornSegmentAsync(TestSite site, string name)
    {
        var path = await StageSegmentAsync(site, name);
        var bytes = await File.ReadAllBytesAsync(path);
        await File.WriteAllBytesAsync(path, bytes[..(bytes.Length / 2)]);
        return path;
    }

    private static ReconcileReport LastReconcile(TestSite site)
    {
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        return System.Text.Json.JsonSerializer.Deserialize<ReconcileReport>(index.GetSetting("lastReconcile")!)!;
    }

    private static string[] QuarantinedOfRun(TestSite site, string run) =>
        Directory.GetFiles(Path.Combine(site.Settings.StagingDirectory, Reconciler.QuarantineDirectoryName), $"*_{run}_*").Select(Path.GetFileName).ToArray()!;

    [Fact]
    public async Task A_segment_ffmpeg_closed_but_the_killed_agent_never_journaled_is_sealed_and_only_the_file_in_flight_is_quarantined()
    {
        // Staging as a kill leaves it after ffmpeg printed segment 5's line (and opened 6) but before the recorder
        // journaled it: the journal lists up to 4 (sealed, so its staged file is gone), 5 is complete, 6 is torn.
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        const string run = "1700000000000";
        var closed = await StageSegmentAsync(site, $"{run}_000005.ts");
        var inFlight = await StageTornSegmentAsync(site, $"{run}_000006.ts");
        var staging = Path.GetDirectoryName(closed)!;
        var journaledEnd = new DateTimeOffset(2026, 11, 23, 3, 0, 10, TimeSpan.Zero);
        int lines = 0;
        SegmentJournal.Append(SegmentJournal.PathFor(staging, run),
            new SegmentFinished("cam1", Path.Combine(staging, $"{run}_000004.ts"), 8, 10, journaledEnd.AddSeconds(-2), journaledEnd, ClockTrusted: true), ref lines);
        double mediaSeconds = (await Media.ProbeAsync(closed)).DurationSeconds;

        await site.StartAsync();
        var recovered = site.Index!.QuerySegments("cam1").Single(s => s.StartUtc == journaledEnd.UtcDateTime);
        await site.StopAsync();

        Assert.Equal(mediaSeconds, recovered.DurationSeconds, 3);
        Assert.Equal(journaledEnd.AddSeconds(mediaSeconds).UtcDateTime, recovered.EndUtc, TimeSpan.FromMilliseconds(1));
        Assert.True(recovered.ClockTrusted); // as the run's journal says
        Assert.True(recovered.Sealed);
        Assert.False(File.Exists(closed));
        Assert.True((await Media.ProbeAsync(site.OpenSegment(recovered))).Plays);
        Assert.Equal([Path.GetFileName(staging) + "_" + Path.GetFileName(inFlight)], QuarantinedOfRun(site, run));
        var report = LastReconcile(site);
        Assert.Equal(1, report.RecoveredUnjournaled);
        Assert.Equal(1, report.QuarantinedStaged);
        Assert.False(report.FoundInconsistency);
    }

    [Fact]
    public async Task A_closed_segment_of_a_run_with_no_journal_line_starts_at_the_run_id_and_its_clock_is_not_trusted()
    {
        // Killed before the recorder journaled the run's first segment: nothing but the run id says when the run began.
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        const string run = "1700000000000";
        var closed = await StageSegmentAsync(site, $"{run}_000000.ts");
        await StageTornSegmentAsync(site, $"{run}_000001.ts");
        var runStart = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(run));

        await site.StartAsync();
        var recovered = site.Index!.QuerySegments("cam1").Single(s => s.StartUtc == runStart.UtcDateTime);
        await site.StopAsync();

        Assert.False(recovered.ClockTrusted);
        Assert.EndsWith("_U.sealed", recovered.RelativePath);
        Assert.True((await Media.ProbeAsync(site.OpenSegment(recovered))).Plays);
        Assert.False(File.Exists(closed));
        Assert.Single(QuarantinedOfRun(site, run));
    }
}
