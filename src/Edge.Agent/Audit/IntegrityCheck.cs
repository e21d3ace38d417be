// `edge verify`: the index against the disk, the audit chain, and the permissions of the box's secrets. Each problem
// is one Finding; nothing is repaired (reconcile at start-up repairs what a crash leaves; verify reports what it
// finds, for a person to act on). See docs/design/audit.md "edge verify".
//
// It runs beside a recording agent: records are read a page at a time (no query stays open while files are hashed,
// so the agent's writes never wait on it), a sealed file still being written (NAME.partial, younger than
// PartialGrace) is not an orphan, and a segment purged while verify ran is not missing.
using System.Security.Cryptography;
using Edge.Agent.Configuration;
using Edge.Agent.Index;
using Edge.Agent.Recording;
using Edge.Agent.Sealing;
using Edge.Agent.Storage;

namespace Edge.Agent.Audit;

public static class FindingKinds
{
    public const string SegmentMissing = "segment_missing";
    public const string SegmentChanged = "segment_changed";
    public const string SegmentUnreadable = "segment_unreadable";
    public const string SegmentMarkedMissing = "segment_marked_missing";
    public const string PurgedFilePresent = "purged_file_present";
    public const string OrphanFile = "orphan_file";
    public const string VolumeUnavailable = "volume_unavailable";
    public const string AuditChain = "audit_chain";
    public const string KeyFile = "key_file";
    public const string OwnerKeyOnBox = "owner_key_on_box";
    public const string ConfigFile = "config_file";
}

/// <param name="Subject">What the finding is about: a segment id, a path, "audit".</param>
public sealed record Finding(string Kind, string Subject, string Message);

public sealed record IntegrityReport(IReadOnlyList<Finding> Findings, long SegmentsChecked, long BytesHashed, long FilesChecked,
    long AuditRecordsChecked, int KeyFilesChecked)
{
    public bool Ok => Findings.Count == 0;

    public string Summary =>
        $"checked {SegmentsChecked} segment(s) ({BytesHashed / 1e6:0.0} MB hashed), {FilesChecked} file(s) on the volumes, " +
        $"{AuditRecordsChecked} audit record(s), {KeyFilesChecked} key file(s) and the configuration file";
}

/// <summary>Progress of the long part (hashing): bytes done of bytes to do.</summary>
public readonly record struct VerifyProgress(long BytesDone, long BytesTotal);

public sealed class IntegrityCheck(EdgeIndex index, EdgeSettings settings, TimeProvider time)
{
    /// <summary>A NAME.partial younger than this is a seal in progress, not a leftover.</summary>
    public static readonly TimeSpan PartialGrace = TimeSpan.FromMinutes(10);

    private const int PageSize = 500;
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                                              | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    public IntegrityReport Run(IProgress<VerifyProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var findings = new List<Finding>();
        var present = settings.Volumes.Where(v => VolumeMarker.TryRead(v) is not null).ToHashSet(StringComparer.Ordinal);

        // Files first: a file sealed after this listing has its record already (the record is durable before the
        // rename that publishes the file), so nothing published during the run can look orphaned.
        long files = CheckForOrphans(present, findings);
        var (segments, hashed) = CheckSegments(present, findings, progress, cancellationToken);

        var audit = index.VerifyAudit();
        if (!audit.Ok)
            findings.Add(new Finding(FindingKinds.AuditChain, "audit", AuditDescription(audit)));

        int keyFiles = CheckKeys(findings);
        CheckConfigFile(findings);
        return new IntegrityReport(findings, segments, hashed, files, audit.RecordsChecked, keyFiles);
    }

    /// <summary>Set by the command to word the audit line in the site's time (AuditCommand.Describe).</summary>
    public Func<AuditVerification, string> AuditDescription { get; init; } = v => v.Problem?.Explanation ?? "ok";

    private long CheckForOrphans(HashSet<string> present, List<Finding> findings)
    {
        long count = 0;
        foreach (var volume in present)
        {
            foreach (var cameraDir in Directory.EnumerateDirectories(volume))
            {
                if (Path.GetFileName(cameraDir) == Reconciler.QuarantineDirectoryName) continue;
                foreach (var file in Directory.EnumerateFiles(cameraDir, "*", SearchOption.AllDirectories))
                {
                    count++;
                    var relative = Path.GetRelativePath(volume, file);
                    if (file.EndsWith(SegmentLayout.PartialSuffix, StringComparison.Ordinal))
                    {
                        var age = time.GetUtcNow().UtcDateTime - File.GetLastWriteTimeUtc(file);
                        if (age > PartialGrace && File.Exists(file))
                            findings.Add(new Finding(FindingKinds.OrphanFile, file,
                                $"{file}: a seal that never finished ({age.TotalMinutes:0} min old); the agent removes or publishes it at its next start"));
                        continue;
                    }
                    if (index.HasSegmentAt(relative)) continue;
                    var info = new FileInfo(file);
                    if (!info.Exists) continue; // gone since the listing (a seal's temporary name, a person tidying up)
                    findings.Add(new Finding(FindingKinds.OrphanFile, file,
                        $"{file}: not in the index ({info.Length} bytes); {(file.EndsWith(SealedFormat.Extension, StringComparison.Ordinal) ? "a sealed segment without its record cannot be opened (its key was only in the index)" : "Edge never writes such a file here")}: find out where it came from before removing it"));
                }
            }
        }
        return count;
    }

    private (long Segments, long Bytes) CheckSegments(HashSet<string> present, List<Finding> findings, IProgress<VerifyProgress>? progress,
        CancellationToken cancellationToken)
    {
        // Pass 1, metadata only: the bytes to hash, for the progress bar, and the segments on volumes that are not there.
        long total = 0;
        var unavailable = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var segment in AllSegments())
        {
            if (segment.State != SegmentState.Stored) continue;
            if (present.Contains(segment.Volume)) total += segment.StoredBytes;
            else unavailable[segment.Volume] = unavailable.GetValueOrDefault(segment.Volume) + 1;
        }
        foreach (var (volume, n) in unavailable)
            findings.Add(new Finding(FindingKinds.VolumeUnavailable, volume,
                $"volume {volume}: {n} segment(s) recorded on it, but it is not mounted or not marked ({VolumeMarker.FileName} missing); they were not checked"));

        long checkedCount = 0, done = 0;
        progress?.Report(new VerifyProgress(0, total));
        foreach (var segment in AllSegments())
        {
            cancellationToken.ThrowIfCancellationRequested();
            var label = $"segment {segment.Id} ({segment.Camera}, {segment.StartUtc:yyyy-MM-ddTHH:mm:ss.fffZ})";
            switch (segment.State)
            {
                case SegmentState.Missing:
                    findings.Add(new Finding(FindingKinds.SegmentMarkedMissing, $"segment {segment.Id}",
                        $"{label}: marked missing at a start-up reconcile; its file {segment.FullPath} is gone"));
                    continue;
                case SegmentState.Purged:
                    if (File.Exists(segment.FullPath))
                        findings.Add(new Finding(FindingKinds.PurgedFilePresent, segment.FullPath,
                            $"{label}: deleted by retention ({segment.PurgeReason}) but its file {segment.FullPath} is still there (its key is destroyed; the agent removes it at its next start)"));
                    continue;
            }
            if (!present.Contains(segment.Volume)) continue;
            checkedCount++;
            var problem = CheckFile(segment, ref done, total, progress);
            // Retention may have purged it while we looked: that is not a problem.
            if (problem is not null && index.GetSegment(segment.Id) is { State: SegmentState.Stored })
                findings.Add(new Finding(problem.Value.Kind, $"segment {segment.Id}", $"{label}: {problem.Value.Message}"));
        }
        progress?.Report(new VerifyProgress(total, total));
        return (checkedCount, done);
    }

    private static (string Kind, string Message)? CheckFile(SegmentRecord segment, ref long done, long total, IProgress<VerifyProgress>? progress)
    {
        var path = segment.FullPath;
        if (!File.Exists(path))
            return (FindingKinds.SegmentMissing, $"file {path} is missing");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long length = 0;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan);
            int n;
            while ((n = stream.Read(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                length += n;
                done += n;
                progress?.Report(new VerifyProgress(done, total));
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return (FindingKinds.SegmentMissing, $"file {path} is missing");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (FindingKinds.SegmentUnreadable, $"file {path} cannot be read: {e.Message}");
        }
        var sha = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (length != segment.StoredBytes || sha != segment.StoredSha256)
            return (FindingKinds.SegmentChanged,
                $"file {path} was changed: {length} bytes with SHA-256 {sha}, the index recorded {segment.StoredBytes} bytes with SHA-256 {segment.StoredSha256}");
        return null;
    }

    private IEnumerable<SegmentRecord> AllSegments()
    {
        long after = 0;
        while (true)
        {
            var page = index.SegmentsAfter(after, PageSize);
            if (page.Count == 0) yield break;
            foreach (var s in page) yield return s;
            after = page[^1].Id;
        }
    }

    /// <summary>The index key (and any other *.key beside it, e.g. a device key) owner-only; no owner private key on the box.</summary>
    private int CheckKeys(List<Finding> findings)
    {
        int count = 0;
        var indexKey = settings.IndexKeyFile;
        if (!File.Exists(indexKey))
            findings.Add(new Finding(FindingKinds.KeyFile, indexKey, $"index key {indexKey} (index.keyFile) is missing: without it the index cannot be read"));
        var keyDirs = new[] { Path.GetDirectoryName(indexKey), Path.GetDirectoryName(settings.OwnerPublicKeyFile ?? ""), Path.GetDirectoryName(settings.ConfigPath) }
            .Where(d => !string.IsNullOrEmpty(d) && Directory.Exists(d)).Distinct(StringComparer.Ordinal).Cast<string>().ToList();
        var secretKeys = new HashSet<string>(StringComparer.Ordinal) { indexKey };
        if (Path.GetDirectoryName(indexKey) is { } dir && Directory.Exists(dir))
            foreach (var key in Directory.EnumerateFiles(dir, "*.key")) secretKeys.Add(key);
        foreach (var key in secretKeys.Where(File.Exists))
        {
            count++;
            var mode = File.GetUnixFileMode(key);
            if ((mode & GroupOrOther) != 0 && Path.GetFileName(key) != OwnerKeys.PrivateKeyFileName)
                findings.Add(new Finding(FindingKinds.KeyFile, key,
                    $"{key} has mode {Octal(mode)}; a key file must be readable by its owner only (0600): run `chmod 600 {key}`"));
        }
        if (Path.GetDirectoryName(indexKey) is { } keyDir && Directory.Exists(keyDir)
            && (File.GetUnixFileMode(keyDir) & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
            findings.Add(new Finding(FindingKinds.KeyFile, keyDir,
                $"{keyDir} (the index key's directory) has mode {Octal(File.GetUnixFileMode(keyDir))}: others may replace the key; expected 0700"));

        foreach (var file in keyDirs.SelectMany(d => Directory.EnumerateFiles(d)))
        {
            if (OwnerPrivateKeyReason(file) is { } reason)
                findings.Add(new Finding(FindingKinds.OwnerKeyOnBox, file,
                    $"{file}: {reason}; the owner's private key must never be on the box (it opens all footage): move it to the owner and check who may have copied it"));
        }
        return count;
    }

    private string? OwnerPrivateKeyReason(string file)
    {
        if (Path.GetFileName(file) == OwnerKeys.PrivateKeyFileName) return "named owner.key";
        var info = new FileInfo(file);
        if (info.Length is 0 or > 64 * 1024) return null;
        string text;
        try { text = File.ReadAllText(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        // The box's own keys are never passphrase-protected (nobody types a passphrase at boot); an owner.key is.
        if (text.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal))
            return "a passphrase-protected private key, as `edge keys init-owner` writes owner.key";
        if (!text.Contains("PRIVATE KEY-----", StringComparison.Ordinal) || settings.OwnerPublicKeyFile is null) return null;
        try
        {
            using var candidate = ECDiffieHellman.Create();
            candidate.ImportFromPem(text);
            var owner = OwnerKeys.LoadPublic(settings.OwnerPublicKeyFile);
            return OwnerKeys.KeyIdOf(candidate.ExportSubjectPublicKeyInfo()) == owner.KeyId ? $"the private half of owner key {owner.KeyId}" : null;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or OwnerKeyException)
        {
            return null; // not an EC key, or the public key is unreadable (config load would have refused it)
        }
    }

    /// <summary>edge.json names camera passwords: not writable by group or others, not readable by others.</summary>
    private void CheckConfigFile(List<Finding> findings)
    {
        var path = settings.ConfigPath;
        var mode = File.GetUnixFileMode(path);
        if ((mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
            findings.Add(new Finding(FindingKinds.ConfigFile, path, $"{path} has mode {Octal(mode)}: group or others may change the configuration; expected 0640 (root:edge)"));
        if ((mode & (UnixFileMode.OtherRead | UnixFileMode.OtherExecute)) != 0)
            findings.Add(new Finding(FindingKinds.ConfigFile, path, $"{path} has mode {Octal(mode)}: anyone on the box can read it (camera passwords); expected 0640 (root:edge): run `chmod 640 {path}`"));
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0xFFF, 8);
}
