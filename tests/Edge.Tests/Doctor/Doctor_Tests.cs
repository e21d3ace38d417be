// `edge doctor` on a site with a real RTSP camera, a real mosquitto with the deployment's TLS and ACL, a door on the
// simulated GPIO driver and the agent running: everything OK; then the camera and the broker stopped: those two
// lines FAIL with what to do, nothing else changes.
using System.Text.Json;
using System.Text.Json.Nodes;
using Edge.Agent.Cli;
using Edge.Agent.Doctor;
using Edge.Hardware.Board;
using Edge.Tests.Fixtures;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Doctor;

public sealed class Doctor_Tests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    private static Action<JsonObject, string> WithDoorAndSync(MosquittoBroker? broker) => (config, root) =>
    {
        config["doors"] = new JsonArray(new JsonObject { ["id"] = "server-room", ["contactPin"] = 17, ["contactClosedLevel"] = "low", ["exitButtonPin"] = 27, ["exitButtonPressedLevel"] = "low" });
        config["gpio"] = new JsonObject { ["driver"] = "simulated" };
        // The test machine's disk, shared with everything else, does not hold 30 days at the assumed 4 Mbit/s of a
        // camera whose bitrate ffprobe cannot tell: that would be a (correct) warning.
        config["retention"] = new JsonObject { ["days"] = 1 };
        if (broker is null) return;
        var certificates = broker.Certificates!;
        var (cert, key) = certificates.Client("test-box");
        File.Copy(certificates.CaFile, Path.Combine(root, "keys", "broker-ca.crt"));
        File.Copy(cert, Path.Combine(root, "keys", "client.crt"));
        File.Copy(key, Path.Combine(root, "keys", "client.key"));
        File.SetUnixFileMode(Path.Combine(root, "keys", "client.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        config["sync"] = new JsonObject
        {
            ["broker"] = broker.Url.ToString(), ["caFile"] = "keys/broker-ca.crt", ["certFile"] = "keys/client.crt", ["keyFile"] = "keys/client.key",
        };
    };

    private async Task<(EdgeResult Result, DoctorCommand.DoctorJson Report)> DoctorAsync(string configPath)
    {
        var result = await EdgeProcess.RunAsync(Limit, "doctor", "--config", configPath, "--json");
        output.WriteLine($"doctor exit {result.ExitCode}; stderr: {result.Stderr}\n{result.Stdout}");
        return (result, JsonSerializer.Deserialize<DoctorCommand.DoctorJson>(result.Stdout, CliJson.Options)!);
    }

    private static DoctorCheck Line(DoctorCommand.DoctorJson report, string check, string? subject = null) =>
        Assert.Single(report.Checks, c => c.Check == check && (subject is null || c.Subject == subject));

    [Fact]
    public async Task With_the_camera_and_the_broker_stopped_those_lines_fail_with_what_to_do_and_the_others_stay_ok()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Small360, "doctor");
        await using var broker = await MosquittoBroker.StartSecureAsync();
        // With a user and password, as real cameras have: the doctor must never print them.
        var withPassword = new UriBuilder(camera.Url) { UserName = "edge", Password = "s3cret-pw" }.Uri;
        await using var site = new TestSite(output, WithDoorAndSync(broker), TestSite.RtspCamera("entrance", withPassword));
        await site.StartAsync(); // the doctor must work beside the running agent, which holds the index

        var (healthy, before) = await DoctorAsync(site.ConfigPath);
        await camera.StopAsync();
        await broker.StopAsync();
        var (broken, after) = await DoctorAsync(site.ConfigPath);

        Assert.Equal(0, healthy.ExitCode);
        // The clock line says what the kernel says: a development machine or container may not be NTP-synchronised.
        var clockExpected = new Edge.Hardware.Clock.KernelClockTrust(Edge.Hardware.Clock.ClockTrustMode.Auto, TimeProvider.System).IsTrusted() ? CheckLevel.Ok : CheckLevel.Warn;
        Assert.Equal(clockExpected, Line(before, "clock").Level);
        var okBefore = before.Checks.Where(c => c.Level != CheckLevel.Ok && c.Check != "clock").ToList();
        Assert.True(okBefore.Count == 0, "not OK with everything up: " + string.Join("; ", okBefore.Select(c => $"{c.Check} {c.Subject}: {c.Detail}")));
        Assert.StartsWith("h264 640x360 25 fps", Line(before, "camera", "entrance").Detail);
        Assert.Equal($"connected over TLS as test-box, MQTT 5, and disconnected", Line(before, "broker").Detail);
        Assert.StartsWith("running", Line(before, "agent").Detail);
        Assert.Equal("contact GPIO17 reads high: door open; exit button GPIO27 reads high: released (open and close it with `edge gpio watch` running to see it change)",
            Line(before, "door", "server-room").Detail);
        Assert.Contains("days of recording at", Line(before, "volume").Detail);

        Assert.Equal(1, broken.ExitCode);
        Assert.Equal("edge: doctor: 2 check(s) failed: camera entrance, broker mqtts://127.0.0.1:" + broker.Port + "\n", broken.Stderr);
        var cameraLine = Line(after, "camera", "entrance");
        Assert.Equal(CheckLevel.Fail, cameraLine.Level);
        Assert.StartsWith("unreachable: ", cameraLine.Detail);
        Assert.Contains("`ping 127.0.0.1`", cameraLine.Fix);
        var brokerLine = Line(after, "broker");
        Assert.Equal(CheckLevel.Fail, brokerLine.Level);
        Assert.StartsWith("cannot connect: ", brokerLine.Detail);
        Assert.StartsWith($"nothing listens on 127.0.0.1:{broker.Port}", brokerLine.Fix);
        // Everything else is as it was.
        Assert.Equal(before.Checks.Where(c => c.Check is not ("camera" or "broker")).Select(c => (c.Check, c.Subject, c.Level)),
            after.Checks.Where(c => c.Check is not ("camera" or "broker")).Select(c => (c.Check, c.Subject, c.Level)));
        Assert.Equal(2, after.Failures);
        Assert.DoesNotContain("s3cret-pw", healthy.Stdout + healthy.Stderr + broken.Stdout + broken.Stderr);
    }

    [Fact]
    public async Task Unsafe_key_permissions_the_owners_private_key_on_the_box_and_under_voltage_are_named_and_the_index_is_not_touched()
    {
        await using var site = new TestSite(output, WithDoorAndSync(null), TestSite.TestPatternCamera("pattern"));
        var settings = site.Settings;
        Directory.CreateDirectory(Path.GetDirectoryName(settings.IndexKeyFile)!);
        await File.WriteAllBytesAsync(settings.IndexKeyFile, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        File.SetUnixFileMode(settings.IndexKeyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.Copy(site.OwnerKeys.PrivateKeyPath, Path.Combine(site.Root, "keys", "owner.key"));
        var board = Directory.CreateTempSubdirectory("edge-doctor-board-").FullName;
        try
        {
            var thermal = Path.Combine(board, "temp");
            await File.WriteAllTextAsync(thermal, "83500\n");
            var vcgencmd = Path.Combine(board, "vcgencmd");
            await File.WriteAllTextAsync(vcgencmd, "#!/bin/sh\necho throttled=0x50000\n");
            File.SetUnixFileMode(vcgencmd, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var stdout = new StringWriter();
            var stderr = new StringWriter();

            int code = await DoctorCommand.RunAsync(new FileInfo(site.ConfigPath), json: false, new CommandContext(stdout, stderr, TimeProvider.System),
                new DoctorEnvironment { Board = new BoardHealthReader(thermal, [vcgencmd]) }, CancellationToken.None);

            var text = stdout.ToString();
            output.WriteLine(text);
            Assert.Equal(1, code);
            Assert.Contains($"FAIL  key {settings.IndexKeyFile}", text);
            Assert.Contains($"index key: mode 0644, readable or writable by others than its owner", text);
            Assert.Contains($"→ `chmod 600 {settings.IndexKeyFile}`", text);
            Assert.Contains("the owner's PRIVATE key is on the box", text);
            Assert.Contains("WARN  board temperature", text);
            Assert.Contains("CPU 83.5 °C", text);
            Assert.Contains("WARN  board power", text);
            Assert.Contains("under-voltage seen since boot (vcgencmd get_throttled = 0x50000", text);
            Assert.Contains("OK    broker", text);
            Assert.Contains("sync is not configured", text);
            Assert.Contains("OK    camera pattern", text);
            Assert.Equal($"edge: doctor: 2 check(s) failed: key {settings.IndexKeyFile}, key {Path.Combine(site.Root, "keys", "owner.key")}\n", stderr.ToString());
            // The doctor reads no index: it neither created one nor took its lock.
            Assert.False(Directory.Exists(settings.IndexDirectory), "the doctor created the index directory");
        }
        finally
        {
            Directory.Delete(board, recursive: true);
        }
    }

    [Fact]
    public async Task A_missing_ffmpeg_and_a_volume_that_is_not_mounted_or_not_marked_fail_and_a_bad_config_exits_2_naming_the_key()
    {
        await using var site = new TestSite(output, (config, _) =>
        {
            config["storage"]!["volumes"] = new JsonArray(new JsonObject { ["path"] = "volume" }, new JsonObject { ["path"] = "usb" });
            config["recording"] = new JsonObject { ["ffmpegPath"] = "/opt/nowhere/ffmpeg" };
        }, TestSite.TestPatternCamera("pattern"));
        var unmarked = Path.Combine(site.Root, "usb");
        File.Delete(Path.Combine(unmarked, ".edge-volume"));

        var (result, report) = await DoctorAsync(site.ConfigPath);
        Directory.Delete(unmarked, recursive: true);
        var (missing, _) = await DoctorAsync(site.ConfigPath);
        await File.WriteAllTextAsync(site.ConfigPath, (await File.ReadAllTextAsync(site.ConfigPath)).Replace("\"siteId\"", "\"siteName\""));
        var badConfig = await EdgeProcess.RunAsync(Limit, "doctor", "--config", site.ConfigPath);

        Assert.Equal(1, result.ExitCode);
        var ffmpeg = Line(report, "ffmpeg");
        Assert.Equal((CheckLevel.Fail, "cannot run /opt/nowhere/ffmpeg: not found"), (ffmpeg.Level, ffmpeg.Detail));
        Assert.Contains("recording.ffmpegPath", ffmpeg.Fix);
        var line = Line(report, "volume", unmarked);
        Assert.Equal(CheckLevel.Fail, line.Level);
        Assert.Contains("not marked as an Edge volume", line.Detail);
        Assert.Contains($"`edge volumes init {unmarked}`", line.Fix);
        Assert.Equal(CheckLevel.Ok, Line(report, "volume", Path.Combine(site.Root, "volume")).Level);
        Assert.Contains($"volume {unmarked}", missing.Stderr);
        Assert.Equal(2, badConfig.ExitCode);
        Assert.StartsWith("edge: configuration error: ", badConfig.Stderr);
        Assert.Contains("siteName: unknown key", badConfig.Stderr);
    }

    [Fact]
    public async Task A_broker_that_refuses_the_box_is_reported_with_the_mqtt_reason_code_and_a_broker_certificate_from_another_ca_is_named()
    {
        await using var closed = await MosquittoBroker.StartAsync(anonymous: false);
        await using var secure = await MosquittoBroker.StartSecureAsync();
        var otherCa = Directory.CreateTempSubdirectory("edge-doctor-other-ca-").FullName;
        try
        {
            var made = await ProcessRunner.RunAsync(Path.Combine(RepoPaths.Root, "scripts", "make-certs"), [otherCa], TimeSpan.FromSeconds(60));
            Assert.True(made.Succeeded, made.StandardError);
            await using var refusing = new TestSite(output, (config, _) => config["sync"] = new JsonObject { ["broker"] = closed.Url.ToString() },
                TestSite.TestPatternCamera("pattern"));
            await using var wrongCa = new TestSite(output, (config, root) =>
            {
                WithDoorAndSync(secure)(config, root);
                File.Copy(Path.Combine(otherCa, "ca.crt"), Path.Combine(root, "keys", "broker-ca.crt"), overwrite: true);
            }, TestSite.TestPatternCamera("pattern"));

            var (refused, refusedReport) = await DoctorAsync(refusing.ConfigPath);
            var (untrusted, untrustedReport) = await DoctorAsync(wrongCa.ConfigPath);

            Assert.Equal(1, refused.ExitCode);
            var line = Line(refusedReport, "broker");
            Assert.Equal(CheckLevel.Fail, line.Level);
            Assert.Equal("the broker refused the connection: NotAuthorized (MQTT reason code 135)", line.Detail);
            Assert.Contains("its ACL needs a block for user test-box", line.Fix);
            Assert.Equal(1, untrusted.ExitCode);
            line = Line(untrustedReport, "broker");
            Assert.StartsWith("cannot connect: the broker's certificate (CN=localhost, O=Edge test) does not verify against ", line.Detail);
            Assert.StartsWith("sync.caFile must be the CA that signed the broker's certificate", line.Fix);
        }
        finally
        {
            Directory.Delete(otherCa, recursive: true);
        }
    }
}
