using Edge.Agent.Cli;
using Microsoft.Extensions.Time.Testing;

namespace Edge.Tests.Audit;

public class ProgressBar_Tests
{
    [Fact]
    public void A_short_run_draws_nothing_and_a_long_one_draws_then_erases_its_line()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));
        var error = new StringWriter();
        using (var bar = new ProgressBar(error, time, "verify"))
        {
            bar.Report((10, 100));
            Assert.Equal("", error.ToString());
            time.Advance(TimeSpan.FromSeconds(2));
            bar.Report((50_000_000, 100_000_000));
            Assert.Contains("verify [###############...............]  50% 50 of 100 MB", error.ToString());
            var drawn = error.ToString().Length;
            bar.Report((60_000_000, 100_000_000)); // within the redraw interval: not drawn again
            Assert.Equal(drawn, error.ToString().Length);
        }
        Assert.EndsWith("\r", error.ToString());
        Assert.DoesNotContain('\n', error.ToString());
    }

    [Fact]
    public void No_bar_is_drawn_for_a_command_inside_the_agent_or_with_redirected_stderr()
    {
        var context = new CommandContext(new StringWriter(), new StringWriter(), TimeProvider.System);
        Assert.False(ProgressBar.IsTerminal(context));
    }
}
