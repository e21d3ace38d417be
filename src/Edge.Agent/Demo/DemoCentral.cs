// The other end of `edge demo`: an embedded MQTT broker on loopback (unless --broker names one) and an embedded
// central (the same CentralReceiver `edge central` runs) writing under DIR/central/, so the demo shows a flagged
// window leaving the box sealed and arriving at the central verified, opened and cut.
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Edge.Agent.Central;
using Edge.Agent.Sealing;
using Microsoft.Extensions.Logging;
using MQTTnet.Server;

namespace Edge.Agent.Demo;

/// <summary>MQTTnet's broker on 127.0.0.1 only. It has no packet-size limit of its own (it allocates whatever a CONNECT or PUBLISH header announces), so it refuses large publishes after the fact and is never exposed beyond loopback.</summary>
public sealed class EmbeddedBroker : IAsyncDisposable
{
    /// <summary>Well above a 64 KiB clip chunk (the largest sync.clipChunkBytes is 1 MiB) plus headers.</summary>
    public const int MaxPayloadBytes = (1 << 20) + 64 * 1024;

    private readonly MqttServer _server;

    private EmbeddedBroker(MqttServer server, int port)
    {
        _server = server;
        Url = new Uri($"mqtt://127.0.0.1:{port}");
    }

    public Uri Url { get; }

    public static async Task<EmbeddedBroker> StartAsync(ILogger log)
    {
        // A free port: bind to 0, read it, release it. MQTTnet then binds it a moment later (loopback only).
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
        }
        var factory = new MqttServerFactory();
        var options = factory.CreateServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Loopback)
            .WithDefaultEndpointBoundIPV6Address(IPAddress.None)
            .WithDefaultEndpointPort(port)
            // The central's session (and what queues for it) lives as long as this process.
            .WithPersistentSessions(true)
            .WithMaxPendingMessagesPerClient(100_000)
            .Build();
        var server = factory.CreateMqttServer(options);
        server.InterceptingPublishAsync += e =>
        {
            if (e.ApplicationMessage.Payload.Length > MaxPayloadBytes)
            {
                e.ProcessPublish = false;
                e.Response.ReasonCode = MQTTnet.Protocol.MqttPubAckReasonCode.QuotaExceeded;
                e.Response.ReasonString = $"payload above this broker's {MaxPayloadBytes} bytes";
                log.LogWarning("demo broker: refused {Bytes} bytes on {Topic} from {Client} (limit {Limit})", e.ApplicationMessage.Payload.Length, e.ApplicationMessage.Topic, e.ClientId, MaxPayloadBytes);
            }
            return Task.CompletedTask;
        };
        await server.StartAsync().ConfigureAwait(false);
        return new EmbeddedBroker(server, port);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.StopAsync().ConfigureAwait(false);
        _server.Dispose();
    }
}

/// <summary>The demo's central: DIR/central/central.json, its store and its output, with the owner's two keys from DIR/owner.</summary>
public sealed class DemoCentral : IAsyncDisposable
{
    private readonly CentralStore _store;
    private readonly OwnerPrivateKey _ownerKey;
    private readonly System.Security.Cryptography.ECDsa _signer;
    private readonly ILoggerFactory _loggers;

    private DemoCentral(CentralSettings settings, CentralStore store, OwnerPrivateKey ownerKey, System.Security.Cryptography.ECDsa signer, ILoggerFactory loggers, CentralReceiver receiver)
    {
        Settings = settings;
        _store = store;
        _ownerKey = ownerKey;
        _signer = signer;
        _loggers = loggers;
        Receiver = receiver;
    }

    public CentralSettings Settings { get; }
    public CentralReceiver Receiver { get; }
    public CentralStore Store => _store;

    /// <param name="embeddedBroker">MQTTnet's broker offers no shared subscriptions: subscribe plainly (one receiver).</param>
    public static async Task<DemoCentral> StartAsync(string root, Uri broker, bool embeddedBroker, ILoggerProvider logProvider, TimeProvider time, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(root, "central");
        Directory.CreateDirectory(dir);
        var configPath = Path.Combine(dir, "central.json");
        File.WriteAllText(configPath, new JsonObject
        {
            ["broker"] = broker.ToString(),
            ["clientId"] = "edge-demo-central",
            ["ownerKey"] = "../owner/owner.key",
            ["commandSigningKey"] = $"../owner/{Sealing.CommandSigningKeys.PrivateKeyFileName}",
            ["storeDirectory"] = "store",
            ["storeKeyFile"] = "keys/store.key",
            ["outputDirectory"] = "out",
        }.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        var settings = CentralConfigLoader.Load(configPath);
        var (ownerKey, signer) = settings.LoadKeys();
        var store = CentralStore.Open(settings);
        var loggers = LoggerFactory.Create(b => b.AddProvider(logProvider).SetMinimumLevel(LogLevel.Information));
        var receiver = new CentralReceiver(settings, store, ownerKey, signer, time, loggers.CreateLogger("central"), sharedSubscriptions: embeddedBroker ? false : null);
        await receiver.StartAsync(cancellationToken).ConfigureAwait(false);
        return new DemoCentral(settings, store, ownerKey, signer, loggers, receiver);
    }

    public async ValueTask DisposeAsync()
    {
        await Receiver.DisposeAsync().ConfigureAwait(false);
        _store.Dispose();
        _ownerKey.Dispose();
        _signer.Dispose();
        _loggers.Dispose();
    }
}
