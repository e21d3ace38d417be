// The certificates of a secure test broker: scripts/make-certs run once per test run into a temporary directory and
// shared by every test (making EC keys is quick, but there is no reason to do it per test), plus the ACL that
// packaging/mosquitto/make-acl writes for the devices below. Deleted when the test process exits.
namespace Edge.Tests.Fixtures;

public sealed class TestCertificates
{
    /// <summary>The site of every test device.</summary>
    public const string SiteId = "test-site";

    /// <summary>Devices with certificates (CN = id) and ACL blocks under edge/v1/test-site/{id}/. "test-box" is TestSite's device.</summary>
    public static readonly IReadOnlyList<string> DeviceIds = ["box-a", "box-b", "test-box"];

    public const string Central = "central";
    public const string Monitor = "monitor";

    private static readonly Lazy<Task<TestCertificates>> shared = new(CreateAsync);

    private TestCertificates(string directory) => Directory = directory;

    public static Task<TestCertificates> GetAsync() => shared.Value;

    public string Directory { get; }
    public string CaFile => Path.Combine(Directory, "ca.crt");
    public string ServerCertFile => Path.Combine(Directory, "server.crt");
    public string ServerKeyFile => Path.Combine(Directory, "server.key");
    public string AclFile => Path.Combine(Directory, "edge.acl");

    /// <summary>Certificate and key of a client: a device id, <see cref="Central"/> or <see cref="Monitor"/>.</summary>
    public (string CertFile, string KeyFile) Client(string name) => name is Central or Monitor
        ? (Path.Combine(Directory, name + ".crt"), Path.Combine(Directory, name + ".key"))
        : (Path.Combine(Directory, "devices", name + ".crt"), Path.Combine(Directory, "devices", name + ".key"));

    private static async Task<TestCertificates> CreateAsync()
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("edge-certs-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { System.IO.Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        var args = new List<string> { directory, "--central", Central, "--monitor", Monitor };
        foreach (var id in DeviceIds) args.AddRange(["--device", id]);
        var made = await ProcessRunner.RunAsync(Path.Combine(RepoPaths.Root, "scripts", "make-certs"), args, TimeSpan.FromSeconds(60));
        if (!made.Succeeded) throw new InvalidOperationException($"scripts/make-certs failed ({made.ExitCode}): {made.StandardError}");
        var aclArgs = new List<string> { "--central", Central, "--monitor", Monitor };
        foreach (var id in DeviceIds) aclArgs.AddRange(["--device", $"{SiteId}/{id}"]);
        var acl = await ProcessRunner.RunAsync(Path.Combine(RepoPaths.Root, "packaging", "mosquitto", "make-acl"), aclArgs, TimeSpan.FromSeconds(30));
        if (!acl.Succeeded) throw new InvalidOperationException($"packaging/mosquitto/make-acl failed ({acl.ExitCode}): {acl.StandardError}");
        await File.WriteAllTextAsync(Path.Combine(directory, "edge.acl"), acl.StandardOutput);
        return new TestCertificates(directory);
    }
}
