// The local index: one LiteDB 5.0.20 database per box, in {directory}/index.db with its log {directory}/index-log.db,
// both encrypted page by page with AES-256-GCM (EncryptedPageStream) under a key from the key file, and guarded by
// {directory}/index.lock so only one LiteDB instance ever writes them. LiteDB's Commit() returns before its log
// pages are written; WaitUntilDurable() waits until they are written and fsynced. See docs/design/index.md.
using Edge.Agent.Index.Storage;
using LiteDB;
using LiteDB.Engine;

namespace Edge.Agent.Index;

public sealed class IndexStore : IDisposable
{
    public const string DataFileName = "index.db";
    public const string LogFileName = "index-log.db";
    public const string TempFileName = "index-tmp.db";

    private readonly IndexLock _lock;
    private readonly EncryptedPageStream _data;
    private readonly EncryptedPageStream _log;
    private readonly EncryptedPageStream _temp;
    private readonly LiteEngine _engine;
    private readonly LiteDbInternals _internals;
    // Per thread: inside Durably(), WaitUntilDurable() only notes that a wait is owed; the outermost Durably() waits once.
    private readonly ThreadLocal<int> _batchDepth = new();
    private bool _disposed;

    private IndexStore(string directory, IndexLock indexLock, EncryptedPageStream data, EncryptedPageStream log,
        EncryptedPageStream temp, LiteEngine engine, LiteDatabase database, LiteDbInternals internals)
    {
        Directory = directory;
        _lock = indexLock;
        _data = data;
        _log = log;
        _temp = temp;
        _engine = engine;
        Database = database;
        _internals = internals;
    }

    public LiteDatabase Database { get; }

    public string Directory { get; }

    /// <summary>Log pages of a torn, unconfirmed tail dropped at open (after a power cut); worth an audit line when non-zero.</summary>
    public long DiscardedLogTailPages => _log.DiscardedTailPages;

    /// <summary>Data pages torn by a power cut during a checkpoint and rewritten from the log at open; worth an audit line when non-zero.</summary>
    public int RepairedDataPages { get; private init; }

    /// <summary>Bytes on disk of the data and log files.</summary>
    public long SizeBytes => _data.PhysicalLength + _log.PhysicalLength;

    internal EncryptedPageStream DataStream => _data;
    internal EncryptedPageStream LogStream => _log;
    internal EncryptedPageStream TempStream => _temp;

    /// <summary>
    /// Opens (creating if missing) the index in <paramref name="directory"/>. The key comes from
    /// <paramref name="keyFilePath"/>, created when missing if <paramref name="createKeyIfMissing"/>.
    /// <paramref name="configureMapper"/> receives the store's own BsonMapper (not the global one) before the database opens.
    /// </summary>
    public static IndexStore Open(string directory, string keyFilePath, bool createKeyIfMissing,
        Action<BsonMapper>? configureMapper = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentException.ThrowIfNullOrEmpty(keyFilePath);
        directory = Path.GetFullPath(directory);
        var internals = LiteDbInternals.Resolve();
        if (!System.IO.Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows())
                System.IO.Directory.CreateDirectory(directory);
            else
                System.IO.Directory.CreateDirectory(directory,
                    UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var indexLock = IndexLock.Acquire(directory);
        var toDispose = new List<IDisposable> { indexLock };
        try
        {
            var key = IndexKeyFile.LoadOrCreate(keyFilePath, createKeyIfMissing);
            var keyDescription = $"the key in {Path.GetFullPath(keyFilePath)}";
            var dataPath = Path.Combine(directory, DataFileName);
            var logPath = Path.Combine(directory, LogFileName);
            var dataExisted = File.Exists(dataPath) && new FileInfo(dataPath).Length >= EncryptedPageStream.HeaderSize;
            if (!dataExisted && File.Exists(logPath) && new FileInfo(logPath).Length > EncryptedPageStream.HeaderSize)
                throw new IndexCorruptException(dataPath, null,
                    $"{dataPath} is missing or empty but its log {logPath} holds pages; expected both or neither. " +
                    "Restore index.db from backup, or move the log aside to start an empty index.");

            EncryptedPageStream data, log, temp;
            try
            {
                data = EncryptedPageStream.OpenData(dataPath, key, keyDescription);
                toDispose.Add(data);
                log = EncryptedPageStream.OpenLog(logPath, key, data.DatabaseId, keyDescription);
                toDispose.Add(log);
                temp = EncryptedPageStream.CreateTemp(Path.Combine(directory, TempFileName));
                toDispose.Add(temp);
            }
            finally
            {
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
            }

            var repaired = CheckpointRepair.Run(data, log);

            var mapper = new BsonMapper();
            configureMapper?.Invoke(mapper);
            var settings = new EngineSettings
            {
                DataStream = data,
                LogStream = log,
                TempStream = temp,
                // Never "rebuild" silently: a damaged index must surface as an error.
                AutoRebuild = false,
            };
            var engine = new LiteEngine(settings);
            toDispose.Add(engine);
            // One write at a time across collections: LiteDB 5.0.20 corrupts its shared header otherwise (SerialWriteEngine).
            var database = new LiteDatabase(new SerialWriteEngine(engine, directory), mapper, disposeOnClose: true);
            toDispose.Add(database);
            if (!database.UtcDate)
            {
                database.UtcDate = true; // a pragma stored in the header: written once, on the first open
            }
            return new IndexStore(directory, indexLock, data, log, temp, engine, database, internals)
            {
                RepairedDataPages = repaired,
            };
        }
        catch
        {
            for (var i = toDispose.Count - 1; i >= 0; i--)
            {
                try { toDispose[i].Dispose(); }
                catch (Exception) { /* keep the original exception */ }
            }
            throw;
        }
    }

    /// <summary>
    /// Blocks until every transaction committed so far (by any thread) is on disk: LiteDB's queued log pages are
    /// written and the log is fsynced. Call it after Commit()/Insert of records that must not be lost.
    /// </summary>
    public void WaitUntilDurable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_batchDepth.Value > 0)
            return; // the enclosing Durably() waits once for all of its commits
        WaitForQueuedCommits();
    }

    /// <summary>
    /// Runs <paramref name="writes"/> (on this thread) with every WaitUntilDurable() inside it deferred, then waits once:
    /// when it returns, every commit made in it (and before it) is on disk. Several records that belong together (an
    /// event, its audit record, its flag) then cost one log fsync instead of one each. Nothing written inside may be
    /// acted on outside the index before this returns. If <paramref name="writes"/> throws, the commits it made are
    /// made durable by the next wait, not by this one.
    /// </summary>
    public T Durably<T>(Func<T> writes)
    {
        ArgumentNullException.ThrowIfNull(writes);
        ObjectDisposedException.ThrowIf(_disposed, this);
        T result;
        _batchDepth.Value++;
        try
        {
            result = writes();
        }
        finally
        {
            _batchDepth.Value--;
        }
        if (_batchDepth.Value == 0)
            WaitForQueuedCommits();
        return result;
    }

    /// <summary>
    /// Checkpoints (copies the log into the data file, fsyncs it, empties the log) when the log holds at least
    /// <paramref name="pages"/> pages; true when it did. LiteDB does this by itself at 1000 pages, inside whichever
    /// commit crosses that, while every other writer waits: a caller that knows a quiet moment can do it earlier, then.
    /// </summary>
    public bool CheckpointIfLogOver(long pages)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_log.Length / EncryptedPageStream.PageSize < pages)
            return false;
        Database.Checkpoint();
        return true;
    }

    private void WaitForQueuedCommits()
    {
        // Epoch first: if a checkpoint empties the log between the two reads, the epoch changes and the wait ends,
        // which is right because a checkpoint fsyncs the data file before it empties the log.
        var epoch = _log.Epoch;
        var lastQueued = _internals.QueuedLogEnd(_engine);
        var pages = lastQueued / EncryptedPageStream.PageSize + 1;
        _log.WaitForWritten(epoch, pages, () => _internals.WriterFault(_engine));
        _log.FlushDurable();
    }

    /// <summary>Checkpoints the log into the data file, closes LiteDB, makes both files durable and releases the lock.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        try
        {
            Database.Dispose(); // checkpoints (when no transaction is open) and closes the engine
        }
        finally
        {
            _temp.Dispose();
            _log.Dispose();
            _data.Dispose();
            _lock.Dispose();
            _batchDepth.Dispose();
        }
    }
}
