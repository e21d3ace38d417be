namespace Edge.Agent.Storage;

/// <summary>
/// Bytes written per second to each volume over the last ten minutes: the "one hour of recording bandwidth" that a
/// volume's free-space floor holds back, measured rather than configured, since cameras' bitrates vary by scene.
/// </summary>
public sealed class RecordingRate(TimeProvider time)
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(10);
    private readonly Dictionary<string, Queue<(DateTimeOffset At, long Bytes)>> _writes = new();
    private readonly DateTimeOffset _started = time.GetUtcNow();

    public void Note(string volume, long bytes)
    {
        lock (_writes)
        {
            if (!_writes.TryGetValue(volume, out var queue)) _writes[volume] = queue = new();
            queue.Enqueue((time.GetUtcNow(), bytes));
            Trim(queue);
        }
    }

    public double BytesPerSecond(string volume)
    {
        lock (_writes)
        {
            if (!_writes.TryGetValue(volume, out var queue) || queue.Count == 0) return 0;
            Trim(queue);
            var span = time.GetUtcNow() - (_started > time.GetUtcNow() - Window ? _started : time.GetUtcNow() - Window);
            return span <= TimeSpan.Zero ? 0 : queue.Sum(w => w.Bytes) / span.TotalSeconds;
        }
    }

    private void Trim(Queue<(DateTimeOffset At, long Bytes)> queue)
    {
        var cutoff = time.GetUtcNow() - Window;
        while (queue.Count > 0 && queue.Peek().At < cutoff) queue.Dequeue();
    }
}
