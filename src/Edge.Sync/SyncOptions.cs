// The validated `sync` section of edge.json (see docs/ref/config.md and docs/protocol.md). Built by the agent's
// config validator; everything in Edge.Sync takes this, never raw JSON.
namespace Edge.Sync;

public sealed record SyncOptions
{
    /// <summary>mqtt://host:port (plain, tests and the demo) or mqtts://host:port (TLS).</summary>
    public required Uri Broker { get; init; }

    public bool UseTls => Broker.Scheme == "mqtts";

    /// <summary>PEM CA the broker's certificate must chain to; null: the system's trust store.</summary>
    public string? CaFile { get; init; }

    /// <summary>PEM client certificate and its key (mutual TLS); both or neither.</summary>
    public string? CertFile { get; init; }
    public string? KeyFile { get; init; }

    public string? Username { get; init; }
    /// <summary>A file holding the password (mode 0600), so edge.json can stay readable by technicians.</summary>
    public string? PasswordFile { get; init; }

    /// <summary>The owner's command-signing public key (owner-sign.pub, ECDSA P-256): commands from the central must carry its signature.</summary>
    public string? CommandPublicKeyFile { get; init; }

    public TimeSpan HealthInterval { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>Clip chunk size; 64 KiB fits EMQX's and AWS IoT's limits.</summary>
    public int ClipChunkBytes { get; init; } = 64 * 1024;
    /// <summary>Clip upload cap in kbit/s; 0 = no cap.</summary>
    public int ClipBandwidthKbps { get; init; } = 1000;
    /// <summary>Outbox bound; metadata is never dropped to make room for clips.</summary>
    public long OutboxMaxBytes { get; init; } = 256L << 20;
    /// <summary>A command older (or further in the future) than this is refused as expired.</summary>
    public TimeSpan CommandMaxAge { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>
    /// A clip every chunk of which the broker took, but whose clip-ack has not come this long after, is uploaded again
    /// (the central may never have had it: a broker restarted without persistence while it was away).
    /// </summary>
    public TimeSpan ClipAckTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>edge/v1/{site}/{device}</summary>
    public static string TopicRoot(string siteId, string deviceId) => $"edge/v1/{siteId}/{deviceId}";
}
