// Configuration changes in the audit trail. edge.json is edited by hand or by provisioning, never through the agent,
// so the agent notices a change when it starts: the SHA-256 of the file's bytes (the status message's configHash,
// docs/protocol.md) is compared with the one recorded at the previous start.
using System.Security.Cryptography;
using Edge.Agent.Configuration;
using Edge.Agent.Index;

namespace Edge.Agent.Audit;

public static class ConfigAudit
{
    public const string HashSetting = "config.sha256";
    public const string FirstSeen = "config_first_seen";
    public const string Changed = "config_change";

    public static string HashOf(string configPath) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(configPath)));

    /// <summary>Audits edge.json when its hash differs from the last start's (or on the first start); returns whether it did.</summary>
    public static bool RecordAtStart(EdgeIndex index, EdgeSettings settings, DateTime nowUtc)
    {
        var path = settings.ConfigPath;
        var hash = HashOf(path);
        var previous = index.GetSetting(HashSetting);
        if (previous == hash) return false;
        var modified = File.GetLastWriteTimeUtc(path);
        // Who edited the file is not knowable here; the time it was written is the lead (with the shell history and
        // the sudo log of that time).
        index.Audit(new AuditRecord
        {
            AtUtc = nowUtc,
            Action = previous is null ? FirstSeen : Changed,
            User = "edge (agent start)",
            Detail = previous is null
                ? $"{path}: sha256 {hash} (first start with an audit of the configuration), last modified {modified:O}"
                : $"{path} changed since the last start: sha256 {previous} -> {hash}, last modified {modified:O}",
        });
        // After the audit: a crash between the two audits the change again at the next start, never not at all.
        index.SetSetting(HashSetting, hash);
        return true;
    }
}
