// Start-up reconciliation of the index with the disk, in the spirit of Moonfire NVR's schema.md. The write order
// (ffmpeg writes segment n out, prints its line, closes it, only then creates n+1 → line journaled → NAME.partial
// complete and fsynced → index record durable → rename to NAME, directory fsynced → staged file deleted) leaves
// these possible states after a crash, each with its repair. Before reconcile runs, RecordingService seals every staged
// segment ffmpeg finished: the journaled ones, and those a later file of the same run follows (closed, though the
// crash took the line before it was journaled; dated from the run's journal and ffprobe, see StagingRecovery).
//   1. a staged file in staging:             torn: a run's last file → moved to staging/quarantine, never indexed
//                                            (or closed with no video)
//   2. NAME.partial with a record for NAME:  indexed, not published  → published, once its hash matches the record
//   3. NAME.partial with no record:          the seal was cut off    → deleted (its staged original is handled by 1)
//   4. NAME with no record:                  e.g. an older index     → reported as unknown and left in place: its data
//                                            key was only ever in the index, so nothing can adopt it
//   5. a record whose file is gone:          lost or removed media   → marked Missing and reported, never dropped
using System.Security.Cryptography;
using Edge.Agent.Index;
using Edge.Agent.Storage;
using Edge.Hardware.Cameras;
using Edge.Hardware.Storage;
using Microsoft.Extensions.Logging;

namespace Edge.Agent.Recording;

public sealed record ReconcileReport(int QuarantinedStaged, int PartialsRemoved, int PartialsPublished, int MarkedMissing, int UnknownFiles)
{
    /// <summary>Quarantining, removing and publishing partial work is the expected repair after a crash; the rest means loss or interference.</summary>
    public bool FoundInconsistency => MarkedMissing > 0 || UnknownFiles > 0;

    /// <summary>Segments ffmpeg finished and the recorder journaled, sealed at start-up because the agent died before sealing them.</summary>
    public int RecoveredFromJournal { get; init; }

    /// <summary>Segments ffmpeg had closed (a later file of its run exists) but the killed agent never journaled, sealed at start-up.</summary>
    public int RecoveredUnjournaled { get; init; }

    public bool FoundAnything => QuarantinedStaged + PartialsRemoved + PartialsPublished + MarkedMissing + UnknownFiles + RecoveredFromJournal + RecoveredUnjournaled > 0;

    public override string ToString() =>
        $"{RecoveredFromJournal} journaled segment(s) sealed, {RecoveredUnjournaled} closed but unjournaled segment(s) sealed, {QuarantinedStaged} staged file(s) quarantined, {PartialsRemoved} partial seal(s) removed, {PartialsPublished} indexed seal(s) published, " +
        $"{MarkedMissing} record(s) marked missing, {UnknownFiles} unknown file(s)";
}

/// <param name="keepStaged">Staged files still waiting to be sealed (no volume was usable): not to be quarantined.</param>
public sealed class Reconciler(EdgeIndex index, string stagingRoot, VolumeSet volumes, ILogger logger, IReadOnlySet<string>? keepStaged = null)
{
    public const string QuarantineDirectoryName = "quarantine";

    public ReconcileReport Run()
    {
        int quarantined = QuarantineStagedLeftovers();
                int partials = 0, published = 0, unknown = 0;
        var onDisk = new HashSet<string>(StringComparer.Ordinal);

        // Only marked volumes are looked at: an unmounted disk's empty mount point says nothing about its segments.
        var present = volumes.All.Where(v => VolumeMarker.TryRead(v) is not null).ToHashSet(StringComparer.Ordinal);
        foreach (var volume in present)
        {
            foreach (var cameraDir in Directory.EnumerateDirectories(volume))
            {
                var dirName = Path.GetFileName(cameraDir);
                if (dirName == QuarantineDirectoryName) continue;
                foreach (var file in Directory.EnumerateFiles(cameraDir, "*", SearchOption.AllDirectories))
                {
                    var relative = Path.GetRelativePath(volume, file);
                    if (file.EndsWith(SegmentLayout.PartialSuffix, StringComparison.Ordinal))
                    {
                        var finalRelative = relative[..^SegmentLayout.PartialSuffix.Length];
                        if (index.FindSegmentAt(finalRelative) is { } record && HashOf(file) == record.StoredSha256)
                        {
                            DurableFile.RenameDurably(file, Path.Combine(volume, finalRelative));
                            onDisk.Add(Path.Combine(volume, finalRelative));
                            published++;
                        }
                        else
                        {
                            File.Delete(file);
                            partials++;
                        }
                        continue;
                    }
                    onDisk.Add(Path.Combine(volume, relative));
                    if (index.HasSegmentAt(relative)) continue;
                    logger.LogWarning("reconcile: {File} is not in the index; left in place (a sealed segment cannot be opened without its record)", file);
                    unknown++;
                }
            }
        }

        // Streamed, with the few changes collected and applied after: months of records are never all in memory,
        // and nothing writes while the query is open.
        var purgedWithFile = new List<SegmentRecord>();
        var missing = new List<SegmentRecord>();
        foreach (var segment in index.EnumerateSegments())
        {
            if (segment.State == SegmentState.Purged)
            {
                if (File.Exists(segment.FullPath)) purgedWithFile.Add(segment);
            }
            else if (segment.State == SegmentState.Stored && present.Contains(segment.Volume)
                     && !onDisk.Contains(segment.FullPath) && !File.Exists(segment.FullPath))
            {
                missing.Add(segment);
            }
        }
        // Crypto-erased, but the crash came before the unlink: finish the purge.
        foreach (var segment in purgedWithFile) File.Delete(segment.FullPath);
        foreach (var segment in missing)
        {
            segment.State = SegmentState.Missing;
            index.UpdateSegment(segment);
            logger.LogError("reconcile: segment {Id} of camera {Camera} at {Start:o}: file {File} is missing; marked missing",
                segment.Id, segment.Camera, segment.StartUtc, segment.FullPath);
        }
        return new ReconcileReport(quarantined, partials, published, missing.Count, unknown);
    }

    private static string HashOf(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private int QuarantineStagedLeftovers()
    {
        if (!Directory.Exists(stagingRoot)) return 0;
        var quarantine = Path.Combine(stagingRoot, QuarantineDirectoryName);
        int moved = 0;
        foreach (var cameraDir in Directory.EnumerateDirectories(stagingRoot))
        {
            if (Path.GetFileName(cameraDir) == QuarantineDirectoryName) continue;
            SegmentJournal.DeleteAll(cameraDir); // whatever it listed was recovered before reconcile ran
            foreach (var file in Directory.EnumerateFiles(cameraDir).Where(IsSegmentFile).Where(f => keepStaged?.Contains(f) != true))
            {
                Directory.CreateDirectory(quarantine);
                File.Move(file, Path.Combine(quarantine, Path.GetFileName(cameraDir) + "_" + Path.GetFileName(file)), overwrite: true);
                moved++;
            }
        }
        return moved;
    }

    public static bool IsSegmentFile(string path) => path.EndsWith(".ts", StringComparison.Ordinal) || path.EndsWith(".mkv", StringComparison.Ordinal);
}
