// First-boot provisioning: installs a checked ProvisionPlan into a root directory ("/" on the box, a scratch directory
// in tests): keys first, edge.json last (edge.service waits for edge.json, so it never starts on half a
// provisioning), then the result file for the technician, then the provision file is removed from the boot
// partition because it holds secrets. Safe to re-run: keys that exist (index key, device key) are kept, never
// regenerated, because a new index key would make the existing index unreadable.
// Owners are applied only when running as root and the target root's passwd knows the `edge` user; modes always.
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Edge.Agent.Index;
using Edge.Agent.Storage;
using Edge.Hardware.Storage;

namespace Edge.Agent.Provisioning;

public sealed record ProvisionOutcome(bool Succeeded, IReadOnlyList<string> Lines, string? ResultFile);

public sealed class Provisioner(string root, TimeProvider time)
{
    public const string ServiceUser = "edge";
    public const string ServiceGroup = "edge";

    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Mode0640 = Mode0600 | UnixFileMode.GroupRead;
    private const UnixFileMode Mode0644 = Mode0640 | UnixFileMode.OtherRead;
    private const UnixFileMode Mode0700 = Mode0600 | UnixFileMode.UserExecute;
    private const UnixFileMode Mode0750 = Mode0700 | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;

    private readonly string _root = Path.GetFullPath(root);
    private readonly UnixOwnership _owners = UnixOwnership.For(Path.GetFullPath(root));

    /// <summary>Maps a box path (/etc/edge/edge.json) into the root being provisioned.</summary>
    public string InRoot(string boxPath) => Path.Join(_root, boxPath.TrimStart('/'));

    /// <summary>Whether files get their owners (root, the edge user exists in the root's passwd); otherwise only modes.</summary>
    public bool AppliesOwners => _owners.CanChown;

    /// <summary>
    /// Checks the provision file and installs it. A file with problems changes nothing in the root; either way a
    /// result file is written beside the provision file for the technician.
    /// </summary>
    public ProvisionOutcome Run(string provisionFile)
    {
        var resultPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(provisionFile))!, ProvisionFile.ResultFileName);
        var lines = new List<string>();
        ProvisionPlan plan;
        try
        {
            // The box's clock may be wrong before NTP (no RTC): certificate dates were checked on the laptop.
            plan = ProvisionFile.Load(provisionFile, time, clockTrusted: false);
        }
        catch (ProvisionException e)
        {
            lines.Add($"FAILED: {e.File} has {e.Problems.Count} problem(s); nothing on the box was changed:");
            lines.AddRange(e.Problems.Select(p => "  - " + p));
            lines.Add("Fix them (check the file first with `edge provision --check FILE`), write it to the boot partition again and reboot.");
            lines.Add($"The provision file was left in place; it holds secrets, so remove it if you do not reboot with a corrected one.");
            WriteResult(resultPath, lines);
            return new ProvisionOutcome(false, lines, resultPath);
        }

        try
        {
            Install(plan, lines);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or IndexException)
        {
            lines.Add($"FAILED while installing: {e.Message}");
            lines.Add("What is listed above was installed; running `edge provision` again (or rebooting) repeats the rest safely.");
            WriteResult(resultPath, lines);
            return new ProvisionOutcome(false, lines, resultPath);
        }

        lines.Add($"Removed {plan.SourcePath} from the boot partition (it holds secrets).");
        lines.Add("Next: the edge service starts by itself; check it with `systemctl status edge` and `edge status --config /etc/edge/edge.json`.");
        lines.Insert(0, $"OK: provisioned site {plan.Settings.SiteId}, device {plan.Settings.DeviceId} at {time.GetUtcNow():yyyy-MM-dd HH:mm:ss} UTC");
        WriteResult(resultPath, lines);
        try
        {
            RemoveProvisionFile(plan.SourcePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            lines.RemoveAll(l => l.StartsWith("Removed ", StringComparison.Ordinal));
            lines.Add($"FAILED to remove {plan.SourcePath} ({e.Message}): it holds secrets. Delete it by hand (or from the laptop) now.");
            WriteResult(resultPath, lines);
            return new ProvisionOutcome(false, lines, resultPath);
        }
        return new ProvisionOutcome(true, lines, resultPath);
    }

    private void Install(ProvisionPlan plan, List<string> lines)
    {
        foreach (var note in plan.Notes) lines.Add("note: " + note);

        CreateDirectory(BoxPaths.ConfigDirectory, Mode0750, "root", ServiceGroup);
        CreateDirectory(BoxPaths.StateDirectory, Mode0750, ServiceUser, ServiceGroup);
        CreateDirectory(BoxPaths.KeysDirectory, Mode0700, ServiceUser, ServiceGroup);

        if (plan.OwnerPublicKeyPem is { } owner)
        {
            WriteFile(BoxPaths.OwnerPublicKey, Pem(owner), Mode0644, ServiceUser, ServiceGroup);
            lines.Add($"owner public key {plan.OwnerKeyId} -> {BoxPaths.OwnerPublicKey} (0644)");
        }
        if (plan.BrokerCaPem is { } ca)
        {
            WriteFile(BoxPaths.BrokerCa, Pem(ca), Mode0644, ServiceUser, ServiceGroup);
            lines.Add($"broker CA certificate -> {BoxPaths.BrokerCa} (0644)");
        }
        if (plan.ClientCertificatePem is { } client && plan.ClientKeyPem is { } clientKey)
        {
            WriteFile(BoxPaths.ClientCertificate, Pem(client), Mode0644, ServiceUser, ServiceGroup);
            WriteFile(BoxPaths.ClientKey, Pem(clientKey), Mode0600, ServiceUser, ServiceGroup);
            lines.Add($"client certificate -> {BoxPaths.ClientCertificate} (0644), its key -> {BoxPaths.ClientKey} (0600)");
        }

        // The index key path comes from edge.json (index.keyFile), so the agent finds the key where it looks.
        var indexKey = plan.Settings.IndexKeyFile;
        bool indexKeyExisted = File.Exists(InRoot(indexKey));
        EnsureParent(indexKey, Mode0700);
        IndexKeyFile.LoadOrCreate(InRoot(indexKey), create: true);
        Own(indexKey, ServiceUser, ServiceGroup);
        lines.Add(indexKeyExisted ? $"index key {indexKey}: kept (it already existed)" : $"index key {indexKey}: created (32 random bytes, 0600)");

        // The device signing key lives beside the index key (Sealing/DeviceSigningKey.cs), where `edge run` looks.
        var deviceKeyPath = Path.Combine(Path.GetDirectoryName(indexKey)!, Edge.Agent.Sealing.DeviceSigningKey.PrivateKeyFileName);
        var devicePublicPath = Path.Combine(Path.GetDirectoryName(indexKey)!, Edge.Agent.Sealing.DeviceSigningKey.PublicKeyFileName);
        var (deviceKeyId, deviceCreated) = EnsureDeviceKey(deviceKeyPath, devicePublicPath);
        lines.Add($"device signing key {deviceKeyPath}: {(deviceCreated ? "created" : "kept (it already existed)")} " +
                  $"(ECDSA P-256, 0600); public key {devicePublicPath}, id {deviceKeyId}");

        foreach (var volume in plan.Settings.Volumes)
        {
            var inRoot = InRoot(volume);
            if (VolumeMarker.TryRead(inRoot) is { } existing)
                lines.Add($"volume {volume}: already marked (volume {existing.VolumeId})");
            else if (Directory.Exists(inRoot))
            {
                var marker = VolumeMarker.Write(inRoot, time);
                Own(volume, ServiceUser, ServiceGroup);
                Own(volume + "/" + VolumeMarker.FileName, ServiceUser, ServiceGroup);
                lines.Add($"volume {volume}: marked as volume {marker.VolumeId}");
            }
            else
                lines.Add($"volume {volume}: NOT marked: it does not exist. Mount the disk there, then run `edge volumes init {volume}`; until then edge records to the other volumes");
        }

        // Last: edge.service starts only once edge.json exists (ConditionPathExists), so it never sees half a provisioning.
        var json = plan.Config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
        WriteFile(ProvisionFile.ConfigPath, Encoding.UTF8.GetBytes(json), Mode0640, "root", ServiceGroup);
        lines.Add($"configuration -> {ProvisionFile.ConfigPath} (0640 root:edge): {plan.Settings.Cameras.Count} camera(s), " +
                  $"{plan.Config["doors"]?.AsArray().Count ?? 0} door(s), time zone {plan.Settings.TimeZone.Id}");
        if (!AppliesOwners)
            lines.Add(_owners.WhyNot is { } why ? $"note: owners were not applied ({why}); modes were" : "note: owners were not applied; modes were");
    }

    /// <summary>The box's own identity key for signing what it reports (ECDSA P-256, PKCS#8 PEM). Created once, then kept.</summary>
    private (string KeyId, bool Created) EnsureDeviceKey(string deviceKey, string devicePublicKey)
    {
        var path = InRoot(deviceKey);
        bool created = false;
        using var key = ECDsa.Create();
        if (File.Exists(path))
        {
            try { key.ImportFromPem(File.ReadAllText(path)); }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                throw new IOException($"the device key {deviceKey} exists but is not a PEM ECDSA key ({e.Message}); " +
                                      "it was left as it is. Move it aside if this box may get a new identity, then run `edge provision` again", e);
            }
        }
        else
        {
            key.GenerateKey(ECCurve.NamedCurves.nistP256);
            WriteFile(deviceKey, Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem() + "\n"), Mode0600, ServiceUser, ServiceGroup);
            created = true;
        }
        var spki = key.ExportSubjectPublicKeyInfo();
        WriteFile(devicePublicKey, Encoding.ASCII.GetBytes(key.ExportSubjectPublicKeyInfoPem() + "\n"), Mode0644, ServiceUser, ServiceGroup);
        return (Convert.ToHexStringLower(SHA256.HashData(spki))[..16], created);
    }

    private static byte[] Pem(string pem) => Encoding.ASCII.GetBytes(pem.Replace("\r\n", "\n").Trim() + "\n");

    private void CreateDirectory(string boxPath, UnixFileMode mode, string owner, string group)
    {
        var path = InRoot(boxPath);
        if (!Directory.Exists(path)) DurableFile.CreateDirectoryDurably(path);
        File.SetUnixFileMode(path, mode);
        Own(boxPath, owner, group);
    }

    private void EnsureParent(string boxPath, UnixFileMode mode)
    {
        var parent = Path.GetDirectoryName(boxPath)!;
        if (!Directory.Exists(InRoot(parent))) CreateDirectory(parent, mode, ServiceUser, ServiceGroup);
    }

    /// <summary>Writes under a temporary name with the final mode, fsyncs, renames over the old file, fsyncs the directory.</summary>
    private void WriteFile(string boxPath, byte[] content, UnixFileMode mode, string owner, string group)
    {
        var path = InRoot(boxPath);
        var directory = Path.GetDirectoryName(path)!;
        var temporary = $"{path}.tmp-{Convert.ToHexString(RandomNumberGenerator.GetBytes(4))}";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode };
        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }
            File.SetUnixFileMode(temporary, mode); // the umask may have taken bits off UnixCreateMode
            _owners.Chown(temporary, owner, group);
            File.Move(temporary, path, overwrite: true);
            DurableFile.FsyncDirectory(directory);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private void Own(string boxPath, string owner, string group) => _owners.Chown(InRoot(boxPath), owner, group);

    private static void WriteResult(string path, List<string> lines)
    {
        // The boot partition is FAT: no modes. CRLF so the file reads well in any editor on the technician's laptop.
        var text = string.Join("\r\n", lines.Prepend("edge provision result").Append(""));
        try
        {
            var temporary = path + ".tmp";
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
            {
                stream.Write(Encoding.UTF8.GetBytes(text));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
            TrySyncDirectory(Path.GetDirectoryName(path)!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The result file is a courtesy; the same lines go to the journal through stdout.
            lines.Add($"note: could not write {path}: {e.Message}");
        }
    }

    /// <summary>
    /// Unlinks the provision file and makes the removal durable. Overwriting it first would be pointless: on an SD card
    /// the flash translation layer writes new data elsewhere, so the old blocks keep the secrets either way.
    /// </summary>
    private static void RemoveProvisionFile(string path)
    {
        File.Delete(path);
        TrySyncDirectory(Path.GetDirectoryName(path)!);
    }

    private static void TrySyncDirectory(string directory)
    {
        try { DurableFile.FsyncDirectory(directory); }
        catch (IOException) { /* some FAT drivers refuse fsync on a directory; the unmount at shutdown writes it */ }
    }
}
