// Runs a short-lived program (ffprobe, a script) to completion and returns
// its exit code and output; kills it if it outlives its time limit or the
// caller cancels. For long-running servers use TetheredProcess instead.
using System.Diagnostics;

namespace Edge.Tests.Fixtures;

public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;
}

public static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        CancellationToken ct = default,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
                info.Environment[key] = value;
        }

        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                $"Could not start '{fileName}': {e.Message}. Is it installed and on PATH? scripts/setup installs what the tests need.", e);
        }
        // Nothing is ever typed to these programs; an open stdin would only
        // keep e.g. ffmpeg waiting for keyboard commands.
        process.StandardInput.Close();

        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            KillQuietly(process);
            await process.WaitForExitAsync(CancellationToken.None);
            ct.ThrowIfCancellationRequested();
            var partial = await stderr;
            throw new TimeoutException(
                $"'{fileName} {string.Join(' ', info.ArgumentList)}' was still running after {timeout.TotalSeconds:0.#} s and was killed. " +
                $"Its last error output: {Tail(partial)}");
        }
        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }

    internal static string Tail(string text, int maxChars = 2000)
    {
        text = text.Trim();
        if (text.Length == 0)
            return "(none)";
        return text.Length <= maxChars ? text : "..." + text[^maxChars..];
    }

    private static void KillQuietly(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }
}
