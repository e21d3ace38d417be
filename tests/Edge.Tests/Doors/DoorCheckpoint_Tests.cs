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
    public async Task The_index_log_is_checkpointed_between_door_signals_once_it_holds_500_pages()
    {
        await using var site = new TestSite(output, (config, root) =>
        {
            config["doors"] = new JsonArray(new JsonObject { ["id"] = "server-room", ["contactPin"] = 17, ["contactClosedLevel"] = "low", ["cameras"] = new JsonArray("cam1") });
            File.WriteAllText(Path.Combine(root, "closed.json"), """{ "initial": { "17": "low" }, "steps": [] }""");
            config["gpio"] = new JsonObject { ["driver"] = "simulated", ["scenarioFile"] = "closed.json" };
        }, TestSite.TestPatternCamera("cam1", segmentSeconds: 10));
        await site.StartAsync();
        var index = site.Index!;
        var doors = site.Host.GetRequiredService<DoorService>();
        var recorded = 0;
        doors.EventRecorded += (_, _) => Interlocked.Increment(ref recorded);
        // Under the service's threshold (500 pages): a door event leaves the log alone.
        while (index.LogPages < 300)
            index.Audit(new AuditRecord { AtUtc = DateTime.UtcNow, Action = "filler", User = "test", Detail = new string('x', 20_000) });
        var epoch = index.LogEpoch;
        doors.SimulatedDriver!.SetInputLevel(17, PinValue.High);
        await TestSite.WaitUntilAsync(() => Volatile.Read(ref recorded) == 1, TimeSpan.FromSeconds(5), "the opening");
        await Task.Delay(300);
        Assert.Equal(epoch, index.LogEpoch);

        // Over it (well under LiteDB's own 1000): the next door event is followed by a checkpoint.
        while (index.LogPages < 550)
            index.Audit(new AuditRecord { AtUtc = DateTime.UtcNow, Action = "filler", User = "test", Detail = new string('x', 20_000) });
        Assert.InRange(index.LogPages, 550, 800);
        Assert.Equal(epoch, index.LogEpoch);
        doors.SimulatedDriver!.SetInputLevel(17, PinValue.Low);
        await TestSite.WaitUntilAsync(() => Volatile.Read(ref recorded) == 2, TimeSpan.FromSeconds(5), "the close");
        await TestSite.WaitUntilAsync(() => index.LogEpoch > epoch, TimeSpan.FromSeconds(5), "a checkpoint after the close");
        Assert.True(index.LogPages < 100, $"the log still holds {index.LogPages} pages after the checkpoint");
    }
}
