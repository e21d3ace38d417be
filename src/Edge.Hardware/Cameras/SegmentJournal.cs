// The recorder's note of every segment ffmpeg announced, kept beside the staged files (tmpfs on a box: it costs
// RAM, not flash writes). If the agent dies after ffmpeg finished a segment but before it was sealed, the next start
// finds the file *and* its identity (wall-clock times, clock trust) here and seals it, instead of losing it with the
// segment that was being written. Entries whose staged file is gone (sealed) are dropped when the journal is compacted.
using System.Globalization;

namespace Edge.Hardware.Cameras;

public static class SegmentJournal
{
    public const string Extension = ".journal";
    private const int CompactEvery = 1000;

    public static string PathFor(string stagingDirectory, string runId) => Path.Combine(stagingDirectory, runId + Extension);

    public static void Append(string journalPath, SegmentFinished segment, ref int linesSinceCompaction)
    {
        var inv = CultureInfo.InvariantCulture;
        File.AppendAllText(journalPath, string.Join(',',
            Path.GetFileName(segment.StagedPath),
            segment.MediaStartSeconds.ToString("R", inv),
            segment.MediaEndSeconds.ToString("R", inv),
            segment.StartUtc.UtcTicks.ToString(inv),
            segment.EndUtc.UtcTicks.ToString(inv),
            segment.ClockTrusted ? "1" : "0") + "\n");
        if (++linesSinceCompaction >= CompactEvery)
        {
            linesSinceCompaction = 0;
            var directory = Path.GetDirectoryName(journalPath)!;
            var live = File.ReadAllLines(journalPath).Where(l => File.Exists(Path.Combine(directory, l.Split(',')[0])));
            File.WriteAllLines(journalPath + ".tmp", live);
            File.Move(journalPath + ".tmp", journalPath, overwrite: true);
        }
    }

    /// <summary>Segments journaled in a staging directory whose staged file is still there: complete and never sealed.</summary>
    public static IReadOnlyList<SegmentFinished> Unsealed(string stagingDirectory, string cameraId) =>
        Entries(stagingDirectory, cameraId).Where(s => File.Exists(s.StagedPath)).OrderBy(s => s.StartUtc).ToList();

    /// <summary>Every segment journaled in a staging directory, sealed (its staged file gone) or not.</summary>
    public static IReadOnlyList<SegmentFinished> Entries(string stagingDirectory, string cameraId)
    {
        var found = new List<SegmentFinished>();
        var inv = CultureInfo.InvariantCulture;
        foreach (var journal in Directory.EnumerateFiles(stagingDirectory, "*" + Extension))
        {
            foreach (var line in File.ReadAllLines(journal))
            {
                var f = line.Split(',');
                if (f.Length != 6) continue; // a line cut off by the crash
                found.Add(new SegmentFinished(cameraId, Path.Combine(stagingDirectory, f[0]), double.Parse(f[1], inv), double.Parse(f[2], inv),
                    new DateTimeOffset(long.Parse(f[3], inv), TimeSpan.Zero), new DateTimeOffset(long.Parse(f[4], inv), TimeSpan.Zero), f[5] == "1"));
            }
        }
        return found;
    }

    public static void DeleteAll(string stagingDirectory)
    {
        foreach (var journal in Directory.EnumerateFiles(stagingDirectory, "*" + Extension)) File.Delete(journal);
    }
}
