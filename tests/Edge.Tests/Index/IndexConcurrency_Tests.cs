// The index used from several threads at once, as the agent does (recording, doors, and the sync engine's outbox,
// clip and housekeeping threads): durable inserts, Durably blocks, queries walking indexes, range reads, deletes,
// and LiteDB's automatic checkpoints crossing all of them. Written for the "page type must be collection page"
// failure seen once in an end-to-end run; see docs/design/index.md ("Concurrent use").
using Edge.Agent.Index;
using LiteDB;

namespace Edge.Tests.Index;

public sealed class IndexConcurrency_Tests : IDisposable
{
    private readonly IndexScratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void Writers_readers_deletes_and_checkpoints_on_several_threads_never_read_a_wrong_page()
    {
        var start = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var checkpointsSeen = 0L;
        using (var index = EdgeIndex.Open(_scratch.IndexDirectory, _scratch.KeyPath))
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            long segmentsAdded = 0, flagsAdded = 0;
            var lastEpoch = 0L;

            void Run(string name, Action<int> step) => Loop(name, step, stop, failures);
            var threads = new List<Thread>
            {
                // Recording: one durable insert per segment.
                Start(() => Run("segments", i =>
                {
                    index.AddSegment(Segment(start, i));
                    Interlocked.Increment(ref segmentsAdded);
                })),
                // Doors: a flag and a setting in one Durably block, and now and then a delete.
                Start(() => Run("flags", i =>
                {
                    var id = index.Durably(() =>
                    {
                        var flagId = index.AddFlag(new FlagRecord
                        {
                            Cameras = ["cam1"], FromUtc = start.AddSeconds(i), ToUtc = start.AddSeconds(i + 10),
                            Reason = "door", CreatedUtc = start.AddSeconds(i), CreatedBy = "test",
                        });
                        index.SetSetting("last-flag", flagId.ToString(System.Globalization.CultureInfo.InvariantCulture));
                        return flagId;
                    });
                    Interlocked.Increment(ref flagsAdded);
                    if (i % 3 == 0)
                        index.DeleteFlag(id);
                })),
                // Sync housekeeping: whole-collection reads and index walks.
                Start(() => Run("housekeeping", i =>
                {
                    foreach (var flag in index.AllFlags())
                        Assert.Equal("door", flag.Reason);
                    index.FlagsTouching(start.AddSeconds(i % 500), start.AddSeconds(i % 500 + 30));
                    index.ForgetNoncesBefore(start.AddSeconds(i - 200));
                })),
                // Sync outbox: range reads by id, and nonces written from another thread.
                Start(() => Run("outbox", i =>
                {
                    var after = Math.Max(0, Interlocked.Read(ref segmentsAdded) - 50);
                    foreach (var segment in index.SegmentsAfter(after, 50))
                        Assert.Equal("cam1", segment.Camera);
                    index.RememberNonce($"n{i}", start.AddSeconds(i));
                })),
                // A viewer: queries by camera and time through the segments' indexes.
                Start(() => Run("queries", i =>
                {
                    var from = start.AddSeconds(Math.Max(0, Interlocked.Read(ref segmentsAdded) - 100));
                    index.QuerySegments("cam1", from, from.AddSeconds(100));
                    index.LastSegment("cam1");
                })),
            };
            var watcher = Start(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var epoch = index.LogEpoch;
                    if (epoch != lastEpoch)
                    {
                        Interlocked.Increment(ref checkpointsSeen);
                        lastEpoch = epoch;
                    }
                    Thread.Sleep(5);
                }
            });
            foreach (var thread in threads)
                Assert.True(thread.Join(TimeSpan.FromMinutes(3)), "a worker thread did not stop within 3 minutes");
            watcher.Join();
            Assert.True(failures.IsEmpty, string.Join("\n\n", failures.Take(3)));
            Assert.True(segmentsAdded > 100 && flagsAdded > 50,
                $"too little work to mean anything: {segmentsAdded} segments, {flagsAdded} flags");
        }

        // Everything written is still readable after a clean close and reopen.
        using (var index = EdgeIndex.Open(_scratch.IndexDirectory, _scratch.KeyPath))
        {
            Assert.NotEmpty(index.AllSegments());
            index.AllFlags();
        }
        Assert.True(checkpointsSeen > 0, "no checkpoint crossed the run; the test needs more writes");
    }

    [Fact]
    public void Opening_the_index_creates_every_collection_it_uses_so_no_query_races_a_collection_being_created()
    {
        using (EdgeIndex.Open(_scratch.IndexDirectory, _scratch.KeyPath)) { }
        using var store = _scratch.Open();
        Assert.Equal(
            ["audit", "events", "flags", "outbox_audit", "outbox_events", "outbox_segments", "purged_days", "segments", "settings", "sync_clips", "sync_nonces"],
            store.Database.GetCollectionNames().Order(StringComparer.Ordinal));
        // The documents that created them are gone.
        Assert.All(store.Database.GetCollectionNames(), name => Assert.Equal(0, store.Database.GetCollection(name).Count()));
    }

    [Fact]
    public void Writes_inside_an_explicit_transaction_do_not_wait_for_themselves_and_a_rollback_lets_other_threads_write()
    {
        using var store = _scratch.Open();
        var db = store.Database;
        db.BeginTrans();
        db.GetCollection("a").Insert(new BsonDocument { ["_id"] = 1 });
        Assert.False(db.BeginTrans()); // already in one: LiteDB says so, and the lock is not taken twice
        db.GetCollection("b").Insert(new BsonDocument { ["_id"] = 1 });

        // Another thread's write waits for this transaction to end (threads, not tasks: LiteDB's transactions are per thread).
        using var otherDone = new ManualResetEventSlim();
        var otherThread = Start(() => { db.GetCollection("c").Insert(new BsonDocument { ["_id"] = 1 }); otherDone.Set(); });
        Assert.False(otherDone.Wait(TimeSpan.FromMilliseconds(300)), "a write on another thread ran inside this thread's transaction");
        db.Rollback();
        Assert.True(otherDone.Wait(TimeSpan.FromSeconds(30)), "the other thread's write still waits after the rollback");
        otherThread.Join();

        Assert.Equal(0, db.GetCollection("a").Count());
        Assert.Equal(0, db.GetCollection("b").Count());
        Assert.Equal(1, db.GetCollection("c").Count());
        // And another thread writes again: this one no longer holds the lock.
        using var againDone = new ManualResetEventSlim();
        Start(() => { db.GetCollection("a").Insert(new BsonDocument { ["_id"] = 2 }); againDone.Set(); });
        Assert.True(againDone.Wait(TimeSpan.FromSeconds(30)), "a write after the rollback waited for the lock");
    }

    private static SegmentRecord Segment(DateTime start, int i) => new()
    {
        Camera = "cam1", StartUtc = start.AddSeconds(i), EndUtc = start.AddSeconds(i + 1), DurationSeconds = 1,
        Bytes = 1000 + i, Sha256 = new string('a', 64), StoredBytes = 1000 + i, StoredSha256 = new string('b', 64),
        Volume = "/v", RelativePath = $"cam1/{i:D8}.mp4",
    };

    private static Thread Start(Action body)
    {
        var thread = new Thread(() => body()) { IsBackground = true };
        thread.Start();
        return thread;
    }

    private static void Loop(string name, Action<int> step, CancellationTokenSource stop,
        System.Collections.Concurrent.ConcurrentQueue<Exception> failures)
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            try
            {
                step(i);
            }
            catch (Exception e)
            {
                failures.Enqueue(new Exception($"{name} thread, step {i}: {e.GetType().Name}: {e.Message}", e));
                stop.Cancel(); // one failure is enough; later ones are usually its consequences
                return;
            }
        }
    }
}
