// What an export needs from the index: the window's segment records (wrapped keys included) and a place to write its
// audit records. The export itself always runs in the calling process (the owner key never reaches the agent); when
// the agent holds the index, only these two small requests go to it over the control socket, as the hidden verbs
// `export index-segments` and `export index-audit`. The index is opened for a moment each time, never held during
// the export, so an agent starting meanwhile is not kept waiting.
using System.Globalization;
using System.Text.Json;
using Edge.Agent.Cli;
using Edge.Agent.Configuration;
using Edge.Agent.Control;
using Edge.Agent.Index;

namespace Edge.Agent.Export;

public sealed class ExportIndexException(string message) : Exception(message);

public sealed class ExportIndexAccess(EdgeSettings settings, CommandContext context)
{
    /// <summary>Segments of <paramref name="camera"/> overlapping [from, to), in start order, purged ones left out.</summary>
    public async Task<IReadOnlyList<SegmentsOpenCommand.SegmentDetailJson>> SegmentsAsync(string camera, DateTime fromUtc, DateTime toUtc, CancellationToken cancellationToken)
    {
        try
        {
            using var lease = context.OpenIndex(settings);
            return Query(lease.Index, settings, camera, fromUtc, toUtc);
        }
        catch (IndexLockedException)
        {
            var reply = await ForwardAsync(["export", "index-segments", "--config", settings.ConfigPath, "--camera", camera,
                "--from", Iso(fromUtc), "--to", Iso(toUtc)], cancellationToken).ConfigureAwait(false);
            return JsonSerializer.Deserialize<List<SegmentsOpenCommand.SegmentDetailJson>>(reply, CliJson.Options)
                   ?? throw new ExportIndexException("the agent answered `export index-segments` with an empty document");
        }
    }

    public async Task AuditAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        try
        {
            using var lease = context.OpenIndex(settings);
            lease.Index.Audit(record);
        }
        catch (IndexLockedException)
        {
            List<string> args = ["export", "index-audit", "--config", settings.ConfigPath, "--action", record.Action, "--user", record.User, "--detail", record.Detail];
            if (record.Purpose is { } purpose) args.AddRange(["--purpose", purpose]);
            if (record.Recipient is { } recipient) args.AddRange(["--recipient", recipient]);
            await ForwardAsync(args.ToArray(), cancellationToken).ConfigureAwait(false);
        }
    }

    public static IReadOnlyList<SegmentsOpenCommand.SegmentDetailJson> Query(EdgeIndex index, EdgeSettings settings, string camera, DateTime fromUtc, DateTime toUtc) =>
        index.QuerySegments(camera, fromUtc, toUtc).Select(s => SegmentsOpenCommand.ToJson(s, settings)).ToList();

    private async Task<string> ForwardAsync(string[] args, CancellationToken cancellationToken)
    {
        // The agent may be starting (lock taken, socket not yet listening): ask again for a few seconds.
        ControlReply? reply = null;
        for (var deadline = context.Time.GetUtcNow() + TimeSpan.FromSeconds(10); reply is null && context.Time.GetUtcNow() < deadline;)
        {
            reply = await ControlSocket.TryForwardAsync(settings.IndexDirectory, args, cancellationToken).ConfigureAwait(false);
            if (reply is null) await Task.Delay(TimeSpan.FromMilliseconds(250), context.Time, cancellationToken).ConfigureAwait(false);
        }
        if (reply is null)
            throw new ExportIndexException($"the index at {settings.IndexDirectory} is locked by another process and no agent answers on {ControlSocket.PathFor(settings.IndexDirectory)}");
        if (reply.ExitCode != EdgeCli.ExitOk)
            throw new ExportIndexException($"the agent refused `{args[0]} {args[1]}`: {reply.Stderr.Trim()}");
        return reply.Stdout;
    }

    private static string Iso(DateTime utc) => DateTime.SpecifyKind(utc, DateTimeKind.Utc).ToString("O", CultureInfo.InvariantCulture);
}
