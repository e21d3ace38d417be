// `edge monitor`: the monitoring desk's live view of the fleet, from the retained `status` and `health` of every box
// (docs/protocol.md). It only reads: the monitor's certificate may subscribe to status and health and nothing else
// (packaging/mosquitto/make-acl). On a terminal the table is redrawn in place; otherwise (a pipe, a log) a new table
// is printed when something changes. `--once` waits a few seconds for the retained messages and prints the fleet
// once, as text or (--json) one JSON document, for scripts.
using System.Buffers;
using System.CommandLine;
using System.Globalization;
using Edge.Agent.Broker;
using Edge.Agent.Cli;
using MQTTnet;
using MQTTnet.Protocol;

namespace Edge.Agent.Monitoring;

public sealed record MonitorOptions(BrokerEndpoint Broker, bool Once, bool Json, TimeSpan Wait);

public static class MonitorCommand
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(5);

    /// <summary>The JSON document of --once --json.</summary>
    public sealed record FleetJson(string Broker, DateTimeOffset At, IReadOnlyList<DeviceView> Devices);

    public static void Register(RootCommand root, CommandContext context)
    {
        var broker = new Option<string>("--broker") { Description = "The broker: mqtts://HOST:8883 (or mqtt://HOST:1883 on a trusted network)", Required = true };
        var ca = new Option<FileInfo?>("--ca") { Description = "PEM CA the broker's certificate must chain to (default: the system's trust store)" };
        var cert = new Option<FileInfo?>("--cert") { Description = "The monitor's client certificate (PEM)" };
        var key = new Option<FileInfo?>("--key") { Description = "Its private key (PEM)" };
        var once = new Option<bool>("--once") { Description = "Print the fleet once, after --wait seconds, and exit" };
        var wait = new Option<double>("--wait") { Description = "With --once: how long to collect the retained messages, in seconds", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "With --once: one JSON document on stdout" };
        var command = new Command("monitor", "Live view of the fleet for the monitoring desk: each box's state, cameras, disk, last event, outbox, clock") { broker, ca, cert, key, once, wait, json };
        command.SetAction((parse, ct) =>
        {
            Uri url;
            try { url = BrokerEndpoint.ParseUrl(parse.GetValue(broker)!); }
            catch (FormatException e) { throw new UsageException($"--broker: {e.Message}"); }
            if (parse.GetValue(json) && !parse.GetValue(once)) throw new UsageException("--json needs --once (the live view is for people)");
            var seconds = parse.GetValue(wait);
            if (seconds is <= 0 or > 3600) throw new UsageException($"--wait: must be more than 0 and at most 3600 seconds (found {seconds})");
            var endpoint = new BrokerEndpoint(url, parse.GetValue(ca)?.FullName, parse.GetValue(cert)?.FullName, parse.GetValue(key)?.FullName);
            return RunAsync(new MonitorOptions(endpoint, parse.GetValue(once), parse.GetValue(json), TimeSpan.FromSeconds(seconds)), context, ct);
        });
        root.Add(command);
    }

    public static async Task<int> RunAsync(MonitorOptions options, CommandContext context, CancellationToken cancellationToken)
    {
        BrokerConnection connection;
        try { connection = new BrokerConnection(options.Broker); }
        catch (BrokerSetupException e) { throw new UsageException(e.Message); }
        if (options.Broker.UseTls is false && (options.Broker.CertFile ?? options.Broker.CaFile) is not null)
            throw new UsageException("--ca, --cert and --key are for TLS: use an mqtts:// broker URL");

        var fleet = new FleetState();
        using var client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += e =>
        {
            // Never throw from here (MQTTnet would withhold the PUBACK): FleetState turns bad payloads into problems.
            fleet.Apply(e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray());
            return Task.CompletedTask;
        };
        var clientId = $"edge-monitor-{Guid.NewGuid():N}"[..24];

        if (options.Once)
        {
            var failure = await ConnectAsync(client, connection, clientId, cancellationToken).ConfigureAwait(false);
            if (failure is not null)
            {
                context.Err.WriteLine($"edge: monitor: {options.Broker}: {failure}");
                return EdgeCli.ExitFailure;
            }
            await Task.Delay(options.Wait, context.Time, cancellationToken).ConfigureAwait(false);
            var devices = fleet.Snapshot();
            await DisconnectQuietlyAsync(client).ConfigureAwait(false);
            if (options.Json) CliJson.Write(context.Out, new FleetJson(options.Broker.ToString(), context.Time.GetUtcNow(), devices));
            else context.Out.Write(Render(devices, options.Broker.ToString(), "connected", context.Time.GetUtcNow(), width: 0));
            return EdgeCli.ExitOk;
        }

        bool inPlace = ReferenceEquals(context.Out, Console.Out) && !Console.IsOutputRedirected;
        string link = "connecting";
        long drawn = -1;
        string lastLink = "";
        var nextAttempt = DateTimeOffset.MinValue;
        using var tick = new PeriodicTimer(TimeSpan.FromSeconds(1), context.Time);
        do
        {
            var now = context.Time.GetUtcNow();
            if (!client.IsConnected && now >= nextAttempt)
            {
                var failure = await ConnectAsync(client, connection, clientId, cancellationToken).ConfigureAwait(false);
                link = failure is null ? "connected" : $"not connected: {failure}; retrying every {RetryEvery.TotalSeconds:0} s";
                nextAttempt = now + RetryEvery;
            }
            else if (!client.IsConnected && link == "connected") link = "connection lost; retrying";
            // In place, redraw every second (ages change); otherwise print only what changed.
            if (inPlace || fleet.Version != drawn || link != lastLink)
            {
                var text = Render(fleet.Snapshot(out var version), options.Broker.ToString(), link, context.Time.GetUtcNow(), inPlace ? SafeWidth() : 0);
                context.Out.Write(inPlace ? "\u001b[H\u001b[2J" + text : text + Environment.NewLine);
                context.Out.Flush();
                drawn = version;
                lastLink = link;
            }
        }
        while (await NextAsync(tick, cancellationToken).ConfigureAwait(false));
        await DisconnectQuietlyAsync(client).ConfigureAwait(false);
        return EdgeCli.ExitOk;
    }

    /// <summary>Connects and subscribes; returns null, or why it failed in words a desk operator can act on.</summary>
    private static async Task<string?> ConnectAsync(IMqttClient client, BrokerConnection connection, string clientId, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(ConnectTimeout);
        try
        {
            var result = await client.ConnectAsync(connection.CreateOptions(clientId, ConnectTimeout).Build(), limit.Token).ConfigureAwait(false);
            if (result.ResultCode != MqttClientConnectResultCode.Success)
                return BrokerConnection.DescribeRefusal(result);
            var subscribed = await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
                .WithTopicFilter(FleetState.StatusFilter, MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter(FleetState.HealthFilter, MqttQualityOfServiceLevel.AtLeastOnce).Build(), limit.Token).ConfigureAwait(false);
            var refused = subscribed.Items.Where(i => (int)i.ResultCode > 2).ToList();
            if (refused.Count > 0)
                return "the broker refused the subscription: " + string.Join(", ", refused.Select(i => $"{i.TopicFilter.Topic}: {i.ResultCode} ({(int)i.ResultCode})")) +
                    " (the monitor's certificate needs read access to status and health in the broker's ACL)";
            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"no answer within {ConnectTimeout.TotalSeconds:0} s";
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or System.Net.Sockets.SocketException or IOException
            or System.Security.Authentication.AuthenticationException or InvalidOperationException)
        {
            return connection.DescribeFailure(e);
        }
    }

    private static async Task DisconnectQuietlyAsync(IMqttClient client)
    {
        if (!client.IsConnected) return;
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try { await client.DisconnectAsync(cancellationToken: limit.Token).ConfigureAwait(false); }
        catch (Exception e) when (e is OperationCanceledException or MQTTnet.Exceptions.MqttCommunicationException or IOException) { }
    }

    private static async Task<bool> NextAsync(PeriodicTimer timer, CancellationToken token)
    {
        try { return await timer.WaitForNextTickAsync(token).ConfigureAwait(false); }
        catch (OperationCanceledException) { return false; }
    }

    private static int SafeWidth()
    {
        try { return Console.WindowWidth; } catch (IOException) { return 0; }
    }

    /// <summary>The table: one line per device, then its problems indented below it.</summary>
    public static string Render(IReadOnlyList<DeviceView> devices, string broker, string link, DateTimeOffset now, int width)
    {
        var o = new System.Text.StringBuilder();
        o.AppendLine($"edge monitor  {broker}  {link}  {now:yyyy-MM-dd HH:mm:ss}Z  {devices.Count} device(s), {devices.Count(d => d.State == "online")} online");
        o.AppendLine();
        var rows = new List<string[]> { new[] { "DEVICE", "STATE", "LAST SEEN", "CAMERAS", "DISK", "LAST EVENT", "OUTBOX", "CLOCK", "BOARD" } };
        foreach (var d in devices)
            rows.Add([
                $"{d.SiteId}/{d.DeviceId}",
                d.State == "offline" && d.OfflineReason is { } r ? $"offline ({r})" : d.State,
                d.LastSeen is { } seen ? Age(now - seen) + " ago" : "-",
                d.CamerasTotal is int total ? $"{d.CamerasRecording}/{total} rec" + (d.Cameras!.Where(c => c.State != "recording").Select(c => c.Id).ToList() is { Count: > 0 } down ? $" (down: {string.Join(",", down)})" : "") : "-",
                d.FreeDays is double days ? $"{days.ToString("0.#", CultureInfo.InvariantCulture)} days" : "-",
                d.LastEvent is { } e ? $"{e.Kind} {(e.At is { } at ? Age(now - at) + " ago" : "")}".Trim() : "-",
                d.Outbox is { } ob ? $"{ob.Messages ?? 0} msg" + (ob.ClipsPending is > 0 ? $", {ob.ClipsPending} clip(s)" : "") : "-",
                d.ClockSynchronised switch { true => "synced", false => "NOT SYNCED", null => "-" },
                Board(d.Board),
            ]);
        var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        for (int i = 0; i < rows.Count; i++)
        {
            var line = string.Join("  ", rows[i].Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd();
            o.AppendLine(width > 0 && line.Length > width ? line[..width] : line);
            if (i > 0)
                foreach (var problem in devices[i - 1].Problems) o.AppendLine("    ! " + problem);
        }
        if (devices.Count == 0) o.AppendLine("(no device has published a status or health yet)");
        return o.ToString();
    }

    private static string Board(BoardView? b)
    {
        if (b is null) return "-";
        var parts = new List<string>();
        if (b.CpuTemperatureC is double t) parts.Add($"{t:0}°C");
        if (b.UnderVoltageNow == true) parts.Add("UNDER-VOLTAGE");
        else if (b.UnderVoltageSinceBoot == true) parts.Add("under-voltage since boot");
        if (b.ThrottledNow == true) parts.Add("THROTTLED");
        return parts.Count == 0 ? "ok" : string.Join(" ", parts);
    }

    private static string Age(TimeSpan age)
    {
        if (age < TimeSpan.Zero) return "0 s";
        return age.TotalSeconds < 120 ? $"{age.TotalSeconds:0} s" : age.TotalMinutes < 120 ? $"{age.TotalMinutes:0} min" : age.TotalHours < 48 ? $"{age.TotalHours:0} h" : $"{age.TotalDays:0} d";
    }
}
