// The tether is what keeps crashed test runs from leaving servers behind, so
// these tests end its pipe both ways: closed by us, and by the death of the
// process holding it.
using System.Diagnostics;

namespace Edge.Tests.Fixtures;

public class TetheredProcess_Tests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Command_ends_when_the_tether_pipe_is_closed()
    {
        var marker = $"edge-tether-test-{Guid.NewGuid():N}";
        await using var process = TetheredProcess.Start("sleeper", "bash", ["-c", "exec -a \"$0\" sleep 300", marker]);
        // The command renames itself (exec -a) so that only it has the marker as argv[0].
        await UntilAsync(() => ProcessTable.Named(marker).Count == 1, "the command to run");

        await process.StopAsync();

        Assert.True(process.HasExited);
        Assert.Empty(ProcessTable.Named(marker));
    }

    [Fact]
    public async Task Command_ends_when_the_process_holding_the_pipe_is_killed()
    {
        var marker = $"edge-tether-test-{Guid.NewGuid():N}";
        // `sleep` holds the write end of the tether's stdin, standing in for a
        // test host that crashes; the command is renamed so we can find it.
        var script = $"sleep 300 | perl '{RepoPaths.ScriptLib("tether")}' bash -c 'exec -a \"$0\" sleep 301' {marker}";
        await using var shell = TetheredProcess.Start("pipeline", "bash", ["-c", script]);
        await UntilAsync(() => ProcessTable.Named(marker).Count == 1, "the command to run");
        var holder = FindChild(shell.Id, "sleep");

        Process.GetProcessById(holder).Kill();

        await UntilAsync(() => ProcessTable.Named(marker).Count == 0, "the command to end after its pipe holder died");
    }

    [Fact]
    public async Task Exit_status_and_output_of_the_command_are_kept()
    {
        await using var process = TetheredProcess.Start("failing command", "sh", ["-c", "echo first; echo second >&2; exit 3"]);

        await process.WaitForExitAsync(new CancellationTokenSource(Patience).Token);

        Assert.Equal(3, process.ExitCode);
        await UntilAsync(() => process.RecentOutput.Contains("second"), "stderr to be read");
        Assert.Contains("first", process.RecentOutput);
        Assert.Contains("failing command exited with status 3", process.Describe());
    }

    [Fact]
    public async Task Command_that_cannot_be_run_exits_with_status_127_and_says_why()
    {
        await using var process = TetheredProcess.Start("missing program", "/nonexistent/program", []);

        await process.WaitForExitAsync(new CancellationTokenSource(Patience).Token);

        Assert.Equal(127, process.ExitCode);
        await UntilAsync(() => process.RecentOutput.Contains("/nonexistent/program"), "the error message");
    }

    // Breadth-first search below a pid for a process with the given name (comm).
    private static int FindChild(int root, string name)
    {
        var queue = new Queue<int>([root]);
        while (queue.Count > 0)
        {
            var pid = queue.Dequeue();
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                var children = File.ReadAllText(Path.Combine(task, "children"))
                    .Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse);
                foreach (var child in children)
                {
                    if (File.ReadAllText($"/proc/{child}/comm").Trim() == name)
                        return child;
                    queue.Enqueue(child);
                }
            }
        }
        throw new InvalidOperationException($"No process named '{name}' below pid {root}; expected the pipeline's pipe holder.");
    }

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > Patience)
                Assert.Fail($"Waited {Patience.TotalSeconds:0} s for {what}; it did not happen.");
            await Task.Delay(50);
        }
    }
}
