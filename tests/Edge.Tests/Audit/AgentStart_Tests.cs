// The real `edge run`: agent start and stop, and a changed edge.json, land in the audit chain; `audit list` is
// answered by the running agent.
using System.Diagnostics;
using System.Text.Json;
using Edge.Agent.Audit;
using Edge.Agent.Cli;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Audit;

public class AgentStart_Tests(ITestOutputHelper output)
{
    private async Task RunUntilAuditedAsync(AuditSite site, string action, int round)
    {
        using var agent = EdgeProcess.Start(line => output.WriteLine($"[agent {round}] {line}"), "run", "--config", site.ConfigPath);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                Assert.False(agent.HasExited, $"the agent exited with {(agent.HasExited ? agent.ExitCode : 0)}");
                Assert.True(DateTime.UtcNow < deadline, $"no {action} record within 60 s");
                var listed = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(30), "audit", "list", "--config", site.ConfigPath, "--json");
                if (listed.ExitCode == 0 && JsonSerializer.Deserialize<List<AuditCommand.AuditRecordJson>>(listed.Stdout, CliJson.Options)!
                        .Any(r => r.Action == action && r.Seq > 0))
                    break;
                await Task.Delay(500);
            }
        }
        finally
        {
            // SIGTERM, as systemd stops it: the agent finishes its segments and audits its stop.
            using (var kill = Process.Start("kill", ["-TERM", agent.Id.ToString()])) await kill.WaitForExitAsync();
            using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await agent.WaitForExitAsync(exited.Token);
        }
    }

    [Fact]
    public async Task Agent_start_stop_and_a_changed_configuration_are_in_the_audit_chain()
    {
        await using var site = new AuditSite(output);

        await RunUntilAuditedAsync(site, ConfigAudit.FirstSeen, 1);
        File.AppendAllText(site.ConfigPath, "\n// camera 2 moved\n");
        await RunUntilAuditedAsync(site, ConfigAudit.Changed, 2);

        using var index = site.OpenIndex();
        var actions = index.QueryAudit().Select(r => r.Action).Where(a => a is not ("audit_list" or "door_event")).ToList();
        Assert.Equal(["agent_start", ConfigAudit.FirstSeen, "agent_stop", "agent_start", ConfigAudit.Changed, "agent_stop"], actions);
        Assert.Equal("clean shutdown", index.QueryAudit().Last().Detail);
        Assert.True(index.VerifyAudit().Ok);
    }
}
