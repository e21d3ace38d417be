// The verbs: `edge central` as the real executable (a child process, stopped with SIGTERM), and
// `edge central send-command` publishing a signed command that a box-side subscriber verifies.
using System.Diagnostics;
using Edge.Agent.Central;
using Edge.Tests.Fixtures;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Central;

public sealed class CentralCli_Tests(ITestOutputHelper output) : IDisposable
{
    private readonly string _owner = Directory.CreateTempSubdirectory("edge-central-cli-owner-").FullName;

    public void Dispose() => Directory.Delete(_owner, recursive: true);

    [Fact]
    public async Task Send_command_signs_a_resend_that_the_box_verifies_with_owner_sign_pub_and_refuses_unknown_names()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var owner = Edge.Agent.Sealing.OwnerKeys.CreatePair(_owner, passphrase: null);
        await using var central = new CentralUnderTest(output, broker.Url, owner.PrivateKeyPath);
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);

        var result = await Edge.Tests.Sealing.Cli.RunAsync("central", "send-command", "--config", central.ConfigPath,
            "--site", BoxPublisher.SiteId, "--device", BoxPublisher.DeviceId, "--name", "resend", "--args", "{\"stream\":\"events\",\"fromId\":40}");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var command = await box.NextCommandAsync("resend", TimeSpan.FromSeconds(30));
        Assert.Equal(40, command.Args["fromId"]!.GetValue<int>());
        Assert.Contains(command.Id, result.Stdout);

        var bad = await Edge.Tests.Sealing.Cli.RunAsync("central", "send-command", "--config", central.ConfigPath,
            "--site", "s", "--device", "d", "--name", "format-disk");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--name: 'format-disk' is not a command", bad.Stderr);
    }

    [Fact]
    public async Task Edge_central_runs_as_a_process_receives_and_stops_cleanly_on_sigterm()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var owner = Edge.Agent.Sealing.OwnerKeys.CreatePair(_owner, passphrase: null);
        await using var central = new CentralUnderTest(output, broker.Url, owner.PrivateKeyPath);
        await using var box = await BoxPublisher.ConnectAsync(broker.Url, central.CommandPublicKeyPath);
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var process = EdgeProcess.Start(line => { lines.Enqueue(line); output.WriteLine(line); }, "central", "--config", central.ConfigPath);
        try
        {
            await TestSite.WaitUntilAsync(() => lines.Any(l => l.Contains("connected to")), TimeSpan.FromSeconds(60), "edge central to connect");
            await box.PublishJsonAsync("status", new System.Text.Json.Nodes.JsonObject { ["schema"] = 1, ["state"] = "online" });
            await TestSite.WaitUntilAsync(() => lines.Any(l => l.Contains("test-site/test-box is online")), TimeSpan.FromSeconds(60), "the status to be stored");

            Process.Start("kill", ["-TERM", process.Id.ToString()])!.WaitForExit();
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(limit.Token);
            Assert.Equal(0, process.ExitCode);
            Assert.Contains(lines, l => l.StartsWith("edge central: stopping; ", StringComparison.Ordinal));
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }

        // The store it left is the central's, encrypted, and holds the device.
        await central.StartAsync();
        Assert.Equal("online", central.Store.GetDevice(BoxPublisher.SiteId, BoxPublisher.DeviceId)!.State);
    }
}
