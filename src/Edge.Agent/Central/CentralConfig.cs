// central.json: the shape (every key a user can write; unknown keys are refused), its validation into CentralSettings,
// and the loading of the two owner keys it names. Reference: docs/ref/central-config.md. Errors name the key as a
// JSON path, like edge.json's (Configuration/EdgeConfigLoader.cs), and `edge central` exits 2 on them.
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Edge.Agent.Configuration;
using Edge.Agent.Sealing;

namespace Edge.Agent.Central;

public sealed class CentralConfig
{
    public string? Broker { get; set; }
    /// <summary>The MQTT client id; fixed so the broker keeps this receiver's session (and its queued messages) across restarts.</summary>
    public string? ClientId { get; set; }
    public string? CaFile { get; set; }
    public string? CertFile { get; set; }
    public string? KeyFile { get; set; }
    public string? Username { get; set; }
    public string? PasswordFile { get; set; }
    public string ShareGroup { get; set; } = "edge-central";
    public string? OwnerKey { get; set; }
    public string? CommandSigningKey { get; set; }
    public string? PassphraseFile { get; set; }
    public string? StoreDirectory { get; set; }
    public string StoreKeyFile { get; set; } = "keys/central-store.key";
    public string? OutputDirectory { get; set; }
    public string FfmpegPath { get; set; } = "ffmpeg";
    public double KeepAliveSeconds { get; set; } = 15;
    public double SessionExpirySeconds { get; set; } = 7 * 86400;
    public int MaxPacketBytes { get; set; } = 2 << 20;
}

/// <summary>central.json after validation: absolute paths, defaults applied.</summary>
public sealed record CentralSettings(
    string ConfigPath,
    Uri Broker,
    string ClientId,
    string? CaFile,
    string? CertFile,
    string? KeyFile,
    string? Username,
    string? PasswordFile,
    string ShareGroup,
    string OwnerKeyFile,
    string CommandSigningKeyFile,
    string? PassphraseFile,
    string StoreDirectory,
    string StoreKeyFile,
    string OutputDirectory,
    string FfmpegPath,
    TimeSpan KeepAlive,
    TimeSpan SessionExpiry,
    int MaxPacketBytes)
{
    public bool UseTls => Broker.Scheme == "mqtts";

    /// <summary>Loads owner.key (opens clips) and owner-sign.key (signs commands); a problem is a ConfigException naming the key.</summary>
    public (OwnerPrivateKey Owner, ECDsa Signer) LoadKeys()
    {
        string? passphrase = null;
        try { if (PassphraseFile is not null) passphrase = Passphrase.FromFile(PassphraseFile); }
        catch (OwnerKeyException e) { throw new ConfigException(ConfigPath, [$"passphraseFile: {e.Message}"]); }
        OwnerPrivateKey owner;
        try { owner = OwnerKeys.LoadPrivate(OwnerKeyFile, passphrase); }
        catch (OwnerKeyException e) { throw new ConfigException(ConfigPath, [$"ownerKey: {e.Message}"]); }
        try { return (owner, CommandSigningKeys.LoadPrivate(CommandSigningKeyFile, passphrase)); }
        catch (OwnerKeyException e)
        {
            owner.Dispose();
            throw new ConfigException(ConfigPath, [$"commandSigningKey: {e.Message}"]);
        }
    }
}

public static partial class CentralConfigLoader
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    // A topic level: no wildcards, no separators (it becomes $share/{group}/…).
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex LevelPattern();

    public static CentralSettings Load(string path)
    {
        var (config, fullPath) = ConfigJson.Load<CentralConfig>(path, JsonOptions);
        return Validate(config, fullPath);
    }

    public static CentralSettings Parse(string json, string fullPath) =>
        Validate(ConfigJson.Parse<CentralConfig>(json, fullPath, JsonOptions), fullPath);

    private static CentralSettings Validate(CentralConfig c, string configPath)
    {
        var problems = new List<string>();
        var baseDir = Path.GetDirectoryName(configPath)!;
        string Abs(string p) => Path.GetFullPath(Path.Combine(baseDir, p));
        string? File(string? value, string key, bool required = false)
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                if (required) problems.Add($"{key}: is required");
                return null;
            }
            var full = Abs(value);
            if (!System.IO.File.Exists(full)) problems.Add($"{key}: {full} does not exist");
            return full;
        }
        string? Dir(string? value, string key)
        {
            if (!string.IsNullOrWhiteSpace(value)) return Abs(value);
            problems.Add($"{key}: is required");
            return null;
        }

        Uri? broker = null;
        if (string.IsNullOrWhiteSpace(c.Broker))
            problems.Add("broker: is required (mqtts://host:8883, or mqtt://host:1883 on a trusted network)");
        else if (!Uri.TryCreate(c.Broker, UriKind.Absolute, out broker) || broker.Scheme is not ("mqtt" or "mqtts") || broker.Host.Length == 0)
            problems.Add($"broker: '{c.Broker}' is not an mqtt:// or mqtts:// URL with a host");
        var ca = File(c.CaFile, "caFile");
        var cert = File(c.CertFile, "certFile");
        var key = File(c.KeyFile, "keyFile");
        var password = File(c.PasswordFile, "passwordFile");
        if ((cert is null) != (key is null)) problems.Add("certFile: certFile and keyFile go together (a client certificate needs its key)");
        if ((ca is not null || cert is not null) && broker is { Scheme: "mqtt" })
            problems.Add("broker: certificates are configured but the broker URL is mqtt:// (use mqtts:// for TLS)");
        if (password is not null && string.IsNullOrWhiteSpace(c.Username)) problems.Add("username: is required when passwordFile is set");
        if (!LevelPattern().IsMatch(c.ShareGroup ?? ""))
            problems.Add($"shareGroup: '{c.ShareGroup}' is not a valid group name (letters, digits, '.', '_' and '-'; no '/', '+' or '#')");
        var clientId = string.IsNullOrWhiteSpace(c.ClientId) ? $"edge-central-{Environment.MachineName}" : c.ClientId;
        if (clientId.Length > 128) problems.Add($"clientId: at most 128 characters (found {clientId.Length})");
        var ownerKey = File(c.OwnerKey, "ownerKey", required: true);
        var signingKey = File(c.CommandSigningKey, "commandSigningKey", required: true);
        var passphrase = File(c.PassphraseFile, "passphraseFile");
        var store = Dir(c.StoreDirectory, "storeDirectory");
        var storeKey = string.IsNullOrWhiteSpace(c.StoreKeyFile) ? null : Abs(c.StoreKeyFile);
        if (storeKey is null) problems.Add("storeKeyFile: must not be empty");
        var output = Dir(c.OutputDirectory, "outputDirectory");
        if (store is not null && output is not null && store == output)
            problems.Add("outputDirectory: must differ from storeDirectory (the store holds ciphertext and the encrypted database; the output holds opened clips)");
        if (string.IsNullOrWhiteSpace(c.FfmpegPath)) problems.Add("ffmpegPath: must not be empty (default: ffmpeg on PATH)");
        if (c.KeepAliveSeconds is < 1 or > 3600) problems.Add($"keepAliveSeconds: must be from 1 to 3600 (found {c.KeepAliveSeconds})");
        if (c.SessionExpirySeconds is < 0 or > uint.MaxValue) problems.Add($"sessionExpirySeconds: must be from 0 to {uint.MaxValue} (found {c.SessionExpirySeconds})");
        if (c.MaxPacketBytes is < 64 * 1024 or > 256 << 20) problems.Add($"maxPacketBytes: must be from 65536 to 268435456 (found {c.MaxPacketBytes})");
        if (problems.Count > 0) throw new ConfigException(configPath, problems);

        return new CentralSettings(configPath, broker!, clientId, ca, cert, key, string.IsNullOrWhiteSpace(c.Username) ? null : c.Username, password,
            c.ShareGroup!, ownerKey!, signingKey!, passphrase, store!, storeKey!, output!, c.FfmpegPath,
            TimeSpan.FromSeconds(c.KeepAliveSeconds), TimeSpan.FromSeconds(c.SessionExpirySeconds), c.MaxPacketBytes);
    }
}
