// Weekly schedule text: parsing, membership in the site's zone, and error messages.

using Edge.Hardware.Gpio;

namespace Edge.Tests.Hardware;

public class WeeklySchedule_Tests
{
    private static readonly TimeZoneInfo Tokyo = TimeZoneInfo.FindSystemTimeZoneById("Asia/Tokyo");

    // 2025-06-09 is a Monday.
    private static DateTimeOffset Tokyo_(int day, int hour, int minute = 0) => new(2025, 6, day, hour, minute, 0, TimeSpan.FromHours(9));

    [Theory]
    [InlineData(9, 8, 0, true)]    // Mon 08:00: start is inside
    [InlineData(9, 18, 59, true)]
    [InlineData(9, 19, 0, false)]  // end is outside
    [InlineData(9, 7, 59, false)]
    [InlineData(14, 10, 0, true)]  // Sat 10:00
    [InlineData(14, 12, 0, false)]
    [InlineData(15, 10, 0, false)] // Sun
    public void Windows_contain_their_start_but_not_their_end(int day, int hour, int minute, bool expected)
    {
        var schedule = WeeklySchedule.Parse("Mon-Fri 08:00-19:00; Sat 09:00-12:00");

        Assert.Equal(expected, schedule.Contains(Tokyo_(day, hour, minute), Tokyo));
    }

    [Theory]
    [InlineData(13, 23, 0, true)]  // Fri 23:00
    [InlineData(14, 5, 59, true)]  // Sat 05:59, morning part of Friday's window
    [InlineData(14, 6, 0, false)]
    [InlineData(13, 5, 0, false)]  // Fri 05:00 belongs to Thursday, which has no window
    public void Window_ending_before_it_starts_runs_past_midnight(int day, int hour, int minute, bool expected)
    {
        var schedule = WeeklySchedule.Parse("Fri 22:00-06:00");

        Assert.Equal(expected, schedule.Contains(Tokyo_(day, hour, minute), Tokyo));
    }

    [Fact]
    public void Day_lists_wrapping_ranges_any_case_and_24_00_are_accepted()
    {
        var schedule = WeeklySchedule.Parse("fri-MON 00:00-24:00; Wed,Thu 12:00-13:00");

        Assert.True(schedule.Contains(Tokyo_(15, 23, 59), Tokyo)); // Sun
        Assert.True(schedule.Contains(Tokyo_(9, 0, 0), Tokyo));    // Mon
        Assert.False(schedule.Contains(Tokyo_(10, 12, 0), Tokyo)); // Tue
        Assert.True(schedule.Contains(Tokyo_(12, 12, 30), Tokyo)); // Thu
    }

    [Fact]
    public void Membership_uses_the_wall_clock_of_the_site_zone()
    {
        var schedule = WeeklySchedule.Parse("Mon-Fri 08:00-19:00");
        var utcMorning = new DateTimeOffset(2025, 6, 9, 0, 30, 0, TimeSpan.Zero); // 09:30 in Tokyo, 00:30 UTC

        Assert.True(schedule.Contains(utcMorning, Tokyo));
        Assert.False(schedule.Contains(utcMorning, TimeZoneInfo.Utc));
    }

    [Theory]
    [InlineData("", "found an empty schedule")]
    [InlineData("Mon-Fry 08:00-19:00", "window 1 \"Mon-Fry 08:00-19:00\": unknown day \"Fry\"; expected Mon, Tue, Wed, Thu, Fri, Sat or Sun")]
    [InlineData("Mon-Fri", "window 1 \"Mon-Fri\": expected days and a time range like \"Mon-Fri 08:00-19:00\"; found no space between them")]
    [InlineData("Mon 08:00", "window 1 \"Mon 08:00\": expected a time range like 08:00-19:00; found \"08:00\"")]
    [InlineData("Mon 08:00-25:00", "expected a time as HH:mm from 00:00 to 23:59 (or 24:00 as an end); found \"25:00\"")]
    [InlineData("Mon 24:00-08:00", "expected a time as HH:mm from 00:00 to 23:59; found \"24:00\"")]
    [InlineData("Mon 08:00-08:00", "is empty (start equals end)")]
    [InlineData("Mon 08:00-09:00;;Tue 08:00-09:00", "window 2 is empty")]
    public void Invalid_text_is_refused_with_the_window_and_the_problem(string text, string expected)
    {
        Assert.False(WeeklySchedule.TryParse(text, out _, out var error));
        Assert.Contains(expected, error);
        Assert.Contains(expected, Assert.Throws<FormatException>(() => WeeklySchedule.Parse(text)).Message);
    }
}
