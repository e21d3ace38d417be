// LiteDB 5.0.20 lets write transactions on different collections run at the same time, but they share one in-memory
// header page (its free empty-page list, its last page id), and they corrupt it: a page ends up both in use and on the
// free list, and later reads or inserts fail with "empty page must be defined as empty type" or "page type must be
// collection page" (upstream litedb-org/LiteDB#2503 and #2825; partly fixed in 5.0.21, which is not served here). The
// corruption reaches the log and the data file. This engine wrapper lets one write run at a time across all
// collections; queries do not take the lock and run beside writes as before. The lock is held while LiteDB does its
// in-memory work and queues the log pages, not during the fsync (WaitUntilDurable waits outside it), so commits from
// several threads still share log fsyncs. See docs/design/index.md ("Concurrent use").
using LiteDB;
using LiteDB.Engine;

namespace Edge.Agent.Index.Storage;

internal sealed class SerialWriteEngine(ILiteEngine inner, string indexDirectory) : ILiteEngine
{
    // As long as LiteDB's own lock timeout (pragma TIMEOUT, one minute): a write waiting longer is stuck behind a
    // transaction that was never committed or rolled back.
    private static readonly TimeSpan WriteLockTimeout = TimeSpan.FromMinutes(1);

    // A Monitor: re-entrant on the thread that holds it, as LiteDB's transactions are (one per thread), so a write
    // inside an explicit BeginTrans()..Commit() on the same thread does not wait for itself.
    private readonly object _writeGate = new();

    public ILiteEngine Inner => inner;

    public bool BeginTrans()
    {
        EnterWrite();
        bool began;
        try
        {
            began = inner.BeginTrans();
        }
        catch
        {
            Monitor.Exit(_writeGate);
            throw;
        }
        // Not begun: this thread was already in a transaction, whose BeginTrans() holds the lock until its Commit().
        if (!began)
            Monitor.Exit(_writeGate);
        return began;
    }

    public bool Commit() => EndTransaction(inner.Commit);

    public bool Rollback() => EndTransaction(inner.Rollback);

    private bool EndTransaction(Func<bool> end)
    {
        try
        {
            return end();
        }
        finally
        {
            // Releases what BeginTrans() took (the lock is held once per open explicit transaction).
            if (Monitor.IsEntered(_writeGate))
                Monitor.Exit(_writeGate);
        }
    }

    public IBsonDataReader Query(string collection, Query query) => inner.Query(collection, query);

    public int Insert(string collection, IEnumerable<BsonDocument> docs, BsonAutoId autoId) =>
        Write(() => inner.Insert(collection, docs, autoId));

    public int Update(string collection, IEnumerable<BsonDocument> docs) => Write(() => inner.Update(collection, docs));

    public int UpdateMany(string collection, BsonExpression transform, BsonExpression predicate) =>
        Write(() => inner.UpdateMany(collection, transform, predicate));

    public int Upsert(string collection, IEnumerable<BsonDocument> docs, BsonAutoId autoId) =>
        Write(() => inner.Upsert(collection, docs, autoId));

    public int Delete(string collection, IEnumerable<BsonValue> ids) => Write(() => inner.Delete(collection, ids));

    public int DeleteMany(string collection, BsonExpression predicate) => Write(() => inner.DeleteMany(collection, predicate));

    public bool DropCollection(string name) => Write(() => inner.DropCollection(name));

    public bool RenameCollection(string name, string newName) => Write(() => inner.RenameCollection(name, newName));

    public bool EnsureIndex(string collection, string name, BsonExpression expression, bool unique) =>
        Write(() => inner.EnsureIndex(collection, name, expression, unique));

    public bool DropIndex(string collection, string name) => Write(() => inner.DropIndex(collection, name));

    public BsonValue Pragma(string name) => inner.Pragma(name);

    public bool Pragma(string name, BsonValue value) => Write(() => inner.Pragma(name, value));

    // Checkpoint and rebuild take LiteDB's exclusive lock (no transaction of any thread runs beside them), so they
    // need no write lock; taking it would deadlock against a thread that writes while it enumerates a query.
    public int Checkpoint() => inner.Checkpoint();

    public long Rebuild(RebuildOptions options) => inner.Rebuild(options);

    public void Dispose() => inner.Dispose();

    private T Write<T>(Func<T> write)
    {
        EnterWrite();
        try
        {
            return write();
        }
        finally
        {
            Monitor.Exit(_writeGate);
        }
    }

    private void EnterWrite()
    {
        if (!Monitor.TryEnter(_writeGate, WriteLockTimeout))
            throw new IndexException(
                $"{indexDirectory}: a write to the index waited {WriteLockTimeout.TotalSeconds:0} s for the index's " +
                "write lock; expected it within milliseconds. Another thread holds a transaction open (a " +
                "BeginTrans() without Commit() or Rollback()). Restart edge; the index reopens from its last durable state.");
    }
}
