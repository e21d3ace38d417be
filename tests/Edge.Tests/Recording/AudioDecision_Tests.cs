// The recorder decides about audio before ffmpeg starts, from a probe that reads only the camera's session
// description (so the first segment is not held up by seconds of media analysis): audio the segments can hold is
// copied, a camera without audio is recorded video only. Real RTSP server, real ffprobe and ffmpeg.
using System.Diagnostics;
using Edge.Agent.Index;
using Edge.Hardware.Cameras;
using Edge.Tests.Fixtures;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Recording;

public class AudioDecision_Tests(ITestOutputHelper output)
{
    private static CancellationToken Limit(int seconds = 90) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    [Fact]
    public async Task The_quick_audio_probe_names_the_audio_codec_of_a_camera_with_audio_and_none_for_one_without()
    {
        await using var withAudio = await RtspCameraServer.StartAsync(TestClip.Small360WithAudio, "cam1", Limit());
        await using var silent = await RtspCameraServer.StartAsync(TestClip.Small360, "cam2", Limit());

        var audio = await CameraProbe.ProbeAudioCodecAsync(new RtspSource(withAudio.Url, RtspTransport.Udp), Limit(30));
        var none = await CameraProbe.ProbeAudioCodecAsync(new RtspSource(silent.Url, RtspTransport.Udp), Limit(30));

        Assert.Equal("aac", audio);
        Assert.Null(none);
    }

    [Fact]
    public async Task A_camera_with_aac_audio_is_recorded_with_its_audio_copied_into_the_segments()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Small360WithAudio, "cam1", Limit());
        await using var site = new TestSite(output, TestSite.RtspCamera("cam1", camera.Url, segmentSeconds: 2));
        await site.StartAsync();
        await TestSite.WaitUntilAsync(() => site.Index!.QuerySegments("cam1").Count >= 2, TimeSpan.FromSeconds(60), "two segments");

        var segment = site.Index!.QuerySegments("cam1")[1];
        var probe = await MediaProbe.ProbeFileAsync(site.OpenSegment(segment), Limit(30));

        Assert.Equal("h264", probe.Video?.CodecName);
        Assert.Equal("aac", probe.Audio?.CodecName);
    }

    [Fact]
    public async Task A_camera_the_quick_probe_cannot_reach_is_named_in_the_error_without_its_password()
    {
        int closedPort;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
        var source = new RtspSource(new Uri($"rtsp://admin:s3cret@127.0.0.1:{closedPort}/stream1"), RtspTransport.Tcp);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => CameraProbe.ProbeAudioCodecAsync(source, Limit(30)));

        Assert.StartsWith($"rtsp 127.0.0.1:{closedPort}/stream1 over tcp: ffprobe exited with", error.Message);
        Assert.DoesNotContain("s3cret", error.Message);
    }

    [Fact]
    public async Task Probes_started_with_the_agent_are_handed_once_to_each_probed_cameras_first_run()
    {
        await using var withAudio = await RtspCameraServer.StartAsync(TestClip.Small360WithAudio, "cam1", Limit());
        await using var silent = await RtspCameraServer.StartAsync(TestClip.Small360, "cam2", Limit());
        var tenSeconds = TimeSpan.FromSeconds(10);
        CameraSpec[] cameras =
        [
            new("cam1", new RtspSource(withAudio.Url, RtspTransport.Udp), tenSeconds),
            new("cam2", new RtspSource(silent.Url, RtspTransport.Udp), tenSeconds),
            new("cam3", new RtspSource(withAudio.Url, RtspTransport.Udp), tenSeconds, RecordAudio: false),
            new("cam4", new TestPatternSource("640x360", 15, 500), tenSeconds),
        ];

        using var headStart = AudioProbeHeadStart.Start(cameras, "ffprobe", TimeSpan.FromSeconds(30));

        Assert.Equal("aac", await headStart.Take("cam1")!);
        Assert.Null(headStart.Take("cam1")); // a restart probes afresh: the camera may have changed
        Assert.Null(await headStart.Take("cam2")!);
        Assert.Null(headStart.Take("cam3")); // audio not recorded: nothing to probe
        Assert.Null(headStart.Take("cam4")); // a test pattern has no audio
    }

    [Fact]
    public async Task Edge_run_copies_the_audio_of_a_camera_with_aac()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Small360WithAudio, "cam1", Limit());
        await using var site = new TestSite(output, TestSite.RtspCamera("cam1", camera.Url, segmentSeconds: 2));
        using (var agent = EdgeProcess.Start(line => output.WriteLine(line), "run", "--config", site.ConfigPath))
        {
            await EdgeProcess.WaitForNewSegmentsAsync(site.ConfigPath, new HashSet<long>(), 2, agent, "edge run");
            using (var kill = Process.Start("kill", ["-TERM", agent.Id.ToString()])) await kill.WaitForExitAsync();
            await agent.WaitForExitAsync(Limit(60));
        }

        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        var segment = index.QuerySegments("cam1")[1];
        var probe = await MediaProbe.ProbeFileAsync(site.OpenSegment(segment), Limit(30));
        Assert.Equal("h264", probe.Video?.CodecName);
        Assert.Equal("aac", probe.Audio?.CodecName);
    }
}
