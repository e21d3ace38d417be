using System.Text.Json;
using Edge.Agent.Audit;
using Edge.Agent.Cli;
using Edge.Agent.Index;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Audit;

public class AuditTrail_Tests(ITestOutputHelper output)
{
    private static readonly DateTime T0 = new(2026, 11, 23, 1, 0, 0, DateTimeKind.Utc);

    [Fact]
    public async Task Each_record_carries_its_seq_and_the_hash_of_the_one_before_and_the_head_is_the_newest()
    {
        await using var site = new AuditSite(output);
        site.Append(4, T0);
        using var index = site.OpenIndex();
        var records = index.QueryAudit();
        Assert.Equal([1L, 2, 3, 4], records.Select(r => r.Seq));
        Assert.Equal(AuditChain.GenesisHash, records[0].PrevHash);
        for (int i = 1; i < records.Count; i++) Assert.Equal(records[i - 1].Hash, records[i].PrevHash);
        Assert.All(records, r => Assert.Equal(AuditChain.HashOf(r, r.PrevHash!), r.Hash));
        Assert.Equal(new AuditHead(4, records[^1].Hash!), index.AuditHead());
        Assert.True(index.VerifyAudit().Ok);
    }

    [Fact]
    public async Task Appends_from_many_threads_make_one_unbroken_chain()
    {
        await using var site = new AuditSite(output);
        using (var index = site.OpenIndex())
        {
            await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
            {
                for (int i = 0; i < 25; i++)
                    index.Audit(new AuditRecord { AtUtc = T0, Action = "concurrent", User = $"thread {t}", Detail = $"{i}" });
            })));
            Assert.Equal(200, index.AuditHead().Seq);
        }
        using var reopened = site.OpenIndex();
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), reopened.QueryAudit().Select(r => r.Seq));
        var result = reopened.VerifyAudit();
        Assert.True(result.Ok, result.Problem?.Explanation);
        Assert.Equal(200, result.RecordsChecked);
    }

    [Fact]
    public async Task The_head_survives_a_reopen_and_the_next_record_chains_to_it()
    {
        await using var site = new AuditSite(output);
        site.Append(3, T0);
        site.Append(2, T0.AddMinutes(1));
        using var index = site.OpenIndex();
        Assert.Equal(5, index.AuditHead().Seq);
        Assert.True(index.VerifyAudit().Ok);
    }

    [Fact]
    public async Task Audit_verify_passes_an_untouched_chain()
    {
        await using var site = new AuditSite(output);
        site.Append(5, T0);
        var result = await AuditCli.RunAsync("audit", "verify", "--config", site.ConfigPath);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("audit chain OK: 5 record(s)", result.Stdout);
    }

    [Fact]
    public async Task Changing_one_field_of_one_record_makes_audit_verify_name_that_record()
    {
        await using var site = new AuditSite(output);
        site.Append(5, T0);
        site.EditRaw(audit =>
        {
            var third = audit.FindOne(a => a.Seq == 3);
            third.User = "someone else";
            audit.Update(third);
        });

        var result = await AuditCli.RunAsync("audit", "verify", "--config", site.ConfigPath);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("audit record seq 3 (2026-11-23 10:00:02 +09:00, door_event) was changed", result.Stderr);
    }

    [Fact]
    public async Task A_record_rewritten_with_a_fresh_hash_is_named_by_the_next_record()
    {
        await using var site = new AuditSite(output);
        site.Append(5, T0);
        site.EditRaw(audit =>
        {
            // Someone who knows the encoding recomputes the record's own hash; the next record still holds the old one.
            var third = audit.FindOne(a => a.Seq == 3);
            third.Detail = "nothing happened";
            third.Hash = AuditChain.HashOf(third, third.PrevHash!);
            audit.Update(third);
        });

        var result = await AuditCli.RunAsync("audit", "verify", "--config", site.ConfigPath, "--json");

        Assert.Equal(1, result.ExitCode);
        var json = JsonSerializer.Deserialize<AuditCommand.AuditVerifyJson>(result.Stdout, CliJson.Options)!;
        Assert.False(json.Ok);
        Assert.Equal("changed", json.Problem!.Kind);
        Assert.Equal(3, json.Problem.Seq);
        Assert.Equal("door_event", json.Problem.Action);
        Assert.Equal(2, json.RecordsChecked);
    }

    [Fact]
    public async Task Deleting_one_record_makes_audit_verify_name_it_as_removed()
    {
        await using var site = new AuditSite(output);
        site.Append(5, T0);
        site.EditRaw(audit => audit.DeleteMany(a => a.Seq == 3));

        var result = await AuditCli.RunAsync("audit", "verify", "--config", site.ConfigPath);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("audit record seq 3 was removed", result.Stderr);
        Assert.Contains("from seq 2", result.Stderr);
        Assert.Contains("to seq 4", result.Stderr);
    }

    [Fact]
    public async Task Deleting_the_newest_record_makes_audit_verify_name_it_as_removed()
    {
        await using var site = new AuditSite(output);
        site.Append(5, T0);
        site.EditRaw(audit => audit.DeleteMany(a => a.Seq == 5));

        var result = await AuditCli.RunAsync("audit", "verify", "--config", site.ConfigPath);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("audit record seq 5 was removed", result.Stderr);
    }

    [Fact]
    public async Task A_new_record_after_the_newest_was_deleted_does_not_hide_the_gap()
    {
        await using var site = new AuditSite(output);
        site.Append(5, T0);
        site.EditRaw(audit => audit.DeleteMany(a => a.Seq == 5));
        site.Append(1, T0.AddMinutes(5), "agent_start");

        using var index = site.OpenIndex();
        var result = index.VerifyAudit();
        Assert.Equal(AuditProblemKind.Removed, result.Problem?.Kind);
        Assert.Equal(5, result.Problem!.Seq);
    }

    [Fact]
    public async Task Swapping_two_records_makes_audit_verify_name_the_one_out_of_place()
    {
        await using var site = new AuditSite(output);
        site.Append(5, T0);
        site.EditRaw(audit =>
        {
            // Swap everything but the storage id: record 3 now sits where 4 was, and 4 where 3 was.
            var third = audit.FindOne(a => a.Seq == 3);
            var fourth = audit.FindOne(a => a.Seq == 4);
            (third.Id, fourth.Id) = (fourth.Id, third.Id);
            audit.Update(third);
            audit.Update(fourth);
        });

        var result = await AuditCli.RunAsync("audit", "verify", "--config", site.ConfigPath);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("audit record seq 3 (2026-11-23 10:00:02 +09:00, door_event) was reordered", result.Stderr);
    }

    [Fact]
    public async Task Audit_list_shows_the_records_in_a_window_and_is_itself_audited()
    {
        await using var site = new AuditSite(output);
        site.Append(5, T0);

        var result = await AuditCli.RunAsync(FakeAccounts.Bob, "audit", "list", "--config", site.ConfigPath,
            "--from", "2026-11-23T10:00:01", "--to", "2026-11-23T10:00:03", "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var listed = JsonSerializer.Deserialize<List<AuditCommand.AuditRecordJson>>(result.Stdout, CliJson.Options)!;
        Assert.Equal([2L, 3], listed.Select(r => r.Seq));
        Assert.Equal(TimeSpan.FromHours(9), listed[0].At.Offset);
        using var index = site.OpenIndex();
        var last = index.QueryAudit()[^1];
        Assert.Equal(("audit_list", "bob"), (last.Action, last.User));
        Assert.True(index.VerifyAudit().Ok);
    }

    [Fact]
    public async Task Records_written_before_the_chain_existed_are_chained_at_the_first_open()
    {
        await using var site = new AuditSite(output);
        using (site.OpenIndex()) { }
        site.EditRaw(audit =>
        {
            audit.Insert(new AuditRecord { AtUtc = T0, Action = "agent_start", User = "edge", Detail = "old" });
            audit.Insert(new AuditRecord { AtUtc = T0.AddSeconds(1), Action = "purge", User = "edge (retention)", Detail = "old too" });
        });
        using (var store = IndexStore.Open(site.Site.Settings.IndexDirectory, site.Site.Settings.IndexKeyFile, false))
            store.Database.GetCollection<SettingRecord>("settings").Delete(EdgeIndex.AuditHeadSetting);

        using var index = site.OpenIndex();
        Assert.Equal(2, index.AuditHead().Seq);
        Assert.True(index.VerifyAudit().Ok);
        Assert.Equal(["old", "old too"], index.QueryAudit().Select(r => r.Detail));
    }

    [Fact]
    public async Task Audit_verify_is_answered_by_the_running_agent()
    {
        await using var site = new AuditSite(output);
        site.Append(3, T0);
        await site.Site.StartAsync();

        // The real `edge` process: the index is locked by the agent, so it asks over the control socket.
        var result = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(60), "audit", "verify", "--config", site.ConfigPath);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("audit chain OK", result.Stdout);
        var last = site.Site.Index!.QueryAudit()[^1];
        Assert.Equal("audit_verify", last.Action);
        Assert.Equal("root", last.User); // from the socket's peer credentials: the test runs as root
    }
}
