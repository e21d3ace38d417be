// Scenario files for the simulated driver: parsing (bounce expansion, presses, read failures),
// error messages that name the JSON path, playback on FakeTimeProvider, and the equivalence of a
// scenario file with the same scenario driven from code.

using System.Device.Gpio;
using Edge.Hardware.Gpio;
using Microsoft.Extensions.Time.Testing;

namespace Edge.Tests.Hardware;

public class GpioScenario_Tests
{
    private static string ScenarioPath(string name)
    {
        // Tests run from bin/…; the example scenarios live in the source tree.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "Edge.Hardware", "Gpio", "Scenarios", name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"Example scenario {name} not found above {AppContext.BaseDirectory}.");
    }

    [Fact]
    public void Scenario_file_played_through_the_driver_gives_the_same_events_as_the_code_driven_scenario()
    {
        using var codeDriven = new DoorRig(DoorRig.Door());
        DoorMonitor_Tests.RunEntryThenExit(codeDriven);

        var scenario = GpioScenario.Load(ScenarioPath("entry-then-exit.json"));
        using var fileDriven = new DoorRig(DoorRig.Door(), beforeStart: d => d.SetInputLevel(DoorRig.ContactPin, PinValue.High), startMonitor: false);
        using var player = new GpioScenarioPlayer(fileDriven.Driver, scenario, fileDriven.Time);
        player.Start(); // initial levels first (closes the door the rig left open), then the monitor
        fileDriven.Monitor.Start();
        fileDriven.At(40);

        Assert.True(player.Completion.IsCompleted);
        Assert.Equal(DoorMonitor_Tests.EntryThenExitLines, fileDriven.Lines);
        Assert.Equal(codeDriven.Lines, fileDriven.Lines);
    }

    [Fact]
    public void Bounce_expands_to_alternating_transitions_that_settle_on_the_new_level_at_the_step_time()
    {
        var scenario = GpioScenario.Parse("""
            { "initial": { "17": "low" },
              "steps": [ { "at": "00:00:05", "pin": 17, "level": "high", "bounce": { "transitions": 5, "within": "00:00:00.010" } } ] }
            """);

        Assert.Equal(
        [
            (4990, PinValue.High), (4992, PinValue.Low), (4995, PinValue.High), (4997, PinValue.Low), (5000, PinValue.High),
        ], scenario.Changes.Select(c => ((int)c.At.TotalMilliseconds, c.Level)));
    }

    [Fact]
    public void Press_expands_to_a_press_and_a_release_and_a_step_to_the_same_level_does_not_bounce()
    {
        var scenario = GpioScenario.Parse("""
            { "initial": { "27": "high", "17": "low" },
              "bounce": { "transitions": 3, "within": "00:00:00.004" },
              "steps": [
                { "at": "00:00:01", "press": 27, "for": "00:00:00.300" },
                { "at": "00:00:02", "pin": 17, "level": "low" } ] }
            """);

        Assert.Equal(
        [
            (996, 27, PinValue.Low), (998, 27, PinValue.High), (1000, 27, PinValue.Low),
            (1296, 27, PinValue.High), (1298, 27, PinValue.Low), (1300, 27, PinValue.High),
            (2000, 17, PinValue.Low),
        ], scenario.Changes.Select(c => ((int)c.At.TotalMilliseconds, c.Pin, c.Level)));
    }

    [Fact]
    public void Read_failure_step_makes_reads_fail_for_its_duration()
    {
        var scenario = GpioScenario.Parse("""{ "steps": [ { "at": "00:00:03", "failReads": 17, "for": "00:00:02" } ] }""");
        var driver = new SimulatedGpioDriver();
        using var controller = new GpioController(driver);
        controller.OpenPin(17, PinMode.InputPullUp);
        var time = new FakeTimeProvider();
        using var player = new GpioScenarioPlayer(driver, scenario, time);
        player.Start();

        time.StepBy(TimeSpan.FromSeconds(3));
        Assert.Throws<IOException>(() => controller.Read(17));
        time.StepBy(TimeSpan.FromSeconds(2));
        Assert.Equal(PinValue.High, controller.Read(17));
    }

    [Fact]
    public void Player_applies_each_change_at_its_time_on_the_injected_clock_and_raises_callbacks()
    {
        var scenario = GpioScenario.Parse("""
            { "initial": { "17": "low" },
              "steps": [ { "at": "00:00:05", "pin": 17, "level": "high" }, { "at": "00:00:07.250", "pin": 17, "level": "low" } ] }
            """);
        var driver = new SimulatedGpioDriver();
        using var controller = new GpioController(driver);
        controller.OpenPin(17, PinMode.InputPullUp);
        var time = new FakeTimeProvider();
        var start = time.GetUtcNow();
        var seen = new List<(double, PinEventTypes)>();
        controller.RegisterCallbackForPinValueChangedEvent(17, PinEventTypes.Rising | PinEventTypes.Falling,
            (_, e) => seen.Add(((time.GetUtcNow() - start).TotalSeconds, e.ChangeType)));
        using var player = new GpioScenarioPlayer(driver, scenario, time);

        player.Start();
        time.StepBy(TimeSpan.FromSeconds(4.999));
        Assert.Equal([(0.0, PinEventTypes.Falling)], seen);
        time.StepBy(TimeSpan.FromSeconds(10));

        Assert.Equal([(0.0, PinEventTypes.Falling), (5.0, PinEventTypes.Rising), (7.25, PinEventTypes.Falling)], seen);
        Assert.True(player.Completion.IsCompleted);
    }

    [Fact]
    public void Looping_scenario_replays_every_length()
    {
        var scenario = GpioScenario.Parse("""
            { "initial": { "17": "low" }, "loop": true, "length": "00:00:10",
              "steps": [ { "at": "00:00:01", "pin": 17, "level": "high" }, { "at": "00:00:02", "pin": 17, "level": "low" } ] }
            """);
        var driver = new SimulatedGpioDriver();
        var time = new FakeTimeProvider();
        using var player = new GpioScenarioPlayer(driver, scenario, time);
        player.Start();

        time.StepBy(TimeSpan.FromSeconds(21.5));

        Assert.Equal(5, player.Applied); // 1 s, 2 s, 11 s, 12 s, 21 s
        Assert.Equal(PinValue.High, driver.GetLevel(17));
        Assert.False(player.Completion.IsCompleted);
    }

    [Fact]
    public void Demo_scenario_gives_entry_exit_held_open_chatter_and_read_fault_as_its_description_says()
    {
        var scenario = GpioScenario.Load(ScenarioPath("demo-loop.json"));
        using var rig = new DoorRig(DoorRig.Door(), startMonitor: false);
        using var player = new GpioScenarioPlayer(rig.Driver, scenario, rig.Time);
        player.Start();
        rig.Monitor.Start();

        rig.At(180); // one pass

        const string NoPress = "no exit button press within 10 s before opening";
        var expected = new List<string>
        {
            "state-at-start Closed Released +0.000",
            $"start #1 Entry +10.000 \"{NoPress}\"",
            "end #1 Entry +14.000 \"door closed\"",
            "start #2 Exit +32.000 \"exit button pressed 2 s before opening\"",
            "end #2 Exit +35.000 \"door closed\"",
            $"start #3 Entry +45.000 \"{NoPress} (last press 15 s before)\"",
            "start #4 HeldOpen +105.000 \"door open longer than 60 s\" of #3",
            "end #3 Entry +120.000 \"door closed\"",
            "end #4 HeldOpen +120.000 \"door closed\"",
        };
        for (var i = 0; i < 5; i++)
        {
            var open = 130 + (0.14 * i);
            expected.Add($"start #{5 + i} Entry +{open:0.000} \"{NoPress} (last press {open - 30:0.##} s before)\"");
            expected.Add($"end #{5 + i} Entry +{open + 0.07:0.000} \"door closed\"");
        }

        expected.AddRange(
        [
            "start #10 InputFault +130.000 \"contact input (BCM 17) chattering: 11 changes within 1 s after debounce (limit 10 per second)\"",
            "end #10 InputFault +130.910 \"input unchanged for 1 s after its last change\"",
            "start #11 InputFault +151.000 \"contact input (BCM 17) could not be read: IOException: Simulated GPIO pin 17: read failure from scenario step 21.\"",
            "end #11 InputFault +156.000 \"input readable again\"",
        ]);
        Assert.Equal(expected, rig.Lines);
        Assert.True(scenario.Loop);
        Assert.Equal(TimeSpan.FromMinutes(3), scenario.Length);
    }

    [Theory]
    [InlineData("""{ "steps": [ { "at": "00:00:01", "pin": 17, "level": "open" } ] }""",
        "steps[0].level: expected \"low\" or \"high\" (the electrical level); found \"open\"")]
    [InlineData("""{ "steps": [ { "at": "00:00:01", "pin": 17, "levle": "low" } ] }""",
        "steps[0]: expected only the properties at, pin, level, press, for, pressedLevel, failReads, bounce, note; found unknown property \"levle\"")]
    [InlineData("""{ "steps": [ { "at": "00:00:05", "pin": 17, "level": "low" }, { "at": "00:00:03", "pin": 17, "level": "high" } ] }""",
        "steps[1].at: expected a time at or after the previous step (00:00:05); list steps in time order; found 00:00:03")]
    [InlineData("""{ "steps": [ { "at": "5", "pin": 17, "level": "low" } ] }""",
        "steps[0].at: expected a time as \"hh:mm:ss\" or \"hh:mm:ss.fff\"; found \"5\"")]
    [InlineData("""{ "bounce": { "transitions": 4, "within": "00:00:00.010" }, "steps": [] }""",
        "bounce.transitions: expected an odd whole number from 1 (the level has to end at the new level); found 4")]
    [InlineData("""{ "bounce": { "transitions": 5, "within": "00:00:00.010" }, "steps": [ { "at": "00:00:00.005", "pin": 17, "level": "high" } ] }""",
        "steps[0]: expected bounce that starts at or after the scenario start")]
    [InlineData("""{ "bounce": { "transitions": 5, "within": "00:00:00.010" }, "steps": [ { "at": "00:00:01", "press": 27, "for": "00:00:00.005" } ] }""",
        "steps[0] (release): expected changes of pin 27 after its previous change at 00:00:01 (steps[0])")]
    [InlineData("""{ "loop": true, "steps": [ { "at": "00:00:01", "pin": 17, "level": "high" } ] }""",
        "length: expected the duration of one pass (after the last change at 00:00:01) when \"loop\" is true; found nothing")]
    [InlineData("""{ "steps": [ { "at": "00:00:01", "pin": 17, "press": 27, "for": "00:00:01" } ] }""",
        "steps[0]: expected exactly one of \"pin\" (with \"level\"), \"press\" (with \"for\") or \"failReads\"; found \"pin\" and \"press\"")]
    [InlineData("""{ "steps": [ }""", "not valid JSON")]
    public void Invalid_scenario_is_refused_with_the_file_and_json_path_named(string json, string expected)
    {
        var error = Assert.Throws<GpioScenarioException>(() => GpioScenario.Parse(json, "site.json"));

        Assert.StartsWith("GPIO scenario site.json: ", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Missing_scenario_file_is_refused_with_its_path_and_the_setting_to_check()
    {
        var path = Path.Combine(Path.GetTempPath(), $"no-such-scenario-{Guid.NewGuid():N}.json");

        var error = Assert.Throws<GpioScenarioException>(() => GpioScenario.Load(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("Gpio.Scenario", error.Message);
    }
}
