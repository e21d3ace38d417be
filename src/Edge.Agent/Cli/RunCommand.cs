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
        using var index = await OpenWaitingForReadersAsync(settings, context, cancellationToken).ConfigureAwait(false);
        index.Audit(new AuditRecord { AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "agent_start", User = Environment.UserName, Detail = $"config {settings.ConfigPath}" });
        using var host = AgentHost.Build(settings, index, context.Time);
        await host.RunAsync(cancellationToken).ConfigureAwait(false);
        index.Audit(new AuditRecord { AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "agent_stop", User = Environment.UserName, Detail = "clean shutdown" });
        return EdgeCli.ExitOk;
    }

    /// <summary>How long the agent waits for a reader (`edge segments list` run while no agent was up) to let go of the index.</summary>
    public static readonly TimeSpan LockWait = TimeSpan.FromSeconds(15);

    /// <summary>
    /// A read verb run while the agent is down opens the index itself for a moment; the agent starting just then
    /// waits for it rather than failing. Another agent holding the index for longer is an error.
    /// </summary>
    private static async Task<EdgeIndex> OpenWaitingForReadersAsync(EdgeSettings settings, CommandContext context, CancellationToken cancellationToken)
    {
        var deadline = context.Time.GetUtcNow() + LockWait;
        while (true)
        {
            try
            {
                return IndexOpener.Open(settings, createKeyIfMissing: true);
            }
            catch (IndexLockedException) when (context.Time.GetUtcNow() < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250), context.Time, cancellationToken).ConfigureAwait(false);
            }
            catch (IndexLockedException e)
            {
                throw new IndexException($"{e.Message} It stayed locked for {LockWait.TotalSeconds:0} s: is another `edge run` already running?", e);
            }
        }
    }
}
