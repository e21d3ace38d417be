// scripts/make-certs and packaging/mosquitto/make-acl, the scripts behind the broker's security (docs/guide/broker.md).
using System.Security.Cryptography.X509Certificates;

namespace Edge.Tests.Fixtures;

public sealed class MakeCerts_Tests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("edge-make-certs-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static Task<ProcessResult> MakeCertsAsync(params string[] args) =>
        ProcessRunner.RunAsync(Path.Combine(RepoPaths.Root, "scripts", "make-certs"), args, TimeSpan.FromSeconds(60));

    private static Task<ProcessResult> MakeAclAsync(params string[] args) =>
        ProcessRunner.RunAsync(Path.Combine(RepoPaths.Root, "packaging", "mosquitto", "make-acl"), args, TimeSpan.FromSeconds(30));

    [Fact]
    public async Task Running_it_again_keeps_the_ca_and_every_certificate_and_only_adds_new_devices()
    {
        var first = await MakeCertsAsync(directory, "--device", "box-1");
        var before = Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".srl", StringComparison.Ordinal))
            .ToDictionary(f => f, File.ReadAllBytes);
        var second = await MakeCertsAsync(directory, "--device", "box-1", "--device", "box-2");

        Assert.True(first.Succeeded, first.StandardError);
        Assert.True(second.Succeeded, second.StandardError);
        Assert.Equal([Path.Combine(directory, "devices", "box-2.crt")], second.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        foreach (var (file, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(file)), $"{file} changed");
        foreach (var key in Directory.EnumerateFiles(directory, "*.key", SearchOption.AllDirectories))
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));

        using var ca = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(directory, "ca.crt"));
        using var device = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(directory, "devices", "box-2.crt"));
        using var server = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(directory, "server.crt"));
        Assert.Equal("box-2", device.GetNameInfo(X509NameType.SimpleName, forIssuer: false));
        Assert.Equal(ca.Subject, device.Issuer);
        var san = server.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["localhost"], san.EnumerateDnsNames());
        Assert.Equal(["127.0.0.1"], san.EnumerateIPAddresses().Select(a => a.ToString()));
    }

    [Fact]
    public async Task A_certificate_that_does_not_match_its_key_is_made_again_and_a_bad_name_is_refused()
    {
        Assert.True((await MakeCertsAsync(directory, "--device", "box-1")).Succeeded);
        File.Copy(Path.Combine(directory, "central.crt"), Path.Combine(directory, "devices", "box-1.crt"), overwrite: true);

        var again = await MakeCertsAsync(directory, "--device", "box-1");
        var badName = await MakeCertsAsync(directory, "--device", "site/box");

        Assert.Equal([Path.Combine(directory, "devices", "box-1.crt")], again.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var device = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(directory, "devices", "box-1.crt"));
        Assert.Equal("box-1", device.GetNameInfo(X509NameType.SimpleName, forIssuer: false));
        Assert.Equal(2, badName.ExitCode);
        Assert.Contains("'site/box' is not a valid name", badName.StandardError);
    }

    [Fact]
    public async Task The_acl_gives_each_device_its_own_topics_and_refuses_a_device_name_used_by_two_sites()
    {
        var acl = await MakeAclAsync("--device", "tokyo/room-1", "--monitor", "desk");
        var duplicate = await MakeAclAsync("--device", "tokyo/room-1", "--device", "osaka/room-1");
        var malformed = await MakeAclAsync("--device", "room-1");

        Assert.True(acl.Succeeded, acl.StandardError);
        var lines = acl.StandardOutput.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.Equal([
            "user central", "topic read edge/v1/#", "topic write edge/v1/+/+/cmd/#",
            "user desk", "topic read edge/v1/+/+/status", "topic read edge/v1/+/+/health",
            "user room-1",
            "topic write edge/v1/tokyo/room-1/status", "topic write edge/v1/tokyo/room-1/health", "topic write edge/v1/tokyo/room-1/events",
            "topic write edge/v1/tokyo/room-1/segments", "topic write edge/v1/tokyo/room-1/audit", "topic write edge/v1/tokyo/room-1/clips/#", "topic write edge/v1/tokyo/room-1/cmd-reply/#",
            "topic read edge/v1/tokyo/room-1/cmd/#",
        ], lines);
        Assert.Equal(2, duplicate.ExitCode);
        Assert.Contains("device name 'room-1' is used by tokyo/room-1 and osaka/room-1", duplicate.StandardError);
        Assert.Equal(2, malformed.ExitCode);
        Assert.Contains("expected SITE/DEVICE", malformed.StandardError);
    }
}
