using System.Text.Json.Nodes;
using Edge.Agent.Configuration;
using Edge.Agent.Index;
using Edge.Agent.Storage;
using Edge.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Edge.Tests.Storage;

public class Retention_Tests(ITestOutputHelper output)
{
    [Fact]
    public async Task Footage_older_than_the_retention_period_is_purged_unless_a_flag_protects_it()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        var t0 = new DateTime(2026, 10, 1, 0, 0, 0, DateTimeKind.Utc);
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true);
        var volume = site.Settings.Volumes[0];
        var segments = Enumerable.Range(0, 5).Select(i =>
        {
            var relative = $"c0/seg{i}.ts";
            Directory.CreateDirectory(Path.Combine(volume, "c0"));
            File.WriteAllBytes(Path.Combine(volume, relative), new byte[1000]);
            var s = new SegmentRecord
            {
                Camera = "cam1", StartUtc = t0.AddMinutes(i), EndUtc = t0.AddMinutes(i + 1), DurationSeconds = 60,
                Volume = volume, RelativePath = relative, StoredBytes = 1000, WrappedKey = [1, 2, 3],
            };
            s.Id = index.AddSegment(s);
            return s;
        }).ToList();
        index.AddFlag(new FlagRecord { Cameras = ["cam1"], FromUtc = t0.AddMinutes(1.5), ToUtc = t0.AddMinutes(1.7), Reason = "hold" });
        // 30 days after the third segment ended: the first three are past retention, and the second is flagged.
        var time = new FakeTimeProvider(new DateTimeOffset(t0.AddDays(30).AddMinutes(3.5)));
        var retention = new RetentionService(site.Settings, index, new RecordingRate(time), time, NullLogger<RetentionService>.Instance);

        retention.RunPass();

        var after = segments.Select(s => index.GetSegment(s.Id)!).ToList();
        Assert.Equal([SegmentState.Purged, SegmentState.Stored, SegmentState.Purged, SegmentState.Stored, SegmentState.Stored], after.Select(s => s.State));
        Assert.All(after.Where(s => s.State == SegmentState.Purged), s =>
        {
            Assert.Null(s.WrappedKey);
            Assert.Equal(PurgeReasons.Age, s.PurgeReason);
            Assert.False(File.Exists(s.FullPath));
        });
        Assert.All(after.Where(s => s.State == SegmentState.Stored), s => Assert.True(File.Exists(s.FullPath)));
        var purges = index.QueryAudit().Where(a => a.Action == "purge").ToList();
        Assert.Equal(2, purges.Count);
        Assert.Contains($"segment {segments[0].Id} ", purges[0].Detail);
        Assert.Contains("reason age", purges[0].Detail);
    }

    [Fact]
    public async Task On_a_full_volume_the_oldest_unprotected_segments_go_first_and_the_floor_holds_while_recording_continues()
    {
        string volume = "";
        await using var site = new TestSite(output, (config, root) =>
        {
            volume = Path.Combine(root, "small-card");
            Directory.CreateDirectory(volume);
            TestSite.Run("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", volume);
            config["storage"]!["volumes"] = new JsonArray(new JsonObject { ["path"] = "small-card" });
            config["retention"] = new JsonObject { ["minFreePercent"] = 25, ["slackBytesPerCamera"] = 0, ["checkSeconds"] = 1 };
        }, Camera());
        try
        {
            await site.StartAsync();
            var index = site.Index!;
            await TestSite.WaitUntilAsync(() => index.QuerySegments("cam1").Count >= 4, TimeSpan.FromSeconds(30), "four segments");
            var early = index.QuerySegments("cam1");
            var flag = new FlagRecord { Cameras = ["cam1"], FromUtc = early[1].StartUtc, ToUtc = early[2].EndUtc, Reason = "door event" };
            index.AddFlag(flag);

            var space = VolumeSpace.Of(volume);
            long floor = site.Host.GetRequiredService<RetentionService>().FloorBytes(volume, space);
            long largestSegment = 0, lowestFreeAfterFirstPurge = long.MaxValue;
            bool purged = false;
            var until = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < until)
            {
                await Task.Delay(200);
                largestSegment = Math.Max(largestSegment, index.QuerySegments("cam1").Max(s => s.StoredBytes));
                purged |= index.QueryAudit().Any(a => a.Action == "purge");
                if (purged) lowestFreeAfterFirstPurge = Math.Min(lowestFreeAfterFirstPurge, VolumeSpace.Of(volume).FreeBytes);
                if (purged && index.QueryAudit().Count(a => a.Action == "purge") >= 5) break;
            }
            await site.StopAsync();

            Assert.True(purged, "the volume should have filled and been purged");
            // The floor may be undercut by the segments sealed since the last pass, never by more.
            Assert.True(lowestFreeAfterFirstPurge >= floor - 3 * largestSegment,
                $"free space fell to {lowestFreeAfterFirstPurge} bytes, floor {floor}, largest segment {largestSegment}");

            using var reopened = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
            var all = reopened.OldestSegments(includePurged: true).ToList();
            var isProtected = all.Select(flag.Covers).ToList();
            var unprotected = all.Where((s, i) => !isProtected[i]).ToList();
            var purgedOnes = unprotected.Where(s => s.State == SegmentState.Purged).ToList();
            Assert.Equal(unprotected.Take(purgedOnes.Count).Select(s => s.Id), purgedOnes.Select(s => s.Id)); // oldest first
            Assert.All(all.Where((s, i) => isProtected[i]), s => Assert.Equal(SegmentState.Stored, s.State));
            Assert.All(purgedOnes, s =>
            {
                Assert.Null(s.WrappedKey);
                Assert.Equal(PurgeReasons.Space, s.PurgeReason);
                Assert.False(File.Exists(s.FullPath));
            });
            var purgeRecords = reopened.QueryAudit().Where(a => a.Action == "purge").ToList();
            Assert.Equal(purgedOnes.Count, purgeRecords.Count);
            Assert.All(purgedOnes, s => Assert.Contains(purgeRecords, a => a.Detail.StartsWith($"segment {s.Id} ")));
        }
        finally
        {
            try { TestSite.Run("umount", "-l", volume); } catch (InvalidOperationException) { }
        }
    }

    private static JsonObject Camera()
    {
        var camera = TestSite.TestPatternCamera("cam1", segmentSeconds: 1);
        // A busy picture at a high bitrate fills 16 MB in well under a minute.
        camera["source"]!["videoSize"] = "640x360";
        camera["source"]!["bitrateKbps"] = 4000;
        return camera;
    }
}
