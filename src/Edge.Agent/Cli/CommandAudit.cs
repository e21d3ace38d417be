// One call for a verb to put its access into the audit trail, naming the caller (the Unix user, or the person behind
// sudo, or the control socket's peer when the agent answers). docs/design/audit.md lists what is audited.
using Edge.Agent.Index;

namespace Edge.Agent.Cli;

public static class CommandAudit
{
    public static void Record(EdgeIndex index, CommandContext context, string action, string detail, string? purpose = null, string? recipient = null) =>
        index.Audit(new AuditRecord
        {
            AtUtc = context.Time.GetUtcNow().UtcDateTime,
            Action = action,
            User = context.AuditUser,
            Detail = detail,
            Purpose = purpose,
            Recipient = recipient,
        });
}
