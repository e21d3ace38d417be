// Errors raised by the encrypted index store. Every message names the file or directory involved, says what was
// expected and what was found, and what the operator can do next. Subclasses let callers tell the cases apart:
// a locked index (another edge process), a key problem (missing, malformed or wrong key), and corruption
// (a page that fails authentication, a truncated file).
namespace Edge.Agent.Index;

public class IndexException : Exception
{
    public IndexException(string message) : base(message) { }
    public IndexException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>Another process (or another store in this process) already holds the index lock file.</summary>
public sealed class IndexLockedException : IndexException
{
    public IndexLockedException(string lockFilePath, string message, Exception? inner) : base(message, inner)
        => LockFilePath = lockFilePath;

    public string LockFilePath { get; }
}

/// <summary>The key file is missing, malformed, too widely readable, or is not the key the index was written with.</summary>
public sealed class IndexKeyException : IndexException
{
    public IndexKeyException(string path, string message, Exception? inner = null) : base(message, inner) => Path = path;

    /// <summary>The key file, or the index file whose header did not authenticate with the key.</summary>
    public string Path { get; }
}

/// <summary>An index file is damaged: a page failed authentication, or the file is shorter than it is known to be.</summary>
public sealed class IndexCorruptException : IndexException
{
    public IndexCorruptException(string filePath, long? pageNumber, string message, Exception? inner = null)
        : base(message, inner)
    {
        FilePath = filePath;
        PageNumber = pageNumber;
    }

    public string FilePath { get; }

    /// <summary>The logical page number (LiteDB's page position / 8192) that failed, when one page is at fault.</summary>
    public long? PageNumber { get; }
}
