// Plays a GpioScenario into a SimulatedGpioDriver on the injected TimeProvider: FakeTimeProvider
// drives it in tests, the system clock in demos. One timer is armed for the next change at a time;
// every change that is due when it fires is applied in order, so a late timer never reorders them.

namespace Edge.Hardware.Gpio;

public sealed class GpioScenarioPlayer : IDisposable
{
    private readonly SimulatedGpioDriver _driver;
    private readonly GpioScenario _scenario;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ITimer? _timer;
    private long _startTimestamp;
    private int _next;
    private long _pass;
    private bool _started;
    private bool _disposed;

    public GpioScenarioPlayer(SimulatedGpioDriver driver, GpioScenario scenario, TimeProvider time)
    {
        _driver = driver ?? throw new ArgumentNullException(nameof(driver));
        _scenario = scenario ?? throw new ArgumentNullException(nameof(scenario));
        _time = time ?? throw new ArgumentNullException(nameof(time));
    }

    /// <summary>Completes when a scenario without "loop" has applied its last change, or on dispose.</summary>
    public Task Completion => _completed.Task;

    /// <summary>Number of changes applied so far (all passes).</summary>
    public long Applied { get; private set; }

    /// <summary>
    /// Drives the initial levels now and starts the timeline from now. Start the player before the
    /// door monitors, so they read the initial levels rather than the pull defaults.
    /// </summary>
    public void Start()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started)
            {
                throw new InvalidOperationException("The scenario player is already started; create a new player to replay.");
            }

            _started = true;
            foreach (var (pin, level) in _scenario.Initial)
            {
                _driver.SetInputLevel(pin, level);
            }

            _startTimestamp = _time.GetTimestamp();
            ApplyDueAndArm();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _timer?.Dispose();
            _timer = null;
        }

        _completed.TrySetResult();
    }

    private void OnTimer(object? _)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            ApplyDueAndArm();
        }
    }

    // Under _gate.
    private void ApplyDueAndArm()
    {
        var changes = _scenario.Changes;
        while (true)
        {
            if (_next >= changes.Count)
            {
                if (!_scenario.Loop || changes.Count == 0)
                {
                    _timer?.Dispose();
                    _timer = null;
                    _completed.TrySetResult();
                    return;
                }

                _next = 0;
                _pass++;
            }

            var due = _scenario.Length * _pass + changes[_next].At;
            var elapsed = _time.GetElapsedTime(_startTimestamp);
            if (due > elapsed)
            {
                var wait = TimeSpan.FromMilliseconds(Math.Max(1, Math.Ceiling((due - elapsed).TotalMilliseconds)));
                _timer?.Dispose();
                _timer = _time.CreateTimer(OnTimer, null, wait, Timeout.InfiniteTimeSpan);
                return;
            }

            Apply(changes[_next]);
            _next++;
            Applied++;
        }
    }

    private void Apply(GpioScenarioChange change)
    {
        switch (change.Action)
        {
            case GpioScenarioAction.SetLevel:
                _driver.SetInputLevel(change.Pin, change.Level);
                break;
            case GpioScenarioAction.FailReads:
                _driver.FailReads(change.Pin, $"read failure from scenario step {change.Step}");
                break;
            case GpioScenarioAction.RestoreReads:
                _driver.RestoreReads(change.Pin);
                break;
        }
    }
}
