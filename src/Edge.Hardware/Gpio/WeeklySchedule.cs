// Weekly schedule of when entry through a door is expected, written as text in the configuration,
// e.g. "Mon-Fri 08:00-19:00; Sat 09:00-12:00". Times are wall-clock times in the site's time zone.
// A window whose end is before its start runs past midnight into the next day ("Fri 22:00-06:00"
// covers Friday 22:00 to Saturday 06:00). Parse errors say which window is wrong and why.

using System.Globalization;

namespace Edge.Hardware.Gpio;

public sealed class WeeklySchedule
{
    private static readonly string[] DayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

    private readonly IReadOnlyList<Window> _windows;

    private WeeklySchedule(string text, IReadOnlyList<Window> windows)
    {
        Text = text;
        _windows = windows;
    }

    /// <summary>The schedule as written in the configuration.</summary>
    public string Text { get; }

    /// <summary>
    /// Grammar: windows separated by ';'. A window is <c>DAYS HH:mm-HH:mm</c>; DAYS is a comma list of
    /// days (<c>Mon</c>…<c>Sun</c>, any case) or day ranges (<c>Mon-Fri</c>, <c>Sat-Sun</c>,
    /// wrapping ranges like <c>Fri-Mon</c> allowed). Times run 00:00..24:00 (24:00 only as an end).
    /// </summary>
    /// <exception cref="FormatException">The text does not follow the grammar; the message says where.</exception>
    public static WeeklySchedule Parse(string text)
    {
        if (!TryParse(text, out var schedule, out var error))
        {
            throw new FormatException(error);
        }

        return schedule;
    }

    public static bool TryParse(string? text, out WeeklySchedule schedule, out string error)
    {
        schedule = null!;
        error = "";
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "expected weekly windows like \"Mon-Fri 08:00-19:00\"; found an empty schedule (leave Schedule out for no schedule)";
            return false;
        }

        var windows = new List<Window>();
        var parts = text.Split(';');
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i].Trim();
            var label = $"window {i + 1} \"{part}\"";
            if (part.Length == 0)
            {
                error = $"window {i + 1} is empty (two ';' in a row or a trailing ';'); remove it";
                return false;
            }

            var space = part.IndexOfAny([' ', '\t']);
            if (space < 0)
            {
                error = $"{label}: expected days and a time range like \"Mon-Fri 08:00-19:00\"; found no space between them";
                return false;
            }

            var daysText = part[..space].Trim();
            var timesText = part[space..].Trim();
            if (!TryParseDays(daysText, out var days, out var dayError))
            {
                error = $"{label}: {dayError}";
                return false;
            }

            if (!TryParseTimes(timesText, out var start, out var end, out var timeError))
            {
                error = $"{label}: {timeError}";
                return false;
            }

            windows.Add(new Window(days, start, end));
        }

        schedule = new WeeklySchedule(text.Trim(), windows);
        return true;
    }

    /// <summary>Whether the instant falls inside a window, judged by the wall clock of <paramref name="zone"/>.</summary>
    public bool Contains(DateTimeOffset instant, TimeZoneInfo zone)
    {
        var local = TimeZoneInfo.ConvertTime(instant, zone);
        var day = local.DayOfWeek;
        var previousDay = (DayOfWeek)(((int)day + 6) % 7);
        var timeOfDay = local.TimeOfDay;
        foreach (var w in _windows)
        {
            if (w.End > w.Start)
            {
                if (w.Days.Contains(day) && timeOfDay >= w.Start && timeOfDay < w.End)
                {
                    return true;
                }
            }
            else
            {
                // Runs past midnight: the evening part on the named day, the morning part on the next.
                if ((w.Days.Contains(day) && timeOfDay >= w.Start) || (w.Days.Contains(previousDay) && timeOfDay < w.End))
                {
                    return true;
                }
            }
        }

        return false;
    }

    public override string ToString() => Text;

    private static bool TryParseDays(string text, out HashSet<DayOfWeek> days, out string error)
    {
        days = [];
        error = "";
        foreach (var raw in text.Split(','))
        {
            var item = raw.Trim();
            var dash = item.IndexOf('-');
            if (dash < 0)
            {
                if (!TryParseDay(item, out var single, out error))
                {
                    return false;
                }

                days.Add(single);
                continue;
            }

            if (!TryParseDay(item[..dash], out var from, out error) || !TryParseDay(item[(dash + 1)..], out var to, out error))
            {
                return false;
            }

            // Ranges may wrap around the week end (Fri-Mon).
            for (var d = (int)from; ; d = (d + 1) % 7)
            {
                days.Add((DayOfWeek)d);
                if (d == (int)to)
                {
                    break;
                }
            }
        }

        return true;
    }

    private static bool TryParseDay(string text, out DayOfWeek day, out string error)
    {
        var index = Array.FindIndex(DayNames, n => string.Equals(n, text.Trim(), StringComparison.OrdinalIgnoreCase));
        if (index < 0)
        {
            day = default;
            error = $"unknown day \"{text.Trim()}\"; expected Mon, Tue, Wed, Thu, Fri, Sat or Sun";
            return false;
        }

        day = (DayOfWeek)index;
        error = "";
        return true;
    }

    private static bool TryParseTimes(string text, out TimeSpan start, out TimeSpan end, out string error)
    {
        start = end = default;
        var dash = text.IndexOf('-');
        if (dash < 0)
        {
            error = $"expected a time range like 08:00-19:00; found \"{text}\"";
            return false;
        }

        if (!TryParseTime(text[..dash].Trim(), allow24: false, out start, out error) ||
            !TryParseTime(text[(dash + 1)..].Trim(), allow24: true, out end, out error))
        {
            return false;
        }

        if (start == end)
        {
            error = $"the range {text} is empty (start equals end); for a whole day write 00:00-24:00";
            return false;
        }

        return true;
    }

    private static bool TryParseTime(string text, bool allow24, out TimeSpan time, out string error)
    {
        time = default;
        error = "";
        if (allow24 && text == "24:00")
        {
            time = TimeSpan.FromHours(24);
            return true;
        }

        if (text.Length != 5 || !DateTime.TryParseExact(text, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
        {
            error = $"expected a time as HH:mm from 00:00 to 23:59{(allow24 ? " (or 24:00 as an end)" : "")}; found \"{text}\"";
            return false;
        }

        time = parsed.TimeOfDay;
        return true;
    }

    private sealed record Window(HashSet<DayOfWeek> Days, TimeSpan Start, TimeSpan End);
}
