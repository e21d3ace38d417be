// `edge status --json` from a running agent reports its memory as the soak benchmark reads it: RSS, the managed heap
// with and without the garbage not yet collected, what the GC holds from the OS, and how often each generation ran.
using System.Text.Json;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Recording;

public class AgentMemoryStatus_Tests(ITestOutputHelper output)
{
    [Fact]
    public async Task Status_from_a_recording_agent_reports_its_heap_after_the_last_collection_the_GCs_commit_and_collection_counts()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1", segmentSeconds: 1));
        using var agent = EdgeProcess.Start(null, "run", "--config", site.ConfigPath);
        await EdgeProcess.WaitForNewSegmentsAsync(site.ConfigPath, new HashSet<long>(), 2, agent, "the agent");
        JsonElement process;
        try
        {
            var status = await EdgeProcess.RunAsync(TimeSpan.FromSeconds(30), "status", "--config", site.ConfigPath, "--json");
            Assert.True(status.ExitCode == 0, status.Stderr);
            process = JsonDocument.Parse(status.Stdout).RootElement.GetProperty("agent").Clone();
        }
        finally
        {
            Edge.Tests.Doors.Signal.Kill(agent, Edge.Tests.Doors.Signal.Term);
            await agent.WaitForExitAsync();
        }

        long rss = process.GetProperty("rssBytes").GetInt64(), heap = process.GetProperty("managedHeapBytes").GetInt64();
        long afterGc = process.GetProperty("managedHeapAfterLastGcBytes").GetInt64(), committed = process.GetProperty("gcCommittedBytes").GetInt64();
        var collections = process.GetProperty("gcCollections").EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.Equal(3, collections.Count);
        // Two sealed segments take far more than a 4 MiB gen0 budget (Edge.Agent.csproj), so gen0 has run.
        Assert.True(collections[0] > 0, $"gen0 collections: {collections[0]}");
        Assert.True(collections[0] >= collections[1] && collections[1] >= collections[2], string.Join('/', collections));
        Assert.InRange(afterGc, 1, committed);
        Assert.InRange(heap, 1, committed);
        Assert.InRange(committed, 1, rss);
    }
}
