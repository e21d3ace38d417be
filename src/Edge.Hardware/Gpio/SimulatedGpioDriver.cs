// Simulated GPIO driver: a System.Device.Gpio GpioDriver that keeps pin levels in memory, so the
// door logic, tests and demos run through a real GpioController on machines without GPIO hardware.
// Inputs are driven from code (SetInputLevel, ReleaseInput, FailReads) or from a scenario file
// (GpioScenarioPlayer). Value-change callbacks reach the handler registered with
// GpioController.RegisterCallbackForPinValueChangedEvent with the driver as sender and a
// PinValueChangedEventArgs, as the libgpiod drivers raise them. One difference, on purpose: they run
// synchronously on the thread that changed the level (the real drivers use their own event thread),
// which keeps FakeTimeProvider tests deterministic.

using System.Device.Gpio;

namespace Edge.Hardware.Gpio;

/// <summary>
/// In-memory <see cref="GpioDriver"/> for tests and demos. Pins are numbered like BCM GPIO lines
/// (0..<c>pinCount</c>-1). An input's level is the level driven from outside
/// (<see cref="SetInputLevel"/>) or, while nothing drives it, the level its pull mode gives
/// (pull-up: high; pull-down or no pull: low).
/// </summary>
public sealed class SimulatedGpioDriver : GpioDriver
{
    private readonly object _gate = new();
    private readonly SimulatedPin[] _pins;

    public SimulatedGpioDriver(int pinCount = 28)
    {
        if (pinCount <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pinCount), pinCount, "A simulated GPIO chip needs at least one pin.");
        }

        _pins = new SimulatedPin[pinCount];
        for (var i = 0; i < pinCount; i++)
        {
            _pins[i] = new SimulatedPin();
        }
    }

    /// <summary>Label the simulated chip reports, so logs show which driver is in use.</summary>
    public const string ChipLabel = "edge-simulated";

    protected override int PinCount => _pins.Length;

    /// <summary>
    /// Drives an input from outside (a contact or button changing), raising value-change callbacks
    /// if the pin is open as an input and its level changes.
    /// </summary>
    public void SetInputLevel(int pinNumber, PinValue level) => Drive(pinNumber, level);

    /// <summary>
    /// Changes the level without raising callbacks: an edge the driver loses, as libgpiod does when
    /// the kernel's event queue overflows. Only a read sees the new level.
    /// </summary>
    public void SetInputLevelWithoutEvent(int pinNumber, PinValue level)
    {
        lock (_gate)
        {
            Pin(pinNumber).Driven = level;
        }
    }

    /// <summary>Stops driving the pin: its level falls back to what its pull mode gives.</summary>
    public void ReleaseInput(int pinNumber) => Drive(pinNumber, null);

    /// <summary>The level a read would return now (ignoring <see cref="FailReads"/>).</summary>
    public PinValue GetLevel(int pinNumber)
    {
        lock (_gate)
        {
            return Pin(pinNumber).Level;
        }
    }

    /// <summary>Makes reads of the pin throw <see cref="IOException"/> until <see cref="RestoreReads"/>.</summary>
    public void FailReads(int pinNumber, string reason = "simulated read failure")
    {
        lock (_gate)
        {
            Pin(pinNumber).ReadFailure = reason;
        }
    }

    public void RestoreReads(int pinNumber)
    {
        lock (_gate)
        {
            Pin(pinNumber).ReadFailure = null;
        }
    }

    /// <summary>Whether the pin is open (for tests checking that a monitor released its pins).</summary>
    public bool IsOpen(int pinNumber)
    {
        lock (_gate)
        {
            return Pin(pinNumber).IsOpen;
        }
    }

    /// <summary>Number of value-change callbacks registered on the pin.</summary>
    public int CallbackCount(int pinNumber)
    {
        lock (_gate)
        {
            return Pin(pinNumber).Callbacks.Count;
        }
    }

    protected override void OpenPin(int pinNumber)
    {
        lock (_gate)
        {
            var pin = Pin(pinNumber);
            pin.IsOpen = true;
            pin.Mode = PinMode.Input;
        }
    }

    protected override void ClosePin(int pinNumber)
    {
        lock (_gate)
        {
            var pin = Pin(pinNumber);
            pin.IsOpen = false;
            pin.Mode = PinMode.Input;
            // The libgpiod drivers release the line and its event request together.
            pin.Callbacks.Clear();
        }
    }

    protected override void SetPinMode(int pinNumber, PinMode mode)
    {
        List<PinChangeEventHandler> toCall;
        PinEventTypes edge;
        lock (_gate)
        {
            var pin = Pin(pinNumber);
            var before = pin.Level;
            pin.Mode = mode;
            (toCall, edge) = CallbacksForChange(pin, before);
        }

        Raise(pinNumber, toCall, edge);
    }

    protected override PinMode GetPinMode(int pinNumber)
    {
        lock (_gate)
        {
            return Pin(pinNumber).Mode;
        }
    }

    protected override bool IsPinModeSupported(int pinNumber, PinMode mode) =>
        mode is PinMode.Input or PinMode.InputPullUp or PinMode.InputPullDown or PinMode.Output;

    protected override PinValue Read(int pinNumber)
    {
        lock (_gate)
        {
            var pin = Pin(pinNumber);
            if (pin.ReadFailure is { } reason)
            {
                throw new IOException($"Simulated GPIO pin {pinNumber}: {reason}.");
            }

            return pin.Level;
        }
    }

    protected override void Write(int pinNumber, PinValue value)
    {
        List<PinChangeEventHandler> toCall;
        PinEventTypes edge;
        lock (_gate)
        {
            var pin = Pin(pinNumber);
            var before = pin.Level;
            pin.OutputLatch = value;
            (toCall, edge) = CallbacksForChange(pin, before);
        }

        Raise(pinNumber, toCall, edge);
    }

    protected override WaitForEventResult WaitForEvent(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken)
    {
        using var signalled = new ManualResetEventSlim(false);
        var seen = PinEventTypes.None;
        PinChangeEventHandler handler = (_, e) =>
        {
            seen = e.ChangeType;
            signalled.Set();
        };
        AddCallbackForPinValueChangedEvent(pinNumber, eventTypes, handler);
        try
        {
            signalled.Wait(cancellationToken);
            return new WaitForEventResult { EventTypes = seen, TimedOut = false };
        }
        catch (OperationCanceledException)
        {
            return new WaitForEventResult { EventTypes = PinEventTypes.None, TimedOut = true };
        }
        finally
        {
            RemoveCallbackForPinValueChangedEvent(pinNumber, handler);
        }
    }

    protected override void AddCallbackForPinValueChangedEvent(int pinNumber, PinEventTypes eventTypes, PinChangeEventHandler callback)
    {
        lock (_gate)
        {
            Pin(pinNumber).Callbacks.Add((eventTypes, callback));
        }
    }

    protected override void RemoveCallbackForPinValueChangedEvent(int pinNumber, PinChangeEventHandler callback)
    {
        lock (_gate)
        {
            Pin(pinNumber).Callbacks.RemoveAll(c => c.Handler == callback);
        }
    }

    public override GpioChipInfo GetChipInfo() => new(0, "gpiochip0", ChipLabel, _pins.Length);

    private void Drive(int pinNumber, PinValue? level)
    {
        List<PinChangeEventHandler> toCall;
        PinEventTypes edge;
        lock (_gate)
        {
            var pin = Pin(pinNumber);
            var before = pin.Level;
            pin.Driven = level;
            (toCall, edge) = CallbacksForChange(pin, before);
        }

        Raise(pinNumber, toCall, edge);
    }

    // Called under _gate; the handlers themselves run outside it so they may call back into the driver.
    private static (List<PinChangeEventHandler>, PinEventTypes) CallbacksForChange(SimulatedPin pin, PinValue before)
    {
        var after = pin.Level;
        if (!pin.IsOpen || after == before)
        {
            return ([], PinEventTypes.None);
        }

        var edge = after == PinValue.High ? PinEventTypes.Rising : PinEventTypes.Falling;
        var handlers = pin.Callbacks.Where(c => (c.Events & edge) != 0).Select(c => c.Handler).ToList();
        return (handlers, edge);
    }

    private void Raise(int pinNumber, List<PinChangeEventHandler> handlers, PinEventTypes edge)
    {
        foreach (var handler in handlers)
        {
            handler(this, new PinValueChangedEventArgs(edge, pinNumber));
        }
    }

    private SimulatedPin Pin(int pinNumber)
    {
        if (pinNumber < 0 || pinNumber >= _pins.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(pinNumber), pinNumber,
                $"Simulated GPIO chip has pins 0..{_pins.Length - 1}; pin {pinNumber} does not exist. Use a BCM GPIO number.");
        }

        return _pins[pinNumber];
    }

    private sealed class SimulatedPin
    {
        public bool IsOpen;
        public PinMode Mode = PinMode.Input;
        public PinValue? Driven;
        public PinValue OutputLatch = PinValue.Low;
        public string? ReadFailure;
        public readonly List<(PinEventTypes Events, PinChangeEventHandler Handler)> Callbacks = [];

        // A floating input without pull reads low here; real hardware would read noise.
        public PinValue Level => Mode == PinMode.Output
            ? OutputLatch
            : Driven ?? (Mode == PinMode.InputPullUp ? PinValue.High : PinValue.Low);
    }
}
