// `edge demo`'s far end: the embedded broker (MQTTnet.Server, loopback) and the embedded central. The box side of sync
// is another engineer's; here the test-side box plays it, so the demo's central is shown to light up when a box publishes.
using System.Text.Json.Nodes;
using Edge.Agent.Central;
using Edge.Agent.Sealing;
using Edge.Agent.Demo;
using Edge.Tests.Fixtures;
using Edge.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Edge.Tests.Central;

public sealed class DemoCentral_Tests(RecordedFootage footage, ITestOutputHelper output) : IClassFixture<RecordedFootage>
{
    [Fact]
    public async Task The_demo_s_embedded_broker_and_central_verify_cut_and_acknowledge_a_clip_a_box_publishes()
    {
        var root = Directory.CreateTempSubdirectory("edge-demo-central-").FullName;
        try
        {
            var ownerDir = Path.Combine(root, "owner");
            Directory.CreateDirectory(ownerDir);
            File.Copy(footage.OwnerKeyPath, Path.Combine(ownerDir, "owner.key"));
            File.SetUnixFileMode(Path.Combine(ownerDir, "owner.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var signing = CommandSigningKeys.CreatePair(ownerDir, passphrase: null);
            using var logs = new LoggerProviderForTest(output);
            await using var broker = await EmbeddedBroker.StartAsync(logs.CreateLogger("broker"));
            Assert.Equal("127.0.0.1", broker.Url.Host);
            await using var central = await DemoCentral.StartAsync(root, broker.Url, embeddedBroker: true, logs, TimeProvider.System, CancellationToken.None);
            await TestSite.WaitUntilAsync(() => central.Receiver.IsConnected, TimeSpan.FromSeconds(30), "the central to connect to the embedded broker");
            await using var box = await BoxPublisher.ConnectAsync(broker.Url, signing.PublicKeyPath);

            var segments = footage.Segments.Take(2).ToList();
            var from = new DateTimeOffset(segments[0].StartUtc, TimeSpan.Zero).AddSeconds(0.3);
            var to = new DateTimeOffset(segments[1].EndUtc, TimeSpan.Zero).AddSeconds(-0.3);
            await box.PublishJsonAsync("clips/f1-1/manifest", BoxPublisher.Manifest("f1-1", from, to, segments, 65536));
            foreach (var chunk in segments.SelectMany(s => BoxPublisher.ChunksOf(s, 65536))) await box.PublishChunkAsync("f1-1", chunk);
            // A publish above the embedded broker's limit is dropped by the broker, never delivered.
            var refused = await box.TryPublishAsync("events", new byte[EmbeddedBroker.MaxPayloadBytes + 1]);
            Assert.Equal(MQTTnet.MqttClientPublishReasonCode.QuotaExceeded, refused.ReasonCode);

            var ack = await box.NextCommandAsync("clip-ack", TimeSpan.FromSeconds(90));
            Assert.True(ack.Args["verified"]!.GetValue<bool>());
            var mp4 = Path.Combine(root, "central", "out", "clips", BoxPublisher.SiteId, BoxPublisher.DeviceId, "f1-1", $"{RecordedFootage.Camera}.mp4");
            Assert.Equal("h264", (await MediaProbe.ProbeFileAsync(mp4)).Video!.CodecName);
            Assert.Equal(0, central.Receiver.Counters.MalformedTotal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Edge_demo_with_an_external_broker_ends_with_the_first_door_s_clip_received_decrypted_and_verified_at_the_central()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var root = Directory.CreateTempSubdirectory("edge-demo-external-").FullName;
        try
        {
            // The scenario's first entry is about 6 s in; with a 2 s pre-roll and post-roll its window closes by 14 s.
            var result = await Edge.Tests.Sealing.Cli.RunAsync("demo", "--seconds", "20", "--dir", root, "--broker", broker.Url.ToString());
            output.WriteLine(result.Stdout);
            output.WriteLine(result.Stderr);

            Assert.Equal(0, result.ExitCode);
            Assert.Contains($"broker        {broker.Url}", result.Stdout);
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(root, "edge.json")))!;
            Assert.Equal(broker.Url.ToString(), config["sync"]!["broker"]!.GetValue<string>());
            Assert.True(File.Exists(Path.Combine(root, config["sync"]!["commandPublicKey"]!.GetValue<string>())));
            Assert.Equal(broker.Url.ToString(), JsonNode.Parse(File.ReadAllText(Path.Combine(root, "central", "central.json")))!["broker"]!.GetValue<string>());
            var verified = System.Text.RegularExpressions.Regex.Match(result.Stdout, @"central    (\d+) clip\(s\) received, decrypted and verified");
            Assert.True(verified.Success && int.Parse(verified.Groups[1].Value) >= 1, "no clip verified at the central");
            var clips = Directory.GetDirectories(Path.Combine(root, "central", "out", "clips"), "*", SearchOption.AllDirectories)
                .Where(d => File.Exists(Path.Combine(d, "manifest.json"))).ToList();
            Assert.NotEmpty(clips);
            Assert.All(clips, d => Assert.True(JsonNode.Parse(File.ReadAllText(Path.Combine(d, "manifest.json")))!["verified"]!.GetValue<bool>()));
            Assert.Contains("connected to " + broker.Url, File.ReadAllText(Path.Combine(root, "edge.log")));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Edge_demo_refuses_a_broker_that_is_not_an_mqtt_url_with_exit_2()
    {
        var result = await Edge.Tests.Sealing.Cli.RunAsync("demo", "--seconds", "6", "--broker", "http://127.0.0.1:1883");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--broker: 'http://127.0.0.1:1883' is not an mqtt://HOST:PORT URL", result.Stderr);
    }
}

internal sealed class LoggerProviderForTest(ITestOutputHelper output) : ILoggerProvider, ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new TestOutputLogger(output, categoryName);
    public void AddProvider(ILoggerProvider provider) { }
    public void Dispose() { }
}
