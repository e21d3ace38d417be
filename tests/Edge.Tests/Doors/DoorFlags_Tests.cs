using System.Device.Gpio;
using System.Text.Json.Nodes;
using Edge.Agent.Doors;
using Edge.Agent.Flags;
using Edge.Agent.Index;
using Edge.Agent.Storage;
using Edge.Tests.Support;
using Edge.Tests.Sync;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Edge.Tests.Doors;

public class DoorFlags_Tests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_door_events_flag_covers_exactly_the_segments_intersecting_its_window_and_they_survive_retention()
    {
        await using var site = new TestSite(output, (config, root) =>
        {
            // Only the door's idle level comes from a scenario; the test drives the pin itself.
            SyncSupport.AddDoor(config, root, "cam1");
            config["flags"]!["postRoll"] = "00:00:03";
        }, TestSite.TestPatternCamera("cam1", segmentSeconds: 1), TestSite.TestPatternCamera("cam2", segmentSeconds: 1));
        await site.StartAsync();
        var index = site.Index!;
        var pins = site.Host.GetRequiredService<DoorService>().SimulatedDriver!;
        await TestSite.WaitUntilAsync(() => index.QuerySegments("cam1").Count >= 5, TimeSpan.FromSeconds(30), "five segments before the door opens");

        pins.SetInputLevel(17, PinValue.High); // open
        await Task.Delay(1500);
        pins.SetInputLevel(17, PinValue.Low);  // closed
        await TestSite.WaitUntilAsync(() => index.AllFlags().Count == 1, TimeSpan.FromSeconds(10), "the flag");
        var flag = index.AllFlags()[0];
        await TestSite.WaitUntilAsync(() => index.QuerySegments("cam1").Any(s => s.StartUtc > flag.ToUtc.AddSeconds(2)), TimeSpan.FromSeconds(30), "segments after the flag");
        await site.StopAsync();

        using var reopened = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        var entry = Assert.Single(reopened.QueryEvents(kind: "door_opened")); // a door without an exit button
        Assert.Equal(entry.StartUtc.AddSeconds(-2), flag.FromUtc);
        Assert.Equal(entry.EndUtc!.Value.AddSeconds(3), flag.ToUtc);
        Assert.Equal(["cam1"], flag.Cameras);
        Assert.Equal([entry.Id], flag.EventIds);

        var all = reopened.QuerySegments();
        var intersecting = all.Where(s => s.Camera == "cam1" && s.StartUtc < flag.ToUtc && s.EndUtc > flag.FromUtc).Select(s => s.Id).ToHashSet();
        Assert.NotEmpty(intersecting);
        Assert.Equal(intersecting, all.Where(flag.Covers).Select(s => s.Id).ToHashSet());

        // A month later, retention deletes every neighbour and keeps exactly the flagged segments.
        var later = new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(31));
        new RetentionService(site.Settings, reopened, new RecordingRate(later), later, NullLogger<RetentionService>.Instance).RunPass();
        var survivors = reopened.QuerySegments().Select(s => s.Id).ToHashSet();
        Assert.Equal(intersecting, survivors);
        foreach (var id in intersecting)
            Assert.True((await Media.ProbeAsync(site.OpenSegment(reopened.GetSegment(id)!))).Plays);
    }

    /// <summary>The system's clock with a wall-time offset a test can change: a clock step (timers and intervals keep the monotonic clock).</summary>
    private sealed class SteppedClock : TimeProvider
    {
        public TimeSpan Offset { get; set; }
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Offset;
    }

    [Fact]
    public async Task A_wall_clock_stepped_back_while_the_door_is_open_still_gives_the_event_a_flag_over_both_instants_and_the_doors_go_on()
    {
        var clock = new SteppedClock();
        await using var site = new TestSite(output, (config, root) =>
        {
            SyncSupport.AddDoor(config, root, "cam1");
            config["flags"]!["postRoll"] = "00:00:03";
        }, TestSite.TestPatternCamera("cam1", segmentSeconds: 1)) { Time = clock };
        await site.StartAsync();
        var index = site.Index!;
        var pins = site.Host.GetRequiredService<DoorService>().SimulatedDriver!;
        await TestSite.WaitUntilAsync(() => index.QuerySegments("cam1").Count >= 2, TimeSpan.FromSeconds(30), "two segments before the door opens");

        pins.SetInputLevel(17, PinValue.High); // open
        await TestSite.WaitUntilAsync(() => index.QueryEvents(kind: "door_opened").Count == 1, TimeSpan.FromSeconds(10), "the opening");
        clock.Offset = TimeSpan.FromMinutes(-2); // NTP steps the clock back two minutes
        pins.SetInputLevel(17, PinValue.Low);  // closed
        await TestSite.WaitUntilAsync(() => index.AllFlags().Count == 1, TimeSpan.FromSeconds(10), "the flag of the closed door");
        var opened = Assert.Single(index.QueryEvents(kind: "door_opened"));
        Assert.True(opened.EndUtc < opened.StartUtc, "the close was recorded at the stepped-back time");
        var flag = index.AllFlags()[0];
        Assert.Equal((opened.EndUtc!.Value.AddSeconds(-2), opened.StartUtc.AddSeconds(3)), (flag.FromUtc, flag.ToUtc));

        // The door service is still there: the next opening is recorded and flagged too.
        await Task.Delay(500);
        pins.SetInputLevel(17, PinValue.High);
        await Task.Delay(300);
        pins.SetInputLevel(17, PinValue.Low);
        await TestSite.WaitUntilAsync(() => index.QueryEvents(kind: "door_opened").Count == 2 && index.QueryEvents(kind: "door_opened").All(e => e.EndUtc is not null),
            TimeSpan.FromSeconds(10), "the second opening recorded and closed");
    }

    [Fact]
    public async Task Overlapping_flags_on_the_same_cameras_merge_and_others_stay_apart()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"), TestSite.TestPatternCamera("cam2"));
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true);
        var flagger = new Flagger(index, TimeProvider.System);
        var t = new DateTime(2026, 11, 23, 1, 0, 0, DateTimeKind.Utc);

        var a = flagger.Flag(["cam1"], t, t.AddSeconds(40), "door: entry", 1, "test");
        var b = flagger.Flag(["cam1"], t.AddSeconds(30), t.AddSeconds(70), "door: exit", 2, "test");
        var c = flagger.Flag(["cam1", "cam2"], t.AddSeconds(10), t.AddSeconds(20), "hold: police request", null, "test");
        var d = flagger.Flag(["cam1"], t.AddSeconds(100), t.AddSeconds(110), "door: entry", 3, "test");

        var flags = index.AllFlags();
        Assert.Equal(3, flags.Count);
        Assert.Equal(a.Id, b.Id);
        var merged = flags.Single(f => f.Id == a.Id);
        Assert.Equal((t, t.AddSeconds(70)), (merged.FromUtc, merged.ToUtc));
        Assert.Equal([1L, 2L], merged.EventIds);
        Assert.Equal("door: entry; door: exit", merged.Reason);
        Assert.NotEqual(a.Id, c.Id);
        Assert.NotEqual(a.Id, d.Id);
    }
}
