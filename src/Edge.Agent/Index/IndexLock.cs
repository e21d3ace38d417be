// One writer per index directory. LiteDB 5.0.20 does not stop a second engine from opening the same files on Linux,
// and two writers corrupt the log. .NET on Linux takes an advisory flock(LOCK_EX) on a file opened with
// FileShare.None; the kernel drops it when the process exits or is killed, so a crash never leaves a stale lock.
// A second open of the lock file - from another process or from this one - fails with a clear message.
namespace Edge.Agent.Index;

public sealed class IndexLock : IDisposable
{
    public const string FileName = "index.lock";

    private readonly FileStream _stream;

    private IndexLock(string path, FileStream stream)
    {
        Path = path;
        _stream = stream;
    }

    /// <summary>The lock file ({directory}/index.lock).</summary>
    public string Path { get; }

    /// <summary>Takes the lock on <paramref name="directory"/> or throws <see cref="IndexLockedException"/>.</summary>
    public static IndexLock Acquire(string directory)
    {
        var path = System.IO.Path.Combine(directory, FileName);
        var options = new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
        };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

        FileStream stream;
        try
        {
            stream = new FileStream(path, options);
        }
        catch (IOException e)
        {
            throw new IndexLockedException(path,
                $"The index at {directory} is already open by another edge process or by another IndexStore in " +
                $"this process (lock {path} held). Stop `edge run` (systemctl stop edge) before running index " +
                "commands, or use the running agent instead of opening the index a second time.", e);
        }

        try
        {
            // The pid is only for people looking at the file; the flock is what excludes.
            stream.SetLength(0);
            var text = System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n");
            stream.Write(text);
            stream.Flush();
        }
        catch
        {
            stream.Dispose();
            throw;
        }
        return new IndexLock(path, stream);
    }

    public void Dispose() => _stream.Dispose();
}
