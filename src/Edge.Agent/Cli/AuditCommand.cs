// `edge audit list` and `edge audit verify`: the hash-chained audit trail (docs/design/audit.md). Both need root or
// edge-admin, and both are themselves audited. While the agent runs they are answered by it over the control socket
// (EdgeCli forwards a verb that finds the index locked); the access check runs in both processes.
using System.CommandLine;
using Edge.Agent.Access;
using Edge.Agent.Audit;
using Edge.Agent.Configuration;
using Edge.Agent.Index;

namespace Edge.Agent.Cli;

public static class AuditCommand
{
    public sealed record AuditRecordJson(long Seq, DateTimeOffset At, string Action, string User, string Detail, string? Purpose,
        string? Recipient, string PrevHash, string Hash);

    public sealed record AuditVerifyJson(bool Ok, long RecordsChecked, long FirstSeq, long LastSeq, AuditHeadJson Head,
        AuditHeadJson? Checkpoint, AuditProblemJson? Problem);

    public sealed record AuditHeadJson(long Seq, string Hash);

    public sealed record AuditProblemJson(string Kind, long Seq, DateTimeOffset? At, string? Action, string Message);

    public static Command Build(CommandContext context, Func<Option<FileInfo>> configOption, Func<Option<bool>> jsonOption)
    {
        var audit = new Command("audit", "The audit trail: who accessed footage and the index, deletions, configuration changes");
        {
            var config = configOption();
            var json = jsonOption();
            var from = new Option<string?>("--from") { Description = "Records at or after this time (ISO 8601; without an offset: site time)" };
            var to = new Option<string?>("--to") { Description = "Records before this time" };
            var list = new Command("list", "List audit records (needs root or the edge-admin group)") { config, from, to, json };
            list.SetAction((parse, ct) => ListAsync(parse.GetValue(config)!, parse.GetValue(from), parse.GetValue(to), parse.GetValue(json), context, ct));
            audit.Add(list);
        }
        {
            var config = configOption();
            var json = jsonOption();
            var verify = new Command("verify", "Check the audit trail's hash chain; names the first changed, removed or reordered record") { config, json };
            verify.SetAction((parse, ct) => VerifyAsync(parse.GetValue(config)!, parse.GetValue(json), context, ct));
            audit.Add(verify);
        }
        return audit;
    }

    public static Task<int> ListAsync(FileInfo configFile, string? from, string? to, bool json, CommandContext context, CancellationToken _)
    {
        var caller = LocalAccess.Require(context, "edge audit list");
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        var fromUtc = TimeArgument.ParseUtc(from, "--from", settings);
        var toUtc = TimeArgument.ParseUtc(to, "--to", settings);
        using var lease = context.OpenIndex(settings);
        var records = lease.Index.QueryAudit(fromUtc, toUtc);
        var head = lease.Index.AuditHead();
        // Listed first, then audited: the list shows the trail as it was when asked.
        var own = new AuditRecord
        {
            AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "audit_list", User = caller.Describe,
            Detail = $"{records.Count} record(s){(from is null ? "" : $" from {from}")}{(to is null ? "" : $" to {to}")}",
        };
        lease.Index.Audit(own);
        if (json)
        {
            CliJson.Write(context.Out, records.Select(r => ToJson(r, settings)).ToList());
            return Task.FromResult(EdgeCli.ExitOk);
        }
        foreach (var r in records)
        {
            var extra = (r.Purpose is null ? "" : $" [purpose: {r.Purpose}]") + (r.Recipient is null ? "" : $" [recipient: {r.Recipient}]");
            context.Out.WriteLine($"{r.Seq,7}  {Site(settings, r.AtUtc):yyyy-MM-dd HH:mm:ss}  {r.User,-20} {r.Action,-18} {r.Detail}{extra}");
        }
        context.Out.WriteLine($"{records.Count} record(s), times in {settings.TimeZone.Id}; chain head seq {head.Seq} (this listing is audited as seq {own.Seq})");
        return Task.FromResult(EdgeCli.ExitOk);
    }

    public static Task<int> VerifyAsync(FileInfo configFile, bool json, CommandContext context, CancellationToken _)
    {
        var caller = LocalAccess.Require(context, "edge audit verify");
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        using var lease = context.OpenIndex(settings);
        var result = lease.Index.VerifyAudit();
        var line = Describe(result, settings);
        lease.Index.Audit(new AuditRecord
        {
            AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "audit_verify", User = caller.Describe, Detail = line,
        });
        if (json)
            CliJson.Write(context.Out, ToJson(result, settings));
        else if (result.Ok)
            context.Out.WriteLine(line);
        if (!result.Ok)
            context.Err.WriteLine($"edge: {line}");
        return Task.FromResult(result.Ok ? EdgeCli.ExitOk : EdgeCli.ExitFailure);
    }

    /// <summary>One line: "audit chain OK: …", or the first problem with its seq, time and action.</summary>
    public static string Describe(AuditVerification result, EdgeSettings settings)
    {
        var from = result.Checkpoint is { } cp ? $"from the checkpoint at seq {cp.Seq} ({Site(settings, cp.AtUtc):yyyy-MM-dd HH:mm:ss zzz})" : "from the first record";
        if (result.Problem is not { } p)
            return $"audit chain OK: {result.RecordsChecked} record(s) {from}, head seq {result.Head.Seq} hash {result.Head.Hash}";
        var kind = p.Kind switch
        {
            AuditProblemKind.Changed => "was changed",
            AuditProblemKind.Removed => "was removed",
            AuditProblemKind.Reordered => "was reordered",
            _ => "cannot be checked",
        };
        var what = p.Kind == AuditProblemKind.Unreadable ? "audit chain bookkeeping" : $"audit record seq {p.Seq}";
        var when = p.AtUtc is { } at ? $" ({Site(settings, at):yyyy-MM-dd HH:mm:ss zzz}, {p.Action})" : "";
        return $"audit chain BROKEN: {what}{when} {kind}: {p.Explanation}; {result.RecordsChecked} record(s) before it verified {from}";
    }

    public static AuditRecordJson ToJson(AuditRecord r, EdgeSettings settings) =>
        new(r.Seq, Site(settings, r.AtUtc), r.Action, r.User, r.Detail, r.Purpose, r.Recipient, r.PrevHash ?? "", r.Hash ?? "");

    public static AuditVerifyJson ToJson(AuditVerification v, EdgeSettings settings) => new(
        v.Ok, v.RecordsChecked, v.FirstSeq, v.LastSeq, new AuditHeadJson(v.Head.Seq, v.Head.Hash),
        v.Checkpoint is { } cp ? new AuditHeadJson(cp.Seq, cp.Hash) : null,
        v.Problem is { } p
            ? new AuditProblemJson(p.Kind.ToString().ToLowerInvariant(), p.Seq, p.AtUtc is { } at ? Site(settings, at) : null, p.Action, Describe(v, settings))
            : null);

    private static DateTimeOffset Site(EdgeSettings settings, DateTime utc) =>
        settings.ToSiteTime(new DateTimeOffset(DateTime.SpecifyKind(utc, DateTimeKind.Utc), TimeSpan.Zero));
}
