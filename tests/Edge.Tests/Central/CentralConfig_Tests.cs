using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Edge.Agent.Central;
using Edge.Agent.Sealing;
using Edge.Sync.Protocol;
using Microsoft.Extensions.Time.Testing;
using Edge.Agent.Configuration;
using Edge.Sync;

namespace Edge.Tests.Central;

public sealed class CentralConfig_Tests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edge-central-config-").FullName;

    public CentralConfig_Tests()
    {
        Edge.Agent.Sealing.OwnerKeys.CreatePair(Path.Combine(_dir, "keys"), passphrase: null);
        CommandSigningKeys.CreatePair(Path.Combine(_dir, "keys"), passphrase: null);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string ConfigPath => Path.Combine(_dir, "central.json");

    private static string Repo(string relative) => Path.Combine(Fixtures.RepoPaths.Root, relative);

    private static JsonObject Valid() => new()
    {
        ["broker"] = "mqtt://127.0.0.1:1883",
        ["ownerKey"] = "keys/owner.key",
        ["commandSigningKey"] = "keys/owner-sign.key",
        ["storeDirectory"] = "store",
        ["outputDirectory"] = "out",
    };

    private string ProblemsOf(JsonObject config)
    {
        var e = Assert.Throws<ConfigException>(() => CentralConfigLoader.Parse(config.ToJsonString(), ConfigPath));
        return string.Join("\n", e.Problems);
    }

    private static JsonObject With(Action<JsonObject> change)
    {
        var config = Valid();
        change(config);
        return config;
    }

    [Fact]
    public void A_valid_central_json_yields_settings_with_defaults_and_paths_relative_to_the_file()
    {
        var settings = CentralConfigLoader.Parse(Valid().ToJsonString(), ConfigPath);

        Assert.Equal("edge-central", settings.ShareGroup);
        Assert.Equal(Path.Combine(_dir, "store"), settings.StoreDirectory);
        Assert.Equal(Path.Combine(_dir, "keys", "central-store.key"), settings.StoreKeyFile);
        Assert.Equal(Path.Combine(_dir, "keys", "owner.key"), settings.OwnerKeyFile);
        Assert.False(settings.UseTls);
        Assert.StartsWith("edge-central-", settings.ClientId);
    }

    [Fact]
    public void Every_problem_is_reported_at_once_each_with_its_key()
    {
        var problems = ProblemsOf(new JsonObject { ["broker"] = "http://example.jp", ["shareGroup"] = "a/b", ["keepAliveSeconds"] = 0 });

        Assert.Contains("broker: 'http://example.jp' is not an mqtt:// or mqtts:// URL", problems);
        Assert.Contains("shareGroup: 'a/b' is not a valid group name", problems);
        Assert.Contains("ownerKey: is required", problems);
        Assert.Contains("commandSigningKey: is required", problems);
        Assert.Contains("storeDirectory: is required", problems);
        Assert.Contains("outputDirectory: is required", problems);
        Assert.Contains("keepAliveSeconds: must be from 1 to 3600", problems);
    }

    [Fact]
    public void An_unknown_key_a_missing_file_and_certificates_over_plain_mqtt_are_refused_by_name()
    {
        Assert.Contains("sharegroupp: unknown key", ProblemsOf(With(c => c["sharegroupp"] = "x")));
        Assert.Contains($"caFile: {Path.Combine(_dir, "nowhere.crt")} does not exist", ProblemsOf(With(c => c["caFile"] = "nowhere.crt")));
        File.WriteAllText(Path.Combine(_dir, "ca.crt"), "");
        Assert.Contains("broker: certificates are configured but the broker URL is mqtt://", ProblemsOf(With(c => c["caFile"] = "ca.crt")));
        Assert.Contains("certFile: certFile and keyFile go together", ProblemsOf(With(c => { c["broker"] = "mqtts://h"; c["certFile"] = "ca.crt"; })));
        Assert.Contains("outputDirectory: must differ from storeDirectory", ProblemsOf(With(c => c["outputDirectory"] = "store")));
        Assert.Contains("username: is required when passwordFile is set", ProblemsOf(With(c => c["passwordFile"] = "ca.crt")));
        Assert.Contains("maxPacketBytes: must be from 65536", ProblemsOf(With(c => c["maxPacketBytes"] = 10)));
    }

    [Fact]
    public void An_encrypted_owner_key_without_a_passphrase_file_is_a_configuration_error_naming_ownerKey()
    {
        var encrypted = Path.Combine(_dir, "encrypted");
        Edge.Agent.Sealing.OwnerKeys.CreatePair(encrypted, passphrase: "correct horse");
        var settings = CentralConfigLoader.Parse(With(c => c["ownerKey"] = "encrypted/owner.key").ToJsonString(), ConfigPath);

        var e = Assert.Throws<ConfigException>(() => settings.LoadKeys());
        Assert.StartsWith("ownerKey: ", e.Problems.Single());
        Assert.Contains("passphrase", e.Problems.Single());

        File.WriteAllText(Path.Combine(_dir, "pass"), "correct horse\n");
        var withPassphrase = CentralConfigLoader.Parse(With(c => { c["ownerKey"] = "encrypted/owner.key"; c["passphraseFile"] = "pass"; }).ToJsonString(), ConfigPath);
        var (owner, signer) = withPassphrase.LoadKeys();
        owner.Dispose();
        signer.Dispose();
    }

    [Fact]
    public void A_public_key_given_as_the_command_signing_key_is_refused_naming_the_key()
    {
        var settings = CentralConfigLoader.Parse(With(c => c["commandSigningKey"] = "keys/owner-sign.pub").ToJsonString(), ConfigPath);
        var e = Assert.Throws<ConfigException>(() => settings.LoadKeys());
        Assert.StartsWith("commandSigningKey: ", e.Problems.Single());
    }

    [Fact]
    public async Task Edge_central_with_a_bad_config_exits_2_with_one_line_naming_the_key()
    {
        File.WriteAllText(ConfigPath, With(c => c.Remove("outputDirectory")).ToJsonString());

        var result = await Edge.Tests.Sealing.Cli.RunAsync("central", "--config", ConfigPath);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"edge: configuration error: {ConfigPath}: outputDirectory: is required", result.Stderr.Trim());
    }

    [Fact]
    public void The_documented_example_central_json_is_valid_and_every_key_in_it_is_documented()
    {
        var text = File.ReadAllText(Repo("config/central.example.json"));
        // Point its absolute paths into a scratch directory holding the files they name.
        text = text.Replace("/etc/edge-central/", _dir + "/etc/").Replace("/var/lib/edge-central/", _dir + "/var/").Replace("/srv/edge-central", _dir + "/srv");
        foreach (var file in new[] { "tls/ca.crt", "tls/central.crt", "tls/central.key", "mqtt-password", "keys/passphrase" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(_dir, "etc", file))!);
            File.WriteAllText(Path.Combine(_dir, "etc", file), "x");
        }
        Edge.Agent.Sealing.OwnerKeys.CreatePair(Path.Combine(_dir, "etc", "keys"), passphrase: "x");
        CommandSigningKeys.CreatePair(Path.Combine(_dir, "etc", "keys"), passphrase: "x");

        var settings = CentralConfigLoader.Parse(text, ConfigPath);
        Assert.True(settings.UseTls);
        var (owner, signer) = settings.LoadKeys();
        owner.Dispose();
        signer.Dispose();

        var reference = File.ReadAllText(Repo("docs/ref/central-config.md"));
        var keys = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(Repo("config/central.example.json")), "\"(\\w+)\"\\s*:")
            .Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.True(keys.Count > 10);
        Assert.All(keys, key => Assert.Contains($"`{key}`", reference));
    }
}

public sealed class CommandSigning_Tests
{
    [Fact]
    public void A_command_the_central_signs_from_its_key_file_is_accepted_by_the_box_verifier_and_a_changed_byte_is_not()
    {
        var dir = Directory.CreateTempSubdirectory("edge-signing-").FullName;
        try
        {
            var pair = CommandSigningKeys.CreatePair(dir, passphrase: "x");
            using var key = CommandSigningKeys.LoadPrivate(pair.PrivateKeyPath, "x");
            using var publicKey = CommandSigningKeys.LoadPublic(pair.PublicKeyPath);
            var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 5, 0, 0, TimeSpan.Zero));
            // The central's path: args as a JsonObject, as CentralReceiver.SendCommandAsync passes them.
            var body = CommandSigning.NewBody("clip-ack", "tokyo-hq", "room-3f", time, new JsonObject { ["clipId"] = "f12-1", ["verified"] = true });
            var envelope = CommandSigning.Sign(key, body);
            var verifier = new CommandVerifier(publicKey, "tokyo-hq", "room-3f", TimeSpan.FromMinutes(5), time);
            var nonces = new HashSet<string>();

            var check = verifier.Check("clip-ack", envelope, (id, _) => nonces.Add(id));
            Assert.True(check.Accepted, check.Detail);
            Assert.Equal(body.Id, check.Body!.Id);
            Assert.True(check.Body.Args.GetProperty("verified").GetBoolean());
            // The wire: the documented envelope, and a body whose time is UTC with milliseconds and Z.
            var o = JsonNode.Parse(envelope)!.AsObject();
            Assert.Equal(["schema", "body", "signature"], o.Select(p => p.Key));
            var bodyText = Encoding.UTF8.GetString(Convert.FromBase64String(o["body"]!.GetValue<string>()));
            Assert.Equal("{\"id\":\"" + body.Id + "\",\"name\":\"clip-ack\",\"siteId\":\"tokyo-hq\",\"deviceId\":\"room-3f\",\"issuedAt\":\"2026-11-23T05:00:00.000Z\",\"args\":{\"clipId\":\"f12-1\",\"verified\":true}}", bodyText);

            // Change the body (verified true → false) and keep the signature.
            o["body"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(bodyText.Replace("true", "false")));
            Assert.Equal(CommandErrors.BadSignature, verifier.Check("clip-ack", Encoding.UTF8.GetBytes(o.ToJsonString()), (id, _) => nonces.Add(id)).Error);
            Assert.Equal(CommandErrors.Malformed, verifier.Check("clip-ack", "{\"schema\":1,\"body\":\"%%\",\"signature\":\"\"}"u8, (id, _) => nonces.Add(id)).Error);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void A_key_file_of_the_wrong_kind_is_refused_naming_the_file()
    {
        var dir = Directory.CreateTempSubdirectory("edge-signing-").FullName;
        try
        {
            var pair = CommandSigningKeys.CreatePair(dir, passphrase: null);
            var wrong = Assert.Throws<OwnerKeyException>(() => CommandSigningKeys.LoadPublic(pair.PrivateKeyPath));
            Assert.Contains(pair.PrivateKeyPath, wrong.Message);
            File.SetUnixFileMode(pair.PrivateKeyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            Assert.Contains("chmod 600", Assert.Throws<OwnerKeyException>(() => CommandSigningKeys.LoadPrivate(pair.PrivateKeyPath, null)).Message);
            Assert.Throws<OwnerKeyException>(() => CommandSigningKeys.CreatePair(dir, passphrase: null));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
