// Builds the agent's Generic Host: the recording pipeline and the control socket, over one open index.
// `edge run` and `edge demo` both run this host; the demo adds its live view beside it.
using Edge.Agent.Cli;
using Edge.Agent.Configuration;
using Edge.Agent.Control;
using Edge.Agent.Doors;
using Edge.Agent.Flags;
using Edge.Agent.Index;
using Edge.Agent.Recording;
using Edge.Agent.Sealing;
using Edge.Agent.Storage;
using Edge.Hardware.Cameras;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Agent.Hosting;

public static class AgentHost
{
    public static IHost Build(EdgeSettings settings, EdgeIndex index, TimeProvider time, Action<ILoggingBuilder>? configureLogging = null,
        AudioProbeHeadStart? probeHeadStart = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
        builder.Services.AddSystemd();
        builder.Services.Configure<HostOptions>(o =>
        {
            // Recorders finish their segment in flight on stop (ffmpeg 'q', up to 5 s) and then it is sealed.
            o.ShutdownTimeout = TimeSpan.FromSeconds(20);
            o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.StopHost;
        });
        builder.Logging.ClearProviders();
        if (configureLogging is not null) configureLogging(builder.Logging);
        else if (JournalLoggerProvider.IsAvailable) builder.Logging.AddProvider(new JournalLoggerProvider()); // under systemd: structured fields
        else builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; o.UseUtcTimestamp = false; });
        builder.Logging.SetMinimumLevel(LogLevel.Information);

        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(index);
        builder.Services.AddSingleton(time);
        if (probeHeadStart is not null) builder.Services.AddSingleton(probeHeadStart);
        // The box holds only the owner's public key: it seals, and cannot open what it sealed.
        builder.Services.AddSingleton<ISegmentSealer>(new SealingSegmentSealer(OwnerKeys.LoadPublic(settings.OwnerPublicKeyFile!)));
        builder.Services.AddSingleton<Flagger>();
        builder.Services.AddSingleton<DoorService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DoorService>());
        builder.Services.AddSingleton<RecordingRate>();
        builder.Services.AddSingleton<RetentionService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RetentionService>());
        builder.Services.AddSingleton<RecordingService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RecordingService>());
        Sync.SyncService.AddTo(builder.Services, settings, index, time);
        builder.Services.AddSystemdWatchdog();
        builder.Services.AddHostedService(sp => new ControlSocketService(
            settings.IndexDirectory,
            (args, context) => EdgeCli.InvokeAsync(args, context),
            (output, error) => new CommandContext(output, error, time, index, sp.GetRequiredService<RecordingService>()) { Sync = sp.GetService<Sync.SyncService>() },
            sp.GetRequiredService<ILogger<ControlSocketService>>()));
        return builder.Build();
    }
}
