using System.Text.Json.Nodes;
using Edge.Agent.Configuration;
using Edge.Agent.Sealing;

namespace Edge.Tests.Sync;

public class SyncConfig_Tests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edge-sync-config-").FullName;

    public SyncConfig_Tests()
    {
        OwnerKeys.CreatePair(Path.Combine(_dir, "owner"), passphrase: null);
        CommandSigningKeys.CreatePair(Path.Combine(_dir, "owner"), passphrase: null);
        File.WriteAllText(Path.Combine(_dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
        File.WriteAllText(Path.Combine(_dir, "password"), "secret\n");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string ConfigPath => Path.Combine(_dir, "edge.json");

    private static JsonObject Config(JsonObject sync) => new()
    {
        ["siteId"] = "tokyo-hq",
        ["deviceId"] = "room-3f",
        ["timeZone"] = "Asia/Tokyo",
        ["cameras"] = new JsonArray(new JsonObject { ["id"] = "rack", ["source"] = new JsonObject { ["type"] = "testPattern" } }),
        ["storage"] = new JsonObject { ["volumes"] = new JsonArray(new JsonObject { ["path"] = "video" }), ["stagingDirectory"] = "staging" },
        ["index"] = new JsonObject { ["directory"] = "index", ["keyFile"] = "keys/index.key" },
        ["sealing"] = new JsonObject { ["ownerPublicKey"] = "owner/owner.pub" },
        ["sync"] = sync,
    };

    private string ProblemsOf(JsonObject sync)
    {
        var e = Assert.Throws<ConfigException>(() => EdgeConfigLoader.Parse(Config(sync).ToJsonString(), ConfigPath));
        return string.Join("\n", e.Problems);
    }

    [Fact]
    public void A_minimal_sync_section_gets_the_protocols_defaults_and_no_sync_section_means_nothing_leaves()
    {
        var settings = EdgeConfigLoader.Parse(Config(new JsonObject { ["broker"] = "mqtt://127.0.0.1:1883" }).ToJsonString(), ConfigPath);
        var sync = settings.Sync!;
        Assert.Equal(new Uri("mqtt://127.0.0.1:1883"), sync.Broker);
        Assert.False(sync.UseTls);
        Assert.Equal((TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(15), 65536, 1000, 256L << 20, TimeSpan.FromMinutes(5)),
            (sync.HealthInterval, sync.KeepAlive, sync.ClipChunkBytes, sync.ClipBandwidthKbps, sync.OutboxMaxBytes, sync.CommandMaxAge));

        var none = Config(new JsonObject());
        none.Remove("sync");
        Assert.Null(EdgeConfigLoader.Parse(none.ToJsonString(), ConfigPath).Sync);
    }

    [Fact]
    public void Tls_files_credentials_and_the_command_key_resolve_relative_to_the_config_file()
    {
        var settings = EdgeConfigLoader.Parse(Config(new JsonObject
        {
            ["broker"] = "mqtts://central.example:8883", ["caFile"] = "ca.pem", ["username"] = "box", ["passwordFile"] = "password",
            ["commandPublicKey"] = "owner/owner-sign.pub", ["clipBandwidthKbps"] = 0,
        }).ToJsonString(), ConfigPath);
        var sync = settings.Sync!;
        Assert.True(sync.UseTls);
        Assert.Equal(Path.Combine(_dir, "ca.pem"), sync.CaFile);
        Assert.Equal(Path.Combine(_dir, "password"), sync.PasswordFile);
        Assert.Equal(Path.Combine(_dir, "owner", "owner-sign.pub"), sync.CommandPublicKeyFile);
        Assert.Equal(0, sync.ClipBandwidthKbps);
    }

    public static TheoryData<string, string> BadSections => new()
    {
        { """{}""", "sync.broker: is required" },
        { """{"broker":"http://central:80"}""", "sync.broker: 'http://central:80' is not an mqtt:// or mqtts:// URL" },
        { """{"broker":"mqtt://c:1883","caFile":"ca.pem"}""", "use mqtts:// for TLS" },
        { """{"broker":"mqtts://c:8883","certFile":"ca.pem"}""", "sync.certFile: certFile and keyFile go together" },
        { """{"broker":"mqtts://c:8883","caFile":"missing.pem"}""", "sync.caFile: " },
        { """{"broker":"mqtt://c:1883","passwordFile":"password"}""", "sync.username: is required when sync.passwordFile is set" },
        { """{"broker":"mqtt://c:1883","healthSeconds":0}""", "sync.healthSeconds: must be from 1 to 86400 (found 0)" },
        { """{"broker":"mqtt://c:1883","keepAliveSeconds":7200}""", "sync.keepAliveSeconds: must be from 1 to 3600" },
        { """{"broker":"mqtt://c:1883","clipChunkBytes":100}""", "sync.clipChunkBytes: must be from 1024 to 1048576 (found 100)" },
        { """{"broker":"mqtt://c:1883","clipBandwidthKbps":-1}""", "sync.clipBandwidthKbps: must not be negative" },
        { """{"broker":"mqtt://c:1883","outboxMaxBytes":1000}""", "sync.outboxMaxBytes: must be at least 1048576" },
        { """{"broker":"mqtt://c:1883","commandMaxAgeSeconds":0}""", "sync.commandMaxAgeSeconds: must be from 1 to 86400" },
        { """{"broker":"mqtt://c:1883","clipAckTimeoutSeconds":1}""", "sync.clipAckTimeoutSeconds: must be from 5 to 604800" },
        { """{"broker":"mqtt://c:1883","commandPublicKey":"owner/owner-sign.key"}""", "sync.commandPublicKey: " },
        { """{"broker":"mqtt://c:1883","commandPublicKey":"ca.pem"}""", "sync.commandPublicKey: " },
        { """{"broker":"mqtt://c:1883","brokr":"x"}""", "brokr" },
    };

    [Theory]
    [MemberData(nameof(BadSections))]
    public void A_bad_sync_section_is_refused_naming_the_key(string section, string expected)
    {
        Assert.Contains(expected, ProblemsOf(JsonNode.Parse(section)!.AsObject()));
    }
}
