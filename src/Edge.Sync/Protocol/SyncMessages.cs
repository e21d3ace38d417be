// The payloads of docs/protocol.md (schema 1), as records. The box writes them; the central and the monitor read
// them with the same types. Property names are camelCase on the wire (SyncJson.Options).
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Edge.Sync.Protocol;

public static class SyncJson
{
    public const int Schema = 1;

    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new UtcMillisecondsConverter() },
    };

    public static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    /// <summary>Times on the wire: UTC, ISO 8601 with Z, millisecond precision.</summary>
    private sealed class UtcMillisecondsConverter : JsonConverter<DateTime>
    {
        public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.GetDateTime().ToUniversalTime();

        public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options) =>
            writer.WriteStringValue(DateTime.SpecifyKind(value.ToUniversalTime(), DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
    }
}

/// <summary>The protocol's times as text (for JSON built by hand): UTC, ISO 8601 with Z, millisecond precision.</summary>
public static class ProtocolTime
{
    public static string Format(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    public static DateTimeOffset? TryParse(string? text) =>
        text is not null && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var t)
            ? t : null;
}

public static class SyncStreams
{
    public const string Events = "events";
    public const string Segments = "segments";
    public const string Audit = "audit";
    public static readonly IReadOnlyList<string> All = [Events, Segments, Audit];
}

public sealed record AuditHead(long Seq, string Hash);

public sealed record StatusMessage(int Schema, string State, string SiteId, string DeviceId, string? Version, DateTime? BootTime,
    DateTime? StartedAt, string? ConfigHash, string? OwnerKeyId, string? Reason)
{
    /// <summary>The device signing key's public half, base64 SubjectPublicKeyInfo; absent when the box has none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? DevicePublicKey { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public AuditHead? AuditHead { get; init; }
}

public sealed record CameraHealth(string Id, string State, double? BitrateKbps, DateTime? LastSegmentEnd);
public sealed record VolumeHealth(string Path, bool Active, double? UsedPercent, long? FreeBytes, double? FreeDays);
public sealed record OutboxHealth(long Messages, long Bytes, int ClipsPending, bool OverBound);

public sealed record BoardHealthMessage
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? CpuTemperatureC { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? UnderVoltageNow { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? UnderVoltageSinceBoot { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? ThrottledNow { get; init; }
}

public sealed record LastEvent(string Kind, DateTime At);

public sealed record HealthMessage(int Schema, DateTime At, double UptimeSeconds, IReadOnlyList<CameraHealth> Cameras,
    IReadOnlyList<VolumeHealth> Volumes, OutboxHealth Outbox, bool ClockSynchronised, BoardHealthMessage Board, LastEvent? LastEvent)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public AuditHead? AuditHead { get; init; }
}

public sealed record EventPayload(long Id, string Kind, string? Door, IReadOnlyList<string> Cameras, DateTime Start, DateTime? End,
    string DecidedBy, string? Detail);

public sealed record EventMessage(int Schema, long Id, string Stream, EventPayload Event);

public sealed record SegmentManifest(long Id, string Camera, DateTime Start, DateTime End, double DurationSeconds, long Bytes,
    long StoredBytes, string StoredSha256, bool ClockTrusted, string? OwnerKeyId);

public sealed record SegmentsMessage(int Schema, long Id, string Stream, IReadOnlyList<SegmentManifest> Segments);

/// <summary>
/// One record of the box's hash-chained audit trail, with every field its hash covers (docs/design/audit.md, "The
/// encoding"), so the central can recompute each hash and check that each record chains to the one before it.
/// </summary>
public sealed record AuditEntry(long Seq, string PrevHash, string Hash, DateTime At, string Action, string User, string Detail,
    string? Purpose, string? Recipient);

public sealed record AuditMessage(int Schema, long Id, string Stream, IReadOnlyList<AuditEntry> Records);

/// <param name="RelativePath">The segment's path below its volume, with '/': the sealed file's key wrap is bound to it, so the central needs it to open the segment.</param>
public sealed record ClipSegment(long Id, string Camera, DateTime Start, DateTime End, string Container, long StoredBytes,
    string StoredSha256, string? WrappedKey, string? OwnerKeyId, int Chunks, string RelativePath);

public sealed record ClipManifest(int Schema, string ClipId, long FlagId, string Reason, DateTime From, DateTime To,
    IReadOnlyList<string> Cameras, int ChunkBytes, IReadOnlyList<ClipSegment> Segments)
{
    public static int ChunksFor(long storedBytes, int chunkBytes) => storedBytes == 0 ? 1 : (int)((storedBytes + chunkBytes - 1) / chunkBytes);
}

/// <summary>The envelope on R/cmd/{name}: the body's exact bytes (base64) and the signature over them.</summary>
public sealed record SignedCommand(int Schema, string Body, string Signature);

public sealed record CommandBody(string Id, string Name, string SiteId, string DeviceId, DateTime IssuedAt, JsonElement Args);

public sealed record CommandReply(int Schema, string? CommandId, bool Ok, string? Error, string? Detail, JsonElement? Result);

/// <summary>User properties of a clip chunk (R/clips/{clipId}/chunk).</summary>
public static class ChunkProperties
{
    public const string Schema = "schema";
    public const string Segment = "segment";
    public const string Chunk = "chunk";
    public const string Chunks = "chunks";
    public const string Offset = "offset";
    /// <summary>CRC-32C of the payload (<see cref="ChunkChecksum"/>): what the box sends.</summary>
    public const string Crc32C = "crc32c";
    /// <summary>Hex SHA-256 of the payload: what boxes before the crc32c property sent; the central still accepts it.</summary>
    public const string Sha256 = "sha256";
}

/// <summary>
/// A chunk's transport checksum: CRC-32C (Castagnoli; reflected polynomial 0x82F63B78, initial value and final XOR
/// 0xFFFFFFFF; "123456789" gives e3069283) as 8 lowercase hex digits of the value. It only tells which chunk was
/// damaged on the way, so that the damage is found when the chunk arrives; it is unkeyed and travels beside the
/// payload, so it proves nothing against someone who can change both (nor did the SHA-256 it replaces). The
/// segment's storedSha256 (manifest and segments stream) and the sealed format's authenticated encryption are the
/// integrity checks (docs/protocol.md, "clip chunk").
/// </summary>
public static class ChunkChecksum
{
    public static string Crc32C(ReadOnlySpan<byte> payload) =>
        Value(payload).ToString("x8", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The same as UTF-8 bytes, for a user property.</summary>
    public static byte[] Crc32CUtf8(ReadOnlySpan<byte> payload)
    {
        var text = new byte[8];
        Value(payload).TryFormat(text, out _, "x8", System.Globalization.CultureInfo.InvariantCulture);
        return text;
    }

    // The CPU's CRC32 instruction (SSE4.2, ARMv8 CRC) through BitOperations, 8 bytes a step. Optimised at the first
    // call: a box that starts with a backlog uploads it at once, before tiered compilation would get to this loop.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static uint Value(ReadOnlySpan<byte> payload)
    {
        uint crc = 0xFFFFFFFF;
        int i = 0;
        // The instruction takes the 8 bytes least significant first: little-endian reads keep the byte order.
        for (; i + sizeof(ulong) <= payload.Length; i += sizeof(ulong))
            crc = System.Numerics.BitOperations.Crc32C(crc, System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(payload[i..]));
        for (; i < payload.Length; i++) crc = System.Numerics.BitOperations.Crc32C(crc, payload[i]);
        return ~crc;
    }
}

public static class SyncTopics
{
    public static string Status(string root) => root + "/status";
    public static string Health(string root) => root + "/health";
    public static string Stream(string root, string stream) => root + "/" + stream;
    public static string ClipManifest(string root, string clipId) => $"{root}/clips/{clipId}/manifest";
    public static string ClipChunk(string root, string clipId) => $"{root}/clips/{clipId}/chunk";
    public static string Commands(string root) => root + "/cmd/#";
    public static string CommandPrefix(string root) => root + "/cmd/";
    public static string Reply(string root, string name) => $"{root}/cmd-reply/{name}";
}
