// Runs the real `edge` executable (edge.dll, built beside the tests) as a child process: for exit codes, stderr
// wording, and SIGKILL.
using System.Diagnostics;

namespace Edge.Tests.Support;

public sealed record EdgeResult(int ExitCode, string Stdout, string Stderr);

public static class EdgeProcess
{
    public static string EdgeDll => Path.Combine(AppContext.BaseDirectory, "edge.dll");

    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(EdgeDll);
        foreach (var a in args) info.ArgumentList.Add(a);
        return info;
    }

    public static async Task<EdgeResult> RunAsync(TimeSpan timeout, params string[] args)
    {
        using var process = Process.Start(StartInfo(args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"edge {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:0} s");
        }
        return new EdgeResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// Asks the running agent (through `edge segments list --json`, answered over its control socket) until at least
    /// <paramref name="count"/> segments not in <paramref name="known"/> are indexed; returns the whole list.
    /// </summary>
    public static async Task<List<Edge.Agent.Cli.SegmentsCommand.SegmentJson>> WaitForNewSegmentsAsync(
        string configPath, IReadOnlySet<long> known, int count, Process agent, string what)
    {
        List<Edge.Agent.Cli.SegmentsCommand.SegmentJson> listed = [];
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (listed.Count(s => !known.Contains(s.Id)) < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what}: fewer than {count} new segments within 60 s");
            Assert.False(agent.HasExited, $"{what}: the agent exited with {(agent.HasExited ? agent.ExitCode : 0)}");
            await Task.Delay(300);
            var result = await RunAsync(TimeSpan.FromSeconds(30), "segments", "list", "--config", configPath, "--json");
            if (result.ExitCode == 0)
                listed = System.Text.Json.JsonSerializer.Deserialize<List<Edge.Agent.Cli.SegmentsCommand.SegmentJson>>(result.Stdout, Edge.Agent.Cli.CliJson.Options)!;
        }
        return listed;
    }

    /// <summary>Starts `edge` and returns the running process; its output is drained so it never blocks on a full pipe.</summary>
    public static Process Start(Action<string>? onLine, params string[] args)
    {
        var process = Process.Start(StartInfo(args))!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) onLine?.Invoke(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) onLine?.Invoke(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
