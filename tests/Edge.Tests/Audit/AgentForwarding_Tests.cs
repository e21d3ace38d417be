// The audit verbs and `segments open` against a real recording agent (test-pattern camera, real ffmpeg): the index
// is locked, so the `edge` child process asks the agent over its control socket, and the agent names the caller from
// the socket's peer credentials.
using System.Text.Json;
using Edge.Agent.Audit;
using Edge.Agent.Cli;
using Edge.Agent.Index;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Audit;

public class AgentForwarding_Tests(ITestOutputHelper output)
{
    private static async Task<AuditSite> RecordingSiteAsync(ITestOutputHelper output, int segments)
    {
        var site = new AuditSite(output);
        await site.Site.StartAsync();
        await TestSite.WaitUntilAsync(() => site.Site.Index!.CountSegments() >= segments, TimeSpan.FromSeconds(90), $"{segments} recorded segments");
        return site;
    }

    [Fact]
    public async Task Verify_beside_a_recording_agent_finds_nothing_wrong()
    {
        await using var site = await RecordingSiteAsync(output, 2);

        var result = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(120), "verify", "--config", site.ConfigPath, "--json");

        var json = JsonSerializer.Deserialize<VerifyCommand.VerifyJson>(result.Stdout, CliJson.Options)!;
        Assert.True(result.ExitCode == 0, string.Join("\n", json.Findings.Select(f => f.Message)) + result.Stderr);
        Assert.True(json.SegmentsChecked >= 2);
        Assert.True(json.BytesHashed > 0);
        var last = site.Site.Index!.QueryAudit().Last(a => a.Action == "verify");
        Assert.Equal("root", last.User);
    }

    [Fact]
    public async Task A_changed_byte_is_found_by_verify_answered_by_the_agent()
    {
        await using var site = await RecordingSiteAsync(output, 2);
        var segment = site.Site.Index!.QuerySegments()[0];
        var bytes = await File.ReadAllBytesAsync(segment.FullPath);
        bytes[bytes.Length / 2] ^= 0x01;
        await File.WriteAllBytesAsync(segment.FullPath, bytes);

        var result = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(120), "verify", "--config", site.ConfigPath, "--json");

        Assert.Equal(1, result.ExitCode);
        var json = JsonSerializer.Deserialize<VerifyCommand.VerifyJson>(result.Stdout, CliJson.Options)!;
        var finding = Assert.Single(json.Findings);
        Assert.Equal((FindingKinds.SegmentChanged, $"segment {segment.Id}"), (finding.Kind, finding.Subject));
    }

    [Fact]
    public async Task Segments_open_beside_the_agent_is_audited_by_the_agent_with_the_caller()
    {
        await using var site = await RecordingSiteAsync(output, 1);
        var segment = site.Site.Index!.QuerySegments()[0];
        var outPath = Path.Combine(site.Site.OwnerRoot, "opened.ts");

        var result = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(60), "segments", "open", "--config", site.ConfigPath,
            "--key", site.Site.OwnerKeys.PrivateKeyPath, "--id", segment.Id.ToString(), "--out", outPath);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.True(File.Exists(outPath));
        var open = Assert.Single(site.Site.Index.QueryAudit(), a => a.Action == "segment_open");
        Assert.Equal("root", open.User);
        Assert.Contains($"segment {segment.Id} of camera door", open.Detail);
        Assert.True(site.Site.Index.VerifyAudit().Ok);
    }
}
