// Owners for what provisioning installs. Names are looked up in the target root's own /etc/passwd and /etc/group
// (a scratch root in tests, "/" on the box), and chown is called only when this process is root and the `edge` user
// exists there; otherwise ownership is skipped and the caller says so. .NET has no chown, so this calls libc.
using System.Runtime.InteropServices;

namespace Edge.Agent.Provisioning;

internal sealed class UnixOwnership
{
    private readonly Dictionary<string, int> _users;
    private readonly Dictionary<string, int> _groups;

    private UnixOwnership(Dictionary<string, int> users, Dictionary<string, int> groups, string? whyNot)
    {
        _users = users;
        _groups = groups;
        WhyNot = whyNot;
    }

    public bool CanChown => WhyNot is null;

    /// <summary>Why owners are not applied (not root, no edge user in the root), or null when they are.</summary>
    public string? WhyNot { get; }

    public static UnixOwnership For(string root)
    {
        var users = ReadIds(Path.Join(root, "etc/passwd"));
        var groups = ReadIds(Path.Join(root, "etc/group"));
        string? whyNot = null;
        if (geteuid() != 0) whyNot = "not running as root";
        else if (!users.ContainsKey(Provisioner.ServiceUser) || !groups.ContainsKey(Provisioner.ServiceGroup))
            whyNot = $"no '{Provisioner.ServiceUser}' user or group in {Path.Join(root, "etc/passwd")} (is the edge package installed?)";
        return new UnixOwnership(users, groups, whyNot);
    }

    public void Chown(string path, string user, string group)
    {
        if (!CanChown) return;
        if (!_users.TryGetValue(user, out var uid)) throw new IOException($"cannot give {path} to user '{user}': no such user in the root's /etc/passwd");
        if (!_groups.TryGetValue(group, out var gid)) throw new IOException($"cannot give {path} to group '{group}': no such group in the root's /etc/group");
        if (lchown(path, uid, gid) != 0)
            throw new IOException($"chown {user}:{group} {path} failed (errno {Marshal.GetLastPInvokeError()})");
    }

    /// <summary>name → id from a passwd or group file (name:x:id:...).</summary>
    private static Dictionary<string, int> ReadIds(string file)
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        if (!File.Exists(file)) return ids;
        foreach (var line in File.ReadLines(file))
        {
            var fields = line.Split(':');
            if (fields.Length >= 3 && int.TryParse(fields[2], out var id)) ids.TryAdd(fields[0], id);
        }
        return ids;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern uint geteuid();

    [DllImport("libc", SetLastError = true)]
    private static extern int lchown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int owner, int group);
}
