// The sync engine as a hosted service of the agent, present only when edge.json has a `sync` section.
using Edge.Agent.Configuration;
using Edge.Agent.Flags;
using Edge.Agent.Index;
using Edge.Agent.Recording;
using Edge.Agent.Storage;
using Edge.Sync;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Agent.Sync;

public sealed class SyncService(SyncEngine engine, IndexSyncBackend backend) : BackgroundService
{
    public SyncEngine Engine => engine;
    public IndexSyncBackend Backend => backend;

    /// <summary>
    /// Turns the index's outbox on at once (before any service records an event) and registers the service.
    /// Does nothing when sync is not configured.
    /// </summary>
    public static void AddTo(IServiceCollection services, EdgeSettings settings, EdgeIndex index, TimeProvider time)
    {
        if (settings.Sync is not { } options) return;
        index.EnableOutbox(SyncPayloads.Event, options.OutboxMaxBytes, time);
        services.AddSingleton(sp =>
        {
            var loggers = sp.GetRequiredService<ILoggerFactory>();
            var backend = new IndexSyncBackend(settings, index, sp.GetRequiredService<Flagger>(), sp.GetRequiredService<RecordingRate>(),
                () => sp.GetService<RecordingService>(), time, loggers.CreateLogger("Edge.Sync"));
            var key = options.CommandPublicKeyFile is { } file ? Edge.Agent.Sealing.CommandSigningKeys.LoadPublic(file) : null;
            return new SyncService(new SyncEngine(options, backend, key, time, loggers.CreateLogger("Edge.Sync")), backend);
        });
        services.AddHostedService(sp => sp.GetRequiredService<SyncService>());
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => engine.RunAsync(stoppingToken);

    public override void Dispose()
    {
        engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
        base.Dispose();
    }
}
