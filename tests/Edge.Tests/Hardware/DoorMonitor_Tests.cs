// Door decisions end to end: SimulatedGpioDriver behind a real GpioController, FakeTimeProvider,
// DoorMonitor. Every real change in these scenarios carries bounce noise (5 transitions within
// 10 ms), so the exact event lists also show that bounce makes no events.

using System.Device.Gpio;
using Edge.Hardware.Gpio;

namespace Edge.Tests.Hardware;

public class DoorMonitor_Tests
{
    private const string NoPress = "no exit button press within 10 s before opening";

    [Fact]
    public void Opening_without_an_exit_button_press_is_an_entry_from_the_settled_open_time_to_the_close_time()
    {
        using var rig = new DoorRig(DoorRig.Door());

        rig.Open(5);
        rig.Close(9);
        rig.At(20);

        Assert.Equal(
        [
            "state-at-start Closed Released +0.000",
            $"start #1 Entry +5.000 \"{NoPress}\"",
            "end #1 Entry +9.000 \"door closed\"",
        ], rig.Lines);
    }

    [Fact]
    public void Opening_within_the_exit_window_after_a_button_press_is_an_exit()
    {
        using var rig = new DoorRig(DoorRig.Door());

        rig.Press(3, 0.3);
        rig.Open(5);
        rig.Close(8);
        rig.At(20);

        Assert.Equal(
        [
            "state-at-start Closed Released +0.000",
            "start #1 Exit +5.000 \"exit button pressed 2 s before opening\"",
            "end #1 Exit +8.000 \"door closed\"",
        ], rig.Lines);
    }

    [Fact]
    public void Entry_then_exit_gives_one_event_each()
    {
        using var rig = new DoorRig(DoorRig.Door());

        RunEntryThenExit(rig);

        Assert.Equal(EntryThenExitLines, rig.Lines);
    }

    [Fact]
    public void Door_open_past_the_limit_gives_held_open_from_opening_plus_limit_until_it_closes()
    {
        using var rig = new DoorRig(DoorRig.Door());

        rig.Open(5);
        rig.At(64.9);
        Assert.DoesNotContain(rig.Lines, l => l.Contains("HeldOpen"));
        rig.Close(100);
        rig.At(110);

        Assert.Equal(
        [
            "state-at-start Closed Released +0.000",
            $"start #1 Entry +5.000 \"{NoPress}\"",
            "start #2 HeldOpen +65.000 \"door open longer than 60 s\" of #1",
            "end #1 Entry +100.000 \"door closed\"",
            "end #2 HeldOpen +100.000 \"door closed\"",
        ], rig.Lines);
    }

    [Fact]
    public void Door_opened_outside_the_schedule_gives_after_hours_until_it_closes()
    {
        var wednesdayEvening = new DateTimeOffset(2025, 6, 11, 20, 0, 0, TimeSpan.FromHours(9));
        using var rig = new DoorRig(DoorRig.Door(), wednesdayEvening);

        rig.Open(5);
        rig.Close(9);
        rig.At(20);

        Assert.Equal(
        [
            "state-at-start Closed Released +0.000",
            $"start #1 Entry +5.000 \"{NoPress}\"",
            "start #2 AfterHours +5.000 \"opened Wed 2025-06-11 20:00:05 (Asia/Tokyo), outside the schedule \"Mon-Fri 08:00-19:00\"\" of #1",
            "end #1 Entry +9.000 \"door closed\"",
            "end #2 AfterHours +9.000 \"door closed\"",
        ], rig.Lines);
    }

    [Fact]
    public void Schedule_is_judged_in_the_site_time_zone()
    {
        // 18:30 in Tokyo is inside Mon-Fri 08:00-19:00, though it is 09:30 UTC.
        var evening = new DateTimeOffset(2025, 6, 11, 9, 30, 0, TimeSpan.Zero);
        using var rig = new DoorRig(DoorRig.Door(), evening);

        rig.Open(5);
        rig.Close(9);
        rig.At(20);

        Assert.DoesNotContain(rig.Lines, l => l.Contains("AfterHours"));
    }

    [Fact]
    public void Chattering_contact_gives_input_fault_from_the_first_change_of_the_window_and_no_door_events_while_it_lasts()
    {
        using var rig = new DoorRig(DoorRig.Door());

        // 12 debounced changes 80 ms apart: open, close, open, ... close.
        for (var i = 0; i < 12; i++)
        {
            rig.Change(DoorRig.ContactPin, i % 2 == 0 ? PinValue.High : PinValue.Low, 5 + (0.08 * i));
        }

        rig.At(20);

        // Changes 1..10 pass as five short entries; the 11th within one second makes the fault,
        // which starts at the first change of that second; the 12th is swallowed by the fault.
        var expected = new List<string> { "state-at-start Closed Released +0.000" };
        for (var pair = 0; pair < 5; pair++)
        {
            var open = 5 + (0.16 * pair);
            expected.Add($"start #{pair + 1} Entry +{open:0.000} \"{NoPress}\"");
            expected.Add($"end #{pair + 1} Entry +{open + 0.08:0.000} \"door closed\"");
        }

        expected.Add("start #6 InputFault +5.000 \"contact input (BCM 17) chattering: 11 changes within 1 s after debounce (limit 10 per second)\"");
        expected.Add("end #6 InputFault +5.880 \"input unchanged for 1 s after its last change\"");
        Assert.Equal(expected, rig.Lines);
        Assert.Equal(DoorState.Closed, rig.Monitor.CurrentState.Contact);
    }

    [Fact]
    public void Door_left_open_by_a_chattering_contact_gets_an_opening_when_the_fault_ends()
    {
        using var rig = new DoorRig(DoorRig.Door());

        for (var i = 0; i < 11; i++)
        {
            rig.Change(DoorRig.ContactPin, i % 2 == 0 ? PinValue.High : PinValue.Low, 5 + (0.08 * i));
        }

        rig.At(20);

        // The 11th change (open, at 5.800) made the fault and the door stayed open after it.
        Assert.Equal(
        [
            "start #6 InputFault +5.000 \"contact input (BCM 17) chattering: 11 changes within 1 s after debounce (limit 10 per second)\"",
            "end #6 InputFault +5.800 \"input unchanged for 1 s after its last change\"",
            "start #7 DoorOpened +5.800 \"door found open when the contact input (BCM 17) stopped chattering; the opening time and direction are uncertain\"",
        ], rig.Lines.Skip(11));
    }

    [Fact]
    public void Bounce_that_settles_back_to_the_old_level_makes_no_event()
    {
        using var rig = new DoorRig(DoorRig.Door());

        // A knock on the door: the contact flickers for 10 ms and stays closed.
        int[] offsetsMs = [0, 2, 5, 7, 10, 12];
        for (var i = 0; i < offsetsMs.Length; i++)
        {
            rig.At(5 + (offsetsMs[i] / 1000.0));
            rig.Driver.SetInputLevel(DoorRig.ContactPin, i % 2 == 0 ? PinValue.High : PinValue.Low);
        }

        rig.At(20);

        Assert.Equal(["state-at-start Closed Released +0.000"], rig.Lines);
    }

    [Fact]
    public void NextDecisionIn_says_how_long_the_pending_change_still_has_to_hold_and_is_null_when_none_is_pending()
    {
        using var rig = new DoorRig(DoorRig.Door()); // 50 ms debounce

        rig.At(5);
        Assert.Null(rig.Monitor.NextDecisionIn);
        rig.Driver.SetInputLevel(DoorRig.ContactPin, PinValue.High);
        Assert.Equal(TimeSpan.FromMilliseconds(50), rig.Monitor.NextDecisionIn);
        rig.At(5.030);
        Assert.Equal(TimeSpan.FromMilliseconds(20), rig.Monitor.NextDecisionIn);
        rig.At(5.050); // confirmed: the opening is decided
        Assert.Null(rig.Monitor.NextDecisionIn);
        rig.Driver.SetInputLevel(DoorRig.ButtonPin, PinValue.Low); // a press, then the door closing 10 ms later
        rig.At(5.060);
        rig.Driver.SetInputLevel(DoorRig.ContactPin, PinValue.Low);
        Assert.Equal(TimeSpan.FromMilliseconds(40), rig.Monitor.NextDecisionIn); // the sooner of the two
    }

    [Fact]
    public void Change_shorter_than_the_debounce_time_makes_no_event()
    {
        using var rig = new DoorRig(DoorRig.Door());

        rig.At(5);
        rig.Driver.SetInputLevel(DoorRig.ContactPin, PinValue.High);
        rig.At(5.049);
        rig.Driver.SetInputLevel(DoorRig.ContactPin, PinValue.Low);
        rig.At(20);

        Assert.Equal(["state-at-start Closed Released +0.000"], rig.Lines);
    }

    [Fact]
    public void Door_without_an_exit_button_gives_door_opened()
    {
        using var rig = new DoorRig(DoorRig.Door(exitButton: false));

        rig.Open(5);
        rig.Close(9);
        rig.At(20);

        Assert.Equal(
        [
            "state-at-start Closed NotConfigured +0.000",
            "start #1 DoorOpened +5.000 \"no exit button configured\"",
            "end #1 DoorOpened +9.000 \"door closed\"",
        ], rig.Lines);
    }

    [Fact]
    public void Press_older_than_the_exit_window_makes_an_entry_that_says_how_old_it_was()
    {
        using var rig = new DoorRig(DoorRig.Door());

        rig.Press(3, 0.3);
        rig.Open(15);
        rig.Close(18);
        rig.At(20);

        Assert.Contains("start #1 Entry +15.000 \"no exit button press within 10 s before opening (last press 12 s before)\"", rig.Lines);
    }

    [Fact]
    public void One_press_lets_one_opening_out_and_a_second_opening_in_the_window_is_an_entry()
    {
        using var rig = new DoorRig(DoorRig.Door());

        rig.Press(1, 0.3);
        rig.Open(2);
        rig.Close(4);
        rig.Open(6);
        rig.Close(8);
        rig.At(20);

        Assert.Equal(
        [
            "state-at-start Closed Released +0.000",
            "start #1 Exit +2.000 \"exit button pressed 1 s before opening\"",
            "end #1 Exit +4.000 \"door closed\"",
            "start #2 Entry +6.000 \"no unused exit button press within 10 s before opening (the press 5 s before was used by the previous opening)\"",
            "end #2 Entry +8.000 \"door closed\"",
        ], rig.Lines);
    }

    [Fact]
    public void Press_20_ms_before_the_door_opens_counts_as_exit_while_both_debounces_run_together()
    {
        using var rig = new DoorRig(DoorRig.Door() with { Debounce = TimeSpan.FromMilliseconds(50) });

        // Button pressed 20 ms before the door opens: both debounces are still running together.
        rig.At(4.98);
        rig.Driver.SetInputLevel(DoorRig.ButtonPin, PinValue.Low);
        rig.At(5);
        rig.Driver.SetInputLevel(DoorRig.ContactPin, PinValue.High);
        rig.At(20);

        Assert.Contains("start #1 Exit +5.000 \"exit button pressed 0.02 s before opening\"", rig.Lines);
    }

    [Fact]
    public void Door_open_when_monitoring_starts_gives_door_opened_flagged_open_at_start()
    {
        using var rig = new DoorRig(DoorRig.Door(), beforeStart: d => d.SetInputLevel(DoorRig.ContactPin, PinValue.High));

        Assert.Equal(DoorState.Open, rig.Monitor.CurrentState.Contact);
        rig.Close(5);
        rig.At(20);

        Assert.Equal(
        [
            "state-at-start Open Released +0.000 open-event #1",
            "start #1 DoorOpened +0.000 \"door already open when monitoring started; the real opening time and direction are unknown\" open-at-start",
            "end #1 DoorOpened +5.000 \"door closed\"",
        ], rig.Lines);
        var started = Assert.IsType<DoorEventStarted>(rig.Sink.Signals[1]);
        Assert.Equal(["cam-1"], started.Cameras);
        Assert.Equal("server-room", started.Door);
    }

    [Fact]
    public void Door_open_at_start_outside_the_schedule_also_gives_after_hours_and_held_open_counts_from_the_start()
    {
        var saturday = new DateTimeOffset(2025, 6, 14, 10, 0, 0, TimeSpan.FromHours(9));
        using var rig = new DoorRig(DoorRig.Door(), saturday, d => d.SetInputLevel(DoorRig.ContactPin, PinValue.High));

        rig.At(70);

        Assert.Equal(
        [
            "state-at-start Open Released +0.000 open-event #1",
            "start #1 DoorOpened +0.000 \"door already open when monitoring started; the real opening time and direction are unknown\" open-at-start",
            "start #2 AfterHours +0.000 \"open when monitoring started Sat 2025-06-14 10:00:00 (Asia/Tokyo), outside the schedule \"Mon-Fri 08:00-19:00\"\" open-at-start of #1",
            "start #3 HeldOpen +60.000 \"door open longer than 60 s\" open-at-start of #1",
        ], rig.Lines);
    }

    [Fact]
    public void Contact_that_cannot_be_read_at_start_gives_input_fault_and_unknown_state_until_a_read_succeeds()
    {
        using var rig = new DoorRig(DoorRig.Door(), beforeStart: d =>
        {
            d.FailReads(DoorRig.ContactPin, "line busy");
            d.SetInputLevel(DoorRig.ContactPin, PinValue.High);
        });

        Assert.Equal(DoorState.Unknown, rig.Monitor.CurrentState.Contact);
        Assert.Single(rig.Monitor.CurrentState.Faults);
        rig.At(3.5);
        rig.Driver.RestoreReads(DoorRig.ContactPin);
        rig.At(10);

        // Read back every second: the first good read (at 4 s) ends the fault and finds the door open.
        Assert.Equal(
        [
            "state-at-start Unknown Released +0.000",
            "start #1 InputFault +0.000 \"contact input (BCM 17) could not be read: IOException: Simulated GPIO pin 17: line busy.\"",
            "end #1 InputFault +4.000 \"input readable again\"",
            "start #2 DoorOpened +4.000 \"door found open when the contact input (BCM 17) became readable again; the opening time and direction are uncertain\"",
        ], rig.Lines);
        Assert.Equal(DoorState.Open, rig.Monitor.CurrentState.Contact);
    }

    [Fact]
    public void Contact_that_stops_being_readable_while_the_door_is_open_keeps_the_opening_and_closes_it_when_readable_again()
    {
        using var rig = new DoorRig(DoorRig.Door());

        rig.Open(5);
        rig.At(10.5);
        rig.Driver.FailReads(DoorRig.ContactPin);
        rig.Driver.SetInputLevelWithoutEvent(DoorRig.ContactPin, PinValue.Low); // closes unseen while unreadable
        rig.At(20.5);
        rig.Driver.RestoreReads(DoorRig.ContactPin);
        rig.At(30);

        Assert.Equal(
        [
            "state-at-start Closed Released +0.000",
            $"start #1 Entry +5.000 \"{NoPress}\"",
            "start #2 InputFault +11.000 \"contact input (BCM 17) could not be read: IOException: Simulated GPIO pin 17: simulated read failure.\"",
            "end #2 InputFault +21.000 \"input readable again\"",
            "end #1 Entry +21.000 \"door found closed when the contact input (BCM 17) became readable again\"",
        ], rig.Lines);
    }

    [Fact]
    public void Faulty_exit_button_makes_openings_entries()
    {
        using var rig = new DoorRig(DoorRig.Door(), beforeStart: d => d.FailReads(DoorRig.ButtonPin));

        rig.Press(3, 0.3);
        rig.Open(5);
        rig.Close(8);
        rig.At(9);

        Assert.Equal(
        [
            "state-at-start Closed Unknown +0.000",
            "start #1 InputFault +0.000 \"exit button input (BCM 27) could not be read: IOException: Simulated GPIO pin 27: simulated read failure.\"",
            "start #2 Entry +5.000 \"exit button input (BCM 27) is faulty, so no press can be trusted; counted as entry\"",
            "end #2 Entry +8.000 \"door closed\"",
        ], rig.Lines);
    }

    [Fact]
    public void Edge_the_driver_did_not_report_is_caught_by_the_read_back()
    {
        using var rig = new DoorRig(DoorRig.Door());

        rig.At(5.2);
        rig.Driver.SetInputLevelWithoutEvent(DoorRig.ContactPin, PinValue.High);
        rig.At(10);

        // Nobody heard the edge at 5.2 s; the read-back at 6 s finds the door open and debounces it from there.
        Assert.Equal(
        [
            "state-at-start Closed Released +0.000",
            $"start #1 Entry +6.000 \"{NoPress}\"",
        ], rig.Lines);
    }

    [Fact]
    public void Dispose_releases_pins_and_callbacks_but_leaves_the_shared_controller_and_open_events_alone()
    {
        var rig = new DoorRig(DoorRig.Door());
        rig.Open(5);
        rig.At(6);

        rig.Monitor.Dispose();

        Assert.False(rig.Driver.IsOpen(DoorRig.ContactPin));
        Assert.False(rig.Driver.IsOpen(DoorRig.ButtonPin));
        Assert.Equal(0, rig.Driver.CallbackCount(DoorRig.ContactPin));
        rig.Controller.OpenPin(5, PinMode.Input); // still usable: not disposed by the monitor
        rig.Close(9);
        rig.At(20);
        Assert.DoesNotContain(rig.Lines, l => l.StartsWith("end", StringComparison.Ordinal));
        rig.Controller.Dispose();
    }

    [Fact]
    public void Monitor_built_with_should_dispose_disposes_its_controller()
    {
        var driver = new SimulatedGpioDriver();
        var controller = new GpioController(driver);
        var monitor = new DoorMonitor(controller, DoorRig.Door(), TimeProvider.System, DoorRig.Tokyo, new RecordingSink(DateTimeOffset.UtcNow), shouldDispose: true);
        monitor.Start();

        monitor.Dispose();

        Assert.Throws<ObjectDisposedException>(() => controller.OpenPin(5));
    }

    [Fact]
    public void Door_definition_the_monitor_cannot_use_is_refused_with_the_key_named()
    {
        var door = DoorRig.Door() with { ContactClosedLevel = null };

        var error = Assert.Throws<ArgumentException>(() =>
            new DoorMonitor(new GpioController(new SimulatedGpioDriver()), door, TimeProvider.System, DoorRig.Tokyo, new RecordingSink(default)));

        Assert.Contains("Door \"server-room\".ContactClosedLevel: missing", error.Message);
    }

    [Fact]
    public async Task Sink_that_blocks_does_not_hold_up_pin_changes_and_gets_every_signal_in_order()
    {
        var sink = new BlockingSink();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var t0 = DoorRig.WednesdayMorning;
        time.SetUtcNow(t0);
        var driver = new SimulatedGpioDriver();
        driver.SetInputLevel(DoorRig.ContactPin, PinValue.Low);
        using var controller = new GpioController(driver);
        using var monitor = new DoorMonitor(controller, DoorRig.Door(exitButton: false) with { Debounce = TimeSpan.Zero }, time, DoorRig.Tokyo, sink);
        monitor.Start();
        time.StepTo(t0.AddSeconds(5));

        // The opening's delivery blocks inside the sink on another thread...
        var opening = Task.Run(() => driver.SetInputLevel(DoorRig.ContactPin, PinValue.High));
        Task? closing = null;
        try
        {
            Assert.True(sink.Entered.Wait(TimeSpan.FromSeconds(30)), "the sink was never called");
            // ...while time passes (a read-back runs at 6 s) and the door closes: neither waits for the sink.
            closing = Task.Run(() =>
            {
                time.StepTo(t0.AddSeconds(6));
                driver.SetInputLevel(DoorRig.ContactPin, PinValue.Low);
            });
            var finished = await Task.WhenAny(closing, Task.Delay(TimeSpan.FromSeconds(30)));
            Assert.True(finished == closing, "the read-back or the pin change waited for the blocked sink");
        }
        finally
        {
            sink.Release.Set();
        }

        await opening;
        await closing;

        Assert.Equal(["state-at-start Closed", "start DoorOpened +5", "end DoorOpened +6"], sink.Lines(t0));
    }

    private sealed class BlockingSink : IDoorSignalSink
    {
        private readonly List<object> _signals = [];

        public ManualResetEventSlim Entered { get; } = new();
        public ManualResetEventSlim Release { get; } = new();

        public void StateAtStart(DoorStateAtStart signal) => Add(signal);

        public void EventStarted(DoorEventStarted signal)
        {
            Add(signal);
            Entered.Set();
            Release.Wait();
        }

        public void EventEnded(DoorEventEnded signal) => Add(signal);

        public IReadOnlyList<string> Lines(DateTimeOffset t0)
        {
            lock (_signals)
            {
                return [.. _signals.Select(s => s switch
                {
                    DoorStateAtStart a => $"state-at-start {a.Contact}",
                    DoorEventStarted b => $"start {b.Kind} +{(b.Start - t0).TotalSeconds}",
                    DoorEventEnded e => $"end {e.Kind} +{(e.End - t0).TotalSeconds}",
                    _ => "?",
                })];
            }
        }

        private void Add(object signal)
        {
            lock (_signals)
            {
                _signals.Add(signal);
            }
        }
    }

    [Fact]
    public void Pin_changes_from_many_threads_give_well_formed_alternating_events()
    {
        // Real clock and thread pool: the driver raises callbacks on the threads that change levels.
        var driver = new SimulatedGpioDriver();
        driver.SetInputLevel(DoorRig.ContactPin, PinValue.Low);
        driver.SetInputLevel(DoorRig.ButtonPin, PinValue.High);
        using var controller = new GpioController(driver);
        var sink = new RecordingSink(DateTimeOffset.UnixEpoch);
        var door = DoorRig.Door() with { Debounce = TimeSpan.Zero, ChatterLimit = DoorDefinitionValidator.MaxChatterLimit };
        using (var monitor = new DoorMonitor(controller, door, TimeProvider.System, DoorRig.Tokyo, sink))
        {
            monitor.Start();
            Parallel.For(0, 4, worker =>
            {
                for (var i = 0; i < 500; i++)
                {
                    var pin = worker % 2 == 0 ? DoorRig.ContactPin : DoorRig.ButtonPin;
                    driver.SetInputLevel(pin, i % 2 == 0 ? PinValue.High : PinValue.Low);
                }
            });
        }

        // Each opening starts before it ends, and a new one starts only after the previous ended.
        Guid? open = null;
        var openings = 0;
        foreach (var signal in sink.Signals)
        {
            switch (signal)
            {
                case DoorEventStarted s when s.Kind is DoorEventKind.Entry or DoorEventKind.Exit:
                    Assert.Null(open);
                    open = s.Key;
                    openings++;
                    break;
                case DoorEventEnded e when e.Kind is DoorEventKind.Entry or DoorEventKind.Exit:
                    Assert.Equal(open, e.Key);
                    open = null;
                    break;
            }
        }

        Assert.True(openings > 0);
    }

    internal static void RunEntryThenExit(DoorRig rig)
    {
        rig.Open(5);
        rig.Close(9);
        rig.Press(20, 0.3);
        rig.Open(22.5);
        rig.Close(25);
        rig.At(40);
    }

    internal static readonly string[] EntryThenExitLines =
    [
        "state-at-start Closed Released +0.000",
        $"start #1 Entry +5.000 \"{NoPress}\"",
        "end #1 Entry +9.000 \"door closed\"",
        "start #2 Exit +22.500 \"exit button pressed 2.5 s before opening\"",
        "end #2 Exit +25.000 \"door closed\"",
    ];
}
