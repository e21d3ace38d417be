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
}
