// The ordered storage volumes of the configuration (e.g. the USB disk first, the SD card as fallback). New segments
// go to the first volume that carries Edge's marker and is writable; when that changes the pipeline writes a
// storage_failover event. See docs/design/storage.md.
namespace Edge.Agent.Storage;

public sealed class VolumeSet(IReadOnlyList<string> volumes)
{
    private string? _lastChosen;

    public IReadOnlyList<string> All => volumes;

    /// <summary>Why a configured volume is not usable right now, or null when it is.</summary>
    public static string? Unusable(string volume)
    {
        if (!Directory.Exists(volume)) return "not present";
        if (VolumeMarker.TryRead(volume) is null) return $"no Edge volume marker (not mounted? run `edge volumes init {volume}`)";
        return IsWritable(volume) ? null : "not writable";
    }

    /// <summary>The volume new segments go to, skipping any in <paramref name="exclude"/>; null when none is usable.</summary>
    public string? Choose(IReadOnlySet<string>? exclude = null) =>
        volumes.FirstOrDefault(v => (exclude is null || !exclude.Contains(v)) && Unusable(v) is null);

    /// <summary>Records the choice and returns the previous one when the choice changed (a failover or a return).</summary>
    public string? NoteChosen(string volume)
    {
        var previous = _lastChosen;
        _lastChosen = volume;
        return previous is not null && previous != volume ? previous : null;
    }

    private static bool IsWritable(string directory)
    {
        var probe = Path.Combine(directory, ".edge-write-probe");
        try
        {
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
