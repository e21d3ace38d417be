// The simulated driver seen only through System.Device.Gpio's GpioController, as the door code sees it.

using System.Device.Gpio;
using Edge.Hardware.Gpio;

namespace Edge.Tests.Hardware;

public class SimulatedGpioDriver_Tests
{
    private readonly SimulatedGpioDriver _driver = new();

    [Theory]
    [InlineData(PinMode.InputPullUp, 1)]
    [InlineData(PinMode.InputPullDown, 0)]
    [InlineData(PinMode.Input, 0)]
    public void Undriven_input_reads_what_its_pull_gives(PinMode mode, int expected)
    {
        using var controller = new GpioController(_driver);
        controller.OpenPin(17, mode);

        Assert.Equal((PinValue)expected, controller.Read(17));
    }

    [Fact]
    public void Driven_level_wins_over_the_pull_and_release_returns_to_it()
    {
        using var controller = new GpioController(_driver);
        controller.OpenPin(17, PinMode.InputPullUp);

        _driver.SetInputLevel(17, PinValue.Low);
        Assert.Equal(PinValue.Low, controller.Read(17));
        _driver.ReleaseInput(17);
        Assert.Equal(PinValue.High, controller.Read(17));
    }

    [Fact]
    public void Level_changes_reach_registered_callbacks_as_rising_and_falling_edges_from_the_driver()
    {
        using var controller = new GpioController(_driver);
        controller.OpenPin(17, PinMode.InputPullUp);
        var seen = new List<(object Sender, int Pin, PinEventTypes Type)>();
        controller.RegisterCallbackForPinValueChangedEvent(17, PinEventTypes.Rising | PinEventTypes.Falling,
            (sender, e) => seen.Add((sender, e.PinNumber, e.ChangeType)));

        _driver.SetInputLevel(17, PinValue.Low);
        _driver.SetInputLevel(17, PinValue.Low); // no change, no edge
        _driver.SetInputLevel(17, PinValue.High);

        Assert.Equal([(_driver, 17, PinEventTypes.Falling), (_driver, 17, PinEventTypes.Rising)], seen);
    }

    [Fact]
    public void Callback_for_one_edge_type_hears_only_that_edge()
    {
        using var controller = new GpioController(_driver);
        controller.OpenPin(17, PinMode.InputPullUp);
        var seen = new List<PinEventTypes>();
        controller.RegisterCallbackForPinValueChangedEvent(17, PinEventTypes.Falling, (_, e) => seen.Add(e.ChangeType));

        _driver.SetInputLevel(17, PinValue.Low);
        _driver.SetInputLevel(17, PinValue.High);

        Assert.Equal([PinEventTypes.Falling], seen);
    }

    [Fact]
    public void Unregistered_and_closed_pins_raise_no_callbacks()
    {
        using var controller = new GpioController(_driver);
        controller.OpenPin(17, PinMode.InputPullUp);
        var count = 0;
        PinChangeEventHandler handler = (_, _) => count++;
        controller.RegisterCallbackForPinValueChangedEvent(17, PinEventTypes.Rising | PinEventTypes.Falling, handler);
        controller.UnregisterCallbackForPinValueChangedEvent(17, handler);
        _driver.SetInputLevel(17, PinValue.Low);

        controller.RegisterCallbackForPinValueChangedEvent(17, PinEventTypes.Rising | PinEventTypes.Falling, handler);
        controller.ClosePin(17);
        _driver.SetInputLevel(17, PinValue.High);

        Assert.Equal(0, count);
        Assert.Equal(0, _driver.CallbackCount(17));
    }

    [Fact]
    public void Failing_reads_throw_through_the_controller_until_restored()
    {
        using var controller = new GpioController(_driver);
        controller.OpenPin(17, PinMode.InputPullUp);

        _driver.FailReads(17, "wire cut");
        var error = Assert.Throws<IOException>(() => controller.Read(17));
        Assert.Contains("wire cut", error.Message);
        _driver.RestoreReads(17);
        Assert.Equal(PinValue.High, controller.Read(17));
    }

    [Fact]
    public async Task Wait_for_event_returns_the_edge_or_times_out()
    {
        using var controller = new GpioController(_driver);
        controller.OpenPin(17, PinMode.InputPullUp);

        var timedOut = controller.WaitForEvent(17, PinEventTypes.Falling, TimeSpan.FromMilliseconds(1));
        var waiting = Task.Run(() => controller.WaitForEvent(17, PinEventTypes.Falling, TimeSpan.FromMinutes(1)));
        while (_driver.CallbackCount(17) == 0)
        {
            Thread.Yield();
        }

        _driver.SetInputLevel(17, PinValue.Low);

        Assert.True(timedOut.TimedOut);
        Assert.Equal(new WaitForEventResult { EventTypes = PinEventTypes.Falling, TimedOut = false }, await waiting);
    }

    [Fact]
    public void Pin_outside_the_chip_is_refused_with_the_valid_range()
    {
        using var controller = new GpioController(_driver);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => controller.OpenPin(40, PinMode.Input));

        Assert.Contains("pins 0..27", error.Message);
        Assert.Contains("BCM", error.Message);
    }

    [Fact]
    public void Disposing_the_controller_closes_the_pins()
    {
        var controller = new GpioController(_driver);
        controller.OpenPin(17, PinMode.InputPullUp);

        controller.Dispose();

        Assert.False(_driver.IsOpen(17));
    }
}
