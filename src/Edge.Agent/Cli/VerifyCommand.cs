// `edge verify`: the index against the disk, the audit chain, the permissions of key files and of the config
// (Edge.Agent.Audit.IntegrityCheck). One line per problem; exit 1 when there is any. Needs root or edge-admin.
// While the agent runs it answers this over the control socket (no progress bar then: its stderr is not a terminal).
using System.CommandLine;
using Edge.Agent.Access;
using Edge.Agent.Audit;
using Edge.Agent.Configuration;
using Edge.Agent.Index;

namespace Edge.Agent.Cli;

public static class VerifyCommand
{
    public sealed record VerifyJson(bool Ok, long SegmentsChecked, long BytesHashed, long FilesChecked, long AuditRecordsChecked,
        int KeyFilesChecked, IReadOnlyList<Finding> Findings);

    public static Command Build(CommandContext context, Func<Option<FileInfo>> configOption, Func<Option<bool>> jsonOption)
    {
        var config = configOption();
        var json = jsonOption();
        var verify = new Command("verify",
            "Check the index against the disk (every segment present and unchanged, no orphan files), the audit chain, and the permissions of key files and the config")
        {
            config, json,
        };
        verify.SetAction((parse, ct) => RunAsync(parse.GetValue(config)!, parse.GetValue(json), context, ct));
        return verify;
    }

    public static Task<int> RunAsync(FileInfo configFile, bool json, CommandContext context, CancellationToken cancellationToken)
    {
        var caller = LocalAccess.Require(context, "edge verify");
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        using var lease = context.OpenIndex(settings);
        var check = new IntegrityCheck(lease.Index, settings, context.Time) { AuditDescription = v => AuditCommand.Describe(v, settings) };
        IntegrityReport report;
        using (var bar = ProgressBar.For(context, "verify: hashing segments"))
        {
            var progress = bar is null ? null : new Progress(bar);
            report = check.Run(progress, cancellationToken);
        }
        lease.Index.Audit(new AuditRecord
        {
            AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "verify", User = caller.Describe,
            Detail = $"{(report.Ok ? "OK" : $"{report.Findings.Count} problem(s)")}: {report.Summary}",
        });
        if (json)
        {
            CliJson.Write(context.Out, new VerifyJson(report.Ok, report.SegmentsChecked, report.BytesHashed, report.FilesChecked,
                report.AuditRecordsChecked, report.KeyFilesChecked, report.Findings));
        }
        else
        {
            foreach (var f in report.Findings)
                context.Out.WriteLine($"PROBLEM {f.Kind,-22} {f.Message}");
            context.Out.WriteLine(report.Ok ? $"verify OK: {report.Summary}" : $"verify: {report.Findings.Count} problem(s); {report.Summary}");
        }
        if (!report.Ok)
            context.Err.WriteLine($"edge: verify found {report.Findings.Count} problem(s){(json ? "" : " (listed above)")}");
        return Task.FromResult(report.Ok ? EdgeCli.ExitOk : EdgeCli.ExitFailure);
    }

    /// <summary>Synchronous (System.Progress would post to the thread pool and draw out of order).</summary>
    private sealed class Progress(ProgressBar bar) : IProgress<VerifyProgress>
    {
        public void Report(VerifyProgress value) => bar.Report((value.BytesDone, value.BytesTotal));
    }
}
