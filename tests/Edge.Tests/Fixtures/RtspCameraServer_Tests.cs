// Runs real rtsp-server-perl and ffmpeg processes: the fixture must serve a
// stream that ffmpeg can read, go away and come back like a real camera, and
// leave nothing behind.
using System.Diagnostics;

namespace Edge.Tests.Fixtures;

public class RtspCameraServer_Tests
{
    private static CancellationToken Limit(int seconds = 90) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    [Fact]
    public async Task Served_1080p_clip_reads_as_h264_1920x1080_over_udp()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Hd1080, ct: Limit());

        var probe = await MediaProbe.ProbeRtspAsync(camera.Url, Limit());

        Assert.Equal(new Uri($"rtsp://127.0.0.1:{camera.ClientPort}/cam1"), camera.Url);
        Assert.NotNull(probe.Video);
        Assert.Equal("h264", probe.Video.CodecName);
        Assert.Equal(1920, probe.Video.Width);
        Assert.Equal(1080, probe.Video.Height);
    }

    [Fact]
    public async Task Pull_of_1080p_over_several_key_frames_loses_no_rtp_packets()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Hd1080, ct: Limit());

        // 7 s spans 3-4 key frames, each a burst of ~250 UDP packets.
        var pull = await ProcessRunner.RunAsync("ffmpeg",
            ["-hide_banner", "-nostdin", "-loglevel", "warning", .. MediaProbe.RtspPullOptions, "-i", camera.Url.ToString(), "-t", "7", "-c", "copy", "-f", "null", "-"],
            TimeSpan.FromSeconds(60), Limit());

        Assert.True(pull.Succeeded, $"ffmpeg pull from {camera.Url} failed: {pull.StandardError}");
        Assert.DoesNotContain("missed", pull.StandardError, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Stopped_camera_refuses_new_pulls()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Small360, ct: Limit());

        await camera.StopAsync();

        Assert.False(camera.IsRunning);
        await Assert.ThrowsAsync<MediaProbeException>(() => MediaProbe.ProbeRtspAsync(camera.Url, Limit()));
    }

    [Fact]
    public async Task Restarted_camera_serves_again_on_the_same_url()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Small360, "door-2", Limit());
        var url = camera.Url;
        await camera.StopAsync();
        await Assert.ThrowsAsync<MediaProbeException>(() => MediaProbe.ProbeRtspAsync(url, Limit()));

        await camera.RestartAsync(Limit());

        Assert.Equal(url, camera.Url);
        Assert.True(camera.IsRunning);
        var probe = await MediaProbe.ProbeRtspAsync(url, Limit());
        Assert.Equal("h264", probe.Video?.CodecName);
        Assert.Equal(640, probe.Video?.Width);
    }

    [Fact]
    public async Task Open_client_session_ends_when_the_camera_stops()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Small360, ct: Limit());
        await using var puller = TetheredProcess.Start("ffmpeg puller", "ffmpeg",
            ["-hide_banner", "-nostdin", "-loglevel", "error", .. MediaProbe.RtspPullOptions, "-timeout", "5000000",
             "-i", camera.Url.ToString(), "-c", "copy", "-f", "null", "-"]);
        await WaitForOutputOrExitAsync(puller, TimeSpan.FromSeconds(2));
        Assert.False(puller.HasExited, $"The puller should still be reading {camera.Url}. {puller.Describe()}");

        await camera.StopAsync();

        // The server's death closes the RTSP connection, which ffmpeg notices.
        await puller.WaitForExitAsync(Limit(30));
    }

    [Fact]
    public async Task Stopped_feed_leaves_the_stream_announced_without_pictures_until_restart()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Small360, ct: Limit());

        await camera.StopFeedAsync();

        var stalled = await Assert.ThrowsAsync<MediaProbeException>(() => MediaProbe.ProbeRtspAsync(camera.Url, Limit()));
        Assert.Contains("no picture arrived", stalled.Message);
        await camera.RestartAsync(Limit());
        var probe = await MediaProbe.ProbeRtspAsync(camera.Url, Limit());
        Assert.Equal(640, probe.Video?.Width);
    }

    [Fact]
    public async Task Open_client_session_stalls_without_being_cut_when_the_feed_stops()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Small360, ct: Limit());
        // No -timeout: ffmpeg would otherwise give up on the silence itself.
        await using var puller = TetheredProcess.Start("ffmpeg puller", "ffmpeg",
            ["-hide_banner", "-nostdin", "-loglevel", "error", .. MediaProbe.RtspPullOptions,
             "-i", camera.Url.ToString(), "-c", "copy", "-f", "null", "-"]);
        await WaitForOutputOrExitAsync(puller, TimeSpan.FromSeconds(2));

        await camera.StopFeedAsync();
        await WaitForOutputOrExitAsync(puller, TimeSpan.FromSeconds(4));

        Assert.False(puller.HasExited, $"The puller should hang on, connected and starved. {puller.Describe()}");
    }

    [Fact]
    public async Task Two_cameras_run_side_by_side_on_ports_of_their_own()
    {
        var started = await Task.WhenAll(
            RtspCameraServer.StartAsync(TestClip.Small360, "cam1", Limit()),
            RtspCameraServer.StartAsync(TestClip.Small360WithAudio, "cam1", Limit()));
        await using var first = started[0];
        await using var second = started[1];

        Assert.NotEqual(first.ClientPort, second.ClientPort);
        Assert.NotEqual(first.RtpStartPort, second.RtpStartPort);
        Assert.Null((await MediaProbe.ProbeRtspAsync(first.Url, Limit())).Audio);
        Assert.NotNull((await MediaProbe.ProbeRtspAsync(second.Url, Limit())).Audio);
    }

    [Fact]
    public async Task Audio_clip_is_served_as_h264_and_aac()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Small360WithAudio, ct: Limit());

        var probe = await MediaProbe.ProbeRtspAsync(camera.Url, Limit());

        Assert.Equal("h264", probe.Video?.CodecName);
        Assert.Equal("aac", probe.Audio?.CodecName);
        Assert.Equal(48000, probe.Audio?.SampleRate);
    }

    [Fact]
    public async Task Disposed_camera_leaves_no_process_behind()
    {
        var camera = await RtspCameraServer.StartAsync(TestClip.Small360, ct: Limit());
        var serverMarker = $"--clientport\0{camera.ClientPort}\0";
        var feederMarker = camera.PublishUrl.ToString();
        Assert.NotEmpty(ProcessTable.Containing(serverMarker));
        Assert.NotEmpty(ProcessTable.Containing(feederMarker));

        await camera.DisposeAsync();

        Assert.Empty(ProcessTable.Containing(serverMarker));
        Assert.Empty(ProcessTable.Containing(feederMarker));
    }

    [Fact]
    public async Task Stream_name_that_is_not_a_plain_path_segment_is_refused()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => RtspCameraServer.StartAsync(TestClip.Small360, "a/b"));
        Assert.Contains("a/b", e.Message);
    }

    private static async Task WaitForOutputOrExitAsync(TetheredProcess process, TimeSpan settle)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < settle && !process.HasExited)
            await Task.Delay(100);
    }
}
