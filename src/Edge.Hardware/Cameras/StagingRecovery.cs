// Start-up recovery of segments ffmpeg closed but the last agent never journaled: it was killed after ffmpeg printed
// a segment's line and before the recorder wrote that line to the journal. ffmpeg's segment muxer writes segment n
// out, prints its line, closes it and only then creates n+1 (ffmpeg 5.1 under strace: write(n) → write(stdout, line)
// → close(n) → openat(n+1)), so a staged file followed by a later file of the same run is complete, journaled or not;
// only the last file of a run can be the one ffmpeg was writing. The lost line carried the segment's times, so they
// are rebuilt honestly: it starts where the run's previous segment (journaled, or recovered here) ended, or at the
// run's start (its id) with the clock marked untrusted when none is known, and lasts what ffprobe finds in the file.
// See docs/design/recording.md, "Crash-safe write order and reconcile".
using System.ComponentModel;
using System.Globalization;
using FFMpegCore.Exceptions;
using Microsoft.Extensions.Logging;

namespace Edge.Hardware.Cameras;

public static class StagingRecovery
{
    /// <summary>Reads a staged segment's name, &lt;run id&gt;_&lt;n&gt;.&lt;ext&gt;: the run id is when its ffmpeg started (Unix ms), n counts from 0.</summary>
    public static bool TryParseName(string path, out long runId, out int sequence)
    {
        runId = 0;
        sequence = 0;
        var stem = Path.GetFileNameWithoutExtension(path);
        int underscore = stem.LastIndexOf('_');
        return underscore > 0
               && long.TryParse(stem.AsSpan(0, underscore), NumberStyles.None, CultureInfo.InvariantCulture, out runId)
               && int.TryParse(stem.AsSpan(underscore + 1), NumberStyles.None, CultureInfo.InvariantCulture, out sequence);
    }

    /// <summary>
    /// The staged files of a camera that ffmpeg closed (a later file of the same run exists) and no journal lists, in
    /// order, with their times rebuilt. A file ffprobe finds no video in is left for quarantine, and so are the later
    /// files of its run: their start would be a guess.
    /// </summary>
    public static async Task<IReadOnlyList<SegmentFinished>> ClosedButUnjournaledAsync(string stagingDirectory, string cameraId, ILogger logger,
        CancellationToken cancellationToken)
    {
        var journaled = SegmentJournal.Entries(stagingDirectory, cameraId)
            .Select(e => (Parsed: TryParseName(e.StagedPath, out long run, out int n), Run: run, Sequence: n, Entry: e))
            .Where(e => e.Parsed).ToList();
        var staged = Directory.EnumerateFiles(stagingDirectory).Where(IsSegmentFile)
            .Select(f => (Parsed: TryParseName(f, out long run, out int n), Run: run, Sequence: n, Path: f))
            .Where(f => f.Parsed).ToList();

        var recovered = new List<SegmentFinished>();
        foreach (var run in staged.GroupBy(f => f.Run).OrderBy(g => g.Key))
        {
            var entries = journaled.Where(e => e.Run == run.Key).GroupBy(e => e.Sequence).ToDictionary(g => g.Key, g => g.First().Entry);
            var files = run.ToDictionary(f => f.Sequence, f => f.Path);
            int last = files.Keys.Concat(entries.Keys).Max();
            SegmentFinished? previous = null;
            foreach (int n in files.Keys.Concat(entries.Keys).Distinct().Order())
            {
                if (entries.TryGetValue(n, out var entry))
                {
                    previous = entry;
                    continue;
                }
                if (n == last) break; // ffmpeg was writing it: reconcile quarantines it
                var path = files[n];
                double? seconds;
                try
                {
                    seconds = await CameraProbe.VideoSecondsAsync(path, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is FFMpegException or FFProbeException or FormatNullException or Win32Exception or IOException or InvalidOperationException)
                {
                    logger.LogWarning("camera {Camera}: {File} was closed by ffmpeg but not journaled, and ffprobe cannot read it ({Error}); " +
                        "it and the later files of its run are quarantined", cameraId, Path.GetFileName(path), e.Message.Split('\n')[0]);
                    break;
                }
                if (seconds is not double duration)
                {
                    logger.LogWarning("camera {Camera}: {File} was closed by ffmpeg but not journaled, and holds no video; " +
                        "it and the later files of its run are quarantined", cameraId, Path.GetFileName(path));
                    break;
                }
                var start = previous?.EndUtc ?? DateTimeOffset.FromUnixTimeMilliseconds(run.Key);
                double mediaStart = previous?.MediaEndSeconds ?? 0;
                previous = new SegmentFinished(cameraId, path, mediaStart, mediaStart + duration, start, start + TimeSpan.FromSeconds(duration),
                    ClockTrusted: previous?.ClockTrusted ?? false);
                recovered.Add(previous);
            }
        }
        return recovered;
    }

    private static bool IsSegmentFile(string path) =>
        path.EndsWith(SegmentContainer.MpegTs.Extension, StringComparison.Ordinal) || path.EndsWith(SegmentContainer.Matroska.Extension, StringComparison.Ordinal);
}
