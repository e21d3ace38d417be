// Checks a command from the central before anything acts on it (docs/protocol.md, "commands"): the envelope parses,
// the signature over the body's exact bytes verifies with the owner's command-signing key (ECDSA P-256, SHA-256,
// IEEE P1363), the body names this site and device and the topic's command, it was issued within the allowed age,
// and its id (the nonce) was never seen. The order matters: nothing unsigned reaches the nonce store, so a stranger
// cannot fill it or burn a real command's id.
using System.Security.Cryptography;
using System.Text.Json;
using Edge.Sync.Protocol;

namespace Edge.Sync;

public static class CommandErrors
{
    public const string Malformed = "malformed";
    public const string BadSignature = "bad_signature";
    public const string Expired = "expired";
    public const string Replayed = "replayed";
    public const string WrongDevice = "wrong_device";
    public const string UnknownCommand = "unknown_command";
    public const string Failed = "failed";
}

public sealed record CommandCheck(CommandBody? Body, string? Error, string? Detail)
{
    public bool Accepted => Error is null;
    public static CommandCheck Refuse(string error, string detail, CommandBody? body = null) => new(body, error, detail);
}

public sealed class CommandVerifier(ECDsa? publicKey, string siteId, string deviceId, TimeSpan maxAge, TimeProvider time)
{
    public static readonly IReadOnlySet<string> KnownNames = new HashSet<string> { "ping", "request-window", "resend", "clip-ack" };

    /// <param name="topicName">The last level of R/cmd/{name}.</param>
    /// <param name="rememberNonce">Records the id; false when it was seen before.</param>
    public CommandCheck Check(string topicName, ReadOnlySpan<byte> payload, Func<string, DateTime, bool> rememberNonce)
    {
        SignedCommand? envelope;
        try { envelope = JsonSerializer.Deserialize<SignedCommand>(payload, SyncJson.Options); }
        catch (JsonException e) { return CommandCheck.Refuse(CommandErrors.Malformed, $"not a JSON command envelope: {e.Message}"); }
        if (envelope is null || envelope.Body is null || envelope.Signature is null)
            return CommandCheck.Refuse(CommandErrors.Malformed, "expected {\"schema\":1,\"body\":\"<base64>\",\"signature\":\"<base64>\"}");
        if (envelope.Schema != SyncJson.Schema)
            return CommandCheck.Refuse(CommandErrors.Malformed, $"schema {envelope.Schema} is not known; expected {SyncJson.Schema}");
        byte[] body, signature;
        try
        {
            body = Convert.FromBase64String(envelope.Body);
            signature = Convert.FromBase64String(envelope.Signature);
        }
        catch (FormatException) { return CommandCheck.Refuse(CommandErrors.Malformed, "body or signature is not base64"); }

        if (publicKey is null)
            return CommandCheck.Refuse(CommandErrors.BadSignature, "this box has no sync.commandPublicKey, so no command can be verified");
        if (signature.Length != 64 || !publicKey.VerifyData(body, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
            return CommandCheck.Refuse(CommandErrors.BadSignature, "the signature does not verify with the owner's command-signing key (owner-sign.pub)");

        CommandBody? command;
        try { command = JsonSerializer.Deserialize<CommandBody>(body, SyncJson.Options); }
        catch (JsonException e) { return CommandCheck.Refuse(CommandErrors.Malformed, $"the signed body is not a command: {e.Message}"); }
        if (command is null || string.IsNullOrEmpty(command.Id) || string.IsNullOrEmpty(command.Name) || command.SiteId is null || command.DeviceId is null
            || command.IssuedAt == default)
            return CommandCheck.Refuse(CommandErrors.Malformed, "the body needs id, name, siteId, deviceId and issuedAt");
        if (command.Name != topicName)
            return CommandCheck.Refuse(CommandErrors.Malformed, $"the body's name '{command.Name}' is not the topic's '{topicName}'", command);
        if (command.SiteId != siteId || command.DeviceId != deviceId)
            return CommandCheck.Refuse(CommandErrors.WrongDevice, $"addressed to {command.SiteId}/{command.DeviceId}; this is {siteId}/{deviceId}", command);
        var now = time.GetUtcNow().UtcDateTime;
        var skew = (now - command.IssuedAt).Duration();
        if (skew > maxAge)
            return CommandCheck.Refuse(CommandErrors.Expired,
                $"issued {command.IssuedAt:yyyy-MM-dd'T'HH:mm:ss'Z'} is {skew.TotalSeconds:0} s from the box's clock ({now:yyyy-MM-dd'T'HH:mm:ss'Z'}); at most {maxAge.TotalSeconds:0} s", command);
        if (!rememberNonce(command.Id, now))
            return CommandCheck.Refuse(CommandErrors.Replayed, $"command id {command.Id} was already received", command);
        if (!KnownNames.Contains(command.Name))
            return CommandCheck.Refuse(CommandErrors.UnknownCommand, $"'{command.Name}' is not a command this box knows ({string.Join(", ", KnownNames)})", command);
        return new CommandCheck(command, null, null);
    }
}

/// <summary>Signing commands (the central) and the key file names; the files themselves are Edge.Agent.Sealing.CommandSigningKeys.</summary>
public static class CommandSigning
{
    public const string PrivateKeyFileName = "owner-sign.key";
    public const string PublicKeyFileName = "owner-sign.pub";

    /// <summary>A new command body with a fresh nonce (a random UUID), issued now; args is serialised as the command's object.</summary>
    public static CommandBody NewBody(string name, string siteId, string deviceId, TimeProvider time, object? args = null) =>
        new(Guid.NewGuid().ToString(), name, siteId, deviceId, time.GetUtcNow().UtcDateTime,
            JsonSerializer.SerializeToElement(args ?? new { }, SyncJson.Options));

    /// <summary>The envelope for a command body, signed with the owner's command-signing key: the bytes to publish on R/cmd/{name}.</summary>
    public static byte[] Sign(ECDsa privateKey, CommandBody body)
    {
        var bodyBytes = JsonSerializer.SerializeToUtf8Bytes(body, SyncJson.Options);
        var signature = privateKey.SignData(bodyBytes, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return SyncJson.Serialize(new SignedCommand(SyncJson.Schema, Convert.ToBase64String(bodyBytes), Convert.ToBase64String(signature)));
    }
}
