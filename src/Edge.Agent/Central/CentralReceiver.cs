// The central's receiver (`edge central`): one MQTT 5 client that subscribes to every box's topics, keeps fleet state,
// events and segment manifests in the central store, reassembles clips and hands complete ones to a worker that
// verifies, opens and cuts them (ClipProcessor) and acknowledges each with a signed clip-ack. Design and failure modes:
// docs/design/central.md; the contract: docs/protocol.md.
//
// MQTTnet acknowledges a message when the received handler returns, and not at all when it throws. So: a malformed
// payload is logged with its topic and problem, counted, and acknowledged (sending it again cannot mend it); a failure
// of the central itself (its disk, its store) throws, so the message is not acknowledged: the broker keeps it in the
// central's session and delivers it again when the central reconnects, which the receiver then does after a pause.
using Edge.Sync.Protocol;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Edge.Agent.Sealing;
using Edge.Sync;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;

namespace Edge.Agent.Central;

/// <summary>What the receiver has seen, for the demo's summary, `edge central`'s log and the tests.</summary>
public sealed class CentralCounters
{
    private readonly ConcurrentDictionary<string, long> _malformed = new();
    private long _resendsRequested;
    private long _received, _duplicates, _gaps, _clipsVerified, _clipsFailed, _clipsUnopenable, _clipsDeferred, _acksSent;

    public long Received => Interlocked.Read(ref _received);
    public long Duplicates => Interlocked.Read(ref _duplicates);
    public long Gaps => Interlocked.Read(ref _gaps);
    public long ClipsVerified => Interlocked.Read(ref _clipsVerified);
    public long ClipsFailed => Interlocked.Read(ref _clipsFailed);
    public long ClipsUnopenable => Interlocked.Read(ref _clipsUnopenable);
    public long AcksSent => Interlocked.Read(ref _acksSent);
    /// <summary>Complete clips the central could not process for a reason of its own (its disk, its ffmpeg): left complete for the next start.</summary>
    public long ClipsDeferred => Interlocked.Read(ref _clipsDeferred);
    /// <summary>Malformed messages by kind of topic: status, health, events, segments, manifest, chunk, cmd-reply, topic.</summary>
    public IReadOnlyDictionary<string, long> Malformed => _malformed;
    public long MalformedTotal => _malformed.Values.Sum();

    internal void CountReceived() => Interlocked.Increment(ref _received);
    internal void CountDuplicate() => Interlocked.Increment(ref _duplicates);
    internal void CountGap() => Interlocked.Increment(ref _gaps);
    internal void CountResendRequested() => Interlocked.Increment(ref _resendsRequested);
    public long ResendsRequested => Interlocked.Read(ref _resendsRequested);
    internal void CountMalformed(string kind) => _malformed.AddOrUpdate(kind, 1, (_, n) => n + 1);
    internal void CountClip(ClipOutcome outcome)
    {
        if (outcome == ClipOutcome.Verified) Interlocked.Increment(ref _clipsVerified);
        else if (outcome == ClipOutcome.HashMismatch) Interlocked.Increment(ref _clipsFailed);
        else Interlocked.Increment(ref _clipsUnopenable);
    }
    internal void CountAck() => Interlocked.Increment(ref _acksSent);
    internal void CountDeferred() => Interlocked.Increment(ref _clipsDeferred);
}

public sealed class CentralReceiver : IAsyncDisposable
{
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(30);

    private readonly CentralSettings _settings;
    private readonly CentralStore _store;
    private readonly ClipChunks _chunks;
    private readonly ClipProcessor _processor;
    private readonly OwnerPrivateKey _ownerKey;
    private readonly ECDsa _signer;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly bool? _sharedSubscriptions;
    private readonly IMqttClient _client;
    private readonly Channel<string> _work = Channel.CreateUnbounded<string>();
    // Chunks still missing per clip, counted from disk once and then kept here (a stat per chunk per chunk is O(n²)).
    private readonly ConcurrentDictionary<string, int> _missing = new();
    private readonly ConcurrentDictionary<string, (long FromId, DateTime At)> _resendAsked = new();
    /// <summary>How long a resend for the same missing id is not asked again (the box may be busy sending its backlog).</summary>
    public static readonly TimeSpan ResendPause = TimeSpan.FromSeconds(30);
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private readonly SemaphoreSlim _ackGate = new(1, 1);
    private Task? _connectLoop, _worker;

    /// <param name="sharedSubscriptions">null: as the broker's CONNACK says; false: plain subscriptions (a single receiver, or a broker without $share).</param>
    public CentralReceiver(CentralSettings settings, CentralStore store, OwnerPrivateKey ownerKey, ECDsa signer, TimeProvider time, ILogger log, bool? sharedSubscriptions = null)
    {
        _settings = settings;
        _store = store;
        _ownerKey = ownerKey;
        _signer = signer;
        _time = time;
        _log = log;
        _sharedSubscriptions = sharedSubscriptions;
        _chunks = new ClipChunks(settings.StoreDirectory);
        _processor = new ClipProcessor(_chunks, ownerKey, settings.OutputDirectory, settings.FfmpegPath, time);
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
        _client.DisconnectedAsync += e =>
        {
            if (!_stop.IsCancellationRequested) _log.LogWarning("central: disconnected from {Broker}: {Reason}", settings.Broker, e.ReasonString ?? e.Reason.ToString());
            return Task.CompletedTask;
        };
    }

    public CentralCounters Counters { get; } = new();

    public CentralStore Store => _store;

    public bool IsConnected => _client.IsConnected;

    /// <summary>Raised by the worker when a clip was handled (verified and acknowledged, refused, or found unopenable).</summary>
    public event Action<ClipRecord, ClipResult>? ClipHandled;

    /// <summary>Connects (retrying in the background when the broker is not there yet) and starts the clip worker.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_settings.OutputDirectory);
        // Work left by the last run: complete clips not yet cut, and verdicts whose ack was not yet sent.
        foreach (var clip in _store.ClipsIn(ClipStates.Complete)) _work.Writer.TryWrite(clip.Id);
        _worker = Task.Run(() => WorkAsync(_stop.Token), CancellationToken.None);
        try { await ConnectOnceAsync(cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _log.LogWarning("central: cannot connect to {Broker} yet ({Problem}); retrying in the background", _settings.Broker, e.GetBaseException().Message);
        }
        _connectLoop = Task.Run(() => KeepConnectedAsync(_stop.Token), CancellationToken.None);
    }

    /// <summary>Signs and publishes a command to one box (QoS 1, PUBACK awaited). Returns the command's id (its nonce).</summary>
    public async Task<string> SendCommandAsync(string siteId, string deviceId, string name, JsonObject args, CancellationToken cancellationToken)
    {
        var body = CommandSigning.NewBody(name, siteId, deviceId, _time, args);
        var message = new MqttApplicationMessageBuilder()
            .WithTopic($"{SyncOptions.TopicRoot(siteId, deviceId)}/cmd/{name}")
            .WithPayload(CommandSigning.Sign(_signer, body))
            .WithContentType("application/json")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        limit.CancelAfter(PublishTimeout);
        var result = await _client.PublishAsync(message, limit.Token).ConfigureAwait(false);
        if (!result.IsSuccess)
            throw new InvalidOperationException($"the broker refused the {name} command for {siteId}/{deviceId}: {result.ReasonCode} {result.ReasonString}");
        _log.LogInformation("central: sent {Command} {Id} to {Site}/{Device} {Args}", name, body.Id, siteId, deviceId, args.ToJsonString());
        return body.Id;
    }

    private async Task KeepConnectedAsync(CancellationToken stop)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_client.IsConnected ? TimeSpan.FromSeconds(2) : backoff, _time, stop).ConfigureAwait(false);
                if (_client.IsConnected && await _client.TryPingAsync(stop).ConfigureAwait(false)) { backoff = TimeSpan.FromSeconds(1); continue; }
                await ConnectOnceAsync(stop).ConfigureAwait(false);
                backoff = TimeSpan.FromSeconds(1);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                backoff = TimeSpan.FromSeconds(Math.Min(30, backoff.TotalSeconds * 2));
                _log.LogWarning("central: cannot reach {Broker}: {Problem}; next try in {Seconds} s", _settings.Broker, e.GetBaseException().Message, backoff.TotalSeconds);
            }
        }
    }

    private async Task ConnectOnceAsync(CancellationToken cancellationToken)
    {
        await _connectGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_client.IsConnected) return;
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(TimeSpan.FromSeconds(20));
            var result = await _client.ConnectAsync(BuildOptions(), limit.Token).ConfigureAwait(false);
            if (result.ResultCode != MqttClientConnectResultCode.Success)
                throw new InvalidOperationException($"the broker refused the connection: {result.ResultCode} {result.ReasonString}");
            bool shared = _sharedSubscriptions ?? result.SharedSubscriptionAvailable;
            string Filter(string rest) => shared ? $"$share/{_settings.ShareGroup}/edge/v1/+/+/{rest}" : $"edge/v1/+/+/{rest}";
            // Status and health are state, retained by the broker; a shared subscription never receives retained
            // messages (MQTT 5, 4.8.2), so every receiver takes them directly: storing the same state twice is harmless.
            var subscribe = new MqttClientSubscribeOptionsBuilder()
                .WithTopicFilter("edge/v1/+/+/status", MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter("edge/v1/+/+/health", MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter(Filter("events"), MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter(Filter("segments"), MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter(Filter("audit"), MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter(Filter("clips/+/manifest"), MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter(Filter("clips/+/chunk"), MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter(Filter("cmd-reply/+"), MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            var granted = await _client.SubscribeAsync(subscribe, limit.Token).ConfigureAwait(false);
            foreach (var item in granted.Items.Where(i => (int)i.ResultCode > 2))
                _log.LogError("central: the broker refused the subscription {Filter}: {Code}", item.TopicFilter.Topic, item.ResultCode);
            _log.LogInformation("central: connected to {Broker} as {ClientId} ({Mode}, session {Session})", _settings.Broker, _settings.ClientId,
                shared ? $"shared group {_settings.ShareGroup}" : "plain subscriptions", result.IsSessionPresent ? "resumed" : "new");
        }
        finally
        {
            _connectGate.Release();
        }
        await SendPendingAcksAsync(cancellationToken).ConfigureAwait(false);
    }

    private MqttClientOptions BuildOptions() => BuildOptions(_settings, _settings.ClientId, persistentSession: true);

    /// <summary>The client options central.json describes; a persistent session keeps what arrives while the central is down.</summary>
    public static MqttClientOptions BuildOptions(CentralSettings settings, string clientId, bool persistentSession)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(settings.Broker.Host, settings.Broker.IsDefaultPort || settings.Broker.Port <= 0 ? (settings.UseTls ? 8883 : 1883) : settings.Broker.Port)
            .WithClientId(clientId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            // A persistent session: what arrives while the central is down waits at the broker.
            .WithCleanStart(!persistentSession)
            .WithSessionExpiryInterval(persistentSession ? (uint)settings.SessionExpiry.TotalSeconds : 0)
            .WithKeepAlivePeriod(settings.KeepAlive)
            .WithMaximumPacketSize((uint)settings.MaxPacketBytes)
            .WithTimeout(TimeSpan.FromSeconds(20));
        if (settings.Username is not null)
            builder.WithCredentials(settings.Username, settings.PasswordFile is null ? null : File.ReadAllText(settings.PasswordFile).TrimEnd('\r', '\n'));
        if (settings.UseTls)
        {
            builder.WithTlsOptions(tls =>
            {
                tls.UseTls();
                if (settings.CaFile is not null)
                {
                    var chain = new X509Certificate2Collection();
                    chain.ImportFromPemFile(settings.CaFile);
                    tls.WithTrustChain(chain);
                }
                if (settings.CertFile is not null && settings.KeyFile is not null)
                    tls.WithClientCertificates(new X509Certificate2Collection(X509Certificate2.CreateFromPemFile(settings.CertFile, settings.KeyFile)));
            });
        }
        var options = builder.Build();
        // MQTTnet's default 8 KiB socket buffers move 64 KiB chunks slowly (shared/notes/package-facts.md).
        if (options.ChannelOptions is MqttClientTcpOptions tcp) tcp.BufferSize = 1 << 20;
        return options;
    }

    private async Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var topic = e.ApplicationMessage.Topic;
        Counters.CountReceived();
        var levels = topic.Split('/');
        string kind = levels.Length >= 5 ? levels[4] switch
        {
            "clips" when levels.Length == 7 => levels[6],
            var k => k,
        } : "topic";
        try
        {
            if (levels.Length < 5 || levels[0] != "edge" || levels[1] != "v1" || !IsId(levels[2]) || !IsId(levels[3]))
                throw new PayloadException("not an edge/v1/{site}/{device}/… topic with valid ids");
            string site = levels[2], device = levels[3];
            var payload = System.Buffers.BuffersExtensions.ToArray(e.ApplicationMessage.Payload);
            switch (levels.Length, levels[4])
            {
                case (5, "status"): OnStatus(site, device, Payloads.Object(payload)); break;
                case (5, "health"): OnHealth(site, device, Payloads.Object(payload)); break;
                case (5, "events"): OnEvent(site, device, Payloads.Object(payload)); break;
                case (5, "segments"): OnSegments(site, device, Payloads.Object(payload)); break;
                case (5, "audit"): OnAudit(site, device, Payloads.Object(payload)); break;
                case (7, "clips") when levels[6] == "manifest": await OnManifestAsync(site, device, ClipId(levels[5]), payload).ConfigureAwait(false); break;
                case (7, "clips") when levels[6] == "chunk":
                    await OnChunkAsync(site, device, ClipId(levels[5]), e.ApplicationMessage.UserProperties?.Select(p => KeyValuePair.Create(p.Name, System.Text.Encoding.UTF8.GetString(p.ValueBuffer.Span))).ToList(), payload).ConfigureAwait(false);
                    break;
                case (6, "cmd-reply"): OnReply(site, device, levels[5], Payloads.Object(payload)); break;
                default: kind = "topic"; throw new PayloadException("not a topic of docs/protocol.md");
            }
        }
        catch (PayloadException problem)
        {
            Counters.CountMalformed(kind);
            _log.LogWarning("central: malformed message on {Topic}: {Problem}; dropped", topic, problem.Message);
        }
        catch (Exception failure) when (failure is not OperationCanceledException)
        {
            // Not acknowledged: the broker keeps it in this session and sends it again after a reconnect (MQTT 5 §4.4).
            _log.LogError(failure, "central: could not store the message on {Topic}; not acknowledged: the broker delivers it again after a reconnect in {Seconds} s", topic, RedeliveryPause.TotalSeconds);
            ScheduleRedelivery();
            throw;
        }
    }

    /// <summary>How long after a failure of its own the receiver reconnects to have unacknowledged messages delivered again.</summary>
    private static readonly TimeSpan RedeliveryPause = TimeSpan.FromSeconds(10);
    private int _redeliveryScheduled;

    private void ScheduleRedelivery()
    {
        if (Interlocked.Exchange(ref _redeliveryScheduled, 1) == 1) return;
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(RedeliveryPause, _time, _stop.Token).ConfigureAwait(false);
                // A clean disconnect keeps the session (its expiry was set at connect); KeepConnectedAsync reconnects.
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), _stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or MQTTnet.Exceptions.MqttCommunicationException) { }
            finally { Interlocked.Exchange(ref _redeliveryScheduled, 0); }
        });
    }

    private static bool IsId(string level) => level.Length is > 0 and <= 64 && char.IsAsciiLetterOrDigit(level[0]) && level.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-');

    private static string ClipId(string level) => Payloads.ClipIdPattern().IsMatch(level) ? level : throw new PayloadException($"clip id '{level}' is not [A-Za-z0-9_-]");

    private DateTime Now => _time.GetUtcNow().UtcDateTime;

    private void OnStatus(string site, string device, JsonObject o)
    {
        var state = Payloads.Text(o, "state");
        if (state is not ("online" or "offline")) throw new PayloadException($"state: '{state}' is not online or offline");
        var reason = Payloads.OptionalText(o, "reason");
        _store.UpdateDevice(site, device, d =>
        {
            d.State = state;
            d.Reason = reason;
            d.LastSeenUtc = Now;
            if (state == "online" || d.StatusJson is null) d.StatusJson = o.ToJsonString();
            NoteAuditHead(d, o);
            var key = Payloads.OptionalText(o, "devicePublicKey");
            if (key is null) return;
            if (d.DevicePublicKey is null) d.DevicePublicKey = key;
            else if (d.DevicePublicKey != key)
                _log.LogWarning("central: {Site}/{Device} reports another device signing key than the one it first reported; kept the first (a replaced box or a forged status: check the box)", site, device);
        });
        _log.LogInformation("central: {Site}/{Device} is {State}{Reason}", site, device, state, reason is null ? "" : $" ({reason})");
    }

    private void OnHealth(string site, string device, JsonObject o)
    {
        var at = Payloads.Time(o, "at");
        if (o["cameras"] is not null) Payloads.Array(o, "cameras");
        _store.UpdateDevice(site, device, d =>
        {
            d.HealthJson = o.ToJsonString();
            d.LastHealthUtc = at.UtcDateTime;
            d.LastSeenUtc = Now;
            NoteAuditHead(d, o);
        });
    }

    /// <summary>Keeps the newest audit head; one that goes back (a lower seq, or the same seq with another hash) is logged and the copy kept.</summary>
    private void NoteAuditHead(DeviceRecord d, JsonObject o)
    {
        if (o["auditHead"] is null) return;
        var head = Payloads.Child(o, "auditHead");
        var seq = Payloads.Long(head, "seq", "auditHead.", min: 0);
        var hash = Payloads.Text(head, "hash", "auditHead.");
        if (d.AuditHeadSeq is { } known && (seq < known || (seq == known && hash != d.AuditHeadHash)))
        {
            _log.LogWarning("central: {Site}/{Device} audit head went back: seq {Seq} {Hash} after seq {Known} {KnownHash}; the central keeps its copy (the box's audit trail was cut back or rewritten)",
                d.SiteId, d.DeviceId, seq, hash, known, d.AuditHeadHash);
            return;
        }
        d.AuditHeadSeq = seq;
        d.AuditHeadHash = hash;
        d.AuditHeadUtc = Now;
    }

    private void OnEvent(string site, string device, JsonObject o)
    {
        var id = Payloads.StreamId(o, "events");
        var e = Payloads.Child(o, "event");
        var eventId = Payloads.Long(e, "id", "event.", min: 1);
        var kind = Payloads.Text(e, "kind", "event.");
        Payloads.Time(e, "start", "event.");
        var previous = _store.AcceptStreamMessage(site, device, "events", id, () => _store.UpsertEvent(new CentralEventRecord
        {
            Id = $"{CentralStore.DeviceKey(site, device)}/{eventId}", SiteId = site, DeviceId = device, EventId = eventId, MessageId = id,
            Kind = kind, Json = e.ToJsonString(), ReceivedUtc = Now,
        }));
        NoteSequence(site, device, "events", id, previous);
    }

    private void OnSegments(string site, string device, JsonObject o)
    {
        var id = Payloads.StreamId(o, "segments");
        var list = Payloads.Array(o, "segments");
        var records = new List<CentralSegmentRecord>();
        for (int i = 0; i < list.Count; i++)
        {
            var s = list[i] as JsonObject ?? throw new PayloadException($"segments[{i}]: expected an object");
            var p = $"segments[{i}].";
            records.Add(new CentralSegmentRecord
            {
                SiteId = site, DeviceId = device, SegmentId = Payloads.Long(s, "id", p, min: 1), Camera = Payloads.Text(s, "camera", p),
                StoredSha256 = Payloads.Text(s, "storedSha256", p), Json = s.ToJsonString(),
            });
            Payloads.Time(s, "start", p);
        }
        foreach (var r in records) r.Id = $"{CentralStore.DeviceKey(site, device)}/{r.SegmentId}";
        var previous = _store.AcceptStreamMessage(site, device, "segments", id, () => { foreach (var r in records) _store.UpsertSegment(r); });
        NoteSequence(site, device, "segments", id, previous);
    }

    /// <summary>
    /// Stores a batch of the box's audit records and checks the copy as far as it is contiguous: every hash recomputed
    /// from the record's fields (Audit/AuditChain.cs), every record chained to the one before. The first break is kept
    /// on the device and logged as an error; the records are kept either way, as the box sent them.
    /// </summary>
    private void OnAudit(string site, string device, JsonObject o)
    {
        var id = Payloads.StreamId(o, "audit");
        var list = Payloads.Array(o, "records");
        var records = new List<CentralAuditRecord>();
        for (int i = 0; i < list.Count; i++)
        {
            var r = list[i] as JsonObject ?? throw new PayloadException($"records[{i}]: expected an object");
            var p = $"records[{i}].";
            var seq = Payloads.Long(r, "seq", p, min: 1);
            records.Add(new CentralAuditRecord
            {
                Id = CentralStore.AuditKey(site, device, seq), SiteId = site, DeviceId = device, Seq = seq,
                PrevHash = Hex64(r, "prevHash", p), Hash = Hex64(r, "hash", p), AtUtc = Payloads.Time(r, "at", p).UtcDateTime,
                Action = Payloads.Text(r, "action", p), User = Payloads.OptionalText(r, "user", p) ?? "",
                Detail = Payloads.OptionalText(r, "detail", p) ?? "", Purpose = Payloads.OptionalText(r, "purpose", p),
                Recipient = Payloads.OptionalText(r, "recipient", p), ReceivedUtc = Now,
            });
        }
        if (records.Count == 0) throw new PayloadException("records: expected at least one record");
        for (int i = 1; i < records.Count; i++)
            if (records[i].Seq != records[i - 1].Seq + 1)
                throw new PayloadException($"records[{i}].seq: {records[i].Seq} does not follow {records[i - 1].Seq} (a batch is consecutive records)");

        var rewritten = new List<(CentralAuditRecord Kept, CentralAuditRecord Sent)>();
        var previous = _store.AcceptStreamMessage(site, device, "audit", id, () =>
        {
            foreach (var r in records)
                if (_store.InsertAuditRecord(r) is { } kept && kept.Hash != r.Hash) rewritten.Add((kept, r));
        });
        NoteSequence(site, device, "audit", id, previous);
        if (previous is null) return;
        foreach (var (kept, sent) in rewritten)
            _log.LogError("central: {Site}/{Device} sent audit seq {Seq} again with another hash ({Sent}, first {Kept}); the central keeps the first: the box's audit trail was rewritten",
                site, device, kept.Seq, sent.Hash, kept.Hash);
        // The box batches from its oldest record on: the first message's first record is where the copy starts.
        CheckAuditCopy(site, device, id == 1 ? records[0].Seq : null);
    }

    private static string Hex64(JsonObject o, string key, string path)
    {
        var text = Payloads.Text(o, key, path);
        if (text.Length != 64 || !text.All(char.IsAsciiHexDigitLower))
            throw new PayloadException($"{path}{key}: expected 64 lowercase hex digits (a SHA-256)");
        return text;
    }

    /// <summary>Walks the stored copy from where it was checked last, as far as records are there, stopping at the first break.</summary>
    private void CheckAuditCopy(string site, string device, long? startSeq)
    {
        string? problem = null;
        long checkedThrough = 0;
        _store.UpdateDevice(site, device, d =>
        {
            d.AuditCopyStartSeq ??= startSeq;
            if (d.AuditCopyProblem is not null || d.AuditCopyStartSeq is not { } start) return;
            long seq = Math.Max(d.AuditCopyVerifiedSeq, start - 1);
            string? hash = d.AuditCopyVerifiedHash;
            while (_store.GetAuditRecord(site, device, seq + 1) is { } r)
            {
                var record = new Edge.Agent.Index.AuditRecord
                {
                    Seq = r.Seq, PrevHash = r.PrevHash, Hash = r.Hash, AtUtc = r.AtUtc, Action = r.Action, User = r.User, Detail = r.Detail,
                    Purpose = r.Purpose, Recipient = r.Recipient,
                };
                if (Edge.Agent.Audit.AuditChain.HashOf(record, r.PrevHash) != r.Hash)
                    problem = $"seq {r.Seq} ({r.AtUtc:yyyy-MM-ddTHH:mm:ss.fffZ}, {r.Action}): its content does not match its hash";
                else if (hash is null && r.Seq == 1 && r.PrevHash != Edge.Agent.Audit.AuditChain.GenesisHash)
                    problem = "seq 1 does not chain to the start of a chain (its prevHash is not 64 zeros)";
                else if (hash is not null && r.PrevHash != hash)
                    problem = $"seq {r.Seq} ({r.AtUtc:yyyy-MM-ddTHH:mm:ss.fffZ}, {r.Action}) does not chain to seq {seq}: the box's trail was changed between them";
                if (problem is not null)
                {
                    d.AuditCopyProblem = problem;
                    break;
                }
                seq = r.Seq;
                hash = r.Hash;
            }
            d.AuditCopyVerifiedSeq = seq;
            d.AuditCopyVerifiedHash = hash;
            checkedThrough = seq;
        });
        if (problem is not null)
            _log.LogError("central: {Site}/{Device} audit copy: {Problem}; checked through seq {Seq}, checking stops here until a person looks",
                site, device, problem, checkedThrough);
    }

    private void NoteSequence(string site, string device, string stream, long id, long? previous)
    {
        if (previous is null)
        {
            Counters.CountDuplicate();
            return;
        }
        if (id > previous + 1 && _store.HighestId(site, device, stream) < id)
        {
            Counters.CountGap();
            _log.LogWarning("central: {Site}/{Device} {Stream}: message {Id} arrived after {Previous}; {Missing} message(s) missing: asking the box to resend from {From}",
                site, device, stream, id, previous, id - previous - 1, previous + 1);
            RequestResend(site, device, stream, previous.Value + 1);
        }
    }

    /// <summary>
    /// Asks the box for a stream again from the first missing id (docs/protocol.md, "order and duplicates"). Once per
    /// missing id per ResendPause: every message after a gap reports the same gap until it fills.
    /// </summary>
    private void RequestResend(string site, string device, string stream, long fromId)
    {
        var key = $"{CentralStore.DeviceKey(site, device)}/{stream}";
        var now = Now;
        var asked = _resendAsked.GetValueOrDefault(key);
        if (asked.FromId == fromId && now - asked.At < ResendPause) return;
        _resendAsked[key] = (fromId, now);
        _ = Task.Run(async () =>
        {
            try
            {
                await SendCommandAsync(site, device, "resend", new JsonObject { ["stream"] = stream, ["fromId"] = fromId }, _stop.Token).ConfigureAwait(false);
                Counters.CountResendRequested();
            }
            catch (Exception e) when (e is not OperationCanceledException || !_stop.IsCancellationRequested)
            {
                _resendAsked.TryRemove(key, out _); // the next message after the gap asks again
                _log.LogWarning("central: could not ask {Site}/{Device} to resend {Stream} from {From}: {Problem}", site, device, stream, fromId, e.GetBaseException().Message);
            }
            catch (OperationCanceledException) { }
        }, CancellationToken.None);
    }

    private void OnReply(string site, string device, string name, JsonObject o)
    {
        if (o["ok"] is not JsonValue ok || ok.GetValueKind() is not (System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False))
            throw new PayloadException("ok: expected true or false");
        _store.AddReply(new CommandReplyRecord { SiteId = site, DeviceId = device, Name = name, Json = o.ToJsonString(), ReceivedUtc = Now });
        _log.LogInformation("central: {Site}/{Device} replied to {Command}: {Reply}", site, device, name, o.ToJsonString());
    }

    private async Task OnManifestAsync(string site, string device, string clipId, byte[] payload)
    {
        var manifest = Payloads.Manifest(Payloads.Object(payload), clipId);
        var existing = _store.GetClip(site, device, clipId);
        if (existing is { State: ClipStates.Done })
        {
            // The box sends a clip again only when it did not get the ack: say it again.
            Counters.CountDuplicate();
            _store.UpdateClip(site, device, clipId, Now, c => c.AckSent = false);
            await SendPendingAcksAsync(CancellationToken.None).ConfigureAwait(false);
            return;
        }
        if (existing is { State: ClipStates.Complete }) { Counters.CountDuplicate(); return; }
        if (existing?.ManifestJson == System.Text.Encoding.UTF8.GetString(payload) && existing.State == ClipStates.Receiving) { Counters.CountDuplicate(); return; }
        bool restart = existing is { State: ClipStates.Failed or ClipStates.Unopenable };
        // Chunks already here belong to the manifest they came with: another cut of the files (another chunk size,
        // other segments) makes them useless, and mixing them would only fail the hash check later.
        bool changed = existing?.ManifestJson is { } previousJson && !SameChunks(Payloads.Manifest(Payloads.Object(System.Text.Encoding.UTF8.GetBytes(previousJson)), clipId), manifest);
        if (restart || changed) _chunks.Discard(site, device, clipId);
        var clip = _store.UpdateClip(site, device, clipId, Now, c =>
        {
            c.ManifestJson = System.Text.Encoding.UTF8.GetString(payload);
            c.State = ClipStates.Receiving;
            c.AckSent = false;
            if (restart) c.Attempts++;
        });
        _missing.TryRemove(clip.Id, out _);
        _log.LogInformation("central: clip {Site}/{Device}/{Clip}: manifest, {Segments} segment(s), {Chunks} chunk(s), {From}–{To}{Restart}", site, device, clipId,
            manifest.Segments.Count, manifest.Segments.Sum(s => s.Chunks), ProtocolTime.Format(manifest.From), ProtocolTime.Format(manifest.To), restart ? " (sent again)" : "");
        if (clip.Detail is { } pending && pending.StartsWith("pending failure: ", StringComparison.Ordinal))
        {
            await FailAsync(clip, pending["pending failure: ".Length..]).ConfigureAwait(false);
            return;
        }
        CheckComplete(clip, manifest);
    }

    private static bool SameChunks(ClipManifest a, ClipManifest b) =>
        a.ChunkBytes == b.ChunkBytes && a.Segments.Select(s => (s.Id, s.StoredBytes, s.StoredSha256)).SequenceEqual(b.Segments.Select(s => (s.Id, s.StoredBytes, s.StoredSha256)));

    private async Task OnChunkAsync(string site, string device, string clipId, List<KeyValuePair<string, string>>? properties, byte[] payload)
    {
        var header = Payloads.Chunk(properties, payload.Length);
        var clip = _store.GetClip(site, device, clipId);
        if (clip is { State: ClipStates.Done or ClipStates.Complete or ClipStates.Failed or ClipStates.Unopenable })
        {
            // Done/complete: a duplicate. Failed: the rest of an upload already refused; the box starts again with the manifest.
            Counters.CountDuplicate();
            return;
        }
        var manifest = clip?.ManifestJson is { } json ? Payloads.Manifest(Payloads.Object(System.Text.Encoding.UTF8.GetBytes(json)), clipId) : null;
        if (manifest is not null)
        {
            var segment = manifest.Segments.FirstOrDefault(s => s.Id == header.Segment)
                          ?? throw new PayloadException($"user property 'segment': {header.Segment} is not a segment of clip {clipId}");
            long expectedLength = Math.Min(manifest.ChunkBytes, segment.StoredBytes - (long)header.Chunk * manifest.ChunkBytes);
            if (header.Chunks != segment.Chunks || header.Offset != (long)header.Chunk * manifest.ChunkBytes || payload.Length != expectedLength)
                throw new PayloadException($"chunk {header.Chunk}/{header.Chunks} at offset {header.Offset}, {payload.Length} bytes, does not fit segment {segment.Id} " +
                                           $"({segment.Chunks} chunks of {manifest.ChunkBytes} bytes, {segment.StoredBytes} bytes)");
        }
        // Each checksum the chunk carries must match (a box sends crc32c; older boxes sent sha256). Either only finds
        // damage in transit early; the segment's storedSha256 is checked after reassembly whichever came.
        string? problem = null;
        if (header.Crc32C is { } crc32c && ChunkChecksum.Crc32C(payload) is var crc && crc != crc32c)
            problem = $"chunk {header.Chunk} of segment {header.Segment} has CRC-32C {crc}; its crc32c property says {crc32c}";
        else if (header.Sha256 is { } sha256 && Convert.ToHexStringLower(SHA256.HashData(payload)) is var sha && sha != sha256)
            problem = $"chunk {header.Chunk} of segment {header.Segment} has SHA-256 {sha}; its sha256 property says {sha256}";
        if (problem is not null)
        {
            _log.LogWarning("central: clip {Site}/{Device}/{Clip}: {Problem}", site, device, clipId, problem);
            var record = clip ?? _store.UpdateClip(site, device, clipId, Now, _ => { });
            if (manifest is null) _store.UpdateClip(site, device, clipId, Now, c => c.Detail = "pending failure: " + problem);
            else await FailAsync(record, problem).ConfigureAwait(false);
            return;
        }
        var key = $"{CentralStore.DeviceKey(site, device)}/{clipId}";
        if (!_chunks.Write(site, device, clipId, header.Segment, header.Chunk, payload))
        {
            Counters.CountDuplicate();
            return;
        }
        if (clip is null) clip = _store.UpdateClip(site, device, clipId, Now, _ => { });
        if (manifest is null) return;
        if (_missing.TryGetValue(key, out var missing)) _missing[key] = missing - 1;
        CheckComplete(clip, manifest);
    }

    private void CheckComplete(ClipRecord clip, ClipManifest manifest)
    {
        var missing = _missing.GetOrAdd(clip.Id, _ => _chunks.Missing(clip.SiteId, clip.DeviceId, manifest));
        if (missing > 0) return;
        _missing.TryRemove(clip.Id, out _);
        _store.UpdateClip(clip.SiteId, clip.DeviceId, clip.ClipId, Now, c => c.State = ClipStates.Complete);
        _work.Writer.TryWrite(clip.Id);
    }

    private async Task FailAsync(ClipRecord clip, string detail)
    {
        _chunks.Discard(clip.SiteId, clip.DeviceId, clip.ClipId);
        _missing.TryRemove(clip.Id, out _);
        var updated = _store.UpdateClip(clip.SiteId, clip.DeviceId, clip.ClipId, Now, c =>
        {
            c.State = ClipStates.Failed;
            c.Detail = detail;
            c.AckSent = false;
        });
        var result = new ClipResult(ClipOutcome.HashMismatch, detail, null);
        Counters.CountClip(result.Outcome);
        _log.LogWarning("central: clip {Site}/{Device}/{Clip} failed verification: {Detail}; asking the box to send it again", clip.SiteId, clip.DeviceId, clip.ClipId, detail);
        await SendPendingAcksAsync(CancellationToken.None).ConfigureAwait(false);
        ClipHandled?.Invoke(updated, result);
    }

    private async Task WorkAsync(CancellationToken stop)
    {
        try
        {
            await foreach (var key in _work.Reader.ReadAllAsync(stop).ConfigureAwait(false))
            {
                var parts = key.Split('/');
                var clip = _store.GetClip(parts[0], parts[1], parts[2]);
                if (clip is not { State: ClipStates.Complete, ManifestJson: { } json }) continue;
                ClipResult result;
                try
                {
                    var manifest = Payloads.Manifest(Payloads.Object(System.Text.Encoding.UTF8.GetBytes(json)), clip.ClipId);
                    result = await _processor.ProcessAsync(clip.SiteId, clip.DeviceId, manifest, stop).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // The central's own disk: leave the clip complete and try again at the next start.
                    _log.LogError(e, "central: clip {Clip}: could not be processed; it stays complete and is tried again at the next start", key);
                    Counters.CountDeferred();
                    continue;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Anything else is this clip's problem, not the worker's: it is kept for a person, the worker goes on.
                    result = new ClipResult(ClipOutcome.Unopenable, $"{e.GetType().Name}: {e.Message}", null);
                }
                if (result.Outcome == ClipOutcome.HashMismatch)
                {
                    await FailAsync(clip, result.Detail).ConfigureAwait(false);
                    continue;
                }
                Counters.CountClip(result.Outcome);
                var updated = _store.UpdateClip(clip.SiteId, clip.DeviceId, clip.ClipId, Now, c =>
                {
                    c.State = result.Outcome == ClipOutcome.Verified ? ClipStates.Done : ClipStates.Unopenable;
                    c.Detail = result.Detail;
                    c.DoneUtc = Now;
                    c.AckSent = false;
                });
                if (result.Outcome == ClipOutcome.Verified)
                {
                    _chunks.Discard(clip.SiteId, clip.DeviceId, clip.ClipId);
                    _log.LogInformation("central: clip {Clip} verified, opened and cut into {Output}", key, result.OutputDirectory);
                    await SendPendingAcksAsync(stop).ConfigureAwait(false);
                }
                else
                {
                    // Sending it again would bring the same bytes: no ack, so the box keeps the footage on hold until a person looks.
                    _log.LogError("central: clip {Clip} verified against its hashes but cannot be opened: {Detail}; the ciphertext is kept in the store, no ack sent", key, result.Detail);
                }
                ClipHandled?.Invoke(updated, result);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
    }

    /// <summary>Sends the clip-ack of every clip whose verdict is stored but not yet acknowledged (after a restart or an outage too).</summary>
    private async Task SendPendingAcksAsync(CancellationToken cancellationToken)
    {
        if (!_client.IsConnected) return;
        // The worker, the received handler and a reconnect may all get here; one at a time, so an ack goes out once.
        await _ackGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try { await SendPendingAcksLockedAsync(cancellationToken).ConfigureAwait(false); }
        finally { _ackGate.Release(); }
    }

    private async Task SendPendingAcksLockedAsync(CancellationToken cancellationToken)
    {
        foreach (var clip in _store.ClipsIn(ClipStates.Done).Concat(_store.ClipsIn(ClipStates.Failed)).Where(c => !c.AckSent))
        {
            bool verified = clip.State == ClipStates.Done;
            try
            {
                await SendCommandAsync(clip.SiteId, clip.DeviceId, "clip-ack", new JsonObject { ["clipId"] = clip.ClipId, ["verified"] = verified }, cancellationToken).ConfigureAwait(false);
                _store.UpdateClip(clip.SiteId, clip.DeviceId, clip.ClipId, Now, c => c.AckSent = true);
                Counters.CountAck();
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _log.LogWarning("central: clip-ack for {Clip} not sent yet ({Problem}); sent after the next reconnect", clip.Id, e.GetBaseException().Message);
                return;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _work.Writer.TryComplete();
        foreach (var task in new[] { _connectLoop, _worker })
            if (task is not null) await task.ConfigureAwait(false);
        if (_client.IsConnected)
        {
            try { await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException) { }
        }
        _client.Dispose();
        _stop.Dispose();
    }
}
