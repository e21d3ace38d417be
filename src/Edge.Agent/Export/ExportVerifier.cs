// `edge export verify DIR`: needs no key and no box. Checks manifest.sig over the exact bytes of manifest.json
// (against the device public key the manifest carries, or a pinned device.pub), then every file the manifest lists
// (present, size, SHA-256), and that the directory holds nothing else. Every problem names its file.
using System.Security.Cryptography;
using System.Text.Json;
using Edge.Agent.Cli;
using Edge.Agent.Sealing;

namespace Edge.Agent.Export;

public sealed record ExportProblem(string File, string Problem);

/// <param name="Signature">"valid", "invalid", or "unchecked" (manifest or signature missing or unreadable).</param>
public sealed record ExportVerification(string Directory, bool Ok, string Signature, string? DeviceId, string? DeviceKeyId, int FilesChecked,
    IReadOnlyList<ExportProblem> Problems);

public static class ExportVerifier
{
    public static ExportVerification Verify(string directory, DevicePublicKey? pinned)
    {
        directory = Path.GetFullPath(directory);
        var problems = new List<ExportProblem>();
        if (!Directory.Exists(directory))
            return new ExportVerification(directory, false, "unchecked", null, null, 0, [new ExportProblem(directory, "does not exist or is not a directory")]);
        if (SealedExport.IsSealed(directory))
            return new ExportVerification(directory, false, "unchecked", null, null, 0,
                [new ExportProblem(SealedExport.IndexFileName, "this export is encrypted: decrypt it first with `edge export open DIR --out NEWDIR` (with --key or --passphrase-file), then verify NEWDIR")]);

        var manifestPath = Path.Combine(directory, ExportFiles.Manifest);
        var signaturePath = Path.Combine(directory, ExportFiles.Signature);
        byte[]? manifestBytes = File.Exists(manifestPath) ? File.ReadAllBytes(manifestPath) : null;
        byte[]? signature = File.Exists(signaturePath) ? File.ReadAllBytes(signaturePath) : null;
        if (manifestBytes is null) problems.Add(new ExportProblem(ExportFiles.Manifest, "missing: without it nothing can be checked"));
        if (signature is null) problems.Add(new ExportProblem(ExportFiles.Signature, "missing: the manifest cannot be shown to come from the device"));

        ExportManifest? manifest = null;
        if (manifestBytes is not null)
        {
            try { manifest = JsonSerializer.Deserialize<ExportManifest>(manifestBytes, CliJson.Options); }
            catch (JsonException e) { problems.Add(new ExportProblem(ExportFiles.Manifest, $"not a readable manifest ({e.Message}): it was changed or damaged")); }
            if (manifest is not null && manifest.Format != ExportFiles.Format)
                problems.Add(new ExportProblem(ExportFiles.Manifest, $"format '{manifest.Format}'; expected '{ExportFiles.Format}'"));
        }

        // The key to check against: the pinned device.pub if given, else the one the manifest names.
        DevicePublicKey? key = pinned;
        if (manifest?.Device?.SigningPublicKey is { } pem)
        {
            try
            {
                var named = DevicePublicKey.FromPem(pem, $"{ExportFiles.Manifest} device.signingPublicKey");
                if (pinned is not null && named.KeyId != pinned.KeyId)
                    problems.Add(new ExportProblem(ExportFiles.Manifest, $"names device key {named.KeyId}, but the pinned --device-key is {pinned.KeyId}: not signed by that device"));
                key ??= named;
            }
            catch (DeviceKeyException e) { problems.Add(new ExportProblem(ExportFiles.Manifest, e.Message)); }
        }
        var signatureState = "unchecked";
        if (manifestBytes is not null && signature is not null && key is not null)
        {
            signatureState = key.Verify(manifestBytes, signature) ? "valid" : "invalid";
            if (signatureState == "invalid")
                problems.Add(new ExportProblem(ExportFiles.Manifest, $"does not match its signature {ExportFiles.Signature} under device key {key.KeyId}: " +
                                                                     "the manifest (or the signature) was changed after the export was made"));
        }
        else if (manifestBytes is not null && signature is not null)
            problems.Add(new ExportProblem(ExportFiles.Signature, "cannot be checked: no device public key (the manifest names none readable; give --device-key device.pub)"));

        int checkedFiles = 0;
        var listed = new HashSet<string>(StringComparer.Ordinal) { ExportFiles.Manifest, ExportFiles.Signature };
        foreach (var file in manifest?.Files ?? [])
        {
            if (file?.Name is not { Length: > 0 } name || name.Contains('/') || name.Contains('\\') || name is "." or "..")
            {
                problems.Add(new ExportProblem(ExportFiles.Manifest, $"lists a file named '{file?.Name}', which is not a plain file name"));
                continue;
            }
            listed.Add(name);
            var path = Path.Combine(directory, name);
            if (!File.Exists(path))
            {
                problems.Add(new ExportProblem(name, "missing (listed in the manifest)"));
                continue;
            }
            checkedFiles++;
            long length = new FileInfo(path).Length;
            string sha;
            using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan))
                sha = Convert.ToHexStringLower(SHA256.HashData(stream));
            if (length != file.Bytes || sha != file.Sha256)
                problems.Add(new ExportProblem(name, $"changed: {length} bytes, SHA-256 {sha}; the manifest records {file.Bytes} bytes, SHA-256 {file.Sha256}"));
        }
        if (manifest is not null)
            foreach (var entry in Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(directory, entry);
                if (!listed.Contains(relative))
                    problems.Add(new ExportProblem(relative, Directory.Exists(entry) ? "a directory not in the manifest" : "not in the manifest: added after the export was made"));
            }

        return new ExportVerification(directory, problems.Count == 0, signatureState, manifest?.Device?.Id, key?.KeyId, checkedFiles, problems);
    }
}
