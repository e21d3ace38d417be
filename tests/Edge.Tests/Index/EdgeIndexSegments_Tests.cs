using Edge.Agent.Index;

namespace Edge.Tests.Index;

public sealed class EdgeIndexSegments_Tests : IDisposable
{
    private readonly IndexScratch _scratch = new();

    [Fact]
    public void A_segment_record_rebuilt_and_updated_after_a_volume_failed_stays_findable_by_camera()
    {
        var start = new DateTime(2026, 11, 23, 5, 50, 32, 750, DateTimeKind.Utc);
        using var index = EdgeIndex.Open(_scratch.IndexDirectory, _scratch.KeyPath);
        var id = index.AddSegment(new SegmentRecord { Camera = "cam1", StartUtc = start, EndUtc = start.AddSeconds(1), Volume = "/usb", RelativePath = "a.sealed" });

        // What RecordingService does when the first volume fails after indexing: a fresh record with the same id.
        index.UpdateSegment(new SegmentRecord { Id = id, Camera = "cam1", StartUtc = start, EndUtc = start.AddSeconds(1), Volume = "/sd", RelativePath = "a.sealed" });

        var found = Assert.Single(index.QuerySegments("cam1"));
        Assert.Equal("/sd", found.Volume);
        Assert.Equal(id, index.LastSegment("cam1")?.Id);
    }

    public void Dispose() => _scratch.Dispose();
}
