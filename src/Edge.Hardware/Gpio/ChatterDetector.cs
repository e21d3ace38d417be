// Chatter detection for one input: counts debounced changes in a sliding one-second window. More
// than the limit makes the input faulty from the first change in that window; the fault ends once
// the input has stayed unchanged for the quiet period, at the moment of its last change.

namespace Edge.Hardware.Gpio;

/// <summary>A point in time: wall clock for reports, monotonic timestamp for intervals.</summary>
internal readonly record struct Moment(DateTimeOffset Wall, long Timestamp);

internal sealed class ChatterDetector : IDisposable
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(1);

    private readonly int _limit;
    private readonly TimeSpan _quietPeriod;
    private readonly TimeProvider _time;
    private readonly object _gate;
    private readonly Action<Moment, int> _onFaultStarted;
    private readonly Action<Moment> _onFaultEnded;
    private readonly Action? _afterTimerCallback;
    private readonly Queue<Moment> _recent = new();
    private ITimer? _quietTimer;
    private long _generation;
    private Moment _lastChange;
    private bool _disposed;

    /// <param name="limit">Changes per second allowed; one more makes a fault.</param>
    /// <param name="quietPeriod">How long the input must stay unchanged to end the fault.</param>
    /// <param name="onFaultStarted">Start of the fault (first change in the window) and the count seen; under the gate.</param>
    /// <param name="onFaultEnded">Last change before the input went quiet; under the gate.</param>
    public ChatterDetector(int limit, TimeSpan quietPeriod, TimeProvider time, object gate,
        Action<Moment, int> onFaultStarted, Action<Moment> onFaultEnded, Action? afterTimerCallback)
    {
        _limit = limit;
        _quietPeriod = quietPeriod;
        _time = time;
        _gate = gate;
        _onFaultStarted = onFaultStarted;
        _onFaultEnded = onFaultEnded;
        _afterTimerCallback = afterTimerCallback;
    }

    public int Limit => _limit;

    public bool IsFaulted { get; private set; }

    /// <summary>Records a debounced change. Call under the gate.</summary>
    public void Record(Moment change)
    {
        if (_disposed)
        {
            return;
        }

        _recent.Enqueue(change);
        while (_recent.Count > 0 && _time.GetElapsedTime(_recent.Peek().Timestamp, change.Timestamp) >= Window)
        {
            _recent.Dequeue();
        }

        if (!IsFaulted && _recent.Count > _limit)
        {
            IsFaulted = true;
            _onFaultStarted(_recent.Peek(), _recent.Count);
        }

        if (IsFaulted)
        {
            _lastChange = change;
            ArmQuietTimer(change);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _generation++;
        _quietTimer?.Dispose();
        _quietTimer = null;
    }

    private void ArmQuietTimer(Moment change)
    {
        _generation++;
        _quietTimer?.Dispose();
        var due = _quietPeriod - _time.GetElapsedTime(change.Timestamp);
        if (due < TimeSpan.Zero)
        {
            due = TimeSpan.Zero;
        }

        _quietTimer = _time.CreateTimer(OnQuiet, _generation, due, Timeout.InfiniteTimeSpan);
    }

    private void OnQuiet(object? state)
    {
        lock (_gate)
        {
            if (_disposed || (long)state! != _generation || !IsFaulted)
            {
                return;
            }

            IsFaulted = false;
            _recent.Clear();
            _quietTimer?.Dispose();
            _quietTimer = null;
            _onFaultEnded(_lastChange);
        }

        _afterTimerCallback?.Invoke();
    }
}
