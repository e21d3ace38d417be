using Edge.Agent.Index;
using Edge.Agent.Sealing;
using Edge.Tests.Sealing;
using Xunit.Abstractions;

namespace Edge.Tests.Export;

public class ExportRefusal_Tests(ITestOutputHelper output)
{
    // SealedBox's segments are 10 s each from 2026-11-23T01:15:02.123Z; this window covers parts of the first two.
    private const string From = "2026-11-23T01:15:05Z";
    private const string To = "2026-11-23T01:15:18Z";

    public static TheoryData<string, int, string> Refusals => new()
    {
        { "no reason", 2, "--reason is required" },
        { "a blank reason", 2, "--reason is required" },
        { "no recipient", 2, "--recipient is required" },
        { "a wrong key", 1, "wrong key: the window's segments were sealed to owner key" },
        { "a wrong passphrase", 1, "wrong key:" },
        { "no device signing key", 1, "the device signing key:" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task An_export_is_refused_with_nothing_written_and_the_refusal_audited(string with, int exitCode, string expected)
    {
        await using var box = new SealedBox(output, ownerPassphrase: with == "a wrong passphrase" ? "the right one" : null);
        box.SealAndIndex(box.StageRandom(70_000, 1));
        box.SealAndIndex(box.StageRandom(70_000, 2));
        if (with != "no device signing key")
            using (DeviceSigningKey.LoadOrCreate(DeviceSigningKey.DirectoryFor(box.Site.Settings.IndexKeyFile), out _)) { }
        var outParent = Directory.CreateTempSubdirectory("edge-refused-").FullName;
        var outDir = Path.Combine(outParent, "export");
        var key = with == "a wrong key" ? OwnerKeys.CreatePair(Path.Combine(box.OwnerDirectory, "stranger"), null).PrivateKeyPath : box.Owner.PrivateKeyPath;
        List<string> args = ["export", "--config", box.ConfigPath, "--key", key, "--camera", "door", "--from", From, "--to", To, "--out", outDir];
        if (with != "no reason") args.AddRange(["--reason", with == "a blank reason" ? "   " : "burglary inquiry"]);
        if (with != "no recipient") args.AddRange(["--recipient", "Chuo police station"]);
        if (with == "a wrong passphrase")
        {
            var passphrase = Path.Combine(box.OwnerDirectory, "passphrase");
            File.WriteAllText(passphrase, "not the right one\n");
            args.AddRange(["--key-passphrase-file", passphrase]);
        }

        var result = await Cli.RunAsync(args.ToArray());

        output.WriteLine(result.Stderr);
        Assert.Equal(exitCode, result.ExitCode);
        Assert.Contains(expected, result.Stderr);
        Assert.Equal("", result.Stdout);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outParent)); // not even DIR, nor a partial one
        Assert.Empty(Directory.EnumerateFileSystemEntries(box.Site.Settings.StagingDirectory, ".edge-export-*"));
        using var index = EdgeIndex.Open(box.Site.Settings.IndexDirectory, box.Site.Settings.IndexKeyFile, createKeyIfMissing: false);
        var audit = index.QueryAudit().Last();
        Assert.Equal("export_refused", audit.Action);
        Assert.Equal(Environment.UserName, audit.User);
        Assert.Contains(expected, audit.Detail);
        Assert.Contains(outDir, audit.Detail);
        Assert.Equal(with is "no reason" or "a blank reason" ? null : "burglary inquiry", audit.Purpose);
        Assert.Equal(with == "no recipient" ? null : "Chuo police station", audit.Recipient);
        Directory.Delete(outParent);
    }

    [Fact]
    public async Task An_existing_output_directory_is_refused_and_left_as_it_is()
    {
        await using var box = new SealedBox(output);
        box.SealAndIndex(box.StageRandom(70_000, 1));
        var outDir = Directory.CreateTempSubdirectory("edge-existing-").FullName;
        File.WriteAllText(Path.Combine(outDir, "keep.txt"), "keep me");

        var result = await Cli.RunAsync("export", "--config", box.ConfigPath, "--key", box.Owner.PrivateKeyPath, "--camera", "door",
            "--from", From, "--to", To, "--reason", "r", "--recipient", "p", "--out", outDir);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("already exists", result.Stderr);
        Assert.Equal(["keep.txt"], Directory.EnumerateFileSystemEntries(outDir).Select(Path.GetFileName));
        Directory.Delete(outDir, recursive: true);
    }

    [Fact]
    public async Task Sent_to_the_agent_directly_an_export_is_refused_there()
    {
        await using var box = new SealedBox(output);
        box.SealAndIndex(box.StageRandom(70_000, 1));
        await box.Site.StartAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        Edge.Agent.Control.ControlReply? reply;
        var outDir = Path.Combine(box.OwnerDirectory, "in-agent");
        while ((reply = await Edge.Agent.Control.ControlSocket.TryForwardAsync(box.Site.Settings.IndexDirectory,
                   ["export", "--config", box.ConfigPath, "--key", box.Owner.PrivateKeyPath, "--camera", "door", "--from", From, "--to", To,
                    "--reason", "r", "--recipient", "p", "--out", outDir], CancellationToken.None)) is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the agent's control socket did not answer within 30 s");
            await Task.Delay(100);
        }

        Assert.Equal(2, reply.ExitCode);
        Assert.Contains("owner key must stay in the calling process", reply.Stderr);
        Assert.False(Path.Exists(outDir));
    }
}
