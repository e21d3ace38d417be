using Edge.Agent.Configuration;
using Edge.Agent.Hosting;
using Edge.Agent.Index;
using Edge.Hardware.Cameras;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Edge.Agent.Cli;

public static class RunCommand
{
    public static async Task<int> RunAsync(FileInfo configFile, CommandContext context, CancellationToken cancellationToken)
    {
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        // The cameras' first audio probes run while the index opens and reconciles: the first segment comes sooner.
        using var probeHeadStart = AudioProbeHeadStart.Start(settings.Cameras, CameraProbe.FfprobeBeside(settings.FfmpegPath), CameraRecorder.ProbeTimeout);
        if (!DeviceKeyCheck.EnsureCreated(settings, context)) return EdgeCli.ExitFailure;
        using var index = await OpenWaitingForReadersAsync(settings, context, cancellationToken).ConfigureAwait(false);
        index.Audit(new AuditRecord { AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "agent_start", User = context.AuditUser, Detail = $"config {settings.ConfigPath}" });
        Audit.ConfigAudit.RecordAtStart(index, settings, context.Time.GetUtcNow().UtcDateTime);
        using var host = AgentHost.Build(settings, index, context.Time, probeHeadStart: probeHeadStart);
        try
        {
            // Not host.RunAsync: it disposes the host, and the failed services are read from it below (a clean
            // SIGTERM then crashed with ObjectDisposedException and never audited agent_stop).
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            await host.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not IndexException and not ConfigException)
        {
            // A service that cannot start (no GPIO chip, an unreadable scenario file...): one line, not a stack trace.
            context.Err.WriteLine($"edge: the agent could not start: {e.GetBaseException().Message}");
            index.Audit(new AuditRecord { AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "agent_stop", User = context.AuditUser, Detail = "failed to start: " + e.GetBaseException().Message });
            return EdgeCli.ExitFailure;
        }
        // A service that failed stopped the host (BackgroundServiceExceptionBehavior.StopHost): say so, and exit
        // non-zero, so systemd's Restart= and a technician both see a failure, not a clean stop.
        var failed = host.Services.GetServices<IHostedService>().OfType<BackgroundService>()
            .Where(s => s.ExecuteTask is { IsFaulted: true }).ToList();
        foreach (var service in failed)
            context.Err.WriteLine($"edge: {service.GetType().Name} failed: {service.ExecuteTask!.Exception!.GetBaseException().Message}");
        index.Audit(new AuditRecord
        {
            AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "agent_stop", User = context.AuditUser,
            Detail = failed.Count == 0 ? "clean shutdown" : $"stopped by a failure of {string.Join(", ", failed.Select(s => s.GetType().Name))}",
        });
        return failed.Count == 0 ? EdgeCli.ExitOk : EdgeCli.ExitFailure;
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
