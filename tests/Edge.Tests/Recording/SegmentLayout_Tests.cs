using Edge.Agent.Recording;

namespace Edge.Tests.Recording;

public class SegmentLayout_Tests
{
    [Fact]
    public void Paths_on_a_volume_do_not_reveal_camera_ids()
    {
        var relative = SegmentLayout.RelativePath("server-room-door", DateTimeOffset.UnixEpoch, 10, true, ".sealed");

        Assert.DoesNotContain("server-room-door", relative);
        Assert.StartsWith(SegmentLayout.CameraDirectory("server-room-door"), relative);
        Assert.NotEqual(SegmentLayout.CameraDirectory("a"), SegmentLayout.CameraDirectory("b"));
    }

    [Fact]
    public void A_segments_name_places_it_in_time_for_a_person_reading_the_volume()
    {
        var start = new DateTimeOffset(2026, 11, 23, 1, 15, 2, 123, TimeSpan.Zero);

        var relative = SegmentLayout.RelativePath("door", start, 9.96, clockTrusted: false, ".sealed");

        Assert.EndsWith(Path.Combine("2026-11-23", "20261123T011502.123Z_9960ms_U.sealed"), relative);
    }
}
