// A plain MQTTnet 5 client subscribed to a filter (usually `#`) that keeps every message it receives, in arrival
// order, with its user properties: what anyone watching the broker would see. Also publishes (commands).
using System.Buffers;
using System.Collections.Concurrent;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Edge.Tests.Sync;

public sealed record TappedMessage(string Topic, byte[] Payload, bool Retain, IReadOnlyDictionary<string, string> Properties, DateTime ReceivedUtc);

public sealed class MqttTap : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly ConcurrentQueue<TappedMessage> _messages = new();

    private MqttClientOptions? _options;
    private string _filter = "#";

    private MqttTap(IMqttClient client) => _client = client;

    public IReadOnlyList<TappedMessage> Messages => _messages.ToList();

    public IReadOnlyList<TappedMessage> On(string topicSuffix) => _messages.Where(m => m.Topic.EndsWith(topicSuffix, StringComparison.Ordinal)).ToList();

    public static async Task<MqttTap> StartAsync(Uri broker, string filter = "#", string clientId = "test-tap")
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var tap = new MqttTap(client);
        client.ApplicationMessageReceivedAsync += e =>
        {
            var m = e.ApplicationMessage;
            var properties = (m.UserProperties ?? []).GroupBy(p => p.Name).ToDictionary(g => g.Key, g => g.Last().ReadValueAsString());
            tap._messages.Enqueue(new TappedMessage(m.Topic, m.Payload.ToArray(), m.Retain, properties, DateTime.UtcNow));
            return Task.CompletedTask;
        };
        var options = new MqttClientOptionsBuilder().WithTcpServer(broker.Host, broker.Port).WithClientId(clientId + "-" + Guid.NewGuid().ToString("N")[..8]).Build();
        if (options.ChannelOptions is MqttClientTcpOptions tcp) tcp.BufferSize = 1 << 20;
        tap._options = options;
        tap._filter = filter;
        await tap.ConnectAsync();
        return tap;
    }

    private async Task ConnectAsync()
    {
        var result = await _client.ConnectAsync(_options!);
        if (result.ResultCode != MqttClientConnectResultCode.Success) throw new InvalidOperationException($"tap could not connect: {result.ResultCode}");
        await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(_filter).WithAtLeastOnceQoS()).Build());
    }

    /// <summary>After the broker came back: connects and subscribes again (the broker keeps no session across its restart).</summary>
    public async Task ReconnectAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!_client.IsConnected)
        {
            try { await ConnectAsync(); }
            catch (Exception) when (DateTime.UtcNow < deadline) { await Task.Delay(100); }
        }
    }

    public async Task PublishAsync(string topic, byte[] payload)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), timeout.Token);
    }

    public async Task<TappedMessage> WaitForAsync(Func<TappedMessage, bool> match, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var found = _messages.FirstOrDefault(match);
            if (found is not null) return found;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no {what} within {timeout.TotalSeconds:0} s; saw topics: {string.Join(", ", _messages.Select(m => m.Topic).Distinct())}");
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { if (_client.IsConnected) await _client.DisconnectAsync(); } catch (Exception) { /* broker already gone */ }
        _client.Dispose();
    }
}
