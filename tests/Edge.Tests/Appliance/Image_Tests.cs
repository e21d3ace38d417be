// The pi-gen stage and image/build, checked as far as this machine can without pi-gen (which cannot be fetched
// here): the stage's layout as pi-gen reads it, every script through bash -n and shellcheck, image/build's refusal
// without a pi-gen checkout, and the read-only-root step that appends the data partition, run on a fake image.
using System.Text.RegularExpressions;
using Edge.Tests.Fixtures;

namespace Edge.Tests.Appliance;

[Trait("Category", "Appliance")]
public sealed class Image_Tests : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("edge-image-test-").FullName;
    private static string Stage => Path.Combine(RepoPaths.Root, "image", "stage-edge");
    private static string Build => Path.Combine(RepoPaths.Root, "image", "build");

    public void Dispose()
    {
        try { Directory.Delete(_scratch, recursive: true); } catch (IOException) { }
    }

    private static Task<ProcessResult> RunAsync(string file, params string[] args) => ProcessRunner.RunAsync(file, args, TimeSpan.FromMinutes(2));

    private static IEnumerable<string> StageScripts() =>
        Directory.GetFiles(Stage, "*.sh", SearchOption.AllDirectories).Order(StringComparer.Ordinal);

    [Fact]
    public void The_stage_has_the_layout_pi_gen_reads()
    {
        Assert.Contains("copy_previous", File.ReadAllText(Path.Combine(Stage, "prerun.sh")));
        Assert.Contains("IMG_SUFFIX=\"-edge\"", File.ReadAllText(Path.Combine(Stage, "EXPORT_IMAGE")));
        Assert.Contains("ffmpeg", File.ReadAllLines(Path.Combine(Stage, "00-packages", "00-packages")));
        Assert.Equal(["00-packages", "01-edge", "02-harden", "03-readonly-root"],
            Directory.GetDirectories(Stage).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        // pi-gen runs NN-run.sh only when it is executable.
        Assert.All(StageScripts(), s => Assert.True((File.GetUnixFileMode(s) & UnixFileMode.UserExecute) != 0, $"{s} is not executable"));
        Assert.Contains("PasswordAuthentication no", File.ReadAllText(Path.Combine(Stage, "02-harden", "00-run.sh")));
        Assert.Contains("RuntimeWatchdogSec=", File.ReadAllText(Path.Combine(Stage, "02-harden", "00-run.sh")));
        Assert.Contains("systemctl enable run-edge-staging.mount edge-provision.service edge.service", File.ReadAllText(Path.Combine(Stage, "01-edge", "00-run.sh")));
    }

    [Fact]
    public async Task Every_script_of_the_image_passes_bash_n_and_shellcheck()
    {
        foreach (var script in StageScripts().Append(Build))
        {
            var syntax = await RunAsync("bash", "-n", script);
            Assert.True(syntax.Succeeded, $"{script}: {syntax.StandardError}");
        }
        // pi-gen defines on_chroot, copy_previous, ROOTFS_DIR...: SC2154 (unassigned variable) is expected in a stage.
        var check = await RunAsync("shellcheck", ["-x", "-s", "bash", "-e", "SC2154", .. StageScripts(), Build]);
        Assert.True(check.Succeeded, check.StandardOutput + check.StandardError);
    }

    [Fact]
    public async Task Build_without_a_pi_gen_checkout_says_what_it_needs()
    {
        var result = await ProcessRunner.RunAsync(Build, [], TimeSpan.FromSeconds(30), environment: new Dictionary<string, string> { ["PI_GEN_DIR"] = "" });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no pi-gen checkout given: pass --pi-gen DIR or set PI_GEN_DIR", result.StandardError);
    }

    [Fact]
    public async Task The_read_only_root_step_appends_an_EDGEDATA_partition_laid_out_for_the_edge_user()
    {
        // A fake pi-gen image: partition 1 (boot) and 2 (root, ext4, with an edge user in its passwd).
        var img = Path.Combine(_scratch, "edge.img");
        await Must("truncate", "-s", "200M", img);
        await MustWithInput("label: dos\nstart=8192, size=131072, type=c\nstart=139264, type=83\n", "sfdisk", "--quiet", img);
        var root = Path.Combine(_scratch, "root");
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        File.WriteAllText(Path.Combine(root, "etc", "passwd"), "root:x:0:0::/root:/bin/bash\nedge:x:998:997::/var/lib/edge:/usr/sbin/nologin\n");
        File.WriteAllText(Path.Combine(root, "etc", "group"), "root:x:0:\nedge:x:997:\n");
        var rootImage = Path.Combine(_scratch, "root.ext4");
        await Must("mkfs.ext4", "-q", "-d", root, rootImage, "64M");
        await Must("dd", $"if={rootImage}", $"of={img}", "bs=512", "seek=139264", "conv=notrunc", "status=none");

        var result = await ProcessRunner.RunAsync(Build, ["--add-data-partition", img, "--data-mb", "32"], TimeSpan.FromMinutes(2));
        Assert.True(result.Succeeded, result.StandardError);

        var dump = (await RunAsync("sfdisk", "--dump", img)).StandardOutput;
        var p3 = Regex.Match(dump, @"3 : start=\s*(\d+), size=\s*(\d+), type=83");
        Assert.True(p3.Success, dump);
        long start = long.Parse(p3.Groups[1].Value), size = long.Parse(p3.Groups[2].Value);
        Assert.Equal(0, start % 8192);
        Assert.InRange(size * 512, 31L << 20, 32L << 20);
        var data = Path.Combine(_scratch, "data.ext4");
        await Must("dd", $"if={img}", $"of={data}", "bs=512", $"skip={start}", $"count={size}", "status=none");
        Assert.Equal("EDGEDATA", (await RunAsync("e2label", data)).StandardOutput.Trim());
        var listing = (await RunAsync("debugfs", "-R", "ls -l /", data)).StandardOutput;
        Assert.Matches(@"40700\s+\(2\)\s+998\s+997\s+\d+\s+.*keys", listing);
        Assert.Matches(@"40700\s+\(2\)\s+998\s+997\s+\d+\s+.*index", listing);
        Assert.Matches(@"40750\s+\(2\)\s+998\s+997\s+\d+\s+.*video", listing);

        var again = await ProcessRunner.RunAsync(Build, ["--add-data-partition", img], TimeSpan.FromMinutes(1));
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already has a partition 3", again.StandardError);
    }

    private static async Task Must(string file, params string[] args)
    {
        var result = await RunAsync(file, args);
        Assert.True(result.Succeeded, $"{file} {string.Join(' ', args)}: {result.StandardError}");
    }

    private static async Task MustWithInput(string input, string file, params string[] args)
    {
        var info = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardInput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(info)!;
        await p.StandardInput.WriteAsync(input);
        p.StandardInput.Close();
        var error = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"{file}: {error}");
    }
}
