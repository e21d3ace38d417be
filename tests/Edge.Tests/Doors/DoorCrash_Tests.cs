using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Edge.Agent.Cli;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Doors;

public class DoorCrash_Tests(ITestOutputHelper output)
{
    private const string DoorOpensAt3s = """
        { "initial": { "17": "low" }, "bounce": { "transitions": 5, "within": "00:00:00.010" },
          "steps": [ { "at": "00:00:03", "pin": 17, "level": "high" } ] }
        """;

    // After the restart the pin is where the first run left it (open), and the door then closes.
    private const string DoorOpenThenClosesAt2s = """
        { "initial": { "17": "high" }, "bounce": { "transitions": 5, "within": "00:00:00.010" },
          "steps": [ { "at": "00:00:02", "pin": 17, "level": "low" } ] }
        """;

    [Theory]
    [InlineData(0)]    // killed as the pin changes: the event may not have reached the index
    [InlineData(60)]   // killed within the debounce time
    [InlineData(400)]  // killed after the event was very probably recorded
    public async Task Agent_killed_right_after_a_pin_change_neither_loses_nor_doubles_the_door_event(int killAfterChangeMs)
    {
        await using var site = new TestSite(output, (config, root) =>
        {
            File.WriteAllText(Path.Combine(root, "before.json"), DoorOpensAt3s);
            File.WriteAllText(Path.Combine(root, "after.json"), DoorOpenThenClosesAt2s);
            config["doors"] = new JsonArray(new JsonObject
            {
                ["id"] = "server-room", ["contactPin"] = 17, ["contactClosedLevel"] = "low", ["cameras"] = new JsonArray("cam1"),
            });
            config["gpio"] = new JsonObject { ["driver"] = "simulated", ["scenarioFile"] = "before.json" };
        }, TestSite.TestPatternCamera("cam1"));

        var gpioStarted = new TaskCompletionSource<DateTime>();
        using (var first = EdgeProcess.Start(line =>
               {
                   output.WriteLine("[first] " + line);
                   if (line.Contains("GPIO: ")) gpioStarted.TrySetResult(DateTime.UtcNow);
               }, "run", "--config", site.ConfigPath))
        {
            var started = await gpioStarted.Task.WaitAsync(TimeSpan.FromSeconds(60));
            var killAt = started + TimeSpan.FromSeconds(3) + TimeSpan.FromMilliseconds(killAfterChangeMs);
            if (killAt > DateTime.UtcNow) await Task.Delay(killAt - DateTime.UtcNow);
            first.Kill(); // SIGKILL
            await first.WaitForExitAsync();
        }
        KillOrphanFfmpeg(site);

        File.WriteAllText(site.ConfigPath, File.ReadAllText(site.ConfigPath).Replace("before.json", "after.json"));
        using (var second = EdgeProcess.Start(line => output.WriteLine("[second] " + line), "run", "--config", site.ConfigPath))
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (OpeningsOf(await ListEventsAsync(site)) is var seen && (seen.Count == 0 || seen.Any(e => e.End is null)))
            {
                Assert.True(DateTime.UtcNow < deadline, "the door event was not closed within 60 s of the restart");
                await Task.Delay(300);
            }
            second.Kill(Signal.Term);
            await second.WaitForExitAsync();
        }

        var openings = OpeningsOf(await ListEventsAsync(site));
        var opening = Assert.Single(openings);
        Assert.NotNull(opening.End);
        Assert.Contains(opening.Kind, new[] { "entry", "door_opened" });
    }

    private static List<EventsCommand.EventJson> OpeningsOf(List<EventsCommand.EventJson> events) =>
        events.Where(e => e.Door == "server-room" && e.Kind is "entry" or "exit" or "door_opened").ToList();

    private async Task<List<EventsCommand.EventJson>> ListEventsAsync(TestSite site)
    {
        var result = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(30), "events", "list", "--config", site.ConfigPath, "--json");
        if (result.ExitCode != 0) output.WriteLine($"[events list] exit {result.ExitCode}: {result.Stderr}");
        return result.ExitCode == 0 ? JsonSerializer.Deserialize<List<EventsCommand.EventJson>>(result.Stdout, CliJson.Options)! : [];
    }

    private static void KillOrphanFfmpeg(TestSite site)
    {
        foreach (var staging in Directory.GetDirectories(site.Settings.StagingDirectory))
            Edge.Hardware.Cameras.StaleFfmpegGuard.KillSurvivor(staging);
    }
}

internal static class Signal
{
    public const int Term = 15;

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>SIGTERM: the clean stop systemd sends.</summary>
    public static void Kill(this Process process, int signal) => kill(process.Id, signal);
}
