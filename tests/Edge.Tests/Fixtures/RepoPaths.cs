// Where the repository is when tests run from its build output, so fixtures
// can use the shared scripts under scripts/lib (clip generation, the RTSP
// server launcher, the tether) instead of keeping second copies of them.
namespace Edge.Tests.Fixtures;

public static class RepoPaths
{
    private static readonly Lazy<string> root = new(FindRoot);

    /// <summary>The directory holding Edge.sln.</summary>
    public static string Root => root.Value;

    /// <summary>Absolute path of a file under scripts/lib, e.g. "tether".</summary>
    public static string ScriptLib(string name) => Path.Combine(Root, "scripts", "lib", name);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Edge.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException(
            $"No Edge.sln found in {AppContext.BaseDirectory} or any directory above it. " +
            "The test fixtures use scripts/lib from the repository: run the tests from a checkout (scripts/test).");
    }
}
