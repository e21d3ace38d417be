// Pieces of the central tests: real footage recorded and sealed once by the real agent (RecordedFootage), a test-side
// box that speaks the box's half of docs/protocol.md over a real broker (BoxPublisher: real messages, its own MQTT
// client), and a central running in this process (CentralUnderTest: the same CentralReceiver `edge central` runs).
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Edge.Agent.Central;
using Edge.Agent.Index;
using Edge.Sync;
using Edge.Sync.Protocol;
using Edge.Agent.Sealing;
using Edge.Tests.Support;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Edge.Tests.Central;

/// <summary>About 10 s of two test-pattern cameras (2 s segments, a key frame a second), sealed to the site's owner key.</summary>
public sealed class RecordedFootage : IAsyncLifetime
{
    public const string Camera = "door-cam";
    public const string SecondCamera = "rack-cam";
    private TestSite? _site;

    public TestSite Site => _site!;
    public IReadOnlyList<SegmentRecord> Segments { get; private set; } = [];
    public IReadOnlyList<SegmentRecord> SecondCameraSegments { get; private set; } = [];
    public string OwnerKeyPath => Site.OwnerKeys.PrivateKeyPath;

    public async Task InitializeAsync()
    {
        _site = new TestSite(new NullOutput(), TestSite.TestPatternCamera(Camera, segmentSeconds: 2, fps: 15), TestSite.TestPatternCamera(SecondCamera, segmentSeconds: 2, fps: 10));
        await _site.StartAsync();
        await TestSite.WaitUntilAsync(() => _site.Index!.QuerySegments(Camera).Count >= 5 && _site.Index!.QuerySegments(SecondCamera).Count >= 5, TimeSpan.FromSeconds(90), "five sealed segments per camera");
        await _site.StopAsync();
        using var index = IndexOpener.Open(_site.Settings, createKeyIfMissing: false);
        Segments = index.QuerySegments(Camera);
        SecondCameraSegments = index.QuerySegments(SecondCamera);
    }

    public async Task DisposeAsync()
    {
        if (_site is not null) await _site.DisposeAsync();
    }

    private sealed class NullOutput : ITestOutputHelper
    {
        public void WriteLine(string message) { }
        public void WriteLine(string format, params object[] args) { }
    }
}

/// <summary>A chunk as the box publishes it: the bytes of its sealed file and the user properties describing them.</summary>
/// <summary>A chunk as a box would describe it: its checksums are computed from <see cref="Bytes"/> (so `with { Bytes = … }` is a box that hashed changed bytes).</summary>
public sealed record TestChunk(long Segment, int Index, int Count, long Offset, byte[] Bytes)
{
    public string Sha256 => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Bytes));
    public string Crc32C => Edge.Sync.Protocol.ChunkChecksum.Crc32C(Bytes);
}

/// <summary>Which checksum property a chunk carries: crc32c (boxes now), sha256 (older boxes), or both.</summary>
public enum ChunkChecksums { Crc32C, Sha256, Both }

/// <summary>The box's side of the protocol, played by the test over a real broker.</summary>
public sealed class BoxPublisher : IAsyncDisposable
{
    public const string SiteId = "test-site";
    public const string DeviceId = "test-box";
    public static string Root => SyncOptions.TopicRoot(SiteId, DeviceId);

    private readonly IMqttClient _client;
    private readonly ECDsa? _commandKey;
    // Commands already handed to the test: each is returned once.
    private readonly HashSet<string> _returned = [];

    private BoxPublisher(IMqttClient client, ECDsa? commandKey)
    {
        _client = client;
        _commandKey = commandKey;
    }

    /// <summary>Every command that reached the box's cmd/# subscription, in arrival order (raw envelopes).</summary>
    public ConcurrentQueue<(string Topic, byte[] Payload)> Commands { get; } = new();

    public static async Task<BoxPublisher> ConnectAsync(Uri broker, string? commandPublicKeyPath)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var box = new BoxPublisher(client, commandPublicKeyPath is null ? null : CommandSigningKeys.LoadPublic(commandPublicKeyPath));
        client.ApplicationMessageReceivedAsync += e =>
        {
            box.Commands.Enqueue((e.ApplicationMessage.Topic, System.Buffers.BuffersExtensions.ToArray(e.ApplicationMessage.Payload)));
            return Task.CompletedTask;
        };
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(broker.Host, broker.Port).WithClientId($"box-{Guid.NewGuid():N}").Build(), limit.Token);
        await client.SubscribeAsync($"{Root}/cmd/#", MqttQualityOfServiceLevel.AtLeastOnce, limit.Token);
        return box;
    }

    public async Task PublishAsync(string subtopic, byte[] payload, IEnumerable<(string Name, string Value)>? properties = null, bool retain = false)
    {
        var result = await TryPublishAsync(subtopic, payload, properties, retain);
        Assert.True(result.IsSuccess, $"publish to {subtopic}: {result.ReasonCode}");
    }

    public async Task<MqttClientPublishResult> TryPublishAsync(string subtopic, byte[] payload, IEnumerable<(string Name, string Value)>? properties = null, bool retain = false)
    {
        var builder = new MqttApplicationMessageBuilder().WithTopic($"{Root}/{subtopic}").WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(retain);
        foreach (var (name, value) in properties ?? []) builder.WithUserProperty(name, new ReadOnlyMemory<byte>(Encoding.UTF8.GetBytes(value)));
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return await _client.PublishAsync(builder.Build(), limit.Token);
    }

    public Task PublishJsonAsync(string subtopic, JsonNode json, bool retain = false) =>
        PublishAsync(subtopic, JsonSerializer.SerializeToUtf8Bytes(json), retain: retain);

    /// <summary>Publishes a chunk described by its checksums; <paramref name="bytesOverride"/> is damage on the way (other bytes, the same checksums).</summary>
    public Task PublishChunkAsync(string clipId, TestChunk chunk, byte[]? bytesOverride = null, ChunkChecksums checksums = ChunkChecksums.Crc32C)
    {
        var properties = new List<(string, string)>
        {
            ("schema", "1"), ("segment", chunk.Segment.ToString()), ("chunk", chunk.Index.ToString()), ("chunks", chunk.Count.ToString()),
            ("offset", chunk.Offset.ToString()),
        };
        if (checksums is ChunkChecksums.Crc32C or ChunkChecksums.Both) properties.Add(("crc32c", chunk.Crc32C));
        if (checksums is ChunkChecksums.Sha256 or ChunkChecksums.Both) properties.Add(("sha256", chunk.Sha256));
        return PublishAsync($"clips/{clipId}/chunk", bytesOverride ?? chunk.Bytes, properties);
    }

    public static JsonObject Manifest(string clipId, DateTimeOffset from, DateTimeOffset to, IEnumerable<SegmentRecord> segments, int chunkBytes) => new()
    {
        ["schema"] = 1,
        ["clipId"] = clipId,
        ["flagId"] = 12,
        ["reason"] = "door_entry server-room",
        ["from"] = ProtocolTime.Format(from),
        ["to"] = ProtocolTime.Format(to),
        ["cameras"] = new JsonArray(segments.Select(s => s.Camera).Distinct().Select(c => (JsonNode)c).ToArray()),
        ["chunkBytes"] = chunkBytes,
        ["segments"] = new JsonArray(segments.Select(s => (JsonNode)new JsonObject
        {
            ["id"] = s.Id,
            ["camera"] = s.Camera,
            ["start"] = ProtocolTime.Format(new DateTimeOffset(s.StartUtc, TimeSpan.Zero)),
            ["end"] = ProtocolTime.Format(new DateTimeOffset(s.EndUtc, TimeSpan.Zero)),
            ["container"] = s.Container,
            ["storedBytes"] = s.StoredBytes,
            ["storedSha256"] = s.StoredSha256,
            ["wrappedKey"] = Convert.ToBase64String(s.WrappedKey!),
            ["ownerKeyId"] = s.OwnerKeyId,
            ["chunks"] = (s.StoredBytes + chunkBytes - 1) / chunkBytes,
            ["relativePath"] = s.RelativePath.Replace('\\', '/'),
            ["bytes"] = s.Bytes,
            ["sha256"] = s.Sha256,
        }).ToArray()),
    };

    public static IReadOnlyList<TestChunk> ChunksOf(SegmentRecord segment, int chunkBytes)
    {
        var bytes = File.ReadAllBytes(segment.FullPath);
        int count = (bytes.Length + chunkBytes - 1) / chunkBytes;
        return Enumerable.Range(0, count).Select(i =>
        {
            var part = bytes.AsSpan(i * chunkBytes, Math.Min(chunkBytes, bytes.Length - i * chunkBytes)).ToArray();
            return new TestChunk(segment.Id, i, count, (long)i * chunkBytes, part);
        }).ToList();
    }

    /// <summary>
    /// Waits for a command on R/cmd/{name} and returns it once. Every command is checked by the box's own
    /// CommandVerifier (signature with owner-sign.pub, site and device, age, nonce), so these tests also prove the
    /// central's envelopes are what the box accepts; one the box would refuse fails the test.
    /// </summary>
    public async Task<TestCommand> NextCommandAsync(string name, TimeSpan timeout, Func<TestCommand, bool>? match = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            while (Commands.TryDequeue(out var received))
            {
                var verifier = new CommandVerifier(_commandKey ?? throw new InvalidOperationException("this box was given no command public key"),
                    SiteId, DeviceId, TimeSpan.FromMinutes(5), TimeProvider.System);
                var check = verifier.Check(received.Topic[(received.Topic.LastIndexOf('/') + 1)..], received.Payload, (id, _) => _nonces.Add(id));
                Assert.True(check.Accepted, $"the box's verifier refuses the central's command on {received.Topic}: {check.Error}: {check.Detail}");
                _verified.Add(new TestCommand(check.Body!.Id, check.Body.Name, check.Body.SiteId, check.Body.DeviceId, new DateTimeOffset(check.Body.IssuedAt, TimeSpan.Zero), JsonNode.Parse(check.Body.Args.GetRawText())!.AsObject()));
                Seen.Add(received.Topic);
            }
            foreach (var command in _verified)
            {
                if (command.Name != name || _returned.Contains(command.Id) || !(match?.Invoke(command) ?? true)) continue;
                _returned.Add(command.Id);
                return command;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"no {name} command within {timeout.TotalSeconds:0} s; commands seen: {string.Join(", ", Seen)}");
    }

    private readonly HashSet<string> _nonces = [];
    private readonly List<TestCommand> _verified = [];
    private ConcurrentBag<string> Seen { get; } = [];

    public async ValueTask DisposeAsync()
    {
        try { await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build()); } catch (Exception) { /* already gone */ }
        _client.Dispose();
        _commandKey?.Dispose();
    }
}

/// <summary>A command as the box's verifier accepted it; Args as a JsonObject for the tests' convenience.</summary>
public sealed record TestCommand(string Id, string Name, string SiteId, string DeviceId, DateTimeOffset IssuedAt, JsonObject Args);

/// <summary>A central in this process: its own directory, central.json, store, output, and the owner's two keys.</summary>
public sealed class CentralUnderTest : IAsyncDisposable
{
    private readonly ITestOutputHelper _output;
    private CentralStore? _store;
    private Edge.Agent.Sealing.OwnerPrivateKey? _ownerKey;
    private ECDsa? _signer;

    public CentralUnderTest(ITestOutputHelper output, Uri broker, string ownerKeyPath)
        : this(output, broker, ownerKeyPath, _ => { }) { }

    /// <param name="configure">Changes central.json before it is written; Rewrite changes it later (between restarts).</param>
    public CentralUnderTest(ITestOutputHelper output, Uri broker, string ownerKeyPath, Action<JsonObject> configure)
    {
        _output = output;
        Root = Directory.CreateTempSubdirectory("edge-central-").FullName;
        var keys = Path.Combine(Root, "keys");
        Directory.CreateDirectory(keys);
        File.Copy(ownerKeyPath, Path.Combine(keys, "owner.key"));
        File.SetUnixFileMode(Path.Combine(keys, "owner.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var signing = CommandSigningKeys.CreatePair(keys, passphrase: null);
        CommandPublicKeyPath = signing.PublicKeyPath;
        ConfigPath = Path.Combine(Root, "central.json");
        _config = new JsonObject
        {
            ["broker"] = broker.ToString(),
            ["clientId"] = $"central-{Guid.NewGuid():N}",
            ["ownerKey"] = "keys/owner.key",
            ["commandSigningKey"] = "keys/owner-sign.key",
            ["storeDirectory"] = "store",
            ["storeKeyFile"] = "keys/store.key",
            ["outputDirectory"] = "out",
        };
        configure(_config);
        File.WriteAllText(ConfigPath, _config.ToJsonString());
        Settings = CentralConfigLoader.Load(ConfigPath);
    }

    private readonly JsonObject _config;

    /// <summary>Changes central.json; takes effect at the next StartAsync.</summary>
    public void Rewrite(Action<JsonObject> change)
    {
        change(_config);
        File.WriteAllText(ConfigPath, _config.ToJsonString());
        Settings = CentralConfigLoader.Load(ConfigPath);
    }

    public string Root { get; }
    public string ConfigPath { get; }
    public string CommandPublicKeyPath { get; }
    public CentralSettings Settings { get; private set; }
    public CentralReceiver? Receiver { get; private set; }
    public CentralStore Store => _store!;

    public string ClipDirectory(string clipId) => ClipProcessor.OutputDirectoryFor(Settings.OutputDirectory, BoxPublisher.SiteId, BoxPublisher.DeviceId, clipId);

    public async Task StartAsync()
    {
        (_ownerKey, _signer) = Settings.LoadKeys();
        _store = CentralStore.Open(Settings);
        Receiver = new CentralReceiver(Settings, _store, _ownerKey, _signer, TimeProvider.System, new TestOutputLogger(_output, "central"));
        await Receiver.StartAsync(CancellationToken.None);
        await TestSite.WaitUntilAsync(() => Receiver.IsConnected, TimeSpan.FromSeconds(30), "the central to connect");
    }

    public async Task StopAsync()
    {
        if (Receiver is not null) await Receiver.DisposeAsync();
        Receiver = null;
        _store?.Dispose();
        _store = null;
        _ownerKey?.Dispose();
        _signer?.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

internal sealed class TestOutputLogger(ITestOutputHelper output, string category) : Microsoft.Extensions.Logging.ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        try { output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)} {exception}"); }
        catch (InvalidOperationException) { /* the test has finished */ }
    }
}
