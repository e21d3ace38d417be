// Retention of the records about footage, as opposed to the footage: the audit trail (retention.auditYears) and
// event metadata (retention.eventYears), 5 years each by default. Footage goes after retention.days; the record of
// who saw it, and of what happened at the door, is what a police inquiry or a data-protection review asks for long
// after (docs/design/audit.md "Retention"). Runs with every retention pass; a pass with nothing old is two index
// lookups.
using Edge.Agent.Configuration;
using Edge.Agent.Index;

namespace Edge.Agent.Audit;

public sealed class RecordRetention(EdgeIndex index, EdgeSettings settings, TimeProvider time)
{
    public const string User = "edge (retention)";

    public void RunPass()
    {
        var config = settings.Raw.Retention;
        var now = time.GetUtcNow().UtcDateTime;
        // Audit first: pruning it appends an audit_prune record, which must not itself fall under the cutoff.
        index.PruneAudit(now.AddYears(-config.AuditYears), now, User);
        var eventCutoff = now.AddYears(-config.EventYears);
        var events = index.PruneEvents(eventCutoff);
        // Summaries of purged segments (what explains a gap in the footage) are event metadata too.
        var purgedDays = index.PrunePurgedDays(eventCutoff);
        if (purgedDays > 0)
            index.Audit(new AuditRecord
            {
                AtUtc = now, Action = "purged_days_prune", User = User,
                Detail = $"{purgedDays} per-day summar(ies) of purged segments of days before {eventCutoff:yyyy-MM-dd} deleted (retention.eventYears {config.EventYears})",
            });
        if (events > 0)
            index.Audit(new AuditRecord
            {
                AtUtc = now, Action = "events_prune", User = User,
                Detail = $"{events} closed event(s) that started before {eventCutoff:O} deleted (retention.eventYears {config.EventYears})",
            });
    }
}
