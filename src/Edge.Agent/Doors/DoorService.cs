// Doors in the agent: opens the GPIO controller (libgpiod on a Pi, or the simulated driver with an optional
// scenario), runs one DoorMonitor per configured door, and turns their signals into durable events, audit records
// and flags, committed together: an event is in the index and the audit trail before anything acts on it.
// Signals are handled by a single consumer, so the index sees them in the order the doors gave them.
//
// After a crash, an opening can be open in the index while the door is still open (the monitor then reports the
// door open at start: the index's event is continued, not doubled) or already closed (the index's event is closed
// at start-up, at the time the closed door was seen). See docs/design/doors.md.
using System.Device.Gpio;
using System.Threading.Channels;
using Edge.Agent.Configuration;
using Edge.Agent.Flags;
using Edge.Agent.Index;
using Edge.Hardware.Gpio;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Agent.Doors;

public sealed class DoorService : BackgroundService, IDoorSignalSink
{
    /// <summary>Kinds whose footage is flagged (an input fault says nothing about who was at the door).</summary>
    public static readonly IReadOnlySet<string> FlaggedKinds = new HashSet<string> { "entry", "exit", "door_opened", "after_hours", "held_open" };
    // A bound on one group commit, so a flood of signals (a chattering input) still reaches the disk in steps.
    private const int MaxSignalsPerCommit = 64;
    // Half of LiteDB's own checkpoint size (1000 pages): while doors are busy the between-signals checkpoint comes first.
    private const long QuietCheckpointPages = 500;
    // A checkpoint starts only if no door decision can come sooner than this: a 500-page checkpoint took about
    // 20-30 ms on the dev VM (scripts/bench doors), well inside the 50 ms default debounce.
    private static readonly TimeSpan CheckpointRoom = TimeSpan.FromMilliseconds(30);
    private static readonly IReadOnlySet<string> OpeningKinds = new HashSet<string> { "entry", "exit", "door_opened" };

    private readonly EdgeSettings _settings;
    private readonly EdgeIndex _index;
    private readonly Flagger _flagger;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggers;
    private readonly Channel<object> _signals = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<Guid, long> _eventIds = new();
    private readonly HashSet<Guid> _continuedFromIndex = new();
    private readonly List<DoorMonitor> _monitors = new();
    private GpioController? _controller;
    private GpioScenarioPlayer? _scenario;

    public DoorService(EdgeSettings settings, EdgeIndex index, Flagger flagger, TimeProvider time, ILoggerFactory loggers)
    {
        _settings = settings;
        _index = index;
        _flagger = flagger;
        _time = time;
        _loggers = loggers;
        _logger = loggers.CreateLogger("Edge.Doors");
    }

    /// <summary>The simulated driver when gpio.driver is "simulated": tests and the demo drive pins through it.</summary>
    public SimulatedGpioDriver? SimulatedDriver { get; private set; }

    public IReadOnlyList<DoorStatus> States => _monitors.Select(m => m.CurrentState).ToList();

    /// <summary>Raised after an event (started or ended), its audit record and its flag, if any, are durable in the index.</summary>
    public event Action<EventRecord, FlagRecord?>? EventRecorded;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (_settings.Doors.Count > 0)
        {
            SimulatedDriver = _settings.Gpio.Driver == GpioDriverKind.Simulated ? new SimulatedGpioDriver() : null;
            _controller = GpioControllerFactory.Create(_settings.Gpio.Driver,
                new GpioControllerOptions { ChipLabel = _settings.Gpio.ChipLabel, SimulatedDriver = SimulatedDriver }, out var description);
            _logger.LogInformation("GPIO: {Driver}", description);
            if (SimulatedDriver is not null && _settings.Gpio.ScenarioFile is { } file)
            {
                // The scenario sets the pins' initial levels, so it starts before the monitors read them.
                _scenario = new GpioScenarioPlayer(SimulatedDriver, GpioScenario.Load(file), _time);
                _scenario.Start();
            }
            foreach (var door in _settings.Doors)
            {
                var monitor = new DoorMonitor(_controller, door, _time, _settings.TimeZone, this, shouldDispose: false,
                    _loggers.CreateLogger("Edge.Door." + door.Id));
                _monitors.Add(monitor);
                monitor.Start();
            }
        }
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _scenario?.Dispose();
        foreach (var monitor in _monitors) monitor.Dispose();
        _signals.Writer.TryComplete();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        _controller?.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Not cancelled by stoppingToken: signals already given are recorded before the agent stops.
        var reader = _signals.Reader;
        var batch = new List<object>();
        while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            // Group commit: every signal waiting now (several doors at once, an opening and its held_open) is written
            // and then made durable by one wait, so a burst costs one log fsync instead of one per record.
            batch.Clear();
            while (batch.Count < MaxSignalsPerCommit && reader.TryRead(out var signal))
                batch.Add(signal);
            List<(EventRecord, FlagRecord?)> recorded;
            try
            {
                recorded = _index.Durably(() => Record(batch));
            }
            catch (Exception e) when (IsIndexFailure(e))
            {
                // Written but not known durable: nobody is told; the next wait or the restart's reconcile settles them.
                _logger.LogError(e, "door signals {Signals} could not be made durable", string.Join(", ", batch));
                continue;
            }
            foreach (var (record, flag) in recorded)
                EventRecorded?.Invoke(record, flag);
            CheckpointBetweenSignals(reader);
        }
    }

    /// <summary>
    /// A checkpoint holds every index writer for its length (tens of milliseconds: ~1000 pages copied and fsynced).
    /// LiteDB starts one inside whichever commit takes the log past 1000 pages, and while doors are busy that is
    /// mostly a door burst's (measured: +50-60 ms on 1.5-2.5 % of door events, all of the p99 beyond the debounce on
    /// an idle machine). Here it runs earlier, when nothing is queued and no pending pin change can be confirmed
    /// within <see cref="CheckpointRoom"/>: a pin change is known a debounce time before its signal, so the next door
    /// signal finds the checkpoint done.
    /// </summary>
    private void CheckpointBetweenSignals(ChannelReader<object> reader)
    {
        if (reader.TryPeek(out _) || _monitors.Any(m => m.NextDecisionIn < CheckpointRoom)) return;
        try
        {
            _index.CheckpointIfLogOver(QuietCheckpointPages);
        }
        catch (Exception e) when (IsIndexFailure(e))
        {
            _logger.LogWarning(e, "index checkpoint after door events failed; LiteDB checkpoints by itself later");
        }
    }

    private static bool IsIndexFailure(Exception e) => e is IOException or LiteDB.LiteException or IndexException;

    /// <summary>
    /// Writes a burst of signals as one index transaction: the events, their audit records and flags reach the log
    /// together, sharing pages (a door event alone used to be three commits). If any write fails the transaction is
    /// rolled back and each signal is written again in a transaction of its own, so one bad signal costs only itself.
    /// </summary>
    private List<(EventRecord, FlagRecord?)> Record(List<object> batch)
    {
        var saved = SaveState();
        try
        {
            return _index.Atomically(() => batch.SelectMany(Handle).ToList());
        }
        catch (Exception e) when (IsIndexFailure(e))
        {
            RestoreState(saved);
            if (batch.Count == 1)
            {
                _logger.LogError(e, "door signal {Signal} could not be recorded", batch[0]);
                return [];
            }
            _logger.LogWarning(e, "a burst of {Count} door signals could not be recorded together; recording them one by one", batch.Count);
        }
        var recorded = new List<(EventRecord, FlagRecord?)>();
        foreach (var signal in batch)
        {
            saved = SaveState();
            try
            {
                recorded.AddRange(_index.Atomically(() => Handle(signal)));
            }
            catch (Exception e) when (IsIndexFailure(e))
            {
                RestoreState(saved);
                _logger.LogError(e, "door signal {Signal} could not be recorded", signal);
            }
        }
        return recorded;
    }

    private List<(EventRecord, FlagRecord?)> Handle(object signal) => signal switch
    {
        DoorStateAtStart s => OnStateAtStart(s),
        DoorEventStarted s => OnStarted(s),
        DoorEventEnded s => OnEnded(s),
        _ => [],
    };

    // What the handlers change besides the index (small: the events open now); restored when their transaction rolls back.
    private (Dictionary<Guid, long>, HashSet<Guid>) SaveState() => (new(_eventIds), new(_continuedFromIndex));

    private void RestoreState((Dictionary<Guid, long> EventIds, HashSet<Guid> Continued) saved)
    {
        _eventIds.Clear();
        foreach (var (key, id) in saved.EventIds) _eventIds[key] = id;
        _continuedFromIndex.Clear();
        _continuedFromIndex.UnionWith(saved.Continued);
    }

    // IDoorSignalSink: called by the monitors on their threads; only queue.
    void IDoorSignalSink.StateAtStart(DoorStateAtStart signal) => _signals.Writer.TryWrite(signal);
    void IDoorSignalSink.EventStarted(DoorEventStarted signal) => _signals.Writer.TryWrite(signal);
    void IDoorSignalSink.EventEnded(DoorEventEnded signal) => _signals.Writer.TryWrite(signal);

    private List<(EventRecord, FlagRecord?)> OnStateAtStart(DoorStateAtStart s)
    {
        var recorded = new List<(EventRecord, FlagRecord?)>();
        var open = _index.OpenDoorEvents(s.Door);
        if (open.Count == 0) return recorded;
        if (s.Contact == DoorState.Open && s.OpenEventKey is { } key && open.FirstOrDefault(e => OpeningKinds.Contains(e.Kind)) is { } opening)
        {
            _eventIds[key] = opening.Id;
            _continuedFromIndex.Add(key);
            _logger.LogInformation("door {Door}: open at start-up; continuing event {Id} ({Kind}) from before the restart", s.Door, opening.Id, opening.Kind);
            return recorded;
        }
        if (s.Contact != DoorState.Closed) return recorded; // unreadable: leave the events open until the door is seen
        foreach (var e in open)
        {
            e.EndUtc = s.At.UtcDateTime;
            e.Detail = (e.Detail is null ? "" : e.Detail + "; ") + "end is when the agent found the door closed after a restart";
            _index.UpdateEvent(e);
            Audit("door_event_end", e);
            recorded.Add((e, FlagFor(e)));
        }
        return recorded;
    }

    private List<(EventRecord, FlagRecord?)> OnStarted(DoorEventStarted s)
    {
        var kind = s.Kind.ToWireName();
        if (_continuedFromIndex.Contains(s.Key)) return [];
        if (s.OpeningKey is { } opening && _continuedFromIndex.Contains(opening)
            && _index.OpenDoorEvents(s.Door).FirstOrDefault(e => e.Kind == kind) is { } existing)
        {
            _eventIds[s.Key] = existing.Id; // a held_open or after_hours of the continued opening, already recorded
            return [];
        }
        var record = new EventRecord
        {
            Kind = kind,
            Door = s.Door,
            Cameras = s.Cameras.ToList(),
            StartUtc = s.Start.UtcDateTime,
            DecidedBy = s.DecidedBy,
            Detail = s.OpenAtStart ? "the door was already open when monitoring started" : null,
        };
        record.Id = _index.AddEvent(record);
        _eventIds[s.Key] = record.Id;
        Audit("door_event", record);
        return [(record, null)];
    }

    private List<(EventRecord, FlagRecord?)> OnEnded(DoorEventEnded s)
    {
        if (!_eventIds.Remove(s.Key, out var id) || _index.GetEvent(id) is not { } record)
        {
            _logger.LogWarning("door {Door}: end of an unknown {Kind} event; ignored", s.Door, s.Kind.ToWireName());
            return [];
        }
        _continuedFromIndex.Remove(s.Key);
        record.EndUtc = s.End.UtcDateTime;
        if (!string.IsNullOrEmpty(s.EndedBy)) record.Detail = (record.Detail is null ? "" : record.Detail + "; ") + "ended: " + s.EndedBy;
        _index.UpdateEvent(record);
        Audit("door_event_end", record);
        return [(record, FlagFor(record))];
    }

    /// <summary>Flags the door's cameras from pre-roll before the opening to post-roll after the close.</summary>
    private FlagRecord? FlagFor(EventRecord e)
    {
        if (!FlaggedKinds.Contains(e.Kind) || e.Cameras.Count == 0 || e.EndUtc is not { } end) return null;
        var flags = _settings.Raw.Flags;
        // A wall clock stepped back while the door was open (NTP correcting a clock that ran ahead) puts the close
        // before the opening: the flag then covers both instants rather than refusing an "end before start" window.
        var (first, last) = end >= e.StartUtc ? (e.StartUtc, end) : (end, e.StartUtc);
        var from = first - flags.PreRoll;
        var to = last + flags.PostRoll;
        if (to <= from) to = from.AddMilliseconds(1); // no pre- or post-roll and an instant: flag the instant
        return _flagger.Flag(e.Cameras, from, to, $"door {e.Door}: {e.Kind}", e.Id, "door monitor");
    }

    private void Audit(string action, EventRecord e) => _index.Audit(new AuditRecord
    {
        AtUtc = _time.GetUtcNow().UtcDateTime,
        Action = action,
        User = "edge (door monitor)",
        Detail = $"event {e.Id} {e.Kind} door {e.Door} from {e.StartUtc:O}{(e.EndUtc is { } end ? $" to {end:O}" : "")}: {e.DecidedBy}",
    });
}
