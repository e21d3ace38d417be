using System.Buffers;
using MQTTnet;

namespace Edge.Tests.Fixtures;

public sealed class MosquittoBroker_Tests
{
    [Fact]
    public async Task A_message_published_to_the_broker_reaches_a_subscriber_and_the_broker_comes_back_after_a_stop()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var factory = new MqttClientFactory();
        using var subscriber = factory.CreateMqttClient();
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult(System.Text.Encoding.UTF8.GetString(e.ApplicationMessage.Payload.ToArray()));
            return Task.CompletedTask;
        };
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).Build();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await subscriber.ConnectAsync(options, limit.Token);
        await subscriber.SubscribeAsync("fixture/test", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce, limit.Token);

        await broker.StopAsync();
        Assert.False(broker.IsRunning);
        await broker.StartAsync(limit.Token);
        Assert.True(broker.IsRunning);

        using var publisher = factory.CreateMqttClient();
        await subscriber.DisconnectAsync(cancellationToken: limit.Token).ContinueWith(_ => { });
        await subscriber.ConnectAsync(options, limit.Token);
        await subscriber.SubscribeAsync("fixture/test", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce, limit.Token);
        await publisher.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).Build(), limit.Token);
        await publisher.PublishStringAsync("fixture/test", "hello", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce, cancellationToken: limit.Token);
        Assert.Equal("hello", await received.Task.WaitAsync(limit.Token));
    }
}
