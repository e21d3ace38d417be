// A long-running helper process (RTSP server, ffmpeg feeder, broker) started
// through scripts/lib/tether: the tether reads our end of a pipe and ends the
// command when that pipe closes, which the kernel does when this test process
// exits in any way. Dispose, or a crash of the test run, therefore never
// leaves the command running. Keeps the last lines of the command's output
// for error messages.
using System.Diagnostics;

namespace Edge.Tests.Fixtures;

public sealed class TetheredProcess : IAsyncDisposable
{
    private const int KeptLines = 60;

    private readonly Process process;
    private readonly Queue<string> recentLines = new();
    private readonly object gate = new();

    private TetheredProcess(string name, Process process)
    {
        Name = name;
        this.process = process;
    }

    /// <summary>What this process is, for messages ("rtsp-server for cam1").</summary>
    public string Name { get; }

    /// <summary>Process id of the tether; the command is its only child.</summary>
    public int Id => process.Id;

    public bool HasExited => process.HasExited;

    /// <summary>The command's exit status once it has exited (128 + signal when killed by one).</summary>
    public int? ExitCode => process.HasExited ? process.ExitCode : null;

    /// <summary>The last lines the command wrote to stdout and stderr.</summary>
    public string RecentOutput
    {
        get
        {
            lock (gate)
                return recentLines.Count == 0 ? "(no output)" : string.Join('\n', recentLines);
        }
    }

    public static TetheredProcess Start(
        string name,
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("perl")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(RepoPaths.ScriptLib("tether"));
        info.ArgumentList.Add(fileName);
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
                info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var tethered = new TetheredProcess(name, process);
        process.OutputDataReceived += (_, e) => tethered.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => tethered.Keep(e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            process.Dispose();
            throw new InvalidOperationException(
                $"Could not start {name}: perl failed to start ({e.Message}). Run scripts/setup to install what the tests need.", e);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return tethered;
    }

    /// <summary>Waits until the command has exited.</summary>
    public Task WaitForExitAsync(CancellationToken ct = default) => process.WaitForExitAsync(ct);

    /// <summary>
    /// Ends the command the way a crash or power loss would: SIGKILL at once,
    /// no chance to clean up or say goodbye to its peers.
    /// </summary>
    public async Task KillAsync()
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        await process.WaitForExitAsync(CancellationToken.None);
    }

    /// <summary>
    /// Asks the command to stop (the tether sends SIGTERM, and SIGKILL 2 s
    /// later) and waits for it; kills it if it is still there after 5 s.
    /// </summary>
    public async Task StopAsync()
    {
        if (process.HasExited)
            return;
        try
        {
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The tether is already gone; its pipe is closed.
        }
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        // Let the asynchronous readers see end of file before disposing.
        await process.WaitForExitAsync(CancellationToken.None);
        process.Dispose();
    }

    /// <summary>Describes the command's state and last output, for error messages.</summary>
    public string Describe() =>
        HasExited
            ? $"{Name} exited with status {ExitCode}; its last output:\n{RecentOutput}"
            : $"{Name} is running (pid {Id}); its last output:\n{RecentOutput}";

    private void Keep(string? line)
    {
        if (line is null)
            return;
        lock (gate)
        {
            recentLines.Enqueue(line);
            while (recentLines.Count > KeptLines)
                recentLines.Dequeue();
        }
    }
}
