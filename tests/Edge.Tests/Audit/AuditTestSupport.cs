// Shared pieces of the audit tests: a site (config, keys, an index) without a running agent, records appended through
// the real index, raw edits of the audit collection through the real encrypted store (as someone holding the index
// key could make them), and running verbs in this process with an injected caller.
using Edge.Agent.Access;
using Edge.Agent.Cli;
using Edge.Agent.Index;
using Edge.Tests.Support;
using LiteDB;
using Xunit.Abstractions;

namespace Edge.Tests.Audit;

internal sealed class AuditSite : IAsyncDisposable
{
    public AuditSite(ITestOutputHelper output)
    {
        Site = new TestSite(output, TestSite.TestPatternCamera("door"));
        // As the .deb installs it (root:edge 0640): verify reports a world-readable edge.json.
        File.SetUnixFileMode(Site.ConfigPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
    }

    public TestSite Site { get; }
    public string ConfigPath => Site.ConfigPath;

    public EdgeIndex OpenIndex() => EdgeIndex.Open(Site.Settings.IndexDirectory, Site.Settings.IndexKeyFile, createKeyIfMissing: true);

    /// <summary>Appends records through EdgeIndex.Audit, one second apart from <paramref name="firstUtc"/>.</summary>
    public void Append(int count, DateTime firstUtc, string action = "door_event")
    {
        using var index = OpenIndex();
        for (int i = 0; i < count; i++)
            index.Audit(new AuditRecord { AtUtc = firstUtc.AddSeconds(i), Action = $"{action}", User = "edge", Detail = $"record {i + 1}" });
    }

    /// <summary>Changes the audit collection directly in the encrypted store, bypassing EdgeIndex.</summary>
    public void EditRaw(Action<ILiteCollection<AuditRecord>> edit)
    {
        using var store = IndexStore.Open(Site.Settings.IndexDirectory, Site.Settings.IndexKeyFile, createKeyIfMissing: false);
        edit(store.Database.GetCollection<AuditRecord>("audit"));
        store.WaitUntilDurable();
    }

    public ValueTask DisposeAsync() => Site.DisposeAsync();
}

/// <summary>A user database for access tests (they run as root): alice is no member of edge-admin, bob is.</summary>
internal sealed class FakeAccounts : IUnixAccounts
{
    public static readonly Caller Root = new(0, "root");
    public static readonly Caller Alice = new(1000, "alice");
    public static readonly Caller Bob = new(1001, "bob");

    public string? UserName(uint uid) => uid switch { 0 => "root", 999 => "edge", 1000 => "alice", 1001 => "bob", _ => null };

    public bool IsInGroup(string user, string group) => group == LocalAccess.AdminGroup && user == "bob";
}

internal static class AuditCli
{
    /// <summary>Runs a verb in this process as <paramref name="caller"/> (root when null), as a terminal would.</summary>
    public static async Task<EdgeResult> RunAsync(Caller? caller, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var context = new CommandContext(output, error, TimeProvider.System) { Accounts = new FakeAccounts() };
        context.Caller = caller ?? FakeAccounts.Root;
        int code = await EdgeCli.InvokeAsync(args, context);
        return new EdgeResult(code, output.ToString(), error.ToString());
    }

    public static Task<EdgeResult> RunAsync(params string[] args) => RunAsync(null, args);
}
