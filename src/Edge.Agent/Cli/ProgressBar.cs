// A one-line progress bar on stderr for long runs in a terminal (stdout stays clean for --json). It appears only
// once the run has lasted a moment, redraws a few times a second at most, and erases itself at the end.
namespace Edge.Agent.Cli;

public sealed class ProgressBar(TextWriter error, TimeProvider time, string label) : IProgress<(long Done, long Total)>, IDisposable
{
    /// <summary>Shorter runs show no bar at all.</summary>
    public static readonly TimeSpan ShowAfter = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Redraw = TimeSpan.FromMilliseconds(200);
    private const int Width = 30;

    private readonly DateTimeOffset _started = time.GetUtcNow();
    private DateTimeOffset _lastDrawn = DateTimeOffset.MinValue;
    private bool _drawn;

    /// <summary>Whether stderr is a terminal worth drawing on: this process's own stderr, not redirected.</summary>
    public static bool IsTerminal(CommandContext context) =>
        !context.InsideAgent && ReferenceEquals(context.Err, Console.Error) && !Console.IsErrorRedirected;

    public void Report((long Done, long Total) value)
    {
        var now = time.GetUtcNow();
        if (now - _started < ShowAfter || now - _lastDrawn < Redraw) return;
        _lastDrawn = now;
        double share = value.Total <= 0 ? 1 : Math.Clamp((double)value.Done / value.Total, 0, 1);
        int filled = (int)(share * Width);
        error.Write($"\r{label} [{new string('#', filled)}{new string(' ', Width - filled)}] {share * 100,5:0.0} %  {value.Done / 1e6:0} of {value.Total / 1e6:0} MB ");
        error.Flush();
        _drawn = true;
    }

    public void Dispose()
    {
        if (!_drawn) return;
        error.Write("\r" + new string(' ', label.Length + Width + 40) + "\r");
        error.Flush();
    }
}
