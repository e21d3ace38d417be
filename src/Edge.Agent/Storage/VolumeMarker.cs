// The marker that makes a directory an Edge storage volume. A volume is used only when its marker is there: an
// unmounted USB disk leaves an empty mount point on the SD card, and Edge must never fill the SD card through it.
using System.Security.Cryptography;
using System.Text.Json;
using Edge.Hardware.Storage;

namespace Edge.Agent.Storage;

public sealed record VolumeMarker(string Format, string VolumeId, DateTimeOffset CreatedUtc)
{
    public const string FileName = ".edge-volume";
    public const string CurrentFormat = "edge-volume/1";

    public static string PathIn(string volume) => Path.Combine(volume, FileName);

    /// <summary>Reads the marker, or null when the directory is not (or no longer) an Edge volume.</summary>
    public static VolumeMarker? TryRead(string volume)
    {
        try
        {
            var marker = JsonSerializer.Deserialize<VolumeMarker>(File.ReadAllText(PathIn(volume)));
            return marker?.Format == CurrentFormat ? marker : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>`edge volumes init PATH`: marks an existing, writable directory as a volume, durably.</summary>
    public static VolumeMarker Write(string volume, TimeProvider time)
    {
        if (!Directory.Exists(volume))
            throw new IOException($"{volume} does not exist: mount the disk (or create the directory) first");
        if (File.Exists(PathIn(volume)))
            throw new IOException($"{volume} is already an Edge volume ({PathIn(volume)} exists)");
        var marker = new VolumeMarker(CurrentFormat, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), time.GetUtcNow());
        var temporary = PathIn(volume) + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
        {
            JsonSerializer.Serialize(stream, marker);
            stream.Flush(flushToDisk: true);
        }
        DurableFile.RenameDurably(temporary, PathIn(volume));
        return marker;
    }
}
