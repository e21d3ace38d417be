using Edge.Agent.Cli;
using Edge.Agent.Index;
using Edge.Tests.Fixtures;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Recording;

public class RtspRecording_Tests(ITestOutputHelper output)
{
    private const double FrameInterval = 1.0 / 25;

    [Fact]
    public async Task A_camera_recorded_from_a_real_RTSP_stream_for_30_seconds_gives_contiguous_playable_segments()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Small360, "recording");
        await using var site = new TestSite(output, TestSite.RtspCamera("door", camera.Url, segmentSeconds: 5));
        await site.StartAsync();
        await TestSite.WaitUntilAsync(() => site.Index!.QuerySegments("door").Count >= 1, TimeSpan.FromSeconds(30), "the first segment");
        await Task.Delay(TimeSpan.FromSeconds(31));
        await site.StopAsync();

        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        var segments = index.QuerySegments("door");
        double recorded = (segments[^1].EndUtc - segments[0].StartUtc).TotalSeconds;
        Assert.True(recorded >= 30, $"recorded {recorded:0.0} s, expected at least 30 s");

        var facts = new List<MediaFacts>();
        foreach (var s in segments)
        {
            var f = await Media.ProbeAsync(site.OpenSegment(s));
            Assert.True(f.Plays, $"segment {s.Id} should play");
            Assert.Equal("h264", f.VideoCodec); // stream copy: the camera's codec, not a re-encode
            facts.Add(f);
        }
        for (int i = 1; i < segments.Count; i++)
        {
            double indexGap = (segments[i].StartUtc - segments[i - 1].EndUtc).TotalSeconds;
            Assert.True(Math.Abs(indexGap) <= FrameInterval + 0.5, $"index gap of {indexGap:0.000} s before segment {segments[i].Id}");
            double mediaGap = facts[i].StartSeconds - (facts[i - 1].StartSeconds + facts[i - 1].DurationSeconds);
            Assert.True(Math.Abs(mediaGap) <= FrameInterval + 0.5, $"media gap of {mediaGap:0.000} s before segment {segments[i].Id}");
        }
        double probedSum = facts.Sum(f => f.DurationSeconds);
        Assert.InRange(probedSum, recorded * 0.98, recorded * 1.02);
        Assert.InRange(segments.Sum(s => s.DurationSeconds), recorded * 0.98, recorded * 1.02);
    }

    [Fact]
    public async Task Recording_resumes_after_the_RTSP_server_returns_with_an_offline_online_pair_and_a_visible_gap()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Small360, "outage");
        await using var site = new TestSite(output, TestSite.RtspCamera("door", camera.Url, segmentSeconds: 2));
        await site.StartAsync();
        var index = site.Index!;
        await TestSite.WaitUntilAsync(() => index.QuerySegments("door").Count >= 2, TimeSpan.FromSeconds(30), "two segments before the outage");

        await camera.StopAsync();
        await TestSite.WaitUntilAsync(() => index.QueryEvents(kind: EventKinds.CameraOffline).Count == 1, TimeSpan.FromSeconds(40), "camera_offline");
        await Task.Delay(TimeSpan.FromSeconds(5)); // let the recorder fail a few restarts against a dead server
        int beforeReturn = index.QuerySegments("door").Count;

        await camera.RestartAsync();
        var returnedAt = DateTime.UtcNow;
        await TestSite.WaitUntilAsync(() => index.QuerySegments("door").Count > beforeReturn, TimeSpan.FromSeconds(30), "a segment after the stream's return");
        var firstAfter = index.QuerySegments("door")[beforeReturn];
        Assert.True((firstAfter.StartUtc - returnedAt).TotalSeconds <= 15,
            $"recording resumed {(firstAfter.StartUtc - returnedAt).TotalSeconds:0.0} s after the stream returned");

        var offline = Assert.Single(index.QueryEvents(kind: EventKinds.CameraOffline));
        var online = Assert.Single(index.QueryEvents(kind: EventKinds.CameraOnline));
        Assert.NotNull(offline.EndUtc);
        Assert.True(online.StartUtc >= offline.StartUtc);

        var listing = new StringWriter();
        int code = await EdgeCli.InvokeAsync(["segments", "list", "--config", site.ConfigPath, "--camera", "door"],
            new CommandContext(listing, TextWriter.Null, TimeProvider.System, index));
        Assert.Equal(0, code);
        output.WriteLine(listing.ToString());
        Assert.Contains("-- gap of", listing.ToString());
    }
}
