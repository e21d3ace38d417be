// `edge gpio watch`: for a technician wiring a door. Shows every debounced door signal as it happens and, twice a
// second, each door's decoded state and raw pin levels. It opens the pins itself, so stop `edge run` first on a box;
// with the simulated driver it plays the configured scenario. Nothing is written to the index.
using System.Device.Gpio;
using Edge.Agent.Configuration;
using Edge.Hardware.Gpio;

namespace Edge.Agent.Cli;

public static class GpioWatchCommand
{
    public static async Task<int> RunAsync(FileInfo configFile, int? seconds, CommandContext context, CancellationToken cancellationToken)
    {
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        if (settings.Doors.Count == 0) throw new UsageException($"{settings.ConfigPath} configures no doors (doors: [])");
        var simulated = settings.Gpio.Driver == GpioDriverKind.Simulated ? new SimulatedGpioDriver() : null;
        using var controller = GpioControllerFactory.Create(settings.Gpio.Driver,
            new GpioControllerOptions { ChipLabel = settings.Gpio.ChipLabel, SimulatedDriver = simulated }, out var description);
        context.Out.WriteLine($"GPIO: {description}. Ctrl-C to stop.");
        using var scenario = simulated is not null && settings.Gpio.ScenarioFile is { } file
            ? new GpioScenarioPlayer(simulated, GpioScenario.Load(file), context.Time) : null;
        scenario?.Start();
        var sink = new PrintingSink(context.Out, settings);
        var monitors = settings.Doors.Select(d => new DoorMonitor(controller, d, context.Time, settings.TimeZone, sink)).ToList();
        try
        {
            foreach (var m in monitors) m.Start();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (seconds is int s) stop.CancelAfter(TimeSpan.FromSeconds(s));
            using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(500), context.Time);
            string last = "";
            while (await NextAsync(tick, stop.Token).ConfigureAwait(false))
            {
                var line = string.Join("   ", monitors.Select(m => Describe(m, controller, settings)));
                if (line != last) context.Out.WriteLine($"{settings.ToSiteTime(context.Time.GetUtcNow()):HH:mm:ss.f}  {line}");
                last = line;
            }
        }
        finally
        {
            foreach (var m in monitors) m.Dispose();
        }
        return EdgeCli.ExitOk;
    }

    private static async Task<bool> NextAsync(PeriodicTimer timer, CancellationToken token)
    {
        try { return await timer.WaitForNextTickAsync(token).ConfigureAwait(false); }
        catch (OperationCanceledException) { return false; }
    }

    private static string Describe(DoorMonitor monitor, GpioController controller, EdgeSettings settings)
    {
        var door = settings.Doors.First(d => d.Id == monitor.DoorId);
        var state = monitor.CurrentState;
        string Level(int pin) { try { return controller.Read(pin) == PinValue.High ? "high" : "low"; } catch (Exception) { return "unreadable"; } }
        var button = door.ExitButtonPin is int b ? $", button GPIO{b}={Level(b)} ({state.ExitButton.ToString().ToLowerInvariant()})" : "";
        var faults = state.Faults.Count > 0 ? $" FAULT: {string.Join("; ", state.Faults)}" : "";
        return $"[{door.Id}] {state.Contact.ToString().ToUpperInvariant()} (contact GPIO{door.ContactPin}={Level(door.ContactPin)}{button}){faults}";
    }

    private sealed class PrintingSink(TextWriter output, EdgeSettings settings) : IDoorSignalSink
    {
        public void StateAtStart(DoorStateAtStart s) => Print($"[{s.Door}] at start: door {s.Contact.ToString().ToLowerInvariant()}, exit button {s.ExitButton.ToString().ToLowerInvariant()}");
        public void EventStarted(DoorEventStarted s) => Print($"[{s.Door}] {s.Kind.ToWireName()} started {settings.ToSiteTime(s.Start):HH:mm:ss.fff}: {s.DecidedBy}");
        public void EventEnded(DoorEventEnded s) => Print($"[{s.Door}] {s.Kind.ToWireName()} ended {settings.ToSiteTime(s.End):HH:mm:ss.fff}{(string.IsNullOrEmpty(s.EndedBy) ? "" : ": " + s.EndedBy)}");
        private void Print(string line) { lock (output) output.WriteLine("  » " + line); }
    }
}
