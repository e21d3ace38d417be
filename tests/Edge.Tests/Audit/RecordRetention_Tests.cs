using System.Text.Json.Nodes;
using Edge.Agent.Audit;
using Edge.Agent.Configuration;
using Edge.Agent.Index;
using Edge.Tests.Support;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Edge.Tests.Audit;

public class RecordRetention_Tests(ITestOutputHelper output)
{
    private static readonly DateTime Now = new(2032, 6, 1, 0, 0, 0, DateTimeKind.Utc);

    private static void AppendAt(EdgeIndex index, DateTime at, string detail) =>
        index.Audit(new AuditRecord { AtUtc = at, Action = "door_event", User = "edge", Detail = detail });

    [Fact]
    public async Task Pruning_old_audit_records_keeps_the_rest_verifiable_from_a_checkpoint()
    {
        await using var site = new AuditSite(output);
        using (var index = site.OpenIndex())
        {
            AppendAt(index, Now.AddYears(-7), "7 years old");
            AppendAt(index, Now.AddYears(-6), "6 years old");
            AppendAt(index, Now.AddYears(-5).AddDays(-1), "just over 5 years old");
            AppendAt(index, Now.AddYears(-4), "4 years old");
            AppendAt(index, Now.AddDays(-1), "yesterday");
            var before = index.QueryAudit();

            new RecordRetention(index, site.Site.Settings, new FakeTimeProvider(Now)).RunPass();

            var after = index.QueryAudit();
            Assert.Equal(["4 years old", "yesterday"], after.Take(2).Select(r => r.Detail));
            var prune = after[^1];
            Assert.Equal(("audit_prune", RecordRetention.User), (prune.Action, prune.User));
            Assert.Contains("3 audit record(s)", prune.Detail);
            Assert.Equal(new AuditCheckpoint(3, before[2].Hash!, before[2].AtUtc), index.AuditCheckpoint());
            var result = index.VerifyAudit();
            Assert.True(result.Ok, result.Problem?.Explanation);
            Assert.Equal((4L, 6L, 3L), (result.FirstSeq, result.LastSeq, result.RecordsChecked));
        }

        // After pruning, a change to the first remaining record is still caught: it chains to the checkpoint.
        var cli = await AuditCli.RunAsync("audit", "verify", "--config", site.ConfigPath);
        Assert.True(cli.ExitCode == 0, cli.Stderr);
        Assert.Contains("from the checkpoint at seq 3", cli.Stdout);
        site.EditRaw(audit =>
        {
            var first = audit.FindOne(a => a.Seq == 4);
            first.Detail = "changed";
            audit.Update(first);
        });
        cli = await AuditCli.RunAsync("audit", "verify", "--config", site.ConfigPath);
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("audit record seq 4", cli.Stderr);
        Assert.Contains("was changed", cli.Stderr);
    }

    [Fact]
    public async Task Removing_the_first_record_after_the_checkpoint_is_named()
    {
        await using var site = new AuditSite(output);
        using (var index = site.OpenIndex())
        {
            AppendAt(index, Now.AddYears(-6), "old");
            AppendAt(index, Now.AddYears(-1), "kept 1");
            AppendAt(index, Now.AddYears(-1).AddDays(1), "kept 2");
            new RecordRetention(index, site.Site.Settings, new FakeTimeProvider(Now)).RunPass();
        }
        site.EditRaw(audit => audit.DeleteMany(a => a.Seq == 2));

        using var reopened = site.OpenIndex();
        var result = reopened.VerifyAudit();
        Assert.Equal(AuditProblemKind.Removed, result.Problem?.Kind);
        Assert.Equal(2, result.Problem!.Seq);
        Assert.Contains("the checkpoint at seq 1", result.Problem.Explanation);
    }

    [Fact]
    public async Task A_pass_with_nothing_old_changes_nothing()
    {
        await using var site = new AuditSite(output);
        using var index = site.OpenIndex();
        AppendAt(index, Now.AddYears(-1), "recent");
        new RecordRetention(index, site.Site.Settings, new FakeTimeProvider(Now)).RunPass();
        Assert.Equal(["recent"], index.QueryAudit().Select(r => r.Detail));
        Assert.Null(index.AuditCheckpoint());
    }

    [Fact]
    public async Task Closed_events_older_than_event_years_are_deleted_and_the_deletion_audited()
    {
        await using var site = new AuditSite(output);
        using var index = site.OpenIndex();
        long Add(DateTime start, DateTime? end) => index.AddEvent(new EventRecord { Kind = "door_entry", Door = "d", StartUtc = start, EndUtc = end, DecidedBy = "test" });
        Add(Now.AddYears(-6), Now.AddYears(-6).AddMinutes(1));
        var stillOpen = Add(Now.AddYears(-6), null);
        var recent = Add(Now.AddYears(-4), Now.AddYears(-4).AddMinutes(1));

        new RecordRetention(index, site.Site.Settings, new FakeTimeProvider(Now)).RunPass();

        Assert.Equal([stillOpen, recent], index.QueryEvents().Select(e => e.Id));
        var audit = Assert.Single(index.QueryAudit(), a => a.Action == "events_prune");
        Assert.StartsWith("1 closed event(s) that started before 2027-06-01", audit.Detail);
        Assert.True(index.VerifyAudit().Ok);
    }

    [Fact]
    public async Task Years_are_configurable()
    {
        await using var site = new AuditSite(output);
        var settings = EdgeConfigLoader.Parse(
            File.ReadAllText(site.ConfigPath).Replace("\"clock\"", "\"retention\": { \"auditYears\": 10, \"eventYears\": 1 }, \"clock\""), site.ConfigPath);
        using var index = site.OpenIndex();
        AppendAt(index, Now.AddYears(-7), "7 years old");
        index.AddEvent(new EventRecord { Kind = "door_entry", StartUtc = Now.AddYears(-2), EndUtc = Now.AddYears(-2), DecidedBy = "test" });

        new RecordRetention(index, settings, new FakeTimeProvider(Now)).RunPass();

        Assert.Equal("7 years old", index.QueryAudit()[0].Detail);
        Assert.Empty(index.QueryEvents());
    }

    [Theory]
    [InlineData("auditYears", 0)]
    [InlineData("eventYears", -1)]
    [InlineData("auditYears", 101)]
    public async Task A_retention_period_out_of_range_is_a_configuration_error_naming_the_key(string key, int years)
    {
        await using var site = new TestSite(output, (config, _) => config["retention"] = new JsonObject { [key] = years }, TestSite.TestPatternCamera("door"));
        var e = Assert.Throws<ConfigException>(() => EdgeConfigLoader.Load(site.ConfigPath));
        Assert.Contains($"retention.{key}: must be from 1 to 100 (found {years})", e.Message);
    }

    [Fact]
    public async Task A_changed_configuration_is_audited_at_agent_start()
    {
        await using var site = new AuditSite(output);
        using var index = site.OpenIndex();
        var settings = site.Site.Settings;
        var first = ConfigAudit.HashOf(site.ConfigPath);

        Assert.True(ConfigAudit.RecordAtStart(index, settings, Now));
        Assert.False(ConfigAudit.RecordAtStart(index, settings, Now.AddMinutes(1)));
        File.AppendAllText(site.ConfigPath, "\n// a technician's note\n");
        Assert.True(ConfigAudit.RecordAtStart(index, settings, Now.AddMinutes(2)));

        var records = index.QueryAudit();
        Assert.Equal([ConfigAudit.FirstSeen, ConfigAudit.Changed], records.Select(r => r.Action));
        Assert.Contains($"sha256 {first} -> {ConfigAudit.HashOf(site.ConfigPath)}", records[1].Detail);
    }
}
