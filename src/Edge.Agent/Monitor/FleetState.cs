// The fleet as the monitoring desk sees it: each device's retained `status` and `health` (docs/protocol.md), read
// defensively. A payload that is not what the protocol says (not JSON, a wrong type, an unknown schema, a missing
// required field) is kept as a problem on that device and shown; it never stops the view.
using System.Globalization;
using System.Text;
using System.Text.Json;

// (Namespace Monitoring, not Monitor: Edge.Agent.Monitor would hide System.Threading.Monitor in the rest of Edge.Agent.)
namespace Edge.Agent.Monitoring;

public sealed record CameraView(string Id, string? State, double? BitrateKbps, DateTimeOffset? LastSegmentEnd);

public sealed record VolumeView(string Path, bool? Active, double? UsedPercent, long? FreeBytes, double? FreeDays);

public sealed record OutboxView(long? Messages, long? Bytes, long? ClipsPending);

public sealed record BoardView(double? CpuTemperatureC, bool? UnderVoltageNow, bool? UnderVoltageSinceBoot, bool? ThrottledNow);

public sealed record LastEventView(string? Kind, DateTimeOffset? At);

/// <summary>One device's row; null members were not reported (or not yet received).</summary>
public sealed record DeviceView(
    string SiteId,
    string DeviceId,
    string State,
    string? OfflineReason,
    DateTimeOffset? LastSeen,
    string? Version,
    DateTimeOffset? StartedAt,
    double? UptimeSeconds,
    int? CamerasRecording,
    int? CamerasTotal,
    IReadOnlyList<CameraView>? Cameras,
    IReadOnlyList<VolumeView>? Volumes,
    double? FreeDays,
    OutboxView? Outbox,
    bool? ClockSynchronised,
    BoardView? Board,
    LastEventView? LastEvent,
    IReadOnlyList<string> Problems);

public sealed class FleetState
{
    public const string StatusFilter = "edge/v1/+/+/status";
    public const string HealthFilter = "edge/v1/+/+/health";

    private readonly object _gate = new();
    private readonly SortedDictionary<(string Site, string Device), Entry> _devices = new();

    private sealed class Entry
    {
        public JsonElement? Status;
        public string? StatusProblem;
        public JsonElement? Health;
        public string? HealthProblem;
    }

    /// <summary>Bumped on every change, so a view redraws only when something changed.</summary>
    public long Version { get { lock (_gate) return _version; } }
    private long _version;

    /// <summary>
    /// Takes one message. Returns false for a topic that is not a device's status or health (ignored). An empty
    /// payload is a retained value being cleared: that part of the device is forgotten.
    /// </summary>
    public bool Apply(string topic, ReadOnlySpan<byte> payload)
    {
        var parts = topic.Split('/');
        if (parts is not ["edge", "v1", { Length: > 0 } site, { Length: > 0 } device, "status" or "health"]) return false;
        bool isStatus = parts[4] == "status";
        JsonElement? parsed = null;
        string? problem = null;
        if (payload.Length > 0)
        {
            try
            {
                using var document = JsonDocument.Parse(payload.ToArray());
                var root = document.RootElement.Clone();
                problem = isStatus ? CheckStatus(root, site, device) : CheckHealth(root);
                parsed = root;
            }
            catch (JsonException e)
            {
                problem = $"not JSON ({e.Message.Split(" Path:")[0].TrimEnd('.')}): {Preview(payload)}";
            }
        }
        lock (_gate)
        {
            if (!_devices.TryGetValue((site, device), out var entry)) _devices[(site, device)] = entry = new Entry();
            if (isStatus) { entry.Status = problem is null ? parsed : null; entry.StatusProblem = problem; }
            else { entry.Health = problem is null ? parsed : null; entry.HealthProblem = problem; }
            if (entry.Status is null && entry.StatusProblem is null && entry.Health is null && entry.HealthProblem is null)
                _devices.Remove((site, device));
            _version++;
        }
        return true;
    }

    public IReadOnlyList<DeviceView> Snapshot() => Snapshot(out _);

    /// <param name="version">The <see cref="Version"/> this snapshot shows, taken with it, so no change falls between the two.</param>
    public IReadOnlyList<DeviceView> Snapshot(out long version)
    {
        lock (_gate)
        {
            version = Version;
            return _devices.Select(d => View(d.Key.Site, d.Key.Device, d.Value)).ToList();
        }
    }

    private static DeviceView View(string site, string device, Entry entry)
    {
        var problems = new List<string>();
        if (entry.StatusProblem is { } sp) problems.Add($"status: malformed: {sp}");
        if (entry.HealthProblem is { } hp) problems.Add($"health: malformed: {hp}");
        string state = "unknown";
        string? reason = null, version = null;
        DateTimeOffset? startedAt = null;
        if (entry.Status is { } s)
        {
            state = s.GetProperty("state").GetString()!;
            reason = String(s, "reason");
            version = String(s, "version");
            startedAt = Time(s, "startedAt");
        }
        else if (entry.StatusProblem is null) problems.Add("status: none retained (the box has never connected, or its status was cleared)");

        if (entry.Health is not { } h)
            return new DeviceView(site, device, state, reason, startedAt, version, startedAt, null, null, null, null, null, null, null, null, null, null, problems);

        var at = Time(h, "at");
        var cameras = Array(h, "cameras")?.Select(c => new CameraView(String(c, "id") ?? "?", String(c, "state"), Number(c, "bitrateKbps"), Time(c, "lastSegmentEnd"))).ToList();
        var volumes = Array(h, "volumes")?.Select(v => new VolumeView(String(v, "path") ?? "?", Bool(v, "active"), Number(v, "usedPercent"),
            (long?)Number(v, "freeBytes"), Number(v, "freeDays"))).ToList();
        // The disk that matters is the one being written: the active volume, else the best one left.
        var freeDays = volumes?.FirstOrDefault(v => v.Active == true)?.FreeDays ?? volumes?.Max(v => v.FreeDays);
        OutboxView? outbox = Object(h, "outbox") is { } o ? new OutboxView((long?)Number(o, "messages"), (long?)Number(o, "bytes"), (long?)Number(o, "clipsPending")) : null;
        BoardView? board = Object(h, "board") is { } b
            ? new BoardView(Number(b, "cpuTemperatureC"), Bool(b, "underVoltageNow"), Bool(b, "underVoltageSinceBoot"), Bool(b, "throttledNow")) : null;
        LastEventView? lastEvent = Object(h, "lastEvent") is { } e ? new LastEventView(String(e, "kind"), Time(e, "at")) : null;
        var lastSeen = at is { } a && (startedAt is null || a > startedAt) ? a : startedAt;
        return new DeviceView(site, device, state, reason, lastSeen, version, startedAt, Number(h, "uptimeSeconds"),
            cameras?.Count(c => c.State == "recording"), cameras?.Count, cameras, volumes, freeDays, outbox, Bool(h, "clockSynchronised"),
            board, lastEvent, problems);
    }

    // ---- protocol checks: what makes a payload malformed (docs/protocol.md, "Principles") ----

    private static string? CheckStatus(JsonElement root, string site, string device)
    {
        if (CheckCommon(root) is { } problem) return problem;
        if (!root.TryGetProperty("state", out var state)) return "state: missing";
        if (state.ValueKind != JsonValueKind.String || state.GetString() is not ("online" or "offline"))
            return $"state: expected \"online\" or \"offline\", found {Show(state)}";
        foreach (var key in new[] { "reason", "version", "siteId", "deviceId", "configHash", "ownerKeyId" })
            if (WrongType(root, key, JsonValueKind.String) is { } p) return p;
        foreach (var key in new[] { "bootTime", "startedAt" })
            if (WrongTime(root, key) is { } p) return p;
        // The topic is what the broker's ACL vouches for; a payload naming another device is not to be believed.
        if (root.TryGetProperty("siteId", out var s) && s.GetString() != site) return $"siteId: {Show(s)} does not match the topic's site '{site}'";
        if (root.TryGetProperty("deviceId", out var d) && d.GetString() != device) return $"deviceId: {Show(d)} does not match the topic's device '{device}'";
        return null;
    }

    private static string? CheckHealth(JsonElement root)
    {
        if (CheckCommon(root) is { } problem) return problem;
        if (!root.TryGetProperty("at", out _)) return "at: missing";
        if (WrongTime(root, "at") is { } p1) return p1;
        if (WrongType(root, "uptimeSeconds", JsonValueKind.Number) is { } p2) return p2;
        if (WrongBool(root, "clockSynchronised") is { } p3) return p3;
        foreach (var (key, check) in new (string, Func<JsonElement, string, string?>)[]
        {
            ("cameras", (c, at) => WrongType(c, "id", JsonValueKind.String, at) ?? WrongType(c, "state", JsonValueKind.String, at)
                ?? WrongType(c, "bitrateKbps", JsonValueKind.Number, at) ?? WrongTime(c, "lastSegmentEnd", at)),
            ("volumes", (v, at) => WrongType(v, "path", JsonValueKind.String, at) ?? WrongBool(v, "active", at)
                ?? WrongType(v, "usedPercent", JsonValueKind.Number, at) ?? WrongType(v, "freeBytes", JsonValueKind.Number, at)
                ?? WrongType(v, "freeDays", JsonValueKind.Number, at)),
        })
        {
            if (!root.TryGetProperty(key, out var list) || list.ValueKind == JsonValueKind.Null) continue;
            if (list.ValueKind != JsonValueKind.Array) return $"{key}: expected an array, found {Show(list)}";
            int i = 0;
            foreach (var item in list.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object) return $"{key}[{i}]: expected an object, found {Show(item)}";
                if (check(item, $"{key}[{i}].") is { } p) return p;
                i++;
            }
        }
        foreach (var (key, numbers, bools, times) in new (string, string[], string[], string[])[]
        {
            ("outbox", ["messages", "bytes", "clipsPending"], [], []),
            ("board", ["cpuTemperatureC"], ["underVoltageNow", "underVoltageSinceBoot", "throttledNow"], []),
            ("lastEvent", [], [], ["at"]),
        })
        {
            if (!root.TryGetProperty(key, out var o) || o.ValueKind == JsonValueKind.Null) continue;
            if (o.ValueKind != JsonValueKind.Object) return $"{key}: expected an object, found {Show(o)}";
            foreach (var n in numbers) if (WrongType(o, n, JsonValueKind.Number, key + ".") is { } p) return p;
            foreach (var n in bools) if (WrongBool(o, n, key + ".") is { } p) return p;
            foreach (var n in times) if (WrongTime(o, n, key + ".") is { } p) return p;
        }
        return null;
    }

    private static string? CheckCommon(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) return $"expected a JSON object, found {Show(root)}";
        if (!root.TryGetProperty("schema", out var schema)) return "schema: missing";
        if (schema.ValueKind != JsonValueKind.Number || !schema.TryGetInt32(out int version)) return $"schema: expected a number, found {Show(schema)}";
        return version == 1 ? null : $"schema: {version} is not a schema this monitor reads (it reads 1); update edge on the desk";
    }

    private static string? WrongType(JsonElement o, string key, JsonValueKind kind, string at = "") =>
        o.TryGetProperty(key, out var v) && v.ValueKind != kind && v.ValueKind != JsonValueKind.Null
            ? $"{at}{key}: expected a {(kind == JsonValueKind.Number ? "number" : "string")}, found {Show(v)}" : null;

    private static string? WrongBool(JsonElement o, string key, string at = "") =>
        o.TryGetProperty(key, out var v) && v.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null)
            ? $"{at}{key}: expected true or false, found {Show(v)}" : null;

    private static string? WrongTime(JsonElement o, string key, string at = "") =>
        WrongType(o, key, JsonValueKind.String, at)
        ?? (o.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String && ParseTime(v.GetString()) is null
            ? $"{at}{key}: expected an ISO 8601 UTC time, found {Show(v)}" : null);

    // ---- readers for payloads that passed the checks ----

    private static string? String(JsonElement o, string key) => o.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    private static double? Number(JsonElement o, string key) => o.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
    private static bool? Bool(JsonElement o, string key) => o.TryGetProperty(key, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;
    private static DateTimeOffset? Time(JsonElement o, string key) => ParseTime(String(o, key));
    private static JsonElement? Object(JsonElement o, string key) => o.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Object ? v : null;
    private static IEnumerable<JsonElement>? Array(JsonElement o, string key) => o.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray() : null;

    private static DateTimeOffset? ParseTime(string? text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t.ToUniversalTime() : null;

    private static string Show(JsonElement v)
    {
        var text = v.GetRawText();
        return text.Length <= 40 ? text : text[..40] + "…";
    }

    private static string Preview(ReadOnlySpan<byte> payload)
    {
        var text = Encoding.UTF8.GetString(payload[..Math.Min(payload.Length, 40)]).ReplaceLineEndings(" ");
        var printable = new string(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return $"\"{printable}{(payload.Length > 40 ? "…" : "")}\" ({payload.Length} bytes)";
    }
}
