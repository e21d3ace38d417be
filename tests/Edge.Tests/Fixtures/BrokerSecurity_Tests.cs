// The deployment's broker security (packaging/mosquitto, scripts/make-certs) against a real mosquitto: who may
// connect, who may publish where, who sees what. MQTT 5 throughout, so a refusal arrives as a reason code.
using System.Buffers;
using System.Collections.Concurrent;
using Edge.Agent.Broker;
using MQTTnet;
using MQTTnet.Protocol;

namespace Edge.Tests.Fixtures;

public sealed class BrokerSecurity_Tests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    private static BrokerConnection As(MosquittoBroker broker, string name)
    {
        var (cert, key) = broker.Certificates!.Client(name);
        return new BrokerConnection(new BrokerEndpoint(broker.Url, broker.Certificates.CaFile, cert, key));
    }

    private static async Task<IMqttClient> ConnectAsync(MosquittoBroker broker, string name, CancellationToken ct)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var result = await client.ConnectAsync(As(broker, name).CreateOptions($"test-{name}-{Guid.NewGuid():N}", Limit).Build(), ct);
        Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
        return client;
    }

    private static Task<MqttClientPublishResult> PublishAsync(IMqttClient client, string topic, string payload, CancellationToken ct) =>
        client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), ct);

    [Fact]
    public async Task A_device_may_publish_under_its_own_topics_but_under_another_devices_the_puback_says_not_authorised()
    {
        await using var broker = await MosquittoBroker.StartSecureAsync();
        using var limit = new CancellationTokenSource(Limit);
        using var a = await ConnectAsync(broker, "box-a", limit.Token);

        var own = await PublishAsync(a, "edge/v1/test-site/box-a/events", "{}", limit.Token);
        var other = await PublishAsync(a, "edge/v1/test-site/box-b/events", "{}", limit.Token);
        var ownCommands = await PublishAsync(a, "edge/v1/test-site/box-a/cmd/ping", "{}", limit.Token);
        var otherSite = await PublishAsync(a, "edge/v1/other-site/box-a/events", "{}", limit.Token);

        Assert.True(own.IsSuccess, $"own topic: {own.ReasonCode}");
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, other.ReasonCode);
        Assert.Equal(135, (int)other.ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, ownCommands.ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, otherSite.ReasonCode);
    }

    [Fact]
    public async Task A_client_without_a_certificate_is_refused()
    {
        await using var broker = await MosquittoBroker.StartSecureAsync();
        using var limit = new CancellationTokenSource(Limit);
        var connection = new BrokerConnection(new BrokerEndpoint(broker.Url, broker.Certificates!.CaFile));
        using var client = new MqttClientFactory().CreateMqttClient();

        // mosquitto ends the TLS handshake ("certificate required"): there is no CONNACK to carry a reason.
        var refused = await Record.ExceptionAsync(() => client.ConnectAsync(connection.CreateOptions("no-certificate", Limit).Build(), limit.Token));

        Assert.NotNull(refused);
        Assert.False(client.IsConnected);
        Assert.Null(connection.CertificateProblem); // the broker's certificate was fine; it was ours that was missing
    }

    [Fact]
    public async Task The_central_subscribed_to_everything_sees_what_device_a_publishes_and_device_b_does_not()
    {
        await using var broker = await MosquittoBroker.StartSecureAsync();
        using var limit = new CancellationTokenSource(Limit);
        using var central = await ConnectAsync(broker, TestCertificates.Central, limit.Token);
        using var b = await ConnectAsync(broker, "box-b", limit.Token);
        var seenByCentral = new ConcurrentQueue<string>();
        var seenByB = new ConcurrentQueue<string>();
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        central.ApplicationMessageReceivedAsync += e =>
        {
            seenByCentral.Enqueue($"{e.ApplicationMessage.Topic}={e.ApplicationMessage.ConvertPayloadToString()}");
            if (e.ApplicationMessage.Topic.EndsWith("/segments", StringComparison.Ordinal)) arrived.TrySetResult();
            return Task.CompletedTask;
        };
        b.ApplicationMessageReceivedAsync += e =>
        {
            seenByB.Enqueue(e.ApplicationMessage.Topic);
            return Task.CompletedTask;
        };
        var centralSubscription = await central.SubscribeAsync("#", MqttQualityOfServiceLevel.AtLeastOnce, limit.Token);
        var bSubscription = await b.SubscribeAsync("edge/v1/test-site/box-a/#", MqttQualityOfServiceLevel.AtLeastOnce, limit.Token);
        using var a = await ConnectAsync(broker, "box-a", limit.Token);

        Assert.True((await PublishAsync(a, "edge/v1/test-site/box-a/events", "event-1", limit.Token)).IsSuccess);
        Assert.True((await PublishAsync(a, "edge/v1/test-site/box-a/segments", "segments-1", limit.Token)).IsSuccess);
        await arrived.Task.WaitAsync(limit.Token);

        Assert.Contains(MqttClientSubscribeResultCode.GrantedQoS1, centralSubscription.Items.Select(i => i.ResultCode));
        Assert.Equal(["edge/v1/test-site/box-a/events=event-1", "edge/v1/test-site/box-a/segments=segments-1"], seenByCentral.ToArray());
        // mosquitto grants a subscription it will filter: b's is accepted, but nothing of a's reaches it.
        Assert.NotNull(bSubscription);
        Assert.Empty(seenByB);
    }
}
