// Configuration of one monitored door: its contact input, optional exit button (REX), schedule and
// timing limits, and the cameras that watch it. Flat properties so it binds directly from the
// "Doors" section of the agent's JSON configuration; DoorDefinitionValidator checks a whole list.

namespace Edge.Hardware.Gpio;

/// <summary>Pull resistor enabled on an input line.</summary>
public enum GpioPull
{
    /// <summary>Internal pull-up: an open switch to ground reads high.</summary>
    Up,
    /// <summary>Internal pull-down: an open switch to 3.3 V reads low.</summary>
    Down,
    /// <summary>No internal pull; the wiring provides an external resistor.</summary>
    None,
}

/// <summary>Electrical level of an input line.</summary>
public enum PinLevel
{
    Low,
    High,
}

/// <summary>
/// One door. Pin numbers are BCM GPIO numbers (GPIO17 is 17, on header pin 11), not header pins.
/// </summary>
public sealed record DoorDefinition
{
    /// <summary>Stable identifier used in events and by the index (letters, digits, '-', '_', '.').</summary>
    public string Id { get; init; } = "";

    /// <summary>BCM GPIO number of the door contact (reed switch).</summary>
    public int ContactPin { get; init; } = -1;

    public GpioPull ContactPull { get; init; } = GpioPull.Up;

    /// <summary>
    /// Level the contact gives while the door is closed. Required: a reed contact to ground with a
    /// pull-up reads low when closed, but normally-open and normally-closed contacts differ, so the
    /// configuration says it explicitly.
    /// </summary>
    public PinLevel? ContactClosedLevel { get; init; }

    /// <summary>BCM GPIO number of the exit button (request-to-exit), if the door has one.</summary>
    public int? ExitButtonPin { get; init; }

    public GpioPull ExitButtonPull { get; init; } = GpioPull.Up;

    /// <summary>Level the exit button gives while pressed. Required when <see cref="ExitButtonPin"/> is set.</summary>
    public PinLevel? ExitButtonPressedLevel { get; init; }

    /// <summary>
    /// When entry is expected, in the site's time zone, as weekly windows, e.g.
    /// <c>Mon-Fri 08:00-19:00; Sat 09:00-12:00</c> (see <see cref="WeeklySchedule"/>).
    /// Null or empty: no schedule, no after-hours events.
    /// </summary>
    public string? Schedule { get; init; }

    /// <summary>A door open longer than this gives a held_open event.</summary>
    public TimeSpan HeldOpenLimit { get; init; } = DefaultHeldOpenLimit;

    /// <summary>A level change that does not stay stable this long makes no event.</summary>
    public TimeSpan Debounce { get; init; } = DefaultDebounce;

    /// <summary>An opening within this time after an exit-button press is an exit.</summary>
    public TimeSpan ExitWindow { get; init; } = DefaultExitWindow;

    /// <summary>More debounced changes than this within one second make the input faulty (chatter).</summary>
    public int ChatterLimit { get; init; } = DefaultChatterLimit;

    /// <summary>Ids of the cameras that watch this door; carried through to events, not used here.</summary>
    public IReadOnlyList<string> Cameras { get; init; } = [];

    public static readonly TimeSpan DefaultHeldOpenLimit = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan DefaultDebounce = TimeSpan.FromMilliseconds(50);
    public static readonly TimeSpan DefaultExitWindow = TimeSpan.FromSeconds(10);
    public const int DefaultChatterLimit = 10;
}
