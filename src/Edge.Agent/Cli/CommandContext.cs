// What a verb's handler gets: where to write, and the index. In a terminal the index is opened directly; inside the
// running agent (a request through the control socket) it is the agent's own open index, because LiteDB allows one
// writer and the agent holds the lock.
using Edge.Agent.Configuration;
using Edge.Agent.Index;
using Edge.Agent.Recording;

namespace Edge.Agent.Cli;

public sealed class CommandContext(TextWriter output, TextWriter error, TimeProvider time, EdgeIndex? agentIndex = null, RecordingService? recording = null)
{
    public TextWriter Out { get; } = output;
    public TextWriter Err { get; } = error;
    public TimeProvider Time { get; } = time;

    /// <summary>The live recorders, when this runs inside the agent.</summary>
    public RecordingService? Recording { get; } = recording;

    /// <summary>The sync engine, when this runs inside an agent with sync configured.</summary>
    public Sync.SyncService? Sync { get; init; }

    /// <summary>True when this runs inside `edge run`, answering a request from another `edge` process.</summary>
    public bool InsideAgent => agentIndex is not null;

    /// <summary>The agent's open index, when this runs inside the agent (for records that need no settings, e.g. a refusal).</summary>
    internal EdgeIndex? AgentIndex => agentIndex;

    /// <summary>The user database for access checks (tests give their own: they run as root).</summary>
    public Access.IUnixAccounts Accounts { get; init; } = Access.EtcAccounts.System;

    private Access.Caller? _caller;

    /// <summary>
    /// Who runs this command (for access checks and audit records): this process's user, or inside the agent the
    /// control socket's peer, set by the socket; null inside the agent when the peer is unknown.
    /// </summary>
    public Access.Caller? Caller
    {
        get => _caller ??= InsideAgent ? null : Access.Caller.OfThisProcess(Accounts);
        set => _caller = value;
    }

    /// <summary>The name audit records give the caller: "alice", "alice (sudo as edge)", or the process's user.</summary>
    public string AuditUser => Caller?.Describe ?? Environment.UserName;

    /// <summary>The index to read. Dispose the lease when done (it closes only an index this context opened).</summary>
    public IndexLease OpenIndex(EdgeSettings settings, bool createKeyIfMissing = false) =>
        agentIndex is not null ? new IndexLease(agentIndex, owned: false) : new IndexLease(IndexOpener.Open(settings, createKeyIfMissing), owned: true);
}

public sealed class IndexLease(EdgeIndex index, bool owned) : IDisposable
{
    public EdgeIndex Index { get; } = index;
    public void Dispose() { if (owned) Index.Dispose(); }
}
