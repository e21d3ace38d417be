// The clip bandwidth cap (sync.clipBandwidthKbps): a token bucket on the injected clock. The bucket holds at most
// one second of tokens (or one chunk, if larger), so a pause is not followed by a burst longer than a second.
namespace Edge.Sync;

public sealed class TokenBucket
{
    private readonly TimeProvider _time;
    private readonly double _bytesPerSecond;
    private readonly double _capacity;
    private double _tokens;
    private long _last;

    /// <param name="kbps">kbit/s; 0 means no cap.</param>
    public TokenBucket(int kbps, int largestTake, TimeProvider time)
    {
        _time = time;
        _bytesPerSecond = kbps * 1000.0 / 8;
        _capacity = Math.Max(_bytesPerSecond, largestTake);
        _tokens = 0;
        _last = time.GetTimestamp();
    }

    public bool Unlimited => _bytesPerSecond <= 0;

    /// <summary>Waits until <paramref name="bytes"/> may be sent, then takes them.</summary>
    public async Task TakeAsync(int bytes, CancellationToken ct)
    {
        if (Unlimited) return;
        while (true)
        {
            Refill();
            if (_tokens >= bytes)
            {
                _tokens -= bytes;
                return;
            }
            var wait = TimeSpan.FromSeconds((bytes - _tokens) / _bytesPerSecond);
            await Task.Delay(wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait, _time, ct).ConfigureAwait(false);
        }
    }

    private void Refill()
    {
        var now = _time.GetTimestamp();
        _tokens = Math.Min(_capacity, _tokens + _time.GetElapsedTime(_last, now).TotalSeconds * _bytesPerSecond);
        _last = now;
    }
}
