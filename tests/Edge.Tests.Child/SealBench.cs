// `bench-seal STAGING VOLUME`: sealing throughput against raw AES-256-GCM on the same buffers, in the same run, for
// docs/design/storage.md (prints numbers, asserts nothing). Each figure is the best of several rounds over 64 MiB of
// random bytes in memory; "file" rounds seal a staged file (STAGING: tmpfs, as on a box) to VOLUME, with fsync.
using System.Diagnostics;
using System.Security.Cryptography;
using Edge.Agent.Sealing;

internal static class SealBench
{
    private const int Size = 64 * 1024 * 1024;
    private const int Rounds = 7;
    private const double CameraHourBytes = 4_000_000 / 8.0 * 3600; // 4 Mbit/s for an hour

    public static void Run(string directory, string volumeDirectory)
    {
        var plain = new byte[Size];
        RandomNumberGenerator.Fill(plain);
        int chunk = 64 * 1024;
        var cipher = new byte[Size + Size / chunk * 16 + 4096];
        var key = RandomNumberGenerator.GetBytes(32);
        var binding = new byte[32];

        double gcm = Best(() =>
        {
            using var aes = new AesGcm(key, 16);
            Span<byte> nonce = stackalloc byte[12];
            int o = 0;
            for (int i = 0; i < Size; i += chunk)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(nonce, i);
                aes.Encrypt(nonce, plain.AsSpan(i, chunk), cipher.AsSpan(o, chunk), cipher.AsSpan(o + chunk, 16));
                o += chunk + 16;
            }
        }, out _);
        double sha = Best(() => SHA256.HashData(plain), out _);
        var sink = new MemoryStream(cipher);
        double sequential = Best(() => { sink.Position = 0; SealWriter.Seal(new MemoryStream(plain, false), sink, key, binding, chunk, parallel: false); }, out var cpuSequential);
        double parallel = Best(() => { sink.Position = 0; SealWriter.Seal(new MemoryStream(plain, false), sink, key, binding, chunk, parallel: true); }, out var cpuParallel);

        // Other processes compete for the cores; the load average says how much.
        Console.WriteLine($"load average: {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}");
        Console.WriteLine($"raw AES-256-GCM, 64 KiB chunks          {gcm,7:F0} MB/s");
        Console.WriteLine($"raw SHA-256                             {sha,7:F0} MB/s");
        double floor = 1 / (1 / gcm + 2 / sha);
        Console.WriteLine($"floor: GCM + 2 x SHA-256, one core      {floor,7:F0} MB/s  ({floor / gcm:P0} of raw GCM)");
        Console.WriteLine($"seal in memory, one thread              {sequential,7:F0} MB/s  ({sequential / gcm:P0} of raw GCM)  {cpuSequential * CameraHourBytes / Size:F2} CPU s per camera-hour at 4 Mbit/s");
        Console.WriteLine($"seal in memory, parallel hashing        {parallel,7:F0} MB/s  ({parallel / gcm:P0} of raw GCM)  {cpuParallel * CameraHourBytes / Size:F2} CPU s per camera-hour at 4 Mbit/s");

        Directory.CreateDirectory(directory);
        var staged = Path.Combine(directory, "staged.ts");
        File.WriteAllBytes(staged, plain);
        var owner = CreateOwner(directory);
        foreach (var p in new[] { false, true })
        {
            var sealer = new SealingSegmentSealer(owner, p);
            var volume = Path.Combine(volumeDirectory, "volume");
            double file = Best(() =>
            {
                var s = sealer.Seal(staged, volume, "c0/2026-01-01/x.ts");
                File.Delete(s.PartialPath);
            }, out var cpu);
            Console.WriteLine($"seal staged file -> file + fsync, {(p ? "parallel" : "one thread")} {file,7:F0} MB/s  ({file / gcm:P0} of raw GCM)  {cpu * CameraHourBytes / Size:F2} CPU s per camera-hour");
        }
        File.Delete(staged);
    }

    private static OwnerPublicKey CreateOwner(string directory)
    {
        var keys = Path.Combine(directory, "keys-" + Guid.NewGuid().ToString("N"));
        var pair = OwnerKeys.CreatePair(keys, passphrase: null);
        var owner = OwnerKeys.LoadPublic(pair.PublicKeyPath);
        Directory.Delete(keys, recursive: true);
        return owner;
    }

    /// <summary>MB/s of the fastest round; <paramref name="cpuSeconds"/>: process CPU time of that round.</summary>
    private static double Best(Action action, out double cpuSeconds)
    {
        action(); // warm-up: JIT, page faults of the buffers
        double best = double.MaxValue;
        cpuSeconds = 0;
        var process = Process.GetCurrentProcess();
        for (int i = 0; i < Rounds; i++)
        {
            process.Refresh();
            var cpu = process.TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            action();
            double elapsed = watch.Elapsed.TotalSeconds;
            process.Refresh();
            if (elapsed < best)
            {
                best = elapsed;
                cpuSeconds = (process.TotalProcessorTime - cpu).TotalSeconds;
            }
        }
        return Size / 1e6 / best;
    }
}
