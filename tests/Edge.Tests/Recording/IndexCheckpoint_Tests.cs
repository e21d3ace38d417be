// Recording checkpoints the index log between two seals once it holds 200 pages. LiteDB's page cache keeps every log
// page written since the last checkpoint and, when it runs out of free pages, grows by a block of 1000 pages (8 MiB)
// that it never gives back; left to LiteDB, the checkpoint came only at 1000 log pages, and the agent's heap stepped
// up by 8 MiB a few minutes after start (docs/benchmarks.md, "Memory: where the RSS goes").
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Recording;

public class IndexCheckpoint_Tests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_index_log_is_checkpointed_between_seals_long_before_LiteDBs_own_1000_pages()
    {
        await using var site = new TestSite(output,
            TestSite.TestPatternCamera("cam1", segmentSeconds: 1),
            TestSite.TestPatternCamera("cam2", segmentSeconds: 1));
        await site.StartAsync();
        long most = 0, last = 0;
        int checkpoints = 0, segments = 0;
        // Raised on the sealing thread after each segment is indexed, before the checkpoint that may follow it.
        site.Recording.SegmentIndexed += _ =>
        {
            long pages = site.Index!.LogPages;
            if (pages < last) checkpoints++;
            last = pages;
            most = Math.Max(most, pages);
            segments++;
        };

        // One is enough to tell (LiteDB alone would reach 1000 pages first: ~60 s here); a second would double the test.
        await TestSite.WaitUntilAsync(() => Volatile.Read(ref checkpoints) >= 1, TimeSpan.FromSeconds(60), "a checkpoint between seals");

        output.WriteLine($"{segments} segments, {checkpoints} checkpoints, log at most {most} pages");
        // The log reached the threshold and was emptied there, at most one segment's writes past it.
        Assert.InRange(most, 200, 400);
    }
}
