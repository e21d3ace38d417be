// `edge monitor --once --json` against a real mosquitto with the deployment's security: boxes publish their retained
// status and health with their own certificates (docs/protocol.md), the monitor reads them with its own.
using System.Text.Json;
using Edge.Agent.Broker;
using Edge.Agent.Cli;
using Edge.Agent.Monitoring;
using Edge.Tests.Fixtures;
using Edge.Tests.Support;
using MQTTnet;
using MQTTnet.Protocol;

namespace Edge.Tests.Monitoring;

public sealed class Monitor_Tests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static async Task PublishRetainedAsync(MosquittoBroker broker, string device, params (string Leaf, string Payload)[] messages)
    {
        var (cert, key) = broker.Certificates!.Client(device);
        var connection = new BrokerConnection(new BrokerEndpoint(broker.Url, broker.Certificates.CaFile, cert, key));
        using var client = new MqttClientFactory().CreateMqttClient();
        using var limit = new CancellationTokenSource(Limit);
        var connected = await client.ConnectAsync(connection.CreateOptions($"test-{device}", Limit).Build(), limit.Token);
        Assert.Equal(MqttClientConnectResultCode.Success, connected.ResultCode);
        foreach (var (leaf, payload) in messages)
        {
            var result = await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic($"edge/v1/{TestCertificates.SiteId}/{device}/{leaf}").WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag().Build(), limit.Token);
            Assert.True(result.IsSuccess, $"{device} publishing {leaf}: {result.ReasonCode}");
        }
        await client.DisconnectAsync(cancellationToken: limit.Token);
    }

    private static Task<EdgeResult> MonitorOnceAsync(MosquittoBroker broker, params string[] extra)
    {
        var (cert, key) = broker.Certificates!.Client(TestCertificates.Monitor);
        return EdgeProcess.RunAsync(Limit, ["monitor", "--broker", broker.Url.ToString(), "--ca", broker.Certificates.CaFile,
            "--cert", cert, "--key", key, "--once", "--wait", "3", .. extra]);
    }

    private static string Status(string device, string state, string? reason = null) =>
        $$"""{"schema":1,"state":"{{state}}","siteId":"test-site","deviceId":"{{device}}","version":"0.1.0","bootTime":"2026-11-23T00:00:00.000Z","startedAt":"2026-11-23T00:01:00.000Z"{{(reason is null ? "" : $",\"reason\":\"{reason}\"")}}}""";

    private const string HealthA = """
        {"schema":1,"at":"2026-11-23T03:00:00.000Z","uptimeSeconds":10740,
         "cameras":[{"id":"door-inside","state":"recording","bitrateKbps":2048,"lastSegmentEnd":"2026-11-23T02:59:58.000Z"},
                    {"id":"rack-row","state":"offline","bitrateKbps":0,"lastSegmentEnd":null}],
         "volumes":[{"path":"/srv/edge/usb","active":true,"usedPercent":41.2,"freeBytes":123456789,"freeDays":37.5},
                    {"path":"/var/lib/edge/video","active":false,"usedPercent":10,"freeBytes":99,"freeDays":2}],
         "outbox":{"messages":12,"bytes":3400,"clipsPending":1},
         "clockSynchronised":true,
         "board":{"cpuTemperatureC":51.2,"underVoltageNow":false,"underVoltageSinceBoot":true,"throttledNow":false},
         "lastEvent":{"kind":"door_entry","at":"2026-11-23T02:55:00.000Z"},"futureField":{"ignored":true}}
        """;

    [Fact]
    public async Task Once_json_shows_each_devices_state_cameras_disk_outbox_clock_and_last_event_from_their_retained_status_and_health()
    {
        await using var broker = await MosquittoBroker.StartSecureAsync();
        await PublishRetainedAsync(broker, "box-a", ("status", Status("box-a", "online")), ("health", HealthA));
        await PublishRetainedAsync(broker, "box-b", ("status", Status("box-b", "offline", "connection lost")),
            ("health", """{"schema":1,"at":"2026-11-23T01:00:00.000Z","cameras":[],"volumes":[],"clockSynchronised":false}"""));

        var result = await MonitorOnceAsync(broker, "--json");

        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.Stderr}");
        var fleet = JsonSerializer.Deserialize<MonitorCommand.FleetJson>(result.Stdout, CliJson.Options)!;
        Assert.Equal(["box-a", "box-b"], fleet.Devices.Select(d => d.DeviceId));
        var a = fleet.Devices[0];
        Assert.Equal(("test-site", "online", "0.1.0"), (a.SiteId, a.State, a.Version));
        Assert.Equal(DateTimeOffset.Parse("2026-11-23T03:00:00Z"), a.LastSeen);
        Assert.Equal((1, 2), (a.CamerasRecording, a.CamerasTotal));
        Assert.Equal(37.5, a.FreeDays); // the active volume's, not the best
        Assert.Equal(new OutboxView(12, 3400, 1), a.Outbox);
        Assert.True(a.ClockSynchronised);
        Assert.Equal(new BoardView(51.2, false, true, false), a.Board);
        Assert.Equal(new LastEventView("door_entry", DateTimeOffset.Parse("2026-11-23T02:55:00Z")), a.LastEvent);
        Assert.Empty(a.Problems);
        var b = fleet.Devices[1];
        Assert.Equal(("offline", "connection lost", false), (b.State, b.OfflineReason, b.ClockSynchronised));
        Assert.Equal((0, 0), (b.CamerasRecording, b.CamerasTotal));
        Assert.Null(b.Board); // absent where the board does not report it
    }

    [Fact]
    public async Task Malformed_status_and_health_payloads_are_shown_as_such_and_the_rest_of_the_fleet_still_shows()
    {
        await using var broker = await MosquittoBroker.StartSecureAsync();
        await PublishRetainedAsync(broker, "box-a", ("status", "not json {"), ("health", """{"schema":1,"at":"yesterday"}"""));
        await PublishRetainedAsync(broker, "box-b", ("status", """{"schema":2,"state":"online"}"""),
            ("health", """{"schema":1,"at":"2026-11-23T03:00:00.000Z","cameras":"many","outbox":{"messages":"12"}}"""));
        await PublishRetainedAsync(broker, "test-box", ("status", Status("test-box", "online")), ("health", HealthA));

        var json = await MonitorOnceAsync(broker, "--json");
        var text = await MonitorOnceAsync(broker);

        Assert.True(json.ExitCode == 0, $"exit {json.ExitCode}: {json.Stderr}");
        var devices = JsonSerializer.Deserialize<MonitorCommand.FleetJson>(json.Stdout, CliJson.Options)!.Devices;
        Assert.Equal(["box-a", "box-b", "test-box"], devices.Select(d => d.DeviceId));
        Assert.Equal("unknown", devices[0].State);
        Assert.Contains(devices[0].Problems, p => p.StartsWith("status: malformed: not JSON", StringComparison.Ordinal) && p.Contains("not json {", StringComparison.Ordinal));
        Assert.Contains(devices[0].Problems, p => p.StartsWith("health: malformed: at: expected an ISO 8601 UTC time", StringComparison.Ordinal));
        Assert.Contains(devices[1].Problems, p => p.StartsWith("status: malformed: schema: 2 is not a schema this monitor reads", StringComparison.Ordinal));
        Assert.Contains(devices[1].Problems, p => p.StartsWith("health: malformed: cameras: expected an array", StringComparison.Ordinal));
        Assert.Equal(("online", 1, 2), (devices[2].State, devices[2].CamerasRecording, devices[2].CamerasTotal));
        Assert.Empty(devices[2].Problems);

        Assert.True(text.ExitCode == 0, $"exit {text.ExitCode}: {text.Stderr}");
        Assert.Contains("test-site/test-box", text.Stdout);
        Assert.Contains("! status: malformed: not JSON", text.Stdout);
        Assert.Contains("1/2 rec (down: rack-row)", text.Stdout);
    }

    [Fact]
    public async Task Once_fails_with_the_reason_when_the_broker_is_not_there_or_the_certificate_is_not_the_monitors()
    {
        await using var broker = await MosquittoBroker.StartSecureAsync();
        var certificates = broker.Certificates!;
        var (otherCert, otherKey) = certificates.Client("box-a");
        var (monitorCert, _) = certificates.Client(TestCertificates.Monitor);

        var mismatched = await EdgeProcess.RunAsync(Limit, "monitor", "--broker", broker.Url.ToString(), "--ca", certificates.CaFile,
            "--cert", monitorCert, "--key", otherKey, "--once");
        var asDevice = await EdgeProcess.RunAsync(Limit, "monitor", "--broker", broker.Url.ToString(), "--ca", certificates.CaFile,
            "--cert", otherCert, "--key", otherKey, "--once", "--json");
        await broker.StopAsync();
        var stopped = await MonitorOnceAsync(broker, "--json");

        Assert.Equal(2, mismatched.ExitCode);
        Assert.Contains("the key must belong to the certificate", mismatched.Stderr);
        // A device's certificate may not read other devices' status: mosquitto grants the subscription and filters,
        // so the monitor connects and sees nothing (box-a has published nothing retained here either).
        Assert.Equal(0, asDevice.ExitCode);
        Assert.Empty(JsonSerializer.Deserialize<MonitorCommand.FleetJson>(asDevice.Stdout, CliJson.Options)!.Devices);
        Assert.Equal(1, stopped.ExitCode);
        Assert.StartsWith($"edge: monitor: mqtts://127.0.0.1:{broker.Port}: ", stopped.Stderr);
        Assert.Empty(stopped.Stdout);
    }

    [Fact]
    public async Task The_live_view_prints_each_change_and_comes_back_after_the_broker_does()
    {
        await using var broker = await MosquittoBroker.StartSecureAsync();
        await PublishRetainedAsync(broker, "box-a", ("status", Status("box-a", "online")));
        var (cert, key) = broker.Certificates!.Client(TestCertificates.Monitor);
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var monitor = EdgeProcess.Start(lines.Enqueue, "monitor", "--broker", broker.Url.ToString(), "--ca", broker.Certificates.CaFile, "--cert", cert, "--key", key);
        async Task SeenAsync(string what, Func<string, bool> line)
        {
            var deadline = DateTime.UtcNow + Limit;
            while (!lines.Any(line))
            {
                Assert.False(monitor.HasExited, $"edge monitor exited ({(monitor.HasExited ? monitor.ExitCode : 0)}) before showing {what}:\n{string.Join('\n', lines)}");
                Assert.True(DateTime.UtcNow < deadline, $"edge monitor did not show {what} within {Limit.TotalSeconds:0} s:\n{string.Join('\n', lines)}");
                await Task.Delay(100);
            }
        }
        try
        {
            await SeenAsync("box-a online", l => l.StartsWith("test-site/box-a  online", StringComparison.Ordinal));
            await PublishRetainedAsync(broker, "box-a", ("status", Status("box-a", "offline", "connection lost")));
            await SeenAsync("box-a offline", l => l.StartsWith("test-site/box-a  offline (connection lost)", StringComparison.Ordinal));

            await broker.StopAsync();
            await SeenAsync("the lost connection", l => l.Contains("connection lost; retrying", StringComparison.Ordinal) || l.Contains("not connected:", StringComparison.Ordinal));
            lines.Clear();
            await broker.StartAsync();
            await PublishRetainedAsync(broker, "box-b", ("status", Status("box-b", "online")));
            await SeenAsync("box-b online after the broker came back", l => l.StartsWith("test-site/box-b  online", StringComparison.Ordinal));
        }
        finally
        {
            monitor.Kill(entireProcessTree: true);
            await monitor.WaitForExitAsync();
        }
    }
}
