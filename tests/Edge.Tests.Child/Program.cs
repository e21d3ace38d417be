// Child process for the index tests. Modes:
//   open DIR KEY          try to open the index; print "opened" or "error <ExceptionType>: <message>" and exit 0 / 3
//   hold DIR KEY          open the index, print "opened", keep it open until stdin closes
//   bench DIR KEY         print inserts/s of a plain LiteDB file and of the store with and without WaitUntilDurable
//   bench-doors ROOT [N]  pin change → door event durable, N changes on 4 doors while 2 cameras record (DoorBench.cs)
//   bench-seal STAGING VOLUME  print sealing MB/s against raw AES-256-GCM on the same buffers (SealBench.cs)
//   bench-sync-drain ROOT BROKER N / bench-sync-clip ROOT BROKER MIB CHUNK  sync throughput (SyncBench.cs)
//   bench-e2e ROOT BROKER CYCLES  door closed (end of post-roll) → clip verified at the central, p50/p99 (E2eBench.cs)
//   bench-growth ROOT [DAYS] [RETENTION_DAYS]  index bytes per simulated day of 4 cameras × 10 s with retention (GrowthBench.cs)
//   purge-loop ROOT       retention passes over 12 simulated hours of segments, "pass N" after each (PurgeLoop.cs)
//   write DIR KEY FIRSTID insert documents forever (single inserts and multi-document transactions), printing
//                         "durable <id>" for every document after WaitUntilDurable() returned for its commit
using Edge.Agent.Index;
using LiteDB;

if (args is ["bench-doors", var doorRoot, ..] doorArgs)
{
    await DoorBench.RunAsync(doorRoot, doorArgs.Length > 2 ? int.Parse(doorArgs[2]) : 10_000);
    return 0;
}

if (args is ["bench-growth", var growthRoot, ..] growthArgs)
{
    GrowthBench.Run(growthRoot, growthArgs.Length > 2 ? int.Parse(growthArgs[2]) : 8, growthArgs.Length > 3 ? int.Parse(growthArgs[3]) : 1);
    return 0;
}

if (args is ["purge-loop", var purgeRoot])
{
    PurgeLoop.Run(purgeRoot);
    return 0;
}

if (args is ["bench-seal", var benchStaging, var benchVolume])
{
    SealBench.Run(benchStaging, benchVolume);
    return 0;
}

if (args is ["bench-sync-drain", var drainRoot, var drainBroker, var drainCount])
{
    await SyncBench.DrainAsync(drainRoot, new Uri(drainBroker), int.Parse(drainCount));
    return 0;
}

if (args is ["bench-e2e", var e2eRoot, var e2eBroker, var e2eCycles])
{
    await E2eBench.RunAsync(e2eRoot, new Uri(e2eBroker), int.Parse(e2eCycles));
    return 0;
}

if (args is ["bench-sync-clip", var clipRoot, var clipBroker, var clipMib, var clipChunk])
{
    await SyncBench.ClipAsync(clipRoot, new Uri(clipBroker), int.Parse(clipMib), int.Parse(clipChunk));
    return 0;
}

if (args.Length < 3)
{
    Console.Error.WriteLine("usage: open|hold|write DIR KEY [FIRSTID]");
    return 2;
}

var (mode, directory, key) = (args[0], args[1], args[2]);
switch (mode)
{
    case "open":
        try
        {
            using var store = IndexStore.Open(directory, key, createKeyIfMissing: false);
            Console.WriteLine("opened");
            return 0;
        }
        catch (Exception e)
        {
            Console.WriteLine($"error {e.GetType().Name}: {e.Message}");
            return 3;
        }

    case "hold":
    {
        using var store = IndexStore.Open(directory, key, createKeyIfMissing: false);
        Console.WriteLine("opened");
        Console.Out.Flush();
        Console.In.ReadToEnd();
        return 0;
    }

    case "write":
    {
        var id = long.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture);
        using var store = IndexStore.Open(directory, key, createKeyIfMissing: false);
        var events = store.Database.GetCollection("events");
        events.EnsureIndex("camera");
        var payloads = new[] { new string('x', 300), new string('y', 1500), new string('z', 4000) };
        var random = new Random();
        Console.WriteLine("opened");
        while (true)
        {
            // Alternate single auto-committed inserts with explicit transactions of several documents, so the
            // log holds transactions of one and of many pages; payloads up to 4 KB fill the log so that LiteDB checkpoints
            // (every 1000 log pages) happen during the run, and some kills land in one.
            var batch = random.Next(3) == 0 ? 1 : random.Next(2, 40);
            var ids = new List<long>(batch);
            if (batch == 1)
            {
                events.Insert(Document(id, payloads[random.Next(payloads.Length)]));
                ids.Add(id++);
            }
            else
            {
                store.Database.BeginTrans();
                for (var i = 0; i < batch; i++)
                {
                    events.Insert(Document(id, payloads[random.Next(payloads.Length)]));
                    ids.Add(id++);
                }
                store.Database.Commit();
            }
            store.WaitUntilDurable();
            foreach (var done in ids)
                Console.WriteLine($"durable {done}");
            Console.Out.Flush();
        }
    }

    case "bench":
        Bench.Run(directory, key);
        return 0;

    default:
        Console.Error.WriteLine($"unknown mode {mode}");
        return 2;
}

static BsonDocument Document(long id, string payload) => new()
{
    ["_id"] = id,
    ["camera"] = $"cam-{id % 7}",
    ["at"] = new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(id),
    ["payload"] = payload,
};
