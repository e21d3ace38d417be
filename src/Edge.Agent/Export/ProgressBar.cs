// A one-line progress bar on stderr for long operations. Only when stderr is a terminal: scripts, pipes, logs and
// the tests' captured writers get nothing, and stdout is never touched (it carries --json).
namespace Edge.Agent.Export;

public sealed class ProgressBar(TextWriter? terminal, long total, TimeProvider time)
{
    private const int Width = 30;
    private static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(200);
    private long _done;
    private DateTimeOffset _lastDrawn = DateTimeOffset.MinValue;
    private int _lastLength;

    /// <summary>stderr when it is the process's own and a terminal; null (no bar) otherwise.</summary>
    public static TextWriter? TerminalOrNull(TextWriter err) =>
        ReferenceEquals(err, Console.Error) && !Console.IsErrorRedirected ? err : null;

    public void Advance(long amount, string what) => Report(_done + amount, what);

    public void Report(long done, string what)
    {
        _done = Math.Clamp(done, 0, Math.Max(total, 1));
        if (terminal is null) return;
        var now = time.GetUtcNow();
        if (now - _lastDrawn < MinInterval && _done < total) return;
        _lastDrawn = now;
        var fraction = total <= 0 ? 1.0 : (double)_done / total;
        var filled = (int)Math.Round(fraction * Width);
        var line = $"[{new string('#', filled)}{new string('.', Width - filled)}] {fraction * 100,3:0}% {what}";
        if (line.Length > 100) line = line[..100];
        terminal.Write("\r" + line + new string(' ', Math.Max(0, _lastLength - line.Length)));
        terminal.Flush();
        _lastLength = line.Length;
    }

    /// <summary>Clears the bar so the next message starts on a clean line.</summary>
    public void Finish()
    {
        if (terminal is null || _lastLength == 0) return;
        terminal.Write("\r" + new string(' ', _lastLength) + "\r");
        terminal.Flush();
        _lastLength = 0;
    }
}
