// First-boot provisioning into a scratch root: what lands where with which mode, what a bad file leaves behind
// (nothing), re-runs, owners, and `edge provision --check` as the technician sees it.
using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Edge.Agent.Cli;
using Edge.Agent.Configuration;
using Edge.Agent.Index;
using Edge.Agent.Provisioning;
using Edge.Agent.Storage;
using Edge.Tests.Fixtures;

namespace Edge.Tests.Appliance;

public sealed class Provisioning_Tests : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("edge-provision-test-").FullName;

    private string Root => Path.Combine(_scratch, "root");
    private string Boot => Path.Combine(_scratch, "boot");
    private string ProvisionPath => Path.Combine(Boot, "edge-provision.json");
    private string InRoot(string boxPath) => Path.Join(Root, boxPath.TrimStart('/'));

    public Provisioning_Tests()
    {
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(Boot);
    }

    public void Dispose()
    {
        try { Directory.Delete(_scratch, recursive: true); } catch (IOException) { }
    }

    private static string ExampleFile => Path.Combine(RepoPaths.Root, "packaging", "examples", "edge-provision.json");

    private static UnixFileMode Mode(string path) => File.GetUnixFileMode(path) & (UnixFileMode)0x1FF;

    private static UnixFileMode Octal(string octal) => (UnixFileMode)Convert.ToInt32(octal, 8);

    /// <summary>A provision file with one test-pattern camera, the owner key and a matching client certificate and key.</summary>
    private static JsonObject GoodFile()
    {
        using var owner = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var (ca, client, clientKey) = Certificates();
        return new JsonObject
        {
            ["format"] = "edge-provision/1",
            ["config"] = new JsonObject
            {
                ["siteId"] = "test-site",
                ["deviceId"] = "box-1",
                ["timeZone"] = "Asia/Tokyo",
                ["cameras"] = new JsonArray(new JsonObject { ["id"] = "cam1", ["source"] = new JsonObject { ["type"] = "testPattern" } }),
                ["doors"] = new JsonArray(new JsonObject { ["id"] = "door-1", ["contactPin"] = 17, ["contactClosedLevel"] = "low", ["cameras"] = new JsonArray("cam1") }),
                ["storage"] = new JsonObject { ["volumes"] = new JsonArray(new JsonObject { ["path"] = "/srv/edge/usb" }, new JsonObject { ["path"] = "/var/lib/edge/video" }) },
            },
            ["sealing"] = new JsonObject { ["ownerPublicKey"] = owner.ExportSubjectPublicKeyInfoPem() },
            ["certificates"] = new JsonObject { ["brokerCa"] = ca, ["client"] = client, ["clientKey"] = clientKey },
        };
    }

    private static (string Ca, string Client, string ClientKey) Certificates(DateTimeOffset? notAfter = null)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Test Broker CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddYears(5));
        using var clientKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var clientRequest = new CertificateRequest("CN=box-1", clientKey, HashAlgorithmName.SHA256);
        using var client = clientRequest.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddYears(1), [1, 2, 3, 4]);
        return (ca.ExportCertificatePem(), client.ExportCertificatePem(), clientKey.ExportPkcs8PrivateKeyPem());
    }

    private void Write(JsonObject file) => File.WriteAllText(ProvisionPath, file.ToJsonString());

    private ProvisionOutcome Provision() => new Provisioner(Root, TimeProvider.System).Run(ProvisionPath);

    private string ResultText => File.ReadAllText(Path.Combine(Boot, ProvisionFile.ResultFileName));

    [Fact]
    public void The_example_provision_file_is_valid()
    {
        var plan = ProvisionFile.Load(ExampleFile, TimeProvider.System);

        Assert.Equal("tokyo-hq", plan.Settings.SiteId);
        Assert.Equal(2, plan.Settings.Cameras.Count);
        Assert.NotNull(plan.OwnerKeyId);
        Assert.NotNull(plan.ClientKeyPem);
    }

    [Fact]
    public void A_good_file_installs_config_and_keys_with_their_modes_and_is_removed_from_the_boot_partition()
    {
        Directory.CreateDirectory(InRoot("/var/lib/edge/video")); // the SD-card volume the package creates; the USB disk is not mounted
        var file = GoodFile();
        Write(file);

        var outcome = Provision();

        Assert.True(outcome.Succeeded, string.Join("\n", outcome.Lines));
        Assert.False(File.Exists(ProvisionPath), "the provision file holds secrets and must be gone");
        Assert.StartsWith("edge provision result\r\nOK: provisioned site test-site, device box-1", ResultText);

        var config = InRoot("/etc/edge/edge.json");
        Assert.Equal(Octal("640"), Mode(config));
        Assert.Equal(Octal("750"), Mode(InRoot("/etc/edge")));
        Assert.Equal(Octal("700"), Mode(InRoot("/var/lib/edge/keys")));
        var settings = EdgeConfigLoader.Parse(InstalledConfigText(), "/etc/edge/edge.json");
        Assert.Equal("box-1", settings.DeviceId);
        Assert.Equal("door-1", JsonNode.Parse(File.ReadAllText(config))!["doors"]![0]!["id"]!.GetValue<string>()); // passed through

        Assert.Equal(Octal("644"), Mode(InRoot("/var/lib/edge/keys/owner.pub")));
        Assert.Equal(file["sealing"]!["ownerPublicKey"]!.GetValue<string>().Trim(), File.ReadAllText(InRoot("/var/lib/edge/keys/owner.pub")).Trim());
        Assert.Equal(Octal("644"), Mode(InRoot("/var/lib/edge/keys/broker-ca.crt")));
        Assert.Equal(Octal("644"), Mode(InRoot("/var/lib/edge/keys/client.crt")));
        Assert.Equal(Octal("600"), Mode(InRoot("/var/lib/edge/keys/client.key")));
        using (var paired = X509Certificate2.CreateFromPemFile(InRoot("/var/lib/edge/keys/client.crt"), InRoot("/var/lib/edge/keys/client.key")))
            Assert.True(paired.HasPrivateKey);

        Assert.Equal(Octal("600"), Mode(InRoot("/var/lib/edge/keys/index.key")));
        Assert.Equal(IndexKeyFile.KeyLength, IndexKeyFile.Load(InRoot("/var/lib/edge/keys/index.key")).Length);

        Assert.Equal(Octal("600"), Mode(InRoot("/var/lib/edge/keys/device.key")));
        using var device = ECDsa.Create();
        device.ImportFromPem(File.ReadAllText(InRoot("/var/lib/edge/keys/device.key")));
        Assert.Equal(256, device.KeySize);
        Assert.Contains("BEGIN PRIVATE KEY", File.ReadAllText(InRoot("/var/lib/edge/keys/device.key"))); // PKCS#8

        Assert.NotNull(VolumeMarker.TryRead(InRoot("/var/lib/edge/video")));
        Assert.False(Directory.Exists(InRoot("/srv/edge/usb")));
        Assert.Contains("volume /srv/edge/usb: NOT marked: it does not exist", ResultText);
    }

    [Fact]
    public void Every_problem_in_a_bad_file_is_named_and_nothing_on_the_box_is_changed()
    {
        var file = GoodFile();
        file["colour"] = "blue";
        file["format"] = "edge-provision/9";
        file["config"]!["siteId"] = "tokyo hq";
        file["config"]!["cameras"]![0]!.AsObject().Remove("id");
        using var ownerPrivate = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        file["sealing"]!["ownerPublicKey"] = ownerPrivate.ExportPkcs8PrivateKeyPem();
        file["certificates"]!.AsObject().Remove("clientKey");
        Write(file);

        var outcome = Provision();

        Assert.False(outcome.Succeeded);
        var text = ResultText;
        Assert.Contains("colour: unknown key", text);
        Assert.Contains("format: unknown format 'edge-provision/9'", text);
        Assert.Contains("config.siteId: 'tokyo hq' is not a valid id", text);
        Assert.Contains("config.cameras[0].id: is required", text);
        Assert.Contains("sealing.ownerPublicKey: this is a private key", text);
        Assert.Contains("certificates.clientKey: is required when certificates.client is given", text);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Root));
        Assert.True(File.Exists(ProvisionPath), "a bad file is left for the technician to see and fix");
    }

    [Fact]
    public void A_client_key_that_is_not_the_certificates_own_is_refused()
    {
        var file = GoodFile();
        file["certificates"]!["clientKey"] = Certificates().ClientKey;
        Write(file);

        var e = Assert.Throws<ProvisionException>(() => ProvisionFile.Load(ProvisionPath, TimeProvider.System));

        Assert.Contains(e.Problems, p => p.StartsWith("certificates.clientKey: not the private key of certificates.client"));
    }

    [Fact]
    public void An_expired_broker_certificate_is_refused_with_its_date()
    {
        var file = GoodFile();
        var expired = Certificates(notAfter: DateTimeOffset.UtcNow.AddDays(-1) + TimeSpan.FromHours(12));
        file["certificates"]!["brokerCa"] = expired.Ca;
        Write(file);
        var later = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(2));

        var e = Assert.Throws<ProvisionException>(() => ProvisionFile.Load(ProvisionPath, later));

        Assert.Contains(e.Problems, p => p.StartsWith("certificates.brokerCa: certificate 'CN=Test Broker CA' expired on "));
    }

    [Fact]
    public void On_the_box_whose_clock_may_be_wrong_certificate_dates_are_noted_not_refused()
    {
        var file = GoodFile();
        Write(file);
        var longAgo = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero));

        var plan = ProvisionFile.Load(ProvisionPath, longAgo, clockTrusted: false);

        Assert.Contains(plan.Notes, n => n.StartsWith("certificates.client: certificate 'CN=box-1' is valid only from "));
        Assert.Throws<ProvisionException>(() => ProvisionFile.Load(ProvisionPath, longAgo, clockTrusted: true));
    }

    [Fact]
    public void The_config_is_laid_over_the_box_defaults_so_a_short_file_gets_the_box_paths()
    {
        var file = GoodFile();
        var config = file["config"]!.AsObject();
        config.Remove("storage");
        config["Retention"] = new JsonObject { ["days"] = 90 };
        Write(file);

        var plan = ProvisionFile.Load(ProvisionPath, TimeProvider.System);

        Assert.Equal(["/srv/edge/usb", "/var/lib/edge/video"], plan.Settings.Volumes);
        Assert.Equal("/run/edge/staging", plan.Settings.StagingDirectory);
        Assert.Equal("/usr/bin/ffmpeg", plan.Settings.FfmpegPath);
        Assert.Equal(90, plan.Settings.RetentionDays);
        Assert.Equal(10, plan.Settings.Raw.Retention.MinFreePercent);
    }

    [Fact]
    public void Running_it_again_keeps_the_index_key_and_device_key_and_updates_the_config()
    {
        var file = GoodFile();
        Write(file);
        Assert.True(Provision().Succeeded);
        var indexKey = File.ReadAllBytes(InRoot("/var/lib/edge/keys/index.key"));
        var deviceKey = File.ReadAllText(InRoot("/var/lib/edge/keys/device.key"));

        file["config"]!["cameras"]![0]!["id"] = "cam-renamed";
        file["config"]!["doors"]![0]!["cameras"] = new JsonArray("cam-renamed");
        Write(file);
        var second = Provision();

        Assert.True(second.Succeeded, string.Join("\n", second.Lines));
        Assert.Equal(indexKey, File.ReadAllBytes(InRoot("/var/lib/edge/keys/index.key")));
        Assert.Equal(deviceKey, File.ReadAllText(InRoot("/var/lib/edge/keys/device.key")));
        Assert.Contains("kept (it already existed)", ResultText);
        Assert.Equal("cam-renamed", EdgeConfigLoader.Parse(InstalledConfigText(), "/etc/edge/edge.json").Cameras[0].Id);
        Assert.Empty(Directory.EnumerateFiles(InRoot("/var/lib/edge/keys"), "*.tmp-*"));
    }

    [Fact]
    public void Owners_go_to_root_and_the_edge_user_of_the_target_root_when_running_as_root()
    {
        Directory.CreateDirectory(InRoot("/etc"));
        File.WriteAllText(InRoot("/etc/passwd"), "root:x:0:0:root:/root:/bin/bash\nedge:x:4242:4243::/var/lib/edge:/usr/sbin/nologin\n");
        File.WriteAllText(InRoot("/etc/group"), "root:x:0:\nedge:x:4243:\n");
        Write(GoodFile());

        var provisioner = new Provisioner(Root, TimeProvider.System);
        var outcome = provisioner.Run(ProvisionPath);

        Assert.True(outcome.Succeeded, string.Join("\n", outcome.Lines));
        if (Environment.UserName != "root")
        {
            // Not root: ownership is skipped, and the result says so.
            Assert.False(provisioner.AppliesOwners);
            Assert.Contains("owners were not applied (not running as root)", ResultText);
            return;
        }
        Assert.True(provisioner.AppliesOwners);
        Assert.Equal("0:4243", Owner(InRoot("/etc/edge/edge.json")));
        Assert.Equal("0:4243", Owner(InRoot("/etc/edge")));
        Assert.Equal("4242:4243", Owner(InRoot("/var/lib/edge/keys")));
        foreach (var key in new[] { "index.key", "device.key", "device.pub", "owner.pub", "client.key", "client.crt", "broker-ca.crt" })
            Assert.Equal("4242:4243", Owner(InRoot("/var/lib/edge/keys/" + key)));
    }

    private static string Owner(string path)
    {
        var info = new ProcessStartInfo("stat", ["-c", "%u:%g", path]) { RedirectStandardOutput = true };
        using var p = Process.Start(info)!;
        var text = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return text;
    }

    /// <summary>The installed edge.json, with the owner key's box path pointed into the scratch root so it validates here.</summary>
    private string InstalledConfigText() => File.ReadAllText(InRoot("/etc/edge/edge.json"))
        .Replace("/var/lib/edge/keys/owner.pub", InRoot("/var/lib/edge/keys/owner.pub"));

    [Fact]
    public async Task Check_lists_every_problem_with_exit_code_2_and_accepts_a_good_file()
    {
        var bad = GoodFile();
        bad["config"]!["cameras"]![0]!["source"]!["type"] = "webcam";
        bad["config"]!["timeZone"] = "Tokyo";
        Write(bad);
        var (code, output, error) = await EdgeAsync("provision", "--check", ProvisionPath);

        Assert.Equal(EdgeCli.ExitUsage, code);
        Assert.Contains("2 problem(s)", error);
        Assert.Contains("config.timeZone: unknown time zone 'Tokyo'", error);
        Assert.Contains("config.cameras[0].source.type: unknown camera source type 'webcam'", error);
        Assert.True(File.Exists(ProvisionPath));

        (code, output, error) = await EdgeAsync("provision", "--check", ExampleFile);

        Assert.Equal(EdgeCli.ExitOk, code);
        Assert.Contains("OK: site tokyo-hq, device server-room-3f, time zone Asia/Tokyo, 2 camera(s), 1 door(s)", output);
        Assert.Equal("", error);
    }

    [Fact]
    public async Task Provision_without_a_file_says_where_it_looked()
    {
        var (code, _, error) = await EdgeAsync("provision", "--file", Path.Combine(Boot, "missing.json"), "--root", Root);

        Assert.Equal(EdgeCli.ExitUsage, code);
        Assert.Contains($"no provision file at {Path.Combine(Boot, "missing.json")}", error);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Root));
    }

    private static async Task<(int Code, string Out, string Err)> EdgeAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await EdgeCli.InvokeAsync(args, new CommandContext(output, error, TimeProvider.System));
        return (code, output.ToString(), error.ToString());
    }
}
