// Who runs a command, and whether they may read footage or the audit trail: root, or a member of the edge-admin
// group (created by the .deb; docs/design/audit.md "Local access"). The person is what goes into the audit record.
//
// Through sudo (packaging/sudoers/edge-admin lets edge-admin members run read verbs as the edge user) the process
// runs as edge or root and the person is SUDO_USER. SUDO_USER is believed only then: any user can set the variable,
// but only sudo makes a process run as root or edge. Inside the agent the caller is the control socket's peer
// (SO_PEERCRED), with the person it names believed under the same rule.
using System.Globalization;
using System.Runtime.InteropServices;
using Edge.Agent.Cli;

namespace Edge.Agent.Access;

/// <summary>The Unix user database, as far as access checks need it. Injected in tests (they run as root).</summary>
public interface IUnixAccounts
{
    string? UserName(uint uid);
    /// <summary>Whether the user has the group as primary group or is listed as a member of it.</summary>
    bool IsInGroup(string user, string group);
}

/// <summary>/etc/passwd and /etc/group, read at each question (they are small, and a new member counts at once).</summary>
public sealed class EtcAccounts(string root = "/") : IUnixAccounts
{
    public static readonly EtcAccounts System = new();

    private IEnumerable<string[]> Entries(string file)
    {
        var path = Path.Combine(root, "etc", file);
        return File.Exists(path) ? File.ReadLines(path).Select(l => l.Split(':')).Where(f => f.Length >= 4) : [];
    }

    public string? UserName(uint uid) => Entries("passwd").FirstOrDefault(f => f[2] == uid.ToString(CultureInfo.InvariantCulture))?[0];

    public bool IsInGroup(string user, string group)
    {
        var entry = Entries("group").FirstOrDefault(f => f[0] == group);
        if (entry is null) return false;
        if (entry[3].Split(',', StringSplitOptions.RemoveEmptyEntries).Contains(user, StringComparer.Ordinal)) return true;
        return Entries("passwd").Any(f => f[0] == user && f[3] == entry[2]);
    }
}

/// <summary>The caller of a command: the Unix account it runs as and, through sudo, the person behind it.</summary>
public sealed record Caller(uint Uid, string User, string? SudoUser = null)
{
    /// <summary>Whom the audit trail names.</summary>
    public string Person => SudoUser ?? User;

    /// <summary>For audit records and messages: "alice", or "alice (sudo as edge)".</summary>
    public string Describe => DescribeOf(User, SudoUser);

    /// <summary>The one wording of a person for every audit record, whatever command writes it.</summary>
    public static string DescribeOf(string user, string? sudoUser) => sudoUser is null || sudoUser == user ? user : $"{sudoUser} (sudo as {user})";

    /// <summary>The account the agent runs as (packaging/systemd/edge.service).</summary>
    public const string ServiceUser = "edge";

    /// <summary>Whether a person named by sudo (or by a forwarded request) is believed for a process running as this account.</summary>
    public static bool MayActForOthers(uint uid, string? user, uint selfUid) => uid == 0 || uid == selfUid || user == ServiceUser;

    /// <summary>This process's caller: its effective uid, and SUDO_USER when sudo made it root or edge.</summary>
    public static Caller OfThisProcess(IUnixAccounts accounts)
    {
        uint uid = OperatingSystem.IsWindows() ? 0 : geteuid();
        var user = accounts.UserName(uid) ?? $"uid {uid}";
        var sudoUser = Environment.GetEnvironmentVariable("SUDO_USER");
        return new Caller(uid, user, !string.IsNullOrWhiteSpace(sudoUser) && (uid == 0 || user == ServiceUser) ? sudoUser : null);
    }

    [DllImport("libc")]
    private static extern uint geteuid();

    internal static uint EffectiveUid() => OperatingSystem.IsWindows() ? 0 : geteuid();
}

/// <summary>A caller who may not read footage or the audit trail. Exit code 1: the command was right, the caller is not allowed.</summary>
public sealed class LocalAccessException(string message) : Exception(message);

public static class LocalAccess
{
    public const string AdminGroup = "edge-admin";

    /// <summary>
    /// Refuses (LocalAccessException) a caller who is neither root nor in edge-admin; returns the caller otherwise.
    /// <paramref name="what"/> names the command for the message, e.g. "edge audit list".
    /// </summary>
    public static Caller Require(CommandContext context, string what)
    {
        var caller = context.Caller;
        if (caller is null)
            throw new LocalAccessException($"{what} needs root or membership of the group {AdminGroup}, and the agent could not tell who sent the request " +
                                           "(no peer credentials on its control socket)");
        if (caller.Uid == 0 || caller.Person == "root" || context.Accounts.IsInGroup(caller.Person, AdminGroup))
            return caller;
        // Inside the agent the index is at hand: the attempt is recorded. (A refused terminal process usually cannot
        // open the index at all: its key is the edge user's.)
        context.AgentIndex?.Audit(new Index.AuditRecord
        {
            AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "access_refused", User = caller.Describe,
            Detail = $"{what}: uid {caller.Uid} is neither root nor in {AdminGroup}",
        });
        throw new LocalAccessException(
            $"{what} reads footage or the audit trail: it needs root or membership of the group {AdminGroup}, and {caller.Describe} (uid {caller.Uid}) is neither. " +
            $"An administrator can add the user with `sudo adduser {caller.Person} {AdminGroup}` (it counts from the next login)");
    }
}
