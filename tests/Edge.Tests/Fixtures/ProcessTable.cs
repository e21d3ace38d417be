// A look at the live processes of this machine through /proc, for tests that
// check that fixtures leave nothing running behind them.
namespace Edge.Tests.Fixtures;

public static class ProcessTable
{
    /// <summary>Command lines (arguments separated by '\0') of every live, non-zombie process but this one.</summary>
    public static Dictionary<int, string> CommandLines()
    {
        var table = new Dictionary<int, string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
                continue;
            try
            {
                var commandLine = File.ReadAllText(Path.Combine(dir, "cmdline"));
                if (commandLine.Length > 0 && !IsZombie(dir))
                    table[pid] = commandLine;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone while we looked, or not ours to see.
            }
        }
        return table;
    }

    /// <summary>Pids of live processes whose command line contains <paramref name="marker"/>.</summary>
    public static List<int> Containing(string marker) =>
        CommandLines().Where(p => p.Value.Contains(marker, StringComparison.Ordinal)).Select(p => p.Key).ToList();

    /// <summary>Pids of live processes whose argv[0] is exactly <paramref name="name"/>.</summary>
    public static List<int> Named(string name) =>
        CommandLines().Where(p => p.Value.StartsWith(name + "\0", StringComparison.Ordinal)).Select(p => p.Key).ToList();

    private static bool IsZombie(string procDir)
    {
        // The state is the field after the parenthesised name in /proc/PID/stat.
        var stat = File.ReadAllText(Path.Combine(procDir, "stat"));
        return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
    }
}
