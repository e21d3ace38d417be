// Signed commands (docs/protocol.md, "commands"): the envelope {"schema":1,"body":<base64>,"signature":<base64>} whose
// signature is ECDSA P-256 / SHA-256 in IEEE P1363 form (r ‖ s, 64 bytes) over the exact body bytes, so neither side
// needs JSON canonicalisation. The central signs with owner-sign.key; the box (and tests) check with owner-sign.pub.
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Edge.Sync.Signing;

/// <summary>A command body as the central issues it (see docs/protocol.md). <c>Args</c> is the command's own object.</summary>
public sealed record CommandBody(string Id, string Name, string SiteId, string DeviceId, DateTimeOffset IssuedAt, JsonObject Args);

/// <summary>An envelope whose signature checked: the body bytes as signed, and the body parsed from them.</summary>
public sealed record VerifiedCommand(CommandBody Body, byte[] BodyBytes);

public sealed class CommandFormatException(string message) : Exception(message);

public static class CommandSigner
{
    public const int Schema = 1;

    /// <summary>The envelope's UTF-8 JSON bytes, ready to publish on R/cmd/{name}.</summary>
    public static byte[] Sign(CommandBody body, ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var bodyBytes = BodyBytes(body);
        var signature = key.SignData(bodyBytes, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return JsonSerializer.SerializeToUtf8Bytes(new JsonObject
        {
            ["schema"] = Schema,
            ["body"] = Convert.ToBase64String(bodyBytes),
            ["signature"] = Convert.ToBase64String(signature),
        });
    }

    /// <summary>A new command with a fresh nonce (a random UUID) issued now.</summary>
    public static CommandBody NewBody(string name, string siteId, string deviceId, TimeProvider time, JsonObject? args = null) =>
        new(Guid.NewGuid().ToString(), name, siteId, deviceId, time.GetUtcNow(), args ?? new JsonObject());

    public static byte[] BodyBytes(CommandBody body) => JsonSerializer.SerializeToUtf8Bytes(new JsonObject
    {
        ["id"] = body.Id,
        ["name"] = body.Name,
        ["siteId"] = body.SiteId,
        ["deviceId"] = body.DeviceId,
        ["issuedAt"] = ProtocolTime.Format(body.IssuedAt),
        ["args"] = body.Args.DeepClone(),
    });

    /// <summary>
    /// Checks the envelope's signature with <paramref name="publicKey"/> and parses the body. Throws
    /// CommandFormatException (malformed) or CryptographicException (bad signature). Freshness, replay and the
    /// device are the receiver's checks: they need its clock and its memory of nonces.
    /// </summary>
    public static VerifiedCommand Verify(ReadOnlySpan<byte> envelope, ECDsa publicKey)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(envelope.ToArray()); }
        catch (JsonException e) { throw new CommandFormatException($"not JSON: {e.Message}"); }
        if (root is not JsonObject o) throw new CommandFormatException("expected a JSON object");
        if (o["schema"] is not JsonValue s || !s.TryGetValue(out int schema) || schema != Schema)
            throw new CommandFormatException($"schema: expected {Schema}");
        var body = Base64(o, "body");
        var signature = Base64(o, "signature");
        if (!publicKey.VerifyData(body, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
            throw new CryptographicException("the signature does not verify with the command public key");
        return new VerifiedCommand(ParseBody(body), body);
    }

    public static CommandBody ParseBody(byte[] bodyBytes)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(bodyBytes); }
        catch (JsonException e) { throw new CommandFormatException($"body: not JSON: {e.Message}"); }
        if (node is not JsonObject b) throw new CommandFormatException("body: expected a JSON object");
        string Text(string key) => b[key] is JsonValue v && v.TryGetValue(out string? t) && t.Length > 0
            ? t : throw new CommandFormatException($"body.{key}: expected a non-empty string");
        var issued = ProtocolTime.TryParse(Text("issuedAt"))
                     ?? throw new CommandFormatException("body.issuedAt: expected an ISO 8601 UTC time");
        var args = b["args"] as JsonObject ?? throw new CommandFormatException("body.args: expected an object");
        return new CommandBody(Text("id"), Text("name"), Text("siteId"), Text("deviceId"), issued, (JsonObject)args.DeepClone());
    }

    private static byte[] Base64(JsonObject o, string key)
    {
        if (o[key] is not JsonValue v || !v.TryGetValue(out string? text))
            throw new CommandFormatException($"{key}: expected a base64 string");
        try { return Convert.FromBase64String(text); }
        catch (FormatException) { throw new CommandFormatException($"{key}: not valid base64"); }
    }
}

/// <summary>The protocol's times: UTC, ISO 8601 with Z, millisecond precision.</summary>
public static class ProtocolTime
{
    public static string Format(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    public static DateTimeOffset? TryParse(string? text) =>
        text is not null && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var t)
            ? t : null;
}
