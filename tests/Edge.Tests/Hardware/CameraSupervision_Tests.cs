using Edge.Hardware.Cameras;
using Microsoft.Extensions.Time.Testing;

namespace Edge.Tests.Hardware;

public class CameraSupervision_Tests
{
    [Fact]
    public void Restart_backoff_doubles_from_one_second_to_a_ceiling_of_sixty_and_resets()
    {
        var backoff = new RestartBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));

        var delays = Enumerable.Range(0, 8).Select(_ => backoff.Next().TotalSeconds).ToArray();
        backoff.Reset();

        Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60], delays);
        Assert.Equal(1, backoff.Next().TotalSeconds);
    }

    [Fact]
    public void Stderr_is_rate_limited_per_minute_and_the_next_admitted_line_reports_what_was_suppressed()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var limiter = new StderrRateLimiter(time, linesPerMinute: 3);

        var firstMinute = Enumerable.Range(0, 10).Select(_ => limiter.Admit()).ToArray();
        time.Advance(TimeSpan.FromMinutes(1));
        var next = limiter.Admit();

        Assert.Equal(3, firstMinute.Count(d => d == StderrRateLimiter.Decision.Log));
        Assert.Equal(7, firstMinute.Count(d => d == StderrRateLimiter.Decision.Suppress));
        Assert.Equal(StderrRateLimiter.Decision.LogWithSuppressedCount, next);
        Assert.Equal(7, limiter.TakeSuppressed());
    }

    private static CameraSpec Camera(CameraSource source) => new("cam", source, TimeSpan.FromSeconds(10));

    [Fact]
    public void An_rtsp_camera_is_stream_copied_with_a_socket_timeout_and_its_segment_list_on_stdout()
    {
        var args = FfmpegRecordingCommand.Build(Camera(new RtspSource(new Uri("rtsp://10.0.0.5/s1"), RtspTransport.Tcp)), "/run/s/1_%06d.ts", "aac");

        Assert.Contains("-rtsp_transport tcp", args);
        Assert.Contains("-timeout 10000000", args);
        Assert.Contains("-c:v copy", args);
        Assert.Contains("-copyinkf", args); // frames before the first key frame are kept, so the index matches the file
        Assert.Contains("-c:a copy", args);
        Assert.DoesNotContain("libx264", args);
        Assert.Contains("-segment_format mpegts", args);
        Assert.Contains("-segment_list pipe:1 -segment_list_type csv", args);
        Assert.Contains("-segment_time 10", args);
    }

    [Fact]
    public void Audio_the_container_cannot_hold_is_dropped_not_transcoded()
    {
        var args = FfmpegRecordingCommand.Build(Camera(new RtspSource(new Uri("rtsp://10.0.0.5/s1"), RtspTransport.Udp)), "/run/s/1_%06d.ts", "pcm_mulaw");

        Assert.DoesNotContain("0:a", args);
        Assert.DoesNotContain("-c:a", args);
        Assert.Contains("-rtsp_transport udp", args);
    }

    [Fact]
    public void A_usb_mjpeg_camera_is_passed_through_into_matroska()
    {
        var args = FfmpegRecordingCommand.Build(Camera(new V4l2Source("/dev/video0", V4l2InputFormat.Mjpeg, "1280x720", 15)), "/run/s/1_%06d.mkv", null);

        Assert.Contains("-f v4l2", args);
        Assert.Contains("-input_format mjpeg", args);
        Assert.Contains("-c:v copy", args);
        Assert.Contains("-segment_format matroska", args);
    }
}
