// Debouncer on FakeTimeProvider: what counts as a change and which time it reports.

using System.Device.Gpio;
using Edge.Hardware.Gpio;
using Microsoft.Extensions.Time.Testing;

namespace Edge.Tests.Hardware;

public class Debouncer_Tests
{
    private readonly FakeTimeProvider _time = new();
    private readonly List<DebouncedChange> _changes = [];
    private readonly DateTimeOffset _t0;

    public Debouncer_Tests() => _t0 = _time.GetUtcNow();

    private Debouncer Create(int stableMs = 50)
    {
        var debouncer = new Debouncer(TimeSpan.FromMilliseconds(stableMs), _time, _changes.Add);
        debouncer.Reset(PinValue.Low);
        return debouncer;
    }

    private void At(int ms) => _time.SetUtcNow(_t0 + TimeSpan.FromMilliseconds(ms));

    [Fact]
    public void Change_that_holds_is_reported_with_the_time_the_level_changed_not_the_time_it_was_confirmed()
    {
        using var debouncer = Create();

        At(100);
        debouncer.Observe(PinValue.High);
        At(149);
        Assert.Empty(_changes);
        At(150);

        var change = Assert.Single(_changes);
        Assert.Equal(PinValue.High, change.Level);
        Assert.Equal(PinValue.Low, change.Previous);
        Assert.Equal(_t0.AddMilliseconds(100), change.ChangedAt);
        Assert.Equal(PinValue.High, debouncer.StableLevel);
    }

    [Fact]
    public void Burst_of_transitions_is_reported_once_from_the_last_transition_to_the_level_that_held()
    {
        using var debouncer = Create();

        foreach (var (ms, level) in new[] { (100, PinValue.High), (102, PinValue.Low), (105, PinValue.High), (107, PinValue.Low), (110, PinValue.High) })
        {
            At(ms);
            debouncer.Observe(level);
        }

        At(1000);

        var change = Assert.Single(_changes);
        Assert.Equal(_t0.AddMilliseconds(110), change.ChangedAt);
    }

    [Fact]
    public void Transitions_that_return_to_the_stable_level_report_nothing()
    {
        using var debouncer = Create();

        At(100);
        debouncer.Observe(PinValue.High);
        At(140);
        debouncer.Observe(PinValue.Low);
        At(1000);

        Assert.Empty(_changes);
        Assert.False(debouncer.HasPendingChange);
    }

    [Fact]
    public void Repeated_observation_of_the_same_level_does_not_restart_the_wait()
    {
        using var debouncer = Create();

        At(100);
        debouncer.Observe(PinValue.High);
        At(130);
        debouncer.Observe(PinValue.High);
        At(150);

        Assert.Equal(_t0.AddMilliseconds(100), Assert.Single(_changes).ChangedAt);
    }

    [Fact]
    public void Zero_debounce_reports_every_change_at_once()
    {
        using var debouncer = Create(stableMs: 0);

        At(100);
        debouncer.Observe(PinValue.High);

        Assert.Equal(_t0.AddMilliseconds(100), Assert.Single(_changes).ChangedAt);
    }

    [Fact]
    public void Pending_change_that_has_held_long_enough_can_be_confirmed_before_its_timer_runs()
    {
        // Timers that never run, as when another input's timer is served first on the thread pool.
        var clock = new ClockWithStalledTimers(_time);
        using var debouncer = new Debouncer(TimeSpan.FromMilliseconds(50), clock, _changes.Add);
        debouncer.Reset(PinValue.Low);
        At(100);
        debouncer.Observe(PinValue.High);

        At(149);
        Assert.False(debouncer.ConfirmIfDue());
        At(150);
        Assert.True(debouncer.ConfirmIfDue());
        Assert.False(debouncer.ConfirmIfDue());

        Assert.Equal(_t0.AddMilliseconds(100), Assert.Single(_changes).ChangedAt);
    }

    [Fact]
    public void Disposed_debouncer_reports_nothing()
    {
        var debouncer = Create();
        At(100);
        debouncer.Observe(PinValue.High);

        debouncer.Dispose();
        At(1000);

        Assert.Empty(_changes);
    }

    [Fact]
    public void Negative_debounce_time_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Debouncer(TimeSpan.FromMilliseconds(-1), _time, _ => { }));
    }
}

/// <summary>The fake clock's time, with timers that never fire.</summary>
internal sealed class ClockWithStalledTimers(TimeProvider clock) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => clock.GetUtcNow();

    public override long GetTimestamp() => clock.GetTimestamp();

    public override long TimestampFrequency => clock.TimestampFrequency;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new StalledTimer();

    private sealed class StalledTimer : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => true;

        public void Dispose()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
