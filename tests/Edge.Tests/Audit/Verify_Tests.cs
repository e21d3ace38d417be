using System.Text.Json;
using Edge.Agent.Audit;
using Edge.Agent.Cli;
using Edge.Agent.Index;
using Edge.Agent.Recording;
using Edge.Agent.Sealing;
using Edge.Tests.Sealing;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Audit;

public class Verify_Tests(ITestOutputHelper output)
{
    private const UnixFileMode Config0640 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;

    /// <summary>A box with real sealed segments (the real sealer, as the recorder seals them) and a 0640 edge.json.</summary>
    private SealedBox BoxWithSegments(int count, out List<SegmentRecord> segments)
    {
        var box = new SealedBox(output);
        File.SetUnixFileMode(box.ConfigPath, Config0640);
        segments = Enumerable.Range(1, count).Select(i => box.SealAndIndex(box.StageRandom(50_000 + i * 1000, i))).ToList();
        return box;
    }

    private static async Task<(EdgeResult Result, VerifyCommand.VerifyJson Json)> VerifyJsonAsync(string config)
    {
        var result = await AuditCli.RunAsync("verify", "--config", config, "--json");
        return (result, JsonSerializer.Deserialize<VerifyCommand.VerifyJson>(result.Stdout, CliJson.Options)!);
    }

    [Fact]
    public async Task Verify_passes_a_box_whose_index_disk_keys_and_audit_agree()
    {
        await using var box = BoxWithSegments(3, out _);

        var result = await AuditCli.RunAsync("verify", "--config", box.ConfigPath);

        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.StartsWith("verify OK: checked 3 segment(s)", result.Stdout);
        Assert.Contains("3 file(s) on the volumes", result.Stdout);
    }

    [Fact]
    public async Task Verify_finds_a_missing_segment_file_a_changed_byte_and_an_orphan_file()
    {
        await using var box = BoxWithSegments(4, out var segments);
        File.Delete(segments[0].FullPath);
        SealedBytes.FlipByte(segments[2].FullPath, 5000);
        var cameraDir = Path.Combine(box.Volume, SegmentLayout.CameraDirectory("door"));
        var orphan = Path.Combine(cameraDir, "2026-11-23", "20261123T020000.000Z_10000ms_T.ts" + SealedFormat.Extension);
        File.Copy(segments[3].FullPath, orphan);

        var (result, json) = await VerifyJsonAsync(box.ConfigPath);

        Assert.Equal(1, result.ExitCode);
        Assert.False(json.Ok);
        Assert.Equal(3, json.Findings.Count);
        var missing = Assert.Single(json.Findings, f => f.Kind == FindingKinds.SegmentMissing);
        Assert.Equal($"segment {segments[0].Id}", missing.Subject);
        Assert.Contains(segments[0].FullPath, missing.Message);
        var changed = Assert.Single(json.Findings, f => f.Kind == FindingKinds.SegmentChanged);
        Assert.Equal($"segment {segments[2].Id}", changed.Subject);
        Assert.Contains(segments[2].StoredSha256, changed.Message);
        var orphaned = Assert.Single(json.Findings, f => f.Kind == FindingKinds.OrphanFile);
        Assert.Equal(orphan, orphaned.Subject);
        Assert.Contains("verify found 3 problem(s)", result.Stderr);
    }

    [Fact]
    public async Task Verify_prints_one_line_per_problem_and_a_summary()
    {
        await using var box = BoxWithSegments(2, out var segments);
        File.Delete(segments[1].FullPath);

        var result = await AuditCli.RunAsync("verify", "--config", box.ConfigPath);

        Assert.Equal(1, result.ExitCode);
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("PROBLEM segment_missing", lines[0]);
        Assert.Contains($"segment {segments[1].Id} (door, ", lines[0]);
        Assert.StartsWith("verify: 1 problem(s); checked 2 segment(s)", lines[1]);
    }

    [Fact]
    public async Task Verify_reports_a_broken_audit_chain()
    {
        await using var box = BoxWithSegments(1, out _);
        await using (var site = new AuditSiteView(box))
        {
            site.Append(3);
            site.DeleteSeq(2);
        }

        var (result, json) = await VerifyJsonAsync(box.ConfigPath);

        Assert.Equal(1, result.ExitCode);
        var finding = Assert.Single(json.Findings);
        Assert.Equal(FindingKinds.AuditChain, finding.Kind);
        Assert.Contains("audit record seq 2 was removed", finding.Message);
    }

    [Fact]
    public async Task Verify_reports_loose_key_and_config_permissions_and_an_owner_key_on_the_box()
    {
        await using var box = BoxWithSegments(1, out _);
        var settings = box.Site.Settings;
        // Another key beside the index key (a device signing key, say) readable by all.
        var deviceKey = Path.Combine(Path.GetDirectoryName(settings.IndexKeyFile)!, "device.key");
        File.WriteAllText(deviceKey, "not really a key");
        File.SetUnixFileMode(deviceKey, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.SetUnixFileMode(box.ConfigPath, Config0640 | UnixFileMode.OtherRead);
        // An owner key left on the box under another name: found by its public half matching owner.pub.
        var stray = Path.Combine(Path.GetDirectoryName(settings.IndexKeyFile)!, "backup.pem");
        File.Copy(box.Owner.PrivateKeyPath, stray);

        var (result, json) = await VerifyJsonAsync(box.ConfigPath);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains(json.Findings, f => f.Kind == FindingKinds.KeyFile && f.Subject == deviceKey && f.Message.Contains("mode 0644"));
        Assert.Contains(json.Findings, f => f.Kind == FindingKinds.ConfigFile && f.Message.Contains("anyone on the box can read it"));
        Assert.Contains(json.Findings, f => f.Kind == FindingKinds.OwnerKeyOnBox && f.Subject == stray);
        Assert.Equal(3, json.Findings.Count);
    }

    [Fact]
    public async Task A_loose_index_key_stops_verify_with_a_configuration_error_naming_it()
    {
        await using var box = BoxWithSegments(1, out _);
        var key = box.Site.Settings.IndexKeyFile;
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var result = await AuditCli.RunAsync("verify", "--config", box.ConfigPath);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"index.keyFile: Index key file {key} has mode 0604; expected 0600", result.Stderr);
    }

    [Fact]
    public async Task Verify_is_audited_with_its_result()
    {
        await using var box = BoxWithSegments(1, out var segments);
        File.Delete(segments[0].FullPath);

        await AuditCli.RunAsync(FakeAccounts.Bob, "verify", "--config", box.ConfigPath);

        using var index = EdgeIndex.Open(box.Site.Settings.IndexDirectory, box.Site.Settings.IndexKeyFile, false);
        var last = index.QueryAudit()[^1];
        Assert.Equal(("verify", "bob"), (last.Action, last.User));
        Assert.StartsWith("1 problem(s): checked 1 segment(s)", last.Detail);
    }

    /// <summary>The audit side of a SealedBox's index.</summary>
    private sealed class AuditSiteView(SealedBox box) : IAsyncDisposable
    {
        private EdgeIndex Open() => EdgeIndex.Open(box.Site.Settings.IndexDirectory, box.Site.Settings.IndexKeyFile, false);

        public void Append(int count)
        {
            using var index = Open();
            for (int i = 0; i < count; i++)
                index.Audit(new AuditRecord { AtUtc = DateTime.UtcNow, Action = "door_event", User = "edge", Detail = $"{i}" });
        }

        public void DeleteSeq(long seq)
        {
            using var store = IndexStore.Open(box.Site.Settings.IndexDirectory, box.Site.Settings.IndexKeyFile, false);
            store.Database.GetCollection<AuditRecord>("audit").DeleteMany(a => a.Seq == seq);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
