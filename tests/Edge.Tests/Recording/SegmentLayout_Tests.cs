using Edge.Agent.Recording;

namespace Edge.Tests.Recording;

public class SegmentLayout_Tests
{
    [Fact]
    public void A_sealed_segments_name_carries_its_start_duration_and_clock_trust_back_to_reconcile()
    {
        var start = new DateTimeOffset(2026, 11, 23, 1, 15, 2, 123, TimeSpan.Zero);

        var relative = SegmentLayout.RelativePath("door-inside", start, 9.96, clockTrusted: false, ".ts");
        var parsed = SegmentLayout.Parse(Path.GetFileName(relative));

        Assert.NotNull(parsed);
        Assert.Equal(start.UtcDateTime, parsed.StartUtc);
        Assert.Equal(9.96, parsed.DurationSeconds, 3);
        Assert.False(parsed.ClockTrusted);
        Assert.Equal(".ts", parsed.Extension);
    }

    [Fact]
    public void Paths_on_a_volume_do_not_reveal_camera_ids()
    {
        var relative = SegmentLayout.RelativePath("server-room-door", DateTimeOffset.UnixEpoch, 10, true, ".ts");

        Assert.DoesNotContain("server-room-door", relative);
        Assert.StartsWith(SegmentLayout.CameraDirectory("server-room-door"), relative);
        Assert.NotEqual(SegmentLayout.CameraDirectory("a"), SegmentLayout.CameraDirectory("b"));
    }

    [Theory]
    [InlineData("notes.txt")]
    [InlineData("20261123T011502.123Z_10000ms_T.ts.partial")]
    [InlineData("20261123T011502Z_10000ms_T.ts")]
    public void Files_that_are_not_sealed_segments_are_not_parsed_as_one(string name) =>
        Assert.Null(SegmentLayout.Parse(name));
}
