// Reading the box's payloads (docs/protocol.md) strictly enough that nothing malformed reaches the store: a missing
// required field, a wrong type or an unknown schema is a PayloadException naming the field. Unknown fields are ignored.
using Edge.Sync.Protocol;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Edge.Sync;

namespace Edge.Agent.Central;

public sealed class PayloadException(string message) : Exception(message);

public sealed record ClipSegment(long Id, string Camera, DateTimeOffset Start, DateTimeOffset End, string Container, long StoredBytes,
    string StoredSha256, byte[] WrappedKey, string OwnerKeyId, int Chunks, string RelativePath, long? Bytes, string? Sha256);

public sealed record ClipManifest(string ClipId, long? FlagId, string Reason, DateTimeOffset From, DateTimeOffset To,
    IReadOnlyList<string> Cameras, int ChunkBytes, IReadOnlyList<ClipSegment> Segments);

/// <summary>A chunk's description; at least one of its checksums is present (crc32c from current boxes, sha256 from older ones).</summary>
public sealed record ChunkHeader(long Segment, int Chunk, int Chunks, long Offset, string? Crc32C, string? Sha256);

public static partial class Payloads
{
    public const int Schema = 1;

    [GeneratedRegex("^[A-Za-z0-9_-]{1,128}$")]
    public static partial Regex ClipIdPattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Pattern();

    [GeneratedRegex("^[0-9a-f]{8}$")]
    private static partial Regex Crc32CPattern();

    /// <summary>Parses a JSON object payload and checks its schema.</summary>
    public static JsonObject Object(ReadOnlySpan<byte> payload)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(payload.ToArray()); }
        catch (JsonException e) { throw new PayloadException($"not JSON: {e.Message}"); }
        catch (ArgumentException e) { throw new PayloadException($"not UTF-8 JSON: {e.Message}"); }
        if (node is not JsonObject o) throw new PayloadException("expected a JSON object");
        if (o["schema"] is not JsonValue s || !s.TryGetValue(out int schema))
            throw new PayloadException("schema: is required (a number)");
        if (schema != Schema) throw new PayloadException($"schema: {schema} is not known here (this central reads schema {Schema})");
        return o;
    }

    public static string Text(JsonObject o, string key, string path = "")
    {
        if (o[key] is JsonValue v && v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() is { Length: > 0 } t) return t;
        throw new PayloadException($"{path}{key}: expected a non-empty string");
    }

    public static string? OptionalText(JsonObject o, string key, string path = "") => o[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => throw new PayloadException($"{path}{key}: expected a string or null"),
    };

    public static long Long(JsonObject o, string key, string path = "", long min = long.MinValue)
    {
        if (o[key] is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out long n))
        {
            if (n < min) throw new PayloadException($"{path}{key}: must be at least {min} (found {n})");
            return n;
        }
        throw new PayloadException($"{path}{key}: expected an integer");
    }

    public static DateTimeOffset Time(JsonObject o, string key, string path = "") =>
        ProtocolTime.TryParse(Text(o, key, path)) ?? throw new PayloadException($"{path}{key}: expected an ISO 8601 UTC time");

    public static JsonObject Child(JsonObject o, string key, string path = "") =>
        o[key] as JsonObject ?? throw new PayloadException($"{path}{key}: expected an object");

    public static JsonArray Array(JsonObject o, string key, string path = "") =>
        o[key] as JsonArray ?? throw new PayloadException($"{path}{key}: expected an array");

    /// <summary>A stream message (events, segments): its per-device sequence id, checked against the stream named.</summary>
    public static long StreamId(JsonObject o, string stream)
    {
        var id = Long(o, "id", min: 1);
        var named = Text(o, "stream");
        if (named != stream) throw new PayloadException($"stream: '{named}' on the {stream} topic; expected '{stream}'");
        return id;
    }

    public static ClipManifest Manifest(JsonObject o, string topicClipId)
    {
        var clipId = Text(o, "clipId");
        if (clipId != topicClipId) throw new PayloadException($"clipId: '{clipId}' differs from the topic's clip id '{topicClipId}'");
        var from = Time(o, "from");
        var to = Time(o, "to");
        if (to <= from) throw new PayloadException($"to: {ProtocolTime.Format(to)} is not after from {ProtocolTime.Format(from)}");
        // Camera ids name the output files ({camera}.mp4): edge.json's id rule, so no path can hide in one.
        var cameras = Array(o, "cameras").Select((c, i) => c is JsonValue v && v.GetValueKind() == JsonValueKind.String && IdPattern().IsMatch(v.GetValue<string>())
            ? v.GetValue<string>() : throw new PayloadException($"cameras[{i}]: expected a camera id (letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit)")).ToList();
        if (cameras.Distinct().Count() != cameras.Count) throw new PayloadException("cameras: a camera is listed twice");
        if (cameras.Count == 0) throw new PayloadException("cameras: expected at least one camera");
        var chunkBytes = (int)Math.Min(Long(o, "chunkBytes", min: 1), int.MaxValue);
        var segments = new List<ClipSegment>();
        var array = Array(o, "segments");
        for (int i = 0; i < array.Count; i++)
        {
            var p = $"segments[{i}].";
            var s = array[i] as JsonObject ?? throw new PayloadException($"segments[{i}]: expected an object");
            var camera = Text(s, "camera", p);
            if (!cameras.Contains(camera)) throw new PayloadException($"{p}camera: '{camera}' is not one of the clip's cameras");
            var sha = Text(s, "storedSha256", p);
            if (!Sha256Pattern().IsMatch(sha)) throw new PayloadException($"{p}storedSha256: expected 64 lowercase hex digits");
            byte[] wrapped;
            try { wrapped = Convert.FromBase64String(Text(s, "wrappedKey", p)); }
            catch (FormatException) { throw new PayloadException($"{p}wrappedKey: not valid base64"); }
            var storedBytes = Long(s, "storedBytes", p, min: 1);
            var chunks = Long(s, "chunks", p, min: 1);
            if (chunks != (storedBytes + chunkBytes - 1) / chunkBytes)
                throw new PayloadException($"{p}chunks: {chunks} chunks of {chunkBytes} bytes do not make {storedBytes} bytes");
            var relative = Text(s, "relativePath", p);
            if (relative.StartsWith('/') || relative.Split('/').Contains("..")) throw new PayloadException($"{p}relativePath: must be a path below a volume");
            var id = Long(s, "id", p, min: 1);
            if (segments.Any(x => x.Id == id)) throw new PayloadException($"{p}id: segment {id} is listed twice");
            var plainSha = OptionalText(s, "sha256", p);
            segments.Add(new ClipSegment(id, camera, Time(s, "start", p), Time(s, "end", p), OptionalText(s, "container", p) ?? "mpegts",
                storedBytes, sha, wrapped, OptionalText(s, "ownerKeyId", p) ?? "", (int)chunks, relative,
                s["bytes"] is null ? null : Long(s, "bytes", p, min: 0), plainSha));
        }
        if (segments.Count == 0) throw new PayloadException("segments: expected at least one segment");
        long? flagId = o["flagId"] is null ? null : Long(o, "flagId");
        return new ClipManifest(clipId, flagId, OptionalText(o, "reason") ?? "", from, to, cameras, chunkBytes, segments);
    }

    /// <summary>A chunk's MQTT 5 user properties (docs/protocol.md, "clip chunk").</summary>
    public static ChunkHeader Chunk(IReadOnlyCollection<KeyValuePair<string, string>>? properties, int payloadLength)
    {
        string Prop(string name) => properties?.FirstOrDefault(p => p.Key == name).Value
                                    ?? throw new PayloadException($"user property '{name}': is required");
        long Number(string name, long min)
        {
            var text = Prop(name);
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min)
                throw new PayloadException($"user property '{name}': '{text}' is not an integer of at least {min}");
            return n;
        }
        if (Prop("schema") != Schema.ToString(CultureInfo.InvariantCulture))
            throw new PayloadException($"user property 'schema': '{Prop("schema")}' is not known here (this central reads schema {Schema})");
        string? Optional(string name) => properties?.FirstOrDefault(p => p.Key == name).Value;
        var header = new ChunkHeader(Number("segment", 1), (int)Math.Min(Number("chunk", 0), int.MaxValue), (int)Math.Min(Number("chunks", 1), int.MaxValue),
            Number("offset", 0), Optional("crc32c"), Optional("sha256"));
        if (header.Chunk >= header.Chunks) throw new PayloadException($"user property 'chunk': {header.Chunk} is not below chunks {header.Chunks}");
        if (header.Crc32C is null && header.Sha256 is null) throw new PayloadException("user property 'crc32c' (or 'sha256' from older boxes): one is required");
        if (header.Crc32C is { } c && !Crc32CPattern().IsMatch(c)) throw new PayloadException("user property 'crc32c': expected 8 lowercase hex digits");
        if (header.Sha256 is { } h && !Sha256Pattern().IsMatch(h)) throw new PayloadException("user property 'sha256': expected 64 lowercase hex digits");
        if (payloadLength == 0) throw new PayloadException("payload: a chunk is never empty");
        return header;
    }
}
