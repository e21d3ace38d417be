// fsync of a directory, so that a newly created or renamed file's directory entry survives a power cut.
// .NET has no API for it (a directory cannot be opened as a FileStream), so this calls libc directly.
using System.Runtime.InteropServices;

namespace Edge.Agent.Index.Storage;

internal static partial class DirectorySync
{
    private const int O_RDONLY = 0;
    // Differs by architecture: 0200000 on x86-64, 040000 on arm64 (where 0200000 is O_DIRECT, and open() of a
    // directory with it fails with EINVAL: found running the arm64 build under qemu).
    private static readonly int O_DIRECTORY =
        RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000 : 0x10000;

    [DllImport("libc", SetLastError = true, EntryPoint = "open")]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true, EntryPoint = "fsync")]
    private static extern int Fsync(int fd);

    [DllImport("libc", SetLastError = true, EntryPoint = "close")]
    private static extern int Close(int fd);

    /// <summary>Flushes the directory entry list of <paramref name="directory"/> to disk. Linux only; a no-op elsewhere.</summary>
    public static void Sync(string directory)
    {
        if (!OperatingSystem.IsLinux())
            return;
        var fd = Open(directory, O_RDONLY | O_DIRECTORY);
        if (fd < 0)
            throw new IOException($"Could not open directory {directory} to fsync it (errno {Marshal.GetLastPInvokeError()}).");
        try
        {
            if (Fsync(fd) != 0)
                throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()}).");
        }
        finally
        {
            Close(fd);
        }
    }
}
