// A clip's chunks on the central's disk while it is being received: one file per chunk under
// STORE/clips/{site}/{device}/{clipId}/{segmentId}/{chunk:D6}.chunk, written to a temporary name, fsynced and renamed,
// so a chunk that exists is whole and a restart resumes with what arrived. They are the sealed file's bytes: ciphertext,
// useless without the owner key, so keeping them on disk reveals nothing.
using Edge.Hardware.Storage;

namespace Edge.Agent.Central;

public sealed class ClipChunks(string storeDirectory)
{
    public string Root { get; } = Path.Combine(storeDirectory, "clips");

    public string ClipDirectory(string siteId, string deviceId, string clipId) => Path.Combine(Root, siteId, deviceId, clipId);

    private string ChunkPath(string siteId, string deviceId, string clipId, long segment, int chunk) =>
        Path.Combine(ClipDirectory(siteId, deviceId, clipId), segment.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{chunk:D6}.chunk");

    public bool Has(string siteId, string deviceId, string clipId, long segment, int chunk) => File.Exists(ChunkPath(siteId, deviceId, clipId, segment, chunk));

    /// <summary>Writes a chunk durably; false when it was already there (a duplicate).</summary>
    public bool Write(string siteId, string deviceId, string clipId, long segment, int chunk, ReadOnlySpan<byte> bytes)
    {
        var path = ChunkPath(siteId, deviceId, clipId, segment, chunk);
        if (File.Exists(path)) return false;
        var directory = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory)) Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var temporary = path + ".tmp";
        using (var f = new FileStream(temporary, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
        {
            f.Write(bytes);
            f.Flush(flushToDisk: true);
        }
        DurableFile.RenameDurably(temporary, path);
        return true;
    }

    /// <summary>Chunks of the manifest's segments that have not arrived.</summary>
    public int Missing(string siteId, string deviceId, ClipManifest manifest) =>
        manifest.Segments.Sum(s => Enumerable.Range(0, s.Chunks).Count(c => !Has(siteId, deviceId, manifest.ClipId, s.Id, c)));

    /// <summary>A segment's sealed file put back together from its chunks, in order.</summary>
    public void Assemble(string siteId, string deviceId, string clipId, ClipSegment segment, string outputPath)
    {
        using var output = new FileStream(outputPath, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
        for (int c = 0; c < segment.Chunks; c++)
        {
            using var chunk = File.OpenRead(ChunkPath(siteId, deviceId, clipId, segment.Id, c));
            chunk.CopyTo(output);
        }
    }

    /// <summary>Forgets every chunk of a clip (after a hash failure, so the re-upload starts clean, or once it is done).</summary>
    public void Discard(string siteId, string deviceId, string clipId)
    {
        var directory = ClipDirectory(siteId, deviceId, clipId);
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }
}
