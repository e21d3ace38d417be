// Test rig for door scenarios: a FakeTimeProvider, the simulated driver behind a real
// GpioController, a DoorMonitor and a sink that records signals as readable lines
// ("start #1 Entry +5.000 ..."), with keys replaced by their order of appearance so that
// links between events (held_open of #1) are checked too.

using System.Device.Gpio;
using System.Globalization;
using Edge.Hardware.Gpio;
using Microsoft.Extensions.Time.Testing;

namespace Edge.Tests.Hardware;

internal sealed class DoorRig : IDisposable
{
    public const int ContactPin = 17;
    public const int ButtonPin = 27;

    /// <summary>Wednesday 10:00 in Tokyo: inside "Mon-Fri 08:00-19:00".</summary>
    public static readonly DateTimeOffset WednesdayMorning = new(2025, 6, 11, 10, 0, 0, TimeSpan.FromHours(9));

    public static readonly TimeZoneInfo Tokyo = TimeZoneInfo.FindSystemTimeZoneById("Asia/Tokyo");

    public DoorRig(DoorDefinition door, DateTimeOffset? start = null, Action<SimulatedGpioDriver>? beforeStart = null, bool startMonitor = true)
    {
        T0 = start ?? WednesdayMorning;
        Time = new FakeTimeProvider();
        Time.SetUtcNow(T0);
        Driver = new SimulatedGpioDriver();
        // Closed door, released button: the idle state of a reed contact and a button to ground.
        Driver.SetInputLevel(ContactPin, PinValue.Low);
        Driver.SetInputLevel(ButtonPin, PinValue.High);
        beforeStart?.Invoke(Driver);
        Controller = new GpioController(Driver);
        Sink = new RecordingSink(T0);
        Monitor = new DoorMonitor(Controller, door, Time, Tokyo, Sink);
        if (startMonitor)
        {
            Monitor.Start();
        }
    }

    public DateTimeOffset T0 { get; }
    public FakeTimeProvider Time { get; }
    public SimulatedGpioDriver Driver { get; }
    public GpioController Controller { get; }
    public RecordingSink Sink { get; }
    public DoorMonitor Monitor { get; }

    public static DoorDefinition Door(bool exitButton = true, string? schedule = "Mon-Fri 08:00-19:00") => new()
    {
        Id = "server-room",
        ContactPin = ContactPin,
        ContactPull = GpioPull.Up,
        ContactClosedLevel = PinLevel.Low,
        ExitButtonPin = exitButton ? ButtonPin : null,
        ExitButtonPull = GpioPull.Up,
        ExitButtonPressedLevel = exitButton ? PinLevel.Low : null,
        Schedule = schedule,
        Cameras = ["cam-1"],
    };

    /// <summary>Advances the fake clock to T0 + seconds, running every timer due on the way.</summary>
    public void At(double seconds) => Time.StepTo(T0 + TimeSpan.FromMilliseconds(Math.Round(seconds * 1000)));

    /// <summary>
    /// A real change with bounce noise: 5 transitions within 10 ms, the last (to the new level) at
    /// <paramref name="atSeconds"/> — the same burst a scenario's {"transitions": 5, "within": 10 ms} makes.
    /// </summary>
    public void Change(int pin, PinValue level, double atSeconds)
    {
        int[] offsetsMs = [-10, -8, -5, -3, 0];
        for (var i = 0; i < offsetsMs.Length; i++)
        {
            At(atSeconds + offsetsMs[i] / 1000.0);
            Driver.SetInputLevel(pin, i % 2 == 0 ? level : !level);
        }
    }

    public void Open(double at) => Change(ContactPin, PinValue.High, at);

    public void Close(double at) => Change(ContactPin, PinValue.Low, at);

    public void Press(double at, double forSeconds)
    {
        Change(ButtonPin, PinValue.Low, at);
        Change(ButtonPin, PinValue.High, at + forSeconds);
    }

    public IReadOnlyList<string> Lines => Sink.Lines;

    public void Dispose()
    {
        Monitor.Dispose();
        Controller.Dispose();
    }
}

internal sealed class RecordingSink(DateTimeOffset t0) : IDoorSignalSink
{
    private readonly object _gate = new();
    private readonly List<string> _lines = [];
    private readonly List<object> _signals = [];
    private readonly Dictionary<Guid, int> _names = [];

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_gate)
            {
                return [.. _lines];
            }
        }
    }

    public IReadOnlyList<object> Signals
    {
        get
        {
            lock (_gate)
            {
                return [.. _signals];
            }
        }
    }

    public void StateAtStart(DoorStateAtStart s) => Add(s,
        $"state-at-start {s.Contact} {s.ExitButton} {Offset(s.At)}{(s.OpenEventKey is { } k ? $" open-event {Name(k)}" : "")}");

    public void EventStarted(DoorEventStarted s) => Add(s,
        $"start {Name(s.Key)} {s.Kind} {Offset(s.Start)} \"{s.DecidedBy}\"{(s.OpenAtStart ? " open-at-start" : "")}{(s.OpeningKey is { } o ? $" of {Name(o)}" : "")}");

    public void EventEnded(DoorEventEnded s) => Add(s, $"end {Name(s.Key)} {s.Kind} {Offset(s.End)} \"{s.EndedBy}\"");

    private void Add(object signal, string line)
    {
        lock (_gate)
        {
            _signals.Add(signal);
            _lines.Add(line);
        }
    }

    private string Name(Guid key)
    {
        lock (_gate)
        {
            if (!_names.TryGetValue(key, out var n))
            {
                n = _names.Count + 1;
                _names[key] = n;
            }

            return $"#{n}";
        }
    }

    private string Offset(DateTimeOffset at) => "+" + (at - t0).TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture);
}
