using Edge.Agent.Configuration;

namespace Edge.Tests.Configuration;

public class ExampleConfig_Tests
{
    private static string RepoFile(string relative)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Edge.sln"))) dir = dir.Parent;
        return Path.Combine(dir?.FullName ?? throw new DirectoryNotFoundException("Edge.sln not found above the test binaries"), relative);
    }

    [Fact]
    public void The_documented_example_config_is_valid()
    {
        // The example names /var/lib/edge/keys/owner.pub; point that one key at a real public key, keep the rest.
        var dir = Directory.CreateTempSubdirectory("edge-example-").FullName;
        var owner = Edge.Agent.Sealing.OwnerKeys.CreatePair(Path.Combine(dir, "owner"), passphrase: null);
        var text = File.ReadAllText(RepoFile("config/edge.example.json")).Replace("/var/lib/edge/keys/owner.pub", owner.PublicKeyPath);
        Assert.Contains(owner.PublicKeyPath, text);
        // Its sync section names the command-signing key and TLS files: real stand-ins for those too.
        var signing = Edge.Agent.Sealing.CommandSigningKeys.CreatePair(Path.Combine(dir, "signing"), passphrase: null);
        text = text.Replace("/var/lib/edge/keys/owner-sign.pub", signing.PublicKeyPath).Replace("/etc/edge/tls/", Path.Combine(dir, "tls") + "/");
        Directory.CreateDirectory(Path.Combine(dir, "tls"));
        foreach (var file in new[] { "ca.pem", "box.pem", "box.key" }) File.WriteAllText(Path.Combine(dir, "tls", file), "(stand-in)");

        var settings = EdgeConfigLoader.Parse(text, Path.Combine(dir, "edge.json"));
        Directory.Delete(dir, recursive: true);

        Assert.Equal(2, settings.Cameras.Count);
        Assert.Equal(2, settings.Volumes.Count);
        Assert.True(settings.Sync!.UseTls);
    }

    [Fact]
    public void Every_key_of_the_example_config_is_documented_in_the_reference()
    {
        var reference = File.ReadAllText(RepoFile("docs/ref/config.md"));
        var keys = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(RepoFile("config/edge.example.json")), "\"(\\w+)\"\\s*:")
            .Select(m => m.Groups[1].Value).Distinct();

        Assert.All(keys, key => Assert.Contains($"`{key}`", reference));
    }
}
