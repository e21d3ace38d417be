using System.Globalization;
using Edge.Agent.Configuration;
using Edge.Agent.Flags;
using Edge.Agent.Index;

namespace Edge.Agent.Cli;

public static class EventsCommand
{
    public sealed record EventJson(long Id, string Kind, string? Door, DateTimeOffset Start, DateTimeOffset? End, IReadOnlyList<string> Cameras,
        string DecidedBy, string? Detail);

    public sealed record FlagJson(long Id, IReadOnlyList<string> Cameras, DateTimeOffset From, DateTimeOffset To, string Reason,
        IReadOnlyList<long> EventIds, string SyncState);

    private static DateTimeOffset Site(EdgeSettings settings, DateTime utc) => settings.ToSiteTime(new DateTimeOffset(utc, TimeSpan.Zero));

    public static EventJson ToJson(EventRecord e, EdgeSettings s) =>
        new(e.Id, e.Kind, e.Door, Site(s, e.StartUtc), e.EndUtc is { } end ? Site(s, end) : null, e.Cameras, e.DecidedBy, e.Detail);

    public static FlagJson ToJson(FlagRecord f, EdgeSettings s) =>
        new(f.Id, f.Cameras, Site(s, f.FromUtc), Site(s, f.ToUtc), f.Reason, f.EventIds, f.SyncState);

    public static Task<int> ListAsync(FileInfo configFile, string? from, string? to, string? door, string? kind, bool json, CommandContext context, CancellationToken _)
    {
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        var fromUtc = TimeArgument.ParseUtc(from, "--from", settings);
        var toUtc = TimeArgument.ParseUtc(to, "--to", settings);
        using var lease = context.OpenIndex(settings);
        var events = lease.Index.QueryEvents(fromUtc, toUtc, kind, door);
        CommandAudit.Record(lease.Index, context, "events_list",
            $"{events.Count} event(s){(from is null ? "" : $" from {from}")}{(to is null ? "" : $" to {to}")}{(door is null ? "" : $" door {door}")}{(kind is null ? "" : $" kind {kind}")}");
        if (json)
        {
            CliJson.Write(context.Out, events.Select(e => ToJson(e, settings)).ToList());
            return Task.FromResult(EdgeCli.ExitOk);
        }
        foreach (var e in events)
        {
            var start = Site(settings, e.StartUtc);
            var end = e.EndUtc is { } t ? Site(settings, t).ToString("HH:mm:ss", CultureInfo.InvariantCulture) : "(open)";
            var where = e.Door is not null ? $"door {e.Door}" : string.Join(",", e.Cameras);
            context.Out.WriteLine($"{e.Id,6}  {start:yyyy-MM-dd HH:mm:ss}–{end,-8} {e.Kind,-16} {where,-20} {e.DecidedBy}{(e.Detail is null ? "" : " — " + e.Detail)}");
        }
        context.Out.WriteLine($"{events.Count} event(s), times in {settings.TimeZone.Id}");
        return Task.FromResult(EdgeCli.ExitOk);
    }

    public static Task<int> ListFlagsAsync(FileInfo configFile, bool json, CommandContext context, CancellationToken _)
    {
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        using var lease = context.OpenIndex(settings);
        var flags = lease.Index.AllFlags();
        CommandAudit.Record(lease.Index, context, "flags_list", $"{flags.Count} flag(s)");
        if (json)
        {
            CliJson.Write(context.Out, flags.Select(f => ToJson(f, settings)).ToList());
            return Task.FromResult(EdgeCli.ExitOk);
        }
        foreach (var f in flags)
            context.Out.WriteLine($"{f.Id,6}  {Site(settings, f.FromUtc):yyyy-MM-dd HH:mm:ss} – {Site(settings, f.ToUtc):HH:mm:ss}  {string.Join(",", f.Cameras),-20} {f.SyncState,-10} {f.Reason}" +
                                  (f.EventIds.Count > 0 ? $" (events {string.Join(", ", f.EventIds)})" : ""));
        context.Out.WriteLine($"{flags.Count} flag(s), times in {settings.TimeZone.Id}");
        return Task.FromResult(EdgeCli.ExitOk);
    }

    /// <summary>`edge flag`: a manual hold on a window of footage (protected from retention, marked for sync).</summary>
    public static Task<int> FlagAsync(FileInfo configFile, string[] cameras, string from, string to, string reason, CommandContext context, CancellationToken _)
    {
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        foreach (var camera in cameras)
            if (settings.FindCamera(camera) is null)
                throw new UsageException($"--camera: no camera '{camera}' in {settings.ConfigPath} (configured: {string.Join(", ", settings.Cameras.Select(c => c.Id))})");
        if (cameras.Length == 0) throw new UsageException("--camera: at least one camera is required");
        if (string.IsNullOrWhiteSpace(reason)) throw new UsageException("--reason: a reason is required (it is recorded with the hold)");
        var fromUtc = TimeArgument.ParseUtc(from, "--from", settings)!.Value;
        var toUtc = TimeArgument.ParseUtc(to, "--to", settings)!.Value;
        if (toUtc <= fromUtc) throw new UsageException($"--to ({to}) must be after --from ({from})");
        using var lease = context.OpenIndex(settings);
        var flag = new Flagger(lease.Index, context.Time).Flag(cameras.Distinct().ToList(), fromUtc, toUtc, "hold: " + reason, null, context.AuditUser);
        CommandAudit.Record(lease.Index, context, "hold", $"flag {flag.Id} on {string.Join(",", cameras)} from {fromUtc:O} to {toUtc:O}", purpose: reason);
        context.Out.WriteLine($"flag {flag.Id}: {string.Join(",", flag.Cameras)} from {Site(settings, flag.FromUtc):yyyy-MM-dd HH:mm:ss} to {Site(settings, flag.ToUtc):yyyy-MM-dd HH:mm:ss} ({flag.Reason})");
        return Task.FromResult(EdgeCli.ExitOk);
    }
}
