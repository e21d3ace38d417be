// `edge run` stopped the way systemd stops it (SIGTERM): a clean exit, not a stack trace.
using System.Collections.Concurrent;
using System.Diagnostics;
using Edge.Agent.Index;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Recording;

public class AgentStop_Tests(ITestOutputHelper output)
{
    [Fact]
    public async Task Edge_run_stopped_with_SIGTERM_exits_0_and_audits_a_clean_shutdown()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1", segmentSeconds: 2));
        var lines = new ConcurrentQueue<string>();
        using var agent = EdgeProcess.Start(lines.Enqueue, "run", "--config", site.ConfigPath);
        await EdgeProcess.WaitForNewSegmentsAsync(site.ConfigPath, new HashSet<long>(), 1, agent, "a first segment");

        using (var kill = Process.Start("kill", ["-TERM", agent.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await agent.WaitForExitAsync(timeout.Token);

        foreach (var line in lines) output.WriteLine(line);
        Assert.DoesNotContain(lines, l => l.Contains("Unhandled exception", StringComparison.Ordinal));
        Assert.Equal(0, agent.ExitCode);
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        Assert.Equal("clean shutdown", index.QueryAudit().Last(a => a.Action == "agent_stop").Detail);
    }
}
