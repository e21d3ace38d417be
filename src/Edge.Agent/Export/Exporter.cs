// The work of `edge export`, after every refusal check passed: per camera, decrypt the window's sealed segments into a
// private work directory (0700, on the staging tmpfs by default, deleted afterwards), cut the exact window out of
// their concatenation with ffmpeg (concat demuxer, input -ss/-to, stream copy) into one MP4, then write manifest.json
// and its detached signature manifest.sig. Everything is written into a hidden sibling of the output directory,
// which becomes DIR only when it is complete (Publish): a failed export leaves neither DIR nor plaintext behind.
// Design: docs/design/export.md.
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Edge.Agent.Cli;
using Edge.Agent.Configuration;
using Edge.Agent.Sealing;
using Edge.Hardware.Storage;
using Segment = Edge.Agent.Cli.SegmentsOpenCommand.SegmentDetailJson;

namespace Edge.Agent.Export;

/// <summary>The export could not be made (ffmpeg failed, no room, a source did not open). Nothing was left behind.</summary>
public sealed class ExportException(string message, Exception? inner = null) : Exception(message, inner);

public sealed record ExportCameraSources(string Camera, IReadOnlyList<Segment> Segments);

public sealed record ExportPlan(
    EdgeSettings Settings,
    IReadOnlyList<ExportCameraSources> Cameras,
    DateTime FromUtc,
    DateTime ToUtc,
    string Reason,
    string Recipient,
    string? LegalBasis,
    ManifestExporter ExportedBy,
    string OutputDirectory,
    string WorkRoot,
    ExportKeyWrap? Encryption);

public sealed record ExportResult(string PartialDirectory, string OutputDirectory, ExportManifest Manifest, string ManifestSha256, IReadOnlyList<string> Files);

public sealed class Exporter(ExportPlan plan, OwnerPrivateKey ownerKey, DeviceSigningKey deviceKey, TimeProvider time, ProgressBar progress)
{
    private const string WorkPrefix = ".edge-export-";
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    /// <summary>A shorter hole between two segments is the recorder's own jitter, not a gap worth naming.</summary>
    private static readonly TimeSpan GapTolerance = TimeSpan.FromSeconds(1);

    /// <summary>Hidden sibling of DIR that the export is written into; renamed to DIR by <see cref="Publish"/>.</summary>
    public static string PartialDirectoryFor(string outputDirectory) =>
        Path.Combine(Path.GetDirectoryName(outputDirectory)!, "." + Path.GetFileName(outputDirectory) + ".partial");

    public static string ToolVersion =>
        typeof(Exporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>Writes the whole export into the partial directory. On failure nothing of it remains.</summary>
    public async Task<ExportResult> WriteAsync(CancellationToken cancellationToken)
    {
        var partial = PartialDirectoryFor(plan.OutputDirectory);
        // A partial directory is only ever left by a crash of an earlier export to the same DIR: it holds nothing that counts.
        if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        Directory.CreateDirectory(partial, OwnerOnlyDirectory);
        RemoveAbandonedWorkDirectories(plan.WorkRoot);
        var work = Path.Combine(plan.WorkRoot, $"{WorkPrefix}{Environment.ProcessId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");
        try
        {
            Directory.CreateDirectory(work, OwnerOnlyDirectory);
            var files = new List<ManifestFile>();
            var sealedFiles = new List<SealedExportFile>();
            var cameras = new List<ManifestCamera>();
            foreach (var sources in plan.Cameras)
            {
                var (camera, file) = await ExportCameraAsync(sources, work, partial, sealedFiles, cancellationToken).ConfigureAwait(false);
                cameras.Add(camera);
                files.Add(file);
            }

            var now = time.GetUtcNow();
            var manifest = new ExportManifest(
                ExportFiles.Format,
                new ManifestSite(plan.Settings.SiteId, plan.Settings.TimeZone.Id),
                new ManifestDevice(plan.Settings.DeviceId, deviceKey.KeyId, deviceKey.Public.Pem),
                new ManifestWindow(Utc(plan.FromUtc), Utc(plan.ToUtc), plan.Settings.ToSiteTime(Utc(plan.FromUtc)), plan.Settings.ToSiteTime(Utc(plan.ToUtc))),
                cameras, files, plan.ExportedBy, plan.Reason, plan.Recipient, plan.LegalBasis, ownerKey.KeyId,
                new ManifestTool("edge", ToolVersion), now, plan.Settings.ToSiteTime(now));
            var manifestBytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(manifest, ExportFiles.ManifestJson) + "\n");
            var signature = deviceKey.Sign(manifestBytes);
            if (plan.Encryption is { } wrap)
            {
                sealedFiles.Add(SealedExport.SealFile(new MemoryStream(manifestBytes, writable: false), ExportFiles.Manifest, partial, wrap));
                sealedFiles.Add(SealedExport.SealFile(new MemoryStream(signature, writable: false), ExportFiles.Signature, partial, wrap));
                SealedExport.WriteIndex(partial, wrap, sealedFiles);
            }
            else
            {
                WriteNew(Path.Combine(partial, ExportFiles.Manifest), manifestBytes);
                WriteNew(Path.Combine(partial, ExportFiles.Signature), signature);
            }
            DurableFile.FsyncDirectory(partial);
            progress.Finish();
            var written = Directory.EnumerateFiles(partial).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
            return new ExportResult(partial, plan.OutputDirectory, manifest, Convert.ToHexStringLower(SHA256.HashData(manifestBytes)), written);
        }
        catch
        {
            progress.Finish();
            Directory.Delete(partial, recursive: true);
            throw;
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Renames the finished partial directory to DIR (refusing if DIR appeared meanwhile).</summary>
    public static void Publish(ExportResult result)
    {
        if (Path.Exists(result.OutputDirectory))
        {
            Directory.Delete(result.PartialDirectory, recursive: true);
            throw new ExportException($"{result.OutputDirectory} appeared while the export was being written; nothing was written there. Run the export again with a new --out.");
        }
        Directory.Move(result.PartialDirectory, result.OutputDirectory);
        DurableFile.FsyncDirectory(Path.GetDirectoryName(result.OutputDirectory)!);
    }

    private async Task<(ManifestCamera, ManifestFile)> ExportCameraAsync(ExportCameraSources sources, string work, string partial,
        List<SealedExportFile> sealedFiles, CancellationToken cancellationToken)
    {
        var stored = sources.Segments.Where(s => s.State == "stored").OrderBy(s => s.Start).ToList();
        if (stored.Count == 0)
            throw new ExportException($"camera {sources.Camera}: no stored footage in the window (segments {string.Join(", ", sources.Segments.Select(s => $"{s.Id} {s.State}"))}).");
        var needed = stored.Sum(s => s.Bytes) * (plan.Encryption is null ? 1 : 2);
        var free = new DriveInfo(work).AvailableFreeSpace;
        if (free < needed + needed / 10)
            throw new ExportException($"camera {sources.Camera}: the work directory {plan.WorkRoot} has {free / 1_000_000} MB free; the window's footage needs about {needed * 11 / 10 / 1_000_000} MB there. " +
                                      "Export fewer cameras or a shorter window at a time, or give --work-dir on a larger private disk.");

        var cameraWork = Path.Combine(work, sources.Camera);
        Directory.CreateDirectory(cameraWork, OwnerOnlyDirectory);
        var list = new StringBuilder("ffconcat version 1.0\n");
        for (int i = 0; i < stored.Count; i++)
        {
            var segment = stored[i];
            cancellationToken.ThrowIfCancellationRequested();
            // ".seg", not ".ts"/".mkv": an agent restarting meanwhile quarantines staged segment files it finds, never these.
            var plainPath = Path.Combine(cameraWork, $"{i:D6}.seg");
            progress.Report(_bytesDone, $"{sources.Camera}: decrypting segment {i + 1}/{stored.Count}");
            Decrypt(segment, plainPath);
            _bytesDone += segment.Bytes;
            list.Append(CultureInfo.InvariantCulture, $"file '{plainPath.Replace("'", "'\\''")}'\nduration {segment.DurationSeconds.ToString("0.000###", CultureInfo.InvariantCulture)}\n");
        }
        var listPath = Path.Combine(cameraWork, "concat.txt");
        WriteNew(listPath, Encoding.UTF8.GetBytes(list.ToString()));

        var (inPoint, outPoint) = (PositionOf(stored, plan.FromUtc), PositionOf(stored, plan.ToUtc));
        var fromSite = plan.Settings.ToSiteTime(Utc(plan.FromUtc));
        var toSite = plan.Settings.ToSiteTime(Utc(plan.ToUtc));
        var name = $"{sources.Camera}_{fromSite:yyyyMMdd'T'HHmmss}_{toSite:yyyyMMdd'T'HHmmss}.mp4";
        var mp4 = Path.Combine(plan.Encryption is null ? partial : cameraWork, name);
        await CutAsync(listPath, inPoint, outPoint, mp4, sources.Camera, stored.Sum(s => s.Bytes), cancellationToken).ConfigureAwait(false);
        File.SetUnixFileMode(mp4, OwnerOnlyFile);

        string sha;
        long bytes = new FileInfo(mp4).Length;
        using (var stream = new FileStream(mp4, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan))
            sha = Convert.ToHexStringLower(SHA256.HashData(stream));
        if (plan.Encryption is { } wrap)
        {
            using var stream = new FileStream(mp4, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
            sealedFiles.Add(SealedExport.SealFile(stream, name, partial, wrap));
        }
        // The decrypted segments (and, when encrypting, the plain MP4) go as soon as this camera is done.
        Directory.Delete(cameraWork, recursive: true);

        var camera = new ManifestCamera(sources.Camera, name, stored.All(s => s.ClockTrusted), Math.Round(outPoint - inPoint, 3),
            sources.Segments.Select(s => new ManifestSource(s.Id, s.Start.ToUniversalTime(), s.End.ToUniversalTime(), s.DurationSeconds, s.ClockTrusted,
                s.RelativePath, s.StoredBytes, s.StoredSha256, s.Bytes, s.Sha256)).ToList(),
            GapsOf(sources.Segments));
        return (camera, new ManifestFile(name, bytes, sha, sources.Camera));
    }

    private long _bytesDone;

    private void Decrypt(Segment segment, string plainPath)
    {
        var fullPath = Path.Combine(segment.Volume, segment.RelativePath);
        if (segment.WrappedKey is null)
        {
            // Stored unencrypted (no owner key configured when it was recorded): copied, and checked against the index.
            using (var input = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan))
            using (var output = new FileStream(plainPath, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnlyFile }))
                input.CopyTo(output);
            using var check = File.OpenRead(plainPath);
            var sha = Convert.ToHexStringLower(SHA256.HashData(check));
            if (sha != segment.Sha256)
                throw new ExportException($"segment {segment.Id}: its file {fullPath} has SHA-256 {sha}; the index records {segment.Sha256}. It was changed; it is not exported.");
            return;
        }
        var reference = new SealedSegmentRef(segment.Id, segment.Camera, fullPath, segment.RelativePath, segment.StoredBytes, segment.StoredSha256,
            segment.Bytes, segment.Sha256, segment.WrappedKey, segment.OwnerKeyId ?? "");
        try { SealedSegments.OpenToFile(reference, ownerKey, plainPath); }
        catch (SealedSegmentException e) { throw new ExportException(e.Message, e); }
    }

    /// <summary>Where wall time <paramref name="utc"/> falls in the concatenation of <paramref name="stored"/> (seconds); a time in a gap maps to the next segment's start.</summary>
    internal static double PositionOf(IReadOnlyList<Segment> stored, DateTime utc)
    {
        double position = 0;
        foreach (var s in stored)
        {
            var start = s.Start.UtcDateTime;
            if (utc <= start) return position;
            var into = (utc - start).TotalSeconds;
            if (into < s.DurationSeconds) return position + into;
            position += s.DurationSeconds;
        }
        return position;
    }

    private List<ManifestGap> GapsOf(IReadOnlyList<Segment> segments)
    {
        var gaps = new List<ManifestGap>();
        var cursor = plan.FromUtc;
        foreach (var s in segments.OrderBy(s => s.Start))
        {
            var start = s.Start.UtcDateTime;
            var end = s.End.UtcDateTime;
            if (start - cursor > GapTolerance) gaps.Add(new ManifestGap(Utc(cursor), Utc(start), "not recorded"));
            if (s.State != "stored")
                gaps.Add(new ManifestGap(Utc(Max(start, plan.FromUtc)), Utc(Min(end, plan.ToUtc)), $"segment {s.Id} is {s.State} (file not on its volume)"));
            cursor = Max(cursor, end);
        }
        if (plan.ToUtc - cursor > GapTolerance) gaps.Add(new ManifestGap(Utc(cursor), Utc(plan.ToUtc), "not recorded"));
        return gaps;
    }

    private async Task CutAsync(string listPath, double inPoint, double outPoint, string output, string camera, long cameraBytes, CancellationToken cancellationToken)
    {
        // Input seeking on the concat demuxer: the copy starts at the keyframe before inPoint and the MP4's edit list
        // starts playback at inPoint; -to ends it at outPoint. Stream copy: the footage is never re-encoded.
        var info = new ProcessStartInfo(plan.Settings.FfmpegPath)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in new[]
                 {
                     "-hide_banner", "-nostdin", "-v", "error", "-nostats", "-progress", "pipe:1",
                     "-ss", Seconds(inPoint), "-to", Seconds(outPoint), "-f", "concat", "-safe", "0", "-i", listPath,
                     "-map", "0:v", "-map", "0:a?", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", output,
                 })
            info.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(info)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ExportException($"ffmpeg ({plan.Settings.FfmpegPath}) could not be started: {e.Message}. Install ffmpeg or set ffmpeg.path in edge.json.", e);
        }
        using (process)
        {
            var errors = process.StandardError.ReadToEndAsync(cancellationToken);
            var span = Math.Max(outPoint - inPoint, 0.001);
            var start = _bytesDone;
            try
            {
                while (await process.StandardOutput.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
                {
                    if (line.StartsWith("out_time_us=", StringComparison.Ordinal) && long.TryParse(line.AsSpan(12), out var us))
                        progress.Report(start + (long)(cameraBytes * Math.Clamp(us / 1e6 / span, 0, 1)), $"{camera}: cutting the window");
                }
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            _bytesDone = start + cameraBytes;
            var stderr = (await errors.ConfigureAwait(false)).Trim();
            if (process.ExitCode != 0 || !File.Exists(output) || new FileInfo(output).Length == 0)
                throw new ExportException($"camera {camera}: ffmpeg could not cut the window (exit {process.ExitCode}): {LastLines(stderr)}");
        }
    }

    private static void RemoveAbandonedWorkDirectories(string workRoot)
    {
        // Work directories of exports that were killed: plaintext that must not stay. Live ones carry a running pid.
        if (!Directory.Exists(workRoot)) return;
        foreach (var dir in Directory.EnumerateDirectories(workRoot, WorkPrefix + "*"))
        {
            var rest = Path.GetFileName(dir)[WorkPrefix.Length..];
            var dash = rest.IndexOf('-');
            if (dash > 0 && int.TryParse(rest[..dash], out var pid) && !Directory.Exists($"/proc/{pid}"))
            {
                try { Directory.Delete(dir, recursive: true); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* someone else's; left to them */ }
            }
        }
    }

    private static void WriteNew(string path, byte[] content)
    {
        using var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnlyFile });
        stream.Write(content);
        stream.Flush(flushToDisk: true);
    }

    private static string LastLines(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "(no message)" : string.Join(" | ", lines.TakeLast(3));
    }

    private static string Seconds(double value) => value.ToString("0.000", CultureInfo.InvariantCulture);
    private static DateTimeOffset Utc(DateTime utc) => new(DateTime.SpecifyKind(utc, DateTimeKind.Utc));
    private static DateTime Max(DateTime a, DateTime b) => a > b ? a : b;
    private static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;
}
