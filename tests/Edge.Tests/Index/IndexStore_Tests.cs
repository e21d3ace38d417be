// IndexStore: opening, reopening, the store's own mapper and UTC dates, the single-writer lock, and that
// WaitUntilDurable() covers every commit made before it.
using Edge.Agent.Index;
using LiteDB;

namespace Edge.Tests.Index;

public sealed class IndexStore_Tests : IDisposable
{
    private readonly IndexScratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private sealed class Segment
    {
        public int Id { get; set; }
        public string Camera { get; set; } = "";
        public DateTime StartedAt { get; set; }
    }

    [Fact]
    public void Documents_written_and_committed_are_read_back_after_reopening()
    {
        var started = new DateTime(2025, 3, 4, 5, 6, 7, 890, DateTimeKind.Utc);
        using (var store = _scratch.Open())
        {
            var segments = store.Database.GetCollection<Segment>("segments");
            for (var i = 1; i <= 500; i++)
                segments.Insert(new Segment { Id = i, Camera = $"cam-{i % 3}", StartedAt = started.AddSeconds(i) });
            store.WaitUntilDurable();
        }

        using (var store = _scratch.Open())
        {
            var segments = store.Database.GetCollection<Segment>("segments");
            Assert.Equal(500, segments.Count());
            var one = segments.FindById(42);
            Assert.Equal("cam-0", one.Camera);
            Assert.Equal(started.AddSeconds(42), one.StartedAt);
            Assert.Equal(DateTimeKind.Utc, one.StartedAt.Kind);
        }
    }

    [Fact]
    public void The_mapper_given_to_configureMapper_is_the_one_the_database_uses_and_not_the_global_one()
    {
        BsonMapper? seen = null;
        using var store = IndexStore.Open(_scratch.IndexDirectory, _scratch.KeyPath, createKeyIfMissing: true,
            mapper =>
            {
                seen = mapper;
                mapper.Entity<Segment>().Field(s => s.Camera, "cam");
            });

        Assert.NotNull(seen);
        Assert.NotSame(BsonMapper.Global, seen);
        Assert.Same(seen, store.Database.Mapper);
        store.Database.GetCollection<Segment>("segments").Insert(new Segment { Id = 1, Camera = "c1" });
        var raw = store.Database.GetCollection("segments").FindById(1);
        Assert.Equal("c1", raw["cam"].AsString);
    }

    [Fact]
    public void A_second_open_in_the_same_process_fails_naming_the_lock_file()
    {
        using var first = _scratch.Open();

        var error = Assert.Throws<IndexLockedException>(() => _scratch.Open());

        var lockPath = Path.Combine(_scratch.IndexDirectory, "index.lock");
        Assert.Equal(lockPath, error.LockFilePath);
        Assert.Contains(lockPath, error.Message);
        Assert.Contains(_scratch.IndexDirectory, error.Message);
    }

    [Fact]
    public void The_index_opens_again_once_the_first_store_is_disposed()
    {
        _scratch.Open().Dispose();
        using var again = _scratch.Open();
        Assert.NotNull(again.Database);
    }

    [Fact]
    public void A_second_open_from_another_process_fails_naming_the_lock_file()
    {
        using var store = _scratch.Open();

        var (exitCode, output, error) = ChildProcess.Run("open", _scratch.IndexDirectory, _scratch.KeyPath);

        Assert.True(exitCode == 3, $"child exit {exitCode}, stdout: {output}, stderr: {error}");
        Assert.StartsWith("error IndexLockedException:", output.Trim());
        Assert.Contains(Path.Combine(_scratch.IndexDirectory, "index.lock"), output);
    }

    [Fact]
    public void The_lock_of_a_process_killed_with_SIGKILL_is_released()
    {
        _scratch.Open().Dispose(); // creates the key and the index
        using var holder = ChildProcess.Start("hold", _scratch.IndexDirectory, _scratch.KeyPath);
        Assert.Equal("opened", holder.StandardOutput.ReadLine());
        Assert.Throws<IndexLockedException>(() => _scratch.Open());

        holder.Kill();
        holder.WaitForExit();

        using var store = _scratch.Open();
        Assert.NotNull(store.Database);
    }

    [Fact]
    public void WaitUntilDurable_returns_only_after_the_log_pages_of_every_earlier_commit_are_fsynced()
    {
        using var store = _scratch.Open();
        var log = store.LogStream;
        var engine = Edge.Agent.Index.Storage.LiteDbInternals.EngineOf(store.Database);
        var internals = Edge.Agent.Index.Storage.LiteDbInternals.Resolve();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();

        // Several writers at once, so commits of other threads are queued while one waits.
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
        {
            var events = store.Database.GetCollection("events");
            for (var i = 0; i < 150; i++)
            {
                events.Insert(new BsonDocument { ["_id"] = worker * 10_000 + i, ["camera"] = "cam-1" });
                var epoch = log.Epoch;
                var queuedEnd = internals.QueuedLogEnd(engine);
                store.WaitUntilDurable();
                // The durable mark is only ever raised after an fsync that covered the pages below it.
                var neededPages = queuedEnd / EncryptedPageStream.PageSize + 1;
                if (log.Epoch == epoch && log.DurableMarkPages < neededPages)
                    failures.Enqueue($"worker {worker} insert {i}: durable mark {log.DurableMarkPages} < {neededPages}");
            }
        });

        Assert.Empty(failures);
        Assert.Equal(600, store.Database.GetCollection("events").Count());
    }

    [Fact]
    public void Without_WaitUntilDurable_commit_returns_before_its_log_pages_are_known_durable()
    {
        // The reason WaitUntilDurable exists: LiteDB 5.0.20's Commit() only queues the log pages.
        using var store = _scratch.Open();
        var log = store.LogStream;
        var engine = Edge.Agent.Index.Storage.LiteDbInternals.EngineOf(store.Database);
        var internals = Edge.Agent.Index.Storage.LiteDbInternals.Resolve();
        var events = store.Database.GetCollection("events");
        var lagging = 0;
        for (var i = 0; i < 300; i++)
        {
            events.Insert(new BsonDocument { ["_id"] = i, ["payload"] = new string('x', 3000) });
            var needed = internals.QueuedLogEnd(engine) / EncryptedPageStream.PageSize + 1;
            if (log.DurableMarkPages < needed)
                lagging++;
        }
        Assert.True(lagging > 0, "every commit was already durable when Commit() returned");
    }

    [Fact]
    public void Commits_made_inside_Durably_are_durable_when_it_returns_and_share_its_log_fsyncs()
    {
        using var store = _scratch.Open();
        var log = store.LogStream;
        var engine = Edge.Agent.Index.Storage.LiteDbInternals.EngineOf(store.Database);
        var internals = Edge.Agent.Index.Storage.LiteDbInternals.Resolve();
        var events = store.Database.GetCollection("events");
        events.Insert(new BsonDocument { ["_id"] = 0 });
        store.WaitUntilDurable();
        var epoch = log.Epoch;
        var fsyncsBefore = log.FsyncCount;
        long queuedEnd = 0;

        store.Durably(() =>
        {
            for (var i = 1; i <= 20; i++)
            {
                events.Insert(new BsonDocument { ["_id"] = i, ["payload"] = new string('x', 500) });
                store.WaitUntilDurable(); // inside Durably: deferred to its end
            }
            queuedEnd = internals.QueuedLogEnd(engine);
            return 0;
        });

        Assert.Equal(epoch, log.Epoch); // no checkpoint emptied the log meanwhile, so the mark is the proof
        Assert.True(log.DurableMarkPages >= queuedEnd / EncryptedPageStream.PageSize + 1,
            $"durable mark {log.DurableMarkPages} does not cover the last commit (log end {queuedEnd})");
        // One fsync for the pages and one for the mark, not one (or more) per commit.
        Assert.InRange(log.FsyncCount - fsyncsBefore, 1, 2);
    }

    [Fact]
    public void Durably_defers_only_its_own_threads_waits()
    {
        using var store = _scratch.Open();
        var log = store.LogStream;
        var engine = Edge.Agent.Index.Storage.LiteDbInternals.EngineOf(store.Database);
        var internals = Edge.Agent.Index.Storage.LiteDbInternals.Resolve();
        var events = store.Database.GetCollection("events");
        long markAfterOtherThread = -1, otherThreadEnd = 0;

        store.Durably(() =>
        {
            events.Insert(new BsonDocument { ["_id"] = 1 });
            var other = new Thread(() =>
            {
                events.Insert(new BsonDocument { ["_id"] = 2 });
                otherThreadEnd = internals.QueuedLogEnd(engine);
                store.WaitUntilDurable(); // not inside a Durably of its own: waits now
                markAfterOtherThread = log.DurableMarkPages;
            });
            other.Start();
            Assert.True(other.Join(TimeSpan.FromSeconds(30)), "the other thread's WaitUntilDurable did not return");
            return 0;
        });

        Assert.True(markAfterOtherThread >= otherThreadEnd / EncryptedPageStream.PageSize + 1,
            $"the other thread returned from WaitUntilDurable with mark {markAfterOtherThread} below its commit (log end {otherThreadEnd})");
    }

    [Fact]
    public void CheckpointIfLogOver_empties_the_log_into_the_data_file_only_from_the_given_size()
    {
        using (var store = _scratch.Open())
        {
            var events = store.Database.GetCollection("events");
            for (var i = 1; i <= 20; i++)
            {
                events.Insert(new BsonDocument { ["_id"] = i, ["payload"] = new string('x', 3000) });
                store.WaitUntilDurable();
            }
            var log = store.LogStream;
            var pages = log.Length / EncryptedPageStream.PageSize;
            var epoch = log.Epoch;
            Assert.InRange(pages, 20, 999); // below LiteDB's own checkpoint (1000 pages)

            Assert.False(store.CheckpointIfLogOver(pages + 1));
            Assert.Equal((pages, epoch), (log.Length / EncryptedPageStream.PageSize, log.Epoch));

            Assert.True(store.CheckpointIfLogOver(pages));
            Assert.Equal((0L, epoch + 1), (log.Length, log.Epoch));
        }
        using var reopened = _scratch.Open();
        Assert.Equal(20, reopened.Database.GetCollection("events").Count());
        Assert.Equal(EncryptedPageStream.HeaderSize, new FileInfo(_scratch.LogPath).Length);
    }

    [Fact]
    public void SizeBytes_counts_the_data_and_log_files_on_disk()
    {
        using var store = _scratch.Open();
        store.Database.GetCollection("events").Insert(new BsonDocument { ["_id"] = 1 });
        store.WaitUntilDurable();
        Assert.Equal(new FileInfo(_scratch.DataPath).Length + new FileInfo(_scratch.LogPath).Length, store.SizeBytes);
        Assert.True(store.SizeBytes > 2 * EncryptedPageStream.HeaderSize);
    }
}
