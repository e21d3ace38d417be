using System.Device.Gpio;
using System.Text.Json.Nodes;
using Edge.Agent.Doors;
using Edge.Agent.Index;
using Edge.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Edge.Tests.Doors;

public class DoorCheckpoint_Tests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_index_log_is_checkpointed_after_door_events_only_once_no_door_change_is_being_debounced()
    {
        await using var site = new TestSite(output, (config, root) =>
        {
            config["doors"] = new JsonArray(
                new JsonObject { ["id"] = "quick", ["contactPin"] = 17, ["contactClosedLevel"] = "low", ["cameras"] = new JsonArray("cam1") },
                new JsonObject { ["id"] = "slow", ["contactPin"] = 22, ["contactClosedLevel"] = "low", ["cameras"] = new JsonArray("cam1"), ["debounce"] = "00:00:01" });
            File.WriteAllText(Path.Combine(root, "closed.json"), """{ "initial": { "17": "low", "22": "low" }, "steps": [] }""");
            config["gpio"] = new JsonObject { ["driver"] = "simulated", ["scenarioFile"] = "closed.json" };
        }, TestSite.TestPatternCamera("cam1", segmentSeconds: 10));
        await site.StartAsync();
        var index = site.Index!;
        var doors = site.Host.GetRequiredService<DoorService>();
        // Over the service's threshold (500 pages), well under LiteDB's own (1000).
        while (index.LogPages < 550)
            index.Audit(new AuditRecord { AtUtc = DateTime.UtcNow, Action = "filler", User = "test", Detail = new string('x', 20_000) });
        Assert.InRange(index.LogPages, 550, 800);
        var epoch = index.LogEpoch;
        var recorded = new List<string>();
        doors.EventRecorded += (e, _) => { lock (recorded) recorded.Add(e.Door!); };

        doors.SimulatedDriver!.SetInputLevel(22, PinValue.High); // "slow" is now being debounced for 1 s
        doors.SimulatedDriver!.SetInputLevel(17, PinValue.High);
        await TestSite.WaitUntilAsync(() => { lock (recorded) return recorded.Contains("quick"); }, TimeSpan.FromSeconds(5), "the quick door's event");
        await Task.Delay(300);
        Assert.Equal(epoch, index.LogEpoch); // not while "slow" is still debouncing

        await TestSite.WaitUntilAsync(() => { lock (recorded) return recorded.Contains("slow"); }, TimeSpan.FromSeconds(5), "the slow door's event");
        await TestSite.WaitUntilAsync(() => index.LogEpoch > epoch, TimeSpan.FromSeconds(5), "a checkpoint once both doors are settled");
        Assert.True(index.LogPages < 100, $"the log still holds {index.LogPages} pages after the checkpoint");
    }
}
