// The box's MQTT side (docs/protocol.md): one MQTTnet 5 client, MQTT 5, with a retained Last Will `offline` on
// R/status. While connected it publishes `online`, a retained health every sync.healthSeconds, drains the outbox
// (metadata first, then clip chunks under the bandwidth cap) and answers signed commands on R/cmd/#. When the
// connection drops it reconnects with backoff (1 s doubling to 60 s, with jitter); MQTTnet 5 does not re-send
// unacknowledged QoS 1 messages after a reconnect, so nothing is marked sent before its PUBACK and the outbox
// re-sends from the first unacknowledged message. On shutdown it publishes `offline` itself (a broker sends the Will
// only when a connection dies without DISCONNECT).
//
// Speed: metadata is published with several QoS 1 messages in flight (in order on one connection, which MQTT keeps
// in order) and "sent" is marked once per batch, so draining is bound by the broker's round trip, not by one fsync
// per message.
using System.Buffers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Edge.Sync.Protocol;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;

namespace Edge.Sync;

public enum SyncConnectionState { Stopped, Connecting, Connected, WaitingToReconnect }

public sealed record SyncSnapshot(string Broker, SyncConnectionState State, DateTime? ConnectedSinceUtc, string? LastError,
    long MetadataPublished, long ChunksPublished, int Reconnects);

/// <summary>The broker answered a publish or a connect with a refusal (an MQTT 5 reason code).</summary>
public sealed class BrokerRefusedException(string message) : Exception(message);

public sealed class SyncEngine : IAsyncDisposable
{
    /// <summary>QoS 1 publishes in flight at once: below mosquitto's default receive maximum (20).</summary>
    public const int MetadataWindow = 16;
    /// <summary>
    /// Chunks in flight: 16 without a cap (throughput; under mosquitto's receive maximum of 20), 1 under a cap (the cap sets the pace anyway, and after a kill at
    /// most the one chunk whose PUBACK was on its way is sent again).
    /// </summary>
    public static int ChunkWindowFor(int clipBandwidthKbps) => clipBandwidthKbps > 0 ? 1 : 16;
    public const int MetadataBatch = 1000;
    /// <summary>Without a cap, the clip's progress is written at most this often (ProgressWriter).</summary>
    public static readonly TimeSpan UncappedProgressInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(60);
    private const int MaxCommandBytes = 64 * 1024;

    private readonly SyncOptions _options;
    private readonly ISyncBackend _backend;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _root;
    private readonly IMqttClient _client;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Channel<(string Topic, byte[] Payload)> _commands = Channel.CreateBounded<(string, byte[])>(
        new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly CommandVerifier _verifier;
    private readonly TokenBucket _bucket;
    private volatile bool _workQueued;
    private volatile SyncConnectionState _state = SyncConnectionState.Stopped;
    private DateTime? _connectedSince;
    private string? _lastError;
    private long _metadataPublished, _chunksPublished;
    // Streams whose topic the broker refused (an ACL without the topic, e.g. a broker not updated for a new stream):
    // set aside until the time given, so one refused stream does not hold back the others or the clips behind them.
    private readonly Dictionary<string, DateTimeOffset> _streamRefusedUntil = [];
    /// <summary>How long a stream the broker refused waits before it is tried again (and after every reconnect).</summary>
    public static readonly TimeSpan RefusedStreamRetry = TimeSpan.FromMinutes(1);
    private int _reconnects;
    private CancellationTokenSource? _connection;

    public SyncEngine(SyncOptions options, ISyncBackend backend, ECDsa? commandKey, TimeProvider time, ILogger logger)
    {
        _options = options;
        _backend = backend;
        _time = time;
        _logger = logger;
        _root = SyncOptions.TopicRoot(backend.SiteId, backend.DeviceId);
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += e =>
        {
            // Copied and queued: the handler must not throw (no PUBACK then) nor wait on our own publishes.
            if (!_commands.Writer.TryWrite((e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray())))
                _logger.LogWarning("command on {Topic} dropped: 256 commands are already waiting", e.ApplicationMessage.Topic);
            return Task.CompletedTask;
        };
        _client.DisconnectedAsync += e =>
        {
            if (_state == SyncConnectionState.Connected)
                _logger.LogWarning("sync: connection to {Broker} lost ({Reason}{Detail})", options.Broker, e.Reason, e.ReasonString is { Length: > 0 } r ? ": " + r : "");
            _connection?.Cancel();
            return Task.CompletedTask;
        };
        _backend.WorkQueued += () =>
        {
            _workQueued = true;
            try { _wake.Release(); } catch (SemaphoreFullException) { }
        };
        _verifier = new CommandVerifier(commandKey, backend.SiteId, backend.DeviceId, options.CommandMaxAge, time);
        _bucket = new TokenBucket(options.ClipBandwidthKbps, options.ClipChunkBytes, time);
    }

    public string TopicRoot => _root;

    public SyncSnapshot Snapshot() => new(_options.Broker.ToString(), _state, _connectedSince, _lastError,
        Interlocked.Read(ref _metadataPublished), Interlocked.Read(ref _chunksPublished), _reconnects);

    /// <summary>Runs until <paramref name="stop"/>; then says `offline` and disconnects cleanly.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var housekeeping = HousekeepLoopAsync(stop);
        var commands = CommandLoopAsync(stop);
        var backoff = TimeSpan.FromSeconds(1);
        while (!stop.IsCancellationRequested)
        {
            _state = SyncConnectionState.Connecting;
            using var connection = CancellationTokenSource.CreateLinkedTokenSource(stop);
            _connection = connection;
            try
            {
                await ConnectAsync(stop).ConfigureAwait(false);
                backoff = TimeSpan.FromSeconds(1);
                // On its own thread: the first health (index queries, disk space, and in a fresh process the JIT of
                // its serialisation) is not to hold up the outbox and the clips waiting since the connection dropped.
                var health = Task.Run(() => HealthLoopAsync(connection.Token), CancellationToken.None);
                try { await PumpAsync(connection.Token).ConfigureAwait(false); }
                finally
                {
                    await connection.CancelAsync().ConfigureAwait(false);
                    await health.ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { break; }
            catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
            {
                if (e is not OperationCanceledException)
                {
                    _lastError = e.Message;
                    _logger.LogWarning("sync: {Error}; reconnecting in {Seconds:0} s", e.Message, backoff.TotalSeconds);
                }
            }
            finally { _connection = null; }
            if (stop.IsCancellationRequested) break;
            _state = SyncConnectionState.WaitingToReconnect;
            _connectedSince = null;
            if (_client.IsConnected)
            {
                try { await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None).ConfigureAwait(false); }
                catch (Exception e) when (e is not OutOfMemoryException) { _logger.LogDebug(e, "disconnect after a failure"); }
            }
            var jitter = TimeSpan.FromMilliseconds(Random.Shared.Next(0, 250));
            try { await Task.Delay(backoff + jitter, _time, stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            _reconnects++;
        }
        await SayOfflineAsync().ConfigureAwait(false);
        _state = SyncConnectionState.Stopped;
        _commands.Writer.TryComplete();
        await Task.WhenAll(housekeeping, commands).ConfigureAwait(false);
    }

    private async Task ConnectAsync(CancellationToken ct)
    {
        var options = BuildClientOptions();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        var result = await _client.ConnectAsync(options, timeout.Token).ConfigureAwait(false);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            // ConnectAsync does not throw on a refusal: the reason code is the broker's answer.
            throw new BrokerRefusedException($"broker {_options.Broker} refused the connection: reason {(int)result.ResultCode} ({result.ResultCode}){(result.ReasonString is { Length: > 0 } r ? ": " + r : "")}");
        }
        var subscribe = await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(SyncTopics.Commands(_root)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .Build(), timeout.Token).ConfigureAwait(false);
        foreach (var item in subscribe.Items.Where(i => (int)i.ResultCode > 2))
            _logger.LogWarning("sync: broker refused the subscription to {Topic}: reason {Code} ({Name}); commands will not arrive",
                item.TopicFilter.Topic, (int)item.ResultCode, item.ResultCode);
        await PublishCheckedAsync(SyncTopics.Status(_root), SyncJson.Serialize(_backend.Status("online", null)), retain: true, "status", ct).ConfigureAwait(false);
        _state = SyncConnectionState.Connected;
        _connectedSince = _time.GetUtcNow().UtcDateTime;
        _lastError = null;
        _logger.LogInformation("sync: connected to {Broker} as {Root}", _options.Broker, _root);
    }

    private MqttClientOptions BuildClientOptions()
    {
        var will = SyncJson.Serialize(new { schema = SyncJson.Schema, state = "offline", reason = "connection lost" });
        var port = _options.Broker.IsDefaultPort || _options.Broker.Port <= 0 ? (_options.UseTls ? 8883 : 1883) : _options.Broker.Port;
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_options.Broker.Host, port)
            .WithClientId($"edge-{_backend.SiteId}-{_backend.DeviceId}")
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithKeepAlivePeriod(_options.KeepAlive)
            .WithCleanStart(true)
            .WithTimeout(TimeSpan.FromSeconds(15))
            .WithWillTopic(SyncTopics.Status(_root))
            .WithWillPayload(will)
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithWillRetain(true);
        if (_options.Username is { } user)
        {
            var password = _options.PasswordFile is { } file ? File.ReadAllText(file).TrimEnd('\r', '\n') : null;
            builder.WithCredentials(user, password);
        }
        if (_options.UseTls)
        {
            var tls = new MqttClientTlsOptionsBuilder().UseTls(true).WithTargetHost(_options.Broker.Host);
            if (_options.CertFile is { } cert && _options.KeyFile is { } key)
                tls.WithClientCertificates([X509Certificate2.CreateFromPemFile(cert, key)]);
            if (_options.CaFile is { } caFile)
            {
                var ca = X509CertificateLoader.LoadCertificateFromFile(caFile);
                tls.WithCertificateValidationHandler(args => ChainsTo(ca, args.Certificate, args.SslPolicyErrors));
            }
            builder.WithTlsOptions(tls.Build());
        }
        var options = builder.Build();
        // The socket buffers default to 8 KiB, which moves 64 KiB chunks slowly even on loopback (package-facts.md).
        if (options.ChannelOptions is MqttClientTcpOptions tcp) tcp.BufferSize = 1 << 20;
        return options;
    }

    private static bool ChainsTo(X509Certificate2 ca, X509Certificate? presented, System.Net.Security.SslPolicyErrors errors)
    {
        if (presented is null) return false;
        // The host name must still match; only the trust anchor is ours rather than the system's.
        if ((errors & ~System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors) != System.Net.Security.SslPolicyErrors.None) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(presented);
        return chain.Build(leaf);
    }

    private async Task PumpAsync(CancellationToken ct)
    {
        _streamRefusedUntil.Clear(); // a new connection (perhaps to a broker with a new ACL) tries every stream again
        while (!ct.IsCancellationRequested)
        {
            bool worked = await DrainMetadataAsync(ct).ConfigureAwait(false);
            if (!worked) worked = await UploadClipAsync(ct).ConfigureAwait(false);
            if (worked) continue;
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
            idle.CancelAfter(TimeSpan.FromSeconds(1));
            try { await _wake.WaitAsync(idle.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
        }
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>Publishes every unsent metadata message, in order per stream; false when there was none.</summary>
    private async Task<bool> DrainMetadataAsync(CancellationToken ct)
    {
        _workQueued = false;
        bool any = false;
        foreach (var stream in SyncStreams.All)
        {
            if (_streamRefusedUntil.TryGetValue(stream, out var until) && _time.GetUtcNow() < until) continue;
            var topic = SyncTopics.Stream(_root, stream);
            while (true)
            {
                var batch = _backend.UnsentMetadata(stream, MetadataBatch);
                if (batch.Count == 0) break;
                any = true;
                var inFlight = new Queue<(long Id, Task<MqttClientPublishResult> Publish)>();
                long acknowledged = 0;
                using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct); // pushed back at every PUBACK
                stall.CancelAfter(PublishTimeout);
                try
                {
                    foreach (var message in batch)
                    {
                        if (inFlight.Count >= MetadataWindow)
                        {
                            acknowledged = await AwaitHeadAsync(inFlight, topic).ConfigureAwait(false);
                            stall.CancelAfter(PublishTimeout);
                        }
                        inFlight.Enqueue((message.Id, _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(message.Payload)
                            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), stall.Token)));
                    }
                    while (inFlight.Count > 0) acknowledged = await AwaitHeadAsync(inFlight, topic).ConfigureAwait(false);
                }
                catch (BrokerRefusedException)
                {
                    // Refused by the broker (logged with its reason code): kept in the outbox, tried again later.
                    _streamRefusedUntil[stream] = _time.GetUtcNow() + RefusedStreamRetry;
                    _logger.LogWarning("sync: {Stream} set aside for {Seconds} s after the broker's refusal; the other streams and clips go on (check the broker's ACL for {Topic})",
                        stream, RefusedStreamRetry.TotalSeconds, topic);
                    break;
                }
                finally
                {
                    foreach (var (_, abandoned) in inFlight) _ = abandoned.ContinueWith(t => t.Exception, TaskScheduler.Default);
                    // One durable write for the batch: what was acknowledged stays acknowledged even if the rest failed.
                    if (acknowledged > 0) _backend.MarkSent(stream, batch[0].Id, acknowledged);
                }
                Interlocked.Add(ref _metadataPublished, batch.Count);
            }
        }
        return any;
    }

    private async Task<long> AwaitHeadAsync(Queue<(long Id, Task<MqttClientPublishResult> Publish)> inFlight, string topic)
    {
        var (id, publish) = inFlight.Peek();
        ThrowIfRefused(await publish.ConfigureAwait(false), topic, $"message {id}");
        inFlight.Dequeue();
        return id;
    }

    /// <summary>Uploads (or resumes) one clip; yields back early when metadata was queued meanwhile. False when there is none.</summary>
    private async Task<bool> UploadClipAsync(CancellationToken ct)
    {
        var clip = _backend.NextClip();
        if (clip is null) return false;
        var manifestMarked = Task.CompletedTask;
        if (!clip.ManifestSent)
        {
            await PublishCheckedAsync(SyncTopics.ClipManifest(_root, clip.ClipId), clip.Manifest, retain: false, $"clip {clip.ClipId} manifest", ct).ConfigureAwait(false);
            // Written while the first chunks go: without the mark a restart only sends the manifest again, which the
            // central takes as a duplicate (docs/protocol.md), so the chunks need not wait for its fsync.
            manifestMarked = Task.Run(() => _backend.ClipManifestSent(clip.ClipId), CancellationToken.None);
            _logger.LogInformation("sync: clip {Clip} manifest sent ({Segments} segments)", clip.ClipId, clip.Segments.Count);
        }
        var topic = SyncTopics.ClipChunk(_root, clip.ClipId);
        var inFlight = new Queue<(int Segment, int Chunk, byte[] Buffer, Task<MqttClientPublishResult> Publish)>();
        var window = ChunkWindowFor(_options.ClipBandwidthKbps);
        // Chunk buffers go round: read into one, published, returned at its PUBACK (no 64 KiB allocation per chunk).
        var buffers = new ChunkBuffers(clip.ChunkBytes, window + 1);
        var progress = new ProgressWriter(_backend, clip.ClipId, groupCommit: _options.ClipBandwidthKbps == 0, _time);
        // Each chunk is read and checksummed when the window has room, on the publishing loop itself: a 64 KiB read
        // from the page cache and its CRC-32C take tens of microseconds while the window keeps 16 chunks on the wire;
        // a reader thread ahead of the loop (needed while every chunk was SHA-256 hashed) cost a thread hand-over per
        // chunk on a 2-core box.
        using var chunks = ReadChunks(clip, topic, buffers).GetEnumerator();
        // One stall timer for the clip, pushed back at every PUBACK, rather than a linked token and a timer per chunk.
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stall.CancelAfter(PublishTimeout);
        bool finished = false;
        try
        {
            while (true)
            {
                if (_workQueued) break; // metadata goes before footage: finish what is in flight and come back
                if (!chunks.MoveNext()) { finished = true; break; }
                var next = chunks.Current;
                await _bucket.TakeAsync(next.Length, ct).ConfigureAwait(false);
                if (inFlight.Count >= window)
                {
                    await AckChunkAsync(clip, inFlight, topic, progress, buffers).ConfigureAwait(false);
                    stall.CancelAfter(PublishTimeout);
                }
                else if (inFlight.Count == 0) stall.CancelAfter(PublishTimeout); // idle under the cap: the clock starts now
                inFlight.Enqueue((next.Segment, next.Chunk, next.Buffer, _client.PublishAsync(next.Message, stall.Token)));
            }
            while (inFlight.Count > 0) await AckChunkAsync(clip, inFlight, topic, progress, buffers).ConfigureAwait(false);
        }
        finally
        {
            // Their buffers are not returned: MQTTnet may still be writing them.
            foreach (var (_, _, _, abandoned) in inFlight) _ = abandoned.ContinueWith(t => t.Exception, TaskScheduler.Default);
            await progress.FlushAsync().ConfigureAwait(false);
            await manifestMarked.ConfigureAwait(false);
        }
        if (finished)
        {
            _backend.ClipUploaded(clip.ClipId);
            _logger.LogInformation("sync: clip {Clip} uploaded; its segments stay held until the central acknowledges it", clip.ClipId);
        }
        return true;
    }

    private sealed record PreparedChunk(int Segment, int Chunk, byte[] Buffer, MqttApplicationMessage Message, int Length);

    // The user properties that are the same for every chunk, encoded once.
    private static readonly ReadOnlyMemory<byte> SchemaOne = Utf8("1");

    /// <summary>Reads, checksums and describes the clip's remaining chunks in order, each when asked for.</summary>
    private static IEnumerable<PreparedChunk> ReadChunks(ClipUpload clip, string topic, ChunkBuffers buffers)
    {
        Microsoft.Win32.SafeHandles.SafeFileHandle? handle = null;
        try
        {
            int segment = clip.SegmentIndex, chunk = clip.NextChunk;
            while (segment < clip.Segments.Count)
            {
                var file = clip.Segments[segment];
                if (chunk >= file.Chunks) { segment++; chunk = 0; handle?.Dispose(); handle = null; continue; }
                // One open file per segment rather than an open and a close per chunk.
                handle ??= File.OpenHandle(file.Path, FileMode.Open, FileAccess.Read);
                var offset = (long)chunk * clip.ChunkBytes;
                var length = (int)Math.Min(clip.ChunkBytes, file.StoredBytes - offset);
                var buffer = buffers.Take();
                ReadChunk(handle, file, buffer.AsSpan(0, length), offset);
                var message = new MqttApplicationMessageBuilder()
                    .WithTopic(topic)
                    .WithPayload(new ArraySegment<byte>(buffer, 0, length))
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                    .WithContentType("application/octet-stream")
                    .WithUserProperty(ChunkProperties.Schema, SchemaOne)
                    .WithUserProperty(ChunkProperties.Segment, Utf8(file.SegmentId.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                    .WithUserProperty(ChunkProperties.Chunk, Utf8(chunk.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                    .WithUserProperty(ChunkProperties.Chunks, Utf8(file.Chunks.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                    .WithUserProperty(ChunkProperties.Offset, Utf8(offset.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                    .WithUserProperty(ChunkProperties.Crc32C, ChunkChecksum.Crc32CUtf8(buffer.AsSpan(0, length)))
                    .Build();
                yield return new PreparedChunk(segment, chunk, buffer, message, length);
                chunk++;
            }
        }
        finally
        {
            handle?.Dispose();
        }
    }

    /// <summary>
    /// Chunk buffers of one upload, reused once a chunk's PUBACK is in. Bounded by what can be ahead of the wire
    /// (in flight + the one being read); a buffer not returned (an abandoned publish) is simply left to the GC.
    /// </summary>
    private sealed class ChunkBuffers(int chunkBytes, int keep)
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<byte[]> _free = new();

        public byte[] Take() => _free.TryDequeue(out var buffer) ? buffer : new byte[chunkBytes];

        public void Return(byte[] buffer)
        {
            if (_free.Count < keep) _free.Enqueue(buffer);
        }
    }

    private async Task AckChunkAsync(ClipUpload clip, Queue<(int Segment, int Chunk, byte[] Buffer, Task<MqttClientPublishResult> Publish)> inFlight,
        string topic, ProgressWriter progress, ChunkBuffers buffers)
    {
        var (segment, chunk, buffer, publish) = inFlight.Peek();
        ThrowIfRefused(await publish.ConfigureAwait(false), topic, $"chunk {chunk} of segment {clip.Segments[segment].SegmentId}");
        inFlight.Dequeue();
        buffers.Return(buffer); // acknowledged, so written to the socket: MQTTnet holds it no longer
        Interlocked.Increment(ref _chunksPublished);
        progress.Acknowledged(segment, chunk + 1);
    }

    /// <summary>
    /// Writes a clip's progress durably after each acknowledged chunk. Under a bandwidth cap (the normal case) the
    /// write is done before the next chunk is counted, so after a kill at most the one chunk whose PUBACK was on its
    /// way goes again; the cap's token bucket absorbs the fsync. With no cap (a fast link, a benchmark) the writes are
    /// a group commit, one at a time and at most one per <see cref="UncappedProgressInterval"/>, each taking the
    /// newest acknowledgement: after a kill the chunks acknowledged since the last write began are sent again
    /// (duplicates the central drops), i.e. at most that interval plus one write's worth of sending. Writing as often
    /// as fsync allowed cost about a tenth of the engine's CPU (fsync, LiteDB's page encryption) on a 2-core box.
    /// </summary>
    private sealed class ProgressWriter(ISyncBackend backend, string clipId, bool groupCommit, TimeProvider time)
    {
        private (int Segment, int Chunk)? _latest;
        private (int Segment, int Chunk)? _written;
        private Task _writing = Task.CompletedTask;
        private long _lastStart = long.MinValue;

        public void Acknowledged(int segment, int nextChunk)
        {
            _latest = (segment, nextChunk);
            if (!groupCommit)
            {
                backend.ClipProgress(clipId, segment, nextChunk);
                _written = _latest;
            }
            else if (_writing.IsCompleted && (_lastStart == long.MinValue || time.GetElapsedTime(_lastStart) >= UncappedProgressInterval)) Start();
        }

        private void Start()
        {
            _writing.GetAwaiter().GetResult(); // surfaces a failed write
            if (_latest is not { } latest || latest == _written) return;
            _lastStart = time.GetTimestamp();
            _writing = Task.Run(() => { backend.ClipProgress(clipId, latest.Segment, latest.Chunk); _written = latest; });
        }

        public async Task FlushAsync()
        {
            await _writing.ConfigureAwait(false);
            if (_latest is { } latest && latest != _written)
            {
                backend.ClipProgress(clipId, latest.Segment, latest.Chunk);
                _written = latest;
            }
        }
    }

    private static ReadOnlyMemory<byte> Utf8(string value) => System.Text.Encoding.UTF8.GetBytes(value);

    private static void ReadChunk(Microsoft.Win32.SafeHandles.SafeFileHandle handle, ClipSegmentFile file, Span<byte> into, long offset)
    {
        int read = 0;
        while (read < into.Length)
        {
            int n = RandomAccess.Read(handle, into[read..], offset + read);
            if (n == 0) throw new IOException($"{file.Path} ended at {offset + read} bytes; the index says it holds {file.StoredBytes}");
            read += n;
        }
    }

    private async Task HealthLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await PublishCheckedAsync(SyncTopics.Health(_root), SyncJson.Serialize(_backend.Health()), retain: true, "health", ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { return; }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _logger.LogWarning("sync: health not published: {Error}", e.Message);
            }
            try { await Task.Delay(_options.HealthInterval, _time, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    private async Task HousekeepLoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try { _backend.Housekeep(); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _logger.LogError(e, "sync: housekeeping failed; retrying in a second");
            }
            try { await Task.Delay(TimeSpan.FromSeconds(1), _time, stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    private async Task CommandLoopAsync(CancellationToken stop)
    {
        var prefix = SyncTopics.CommandPrefix(_root);
        await foreach (var (topic, payload) in _commands.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            try
            {
                var name = topic.StartsWith(prefix, StringComparison.Ordinal) ? topic[prefix.Length..] : "";
                var check = name.Length == 0 || name.Contains('/') || name.Length > 64
                    ? CommandCheck.Refuse(CommandErrors.Malformed, $"'{topic}' is not {prefix}{{name}}")
                    : payload.Length > MaxCommandBytes
                        ? CommandCheck.Refuse(CommandErrors.Malformed, $"{payload.Length} bytes; a command is at most {MaxCommandBytes}")
                        : _verifier.Check(name, payload, _backend.RememberNonce);
                var outcome = check.Accepted ? Execute(check.Body!) : CommandOutcome.Failure(check.Error!, check.Detail!);
                var detail = outcome.Ok ? $"{name} accepted" : $"{name} refused: {outcome.Error}: {outcome.Detail}";
                _backend.AuditCommand(name, check.Body, outcome.Ok, detail);
                if (!outcome.Ok) _logger.LogWarning("sync: command on {Topic} refused: {Error}: {Detail}", topic, outcome.Error, outcome.Detail);
                else _logger.LogInformation("sync: command {Name} {Id} accepted", name, check.Body!.Id);
                var replyName = name.Length == 0 || name.Contains('/') || name.Length > 64 ? "invalid" : name;
                var reply = new CommandReply(SyncJson.Schema, check.Body?.Id, outcome.Ok, outcome.Error, outcome.Detail,
                    outcome.Result is null ? null : System.Text.Json.JsonSerializer.SerializeToElement(outcome.Result, SyncJson.Options));
                if (_client.IsConnected)
                    await PublishCheckedAsync(SyncTopics.Reply(_root, replyName), SyncJson.Serialize(reply), retain: false, "command reply", stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _logger.LogError(e, "sync: command on {Topic} failed", topic);
            }
        }
    }

    private CommandOutcome Execute(CommandBody command)
    {
        if (command.Name == "ping") return CommandOutcome.Success(new { pong = true });
        var outcome = _backend.Execute(command);
        if (outcome.Ok) { _workQueued = true; try { _wake.Release(); } catch (SemaphoreFullException) { } }
        return outcome;
    }

    private async Task SayOfflineAsync()
    {
        if (!_client.IsConnected) return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(SyncTopics.Status(_root))
                .WithPayload(SyncJson.Serialize(_backend.Status("offline", "shutdown")))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(true).Build(), timeout.Token).ConfigureAwait(false);
            await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), timeout.Token).ConfigureAwait(false);
            _logger.LogInformation("sync: said offline and disconnected from {Broker}", _options.Broker);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _logger.LogWarning("sync: could not say offline on shutdown ({Error}); the broker will publish the Last Will", e.Message);
        }
    }

    private Task<MqttClientPublishResult> PublishAsync(string topic, byte[] payload, bool retain, CancellationToken ct) =>
        PublishMessageAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(retain).Build(), ct);

    private async Task<MqttClientPublishResult> PublishMessageAsync(MqttApplicationMessage message, CancellationToken ct)
    {
        // MQTTnet waits for a PUBACK only as long as the token allows (its Timeout option does not apply).
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(PublishTimeout);
        return await _client.PublishAsync(message, timeout.Token).ConfigureAwait(false);
    }

    private async Task PublishCheckedAsync(string topic, byte[] payload, bool retain, string what, CancellationToken ct) =>
        ThrowIfRefused(await PublishAsync(topic, payload, retain, ct).ConfigureAwait(false), topic, what);

    private void ThrowIfRefused(MqttClientPublishResult result, string topic, string what)
    {
        if (result.IsSuccess) return;
        var message = $"broker refused {what} on {topic}: reason {(int)result.ReasonCode} ({result.ReasonCode}){(result.ReasonString is { Length: > 0 } r ? ": " + r : "")}";
        _logger.LogError("sync: {Message}", message);
        throw new BrokerRefusedException(message);
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        _wake.Dispose();
        await Task.CompletedTask.ConfigureAwait(false);
    }
}
