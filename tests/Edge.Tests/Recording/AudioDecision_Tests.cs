// The recorder decides about audio before ffmpeg starts, from a probe that reads only the camera's session
// description (so the first segment is not held up by seconds of media analysis): audio the segments can hold is
// copied, a camera without audio is recorded video only. Real RTSP server, real ffprobe and ffmpeg.
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
}
