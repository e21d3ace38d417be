// What scripts/package builds, checked as a box would meet it. Slow (a publish per architecture, qemu), so behind
// [Trait("Category", "Appliance")]: scripts/test runs them after the rest; `--filter "Category!=Appliance"` skips them.
//  - the linux-arm64 build runs here under qemu-user-static with Debian's arm64 libraries: --version, provision
//    --check on a good and a bad file, and a demo site;
//  - the x64 .deb: its files, owners and modes as dpkg-deb lists them, unpacked into a scratch root; its maintainer
//    scripts; and a real `dpkg -i` / `dpkg --purge` inside a throwaway overlay of this machine's root (nothing
//    reaches the real /), where `systemd-analyze verify` checks the installed units.
using System.Text.RegularExpressions;
using Edge.Tests.Fixtures;
using Xunit.Abstractions;

namespace Edge.Tests.Appliance;

/// <summary>Runs scripts/package once for the test class (both architectures).</summary>
public sealed class PackageFixture : IAsyncLifetime
{
    public string Directory => Path.Combine(RepoPaths.Root, "artifacts", "package");
    public string Arm64Edge => Path.Combine(Directory, "linux-arm64", "edge", "edge");
    public string X64Deb => System.IO.Directory.GetFiles(Directory, "edge_*_amd64.deb").Single();
    public string Arm64Deb => System.IO.Directory.GetFiles(Directory, "edge_*_arm64.deb").Single();
    public TimeSpan PackageTime { get; private set; }
    public string Log { get; private set; } = "";

    public async Task InitializeAsync()
    {
        // EDGE_REUSE_PACKAGE=1 tests the packages already built (when iterating on the tests themselves).
        if (Environment.GetEnvironmentVariable("EDGE_REUSE_PACKAGE") == "1" && File.Exists(Arm64Edge)
            && System.IO.Directory.GetFiles(Directory, "edge_*.deb").Length == 2)
            return;
        var started = DateTime.UtcNow;
        var result = await ProcessRunner.RunAsync(Path.Combine(RepoPaths.Root, "scripts", "package"), [], TimeSpan.FromMinutes(12));
        PackageTime = DateTime.UtcNow - started;
        Log = result.StandardOutput + result.StandardError;
        if (!result.Succeeded) throw new InvalidOperationException($"scripts/package failed ({result.ExitCode}):\n{Log}");
    }

    public Task DisposeAsync() => Task.CompletedTask;
}

[Trait("Category", "Appliance")]
public sealed class Package_Tests(PackageFixture package, ITestOutputHelper output) : IClassFixture<PackageFixture>, IDisposable
{
    private readonly string _scratch = System.IO.Directory.CreateTempSubdirectory("edge-package-test-").FullName;

    public void Dispose()
    {
        try { System.IO.Directory.Delete(_scratch, recursive: true); } catch (IOException) { }
    }

    private static string Example => Path.Combine(RepoPaths.Root, "packaging", "examples", "edge-provision.json");

    /// <summary>
    /// The emulator's one concession. .NET's W^X (on by default) writes JIT code through one mapping and runs it
    /// through another; qemu-user does not see writes through the alias, runs stale translations and dies with
    /// SIGSEGV ("qemu: uncaught target signal 11"; dotnet/runtime#94909, qemu#1034). Seen in 3 of 4 demo runs with
    /// W^X on, 0 of 6 with it off. A real arm64 CPU has no such problem, so the package keeps W^X on.
    /// </summary>
    private static readonly Dictionary<string, string> QemuEnvironment = new() { ["DOTNET_EnableWriteXorExecute"] = "0" };

    private async Task<ProcessResult> Arm64Async(TimeSpan timeout, params string[] args)
    {
        var started = DateTime.UtcNow;
        var result = await ProcessRunner.RunAsync("qemu-aarch64-static", ["-L", "/", package.Arm64Edge, .. args], timeout,
            environment: QemuEnvironment);
        output.WriteLine($"[arm64 under qemu] edge {string.Join(' ', args)}: exit {result.ExitCode} after {(DateTime.UtcNow - started).TotalSeconds:0.0} s");
        output.WriteLine(result.StandardOutput + result.StandardError);
        return result;
    }

    private static async Task<ProcessResult> RunAsync(string file, params string[] args)
    {
        var result = await ProcessRunner.RunAsync(file, args, TimeSpan.FromMinutes(3));
        return result;
    }

    [Fact]
    public async Task The_arm64_build_is_an_aarch64_program_that_prints_its_version_under_qemu()
    {
        // ELF e_machine (offset 18, little-endian): 183 is EM_AARCH64.
        var header = new byte[20];
        using (var stream = File.OpenRead(package.Arm64Edge)) stream.ReadExactly(header);
        var version = await Arm64Async(TimeSpan.FromMinutes(1), "--version");

        if (package.PackageTime > TimeSpan.Zero) output.WriteLine($"scripts/package took {package.PackageTime.TotalSeconds:0} s");
        Assert.Equal(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F' }, header[..4]); // not "\x7fELF": C# reads \x7fE as one char
        Assert.Equal(183, BitConverter.ToUInt16(header, 18));
        Assert.Equal(0, version.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+\+[0-9a-f]{7,}", version.StandardOutput.Trim());
    }

    [Fact]
    public async Task The_arm64_build_checks_a_good_and_a_bad_provision_file_under_qemu()
    {
        var bad = Path.Combine(_scratch, "bad.json");
        File.WriteAllText(bad, File.ReadAllText(Example).Replace("\"server-room-3f\"", "\"server room 3f\"").Replace("\"rtsp\"", "\"rtp\""));

        var good = await Arm64Async(TimeSpan.FromMinutes(1), "provision", "--check", Example);
        var wrong = await Arm64Async(TimeSpan.FromMinutes(1), "provision", "--check", bad);

        Assert.Equal(0, good.ExitCode);
        Assert.Contains("OK: site tokyo-hq, device server-room-3f", good.StandardOutput);
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("config.deviceId: 'server room 3f' is not a valid id", wrong.StandardError);
        Assert.Contains("config.cameras[0].source.type: unknown camera source type 'rtp'", wrong.StandardError);
    }

    [Fact]
    public async Task The_arm64_build_provisions_a_scratch_root_under_qemu()
    {
        // Exercises the arm64 build's own key creation and directory fsyncs (where an x86-only flag once broke).
        var boot = Path.Combine(_scratch, "boot");
        var root = Path.Combine(_scratch, "root");
        System.IO.Directory.CreateDirectory(boot);
        System.IO.Directory.CreateDirectory(Path.Combine(root, "var/lib/edge/video"));
        File.Copy(Example, Path.Combine(boot, "edge-provision.json"));

        var result = await Arm64Async(TimeSpan.FromMinutes(1), "provision", "--file", Path.Combine(boot, "edge-provision.json"), "--root", root);

        Assert.Equal(0, result.ExitCode);
        Assert.False(File.Exists(Path.Combine(boot, "edge-provision.json")));
        Assert.Equal(32, new FileInfo(Path.Combine(root, "var/lib/edge/keys/index.key")).Length);
        Assert.True(File.Exists(Path.Combine(root, "var/lib/edge/video/.edge-volume")));
        Assert.StartsWith("edge provision result\r\nOK: provisioned site tokyo-hq", File.ReadAllText(Path.Combine(boot, "edge-provision.result.txt")));
    }

    [Fact]
    public async Task The_arm64_build_records_a_demo_site_under_qemu()
    {
        var result = await Arm64Async(TimeSpan.FromMinutes(3), "demo", "--seconds", "20", "--dir", Path.Combine(_scratch, "demo"));

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("OK: everything recorded is sealed, indexed, contiguous, and opens with the owner's key to video that plays.", result.StandardOutput);
    }

    /// <summary>dpkg-deb --contents: mode, owner/group, path (and link target).</summary>
    private static async Task<Dictionary<string, (string Mode, string Owner)>> ContentsAsync(string deb)
    {
        var listing = await RunAsync("dpkg-deb", "--contents", deb);
        Assert.Equal(0, listing.ExitCode);
        var entries = new Dictionary<string, (string, string)>();
        foreach (var line in listing.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var m = Regex.Match(line, @"^(\S+)\s+(\S+)\s+\d+\s+\S+\s+\S+\s+\.(/\S*)");
            Assert.True(m.Success, $"unexpected dpkg-deb line: {line}");
            entries[m.Groups[3].Value.TrimEnd('/')] = (m.Groups[1].Value, m.Groups[2].Value);
        }
        return entries;
    }

    [Fact]
    public async Task The_x64_deb_holds_the_program_units_and_defaults_all_owned_by_root_with_their_modes()
    {
        var contents = await ContentsAsync(package.X64Deb);

        Assert.All(contents, e => Assert.Equal("root/root", e.Value.Owner));
        Assert.Equal("-rwxr-xr-x", contents["/usr/lib/edge/edge"].Mode);
        Assert.Equal("lrwxrwxrwx", contents["/usr/bin/edge"].Mode);
        foreach (var unit in new[] { "edge.service", "edge-provision.service", "run-edge-staging.mount" })
            Assert.Equal("-rw-r--r--", contents["/lib/systemd/system/" + unit].Mode);
        Assert.Equal("-rw-r--r--", contents["/usr/lib/tmpfiles.d/edge.conf"].Mode);
        Assert.Equal("-r--r-----", contents["/etc/sudoers.d/edge-admin"].Mode);
        Assert.Equal("-rw-r--r--", contents["/usr/share/edge/edge.default.json"].Mode);
        Assert.Contains("/usr/lib/edge/LiteDB.dll", contents.Keys);
        Assert.Contains("/usr/lib/edge/libSystem.Native.so", contents.Keys);
        // Nothing but the program's own files are executable.
        Assert.All(contents.Where(e => e.Value.Mode.StartsWith("-") && e.Value.Mode.Contains('x')),
            e => Assert.Contains(e.Key, new[] { "/usr/lib/edge/edge", "/usr/lib/edge/createdump" }));
        Assert.DoesNotContain(contents.Keys, k => k.StartsWith("/etc/edge") || k.StartsWith("/var/lib/edge"));

        var root = Path.Combine(_scratch, "unpacked");
        Assert.Equal(0, (await RunAsync("dpkg-deb", "-x", package.X64Deb, root)).ExitCode);
        var version = await RunAsync(Path.Combine(root, "usr/bin/edge"), "--version"); // through the /usr/bin symlink
        Assert.Equal(0, version.ExitCode);
        var control = (await RunAsync("dpkg-deb", "--field", package.X64Deb)).StandardOutput;
        Assert.Contains("Architecture: amd64", control);
        Assert.Contains("Depends: adduser, systemd, ffmpeg", control);
        Assert.Contains("Architecture: arm64", (await RunAsync("dpkg-deb", "--field", package.Arm64Deb)).StandardOutput);
        output.WriteLine($"x64 .deb {new FileInfo(package.X64Deb).Length / 1048576.0:0.0} MiB, arm64 .deb {new FileInfo(package.Arm64Deb).Length / 1048576.0:0.0} MiB");
    }

    [Fact]
    public async Task The_maintainer_scripts_are_valid_sh()
    {
        var control = Path.Combine(_scratch, "control");
        Assert.Equal(0, (await RunAsync("dpkg-deb", "--control", package.X64Deb, control)).ExitCode);

        foreach (var script in new[] { "postinst", "prerm", "postrm" })
        {
            var path = Path.Combine(control, script);
            Assert.Equal(UnixFileMode.UserExecute, File.GetUnixFileMode(path) & UnixFileMode.UserExecute);
            Assert.StartsWith("#!/bin/sh\n", File.ReadAllText(path));
            var syntax = await RunAsync("sh", "-n", path);
            Assert.True(syntax.Succeeded, $"{script}: {syntax.StandardError}");
        }
        Assert.Equal("/etc/sudoers.d/edge-admin\n", File.ReadAllText(Path.Combine(control, "conffiles")));
    }

    [Fact]
    public async Task The_x64_deb_installs_and_purges_in_a_sandbox_with_users_directories_enabled_units_and_verified_units()
    {
        await using var sandbox = await OverlaySandbox.CreateAsync(_scratch);
        File.Copy(package.X64Deb, sandbox.PathOf("/tmp/edge.deb"));

        var install = await sandbox.RunAsync("dpkg", "-i", "/tmp/edge.deb");
        output.WriteLine(install.StandardOutput + install.StandardError);
        Assert.Equal(0, install.ExitCode);

        Assert.Matches(@"^uid=\d+\(edge\) gid=\d+\(edge\) groups=.*\(gpio\)", (await sandbox.RunAsync("id", "edge")).StandardOutput);
        Assert.Contains("video", (await sandbox.RunAsync("id", "-nG", "edge")).StandardOutput);
        Assert.Equal(0, (await sandbox.RunAsync("getent", "group", "edge-admin")).ExitCode);
        Assert.Equal("/usr/sbin/nologin", (await sandbox.RunAsync("getent", "passwd", "edge")).StandardOutput.Trim().Split(':')[^1]);

        foreach (var (path, expected) in new[]
        {
            ("/etc/edge", "750 root edge"), ("/var/lib/edge", "750 edge edge"), ("/var/lib/edge/keys", "700 edge edge"),
            ("/var/lib/edge/index", "700 edge edge"), ("/var/lib/edge/video", "750 edge edge"), ("/srv/edge/usb", "750 edge edge"),
        })
            Assert.Equal(expected, (await sandbox.RunAsync("stat", "-c", "%a %U %G", path)).StandardOutput.Trim());
        foreach (var unit in new[] { "edge.service", "edge-provision.service", "run-edge-staging.mount" })
            Assert.True(File.Exists(sandbox.PathOf("/etc/systemd/system/multi-user.target.wants/" + unit)), $"{unit} is not enabled");

        var verify = await sandbox.RunAsync("systemd-analyze", "verify",
            "/lib/systemd/system/edge.service", "/lib/systemd/system/edge-provision.service", "/lib/systemd/system/run-edge-staging.mount");
        Assert.True(verify.ExitCode == 0 && verify.StandardOutput.Trim() == "" && verify.StandardError.Trim() == "",
            $"systemd-analyze verify: exit {verify.ExitCode}: {verify.StandardOutput}{verify.StandardError}");
        var security = await sandbox.RunAsync("systemd-analyze", "security", "--offline=true", "--no-pager", "/lib/systemd/system/edge.service");
        output.WriteLine(security.StandardOutput.Split('\n').LastOrDefault(l => l.Contains("Overall exposure")) ?? security.StandardError);

        var visudo = await sandbox.RunAsync("sh", "-c", "command -v visudo >/dev/null && visudo -c -f /etc/sudoers.d/edge-admin || echo no visudo");
        Assert.True(visudo.ExitCode == 0, visudo.StandardOutput + visudo.StandardError);

        // A second configure (dpkg-reconfigure, upgrade) changes nothing and does not fail.
        Assert.Equal(0, (await sandbox.RunAsync("dpkg-reconfigure", "edge")).ExitCode);

        var purge = await sandbox.RunAsync("dpkg", "--purge", "edge");
        Assert.Equal(0, purge.ExitCode);
        Assert.False(System.IO.Directory.Exists(sandbox.PathOf("/etc/edge")));
        Assert.False(File.Exists(sandbox.PathOf("/usr/bin/edge")));
        Assert.False(File.Exists(sandbox.PathOf("/etc/systemd/system/multi-user.target.wants/edge.service")));
        Assert.True(System.IO.Directory.Exists(sandbox.PathOf("/var/lib/edge/keys")), "purge must keep the index keys and footage");
        Assert.Contains("were kept", purge.StandardError);
    }
}

/// <summary>
/// A throwaway copy-on-write view of this machine's root: an overlay whose upper layer is a tmpfs, with /proc and /dev,
/// entered with chroot. Whatever a command changes lands in the tmpfs and disappears on dispose. Needs root.
/// </summary>
internal sealed class OverlaySandbox : IAsyncDisposable
{
    private readonly string _base;

    private OverlaySandbox(string baseDirectory)
    {
        _base = baseDirectory;
        Root = Path.Combine(baseDirectory, "merged");
    }

    public string Root { get; }

    public string PathOf(string boxPath) => Path.Join(Root, boxPath.TrimStart('/'));

    public static async Task<OverlaySandbox> CreateAsync(string scratch)
    {
        var sandbox = new OverlaySandbox(Path.Combine(scratch, "sandbox"));
        System.IO.Directory.CreateDirectory(sandbox._base);
        try
        {
            await Must("mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", sandbox._base);
            foreach (var d in new[] { "upper", "work", "merged" }) System.IO.Directory.CreateDirectory(Path.Combine(sandbox._base, d));
            await Must("mount", "-t", "overlay", "overlay", "-o",
                $"lowerdir=/,upperdir={sandbox._base}/upper,workdir={sandbox._base}/work", sandbox.Root);
            await Must("mount", "-t", "proc", "proc", sandbox.PathOf("/proc"));
            await Must("mount", "--bind", "/dev", sandbox.PathOf("/dev"));
            await Must("mount", "-t", "tmpfs", "tmpfs", sandbox.PathOf("/tmp"));
            await Must("mount", "-t", "tmpfs", "tmpfs", sandbox.PathOf("/run")); // no /run/systemd/system: postinst takes the offline path
            return sandbox;
        }
        catch
        {
            await sandbox.DisposeAsync();
            throw;
        }
    }

    private static async Task Must(string file, params string[] args)
    {
        var result = await ProcessRunner.RunAsync(file, args, TimeSpan.FromSeconds(30));
        if (!result.Succeeded) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({result.ExitCode}): {result.StandardError}");
    }

    public Task<ProcessResult> RunAsync(params string[] command) =>
        ProcessRunner.RunAsync("chroot", [Root, .. command], TimeSpan.FromMinutes(3),
            environment: new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive", ["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin" });

    public async ValueTask DisposeAsync()
    {
        await ProcessRunner.RunAsync("umount", ["-R", "-l", _base], TimeSpan.FromSeconds(30));
    }
}
