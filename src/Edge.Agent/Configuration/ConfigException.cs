namespace Edge.Agent.Configuration;

/// <summary>A configuration problem: names the file, the key (a JSON path like cameras[1].id) and what is wrong.</summary>
public sealed class ConfigException(string file, IReadOnlyList<string> problems)
    : Exception($"{file}: {string.Join("; ", problems)}")
{
    public string File { get; } = file;
    public IReadOnlyList<string> Problems { get; } = problems;
}
