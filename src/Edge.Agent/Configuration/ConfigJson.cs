// Reading a JSON configuration file (edge.json, central.json) into its record type: every way it can fail
// becomes a ConfigException that names the file and the key, so both files fail alike.
using System.Text.Json;

namespace Edge.Agent.Configuration;

internal static class ConfigJson
{
    /// <summary>Reads and deserializes the file; returns its full path beside the value (validators resolve relative paths against it).</summary>
    public static (T Config, string FullPath) Load<T>(string path, JsonSerializerOptions options) where T : class
    {
        var fullPath = Path.GetFullPath(path);
        string text;
        try { text = File.ReadAllText(fullPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(fullPath, [$"cannot read the configuration file: {e.Message}"]);
        }
        return (Parse<T>(text, fullPath, options), fullPath);
    }

    public static T Parse<T>(string json, string fullPath, JsonSerializerOptions options) where T : class
    {
        T? config;
        try { config = JsonSerializer.Deserialize<T>(json, options); }
        catch (JsonException e) { throw new ConfigException(fullPath, [EdgeConfigLoader.Describe(e)]); }
        return config ?? throw new ConfigException(fullPath, ["the file is empty or `null`; expected a JSON object"]);
    }
}
