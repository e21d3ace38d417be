// A one-line progress bar on stderr for long runs in a terminal (export, verify). stdout stays clean for --json;
// scripts, pipes, logs, the agent and the tests' captured writers get nothing. It appears only once the run has
// lasted a moment, redraws a few times a second at most, and erases itself at the end.
namespace Edge.Agent.Cli;

public sealed class ProgressBar(TextWriter? terminal, TimeProvider time, string label, long total = 0) : IProgress<(long Done, long Total)>, IDisposable
{
    /// <summary>Shorter runs show no bar at all.</summary>
    public static readonly TimeSpan ShowAfter = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Redraw = TimeSpan.FromMilliseconds(200);
    private const int Width = 30;
    private const int MaxLine = 110;

    private readonly DateTimeOffset _started = time.GetUtcNow();
    private DateTimeOffset _lastDrawn = DateTimeOffset.MinValue;
    private int _lastLength;

    /// <summary>Whether stderr is a terminal worth drawing on: this process's own stderr, not redirected.</summary>
    public static bool IsTerminal(CommandContext context) =>
        !context.InsideAgent && ReferenceEquals(context.Err, Console.Error) && !Console.IsErrorRedirected;

    /// <summary>A bar on the command's stderr when it is a terminal; one that draws nothing otherwise.</summary>
    public static ProgressBar For(CommandContext context, string label, long total = 0) =>
        new(IsTerminal(context) ? context.Err : null, context.Time, label, total);

    public void Report((long Done, long Total) value) => Draw(value.Done, value.Total, $"{value.Done / 1e6:0} of {value.Total / 1e6:0} MB");

    /// <summary>Progress against the total given at construction, with what is being done now.</summary>
    public void Report(long done, string what) => Draw(done, total, what);

    private void Draw(long done, long of, string what)
    {
        if (terminal is null) return;
        var now = time.GetUtcNow();
        if (now - _started < ShowAfter || now - _lastDrawn < Redraw) return;
        _lastDrawn = now;
        double share = of <= 0 ? 1 : Math.Clamp((double)done / of, 0, 1);
        int filled = (int)(share * Width);
        var line = $"{label} [{new string('#', filled)}{new string('.', Width - filled)}] {share * 100,3:0}% {what}";
        if (line.Length > MaxLine) line = line[..MaxLine];
        terminal.Write("\r" + line + new string(' ', Math.Max(0, _lastLength - line.Length)));
        terminal.Flush();
        _lastLength = line.Length;
    }

    /// <summary>Erases the bar so the next message starts on a clean line.</summary>
    public void Finish()
    {
        if (terminal is null || _lastLength == 0) return;
        terminal.Write("\r" + new string(' ', _lastLength) + "\r");
        terminal.Flush();
        _lastLength = 0;
    }

    public void Dispose() => Finish();
}
