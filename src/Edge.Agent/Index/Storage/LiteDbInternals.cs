// The two facts about LiteDB 5.0.20's internals that WaitUntilDurable needs, read by reflection because LiteDB does
// not expose them: where the log ends (DiskService._logLength, the position given to the last page queued for the
// log writer) and whether its background log writer failed (DiskWriterQueue._exception). Commit() queues its
// pages and returns; the store then waits until its own log stream has written up to that position and fsyncs.
// Everything is looked up once at open and checked, so a different LiteDB version fails loudly at Open.
using System.Reflection;
using LiteDB;
using LiteDB.Engine;

namespace Edge.Agent.Index.Storage;

internal sealed class LiteDbInternals
{
    public static readonly Version SupportedVersion = new(5, 0, 20, 0);

    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.NonPublic;

    private readonly FieldInfo _engineDisk;
    private readonly FieldInfo _diskLogLength;
    private readonly FieldInfo _diskQueue;
    private readonly PropertyInfo _lazyIsValueCreated;
    private readonly PropertyInfo _lazyValue;
    private readonly FieldInfo _queueException;

    private LiteDbInternals()
    {
        _engineDisk = Field(typeof(LiteEngine), "_disk");
        var diskService = _engineDisk.FieldType;
        _diskLogLength = Field(diskService, "_logLength");
        if (_diskLogLength.FieldType != typeof(long))
            throw Missing($"{diskService.FullName}._logLength as a long");
        _diskQueue = Field(diskService, "_queue");
        var lazy = _diskQueue.FieldType;
        if (!lazy.IsGenericType || lazy.GetGenericTypeDefinition() != typeof(Lazy<>))
            throw Missing($"{diskService.FullName}._queue as a Lazy<DiskWriterQueue>");
        _lazyIsValueCreated = lazy.GetProperty(nameof(Lazy<object>.IsValueCreated))!;
        _lazyValue = lazy.GetProperty(nameof(Lazy<object>.Value))!;
        _queueException = Field(lazy.GetGenericArguments()[0], "_exception");
    }

    /// <summary>Checks the LiteDB version and finds the internals; throws <see cref="IndexException"/> when they are not there.</summary>
    public static LiteDbInternals Resolve()
    {
        var version = typeof(LiteEngine).Assembly.GetName().Version;
        if (version != SupportedVersion)
            throw new IndexException(
                $"The index store needs LiteDB {SupportedVersion.ToString(3)} (it relies on that version's commit " +
                $"and log-writer internals for WaitUntilDurable); found LiteDB {version}. Pin LiteDB " +
                $"{SupportedVersion.ToString(3)} in Edge.Agent.csproj, or re-check docs/design/index.md against the new version.");
        return new LiteDbInternals();
    }

    /// <summary>The engine behind a database created by the store.</summary>
    public static LiteEngine EngineOf(LiteDatabase database) =>
        (typeof(LiteDatabase).GetField("_engine", Instance)?.GetValue(database)
            ?? throw Missing("LiteDatabase._engine")) switch
        {
            SerialWriteEngine serial => (LiteEngine)serial.Inner,
            var engine => (LiteEngine)engine,
        };

    /// <summary>Position of the last page LiteDB has queued for the log (-8192 when the log is empty).</summary>
    public long QueuedLogEnd(LiteEngine engine)
    {
        var disk = _engineDisk.GetValue(engine) ?? throw new IndexException("The LiteDB engine is closed (no disk service).");
        // A 64-bit aligned field: one load on x64 and arm64, so no torn read of LiteDB's Interlocked.Add.
        return (long)_diskLogLength.GetValue(disk)!;
    }

    /// <summary>The exception that stopped LiteDB's log writer, if it stopped.</summary>
    public Exception? WriterFault(LiteEngine engine)
    {
        var disk = _engineDisk.GetValue(engine);
        if (disk is null)
            return null;
        var lazy = _diskQueue.GetValue(disk)!;
        if (!(bool)_lazyIsValueCreated.GetValue(lazy)!)
            return null;
        return _queueException.GetValue(_lazyValue.GetValue(lazy)) as Exception;
    }

    private static FieldInfo Field(Type type, string name) =>
        type.GetField(name, Instance) ?? throw Missing($"{type.FullName}.{name}");

    private static IndexException Missing(string what) =>
        new($"LiteDB internals the index store relies on were not found ({what}); expected LiteDB " +
            $"{SupportedVersion.ToString(3)}. Pin that version, or re-check docs/design/index.md against the one in use.");
}
