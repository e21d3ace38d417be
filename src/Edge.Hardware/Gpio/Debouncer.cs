// Debounce for one digital input on TimeProvider timers. A level change counts only once the new
// level has held for StableFor; bounces that return to the stable level make nothing. A confirmed
// change reports the moment the level changed to the state that then held (not the moment the
// debounce confirmed it), with a monotonic timestamp beside the wall time so interval decisions
// survive wall-clock steps.

using System.Device.Gpio;

namespace Edge.Hardware.Gpio;

/// <summary>A debounced level change.</summary>
/// <param name="Level">The level that held.</param>
/// <param name="Previous">The stable level before it (null when it was unknown).</param>
/// <param name="ChangedAt">Wall time the level changed to <paramref name="Level"/>.</param>
/// <param name="ChangedAtTimestamp"><see cref="TimeProvider.GetTimestamp"/> at that moment.</param>
public readonly record struct DebouncedChange(PinValue Level, PinValue? Previous, DateTimeOffset ChangedAt, long ChangedAtTimestamp);

/// <summary>
/// Debounces one input. Thread-safe: every member and the timer callback take <c>gate</c>
/// (shared with the owner so the owner's state and the debouncer's change together);
/// <c>onChange</c> runs while <c>gate</c> is held.
/// </summary>
public sealed class Debouncer : IDisposable
{
    private readonly TimeProvider _time;
    private readonly Action<DebouncedChange> _onChange;
    private readonly Action? _afterTimerCallback;
    private readonly object _gate;
    private ITimer? _timer;
    private long _generation;
    private DateTimeOffset _rawSince;
    private long _rawSinceTimestamp;
    private bool _disposed;

    /// <param name="stableFor">How long a new level must hold (zero: every change counts at once).</param>
    /// <param name="time">Clock and timers.</param>
    /// <param name="onChange">Called with each confirmed change, under <paramref name="gate"/>.</param>
    /// <param name="gate">Lock shared with the owner; a private one when null.</param>
    /// <param name="afterTimerCallback">Called after a timer-driven confirmation, outside the lock
    /// (lets the owner deliver what <paramref name="onChange"/> queued).</param>
    public Debouncer(TimeSpan stableFor, TimeProvider time, Action<DebouncedChange> onChange, object? gate = null, Action? afterTimerCallback = null)
    {
        if (stableFor < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(stableFor), stableFor, "Debounce time cannot be negative.");
        }

        StableFor = stableFor;
        _time = time;
        _onChange = onChange;
        _gate = gate ?? new object();
        _afterTimerCallback = afterTimerCallback;
    }

    public TimeSpan StableFor { get; }

    /// <summary>The debounced level; null while unknown.</summary>
    public PinValue? StableLevel { get; private set; }

    /// <summary>The last level observed, debounced or not.</summary>
    public PinValue? RawLevel { get; private set; }

    /// <summary>A change has been observed and is waiting to hold for <see cref="StableFor"/>.</summary>
    public bool HasPendingChange
    {
        get
        {
            lock (_gate)
            {
                return RawLevel is not null && RawLevel != StableLevel;
            }
        }
    }

    /// <summary>How long until the pending change is confirmed if the level holds (zero when overdue); null when none is pending.</summary>
    public TimeSpan? PendingFor
    {
        get
        {
            lock (_gate)
            {
                if (RawLevel is null || RawLevel == StableLevel)
                {
                    return null;
                }

                var left = StableFor - _time.GetElapsedTime(_rawSinceTimestamp);
                return left > TimeSpan.Zero ? left : TimeSpan.Zero;
            }
        }
    }

    /// <summary>Sets the stable level without reporting a change (initial read, recovery); drops a pending change.</summary>
    public void Reset(PinValue? level)
    {
        lock (_gate)
        {
            StableLevel = level;
            RawLevel = level;
            CancelTimer();
        }
    }

    /// <summary>Records the level seen now.</summary>
    public void Observe(PinValue level) => Observe(level, _time.GetUtcNow(), _time.GetTimestamp());

    /// <summary>Records a level seen at the given moment.</summary>
    public void Observe(PinValue level, DateTimeOffset at, long timestamp)
    {
        lock (_gate)
        {
            if (_disposed || RawLevel == level)
            {
                return;
            }

            RawLevel = level;
            _rawSince = at;
            _rawSinceTimestamp = timestamp;
            CancelTimer();
            if (StableLevel == level)
            {
                return; // a bounce back to the stable level: nothing happened
            }

            var remaining = StableFor - _time.GetElapsedTime(timestamp);
            if (remaining <= TimeSpan.Zero)
            {
                Confirm();
                return;
            }

            // A new timer per arming, tagged with its generation, so a callback already queued
            // for an earlier arming cannot confirm a later change early.
            var generation = _generation;
            _timer = _time.CreateTimer(OnTimer, generation, remaining, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// Confirms a pending change whose level has already held long enough, even if its timer has
    /// not run yet (timers of different inputs may run out of order on the thread pool).
    /// </summary>
    /// <returns>True when a change was confirmed.</returns>
    public bool ConfirmIfDue()
    {
        lock (_gate)
        {
            if (_disposed || RawLevel is null || RawLevel == StableLevel || _time.GetElapsedTime(_rawSinceTimestamp) < StableFor)
            {
                return false;
            }

            Confirm();
            return true;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            CancelTimer();
        }
    }

    private void OnTimer(object? state)
    {
        lock (_gate)
        {
            if (_disposed || (long)state! != _generation || RawLevel is null || RawLevel == StableLevel)
            {
                return;
            }

            Confirm();
        }

        _afterTimerCallback?.Invoke();
    }

    // Under _gate.
    private void Confirm()
    {
        CancelTimer();
        var previous = StableLevel;
        StableLevel = RawLevel;
        _onChange(new DebouncedChange(RawLevel!.Value, previous, _rawSince, _rawSinceTimestamp));
    }

    // Under _gate.
    private void CancelTimer()
    {
        _generation++;
        _timer?.Dispose();
        _timer = null;
    }
}
