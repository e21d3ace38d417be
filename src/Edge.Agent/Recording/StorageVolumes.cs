// The ordered list of storage volumes from the configuration. Today: the first volume that is a writable directory
// is used. Volume markers and failover between volumes come with sealed storage (docs/design/storage.md).
namespace Edge.Agent.Recording;

public sealed class StorageVolumes(IReadOnlyList<string> volumes)
{
    public IReadOnlyList<string> All => volumes;

    /// <summary>The volume new segments go to, or null when none is usable (recording then keeps segments in staging).</summary>
    public string? Current()
    {
        foreach (var volume in volumes)
        {
            try
            {
                Directory.CreateDirectory(volume);
                if (IsWritable(volume)) return volume;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return null;
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
