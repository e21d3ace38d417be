// What a DoorMonitor tells the agent: door events starting and ending, and the door's state when
// monitoring started (so the agent can reconcile with an event left open in its index by a crash).
// The agent supplies an IDoorSignalSink; the monitor calls it one signal at a time, in order.

namespace Edge.Hardware.Gpio;

public enum DoorEventKind
{
    /// <summary>The door opened with no exit-button press within the exit window before it.</summary>
    Entry,
    /// <summary>The door opened within the exit window after an exit-button press.</summary>
    Exit,
    /// <summary>The door opened and its direction cannot be told: no exit button configured, or the
    /// door was already open when monitoring started, or it was found open when an input fault ended.</summary>
    DoorOpened,
    /// <summary>The door stayed open past its held-open limit (starts at opening + limit).</summary>
    HeldOpen,
    /// <summary>The door opened outside its schedule.</summary>
    AfterHours,
    /// <summary>An input chattered (too many debounced changes per second) or could not be read.</summary>
    InputFault,
}

public enum DoorState
{
    /// <summary>Not known: the contact could not be read, or monitoring has not started.</summary>
    Unknown,
    Closed,
    Open,
}

public enum ExitButtonState
{
    NotConfigured,
    Unknown,
    Released,
    Pressed,
}

public static class DoorEventKindNames
{
    /// <summary>Name used in the index, on the wire and in logs: entry, exit, door_opened, held_open, after_hours, input_fault.</summary>
    public static string ToWireName(this DoorEventKind kind) => kind switch
    {
        DoorEventKind.Entry => "entry",
        DoorEventKind.Exit => "exit",
        DoorEventKind.DoorOpened => "door_opened",
        DoorEventKind.HeldOpen => "held_open",
        DoorEventKind.AfterHours => "after_hours",
        DoorEventKind.InputFault => "input_fault",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown door event kind."),
    };
}

/// <summary>A door event began.</summary>
/// <param name="Key">Unique key of this event; <see cref="DoorEventEnded"/> repeats it.</param>
/// <param name="Door">The door's id.</param>
/// <param name="Kind">What happened.</param>
/// <param name="Start">When it began: for openings the debounced open time (when the level changed,
/// not when the debounce confirmed it); for held_open the opening + limit; for input_fault the first
/// change of the chattering window or the failed read.</param>
/// <param name="DecidedBy">How the kind was decided, for people reading the record.</param>
/// <param name="OpenAtStart">The door was already open when monitoring started: <paramref name="Start"/>
/// is the monitoring start, not the real opening time. The agent reconciles such an event with an
/// open event already in its index.</param>
/// <param name="OpeningKey">For held_open and after_hours: the key of the opening event they belong to.</param>
/// <param name="Cameras">The door's cameras, carried through from its definition.</param>
public sealed record DoorEventStarted(
    Guid Key,
    string Door,
    DoorEventKind Kind,
    DateTimeOffset Start,
    string DecidedBy,
    bool OpenAtStart,
    Guid? OpeningKey,
    IReadOnlyList<string> Cameras);

/// <summary>A door event ended.</summary>
/// <param name="EndedBy">Why: "door closed", "input quiet again", "input readable again", …</param>
public sealed record DoorEventEnded(Guid Key, string Door, DoorEventKind Kind, DateTimeOffset End, string EndedBy);

/// <summary>The door's state read when monitoring started; sent once by <see cref="DoorMonitor.Start"/>,
/// before any event it causes.</summary>
/// <param name="OpenEventKey">Key of the door_opened event started because the door was open, if any.</param>
public sealed record DoorStateAtStart(string Door, DoorState Contact, ExitButtonState ExitButton, DateTimeOffset At, Guid? OpenEventKey);

/// <summary>
/// Receives a monitor's signals. Calls come one at a time and in order, on whichever thread (driver
/// event, timer, or the caller of Start/Dispose) is delivering, never while the monitor holds its
/// lock. Keep them quick (hand the signal to a queue): a slow sink delays the signals that follow,
/// though not the timestamps of pin changes. A sink that throws is logged and skipped.
/// </summary>
public interface IDoorSignalSink
{
    void StateAtStart(DoorStateAtStart signal);

    void EventStarted(DoorEventStarted signal);

    void EventEnded(DoorEventEnded signal);
}

/// <summary>Snapshot of a monitor's view of its door.</summary>
/// <param name="Contact">Open, Closed, or Unknown (not started, unreadable, or chattering).</param>
/// <param name="ContactSince">When the contact reached that state (debounced change time), if known.</param>
/// <param name="OpenEventKey">Key of the opening event in progress, if any.</param>
/// <param name="Faults">Input faults in progress, as human-readable lines.</param>
public sealed record DoorStatus(
    string Door,
    DoorState Contact,
    DateTimeOffset? ContactSince,
    ExitButtonState ExitButton,
    Guid? OpenEventKey,
    IReadOnlyList<string> Faults);
