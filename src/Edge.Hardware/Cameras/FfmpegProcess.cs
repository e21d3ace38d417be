// One running ffmpeg process with bounded memory: stdout lines (the segment list) go to a callback, stderr lines go
// to the log through a rate limiter, and only the last few stderr lines are kept (for the camera_offline reason).
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Edge.Hardware.Cameras;

public sealed class FfmpegProcess : IAsyncDisposable
{
    private const int KeptStderrLines = 8;

    private readonly Process _process;
    private readonly Queue<string> _lastStderr = new();
    private readonly StderrRateLimiter _limiter;
    private readonly ILogger _logger;
    private readonly string _cameraId;
    private readonly Task _stdoutPump;
    private readonly Task _stderrPump;

    private FfmpegProcess(Process process, string cameraId, Func<string, Task> onStdoutLine, ILogger logger, TimeProvider time)
    {
        _process = process;
        _cameraId = cameraId;
        _logger = logger;
        _limiter = new StderrRateLimiter(time, linesPerMinute: 30);
        _stdoutPump = PumpStdoutAsync(onStdoutLine);
        _stderrPump = PumpStderrAsync();
    }

    public int ProcessId => _process.Id;

    public static FfmpegProcess Start(string ffmpegPath, string arguments, string cameraId, Func<string, Task> onStdoutLine,
        ILogger logger, TimeProvider time)
    {
        var startInfo = new ProcessStartInfo(ffmpegPath, arguments)
        {
            RedirectStandardInput = true, // ffmpeg's graceful stop is a 'q' on stdin
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(startInfo)
            ?? throw new InvalidOperationException($"camera {cameraId}: could not start {ffmpegPath}");
        return new FfmpegProcess(process, cameraId, onStdoutLine, logger, time);
    }

    /// <summary>Completes when the process has exited and both of its output streams are drained.</summary>
    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
        await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(_stdoutPump, _stderrPump).ConfigureAwait(false);
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    public string LastErrorLines()
    {
        lock (_lastStderr) return string.Join(" | ", _lastStderr);
    }

    /// <summary>Asks ffmpeg to finish the segment in flight ('q'), then kills it if it has not exited within the grace period.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited) return;
        try
        {
            await _process.StandardInput.WriteAsync("q").ConfigureAwait(false);
            await _process.StandardInput.FlushAsync().ConfigureAwait(false);
        }
        catch (IOException) { /* already gone */ }
        using var timeout = new CancellationTokenSource(grace);
        try { await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { Kill(); }
        await Task.WhenAll(_stdoutPump, _stderrPump).ConfigureAwait(false);
    }

    public void Kill()
    {
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) Kill();
        try { await Task.WhenAll(_stdoutPump, _stderrPump).ConfigureAwait(false); } catch { /* pumps end with the process */ }
        _process.Dispose();
    }

    private async Task PumpStdoutAsync(Func<string, Task> onLine)
    {
        string? line;
        while ((line = await _process.StandardOutput.ReadLineAsync().ConfigureAwait(false)) is not null)
        {
            if (line.Length > 0) await onLine(line).ConfigureAwait(false);
        }
    }

    private async Task PumpStderrAsync()
    {
        string? line;
        while ((line = await _process.StandardError.ReadLineAsync().ConfigureAwait(false)) is not null)
        {
            if (line.Length == 0) continue;
            lock (_lastStderr)
            {
                if (_lastStderr.Count == KeptStderrLines) _lastStderr.Dequeue();
                _lastStderr.Enqueue(line.Length > 300 ? line[..300] : line);
            }
            switch (_limiter.Admit())
            {
                case StderrRateLimiter.Decision.Log:
                    _logger.LogWarning("ffmpeg[{Camera}]: {Line}", _cameraId, line);
                    break;
                case StderrRateLimiter.Decision.LogWithSuppressedCount:
                    _logger.LogWarning("ffmpeg[{Camera}]: {Line} ({Suppressed} earlier lines suppressed)", _cameraId, line, _limiter.TakeSuppressed());
                    break;
            }
        }
    }
}

/// <summary>
/// Lets at most N stderr lines a minute through to the log; counts the rest so the next admitted line can say how
/// many were dropped. A camera that floods warnings for a month costs a counter, not a growing log or buffer.
/// </summary>
public sealed class StderrRateLimiter(TimeProvider time, int linesPerMinute)
{
    public enum Decision { Log, LogWithSuppressedCount, Suppress }

    private DateTimeOffset _windowStart = DateTimeOffset.MinValue;
    private int _admittedInWindow;
    private long _suppressed;

    public Decision Admit()
    {
        var now = time.GetUtcNow();
        if (now - _windowStart >= TimeSpan.FromMinutes(1))
        {
            _windowStart = now;
            _admittedInWindow = 0;
        }
        if (_admittedInWindow >= linesPerMinute)
        {
            _suppressed++;
            return Decision.Suppress;
        }
        _admittedInWindow++;
        return _suppressed > 0 ? Decision.LogWithSuppressedCount : Decision.Log;
    }

    public long TakeSuppressed()
    {
        long n = _suppressed;
        _suppressed = 0;
        return n;
    }
}
