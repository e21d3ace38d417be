using System.Text.Json.Nodes;
using Edge.Agent.Configuration;
using Edge.Hardware.Cameras;
using Edge.Tests.Support;

namespace Edge.Tests.Configuration;

public class EdgeConfig_Tests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edge-config-").FullName;

    public EdgeConfig_Tests() => Edge.Agent.Sealing.OwnerKeys.CreatePair(Path.Combine(_dir, "owner"), passphrase: null);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string ConfigPath => Path.Combine(_dir, "edge.json");

    private static JsonObject ValidConfig() => new()
    {
        ["siteId"] = "tokyo-hq",
        ["deviceId"] = "room-3f",
        ["timeZone"] = "Asia/Tokyo",
        ["cameras"] = new JsonArray(
            new JsonObject { ["id"] = "door", ["source"] = new JsonObject { ["type"] = "rtsp", ["url"] = "rtsp://10.0.0.5/stream1" } },
            new JsonObject { ["id"] = "rack", ["source"] = new JsonObject { ["type"] = "testPattern" } }),
        ["storage"] = new JsonObject { ["volumes"] = new JsonArray(new JsonObject { ["path"] = "video" }), ["stagingDirectory"] = "staging" },
        ["index"] = new JsonObject { ["directory"] = "index", ["keyFile"] = "keys/index.key" },
        ["sealing"] = new JsonObject { ["ownerPublicKey"] = "owner/owner.pub" },
    };

    private string Write(JsonObject config)
    {
        var path = Path.Combine(_dir, "edge.json");
        File.WriteAllText(path, config.ToJsonString());
        return path;
    }

    private string ProblemsOf(JsonObject config)
    {
        var e = Assert.Throws<ConfigException>(() => EdgeConfigLoader.Parse(config.ToJsonString(), ConfigPath));
        return string.Join("\n", e.Problems);
    }

    [Fact]
    public void A_valid_config_yields_typed_settings_with_defaults_and_paths_relative_to_the_file()
    {
        var settings = EdgeConfigLoader.Parse(ValidConfig().ToJsonString(), ConfigPath);

        Assert.Equal("tokyo-hq", settings.SiteId);
        Assert.Equal(TimeSpan.FromSeconds(10), settings.Cameras[0].SegmentLength);
        var rtsp = Assert.IsType<RtspSource>(settings.Cameras[0].Source);
        Assert.Equal(RtspTransport.Tcp, rtsp.Transport);
        Assert.Equal(Path.Combine(_dir, "video"), settings.Volumes[0]);
        Assert.Equal(Path.Combine(_dir, "keys", "index.key"), settings.IndexKeyFile);
        Assert.Equal(30, settings.RetentionDays);
    }

    [Fact]
    public void Every_problem_in_a_file_is_reported_at_once_each_with_its_key()
    {
        var config = ValidConfig();
        config.Remove("siteId");
        config["recording"] = new JsonObject { ["segmentSeconds"] = -1 };
        config["timeZone"] = "Mars/Olympus";

        var problems = ProblemsOf(config);

        Assert.Contains("siteId: is required", problems);
        Assert.Contains("recording.segmentSeconds: must be greater than 0", problems);
        Assert.Contains("timeZone: unknown time zone 'Mars/Olympus'", problems);
    }

    [Fact]
    public void A_box_without_an_owner_public_key_is_refused_because_footage_would_lie_unencrypted()
    {
        var config = ValidConfig();
        config.Remove("sealing");

        Assert.Contains("sealing.ownerPublicKey: is required", ProblemsOf(config));
    }

    [Fact]
    public void A_misspelt_key_is_refused_rather_than_silently_defaulted()
    {
        var config = ValidConfig();
        ((JsonObject)config["cameras"]![0]!)["segmentSecs"] = 5;

        Assert.Contains("cameras[0].segmentSecs: unknown key", ProblemsOf(config));
    }

    [Fact]
    public void A_value_of_the_wrong_type_names_its_key()
    {
        var config = ValidConfig();
        config["retention"] = new JsonObject { ["days"] = "thirty" };

        Assert.Contains("retention.days", ProblemsOf(config));
    }

    [Fact]
    public void A_camera_password_never_appears_in_an_error()
    {
        var config = ValidConfig();
        ((JsonObject)config["cameras"]![0]!["source"]!)["url"] = "http://admin:s3cret@10.0.0.5/stream";

        var problems = ProblemsOf(config);

        Assert.Contains("cameras[0].source.url: expected an rtsp:// URL", problems);
        Assert.DoesNotContain("s3cret", problems);
    }

    public static TheoryData<string, string> BadConfigs => new()
    {
        { "unknown source type", "cameras[1].source.type: unknown camera source type 'hdmi'" },
        { "missing site id", "siteId: is required" },
        { "negative segment length", "cameras[0].segmentSeconds: must be greater than 0" },
        { "duplicate camera id", "cameras[1].id: duplicate camera id 'door'" },
    };

    private static void Break(JsonObject config, string how)
    {
        switch (how)
        {
            case "unknown source type": config["cameras"]![1]!["source"]!["type"] = "hdmi"; break;
            case "missing site id": config.Remove("siteId"); break;
            case "negative segment length": config["cameras"]![0]!["segmentSeconds"] = -10; break;
            case "duplicate camera id": config["cameras"]![1]!["id"] = "door"; break;
        }
    }

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public async Task Edge_run_with_a_bad_config_exits_non_zero_naming_the_key(string how, string expected)
    {
        var config = ValidConfig();
        Break(config, how);

        var result = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(60), "run", "--config", Write(config));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.Stderr);
        Assert.StartsWith("edge: configuration error:", result.Stderr);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("directory")]
    public async Task Edge_run_with_an_unreadable_key_file_exits_non_zero_naming_index_keyFile(string how)
    {
        var keyPath = Path.Combine(_dir, "keys", "index.key");
        Directory.CreateDirectory(Path.GetDirectoryName(keyPath)!);
        if (how == "garbage") File.WriteAllText(keyPath, "not a key");
        else Directory.CreateDirectory(keyPath);

        var result = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(60), "run", "--config", Write(ValidConfig()));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("index.keyFile:", result.Stderr);
        Assert.Contains(keyPath, result.Stderr);
    }

    [Fact]
    public async Task A_missing_config_file_is_named_in_the_error()
    {
        var result = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(60), "status", "--config", Path.Combine(_dir, "nope.json"));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("nope.json", result.Stderr);
    }
}
