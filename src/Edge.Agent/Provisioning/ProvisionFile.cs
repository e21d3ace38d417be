// The provision file a technician writes to the boot partition (/boot/firmware/edge-provision.json): everything one
// box needs at first boot. It is parsed and checked here, all at once, into a ProvisionPlan, or into the complete list
// of problems, each naming its key (config.cameras[0].id, certificates.clientKey). The edge.json part is checked by
// EdgeConfigValidator itself, so its messages read exactly as `edge run` would print them, prefixed with "config.".
// Nothing here touches the disk except reading the file. The format is documented in docs/guide/install.md.
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using Edge.Agent.Configuration;

namespace Edge.Agent.Provisioning;

/// <summary>A checked provision file: what to install, already validated.</summary>
public sealed record ProvisionPlan(
    string SourcePath,
    EdgeSettings Settings,
    JsonObject Config,
    string? OwnerPublicKeyPem,
    string? OwnerKeyId,
    string? BrokerCaPem,
    string? ClientCertificatePem,
    string? ClientKeyPem,
    IReadOnlyList<string> Notes);

public static class ProvisionFile
{
    public const string Format = "edge-provision/1";
    public const string DefaultPath = "/boot/firmware/edge-provision.json";
    public const string ResultFileName = "edge-provision.result.txt";

    /// <summary>Where the box reads its configuration; provisioning writes it there and validates it as that file.</summary>
    public const string ConfigPath = "/etc/edge/edge.json";

    private static readonly string[] TopLevelKeys = ["format", "config", "sealing", "certificates"];
    private static readonly string[] CertificateKeys = ["brokerCa", "client", "clientKey"];

    /// <summary>Reads and checks the file. Throws <see cref="ProvisionException"/> with every problem found.</summary>
    /// <param name="clockTrusted">
    /// False on the box at first boot: a Pi without an RTC may not have the right time yet, so certificate dates are
    /// then reported as notes, not problems. True on the technician's laptop (`--check`).
    /// </param>
    public static ProvisionPlan Load(string path, TimeProvider time, bool clockTrusted = true)
    {
        var fullPath = Path.GetFullPath(path);
        string text;
        try { text = File.ReadAllText(fullPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ProvisionException(fullPath, [$"cannot read the provision file: {e.Message}"]);
        }
        return Parse(text, fullPath, time, clockTrusted);
    }

    public static ProvisionPlan Parse(string json, string sourcePath, TimeProvider time, bool clockTrusted = true)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, new JsonNodeOptions { PropertyNameCaseInsensitive = false },
                new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ProvisionException(sourcePath, [$"not valid JSON at line {(e.LineNumber ?? 0) + 1}: {e.Message.Split(" LineNumber:")[0]}"]);
        }
        if (root is not JsonObject top)
            throw new ProvisionException(sourcePath, ["the file must hold one JSON object with the keys format, config, sealing and certificates"]);

        var problems = new List<string>();
        var notes = new List<string>();
        foreach (var (key, _) in top)
            if (!TopLevelKeys.Contains(key, StringComparer.Ordinal))
                problems.Add($"{key}: unknown key (expected {string.Join(", ", TopLevelKeys)}; see docs/guide/install.md)");

        var format = String(top, "format", "format", problems);
        if (format is null) problems.Add($"format: is required (expected \"{Format}\")");
        else if (format != Format) problems.Add($"format: unknown format '{format}' (expected \"{Format}\"; this edge is {ThisVersion})");

        // sealing.ownerPublicKey carries the key itself here; edge.json carries the path it is installed at.
        string? ownerPem = null, ownerKeyId = null;
        if (Object(top, "sealing", "sealing", problems) is { } sealing)
        {
            foreach (var (key, _) in sealing)
                if (key != "ownerPublicKey") problems.Add($"sealing.{key}: unknown key (expected ownerPublicKey)");
            ownerPem = String(sealing, "ownerPublicKey", "sealing.ownerPublicKey", problems);
            if (ownerPem is not null) ownerKeyId = CheckOwnerPublicKey(ownerPem, problems);
        }
        else if (!top.ContainsKey("sealing"))
            problems.Add("sealing.ownerPublicKey: is required: the owner's public key (the PEM text of owner.pub from `edge keys init-owner`); every segment is sealed to it");

        string? ca = null, client = null, clientKey = null;
        if (Object(top, "certificates", "certificates", problems) is { } certificates)
        {
            foreach (var (key, _) in certificates)
                if (!CertificateKeys.Contains(key, StringComparer.Ordinal))
                    problems.Add($"certificates.{key}: unknown key (expected {string.Join(", ", CertificateKeys)})");
            ca = String(certificates, "brokerCa", "certificates.brokerCa", problems);
            client = String(certificates, "client", "certificates.client", problems);
            clientKey = String(certificates, "clientKey", "certificates.clientKey", problems);
            CheckCertificates(ca, client, clientKey, time, clockTrusted ? problems : notes, problems);
        }

        EdgeSettings? settings = null;
        JsonObject? config = null;
        if (!top.ContainsKey("config")) problems.Add("config: is required (the edge.json of this box; see docs/ref/config.md)");
        else if (top["config"] is not JsonObject c) problems.Add("config: must be a JSON object (the edge.json of this box)");
        else
        {
            config = BoxDefaults();
            Merge(config, (JsonObject)c.DeepClone());
            if (config.ContainsKey("sealing"))
                problems.Add("config.sealing: leave it out: the owner key goes in sealing.ownerPublicKey at the top of the provision file, and provisioning writes config.sealing itself");
            else if (ownerPem is not null && ConfigKnowsSealing) config["sealing"] = new JsonObject { ["ownerPublicKey"] = BoxPaths.OwnerPublicKey };
            // The validator opens the owner key file, which is installed only after validation: validate against a
            // temporary copy of the key from this file, then keep the box's path in the config that is written.
            string? ownerCopy = ownerPem is not null && ownerKeyId is not null ? Path.Combine(Path.GetTempPath(), $"edge-provision-{Guid.NewGuid():N}.pub") : null;
            try
            {
                var checkedConfig = (JsonObject)config.DeepClone();
                if (ownerCopy is not null && checkedConfig["sealing"] is JsonObject checkedSealing)
                {
                    File.WriteAllText(ownerCopy, ownerPem);
                    checkedSealing["ownerPublicKey"] = ownerCopy;
                }
                settings = EdgeConfigLoader.Parse(checkedConfig.ToJsonString(), ConfigPath) with { OwnerPublicKeyFile = BoxPaths.OwnerPublicKey };
            }
            catch (ConfigException e)
            {
                // Without the owner key the validator's own "sealing.ownerPublicKey: is required" repeats the problem above.
                problems.AddRange(e.Problems.Where(p => ownerPem is not null || !p.StartsWith("sealing.", StringComparison.Ordinal)).Select(p => "config." + p));
            }
            finally
            {
                if (ownerCopy is not null) File.Delete(ownerCopy);
            }
            if (ownerPem is not null && !ConfigKnowsSealing)
                notes.Add($"this edge build does not read sealing from edge.json yet: owner.pub is installed at {BoxPaths.OwnerPublicKey} but not used");
        }

        if (problems.Count > 0) throw new ProvisionException(sourcePath, problems);
        return new ProvisionPlan(sourcePath, settings!, config!, ownerPem, ownerKeyId, ca, client, clientKey, notes);
    }

    /// <summary>
    /// True when edge.json has a `sealing` section in this build. Sealing is being merged beside this code; until it is,
    /// writing `sealing` into edge.json would make the file invalid (unknown key).
    /// </summary>
    internal static bool ConfigKnowsSealing => typeof(EdgeConfig).GetProperty("Sealing") is not null;

    /// <summary>packaging/edge.default.json, built in: the box's paths and defaults under the provision file's config.</summary>
    public static JsonObject BoxDefaults()
    {
        using var stream = typeof(ProvisionFile).Assembly.GetManifestResourceStream("edge.default.json")
            ?? throw new InvalidOperationException("edge.default.json is not built into this edge (see Edge.Agent.csproj)");
        return JsonNode.Parse(stream, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip })!.AsObject();
    }

    /// <summary>Lays <paramref name="over"/> onto <paramref name="under"/>: objects merge key by key, anything else replaces.</summary>
    internal static void Merge(JsonObject under, JsonObject over)
    {
        foreach (var (key, value) in over.ToList())
        {
            over.Remove(key);
            // edge.json keys are case-insensitive: "Storage" over "storage" must merge, not make two keys.
            var existing = under.Select(p => p.Key).FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
            if (existing is not null && under[existing] is JsonObject target && value is JsonObject source) Merge(target, source);
            else
            {
                if (existing is not null) under.Remove(existing);
                under[key] = value;
            }
        }
    }

    private static string ThisVersion => "edge " + (typeof(ProvisionFile).Assembly.GetName().Version?.ToString(3) ?? "?");

    private static string? String(JsonObject parent, string key, string path, List<string> problems)
    {
        if (!parent.TryGetPropertyValue(key, out var node) || node is null) return null;
        if (node is JsonValue v && v.TryGetValue<string>(out var s))
        {
            if (string.IsNullOrWhiteSpace(s)) { problems.Add($"{path}: must not be empty"); return null; }
            return s;
        }
        problems.Add($"{path}: must be a string (found {node.GetValueKind()})");
        return null;
    }

    private static JsonObject? Object(JsonObject parent, string key, string path, List<string> problems)
    {
        if (!parent.TryGetPropertyValue(key, out var node) || node is null) return null;
        if (node is JsonObject o) return o;
        problems.Add($"{path}: must be a JSON object (found {node.GetValueKind()})");
        return null;
    }

    /// <summary>The owner key must be a P-256 public key. A private key here would put the only key that opens footage on the box.</summary>
    private static string? CheckOwnerPublicKey(string pem, List<string> problems)
    {
        const string key = "sealing.ownerPublicKey";
        if (pem.Contains("PRIVATE KEY", StringComparison.Ordinal))
        {
            problems.Add($"{key}: this is a private key; expected the owner's public key (owner.pub from `edge keys init-owner`). " +
                         "The private key must never be on the box: delete it from this file and keep it with the owner");
            return null;
        }
        if (!PemEncoding.TryFind(pem, out var fields) || pem[fields.Label] != "PUBLIC KEY")
        {
            problems.Add($"{key}: expected a PEM block '-----BEGIN PUBLIC KEY-----' (owner.pub from `edge keys init-owner`)");
            return null;
        }
        try
        {
            var der = Convert.FromBase64String(pem[fields.Base64Data]);
            using var ecdh = ECDiffieHellman.Create();
            ecdh.ImportSubjectPublicKeyInfo(der, out _);
            var curve = ecdh.ExportParameters(false).Curve;
            if (curve.Oid?.Value != "1.2.840.10045.3.1.7" && curve.Oid?.FriendlyName is not ("nistP256" or "ECDSA_P256"))
            {
                problems.Add($"{key}: expected a P-256 public key (found curve {curve.Oid?.FriendlyName ?? curve.Oid?.Value ?? "unknown"})");
                return null;
            }
            return Convert.ToHexStringLower(SHA256.HashData(der))[..16];
        }
        catch (Exception e) when (e is CryptographicException or FormatException)
        {
            problems.Add($"{key}: not an elliptic-curve P-256 public key ({e.Message.TrimEnd('.')}); expected owner.pub from `edge keys init-owner`");
            return null;
        }
    }

    /// <param name="dateProblems">where certificate-date problems go: <paramref name="problems"/>, or notes when the clock is not trusted.</param>
    private static void CheckCertificates(string? ca, string? client, string? clientKey, TimeProvider time, List<string> dateProblems, List<string> problems)
    {
        var now = time.GetUtcNow();
        if (ca is not null)
        {
            try
            {
                var all = new X509Certificate2Collection();
                all.ImportFromPem(ca);
                if (all.Count == 0) problems.Add("certificates.brokerCa: no '-----BEGIN CERTIFICATE-----' block found; expected the broker's CA certificate in PEM");
                foreach (var cert in all) CheckValidity(cert, "certificates.brokerCa", now, dateProblems);
            }
            catch (CryptographicException e)
            {
                problems.Add($"certificates.brokerCa: not a PEM certificate ({e.Message.TrimEnd('.')}); expected the broker's CA certificate");
            }
        }
        if ((client is null) != (clientKey is null))
        {
            problems.Add(client is null
                ? "certificates.client: is required when certificates.clientKey is given (the box's client certificate, PEM)"
                : "certificates.clientKey: is required when certificates.client is given (the client certificate's private key, PEM, unencrypted)");
            return;
        }
        if (client is null || clientKey is null) return;
        if (clientKey.Contains("ENCRYPTED", StringComparison.Ordinal))
        {
            problems.Add("certificates.clientKey: the key is encrypted; expected an unencrypted PEM key (the box must use it unattended; it is installed with mode 0600)");
            return;
        }
        X509Certificate2 certificate;
        try { certificate = X509Certificate2.CreateFromPem(client); }
        catch (CryptographicException e)
        {
            problems.Add($"certificates.client: not a PEM certificate ({e.Message.TrimEnd('.')}); expected '-----BEGIN CERTIFICATE-----'");
            return;
        }
        using (certificate)
        {
            CheckValidity(certificate, "certificates.client", now, dateProblems);
            try
            {
                using var paired = X509Certificate2.CreateFromPem(client, clientKey);
                if (!paired.HasPrivateKey) problems.Add("certificates.clientKey: does not pair with certificates.client");
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                problems.Add(IsPrivateKey(clientKey)
                    ? "certificates.clientKey: not the private key of certificates.client; expected the PEM key the client certificate was issued for"
                    : $"certificates.clientKey: not a usable PEM private key ({e.Message.TrimEnd('.')}); expected '-----BEGIN PRIVATE KEY-----' (or EC/RSA PRIVATE KEY), unencrypted");
            }
        }
    }

    private static bool IsPrivateKey(string pem)
    {
        try { using var ec = ECDsa.Create(); ec.ImportFromPem(pem); return true; }
        catch (Exception e) when (e is CryptographicException or ArgumentException) { }
        try { using var rsa = RSA.Create(); rsa.ImportFromPem(pem); return true; }
        catch (Exception e) when (e is CryptographicException or ArgumentException) { return false; }
    }

    private static void CheckValidity(X509Certificate2 cert, string key, DateTimeOffset now, List<string> problems)
    {
        if (now.UtcDateTime > cert.NotAfter.ToUniversalTime())
            problems.Add($"{key}: certificate '{cert.Subject}' expired on {cert.NotAfter.ToUniversalTime():yyyy-MM-dd}; issue a new one");
        else if (now.UtcDateTime < cert.NotBefore.ToUniversalTime())
            problems.Add($"{key}: certificate '{cert.Subject}' is valid only from {cert.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm} UTC; check this computer's clock, or the issuer's");
    }
}

/// <summary>The box's fixed paths for what provisioning installs (inside --root).</summary>
public static class BoxPaths
{
    public const string ConfigDirectory = "/etc/edge";
    public const string StateDirectory = "/var/lib/edge";
    public const string KeysDirectory = "/var/lib/edge/keys";
    public const string OwnerPublicKey = "/var/lib/edge/keys/owner.pub";
    public const string BrokerCa = "/var/lib/edge/keys/broker-ca.crt";
    public const string ClientCertificate = "/var/lib/edge/keys/client.crt";
    public const string ClientKey = "/var/lib/edge/keys/client.key";
    public const string DeviceKey = "/var/lib/edge/keys/device.key";
    public const string DevicePublicKey = "/var/lib/edge/keys/device.pub";
}

/// <summary>A provision file that cannot be used: every problem, each naming its key.</summary>
public sealed class ProvisionException(string file, IReadOnlyList<string> problems)
    : Exception($"{file}: {string.Join("; ", problems)}")
{
    public string File { get; } = file;
    public IReadOnlyList<string> Problems { get; } = problems;
}
