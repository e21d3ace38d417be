using System.Text.Json.Nodes;
using Edge.Agent.Index;
using Edge.Agent.Storage;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Storage;

public class VolumeFailover_Tests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_preferred_volume_unmounted_mid_recording_fails_over_and_back_with_no_segment_lost()
    {
        // The USB disk is a bind mount of a directory that keeps its contents while unmounted, like a real disk.
        var disk = Directory.CreateTempSubdirectory("edge-usb-disk-").FullName;
        VolumeMarker.Write(disk, TimeProvider.System);
        string usb = "";
        await using var site = new TestSite(output, (config, root) =>
        {
            usb = Path.Combine(root, "usb");
            Directory.CreateDirectory(usb);
            TestSite.Run("mount", "--bind", disk, usb);
            config["storage"]!["volumes"] = new JsonArray(new JsonObject { ["path"] = "usb" }, new JsonObject { ["path"] = "sd" });
        }, TestSite.TestPatternCamera("cam1", segmentSeconds: 1));
        try
        {
            var sd = site.Settings.Volumes[1];
            await site.StartAsync();
            var index = site.Index!;
            int OnVolume(string v) => index.QuerySegments("cam1").Count(s => s.Volume == v);
            await TestSite.WaitUntilAsync(() => OnVolume(usb) >= 3, TimeSpan.FromSeconds(30), "three segments on the USB disk");

            TestSite.Run("umount", "-l", usb);
            await TestSite.WaitUntilAsync(() => OnVolume(sd) >= 3, TimeSpan.FromSeconds(30), "three segments on the SD card");
            TestSite.Run("mount", "--bind", disk, usb);
            int onUsbBeforeReturn = OnVolume(usb);
            await TestSite.WaitUntilAsync(() => OnVolume(usb) >= onUsbBeforeReturn + 3, TimeSpan.FromSeconds(30), "recording back on the USB disk");
            await site.StopAsync();

            using var reopened = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
            var segments = reopened.QuerySegments("cam1");
            for (int i = 1; i < segments.Count; i++)
                Assert.True((segments[i].StartUtc - segments[i - 1].EndUtc).TotalSeconds <= 0.5 + 1.0 / 15,
                    $"gap before segment {segments[i].Id}: {(segments[i].StartUtc - segments[i - 1].EndUtc).TotalSeconds:0.00} s");
            foreach (var s in segments)
                Assert.True((await Media.ProbeAsync(site.OpenSegment(s))).Plays, $"segment {s.Id} on {s.Volume} should play");
            var failovers = reopened.QueryEvents(kind: EventKinds.StorageFailover);
            Assert.Equal(2, failovers.Count);
            Assert.Contains($"from {usb}", failovers[0].Detail);
            Assert.Contains($"returned to {usb}", failovers[1].Detail);
            Assert.Empty(Directory.EnumerateFiles(site.Settings.StagingDirectory, "*.ts", SearchOption.AllDirectories));
        }
        finally
        {
            try { TestSite.Run("umount", "-l", usb); } catch (InvalidOperationException) { }
            Directory.Delete(disk, recursive: true);
        }
    }
}
