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
    public async Task Footage_older_than_the_retention_period_is_purged_unless_a_flag_protects_it_with_one_audit_record_for_the_pass()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        // Segments of a minute each, the third ending on the hour t0.
        var t0 = new DateTime(2026, 10, 1, 0, 0, 0, DateTimeKind.Utc);
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true);
        var segments = AddSegments(index, site.Settings.Volumes[0], "cam1", t0.AddMinutes(-3), count: 5, seconds: 60);
        index.AddFlag(new FlagRecord { Cameras = ["cam1"], FromUtc = t0.AddMinutes(-1.5), ToUtc = t0.AddMinutes(-1.3), Reason = "hold" });
        // 30 days and 59 minutes after t0: the first three are past retention, and the second is flagged. The fourth
        // ended 30 days and 58 minutes ago: age purges go in whole hours, so it waits for the next hour.
        var time = new FakeTimeProvider(new DateTimeOffset(t0.AddDays(30).AddMinutes(59)));
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
        var purge = Assert.Single(index.QueryAudit(), a => a.Action == "purge");
        Assert.StartsWith($"2 segment(s), 2000 bytes, from {t0.AddMinutes(-3):O} to {t0:O}: deleted, reason age", purge.Detail);
        Assert.Contains($"camera cam1: 2 segment(s), 2000 bytes, {t0.AddMinutes(-3):O} to {t0:O}, ids {segments[0].Id}..{segments[2].Id};", purge.Detail);
        Assert.EndsWith($"set sha256 {SegmentPurger.SetHash([after[0], after[2]])}", purge.Detail);
        Assert.True(index.VerifyAudit().Ok);

        // The next hour takes the fourth; a pass with nothing due writes nothing.
        time.Advance(TimeSpan.FromMinutes(2));
        retention.RunPass();
        retention.RunPass();
        Assert.Equal(SegmentState.Purged, index.GetSegment(segments[3].Id)!.State);
        Assert.Equal(2, index.QueryAudit().Count(a => a.Action == "purge"));
    }

    [Fact]
    public async Task A_pass_over_several_cameras_writes_one_purge_record_naming_each_camera_and_the_exact_set()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"), TestSite.TestPatternCamera("cam2"));
        var t0 = new DateTime(2026, 10, 1, 0, 0, 0, DateTimeKind.Utc);
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true);
        var volume = site.Settings.Volumes[0];
        var cam1 = AddSegments(index, volume, "cam1", t0, count: 360, seconds: 10);
        var cam2 = AddSegments(index, volume, "cam2", t0, count: 360, seconds: 10);
        var time = new FakeTimeProvider(new DateTimeOffset(t0.AddDays(30).AddHours(1)));

        new RetentionService(site.Settings, index, new RecordingRate(time), time, NullLogger<RetentionService>.Instance).RunPass();

        Assert.Equal(0, index.CountSegments());
        var purge = Assert.Single(index.QueryAudit(), a => a.Action == "purge");
        Assert.StartsWith($"720 segment(s), 720000 bytes, from {t0:O} to {t0.AddHours(1):O}: deleted, reason age", purge.Detail);
        Assert.Contains($"camera cam1: 360 segment(s), 360000 bytes, {t0:O} to {t0.AddHours(1):O}, ids {cam1[0].Id}..{cam1[^1].Id};", purge.Detail);
        Assert.Contains($"camera cam2: 360 segment(s), 360000 bytes, {t0:O} to {t0.AddHours(1):O}, ids {cam2[0].Id}..{cam2[^1].Id};", purge.Detail);
        Assert.EndsWith($"set sha256 {SegmentPurger.SetHash(cam1.Concat(cam2))}", purge.Detail);
        Assert.All(cam1.Concat(cam2), s => Assert.False(File.Exists(s.FullPath)));
    }

    [Fact]
    public async Task Purged_records_are_compacted_into_per_day_summaries_an_hour_later_once_their_files_are_gone()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        var t0 = new DateTime(2026, 10, 1, 23, 0, 0, DateTimeKind.Utc);
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true);
        // Two hours across midnight: two days of summaries.
        var segments = AddSegments(index, site.Settings.Volumes[0], "cam1", t0, count: 12, seconds: 600);
        var time = new FakeTimeProvider(new DateTimeOffset(t0.AddDays(30).AddHours(2)));
        var retention = new RetentionService(site.Settings, index, new RecordingRate(time), time, NullLogger<RetentionService>.Instance);
        retention.RunPass();
        Assert.All(segments, s => Assert.Equal(SegmentState.Purged, index.GetSegment(s.Id)!.State));
        // A crash between the erase and the unlink left one keyless file behind.
        File.WriteAllBytes(segments[5].FullPath, new byte[1000]);

        time.Advance(TimeSpan.FromMinutes(50));
        retention.RunPass();
        Assert.NotNull(index.GetSegment(segments[0].Id)); // not yet an hour
        Assert.Empty(index.PurgedDays());

        time.Advance(TimeSpan.FromMinutes(20));
        retention.RunPass();

        Assert.All(segments, s => Assert.Null(index.GetSegment(s.Id)));
        Assert.False(File.Exists(segments[5].FullPath));
        var days = index.PurgedDays("cam1");
        Assert.Equal([t0.Date, t0.Date.AddDays(1)], days.Select(d => d.DayUtc));
        Assert.Equal([6L, 6L], days.Select(d => d.Segments));
        Assert.Equal((t0, t0.AddHours(1), segments[0].Id, segments[5].Id, 6000L, 3600.0), (days[0].FirstStartUtc, days[0].LastEndUtc, days[0].FirstId, days[0].LastId, days[0].StoredBytes, days[0].Seconds));
        Assert.Equal(6, days[1].Reasons[PurgeReasons.Age]);
        // The summaries are event metadata: they go after retention.eventYears (5).
        time.Advance(TimeSpan.FromDays(5 * 366));
        retention.RunPass();
        Assert.Empty(index.PurgedDays());
        Assert.Contains(index.QueryAudit(), a => a.Action == "purged_days_prune" && a.Detail.StartsWith("2 per-day"));
    }

    [Fact]
    public async Task A_purged_record_whose_volume_is_absent_is_kept_until_the_volume_returns()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        var t0 = new DateTime(2026, 10, 1, 0, 0, 0, DateTimeKind.Utc);
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true);
        var volume = site.Settings.Volumes[0];
        var segments = AddSegments(index, volume, "cam1", t0, count: 2, seconds: 60);
        var time = new FakeTimeProvider(new DateTimeOffset(t0.AddDays(30).AddHours(1)));
        var retention = new RetentionService(site.Settings, index, new RecordingRate(time), time, NullLogger<RetentionService>.Instance);
        retention.RunPass();

        var marker = Path.Combine(volume, VolumeMarker.FileName);
        File.Move(marker, marker + ".away"); // unplugged: the mount point is there, the marker is not
        time.Advance(TimeSpan.FromHours(2));
        retention.RunPass();
        Assert.All(segments, s => Assert.Equal(SegmentState.Purged, index.GetSegment(s.Id)!.State));

        File.Move(marker + ".away", marker);
        retention.RunPass();
        Assert.All(segments, s => Assert.Null(index.GetSegment(s.Id)));
        Assert.Equal(2, Assert.Single(index.PurgedDays()).Segments);
    }

    [Fact]
    public async Task A_purge_batch_with_a_wrapped_key_left_is_refused_and_nothing_is_written()
    {
        await using var site = new TestSite(output, TestSite.TestPatternCamera("cam1"));
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: true);
        var segment = AddSegments(index, site.Settings.Volumes[0], "cam1", new DateTime(2026, 10, 1, 0, 0, 0, DateTimeKind.Utc), 1, 60)[0];
        segment.State = SegmentState.Purged;

        var refused = Assert.Throws<ArgumentException>(() => index.PurgeSegments([segment], new AuditRecord { Action = "purge", User = "test" }));
        Assert.Contains("crypto-erased", refused.Message);
        Assert.Equal(SegmentState.Stored, index.GetSegment(segment.Id)!.State);
        Assert.DoesNotContain(index.QueryAudit(), a => a.Action == "purge");
    }

    private static List<SegmentRecord> AddSegments(EdgeIndex index, string volume, string camera, DateTime start, int count, int seconds)
    {
        Directory.CreateDirectory(Path.Combine(volume, camera));
        return Enumerable.Range(0, count).Select(i =>
        {
            var relative = $"{camera}/seg{i}.ts";
            File.WriteAllBytes(Path.Combine(volume, relative), new byte[1000]);
            var s = new SegmentRecord
            {
                Camera = camera, StartUtc = start.AddSeconds(i * seconds), EndUtc = start.AddSeconds((i + 1) * seconds), DurationSeconds = seconds,
                Volume = volume, RelativePath = relative, StoredBytes = 1000, StoredSha256 = $"{camera}-{i}", WrappedKey = [1, 2, 3],
            };
            s.Id = index.AddSegment(s);
            return s;
        }).ToList();
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
                if (purged && index.OldestSegments(includePurged: true).Count(s => s.State == SegmentState.Purged) >= 5) break;
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
            // One record per batch; together they name every purged segment, and each one's set hash pins its batch.
            var purgeRecords = reopened.QueryAudit().Where(a => a.Action == "purge").ToList();
            Assert.InRange(purgeRecords.Count, 1, purgedOnes.Count);
            Assert.Equal(purgedOnes.Count, purgeRecords.Sum(a => int.Parse(a.Detail[..a.Detail.IndexOf(' ')], System.Globalization.CultureInfo.InvariantCulture)));
            var batches = purgedOnes.GroupBy(s => s.PurgedUtc).ToList();
            Assert.Equal(purgeRecords.Count, batches.Count);
            Assert.All(batches, b => Assert.Contains(purgeRecords, a => a.Detail.EndsWith($"set sha256 {SegmentPurger.SetHash(b)}") && a.Detail.Contains("reason space")));
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
