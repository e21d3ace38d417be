// Measurements for docs/design/index.md (not a test: it prints numbers and asserts nothing).
using System.Diagnostics;
using Edge.Agent.Index;
using LiteDB;

internal static class Bench
{
    private const int Count = 2000;

    public static void Run(string directory, string keyPath)
    {
        var payload = new string('x', 200);
        BsonDocument Doc(int i) => new() { ["_id"] = i, ["camera"] = $"cam-{i % 7}", ["payload"] = payload };

        Directory.CreateDirectory(directory);
        var plainPath = Path.Combine(directory, "plain.db");
        using (var plain = new LiteDatabase(new ConnectionString { Filename = plainPath }))
        {
            var c = plain.GetCollection("events");
            var watch = Stopwatch.StartNew();
            for (var i = 1; i <= Count; i++)
                c.Insert(Doc(i));
            Report("plain LiteDB file, single inserts (no wait possible)", Count, watch);
        }

        foreach (var (name, wait) in new[] { ("store, single inserts, no WaitUntilDurable", false),
                                             ("store, single inserts, WaitUntilDurable after each", true) })
        {
            var dir = Path.Combine(directory, wait ? "wait" : "nowait");
            using var store = IndexStore.Open(dir, keyPath, createKeyIfMissing: true);
            var c = store.Database.GetCollection("events");
            var fsyncs = store.LogStream.FsyncCount;
            var watch = Stopwatch.StartNew();
            for (var i = 1; i <= Count; i++)
            {
                c.Insert(Doc(i));
                if (wait)
                    store.WaitUntilDurable();
            }
            if (!wait)
                store.WaitUntilDurable();
            Report(name, Count, watch, $"{store.LogStream.FsyncCount - fsyncs} log fsyncs");
        }

        {
            var dir = Path.Combine(directory, "bulk");
            using var store = IndexStore.Open(dir, keyPath, createKeyIfMissing: true);
            var c = store.Database.GetCollection("events");
            var watch = Stopwatch.StartNew();
            c.InsertBulk(Enumerable.Range(1, Count * 5).Select(Doc));
            store.WaitUntilDurable();
            Report("store, one InsertBulk + WaitUntilDurable", Count * 5, watch);
        }

        {
            var page = new byte[EncryptedPageStream.PageSize];
            var dir = Path.Combine(directory, "crypto");
            Directory.CreateDirectory(dir);
            using var stream = EncryptedPageStream.CreateTemp(Path.Combine(dir, "t.db"));
            const int pages = 5000;
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < pages; i++)
            {
                stream.Position = (long)(i % 256) * page.Length;
                stream.Write(page, 0, page.Length);
            }
            Console.WriteLine($"page seal + pwrite: {watch.Elapsed.TotalMicroseconds / pages:F1} µs per 8 KiB page");
            watch.Restart();
            for (var i = 0; i < pages; i++)
            {
                stream.Position = (long)(i % 256) * page.Length;
                stream.ReadExactly(page);
            }
            Console.WriteLine($"page pread + open: {watch.Elapsed.TotalMicroseconds / pages:F1} µs per 8 KiB page");
        }
    }

    private static void Report(string name, int count, Stopwatch watch, string extra = "") =>
        Console.WriteLine($"{name}: {count} docs in {watch.Elapsed.TotalMilliseconds:F0} ms = " +
                          $"{count / watch.Elapsed.TotalSeconds:F0} docs/s {extra}");
}
