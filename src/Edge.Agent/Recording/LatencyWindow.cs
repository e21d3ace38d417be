namespace Edge.Agent.Recording;

/// <summary>The last N latencies, for percentiles in `edge status`: bounded, so it never grows with uptime.</summary>
public sealed class LatencyWindow(int capacity)
{
    private readonly double[] _milliseconds = new double[capacity];
    private long _count;

    public void Add(TimeSpan latency)
    {
        lock (_milliseconds) _milliseconds[_count++ % capacity] = latency.TotalMilliseconds;
    }

    public sealed record Summary(long Count, double P50Milliseconds, double P99Milliseconds, double MaxMilliseconds);

    public Summary Summarise()
    {
        double[] sorted;
        long count;
        lock (_milliseconds)
        {
            count = _count;
            sorted = _milliseconds.Take((int)Math.Min(_count, capacity)).Order().ToArray();
        }
        if (sorted.Length == 0) return new Summary(0, 0, 0, 0);
        double At(double q) => sorted[(int)Math.Min(sorted.Length - 1, Math.Ceiling(q * sorted.Length) - 1)];
        return new Summary(count, At(0.50), At(0.99), sorted[^1]);
    }
}
