// Watches one door through a GpioController and turns its contact and exit button into door events:
// entry / exit / door_opened for each opening, held_open, after_hours and input_fault, sent to the
// agent's IDoorSignalSink. Pin changes arrive on the driver's event thread; the callback only
// timestamps the level and hands it to a Debouncer under one lock. Decisions run under that lock
// from debounce and alarm timers (TimeProvider), and signals queue up to be delivered to the sink
// after the lock is released, one at a time and in order. docs/design/doors.md has the rules.

using System.Device.Gpio;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Edge.Hardware.Gpio;

/// <summary>
/// Monitors one door. Create, <see cref="Start"/>, and <see cref="Dispose"/> when done.
/// The monitor opens its pins on <see cref="Start"/> and closes them on <see cref="Dispose"/>; it
/// disposes the controller only when built with <c>shouldDispose: true</c> (dotnet/iot style).
/// Several monitors normally share one controller, which the host owns and disposes after them.
/// Dispose does not end events in progress: the door has not closed, the agent has stopped
/// watching it; on the next start the door's state comes again as <see cref="DoorStateAtStart"/>.
/// </summary>
public sealed class DoorMonitor : IDisposable
{
    /// <summary>How often the inputs are read back, to catch read failures and missed edges.</summary>
    public static readonly TimeSpan DefaultVerifyInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long a chattering input must stay unchanged before its fault ends.</summary>
    public static readonly TimeSpan ChatterQuietPeriod = TimeSpan.FromSeconds(1);

    private readonly GpioController _controller;
    private readonly DoorDefinition _door;
    private readonly TimeProvider _time;
    private readonly TimeZoneInfo _siteZone;
    private readonly IDoorSignalSink _sink;
    private readonly bool _shouldDispose;
    private readonly ILogger _logger;
    private readonly WeeklySchedule? _schedule;
    private readonly TimeSpan _verifyInterval;
    private readonly IReadOnlyList<string> _cameras;

    private readonly object _gate = new();
    private readonly object _deliveryGate = new();
    private readonly Queue<object> _outbox = new();

    private readonly Input _contact;
    private readonly Input? _button;

    private ITimer? _verifyTimer;
    private ITimer? _heldOpenTimer;
    private long _heldOpenGeneration;
    private Opening? _opening;
    private Moment? _lastPress;
    private bool _lastPressUsed;
    private DateTimeOffset? _contactSince;
    private bool _started;
    private bool _disposed;

    /// <param name="controller">Controller with the libgpiod or simulated driver; pins are BCM numbers.</param>
    /// <param name="door">The door; validate the site's list with <see cref="DoorDefinitionValidator"/> first.</param>
    /// <param name="time">Clock and timers (FakeTimeProvider in tests).</param>
    /// <param name="siteZone">Time zone the schedule is written in.</param>
    /// <param name="sink">Receives the signals.</param>
    /// <param name="shouldDispose">Dispose <paramref name="controller"/> with this monitor.</param>
    /// <param name="logger">Where sink failures and pin problems are logged.</param>
    /// <param name="verifyInterval">Read-back interval; <see cref="DefaultVerifyInterval"/> when null.</param>
    /// <exception cref="ArgumentException">The definition lacks what the monitor needs (run the validator for all problems at once).</exception>
    public DoorMonitor(GpioController controller, DoorDefinition door, TimeProvider time, TimeZoneInfo siteZone, IDoorSignalSink sink,
        bool shouldDispose = false, ILogger? logger = null, TimeSpan? verifyInterval = null)
    {
        _controller = controller ?? throw new ArgumentNullException(nameof(controller));
        _door = door ?? throw new ArgumentNullException(nameof(door));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _siteZone = siteZone ?? throw new ArgumentNullException(nameof(siteZone));
        _sink = sink ?? throw new ArgumentNullException(nameof(sink));
        _shouldDispose = shouldDispose;
        _logger = logger ?? NullLogger.Instance;
        _verifyInterval = verifyInterval ?? DefaultVerifyInterval;
        _cameras = door.Cameras?.ToArray() ?? [];

        var problems = DoorDefinitionValidator.ValidateOne(door, $"Door \"{door.Id}\"");
        if (problems.Count > 0)
        {
            throw new ArgumentException($"Door definition is not usable: {string.Join(" ", problems)}", nameof(door));
        }

        if (_verifyInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(verifyInterval), verifyInterval, "The read-back interval must be positive.");
        }

        _schedule = string.IsNullOrWhiteSpace(door.Schedule) ? null : WeeklySchedule.Parse(door.Schedule);
        _contact = new Input(this, "contact input", door.ContactPin, door.ContactPull, ToPinValue(door.ContactClosedLevel!.Value));
        if (door.ExitButtonPin is { } buttonPin)
        {
            _button = new Input(this, "exit button input", buttonPin, door.ExitButtonPull, ToPinValue(door.ExitButtonPressedLevel!.Value));
        }
    }

    public string DoorId => _door.Id;

    /// <summary>
    /// How soon the next pin-driven decision can come: the least time an input's pending change still has to hold
    /// (zero when overdue). Null when no change is being debounced: the next signal is then at least a whole debounce
    /// time away (barring the held-open deadline, a chatter fault ending, or a lost edge found by the read-back).
    /// </summary>
    public TimeSpan? NextDecisionIn
    {
        get
        {
            lock (_gate)
            {
                TimeSpan? soonest = null;
                foreach (var input in Inputs())
                {
                    if (input.Debouncer.PendingFor is { } left && (soonest is null || left < soonest))
                    {
                        soonest = left;
                    }
                }

                return soonest;
            }
        }
    }

    /// <summary>The monitor's current view of the door.</summary>
    public DoorStatus CurrentState
    {
        get
        {
            lock (_gate)
            {
                var faults = new List<string>();
                foreach (var input in Inputs())
                {
                    if (input.ReadFaultKey is not null)
                    {
                        faults.Add($"{input.Describe} cannot be read: {input.ReadFaultReason}");
                    }

                    if (input.Chatter.IsFaulted)
                    {
                        faults.Add($"{input.Describe} is chattering");
                    }
                }

                return new DoorStatus(_door.Id, ContactState(), _contactSince, ButtonState(), _opening?.Key, faults);
            }
        }
    }

    /// <summary>
    /// Opens the pins, reads the door's state, sends <see cref="DoorStateAtStart"/> and, if the door
    /// is open, a door_opened event with <see cref="DoorEventStarted.OpenAtStart"/> set.
    /// </summary>
    /// <exception cref="InvalidOperationException">A pin cannot be opened with its pull mode; the message
    /// says which and what to do. Dispose the monitor then: it releases the pins it did open.</exception>
    public void Start()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started)
            {
                throw new InvalidOperationException($"Door monitor \"{_door.Id}\" is already started; create a new monitor to start again.");
            }

            // Callbacks registered before the first read: an edge between the two is seen either by
            // the read or by the callback, which waits for this lock and then finds nothing new.
            foreach (var input in Inputs())
            {
                input.Open();
            }

            var now = Now();
            var contactRead = _contact.TryRead(out var contactError);
            string? buttonError = null;
            var buttonRead = _button?.TryRead(out buttonError);

            _contact.Debouncer.Reset(contactRead);
            _button?.Debouncer.Reset(buttonRead);
            _contactSince = contactRead is null ? null : now.Wall;

            var state = ContactState();
            var openKey = state == DoorState.Open ? Guid.NewGuid() : (Guid?)null;
            _outbox.Enqueue(new DoorStateAtStart(_door.Id, state, ButtonState(), now.Wall, openKey));

            if (contactRead is null)
            {
                StartReadFault(_contact, now, contactError!);
            }

            if (_button is not null && buttonRead is null)
            {
                StartReadFault(_button, now, buttonError ?? "unknown error");
            }

            if (openKey is { } key)
            {
                StartOpening(now, DoorEventKind.DoorOpened,
                    "door already open when monitoring started; the real opening time and direction are unknown",
                    openAtStart: true, key);
            }

            _verifyTimer = _time.CreateTimer(_ => OnVerifyTimer(), null, _verifyInterval, _verifyInterval);
            _started = true;
        }

        Deliver();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _verifyTimer?.Dispose();
            CancelHeldOpenTimer();
            foreach (var input in Inputs())
            {
                input.Debouncer.Dispose();
                input.Chatter.Dispose();
            }
        }

        // Outside the lock: a libgpiod driver may wait for its event thread, which may be waiting
        // for the lock in OnPinChanged.
        foreach (var input in Inputs())
        {
            input.Close();
        }

        if (_shouldDispose)
        {
            _controller.Dispose();
        }

        Deliver(); // what was decided before disposal still reaches the sink
    }

    private IEnumerable<Input> Inputs() => _button is null ? [_contact] : [_contact, _button];

    private Moment Now() => new(_time.GetUtcNow(), _time.GetTimestamp());

    private DoorState ContactState()
    {
        if (_contact.ReadFaultKey is not null || _contact.Chatter.IsFaulted || _contact.Debouncer.StableLevel is not { } level)
        {
            return DoorState.Unknown;
        }

        return level == _contact.ActiveLevel ? DoorState.Closed : DoorState.Open;
    }

    private ExitButtonState ButtonState()
    {
        if (_button is null)
        {
            return ExitButtonState.NotConfigured;
        }

        if (_button.ReadFaultKey is not null || _button.Chatter.IsFaulted || _button.Debouncer.StableLevel is not { } level)
        {
            return ExitButtonState.Unknown;
        }

        return level == _button.ActiveLevel ? ExitButtonState.Pressed : ExitButtonState.Released;
    }

    // Driver event thread: timestamp and hand over, nothing slow.
    private void OnPinChanged(Input input, PinValueChangedEventArgs e)
    {
        var level = (e.ChangeType & PinEventTypes.Rising) != 0 ? PinValue.High : PinValue.Low;
        lock (_gate)
        {
            if (!_started || _disposed)
            {
                return;
            }

            input.Debouncer.Observe(level, _time.GetUtcNow(), _time.GetTimestamp());
        }

        Deliver();
    }

    // Under _gate (called by the input's debouncer).
    private void OnDebounced(Input input, DebouncedChange change)
    {
        var moment = new Moment(change.ChangedAt, change.ChangedAtTimestamp);
        if (input == _contact)
        {
            _contactSince = change.ChangedAt;
        }

        input.Chatter.Record(moment);
        if (input.IsFaulted)
        {
            return; // tracked, but no door decisions from a faulty input; reconciled when the fault ends
        }

        if (input == _contact)
        {
            OnContactChanged(change, moment);
        }
        else if (change.Level == input.ActiveLevel)
        {
            _lastPress = moment;
            _lastPressUsed = false;
        }
    }

    private void OnContactChanged(DebouncedChange change, Moment moment)
    {
        var open = change.Level != _contact.ActiveLevel;
        if (open && _opening is null)
        {
            if (change.Previous is null)
            {
                StartOpening(moment, DoorEventKind.DoorOpened, "door found open; its contact state was unknown before", openAtStart: false);
                return;
            }

            // A press confirmed by a timer that has not run yet still counts.
            _button?.Debouncer.ConfirmIfDue();
            var (kind, decidedBy) = DecideDirection(moment);
            StartOpening(moment, kind, decidedBy, openAtStart: false);
        }
        else if (!open && _opening is not null)
        {
            EndOpening(moment, "door closed");
        }
    }

    private (DoorEventKind, string) DecideDirection(Moment opened)
    {
        if (_button is null)
        {
            return (DoorEventKind.DoorOpened, "no exit button configured");
        }

        var window = Seconds(_door.ExitWindow);
        if (_button.IsFaulted)
        {
            return (DoorEventKind.Entry, $"{_button.Describe} is faulty, so no press can be trusted; counted as entry");
        }

        if (_lastPress is { } press && press.Timestamp <= opened.Timestamp)
        {
            var before = _time.GetElapsedTime(press.Timestamp, opened.Timestamp);
            if (before > _door.ExitWindow)
            {
                return (DoorEventKind.Entry, $"no exit button press within {window} before opening (last press {Seconds(before)} before)");
            }

            if (_lastPressUsed)
            {
                return (DoorEventKind.Entry, $"no unused exit button press within {window} before opening (the press {Seconds(before)} before was used by the previous opening)");
            }

            // One press lets one opening out; a second opening in the window is someone else.
            _lastPressUsed = true;
            return (DoorEventKind.Exit, $"exit button pressed {Seconds(before)} before opening");
        }

        return (DoorEventKind.Entry, $"no exit button press within {window} before opening");
    }

    private void StartOpening(Moment at, DoorEventKind kind, string decidedBy, bool openAtStart, Guid? key = null)
    {
        var opening = new Opening(key ?? Guid.NewGuid(), kind, at, openAtStart);
        _opening = opening;
        _outbox.Enqueue(new DoorEventStarted(opening.Key, _door.Id, kind, at.Wall, decidedBy, openAtStart, null, _cameras));

        if (_schedule is not null && !_schedule.Contains(at.Wall, _siteZone))
        {
            opening.AfterHoursKey = Guid.NewGuid();
            var local = TimeZoneInfo.ConvertTime(at.Wall, _siteZone);
            var what = openAtStart ? "open when monitoring started" : "opened";
            _outbox.Enqueue(new DoorEventStarted(opening.AfterHoursKey.Value, _door.Id, DoorEventKind.AfterHours, at.Wall,
                $"{what} {local.ToString("ddd yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} ({_siteZone.Id}), outside the schedule \"{_schedule.Text}\"",
                openAtStart, opening.Key, _cameras));
        }

        ArmHeldOpenTimer(opening);
    }

    private void EndOpening(Moment at, string endedBy)
    {
        var opening = _opening!;
        _opening = null;
        CancelHeldOpenTimer();
        _outbox.Enqueue(new DoorEventEnded(opening.Key, _door.Id, opening.Kind, at.Wall, endedBy));
        if (opening.HeldOpenKey is { } held)
        {
            _outbox.Enqueue(new DoorEventEnded(held, _door.Id, DoorEventKind.HeldOpen, at.Wall, endedBy));
        }

        if (opening.AfterHoursKey is { } afterHours)
        {
            _outbox.Enqueue(new DoorEventEnded(afterHours, _door.Id, DoorEventKind.AfterHours, at.Wall, endedBy));
        }
    }

    private void ArmHeldOpenTimer(Opening opening)
    {
        CancelHeldOpenTimer();
        var due = _door.HeldOpenLimit - _time.GetElapsedTime(opening.Start.Timestamp);
        if (due <= TimeSpan.Zero)
        {
            HeldOpenReached(opening);
            return;
        }

        var generation = _heldOpenGeneration;
        _heldOpenTimer = _time.CreateTimer(_ => OnHeldOpenTimer(generation), null, WholeMilliseconds(due), Timeout.InfiniteTimeSpan);
    }

    private void OnHeldOpenTimer(long generation)
    {
        lock (_gate)
        {
            if (_disposed || generation != _heldOpenGeneration || _opening is null)
            {
                return;
            }

            HeldOpenReached(_opening);
        }

        Deliver();
    }

    private void HeldOpenReached(Opening opening)
    {
        if (opening.HeldOpenKey is not null)
        {
            return;
        }

        opening.HeldOpenKey = Guid.NewGuid();
        _outbox.Enqueue(new DoorEventStarted(opening.HeldOpenKey.Value, _door.Id, DoorEventKind.HeldOpen,
            opening.Start.Wall + _door.HeldOpenLimit, $"door open longer than {Seconds(_door.HeldOpenLimit)}",
            opening.OpenAtStart, opening.Key, _cameras));
    }

    private void CancelHeldOpenTimer()
    {
        _heldOpenGeneration++;
        _heldOpenTimer?.Dispose();
        _heldOpenTimer = null;
    }

    // Under _gate.
    private void OnChatterStarted(Input input, Moment start, int count)
    {
        input.ChatterFaultKey = Guid.NewGuid();
        _outbox.Enqueue(new DoorEventStarted(input.ChatterFaultKey.Value, _door.Id, DoorEventKind.InputFault, start.Wall,
            $"{input.Describe} chattering: {count} changes within 1 s after debounce (limit {input.Chatter.Limit} per second)",
            false, null, _cameras));
    }

    // Under _gate.
    private void OnChatterEnded(Input input, Moment lastChange)
    {
        if (input.ChatterFaultKey is { } key)
        {
            _outbox.Enqueue(new DoorEventEnded(key, _door.Id, DoorEventKind.InputFault, lastChange.Wall,
                $"input unchanged for {Seconds(ChatterQuietPeriod)} after its last change"));
            input.ChatterFaultKey = null;
        }

        if (!input.IsFaulted)
        {
            Reconcile(input, lastChange, $"when the {input.Describe} stopped chattering");
        }
    }

    private void OnVerifyTimer()
    {
        lock (_gate)
        {
            if (_disposed || !_started)
            {
                return;
            }

            var now = Now();
            foreach (var input in Inputs())
            {
                Verify(input, now);
            }
        }

        Deliver();
    }

    // Under _gate: read the input back; start or end a read fault, and feed a missed edge.
    private void Verify(Input input, Moment now)
    {
        var level = input.TryRead(out var error);
        if (level is null)
        {
            if (input.ReadFaultKey is null)
            {
                StartReadFault(input, now, error!);
            }

            return;
        }

        if (input.ReadFaultKey is { } key)
        {
            _outbox.Enqueue(new DoorEventEnded(key, _door.Id, DoorEventKind.InputFault, now.Wall, "input readable again"));
            input.ReadFaultKey = null;
            input.ReadFaultReason = null;
            // The level while unreadable is unknown: take the read as the state, without debounce.
            input.Debouncer.Reset(level);
            if (input == _contact)
            {
                _contactSince = now.Wall;
            }

            if (!input.IsFaulted)
            {
                Reconcile(input, now, $"when the {input.Describe} became readable again");
            }

            return;
        }

        if (input.Debouncer.RawLevel != level)
        {
            // An edge the driver did not report (or has not yet): treat the read as the change.
            input.Debouncer.Observe(level.Value, now.Wall, now.Timestamp);
        }
    }

    private void StartReadFault(Input input, Moment at, string error)
    {
        input.ReadFaultKey = Guid.NewGuid();
        input.ReadFaultReason = error;
        _outbox.Enqueue(new DoorEventStarted(input.ReadFaultKey.Value, _door.Id, DoorEventKind.InputFault, at.Wall,
            $"{input.Describe} could not be read: {error}", false, null, _cameras));
    }

    // After a fault: bring the door events in line with the input's state as it is now.
    private void Reconcile(Input input, Moment at, string context)
    {
        if (input != _contact)
        {
            return;
        }

        var state = ContactState();
        if (state == DoorState.Open && _opening is null)
        {
            StartOpening(at, DoorEventKind.DoorOpened, $"door found open {context}; the opening time and direction are uncertain", openAtStart: false);
        }
        else if (state == DoorState.Closed && _opening is not null)
        {
            EndOpening(at, $"door found closed {context}");
        }
    }

    // Sends queued signals after the lock is released. One deliverer at a time keeps the order, and
    // nobody waits for it: a thread that finds another delivering leaves its signals to that one,
    // which looks at the queue again after letting go, so a slow sink never holds up the driver's
    // event thread (whose timestamps must stay prompt).
    private void Deliver()
    {
        if (Monitor.IsEntered(_gate))
        {
            return; // the outer caller delivers once it has left the lock
        }

        while (Monitor.TryEnter(_deliveryGate))
        {
            try
            {
                while (true)
                {
                    object? signal;
                    lock (_gate)
                    {
                        if (!_outbox.TryDequeue(out signal))
                        {
                            break;
                        }
                    }

                    Send(signal);
                }
            }
            finally
            {
                Monitor.Exit(_deliveryGate);
            }

            lock (_gate)
            {
                if (_outbox.Count == 0)
                {
                    return;
                }
            }
        }
    }

    private void Send(object signal)
    {
        try
        {
            switch (signal)
            {
                case DoorStateAtStart s:
                    _sink.StateAtStart(s);
                    break;
                case DoorEventStarted s:
                    _sink.EventStarted(s);
                    break;
                case DoorEventEnded s:
                    _sink.EventEnded(s);
                    break;
            }
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Door {Door}: the signal sink failed on {Signal}; the signal is lost for this sink", _door.Id, signal);
        }
    }

    private static PinValue ToPinValue(PinLevel level) => level == PinLevel.High ? PinValue.High : PinValue.Low;

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";

    // Timers run in whole milliseconds (System.Threading and FakeTimeProvider alike); round up so a
    // timer never fires before its deadline.
    private static TimeSpan WholeMilliseconds(TimeSpan due) => TimeSpan.FromMilliseconds(Math.Max(1, Math.Ceiling(due.TotalMilliseconds)));

    private sealed class Opening(Guid key, DoorEventKind kind, Moment start, bool openAtStart)
    {
        public Guid Key { get; } = key;
        public DoorEventKind Kind { get; } = kind;
        public Moment Start { get; } = start;
        public bool OpenAtStart { get; } = openAtStart;
        public Guid? HeldOpenKey { get; set; }
        public Guid? AfterHoursKey { get; set; }
    }

    private sealed class Input
    {
        private readonly DoorMonitor _owner;
        private readonly PinChangeEventHandler _handler;
        private bool _opened;
        private bool _registered;

        public Input(DoorMonitor owner, string role, int pin, GpioPull pull, PinValue activeLevel)
        {
            _owner = owner;
            Pin = pin;
            Mode = DoorDefinitionValidator.ToPinMode(pull);
            ActiveLevel = activeLevel;
            Describe = $"{role} (BCM {pin})";
            _handler = (_, e) => owner.OnPinChanged(this, e);
            Debouncer = new Debouncer(owner._door.Debounce, owner._time, change => owner.OnDebounced(this, change), owner._gate, owner.Deliver);
            Chatter = new ChatterDetector(owner._door.ChatterLimit, ChatterQuietPeriod, owner._time, owner._gate,
                (start, count) => owner.OnChatterStarted(this, start, count), last => owner.OnChatterEnded(this, last), owner.Deliver);
        }

        public int Pin { get; }
        public PinMode Mode { get; }

        /// <summary>Contact: the closed level. Exit button: the pressed level.</summary>
        public PinValue ActiveLevel { get; }

        public string Describe { get; }
        public Debouncer Debouncer { get; }
        public ChatterDetector Chatter { get; }
        public Guid? ChatterFaultKey { get; set; }
        public Guid? ReadFaultKey { get; set; }
        public string? ReadFaultReason { get; set; }
        public bool IsFaulted => ReadFaultKey is not null || Chatter.IsFaulted;

        public void Open()
        {
            var controller = _owner._controller;
            var door = _owner._door.Id;
            if (!controller.IsPinModeSupported(Pin, Mode))
            {
                throw new InvalidOperationException(
                    $"Door \"{door}\": {Describe} cannot be opened as {Mode}: the GPIO driver does not support that mode on this pin. " +
                    "With libgpiod v1 pull resistors need libgpiod 1.5 or newer; otherwise set the pull to \"none\" and fit an external resistor.");
            }

            try
            {
                controller.OpenPin(Pin, Mode);
                _opened = true;
                controller.RegisterCallbackForPinValueChangedEvent(Pin, PinEventTypes.Rising | PinEventTypes.Falling, _handler);
                _registered = true;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                throw new InvalidOperationException(
                    $"Door \"{door}\": could not open {Describe} as {Mode} with edge events: {ex.GetType().Name}: {ex.Message}. " +
                    $"Check that GPIO {Pin} is not used by another program, an overlay (1-Wire, I2C, SPI, UART) or another door.", ex);
            }
        }

        public void Close()
        {
            var controller = _owner._controller;
            try
            {
                if (_registered)
                {
                    controller.UnregisterCallbackForPinValueChangedEvent(Pin, _handler);
                }

                if (_opened && controller.IsPinOpen(Pin))
                {
                    controller.ClosePin(Pin);
                }
            }
            catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException or IOException)
            {
                // The controller went first (host shutdown order); the pin is released with it.
                _owner._logger.LogDebug(ex, "Door {Door}: closing {Input} failed", _owner._door.Id, Describe);
            }
            finally
            {
                _registered = false;
                _opened = false;
            }
        }

        /// <summary>Reads the level; null and a reason when the driver fails.</summary>
        public PinValue? TryRead(out string? error)
        {
            try
            {
                error = null;
                return _owner._controller.Read(Pin);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                error = $"{ex.GetType().Name}: {ex.Message}";
                return null;
            }
        }
    }
}
