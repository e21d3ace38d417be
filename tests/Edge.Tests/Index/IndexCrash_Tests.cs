// Crash safety: a child process writes to the index as fast as it can and is killed with SIGKILL at a random
// moment, several times over. Each time the index must open again and hold every document whose commit the child
// reported durable (it prints ids only after WaitUntilDurable() returned).
using System.Diagnostics;
using Edge.Agent.Index;
using Xunit.Abstractions;

namespace Edge.Tests.Index;

public sealed class IndexCrash_Tests(ITestOutputHelper output) : IDisposable
{
    private readonly IndexScratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public async Task The_index_reopens_after_SIGKILL_during_heavy_writes_with_every_durable_commit_present()
    {
        var seed = Environment.TickCount;
        var random = new Random(seed);
        output.WriteLine($"seed {seed}");
        _scratch.Open().Dispose(); // key and empty index

        var durable = new HashSet<long>();
        for (var round = 0; round < 6; round++)
        {
            // Kill after a random number of durable documents, so the kill lands at a random point of the
            // insert / commit / write / fsync / checkpoint cycle.
            var killAfter = random.Next(1, 3000);
            var firstId = (round + 1) * 1_000_000L;
            using var child = ChildProcess.Start("write", _scratch.IndexDirectory, _scratch.KeyPath,
                firstId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var stderr = child.StandardError.ReadToEndAsync();
            var reported = 0;
            string? line;
            var killed = false;
            while ((line = child.StandardOutput.ReadLine()) is not null)
            {
                if (line.StartsWith("durable ", StringComparison.Ordinal))
                {
                    durable.Add(long.Parse(line.AsSpan(8), System.Globalization.CultureInfo.InvariantCulture));
                    if (++reported == killAfter && !killed)
                    {
                        child.Kill(); // SIGKILL on Linux; keep reading what it printed before dying
                        killed = true;
                    }
                }
            }
            await child.WaitForExitAsync();
            var errors = await stderr;
            Assert.True(killed, $"round {round}: child exited by itself after {reported} documents: {errors}");
            output.WriteLine($"round {round}: killed after {reported} durable documents");

            using var store = _scratch.Open();
            var events = store.Database.GetCollection("events");
            var missing = durable.Where(id => events.FindById(id) is null).Take(10).ToList();
            Assert.True(missing.Count == 0,
                $"round {round} (seed {seed}): durable ids missing after reopen: {string.Join(", ", missing)}");
            output.WriteLine($"round {round}: reopened, {events.Count()} documents, " +
                $"{store.DiscardedLogTailPages} torn log pages discarded, {store.RepairedDataPages} data pages repaired, " +
                $"{store.DataStream.Length / EncryptedPageStream.PageSize} data pages");
        }
        Assert.True(durable.Count > 6);
    }
}
