using System.Text.Json.Nodes;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Doors;

public class DoorConfig_Tests(ITestOutputHelper output)
{
    public static TheoryData<string, string> BadDoors => new()
    {
        { "pin used twice", "doors[1].contactPin: pin 17 is already used by doors[0].contactPin" },
        { "unknown camera", "doors[0].cameras[1]: camera \"hallway\" is not defined" },
        { "negative debounce", "doors[0].debounce: expected a duration from 00:00:00" },
    };

    [Theory]
    [MemberData(nameof(BadDoors))]
    public async Task Edge_run_with_a_bad_door_exits_non_zero_naming_the_key(string how, string expected)
    {
        await using var site = new TestSite(output, (config, _) =>
        {
            var door = new JsonObject { ["id"] = "server-room", ["contactPin"] = 17, ["contactClosedLevel"] = "low", ["cameras"] = new JsonArray("cam1") };
            var doors = new JsonArray(door, new JsonObject { ["id"] = "back", ["contactPin"] = 22, ["contactClosedLevel"] = "low" });
            switch (how)
            {
                case "pin used twice": doors[1]!["contactPin"] = 17; break;
                case "unknown camera": door["cameras"] = new JsonArray("cam1", "hallway"); break;
                case "negative debounce": door["debounce"] = "-00:00:00.050"; break;
            }
            config["doors"] = doors;
            config["gpio"] = new JsonObject { ["driver"] = "simulated" };
        }, TestSite.TestPatternCamera("cam1"));

        var result = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(60), "run", "--config", site.ConfigPath);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.Stderr);
    }
}

public class AgentStartFailure_Tests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_door_on_a_machine_without_libgpiod_stops_edge_run_with_one_line_that_says_what_to_do()
    {
        await using var site = new TestSite(output, (config, _) =>
        {
            config["doors"] = new JsonArray(new JsonObject { ["id"] = "server-room", ["contactPin"] = 17, ["contactClosedLevel"] = "low" });
            config["gpio"] = new JsonObject { ["driver"] = "libgpiod" }; // this machine has no GPIO chip
        }, TestSite.TestPatternCamera("cam1"));

        var result = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(60), "run", "--config", site.ConfigPath);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("edge: the agent could not start:", result.Stderr);
        Assert.Contains("simulated", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr); // no stack trace
    }
}
