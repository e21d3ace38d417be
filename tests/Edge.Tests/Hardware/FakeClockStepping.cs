// Moves a FakeTimeProvider forward one millisecond at a time. Measured with
// Microsoft.Extensions.TimeProvider.Testing 10.11.0: timers that come due inside one long
// Advance/SetUtcNow all run with the clock already at the target time (a 2.5 s one-shot and a
// 1 s periodic timer, advanced by 4 s, all see 4 s). Stepping by 1 ms makes every timer (all the
// door code's timers are whole milliseconds) run at its own due time.

using Microsoft.Extensions.Time.Testing;

namespace Edge.Tests.Hardware;

internal static class FakeClockStepping
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(1);

    public static void StepTo(this FakeTimeProvider time, DateTimeOffset target)
    {
        while (time.GetUtcNow() < target)
        {
            var next = time.GetUtcNow() + Step;
            time.SetUtcNow(next < target ? next : target);
        }
    }

    public static void StepBy(this FakeTimeProvider time, TimeSpan delta) => time.StepTo(time.GetUtcNow() + delta);
}
