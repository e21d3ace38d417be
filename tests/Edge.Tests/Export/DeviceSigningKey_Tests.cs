using System.Security.Cryptography;
using System.Text.Json;
using Edge.Agent.Cli;
using Edge.Agent.Sealing;
using Edge.Tests.Sealing;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Export;

public class DeviceSigningKey_Tests(ITestOutputHelper output)
{
    [Fact]
    public void It_is_created_once_as_a_0600_pkcs8_key_with_its_public_key_and_then_kept()
    {
        var dir = Path.Combine(Directory.CreateTempSubdirectory("edge-device-key-").FullName, "keys");
        try
        {
            string firstId;
            using (var key = DeviceSigningKey.LoadOrCreate(dir, out var created))
            {
                Assert.True(created);
                firstId = key.KeyId;
            }
            var privatePath = Path.Combine(dir, "device.key");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(privatePath));
            Assert.Contains("BEGIN PRIVATE KEY", File.ReadAllText(privatePath));
            var pub = DeviceSigningKey.LoadPublic(Path.Combine(dir, "device.pub"));
            Assert.Equal(firstId, pub.KeyId);
            Assert.Equal(OwnerKeys.KeyIdOf(pub.SubjectPublicKeyInfo), pub.KeyId);

            File.Delete(Path.Combine(dir, "device.pub")); // rewritten from the private key, which is kept
            using (var again = DeviceSigningKey.LoadOrCreate(dir, out var createdAgain))
            {
                Assert.False(createdAgain);
                Assert.Equal(firstId, again.KeyId);
                var data = "exact bytes"u8.ToArray();
                var signature = again.Sign(data);
                Assert.True(DeviceSigningKey.LoadPublic(Path.Combine(dir, "device.pub")).Verify(data, signature));
                data[0] ^= 1;
                Assert.False(again.Verify(data, signature));
            }

            File.SetUnixFileMode(privatePath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
            var e = Assert.Throws<DeviceKeyException>(() => DeviceSigningKey.Load(privatePath));
            Assert.Contains("expected 0600", e.Message);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(dir)!, recursive: true);
        }
    }

    [Fact]
    public void A_signature_is_the_der_form_openssl_verifies()
    {
        var dir = Directory.CreateTempSubdirectory("edge-device-openssl-").FullName;
        try
        {
            using var key = DeviceSigningKey.LoadOrCreate(dir, out _);
            var data = Path.Combine(dir, "manifest.json");
            File.WriteAllText(data, "{\"a\":1}\n");
            File.WriteAllBytes(Path.Combine(dir, "manifest.sig"), key.Sign(File.ReadAllBytes(data)));
            var info = new System.Diagnostics.ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "dgst", "-sha256", "-verify", Path.Combine(dir, "device.pub"), "-signature", Path.Combine(dir, "manifest.sig"), data })
                info.ArgumentList.Add(a);
            using var p = System.Diagnostics.Process.Start(info)!;
            var stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.Equal(0, p.ExitCode);
            Assert.Contains("Verified OK", stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Edge_run_creates_it_beside_the_index_key_and_keys_show_prints_it_with_the_owner_key_id()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("door"));
        var privatePath = DeviceSigningKey.PrivatePathFor(site.Settings.IndexKeyFile);
        Assert.False(File.Exists(privatePath));
        Assert.Equal(1, (await Cli.RunAsync("keys", "show", "--config", site.ConfigPath)).ExitCode); // not created yet

        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120)))
        {
            var run = EdgeCli.InvokeAsync(["run", "--config", site.ConfigPath], new CommandContext(new StringWriter(), new StringWriter(), TimeProvider.System), cts.Token);
            await TestSite.WaitUntilAsync(() => File.Exists(privatePath) && File.Exists(DeviceSigningKey.PublicPathFor(site.Settings.IndexKeyFile)),
                TimeSpan.FromSeconds(60), "edge run to create device.key");
            await Task.Delay(500);
            cts.Cancel();
            await run;
        }
        Assert.Equal(Path.GetDirectoryName(site.Settings.IndexKeyFile), Path.GetDirectoryName(privatePath));

        var result = await Cli.RunAsync("keys", "show", "--config", site.ConfigPath, "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var keys = JsonSerializer.Deserialize<KeysCommand.KeysJson>(result.Stdout, CliJson.Options)!;
        using var key = DeviceSigningKey.Load(privatePath);
        Assert.Equal(key.KeyId, keys.DeviceKeyId);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(key.Public.SubjectPublicKeyInfo))[..16], keys.DeviceKeyId);
        Assert.Contains("BEGIN PUBLIC KEY", keys.DevicePublicKeyPem);
        Assert.Equal(site.OwnerKeys.KeyId, keys.OwnerKeyId);
    }
}
