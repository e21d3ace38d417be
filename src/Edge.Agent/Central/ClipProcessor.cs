// Turns a clip whose chunks have all arrived into footage: each segment's sealed file is put back together and checked
// against the manifest's storedBytes and storedSha256 (no key needed), its data key is unwrapped with the owner's
// private key and the segment's binding (its relativePath), it is decrypted and verified chunk by chunk (SealReader),
// and then each camera's segments are cut to the clip's window with ffmpeg (stream copy, never re-encoded) into
// OUT/clips/{site}/{device}/{clipId}/{camera}.mp4 with manifest.json beside it. The decrypted segments live only
// in OUT's work directory (mode 0700) while ffmpeg runs; the outputs appear under their final name only when complete.
using Edge.Sync.Protocol;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Edge.Agent.Sealing;
using Edge.Sync;

namespace Edge.Agent.Central;

public enum ClipOutcome
{
    /// <summary>Every hash matched, every segment opened, every camera was cut.</summary>
    Verified,
    /// <summary>A chunk or a whole segment does not match its hash: damaged in transit; the box is to send it again.</summary>
    HashMismatch,
    /// <summary>The bytes are what the box stored, but they do not open (another owner key, a tampered wrapped key) or do not cut: sending again will not help.</summary>
    Unopenable,
}

public sealed record ClipResult(ClipOutcome Outcome, string Detail, string? OutputDirectory);

public sealed class ClipProcessor(ClipChunks chunks, OwnerPrivateKey ownerKey, string outputDirectory, string ffmpegPath, TimeProvider time)
{
    public static string OutputDirectoryFor(string outputRoot, string siteId, string deviceId, string clipId) =>
        Path.Combine(outputRoot, "clips", siteId, deviceId, clipId);

    public async Task<ClipResult> ProcessAsync(string siteId, string deviceId, ClipManifest manifest, CancellationToken cancellationToken)
    {
        var final = OutputDirectoryFor(outputDirectory, siteId, deviceId, manifest.ClipId);
        // A crash after the outputs were renamed into place but before the state was stored: the work is done.
        if (File.Exists(Path.Combine(final, "manifest.json")))
            return new ClipResult(ClipOutcome.Verified, "already cut (found on disk after a restart)", final);
        var partial = final + ".partial";
        var work = Path.Combine(partial, ".work");
        if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            var opened = new List<(ClipSegment Segment, string Path, long Bytes, string Sha256)>();
            foreach (var segment in manifest.Segments.OrderBy(s => s.Camera, StringComparer.Ordinal).ThenBy(s => s.Start))
            {
                var sealedPath = Path.Combine(work, $"{segment.Id}.sealed");
                chunks.Assemble(siteId, deviceId, manifest.ClipId, segment, sealedPath);
                long length = new FileInfo(sealedPath).Length;
                if (length != segment.StoredBytes)
                    return new ClipResult(ClipOutcome.HashMismatch, $"segment {segment.Id}: reassembled {length} bytes; the manifest says storedBytes {segment.StoredBytes}", null);
                string sha;
                await using (var f = File.OpenRead(sealedPath)) sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(f, cancellationToken).ConfigureAwait(false));
                if (sha != segment.StoredSha256)
                    return new ClipResult(ClipOutcome.HashMismatch, $"segment {segment.Id}: reassembled SHA-256 {sha}; the manifest says storedSha256 {segment.StoredSha256}", null);

                if (segment.OwnerKeyId.Length > 0 && segment.OwnerKeyId != ownerKey.KeyId)
                    return new ClipResult(ClipOutcome.Unopenable, $"segment {segment.Id} is sealed to owner key {segment.OwnerKeyId}; this central holds {ownerKey.KeyId}", null);
                var binding = SealedFormat.Binding(segment.RelativePath);
                var dataKey = SealedFormat.Unwrap(segment.WrappedKey, ownerKey.Key, ownerKey.Public.Point, binding);
                if (dataKey is null)
                    return new ClipResult(ClipOutcome.Unopenable, $"segment {segment.Id}: its wrapped key does not open with owner key {ownerKey.KeyId} for {segment.RelativePath} (another owner key, or a changed wrapped key or path)", null);
                var plainPath = Path.Combine(work, $"{segment.Id}{(segment.Container == "matroska" ? ".mkv" : ".ts")}");
                try
                {
                    SealResult result;
                    using (var input = new FileStream(sealedPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
                    using (var output = new FileStream(plainPath, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, BufferSize = 1 << 20, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
                        result = SealReader.Open(input, $"segment {segment.Id}", dataKey, binding, output);
                    if (segment.Sha256 is { } expected && expected != result.PlaintextSha256)
                        return new ClipResult(ClipOutcome.Unopenable, $"segment {segment.Id}: decrypted footage has SHA-256 {result.PlaintextSha256}; the manifest says {expected}", null);
                    opened.Add((segment, plainPath, result.PlaintextBytes, result.PlaintextSha256));
                }
                catch (SealedSegmentException e)
                {
                    return new ClipResult(ClipOutcome.Unopenable, $"segment {segment.Id}: {e.Message}", null);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(dataKey);
                    File.Delete(sealedPath);
                }
            }

            var outputs = new JsonArray();
            foreach (var camera in manifest.Cameras)
            {
                var segments = opened.Where(o => o.Segment.Camera == camera).OrderBy(o => o.Segment.Start).ToList();
                if (segments.Count == 0)
                {
                    outputs.Add(new JsonObject { ["camera"] = camera, ["file"] = null, ["note"] = "no segment of this camera in the clip" });
                    continue;
                }
                var first = segments[0].Segment.Start;
                var coveredFrom = manifest.From > first ? manifest.From : first;
                var last = segments[^1].Segment.End;
                var coveredTo = manifest.To < last ? manifest.To : last;
                var file = Path.Combine(partial, $"{camera}.mp4");
                var cut = await CutAsync(segments.Select(s => s.Path).ToList(), work, coveredFrom - first, coveredTo - coveredFrom, file, cancellationToken).ConfigureAwait(false);
                if (cut is not null) return new ClipResult(ClipOutcome.Unopenable, $"camera {camera}: ffmpeg could not cut the window: {cut}", null);
                string outSha;
                await using (var f = File.OpenRead(file)) outSha = Convert.ToHexStringLower(await SHA256.HashDataAsync(f, cancellationToken).ConfigureAwait(false));
                var gaps = new JsonArray();
                for (int i = 1; i < segments.Count; i++)
                    if (segments[i].Segment.Start - segments[i - 1].Segment.End > TimeSpan.FromSeconds(1))
                        gaps.Add(new JsonObject { ["from"] = ProtocolTime.Format(segments[i - 1].Segment.End), ["to"] = ProtocolTime.Format(segments[i].Segment.Start) });
                outputs.Add(new JsonObject
                {
                    ["camera"] = camera,
                    ["file"] = Path.GetFileName(file),
                    ["bytes"] = new FileInfo(file).Length,
                    ["sha256"] = outSha,
                    ["coveredFrom"] = ProtocolTime.Format(coveredFrom),
                    ["coveredTo"] = ProtocolTime.Format(coveredTo),
                    // Footage missing inside the window: the cut joins the segments, so later footage starts earlier in the file.
                    ["gaps"] = gaps,
                });
            }

            var manifestJson = new JsonObject
            {
                ["schema"] = 1,
                ["siteId"] = siteId,
                ["deviceId"] = deviceId,
                ["clipId"] = manifest.ClipId,
                ["flagId"] = manifest.FlagId,
                ["reason"] = manifest.Reason,
                ["from"] = ProtocolTime.Format(manifest.From),
                ["to"] = ProtocolTime.Format(manifest.To),
                ["cameras"] = new JsonArray(manifest.Cameras.Select(c => (JsonNode)c).ToArray()),
                ["verified"] = true,
                ["verifiedAt"] = ProtocolTime.Format(time.GetUtcNow()),
                ["ownerKeyId"] = ownerKey.KeyId,
                ["sourceSegments"] = new JsonArray(opened.Select(o => (JsonNode)new JsonObject
                {
                    ["id"] = o.Segment.Id,
                    ["camera"] = o.Segment.Camera,
                    ["start"] = ProtocolTime.Format(o.Segment.Start),
                    ["end"] = ProtocolTime.Format(o.Segment.End),
                    ["storedBytes"] = o.Segment.StoredBytes,
                    ["storedSha256"] = o.Segment.StoredSha256,
                    ["bytes"] = o.Bytes,
                    ["sha256"] = o.Sha256,
                }).ToArray()),
                ["outputs"] = outputs,
            };
            Directory.Delete(work, recursive: true);
            await File.WriteAllTextAsync(Path.Combine(partial, "manifest.json"), manifestJson.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancellationToken).ConfigureAwait(false);
            Directory.CreateDirectory(Path.GetDirectoryName(final)!);
            Directory.Move(partial, final);
            Edge.Hardware.Storage.DurableFile.FsyncDirectory(Path.GetDirectoryName(final)!);
            return new ClipResult(ClipOutcome.Verified, $"{opened.Count} segment(s), {manifest.Cameras.Count} camera(s)", final);
        }
        finally
        {
            // Plaintext never outlives the cut: a failure leaves nothing decrypted behind.
            if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        }
    }

    /// <summary>Joins the decrypted segments (concat demuxer) and copies [offset, offset + length) into an MP4. Null on success, else ffmpeg's complaint.</summary>
    private async Task<string?> CutAsync(IReadOnlyList<string> inputs, string work, TimeSpan offset, TimeSpan length, string output, CancellationToken cancellationToken)
    {
        var list = Path.Combine(work, $"concat-{Guid.NewGuid():N}.txt");
        await File.WriteAllLinesAsync(list, inputs.Select(i => $"file '{i.Replace("'", "'\\''", StringComparison.Ordinal)}'"), cancellationToken).ConfigureAwait(false);
        var info = new ProcessStartInfo(ffmpegPath) { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        string Seconds(TimeSpan t) => Math.Max(0, t.TotalSeconds).ToString("0.000", CultureInfo.InvariantCulture);
        // -ss before -i with stream copy starts at the key frame at or before the window (the MP4's edit list hides
        // the lead-in), so the file covers the window to within one GOP and nothing is re-encoded.
        foreach (var a in new[] { "-v", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-ss", Seconds(offset), "-i", list,
                     "-t", Seconds(length), "-map", "0:v", "-map", "0:a?", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", output })
            info.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(info)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            // The central's own set-up, not the clip's fault: an IOException leaves the clip complete, tried again at the next start.
            throw new IOException($"cannot start {ffmpegPath}: {e.Message} (check ffmpegPath in central.json)", e);
        }
        using (process)
        {
            process.StandardInput.Close();
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            _ = process.StandardOutput.ReadToEndAsync(cancellationToken);
            try { await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false); }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            var err = await stderr.ConfigureAwait(false);
            if (process.ExitCode != 0) return $"exit {process.ExitCode}: {err.Trim()}";
            if (!File.Exists(output) || new FileInfo(output).Length == 0) return "no output written";
            return null;
        }
    }
}
