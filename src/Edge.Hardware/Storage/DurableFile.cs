// fsync for files and directories. A file's data is durable after fsync(file); its *name* is durable only after
// fsync(directory). The crash-safe write order (docs/design/recording.md) relies on both.
using System.Runtime.InteropServices;

namespace Edge.Hardware.Storage;

public static partial class DurableFile
{
    private const int O_RDONLY = 0;

    // O_DIRECTORY differs by architecture: 0200000 on x86/x86_64, 040000 on arm and aarch64.
    private static readonly int O_DIRECTORY =
        RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000 : 0x10000;

    public static void FsyncDirectory(string directory)
    {
        int flags = O_RDONLY | O_DIRECTORY;
        int fd = open(directory, flags);
        if (fd < 0) throw new IOException($"cannot open directory {directory} to fsync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (fsync(fd) != 0) throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally { close(fd); }
    }

    /// <summary>Renames within one directory and makes the new name durable.</summary>
    public static void RenameDurably(string from, string to)
    {
        File.Move(from, to, overwrite: false);
        FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(to))!);
    }

    /// <summary>Creates a directory (and parents) and makes each new entry durable in its parent.</summary>
    public static void CreateDirectoryDurably(string directory)
    {
        var full = Path.GetFullPath(directory);
        if (Directory.Exists(full)) return;
        var parent = Path.GetDirectoryName(full);
        if (parent is not null) CreateDirectoryDurably(parent);
        Directory.CreateDirectory(full);
        if (parent is not null) FsyncDirectory(parent);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
