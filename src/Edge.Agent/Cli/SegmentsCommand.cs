using System.Globalization;
using Edge.Agent.Configuration;
using Edge.Agent.Index;

namespace Edge.Agent.Cli;

public static class SegmentsCommand
{
    /// <summary>The JSON contract of a segment (later checks rely on these names).</summary>
    public sealed record SegmentJson(long Id, string Camera, DateTimeOffset Start, DateTimeOffset End, double DurationSeconds,
        long Bytes, string Sha256, bool ClockTrusted, string State, bool Recovered, string Container);

    public static SegmentJson ToJson(SegmentRecord s, EdgeSettings settings) => new(
        s.Id, s.Camera, settings.ToSiteTime(new DateTimeOffset(s.StartUtc, TimeSpan.Zero)), settings.ToSiteTime(new DateTimeOffset(s.EndUtc, TimeSpan.Zero)),
        Math.Round(s.DurationSeconds, 3), s.Bytes, s.Sha256, s.ClockTrusted, s.State.ToString().ToLowerInvariant(), s.Recovered, s.Container);

    public static Task<int> ListAsync(FileInfo configFile, string? camera, string? from, string? to, bool json, CommandContext context, CancellationToken _)
    {
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        if (camera is not null && settings.FindCamera(camera) is null)
            throw new UsageException($"--camera: no camera '{camera}' in {settings.ConfigPath} (configured: {string.Join(", ", settings.Cameras.Select(c => c.Id))})");
        var fromUtc = TimeArgument.ParseUtc(from, "--from", settings);
        var toUtc = TimeArgument.ParseUtc(to, "--to", settings);
        using var lease = context.OpenIndex(settings);
        var segments = lease.Index.QuerySegments(camera, fromUtc, toUtc);
        CommandAudit.Record(lease.Index, context, "segments_list",
            $"{segments.Count} segment(s){(camera is null ? "" : $" of camera {camera}")}{(from is null ? "" : $" from {from}")}{(to is null ? "" : $" to {to}")}");
        if (json)
        {
            CliJson.Write(context.Out, segments.Select(s => ToJson(s, settings)).ToList());
            return Task.FromResult(EdgeCli.ExitOk);
        }
        context.Out.WriteLine($"{"id",6}  {"camera",-14} {"start (" + settings.TimeZone.Id + ")",-26} {"duration",9} {"bytes",11}  clock    state");
        DateTime? previousEnd = null;
        string? previousCamera = null;
        foreach (var s in segments.OrderBy(s => s.Camera).ThenBy(s => s.StartUtc))
        {
            if (previousCamera == s.Camera && previousEnd is { } pe && (s.StartUtc - pe).TotalSeconds > 1)
                context.Out.WriteLine($"{"",6}  {"",-14} -- gap of {(s.StartUtc - pe).TotalSeconds:0.0} s --");
            var start = settings.ToSiteTime(new DateTimeOffset(s.StartUtc, TimeSpan.Zero));
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s.Id,6}  {s.Camera,-14} {start:yyyy-MM-dd HH:mm:ss.fff zzz}  {s.DurationSeconds,8:0.00}s {s.Bytes,11}  {(s.ClockTrusted ? "trusted" : "UNTRUSTED"),-8} {s.State.ToString().ToLowerInvariant()}"));
            previousEnd = s.EndUtc;
            previousCamera = s.Camera;
        }
        context.Out.WriteLine($"{segments.Count} segment(s)");
        return Task.FromResult(EdgeCli.ExitOk);
    }
}
