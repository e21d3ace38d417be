// `edge central --config central.json`: the receiver, until Ctrl-C or SIGTERM. `edge central send-command`: signs one
// command (ping, request-window, resend, clip-ack) for one box and publishes it, for the monitoring desk.
using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Edge.Agent.Cli;
using Edge.Agent.Configuration;
using Edge.Sync;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;

namespace Edge.Agent.Central;

public static class CentralCommand
{
    public static Command Build(CommandContext context)
    {
        var config = new Option<FileInfo>("--config", "-c") { Description = "Path of central.json", Required = true };
        var central = new Command("central", "Run the central receiver: fleet state, events, clips verified, opened, cut and acknowledged") { config };
        central.SetAction((parse, ct) => RunAsync(parse.GetValue(config)!, context, ct));

        var sendConfig = new Option<FileInfo>("--config", "-c") { Description = "Path of central.json", Required = true };
        var site = new Option<string>("--site") { Description = "The box's siteId", Required = true };
        var device = new Option<string>("--device") { Description = "The box's deviceId", Required = true };
        var name = new Option<string>("--name") { Description = "ping, request-window, resend or clip-ack", Required = true };
        var args = new Option<string>("--args") { Description = "The command's arguments as a JSON object (default {})", DefaultValueFactory = _ => "{}" };
        var send = new Command("send-command", "Sign a command with owner-sign.key and publish it to one box (docs/protocol.md, commands)") { sendConfig, site, device, name, args };
        send.SetAction((parse, ct) => SendAsync(parse.GetValue(sendConfig)!, parse.GetValue(site)!, parse.GetValue(device)!, parse.GetValue(name)!, parse.GetValue(args)!, context, ct));
        central.Add(send);
        return central;
    }

    public static async Task<int> RunAsync(FileInfo configFile, CommandContext context, CancellationToken cancellationToken)
    {
        var settings = CentralConfigLoader.Load(configFile.FullName);
        var (owner, signer) = settings.LoadKeys();
        using var ownerKey = owner;
        using var signingKey = signer;
        using var store = CentralStore.Open(settings);
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }).SetMinimumLevel(LogLevel.Information));
        await using var receiver = new CentralReceiver(settings, store, ownerKey, signingKey, context.Time, loggers.CreateLogger("central"));
        // SIGTERM (systemd) and Ctrl-C end the wait; the receiver then stops cleanly.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        await receiver.StartAsync(stop.Token).ConfigureAwait(false);
        context.Out.WriteLine($"edge central: receiving from {settings.Broker} (group {settings.ShareGroup}); clips under {Path.Combine(settings.OutputDirectory, "clips")}");
        try { await Task.Delay(Timeout.InfiniteTimeSpan, context.Time, stop.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        var c = receiver.Counters;
        context.Out.WriteLine($"edge central: stopping; {c.Received} message(s), {c.Duplicates} duplicate(s), {c.MalformedTotal} malformed, clips {c.ClipsVerified} verified / {c.ClipsFailed} refused / {c.ClipsUnopenable} unopenable");
        return EdgeCli.ExitOk;
    }

    public static async Task<int> SendAsync(FileInfo configFile, string site, string device, string name, string argsJson, CommandContext context, CancellationToken cancellationToken)
    {
        var settings = CentralConfigLoader.Load(configFile.FullName);
        JsonObject args;
        try { args = JsonNode.Parse(argsJson) as JsonObject ?? throw new UsageException("--args: expected a JSON object, e.g. {\"stream\":\"events\",\"fromId\":40}"); }
        catch (JsonException e) { throw new UsageException($"--args: not JSON: {e.Message}"); }
        if (name is not ("ping" or "request-window" or "resend" or "clip-ack"))
            throw new UsageException($"--name: '{name}' is not a command of docs/protocol.md (ping, request-window, resend, clip-ack)");
        var (owner, signer) = settings.LoadKeys();
        owner.Dispose();
        using var signingKey = signer;
        var body = CommandSigning.NewBody(name, site, device, context.Time, args);
        using var client = new MqttClientFactory().CreateMqttClient();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            var connected = await client.ConnectAsync(CentralReceiver.BuildOptions(settings, $"{settings.ClientId}-cmd-{Guid.NewGuid():N}"[..Math.Min(128, settings.ClientId.Length + 37)], persistentSession: false), limit.Token).ConfigureAwait(false);
            if (connected.ResultCode != MqttClientConnectResultCode.Success)
            {
                context.Err.WriteLine($"edge: the broker {settings.Broker} refused the connection: {connected.ResultCode} {connected.ReasonString}");
                return EdgeCli.ExitFailure;
            }
            var result = await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic($"{SyncOptions.TopicRoot(site, device)}/cmd/{name}")
                .WithPayload(CommandSigning.Sign(signingKey, body))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), limit.Token).ConfigureAwait(false);
            if (!result.IsSuccess)
            {
                context.Err.WriteLine($"edge: the broker refused the command: {result.ReasonCode} {result.ReasonString}");
                return EdgeCli.ExitFailure;
            }
            await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            context.Err.WriteLine($"edge: cannot reach the broker {settings.Broker}: {e.GetBaseException().Message}");
            return EdgeCli.ExitFailure;
        }
        context.Out.WriteLine($"sent {name} {body.Id} to {site}/{device}; the reply arrives on {SyncOptions.TopicRoot(site, device)}/cmd-reply/{name} (the central's log shows it)");
        return EdgeCli.ExitOk;
    }
}
