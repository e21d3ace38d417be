using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Edge.Agent.Configuration;
using Edge.Agent.Sealing;

namespace Edge.Tests.Sealing;

public class SealingConfig_Tests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edge-sealing-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private EdgeSettings Load(string? ownerPublicKey)
    {
        var config = new JsonObject
        {
            ["siteId"] = "tokyo-hq",
            ["deviceId"] = "room-3f",
            ["cameras"] = new JsonArray(new JsonObject { ["id"] = "door", ["source"] = new JsonObject { ["type"] = "testPattern" } }),
            ["storage"] = new JsonObject { ["volumes"] = new JsonArray(new JsonObject { ["path"] = "video" }) },
        };
        if (ownerPublicKey is not null) config["sealing"] = new JsonObject { ["ownerPublicKey"] = ownerPublicKey };
        var path = Path.Combine(_dir, "edge.json");
        File.WriteAllText(path, config.ToJsonString());
        return EdgeConfigLoader.Load(path);
    }

    private string Problems(string ownerPublicKey) => string.Join("\n", Assert.Throws<ConfigException>(() => Load(ownerPublicKey)).Problems);

    [Fact]
    public void An_owner_public_key_path_is_resolved_against_the_config_file_and_checked()
    {
        OwnerKeys.CreatePair(Path.Combine(_dir, "keys"), passphrase: null);

        var settings = Load("keys/owner.pub");

        Assert.Equal(Path.Combine(_dir, "keys", "owner.pub"), settings.OwnerPublicKeyFile);
    }

    [Fact]
    public void A_missing_owner_public_key_is_a_config_error_naming_the_key()
    {
        var problems = Problems("keys/owner.pub");

        Assert.Contains("sealing.ownerPublicKey:", problems);
        Assert.Contains("does not exist", problems);
    }

    [Fact]
    public void The_private_key_where_the_public_key_belongs_is_a_config_error()
    {
        OwnerKeys.CreatePair(Path.Combine(_dir, "keys"), passphrase: null);

        var problems = Problems("keys/owner.key");

        Assert.Contains("sealing.ownerPublicKey:", problems);
        Assert.Contains("is a private key", problems);
    }

    [Fact]
    public void A_public_key_on_another_curve_is_a_config_error()
    {
        using var p384 = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP384);
        File.WriteAllText(Path.Combine(_dir, "p384.pub"), p384.ExportSubjectPublicKeyInfoPem());

        var problems = Problems("p384.pub");

        Assert.Contains("sealing.ownerPublicKey:", problems);
        Assert.Contains("expected NIST P-256", problems);
    }
}
