using Edge.Agent.Index;
using Edge.Agent.Recording;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Recording;

public class FfmpegCrash_Tests(ITestOutputHelper output)
{
    [Fact]
    public async Task Ffmpeg_killed_mid_segment_leaves_no_record_of_the_torn_file_and_keeps_everything_finished_before()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1", segmentSeconds: 2));
        await site.StartAsync();
        var recorder = site.Recording.Recorders["cam1"];
        await TestSite.WaitUntilAsync(() => site.Index!.QuerySegments("cam1").Count >= 3, TimeSpan.FromSeconds(40), "three segments");

        // Kill one second into a segment, so ffmpeg is in the middle of writing it.
        int before = site.Index!.QuerySegments("cam1").Count;
        await TestSite.WaitUntilAsync(() => site.Index.QuerySegments("cam1").Count > before, TimeSpan.FromSeconds(10), "a fresh segment boundary");
        await Task.Delay(1000);
        var beforeKill = site.Index.QuerySegments("cam1").Select(s => s.Id).ToHashSet();
        int pid = recorder.FfmpegProcessId ?? throw new InvalidOperationException("no ffmpeg running");
        System.Diagnostics.Process.GetProcessById(pid).Kill();

        // Resumed means the restarted ffmpeg's first segment is indexed. A segment count alone is not enough: under
        // load, segments finished before the kill may still be waiting to be sealed and would satisfy it.
        await TestSite.WaitUntilAsync(() => site.Index.QueryEvents().Any(e => e.Kind == EventKinds.CameraOnline), TimeSpan.FromSeconds(40), "the camera to come back online");
        int atOnline = site.Index.QuerySegments("cam1").Count;
        await TestSite.WaitUntilAsync(() => site.Index.QuerySegments("cam1").Count > atOnline, TimeSpan.FromSeconds(20), "a segment of the restarted ffmpeg");
        await site.StopAsync();

        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        var segments = index.QuerySegments("cam1");
        Assert.Superset(beforeKill, segments.Select(s => s.Id).ToHashSet());
        foreach (var s in segments)
            Assert.True(await Media.DecodesCleanlyAsync(site.OpenSegment(s)), $"segment {s.Id} at {s.FullPath} should decode without errors");

        var quarantined = Directory.GetFiles(Path.Combine(site.Settings.StagingDirectory, Reconciler.QuarantineDirectoryName));
        Assert.NotEmpty(quarantined);
        Assert.DoesNotContain(segments, s => quarantined.Any(q => Path.GetFileName(q).EndsWith(Path.GetFileName(s.RelativePath))));

        var events = index.QueryEvents();
        var offline = Assert.Single(events, e => e.Kind == EventKinds.CameraOffline);
        Assert.Contains("ffmpeg exited", offline.Detail);
        Assert.NotNull(offline.EndUtc);
        Assert.Single(events, e => e.Kind == EventKinds.CameraOnline);
    }
}
