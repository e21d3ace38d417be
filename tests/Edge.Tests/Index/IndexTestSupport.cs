// Shared pieces of the index tests: a scratch directory with a key path, raw slot surgery on the page files, and
// starting the child process (tests/Edge.Tests.Child) that opens the same index from another process.
using System.Diagnostics;
using Edge.Agent.Index;

namespace Edge.Tests.Index;

internal sealed class IndexScratch : IDisposable
{
    public IndexScratch()
    {
        Root = Path.Combine(Path.GetTempPath(), "edge-index-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        IndexDirectory = Path.Combine(Root, "index");
        KeyPath = Path.Combine(Root, "keys", "index.key");
    }

    public string Root { get; }
    public string IndexDirectory { get; }
    public string KeyPath { get; }
    public string DataPath => Path.Combine(IndexDirectory, IndexStore.DataFileName);
    public string LogPath => Path.Combine(IndexDirectory, IndexStore.LogFileName);

    public IndexStore Open() => IndexStore.Open(IndexDirectory, KeyPath, createKeyIfMissing: true);

    /// <summary>Copies data and log files of an open index into a new directory, as a crash would leave them.</summary>
    public string CopyIndexFiles(string name)
    {
        var target = Path.Combine(Root, name);
        Directory.CreateDirectory(target);
        File.Copy(DataPath, Path.Combine(target, IndexStore.DataFileName));
        File.Copy(LogPath, Path.Combine(target, IndexStore.LogFileName));
        return target;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
    }
}

internal static class Slots
{
    public static long Offset(long page) => EncryptedPageStream.HeaderSize + page * EncryptedPageStream.SlotSize;

    public static long Count(string path) =>
        (new FileInfo(path).Length - EncryptedPageStream.HeaderSize) / EncryptedPageStream.SlotSize;

    public static byte[] Read(string path, long page)
    {
        using var file = File.Open(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var slot = new byte[EncryptedPageStream.SlotSize];
        file.Position = Offset(page);
        file.ReadExactly(slot);
        return slot;
    }

    public static void Write(string path, long page, byte[] slot)
    {
        using var file = File.Open(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        file.Position = Offset(page);
        file.Write(slot);
    }

    /// <summary>Flips one bit of the byte at <paramref name="offsetInSlot"/> within the slot of <paramref name="page"/>.</summary>
    public static void FlipBit(string path, long page, int offsetInSlot)
    {
        var slot = Read(path, page);
        slot[offsetInSlot] ^= 0x10;
        Write(path, page, slot);
    }
}

internal static class ChildProcess
{
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "Edge.Tests.Child.dll");

    public static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(DllPath);
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        return Process.Start(info) ?? throw new InvalidOperationException("could not start the child process");
    }

    /// <summary>Runs the child to completion and returns its exit code and standard output.</summary>
    public static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        using var process = Start(args);
        process.StandardInput.Close();
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, error.Result);
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";
}
