using System.Text.Json;
using Edge.Agent.Index;
using Edge.Agent.Sync;
using Edge.Sync.Protocol;
using Edge.Tests.Support;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Edge.Tests.Sync;

public class SyncOutbox_Tests(ITestOutputHelper output)
{
    private static readonly DateTime T0 = new(2026, 11, 23, 1, 0, 0, DateTimeKind.Utc);

    private static EventRecord Door(int i) => new() { Kind = "door_opened", Door = "server-room", Cameras = ["cam1"], StartUtc = T0.AddSeconds(i), DecidedBy = "test" };

    [Fact]
    public async Task Every_event_change_is_queued_with_gapless_ids_and_survives_a_reopen()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        var time = new FakeTimeProvider(T0);
        using (var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true))
        {
            index.EnableOutbox(SyncPayloads.Event, 64 << 20, time);
            var e = Door(0);
            index.AddEvent(e);
            e.EndUtc = T0.AddSeconds(5);
            index.UpdateEvent(e);
            index.AddEvent(Door(10));
        }
        using var reopened = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        reopened.EnableOutbox(SyncPayloads.Event, 64 << 20, time);
        reopened.AddEvent(Door(20));
        reopened.AddEvents([Door(30), Door(31)]);

        var queued = reopened.UnsentOutbox(EdgeIndex.SyncStreamEvents, 100);
        Assert.Equal([1L, 2L, 3L, 4L, 5L, 6L], queued.Select(q => q.Id));
        var messages = queued.Select(q => JsonSerializer.Deserialize<EventMessage>(q.Payload, SyncJson.Options)!).ToList();
        Assert.Equal([1L, 2L, 3L, 4L, 5L, 6L], messages.Select(m => m.Id));
        Assert.Equal(reopened.QueryEvents().TakeLast(2).Select(e => e.Id), messages.TakeLast(2).Select(m => m.Event.Id));
        Assert.Equal(messages[0].Event.Id, messages[1].Event.Id); // opened, then closed: the same event twice
        Assert.Null(messages[0].Event.End);
        Assert.Equal(T0.AddSeconds(5), messages[1].Event.End);
        Assert.Equal(6, reopened.OutboxDepth().Messages);
    }

    [Fact]
    public async Task Marked_sent_messages_are_kept_for_resend_and_a_resend_requeues_from_the_id_asked()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true);
        index.EnableOutbox(SyncPayloads.Event, 64 << 20, new FakeTimeProvider(T0));
        for (int i = 0; i < 5; i++) index.AddEvent(Door(i));

        index.MarkOutboxSent(EdgeIndex.SyncStreamEvents, 1, 5);
        Assert.Empty(index.UnsentOutbox(EdgeIndex.SyncStreamEvents, 100));
        Assert.Null(index.ResendOutbox(EdgeIndex.SyncStreamEvents, 3));
        Assert.Equal([3L, 4L, 5L], index.UnsentOutbox(EdgeIndex.SyncStreamEvents, 100).Select(q => q.Id));
        Assert.Contains("not among them", index.ResendOutbox(EdgeIndex.SyncStreamEvents, 9));
        index.MarkOutboxSent(EdgeIndex.SyncStreamEvents, 4, 5); // a batch that went out before the resend marks nothing
        Assert.Equal([3L, 4L, 5L], index.UnsentOutbox(EdgeIndex.SyncStreamEvents, 100).Select(q => q.Id));
    }

    [Fact]
    public async Task Over_its_bound_the_outbox_drops_the_oldest_sent_messages_and_never_an_unsent_one()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true);
        // About 300 bytes a message: a bound of 3,000 holds about ten.
        index.EnableOutbox(SyncPayloads.Event, 3000, new FakeTimeProvider(T0));
        for (int i = 0; i < 10; i++) index.AddEvent(Door(i));
        index.MarkOutboxSent(EdgeIndex.SyncStreamEvents, 1, 10);
        for (int i = 10; i < 30; i++) index.AddEvent(Door(i));

        var unsent = index.UnsentOutbox(EdgeIndex.SyncStreamEvents, 100);
        Assert.Equal(Enumerable.Range(11, 20).Select(i => (long)i), unsent.Select(q => q.Id)); // all 20 unsent kept
        var depth = index.OutboxDepth();
        Assert.True(depth.OverBound, "unsent metadata alone is over the bound, and health says so");
        Assert.Contains("dropped", index.ResendOutbox(EdgeIndex.SyncStreamEvents, 1)); // the sent ones made room
    }

    [Fact]
    public async Task Segment_manifests_are_batched_by_count_or_by_waiting_time()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true);
        var time = new FakeTimeProvider(T0);
        index.EnableOutbox(SyncPayloads.Event, 64 << 20, time);
        for (int i = 0; i < 5; i++)
            index.AddSegment(new SegmentRecord { Camera = "cam1", StartUtc = T0.AddSeconds(2 * i), EndUtc = T0.AddSeconds(2 * i + 2), StoredSha256 = $"{i:x64}", Volume = "/v", RelativePath = $"s{i}" });

        Assert.False(index.BatchSegmentManifests(SyncPayloads.Segments, 100, TimeSpan.FromSeconds(10), T0));
        Assert.False(index.BatchSegmentManifests(SyncPayloads.Segments, 100, TimeSpan.FromSeconds(10), T0.AddSeconds(9)));
        Assert.True(index.BatchSegmentManifests(SyncPayloads.Segments, 100, TimeSpan.FromSeconds(10), T0.AddSeconds(10)));
        index.AddSegment(new SegmentRecord { Camera = "cam1", StartUtc = T0.AddSeconds(10), EndUtc = T0.AddSeconds(12), Volume = "/v", RelativePath = "s5" });
        index.AddSegment(new SegmentRecord { Camera = "cam1", StartUtc = T0.AddSeconds(12), EndUtc = T0.AddSeconds(14), Volume = "/v", RelativePath = "s6" });
        Assert.True(index.BatchSegmentManifests(SyncPayloads.Segments, 2, TimeSpan.FromSeconds(10), T0.AddSeconds(11))); // full batch: no waiting

        var batches = index.UnsentOutbox(EdgeIndex.SyncStreamSegments, 10).Select(q => JsonSerializer.Deserialize<SegmentsMessage>(q.Payload, SyncJson.Options)!).ToList();
        Assert.Equal([1L, 2L], batches.Select(b => b.Id));
        Assert.Equal(5, batches[0].Segments.Count);
        Assert.Equal(2, batches[1].Segments.Count);
        Assert.Equal(Enumerable.Range(0, 7).Count(), batches.SelectMany(b => b.Segments).Select(s => s.Id).Distinct().Count());
    }

    [Fact]
    public async Task A_flag_holds_its_segments_from_retention_until_the_central_acknowledged_its_clip()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true);
        var old = new SegmentRecord { Camera = "cam1", StartUtc = T0, EndUtc = T0.AddSeconds(10), Volume = site.Settings.Volumes[0], RelativePath = "gone.sealed" };
        old.Id = index.AddSegment(old);
        var flag = new Edge.Agent.Flags.Flagger(index, TimeProvider.System).Flag(["cam1"], T0, T0.AddSeconds(5), "door", null, "test");
        var later = new FakeTimeProvider(T0.AddDays(90));
        var retention = new Edge.Agent.Storage.RetentionService(site.Settings, index, new Edge.Agent.Storage.RecordingRate(later), later,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Edge.Agent.Storage.RetentionService>.Instance);

        retention.RunPass();
        Assert.Equal(SegmentState.Stored, index.GetSegment(old.Id)!.State); // pending: held

        flag.SyncState = FlagSyncStates.Synced;
        index.UpdateFlag(flag);
        retention.RunPass();
        Assert.Equal(SegmentState.Purged, index.GetSegment(old.Id)!.State); // acknowledged: ordinary retention again
    }
}
