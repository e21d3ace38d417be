using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Edge.Agent.Cli;
using Edge.Agent.Export;
using Edge.Agent.Index;
using Edge.Agent.Sealing;
using Edge.Tests.Sealing;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Export;

/// <summary>
/// A site that recorded real segments (test pattern, 2 s each, one keyframe a second) once for the whole class, with
/// its device signing key created the way `edge run` does.
/// </summary>
public sealed class RecordedSite : IAsyncLifetime
{
    public const string Camera = "door";
    public const int Fps = 15;
    /// <summary>The test pattern's GOP: one keyframe a second (FfmpegRecordingCommand, -g = fps).</summary>
    public static readonly TimeSpan Gop = TimeSpan.FromSeconds(1);

    public TestSite Site { get; private set; } = null!;
    public IReadOnlyList<SegmentRecord> Segments { get; private set; } = [];

    public async Task InitializeAsync()
    {
        Site = new TestSite(new NullOutput(), TestSite.TestPatternCamera(Camera, segmentSeconds: 2, fps: Fps));
        using (DeviceSigningKey.LoadOrCreate(DeviceSigningKey.DirectoryFor(Site.Settings.IndexKeyFile), out _)) { }
        await Site.StartAsync();
        await TestSite.WaitUntilAsync(() => Site.Index!.QuerySegments(Camera).Count(s => s.State == SegmentState.Stored) >= 5,
            TimeSpan.FromSeconds(120), "five recorded segments");
        await Site.StopAsync();
        using var index = IndexOpener.Open(Site.Settings, createKeyIfMissing: false);
        Segments = index.QuerySegments(Camera);
    }

    public async Task DisposeAsync() => await Site.DisposeAsync();

    private sealed class NullOutput : ITestOutputHelper
    {
        public void WriteLine(string message) { }
        public void WriteLine(string format, params object[] args) { }
    }
}

public class Export_Tests(RecordedSite recorded, ITestOutputHelper output) : IClassFixture<RecordedSite>, IDisposable
{
    private readonly List<string> _temporary = [];
    private TestSite Site => recorded.Site;

    private string TemporaryDirectory(string prefix)
    {
        var dir = Directory.CreateTempSubdirectory(prefix).FullName;
        _temporary.Add(dir);
        return dir;
    }

    public void Dispose()
    {
        foreach (var dir in _temporary)
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }

    private static string Iso(DateTime utc) => DateTime.SpecifyKind(utc, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A window from 0.7 s into the second segment to 1.1 s into the fourth: three segments, both ends mid-segment.</summary>
    private (DateTime From, DateTime To, SegmentRecord[] Spanned) Window()
    {
        var s = recorded.Segments;
        var from = s[1].StartUtc.AddSeconds(0.7);
        var to = s[3].StartUtc.AddSeconds(1.1);
        return (from, to, [s[1], s[2], s[3]]);
    }

    private string NewOut(string name) => Path.Combine(TemporaryDirectory("edge-export-out-"), name);

    private async Task<EdgeResult> ExportAsync(string outDir, params string[] extra)
    {
        var (from, to, _) = Window();
        string[] args = ["export", "--config", Site.ConfigPath, "--key", Site.OwnerKeys.PrivateKeyPath, "--camera", RecordedSite.Camera,
            "--from", Iso(from), "--to", Iso(to), "--reason", "theft inquiry 2026-123", "--recipient", "Marunouchi police station",
            "--legal-basis", "刑事訴訟法第197条第2項 (捜査関係事項照会)", "--out", outDir, .. extra];
        var result = await Cli.RunAsync(args);
        output.WriteLine(result.Stdout);
        output.WriteLine(result.Stderr);
        return result;
    }

    private static void FlipByte(string path, long offset)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[offset] ^= 0x01;
        File.WriteAllBytes(path, bytes);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }

    [Fact]
    public async Task An_export_of_a_window_across_three_segments_plays_matches_its_manifest_and_its_signature_verifies()
    {
        var (from, to, spanned) = Window();
        var outDir = NewOut("case-2026-123");

        var result = await ExportAsync(outDir, "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal("", result.Stderr); // no progress bar when stderr is not a terminal
        var json = JsonSerializer.Deserialize<ExportCommand.ExportJson>(result.Stdout, CliJson.Options)!;
        Assert.False(json.Encrypted);
        var manifestBytes = File.ReadAllBytes(Path.Combine(outDir, "manifest.json"));
        var manifest = JsonSerializer.Deserialize<ExportManifest>(manifestBytes, CliJson.Options)!;

        // One MP4 that plays, cut to the window within one GOP, with the hashes the manifest records.
        var file = Assert.Single(manifest.Files);
        var mp4 = Path.Combine(outDir, file.Name);
        Assert.EndsWith(".mp4", file.Name);
        var media = await Media.ProbeAsync(mp4);
        Assert.True(media.Plays, "the exported MP4 should play");
        Assert.Equal("h264", media.VideoCodec);
        Assert.True(await Media.DecodesCleanlyAsync(mp4), "the exported MP4 should decode without errors");
        var window = (to - from).TotalSeconds;
        output.WriteLine($"window {window:0.000} s, MP4 {media.DurationSeconds:0.000} s");
        Assert.InRange(media.DurationSeconds, window - RecordedSite.Gop.TotalSeconds, window + RecordedSite.Gop.TotalSeconds);
        Assert.Equal(new FileInfo(mp4).Length, file.Bytes);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(mp4))), file.Sha256);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(mp4));

        // The manifest names the three source segments with their stored and plaintext hashes, the window, and why.
        var camera = Assert.Single(manifest.Cameras);
        Assert.Equal(spanned.Select(s => s.Id), camera.Sources.Select(s => s.SegmentId));
        Assert.Equal(spanned.Select(s => s.StoredSha256), camera.Sources.Select(s => s.StoredSha256));
        Assert.Equal(spanned.Select(s => s.Sha256), camera.Sources.Select(s => s.Sha256));
        Assert.True(camera.ClockTrusted);
        Assert.Equal(from, manifest.Window.FromUtc.UtcDateTime, TimeSpan.FromMilliseconds(1));
        Assert.Equal(TimeSpan.FromHours(9), manifest.Window.FromSite.Offset); // Asia/Tokyo
        Assert.Equal("test-site", manifest.Site.Id);
        Assert.Equal("test-box", manifest.Device.Id);
        Assert.Equal("theft inquiry 2026-123", manifest.Reason);
        Assert.Equal("Marunouchi police station", manifest.Recipient);
        Assert.Equal("刑事訴訟法第197条第2項 (捜査関係事項照会)", manifest.LegalBasis);
        Assert.Contains("刑事訴訟法第197条第2項", System.Text.Encoding.UTF8.GetString(manifestBytes)); // readable as written, not \u-escaped
        Assert.Equal(Environment.UserName, manifest.ExportedBy.User);
        Assert.Equal(Site.OwnerKeys.KeyId, manifest.OwnerKeyId);

        // The signature verifies over the manifest's exact bytes, with the box's device.pub.
        var devicePub = DeviceSigningKey.PublicPathFor(Site.Settings.IndexKeyFile);
        var device = DeviceSigningKey.LoadPublic(devicePub);
        Assert.Equal(device.KeyId, manifest.Device.SigningKeyId);
        Assert.True(device.Verify(manifestBytes, File.ReadAllBytes(Path.Combine(outDir, "manifest.sig"))));
        var verify = await Cli.RunAsync("export", "verify", outDir, "--device-key", devicePub);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        Assert.Contains("signature is valid", verify.Stdout);

        // The export is audited with its purpose and recipient.
        using (var index = IndexOpener.Open(Site.Settings, createKeyIfMissing: false))
        {
            var audit = index.QueryAudit().Last(a => a.Action == "export");
            Assert.Equal("theft inquiry 2026-123", audit.Purpose);
            Assert.Equal("Marunouchi police station", audit.Recipient);
            Assert.Contains(outDir, audit.Detail);
        }

        // No plaintext left in the work directory.
        Assert.Empty(Directory.EnumerateFileSystemEntries(Site.Settings.StagingDirectory, ".edge-export-*"));

        // One changed byte in the MP4, or in the manifest, fails verify and names the file.
        var changedMp4 = NewOut("changed-mp4");
        CopyDirectory(outDir, changedMp4);
        FlipByte(Path.Combine(changedMp4, file.Name), new FileInfo(mp4).Length / 2);
        var mp4Result = await Cli.RunAsync("export", "verify", changedMp4);
        output.WriteLine(mp4Result.Stdout);
        Assert.Equal(1, mp4Result.ExitCode);
        Assert.Contains($"FAIL {file.Name}: changed", mp4Result.Stdout);
        Assert.DoesNotContain("FAIL manifest.json", mp4Result.Stdout);

        var changedManifest = NewOut("changed-manifest");
        CopyDirectory(outDir, changedManifest);
        var text = File.ReadAllText(Path.Combine(changedManifest, "manifest.json"));
        var at = text.IndexOf("Marunouchi", StringComparison.Ordinal);
        FlipByte(Path.Combine(changedManifest, "manifest.json"), at); // 'M' -> 'L': still valid JSON, a different recipient
        var manifestResult = await Cli.RunAsync("export", "verify", changedManifest, "--json");
        output.WriteLine(manifestResult.Stdout);
        Assert.Equal(1, manifestResult.ExitCode);
        var report = JsonSerializer.Deserialize<ExportVerification>(manifestResult.Stdout, CliJson.Options)!;
        Assert.Equal("invalid", report.Signature);
        Assert.Contains(report.Problems, p => p.File == "manifest.json" && p.Problem.Contains("does not match its signature"));
    }

    [Fact]
    public async Task While_the_agent_holds_the_index_the_export_asks_it_for_the_records_and_stores_its_audit_record_there()
    {
        await Site.StartAsync(); // the agent records again and holds the index lock
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (await Edge.Agent.Control.ControlSocket.TryForwardAsync(Site.Settings.IndexDirectory, ["status", "--config", Site.ConfigPath], CancellationToken.None) is null)
            {
                Assert.True(DateTime.UtcNow < deadline, "the agent's control socket did not answer within 30 s");
                await Task.Delay(100);
            }
            var outDir = NewOut("while-running");

            var result = await ExportAsync(outDir);

            Assert.True(result.ExitCode == 0, result.Stderr);
            Assert.Equal(0, (await Cli.RunAsync("export", "verify", outDir)).ExitCode);
            var audit = Site.Index!.QueryAudit().Last(a => a.Action == "export");
            Assert.Contains(outDir, audit.Detail);
            Assert.Equal("Marunouchi police station", audit.Recipient);
        }
        finally
        {
            await Site.StopAsync();
        }
    }

    [Fact]
    public async Task A_segment_missing_from_disk_is_exported_around_and_named_as_a_gap_in_the_manifest()
    {
        var (from, to, spanned) = Window();
        var middle = spanned[1];
        using (var index = IndexOpener.Open(Site.Settings, createKeyIfMissing: false))
        {
            var record = index.GetSegment(middle.Id)!;
            record.State = SegmentState.Missing;
            index.UpdateSegment(record);
        }
        try
        {
            var outDir = NewOut("with-gap");

            var result = await ExportAsync(outDir);

            Assert.True(result.ExitCode == 0, result.Stderr);
            var manifest = JsonSerializer.Deserialize<ExportManifest>(File.ReadAllBytes(Path.Combine(outDir, "manifest.json")), CliJson.Options)!;
            var camera = Assert.Single(manifest.Cameras);
            var gap = Assert.Single(camera.Gaps);
            Assert.Contains($"segment {middle.Id} is missing", gap.Why);
            Assert.Equal(middle.StartUtc, gap.FromUtc.UtcDateTime, TimeSpan.FromMilliseconds(1));
            var expected = (to - from).TotalSeconds - middle.DurationSeconds;
            Assert.Equal(expected, camera.CoveredSeconds, 0.01);
            var media = await Media.ProbeAsync(Path.Combine(outDir, camera.File));
            Assert.True(media.Plays);
            Assert.InRange(media.DurationSeconds, expected - RecordedSite.Gop.TotalSeconds, expected + RecordedSite.Gop.TotalSeconds);
        }
        finally
        {
            using var index = IndexOpener.Open(Site.Settings, createKeyIfMissing: false);
            var record = index.GetSegment(middle.Id)!;
            record.State = SegmentState.Stored;
            index.UpdateSegment(record);
        }
    }

    [Fact]
    public async Task Verify_names_a_missing_file_an_added_file_and_a_manifest_signed_by_another_device()
    {
        var outDir = NewOut("export");
        Assert.Equal(0, (await ExportAsync(outDir)).ExitCode);
        var mp4 = Directory.EnumerateFiles(outDir, "*.mp4").Single();

        var missing = NewOut("missing");
        CopyDirectory(outDir, missing);
        File.Delete(Path.Combine(missing, Path.GetFileName(mp4)));
        var missingResult = await Cli.RunAsync("export", "verify", missing);
        Assert.Equal(1, missingResult.ExitCode);
        Assert.Contains($"FAIL {Path.GetFileName(mp4)}: missing", missingResult.Stdout);

        var added = NewOut("added");
        CopyDirectory(outDir, added);
        File.WriteAllText(Path.Combine(added, "notes.txt"), "added later");
        var addedResult = await Cli.RunAsync("export", "verify", added);
        Assert.Equal(1, addedResult.ExitCode);
        Assert.Contains("FAIL notes.txt: not in the manifest", addedResult.Stdout);

        // Pinned to another device's public key: refused even though the manifest's own key verifies.
        var otherDir = TemporaryDirectory("edge-other-device-");
        using (DeviceSigningKey.LoadOrCreate(otherDir, out _)) { }
        var pinned = await Cli.RunAsync("export", "verify", outDir, "--device-key", Path.Combine(otherDir, "device.pub"));
        output.WriteLine(pinned.Stdout);
        Assert.Equal(1, pinned.ExitCode);
        Assert.Contains("FAIL manifest.json", pinned.Stdout);
        Assert.Contains("not signed by that device", pinned.Stdout);
    }

    [Fact]
    public async Task An_export_encrypted_to_a_recipient_key_opens_with_its_private_key_and_verifies()
    {
        var recipientDir = TemporaryDirectory("edge-recipient-");
        var recipient = OwnerKeys.CreatePair(Path.Combine(recipientDir, "keys"), passphrase: null);
        var outDir = NewOut("sealed");

        var result = await ExportAsync(outDir, "--encrypt-to", recipient.PublicKeyPath);

        Assert.True(result.ExitCode == 0, result.Stderr);
        // Only sealed files and the plain index: no MP4, no readable manifest on the removable disk.
        Assert.All(Directory.EnumerateFiles(outDir), f => Assert.True(f.EndsWith(".sealed") || f.EndsWith(SealedExport.IndexFileName), f));
        Assert.DoesNotContain("Marunouchi", string.Concat(Directory.EnumerateFiles(outDir).Select(File.ReadAllText)));
        Assert.False((await Media.ProbeAsync(Directory.EnumerateFiles(outDir, "*.mp4.sealed").Single())).Plays);
        var unopened = await Cli.RunAsync("export", "verify", outDir);
        Assert.Equal(1, unopened.ExitCode);
        Assert.Contains("encrypted", unopened.Stdout);

        // The wrong key does not open it, and writes nothing.
        var stranger = OwnerKeys.CreatePair(Path.Combine(recipientDir, "stranger"), passphrase: null);
        var wrongOut = Path.Combine(recipientDir, "wrong");
        var wrong = await Cli.RunAsync("export", "open", outDir, "--key", stranger.PrivateKeyPath, "--out", wrongOut);
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("encrypted to key " + recipient.KeyId, wrong.Stderr);
        Assert.False(Path.Exists(wrongOut));

        var opened = Path.Combine(recipientDir, "opened");
        var open = await Cli.RunAsync("export", "open", outDir, "--key", recipient.PrivateKeyPath, "--out", opened);
        output.WriteLine(open.Stdout + open.Stderr);
        Assert.True(open.ExitCode == 0, open.Stderr);
        Assert.Contains("signature is valid", open.Stdout);
        var mp4 = Directory.EnumerateFiles(opened, "*.mp4").Single();
        Assert.True((await Media.ProbeAsync(mp4)).Plays);
        var verify = await Cli.RunAsync("export", "verify", opened, "--device-key", DeviceSigningKey.PublicPathFor(Site.Settings.IndexKeyFile));
        Assert.True(verify.ExitCode == 0, verify.Stdout);
    }

    [Fact]
    public async Task An_export_encrypted_with_a_passphrase_opens_only_with_that_passphrase()
    {
        var dir = TemporaryDirectory("edge-passphrase-");
        var passphrase = Path.Combine(dir, "passphrase");
        File.WriteAllText(passphrase, "usb stick for the court\n");
        var wrongPassphrase = Path.Combine(dir, "wrong");
        File.WriteAllText(wrongPassphrase, "usb stick for the cour\n");
        var outDir = NewOut("sealed");

        var result = await ExportAsync(outDir, "--passphrase-file", passphrase);

        Assert.True(result.ExitCode == 0, result.Stderr);
        var wrongOut = Path.Combine(dir, "wrong-out");
        var wrong = await Cli.RunAsync("export", "open", outDir, "--passphrase-file", wrongPassphrase, "--out", wrongOut);
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("wrong passphrase", wrong.Stderr);
        Assert.False(Path.Exists(wrongOut));

        // A sealed file swapped for another under its name does not open (each file is bound to its name).
        var swapped = NewOut("swapped");
        CopyDirectory(outDir, swapped);
        File.Copy(Path.Combine(swapped, "manifest.sig.sealed"), Path.Combine(swapped, "manifest.json.sealed"), overwrite: true);
        var swappedOpen = await Cli.RunAsync("export", "open", swapped, "--passphrase-file", passphrase, "--out", Path.Combine(dir, "swapped-out"));
        Assert.Equal(1, swappedOpen.ExitCode);
        Assert.Contains("manifest.json.sealed", swappedOpen.Stderr);

        var opened = Path.Combine(dir, "opened");
        var open = await Cli.RunAsync("export", "open", outDir, "--passphrase-file", passphrase, "--out", opened);
        Assert.True(open.ExitCode == 0, open.Stdout + open.Stderr);
        Assert.True((await Media.ProbeAsync(Directory.EnumerateFiles(opened, "*.mp4").Single())).Plays);
    }
}
