// The `edge` command tree. Each verb's work lives in its own *Command class; this file only wires options to them.
// Contract (scripts rely on it): --json prints one JSON document on stdout (an array for lists); exit code 0 on
// success, non-zero with a one-line reason on stderr otherwise (2: bad configuration or usage, 1: anything else).
using System.CommandLine;
using Edge.Agent.Configuration;
using Edge.Agent.Control;
using Edge.Agent.Demo;
using Edge.Agent.Index;

namespace Edge.Agent.Cli;

public static class EdgeCli
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;

    public static async Task<int> InvokeAsync(string[] args, CommandContext context, CancellationToken cancellationToken = default)
    {
        var root = Build(context);
        var parse = root.Parse(args);
        // Signals are left to the host (run, demo): it stops the recorders gracefully, which System.CommandLine's
        // default 2-second termination timeout would cut short.
        var invocation = new InvocationConfiguration
        {
            Output = context.Out, Error = context.Err, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null,
        };
        try
        {
            return await parse.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
        }
        catch (ConfigException e)
        {
            context.Err.WriteLine($"edge: configuration error: {e.Message}");
            return ExitUsage;
        }
        catch (UsageException e)
        {
            context.Err.WriteLine($"edge: {e.Message}");
            return ExitUsage;
        }
        catch (Access.LocalAccessException e)
        {
            context.Err.WriteLine($"edge: access refused: {e.Message}");
            return ExitFailure;
        }
        catch (IndexLockedException) when (!context.InsideAgent && parse.CommandResult.Command.Name is not ("run" or "demo") && TryGetConfig(parse) is { } settings)
        {
            // The agent is running and holds the index: let it answer. It may be starting (lock taken, socket not
            // yet listening): ask again for a few seconds.
            ControlReply? reply = null;
            for (var deadline = context.Time.GetUtcNow() + TimeSpan.FromSeconds(10); reply is null && context.Time.GetUtcNow() < deadline;)
            {
                reply = await ControlSocket.TryForwardAsync(settings.IndexDirectory, args, cancellationToken).ConfigureAwait(false);
                if (reply is null) await Task.Delay(TimeSpan.FromMilliseconds(250), context.Time, cancellationToken).ConfigureAwait(false);
            }
            if (reply is null)
            {
                context.Err.WriteLine($"edge: the index at {settings.IndexDirectory} is locked by another process and no agent answers on {ControlSocket.PathFor(settings.IndexDirectory)}");
                return ExitFailure;
            }
            context.Out.Write(reply.Stdout);
            context.Err.Write(reply.Stderr);
            return reply.ExitCode;
        }
        catch (IndexException e)
        {
            context.Err.WriteLine($"edge: index error: {e.Message}");
            return ExitFailure;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitFailure;
        }
    }

    private static EdgeSettings? TryGetConfig(ParseResult parse)
    {
        var option = parse.CommandResult.Command.Options.OfType<Option<FileInfo>>().FirstOrDefault(o => o.Name == "--config");
        var file = option is null ? null : parse.GetValue(option);
        try { return file is null ? null : EdgeConfigLoader.Load(file.FullName); }
        catch (ConfigException) { return null; }
    }

    private static Option<FileInfo> ConfigOption() => new("--config", "-c")
    {
        Description = "Path of edge.json (on a box: /etc/edge/edge.json)",
        Required = true,
    };

    private static Option<bool> JsonOption() => new("--json") { Description = "Print one JSON document on stdout instead of text" };

    public static RootCommand Build(CommandContext context)
    {
        var root = new RootCommand("Edge: records a My Number room's cameras and doors, encrypted, on site.");

        {
            var config = ConfigOption();
            var run = new Command("run", "Run the agent: record every configured camera around the clock (the systemd service runs this)") { config };
            run.SetAction((parse, ct) => RunCommand.RunAsync(parse.GetValue(config)!, context, ct));
            root.Add(run);
        }
        {
            var seconds = new Option<int>("--seconds") { Description = "How long the simulated site records", DefaultValueFactory = _ => 60 };
            var dir = new Option<DirectoryInfo?>("--dir") { Description = "Where the simulated site lives (default: a new temporary directory, printed)" };
            var broker = new Option<string?>("--broker") { Description = "mqtt://HOST:PORT: an external broker for box and central (default: an embedded one on loopback)" };
            var demo = new Command("demo", "Run a simulated site end to end: test-pattern cameras, recording, index, sync to an embedded central, and a summary that checks it all plays") { seconds, dir, broker };
            demo.SetAction((parse, ct) => DemoCommand.RunAsync(parse.GetValue(seconds), parse.GetValue(dir), parse.GetValue(broker), context, ct));
            root.Add(demo);
        }
        {
            var config = ConfigOption();
            var json = JsonOption();
            var status = new Command("status", "Show cameras and their state, the last segment per camera, volumes and index size") { config, json };
            status.SetAction((parse, ct) => StatusCommand.RunAsync(parse.GetValue(config)!, parse.GetValue(json), context, ct));
            root.Add(status);
        }
        {
            var config = ConfigOption();
            var json = JsonOption();
            var camera = new Option<string?>("--camera") { Description = "Only this camera's segments" };
            var from = new Option<string?>("--from") { Description = "Segments ending after this time (ISO 8601; without an offset: site time)" };
            var to = new Option<string?>("--to") { Description = "Segments starting before this time" };
            var list = new Command("list", "List recorded segments") { config, camera, from, to, json };
            list.SetAction((parse, ct) => SegmentsCommand.ListAsync(parse.GetValue(config)!, parse.GetValue(camera), parse.GetValue(from), parse.GetValue(to), parse.GetValue(json), context, ct));
            var segments = new Command("segments", "Recorded segments") { list };
            SegmentsOpenCommand.Register(segments, context, ConfigOption, JsonOption);
            root.Add(segments);
            root.Add(KeysCommand.Build(context));
            root.Add(ExportCommand.Build(context));
        }
        {
            var config = ConfigOption();
            var json = JsonOption();
            var probe = new Command("probe", "ffprobe each configured camera: codec, resolution, fps, bitrate, audio") { config, json };
            probe.SetAction((parse, ct) => CamerasCommand.ProbeAsync(parse.GetValue(config)!, parse.GetValue(json), context, ct));
            root.Add(new Command("cameras", "The configured cameras") { probe });
        }
        {
            var config = ConfigOption();
            var json = JsonOption();
            var from = new Option<string?>("--from") { Description = "Events starting at or after this time (ISO 8601; without an offset: site time)" };
            var to = new Option<string?>("--to") { Description = "Events starting before this time" };
            var door = new Option<string?>("--door") { Description = "Only this door's events" };
            var kind = new Option<string?>("--kind") { Description = "Only this kind: entry, exit, door_opened, held_open, after_hours, input_fault, camera_offline, ..." };
            var list = new Command("list", "List events: doors, cameras, storage") { config, from, to, door, kind, json };
            list.SetAction((parse, ct) => EventsCommand.ListAsync(parse.GetValue(config)!, parse.GetValue(from), parse.GetValue(to), parse.GetValue(door), parse.GetValue(kind), parse.GetValue(json), context, ct));
            root.Add(new Command("events", "Events recorded by the agent") { list });
        }
        {
            var config = ConfigOption();
            var json = JsonOption();
            var list = new Command("list", "List flags: windows of footage protected from retention and marked for sync") { config, json };
            list.SetAction((parse, ct) => EventsCommand.ListFlagsAsync(parse.GetValue(config)!, parse.GetValue(json), context, ct));
            root.Add(new Command("flags", "Flagged windows of footage") { list });
        }
        {
            var config = ConfigOption();
            var camera = new Option<string[]>("--camera") { Description = "A camera to hold (repeat for several)", Required = true, AllowMultipleArgumentsPerToken = false };
            var from = new Option<string>("--from") { Description = "Start of the window (ISO 8601; without an offset: site time)", Required = true };
            var to = new Option<string>("--to") { Description = "End of the window", Required = true };
            var reason = new Option<string>("--reason") { Description = "Why the footage is held (recorded with the hold)", Required = true };
            var flag = new Command("flag", "Hold a window of footage: protected from retention, marked for sync") { config, camera, from, to, reason };
            flag.SetAction((parse, ct) => EventsCommand.FlagAsync(parse.GetValue(config)!, parse.GetValue(camera) ?? [], parse.GetValue(from)!, parse.GetValue(to)!, parse.GetValue(reason)!, context, ct));
            root.Add(flag);
        }
        {
            var config = ConfigOption();
            var seconds = new Option<int?>("--seconds") { Description = "Stop after this many seconds (default: until Ctrl-C)" };
            var watch = new Command("watch", "Show live pin levels and decoded door states, for wiring a door (stop `edge run` first)") { config, seconds };
            watch.SetAction((parse, ct) => GpioWatchCommand.RunAsync(parse.GetValue(config)!, parse.GetValue(seconds), context, ct));
            root.Add(new Command("gpio", "GPIO door inputs") { watch });
        }
        {
            var path = new Argument<DirectoryInfo>("PATH") { Description = "The volume's root directory (a mounted disk)" };
            var init = new Command("init", "Mark a mounted disk as an Edge storage volume (Edge writes only to marked volumes)") { path };
            init.SetAction((parse, ct) => VolumesCommand.InitAsync(parse.GetValue(path)!, context, ct));
            root.Add(new Command("volumes", "Storage volumes") { init });
        }
        {
            var file = new Option<FileInfo?>("--file") { Description = $"The provision file (default: {Edge.Agent.Provisioning.ProvisionFile.DefaultPath})" };
            var rootDir = new Option<DirectoryInfo?>("--root") { Description = "Install into this directory instead of / (for testing an image)" };
            var check = new Option<FileInfo?>("--check") { Description = "Only check this provision file and list every problem (on the technician's laptop, before flashing)" };
            var provision = new Command("provision", "First boot: install the boot partition's edge-provision.json (config, keys, volumes), then remove it") { file, rootDir, check };
            provision.SetAction((parse, ct) => ProvisionCommand.RunAsync(parse.GetValue(file), parse.GetValue(rootDir), parse.GetValue(check), context, ct));
            root.Add(provision);
        }
        Monitoring.MonitorCommand.Register(root, context);
        Doctor.DoctorCommand.Register(root, context, ConfigOption, JsonOption);
        root.Add(Edge.Agent.Central.CentralCommand.Build(context));
        root.Add(AuditCommand.Build(context, ConfigOption, JsonOption));
        root.Add(VerifyCommand.Build(context, ConfigOption, JsonOption));
        return root;
    }
}
