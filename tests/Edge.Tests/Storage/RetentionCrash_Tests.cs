using System.Globalization;
using Edge.Agent.Configuration;
using Edge.Agent.Index;
using Edge.Agent.Storage;
using Edge.Tests.Index;
using Xunit.Abstractions;

namespace Edge.Tests.Storage;

public class RetentionCrash_Tests(ITestOutputHelper output)
{
    private const int Segments = 4 * 12 * 60; // PurgeLoop: 4 cameras × 60 s segments over 12 hours

    [Fact]
    public async Task SIGKILL_at_random_moments_of_retention_passes_leaves_every_destroyed_key_recorded_once_and_every_kept_key_with_its_file()
    {
        var root = Directory.CreateTempSubdirectory("edge-purge-crash-").FullName;
        try
        {
            var seed = Environment.TickCount;
            var random = new Random(seed);
            output.WriteLine($"seed {seed}");
            int hoursPurged = 0;
            for (int round = 0; round < 6; round++)
            {
                // Kill a random time after the pass that reaches what is already purged (0: right after start-up), or
                // the one after, so it lands anywhere in a pass that has work: before, during or after the
                // erase-and-record transaction, or among the unlinks.
                int killAfterPass = hoursPurged + random.Next(0, 2), delayMs = random.Next(0, 150);
                using var child = ChildProcess.Start("purge-loop", root);
                var stderr = child.StandardError.ReadToEndAsync();
                bool killed = false;
                string? line;
                while ((line = await child.StandardOutput.ReadLineAsync()) is not null)
                {
                    int pass = line == "ready" ? 0 : line.StartsWith("pass ", StringComparison.Ordinal) ? int.Parse(line[5..], CultureInfo.InvariantCulture) : -1;
                    if (pass >= killAfterPass && !killed)
                    {
                        await Task.Delay(delayMs);
                        child.Kill();
                        killed = true;
                    }
                }
                await child.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(5));
                Assert.True(killed || child.ExitCode == 0, $"round {round}: the child failed: {await stderr}");
                output.WriteLine($"round {round}: killed {delayMs} ms after pass {killAfterPass}");
                hoursPurged = (int)(Check(root, round, seed) / (Segments / 12));
            }

            var (exit, _, error) = ChildProcess.Run("purge-loop", root);
            Assert.True(exit == 0, error);
            var purged = Check(root, round: -1, seed);
            Assert.Equal(Segments, purged);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The invariants after a crash; returns how many segments the purge records name in all.</summary>
    private long Check(string root, int round, int seed)
    {
        var settings = EdgeConfigLoader.Load(Path.Combine(root, "edge.json"));
        using var index = IndexOpener.Open(settings, createKeyIfMissing: false);
        var context = $"round {round}, seed {seed}";
        Assert.True(index.VerifyAudit().Ok, context);
        var all = index.AllSegments();
        // A key still there: its file is too (no file is unlinked before its key is durably gone).
        Assert.All(all.Where(s => s.WrappedKey is not null), s => Assert.True(s.State == SegmentState.Stored && File.Exists(s.FullPath), $"{context}: segment {s.Id}"));
        var purged = all.Where(s => s.State == SegmentState.Purged).ToList();
        Assert.All(purged, s => Assert.Null(s.WrappedKey));
        var records = index.QueryAudit().Where(a => a.Action == "purge").ToList();
        // Each batch still in the index is named by exactly one record, by its set hash.
        foreach (var batch in purged.GroupBy(s => s.PurgedUtc))
            Assert.Single(records, a => a.Detail.EndsWith($"set sha256 {SegmentPurger.SetHash(batch)}", StringComparison.Ordinal));
        // And the records count every destroyed key once: those not yet compacted plus those in day summaries.
        long named = records.Sum(a => long.Parse(a.Detail[..a.Detail.IndexOf(' ')], CultureInfo.InvariantCulture));
        Assert.Equal(purged.Count + index.PurgedDays().Sum(d => d.Segments), named);
        Assert.Equal(Segments, all.Count(s => s.State == SegmentState.Stored) + named);
        output.WriteLine($"{context}: {named} purged in {records.Count} record(s), {purged.Count} not yet compacted");
        return named;
    }
}
