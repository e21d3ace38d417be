// The clips stand in for camera output, so they must look like it; and the
// cache must hand every caller a complete clip generated only once.
namespace Edge.Tests.Fixtures;

public class TestMedia_Tests
{
    private static CancellationToken Limit() => new CancellationTokenSource(TimeSpan.FromMinutes(3)).Token;

    [Theory]
    [InlineData(TestClip.Hd1080)]
    [InlineData(TestClip.Small360)]
    [InlineData(TestClip.Small360WithAudio)]
    public async Task Clip_is_camera_like_h264_as_described(TestClip clip)
    {
        var expected = TestMedia.Describe(clip);
        var path = await TestMedia.GetClipAsync(clip, Limit());

        var probe = await MediaProbe.ProbeFileAsync(path, Limit());

        var video = probe.Video;
        Assert.NotNull(video);
        Assert.Equal("h264", video.CodecName);
        Assert.Equal(expected.Width, video.Width);
        Assert.Equal(expected.Height, video.Height);
        Assert.Equal("yuv420p", video.PixelFormat);
        Assert.Equal(0, video.HasBFrames);
        Assert.Equal(expected.FramesPerSecond, video.FramesPerSecond);
        Assert.Equal(expected.Duration.TotalSeconds, probe.Duration!.Value.TotalSeconds, precision: 1);
        Assert.Equal(expected.HasAudio, probe.Audio is not null);
    }

    [Theory]
    [InlineData(TestClip.Hd1080)]
    [InlineData(TestClip.Small360)]
    public async Task Clip_has_a_key_frame_exactly_every_two_seconds(TestClip clip)
    {
        var path = await TestMedia.GetClipAsync(clip, Limit());

        var keyFrames = await MediaProbe.KeyFrameTimesAsync(path, Limit());

        var duration = TestMedia.Describe(clip).Duration;
        var expected = Enumerable.Range(0, (int)(duration.TotalSeconds / 2)).Select(i => TimeSpan.FromSeconds(2 * i));
        Assert.Equal(expected, keyFrames);
    }

    [Fact]
    public async Task Hd1080_clip_has_a_camera_like_bit_rate_of_about_4_mbit_per_second()
    {
        var path = await TestMedia.GetClipAsync(TestClip.Hd1080, Limit());

        var bitsPerSecond = new FileInfo(path).Length * 8 / TestMedia.Describe(TestClip.Hd1080).Duration.TotalSeconds;

        Assert.InRange(bitsPerSecond, 3_000_000, 5_000_000);
    }

    [Fact]
    public async Task Clip_requested_by_two_processes_at_once_is_generated_once()
    {
        var cache = Directory.CreateTempSubdirectory("edge-test-media-");
        try
        {
            var environment = new Dictionary<string, string> { ["EDGE_TEST_MEDIA_DIR"] = cache.FullName };
            var runs = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ =>
                ProcessRunner.RunAsync("bash", [RepoPaths.ScriptLib("test-clip"), "small360"], TimeSpan.FromMinutes(3), Limit(), environment)));

            Assert.All(runs, run => Assert.True(run.Succeeded, run.StandardError));
            var path = runs[0].StandardOutput.Trim();
            Assert.Equal(runs[0].StandardOutput, runs[1].StandardOutput);
            Assert.Equal(cache.FullName, Path.GetDirectoryName(path));
            Assert.Single(runs, run => run.StandardError.Contains("generating"));
            Assert.True(File.Exists(path));
            // Nothing half-written left next to it.
            Assert.Equal([Path.GetFileName(path)], cache.GetFiles("*.mp4*").Select(f => f.Name));
        }
        finally
        {
            cache.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Unknown_clip_name_is_refused_with_the_known_names()
    {
        var run = await ProcessRunner.RunAsync("bash", [RepoPaths.ScriptLib("test-clip"), "4k"], TimeSpan.FromSeconds(30), Limit());

        Assert.False(run.Succeeded);
        Assert.Contains("unknown clip '4k'", run.StandardError);
        Assert.Contains("hd1080", run.StandardError);
    }
}
