namespace Edge.Hardware.Cameras;

/// <summary>Restart delays for a failing camera: 1 s doubling to 60 s, back to 1 s once a run has been healthy for a minute.</summary>
public sealed class RestartBackoff
{
    public static readonly TimeSpan HealthyRunResetsAfter = TimeSpan.FromMinutes(1);

    private readonly TimeSpan _initial;
    private readonly TimeSpan _maximum;
    private TimeSpan _next;

    public RestartBackoff(TimeSpan initial, TimeSpan maximum)
    {
        _initial = initial;
        _maximum = maximum;
        _next = initial;
    }

    public TimeSpan Next()
    {
        var delay = _next;
        _next = TimeSpan.FromTicks(Math.Min(_maximum.Ticks, _next.Ticks * 2));
        return delay;
    }

    public void Reset() => _next = _initial;
}
