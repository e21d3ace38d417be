using Edge.Agent.Configuration;
using Edge.Agent.Hosting;
using Edge.Agent.Index;
using Microsoft.Extensions.Hosting;

namespace Edge.Agent.Cli;

public static class RunCommand
{
    public static async Task<int> RunAsync(FileInfo configFile, CommandContext context, CancellationToken cancellationToken)
    {
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        using var index = IndexOpener.Open(settings, createKeyIfMissing: true);
        index.Audit(new AuditRecord { AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "agent_start", User = Environment.UserName, Detail = $"config {settings.ConfigPath}" });
        using var host = AgentHost.Build(settings, index, context.Time);
        await host.RunAsync(cancellationToken).ConfigureAwait(false);
        index.Audit(new AuditRecord { AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "agent_stop", User = Environment.UserName, Detail = "clean shutdown" });
        return EdgeCli.ExitOk;
    }
}
