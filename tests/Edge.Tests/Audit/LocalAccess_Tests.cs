using Edge.Agent.Access;
using Edge.Agent.Index;
using Edge.Tests.Sealing;
using Xunit.Abstractions;

namespace Edge.Tests.Audit;

public class LocalAccess_Tests(ITestOutputHelper output)
{
    private static readonly DateTime T0 = new(2026, 11, 23, 1, 0, 0, DateTimeKind.Utc);

    public static TheoryData<string> ReadVerbs => new() { "audit list", "audit verify", "verify" };

    [Theory]
    [MemberData(nameof(ReadVerbs))]
    public async Task A_user_outside_edge_admin_is_refused_with_the_reason_and_exit_1(string verb)
    {
        await using var site = new AuditSite(output);
        site.Append(2, T0);

        var result = await AuditCli.RunAsync(FakeAccounts.Alice, [.. verb.Split(' '), "--config", site.ConfigPath]);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.Equal(
            $"edge: access refused: edge {verb} reads footage or the audit trail: it needs root or membership of the group edge-admin, " +
            "and alice (uid 1000) is neither. An administrator can add the user with `sudo adduser alice edge-admin` (it counts from the next login)\n",
            result.Stderr);
        using var index = site.OpenIndex();
        Assert.Equal(2, index.AuditHead().Seq); // refused before the index was touched
    }

    [Fact]
    public async Task An_export_by_a_user_outside_edge_admin_is_refused_and_writes_nothing()
    {
        await using var site = new AuditSite(output);
        site.Append(2, T0);
        var outDir = Path.Combine(Path.GetTempPath(), $"edge-export-refused-{Guid.NewGuid():N}");

        var result = await AuditCli.RunAsync(FakeAccounts.Alice, "export", "--config", site.ConfigPath, "--key", "/nonexistent/owner.key",
            "--camera", "cam1", "--from", "2026-11-23T01:00:00Z", "--to", "2026-11-23T01:00:10Z",
            "--reason", "inquiry", "--recipient", "Marunouchi police station", "--out", outDir);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("edge: access refused: edge export reads footage or the audit trail", result.Stderr);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public async Task A_refusal_inside_the_agent_is_recorded_with_the_caller()
    {
        await using var site = new AuditSite(output);
        using var index = site.OpenIndex();
        var error = new StringWriter();
        // As the control socket builds it: the agent's open index, and the peer as the caller.
        var context = new Edge.Agent.Cli.CommandContext(new StringWriter(), error, TimeProvider.System, index) { Accounts = new FakeAccounts() };
        context.Caller = FakeAccounts.Alice;

        var code = await Edge.Agent.Cli.EdgeCli.InvokeAsync(["audit", "list", "--config", site.ConfigPath], context);

        Assert.Equal(1, code);
        Assert.Contains("access refused", error.ToString());
        var refused = Assert.Single(index.QueryAudit());
        Assert.Equal(("access_refused", "alice"), (refused.Action, refused.User));
        Assert.Equal("edge audit list: uid 1000 is neither root nor in edge-admin", refused.Detail);
    }

    [Fact]
    public async Task Inside_the_agent_a_request_without_peer_credentials_is_refused()
    {
        await using var site = new AuditSite(output);
        using var index = site.OpenIndex();
        var error = new StringWriter();
        var context = new Edge.Agent.Cli.CommandContext(new StringWriter(), error, TimeProvider.System, index);

        var code = await Edge.Agent.Cli.EdgeCli.InvokeAsync(["audit", "verify", "--config", site.ConfigPath], context);

        Assert.Equal(1, code);
        Assert.Contains("the agent could not tell who sent the request", error.ToString());
    }

    [Fact]
    public async Task Segments_open_refuses_a_user_outside_edge_admin_and_writes_nothing()
    {
        await using var box = new SealedBox(output);
        var segment = box.SealAndIndex(box.StageRandom(10_000, 1));
        var outPath = Path.Combine(box.OwnerDirectory, "out.ts");

        var result = await AuditCli.RunAsync(FakeAccounts.Alice, "segments", "open", "--config", box.ConfigPath,
            "--key", box.Owner.PrivateKeyPath, "--id", segment.Id.ToString(), "--out", outPath);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("edge: access refused: edge segments open reads footage", result.Stderr);
        Assert.False(File.Exists(outPath));
    }

    [Theory]
    [InlineData("root")]
    [InlineData("bob")]
    public async Task Root_and_members_of_edge_admin_pass_and_are_named_in_the_audit_record(string user)
    {
        await using var site = new AuditSite(output);
        site.Append(2, T0);
        var caller = user == "root" ? FakeAccounts.Root : FakeAccounts.Bob;

        var result = await AuditCli.RunAsync(caller, "audit", "list", "--config", site.ConfigPath);

        Assert.True(result.ExitCode == 0, result.Stderr);
        using var index = site.OpenIndex();
        var last = index.QueryAudit()[^1];
        Assert.Equal(("audit_list", user), (last.Action, last.User));
    }

    [Fact]
    public async Task A_member_running_through_sudo_as_edge_is_named_as_the_person()
    {
        await using var site = new AuditSite(output);
        site.Append(1, T0);

        var result = await AuditCli.RunAsync(new Caller(999, "edge", "bob"), "audit", "verify", "--config", site.ConfigPath);

        Assert.True(result.ExitCode == 0, result.Stderr);
        using var index = site.OpenIndex();
        Assert.Equal("bob (sudo as edge)", index.QueryAudit()[^1].User);
    }

    [Fact]
    public async Task Segments_open_by_a_member_is_audited_with_the_key_it_needs()
    {
        await using var box = new SealedBox(output);
        var segment = box.SealAndIndex(box.StageRandom(10_000, 1));
        var outPath = Path.Combine(box.OwnerDirectory, "out.ts");

        var result = await AuditCli.RunAsync(FakeAccounts.Bob, "segments", "open", "--config", box.ConfigPath,
            "--key", box.Owner.PrivateKeyPath, "--id", segment.Id.ToString(), "--out", outPath);

        Assert.True(result.ExitCode == 0, result.Stderr);
        using var index = EdgeIndex.Open(box.Site.Settings.IndexDirectory, box.Site.Settings.IndexKeyFile, false);
        var open = Assert.Single(index.QueryAudit(), a => a.Action == "segment_open");
        Assert.Equal("bob", open.User);
        Assert.Contains($"segment {segment.Id} of camera door", open.Detail);
        Assert.Contains(box.Owner.KeyId, open.Detail);
    }

    [Fact]
    public void The_group_database_counts_listed_members_and_the_primary_group()
    {
        var root = Directory.CreateTempSubdirectory("edge-etc-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "etc"));
            File.WriteAllLines(Path.Combine(root, "etc", "passwd"),
            [
                "root:x:0:0:root:/root:/bin/bash",
                "alice:x:1000:1000::/home/alice:/bin/bash",
                "bob:x:1001:1001::/home/bob:/bin/bash",
                "carol:x:1002:998::/home/carol:/bin/bash",
            ]);
            File.WriteAllLines(Path.Combine(root, "etc", "group"),
            [
                "root:x:0:",
                "edge-admin:x:998:bob,dave",
                "alice:x:1000:",
            ]);
            var accounts = new EtcAccounts(root);
            Assert.Equal("alice", accounts.UserName(1000));
            Assert.Null(accounts.UserName(4242));
            Assert.True(accounts.IsInGroup("bob", "edge-admin"));
            Assert.True(accounts.IsInGroup("carol", "edge-admin")); // primary group
            Assert.False(accounts.IsInGroup("alice", "edge-admin"));
            Assert.False(accounts.IsInGroup("alice", "no-such-group"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Sudo_names_a_person_only_for_a_process_running_as_root_or_the_service_user()
    {
        Assert.True(Caller.MayActForOthers(0, "root", selfUid: 998));
        Assert.True(Caller.MayActForOthers(998, "edge", selfUid: 998));
        Assert.False(Caller.MayActForOthers(1000, "alice", selfUid: 998));
    }
}
