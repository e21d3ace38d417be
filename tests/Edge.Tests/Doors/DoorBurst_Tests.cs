using System.Device.Gpio;
using System.Text.Json.Nodes;
using Edge.Agent.Doors;
using Edge.Agent.Index;
using Edge.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Edge.Tests.Doors;

public class DoorBurst_Tests(ITestOutputHelper output)
{
    private static readonly int[] Pins = [17, 22, 23, 24];

    [Fact]
    public async Task Four_doors_changing_at_once_are_each_announced_with_their_event_audit_record_and_flag_already_in_the_index()
    {
        await using var site = new TestSite(output, (config, root) =>
        {
            config["doors"] = new JsonArray(Pins.Select((pin, i) => (JsonNode)new JsonObject
            {
                ["id"] = $"door{i + 1}", ["contactPin"] = pin, ["contactClosedLevel"] = "low", ["cameras"] = new JsonArray("cam1"),
            }).ToArray());
            File.WriteAllText(Path.Combine(root, "closed.json"), """{ "initial": { "17": "low", "22": "low", "23": "low", "24": "low" }, "steps": [] }""");
            config["gpio"] = new JsonObject { ["driver"] = "simulated", ["scenarioFile"] = "closed.json" };
        }, TestSite.TestPatternCamera("cam1", segmentSeconds: 1));
        await site.StartAsync();
        var index = site.Index!;
        var doors = site.Host.GetRequiredService<DoorService>();
        var problems = new List<string>();
        var announced = new List<(EventRecord Event, FlagRecord? Flag)>();
        doors.EventRecorded += (e, flag) =>
        {
            // What anything acting on the announcement (sync, flags, a UI) would find in the index at that moment.
            var stored = index.GetEvent(e.Id);
            // (LiteDB keeps times to the millisecond.)
            if (stored is null || stored.EndUtc is null != e.EndUtc is null || (e.EndUtc - stored.EndUtc)?.Duration() >= TimeSpan.FromMilliseconds(1))
                problems.Add($"event {e.Id} ({e.Door}) not in the index as announced");
            var action = e.EndUtc is null ? "door_event" : "door_event_end";
            if (!index.QueryAudit().Any(a => a.Action == action && a.Detail.StartsWith($"event {e.Id} ", StringComparison.Ordinal)))
                problems.Add($"no {action} audit record for event {e.Id} ({e.Door})");
            if (e.EndUtc is not null && (flag is null || !index.AllFlags().Any(f => f.Id == flag.Id && f.EventIds.Contains(e.Id))))
                problems.Add($"no flag naming event {e.Id} ({e.Door})");
            lock (announced) announced.Add((e, flag));
        };

        foreach (var pin in Pins) doors.SimulatedDriver!.SetInputLevel(pin, PinValue.High); // all open within microseconds
        await TestSite.WaitUntilAsync(() => { lock (announced) return announced.Count == 4; }, TimeSpan.FromSeconds(10), "four openings");
        foreach (var pin in Pins) doors.SimulatedDriver!.SetInputLevel(pin, PinValue.Low);
        await TestSite.WaitUntilAsync(() => { lock (announced) return announced.Count == 8; }, TimeSpan.FromSeconds(10), "four closes");

        Assert.Empty(problems);
        Assert.Equal(["door1", "door2", "door3", "door4"], announced.Where(a => a.Event.EndUtc is not null).Select(a => a.Event.Door).Order());
        var flag = Assert.Single(index.AllFlags()); // the four windows overlap on the same camera: one flag
        Assert.Equal(announced.Where(a => a.Event.EndUtc is not null).Select(a => a.Event.Id).Order(), flag.EventIds.Order());
        Assert.True(index.VerifyAudit().Ok);
    }
}
