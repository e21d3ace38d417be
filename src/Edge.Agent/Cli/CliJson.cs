using System.Text.Json;
using System.Text.Json.Serialization;

namespace Edge.Agent.Cli;

/// <summary>The one JSON style of every --json output: camelCase, indented, times as ISO 8601 with their offset.</summary>
public static class CliJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static void Write<T>(TextWriter output, T value) => output.WriteLine(JsonSerializer.Serialize(value, Options));
}
