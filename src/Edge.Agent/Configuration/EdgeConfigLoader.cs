// Reads edge.json and turns it into EdgeSettings, or a ConfigException that names every wrong key.
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Edge.Agent.Configuration;

public static class EdgeConfigLoader
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        // "up", "low", ... for the GPIO enums of door definitions.
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false) },
    };

    public static EdgeSettings Load(string path)
    {
        var (config, fullPath) = ConfigJson.Load<EdgeConfig>(path, JsonOptions);
        return EdgeConfigValidator.Validate(config, fullPath);
    }

    public static EdgeSettings Parse(string json, string fullPath) =>
        EdgeConfigValidator.Validate(ConfigJson.Parse<EdgeConfig>(json, fullPath, JsonOptions), fullPath);

    /// <summary>Turns System.Text.Json's message into "key: problem", with the key as a JSON path without the "$.".</summary>
    internal static string Describe(JsonException e)
    {
        string key = KeyOf(e.Path);
        if (e.Message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
        {
            // "The JSON property 'x' could not be mapped ... Path: $.cameras[0] ..."
            var start = e.Message.IndexOf('\'') + 1;
            var end = e.Message.IndexOf('\'', start);
            var name = start > 0 && end > start ? e.Message[start..end] : "?";
            // The path usually ends with the unknown property already; older runtimes stop at its parent.
            string full = key.EndsWith(name, StringComparison.Ordinal) ? key : key.Length == 0 ? name : key + "." + name;
            return $"{full}: unknown key (check its spelling against docs/ref/config.md)";
        }
        if (e.LineNumber is long line && e.InnerException is null && e.Path is null or "$")
            return $"not valid JSON at line {line + 1}: {e.Message.Split(". Path:")[0]}";
        var what = e.Message.Split(". Path:")[0];
        return $"{(key.Length == 0 ? "(root)" : key)}: {what}";
    }

    private static string KeyOf(string? jsonPath) =>
        jsonPath is null or "$" ? "" : jsonPath.StartsWith("$.", StringComparison.Ordinal) ? jsonPath[2..] : jsonPath.TrimStart('$');
}
