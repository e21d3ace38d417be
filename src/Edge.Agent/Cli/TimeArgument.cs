using System.Globalization;
using Edge.Agent.Configuration;

namespace Edge.Agent.Cli;

public static class TimeArgument
{
    /// <summary>
    /// Parses --from/--to: ISO 8601 with an offset (2026-11-23T10:00:00+09:00), or without one, which is then read
    /// in the site's time zone, because that is the clock on the wall of the room being asked about.
    /// </summary>
    public static DateTime? ParseUtc(string? value, string option, EdgeSettings settings)
    {
        if (value is null) return null;
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.None, out var withOffset)
            && (value.EndsWith('Z') || value.Contains('+') || System.Text.RegularExpressions.Regex.IsMatch(value, @"T.*-\d\d:?\d\d$")))
            return withOffset.UtcDateTime;
        if (DateTime.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
            return TimeZoneInfo.ConvertTimeToUtc(DateTime.SpecifyKind(local, DateTimeKind.Unspecified), settings.TimeZone);
        throw new UsageException($"{option}: '{value}' is not a time (expected ISO 8601, e.g. 2026-11-23T10:00:00+09:00, or a local time in {settings.TimeZone.Id})");
    }
}

/// <summary>A wrong use of a command, reported as one line and exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
