// The index master key: a file holding exactly 32 random bytes, readable by its owner only (0600). edge creates it
// on first run when it is missing and creation is allowed; afterwards it is only read. Losing this file makes the
// index unreadable, so it belongs in the box's backup/provisioning, never next to the index in a copy.
using System.Security.Cryptography;
using Edge.Agent.Index.Storage;

namespace Edge.Agent.Index;

public static class IndexKeyFile
{
    public const int KeyLength = 32;

    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// Reads the key at <paramref name="path"/>; when it does not exist and <paramref name="create"/> is true, creates
    /// it (32 random bytes, mode 0600, parent directory created 0700) first.
    /// </summary>
    public static byte[] LoadOrCreate(string path, bool create)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        path = Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            if (System.IO.Directory.Exists(path))
                throw new IndexKeyException(path,
                    $"Index key file {path} is a directory; expected a file of {KeyLength} random bytes. " +
                    "Point the key path at a file (for example /etc/edge/index.key).");
            if (!create)
                throw new IndexKeyException(path,
                    $"Index key file {path} does not exist; expected a {KeyLength}-byte key file. " +
                    "Restore it from the box's backup (without it the index cannot be read), or, on a new box " +
                    "with no index yet, let edge create one.");
            return Create(path);
        }
        return Load(path);
    }

    /// <summary>Reads and checks an existing key file.</summary>
    public static byte[] Load(string path)
    {
        path = Path.GetFullPath(path);
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & GroupOrOther) != 0)
                throw new IndexKeyException(path,
                    $"Index key file {path} has mode {ToOctal(mode)}; expected 0600 (owner only), because anyone " +
                    $"who can read it can read the index. Run `chmod 600 {path}` and check who may have copied it.");
        }

        byte[] key;
        try
        {
            key = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IndexKeyException(path, $"Index key file {path} could not be read: {e.Message}. " +
                "Check that edge runs as the key file's owner.", e);
        }

        if (key.Length != KeyLength)
            throw new IndexKeyException(path,
                $"Index key file {path} is {key.Length} bytes long; expected exactly {KeyLength} random bytes. " +
                "The file is damaged or is not an edge index key: restore it from the box's backup.");
        if (key.AsSpan().IndexOfAnyExcept((byte)0) < 0)
            throw new IndexKeyException(path,
                $"Index key file {path} contains only zero bytes; expected {KeyLength} random bytes. " +
                "The file was truncated or never written: restore it from the box's backup.");
        return key;
    }

    private static byte[] Create(string path)
    {
        var directory = Path.GetDirectoryName(path)!;
        if (!System.IO.Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows())
                System.IO.Directory.CreateDirectory(directory);
            else
                System.IO.Directory.CreateDirectory(directory, OwnerOnlyDirectory);
        }

        var key = RandomNumberGenerator.GetBytes(KeyLength);
        // Written under a temporary name and renamed, so a crash never leaves a half-written key under the real name.
        var temporary = $"{path}.tmp-{Convert.ToHexString(RandomNumberGenerator.GetBytes(4))}";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = OwnerOnlyFile;
        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(key);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: false);
            DirectorySync.Sync(directory);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process created the key between our check and our rename: use theirs.
            File.Delete(temporary);
            return Load(path);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
        return key;
    }

    private static string ToOctal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0xFFF, 8);
}
