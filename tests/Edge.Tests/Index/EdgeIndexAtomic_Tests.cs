using Edge.Agent.Flags;
using Edge.Agent.Index;
using Edge.Agent.Sync;
using Microsoft.Extensions.Time.Testing;

namespace Edge.Tests.Index;

public sealed class EdgeIndexAtomic_Tests : IDisposable
{
    private static readonly DateTime T0 = new(2026, 11, 23, 1, 0, 0, DateTimeKind.Utc);
    private readonly IndexScratch _scratch = new();

    private static EventRecord Door(int i) => new() { Kind = "entry", Door = "server-room", Cameras = ["cam1"], StartUtc = T0.AddSeconds(i), DecidedBy = "test" };

    private static AuditRecord AuditOf(string detail) => new() { AtUtc = T0, Action = "door_event", User = "edge (door monitor)", Detail = detail };

    [Fact]
    public void An_event_its_audit_record_its_flag_and_its_outbox_message_written_atomically_appear_to_other_threads_together()
    {
        using var index = EdgeIndex.Open(_scratch.IndexDirectory, _scratch.KeyPath);
        index.EnableOutbox(SyncPayloads.Event, 64 << 20, new FakeTimeProvider(T0));
        var flagger = new Flagger(index, TimeProvider.System);
        (int Events, int Audit, int Flags) seenInside = (-1, -1, -1);

        index.Atomically(() =>
        {
            var e = Door(0);
            index.AddEvent(e);
            index.Audit(AuditOf($"event {e.Id}"));
            e.EndUtc = T0.AddSeconds(5);
            index.UpdateEvent(e);
            flagger.Flag(e.Cameras, e.StartUtc.AddSeconds(-10), e.EndUtc.Value.AddSeconds(30), "door server-room: entry", e.Id, "test");
            Assert.Single(index.QueryEvents()); // the block reads its own writes
            var other = new Thread(() => seenInside = (index.QueryEvents().Count, index.QueryAudit().Count, index.AllFlags().Count));
            other.Start();
            Assert.True(other.Join(TimeSpan.FromSeconds(30)), "another thread's reads waited for the block");
            return 0;
        });

        Assert.Equal((0, 0, 0), seenInside);
        var afterwards = (Events: 0, Audit: 0, Flags: 0, Outbox: 0);
        var reader = new Thread(() => afterwards = (index.QueryEvents().Count, index.QueryAudit().Count, index.AllFlags().Count,
            index.UnsentOutbox(EdgeIndex.SyncStreamEvents, 10).Count));
        reader.Start();
        Assert.True(reader.Join(TimeSpan.FromSeconds(30)));
        Assert.Equal((1, 1, 1, 2), afterwards); // the outbox holds the opening and the close
    }

    [Fact]
    public void A_failed_atomic_block_leaves_no_event_audit_record_flag_or_outbox_message_and_the_chain_and_ids_continue()
    {
        using var index = EdgeIndex.Open(_scratch.IndexDirectory, _scratch.KeyPath);
        index.EnableOutbox(SyncPayloads.Event, 64 << 20, new FakeTimeProvider(T0));
        var flagger = new Flagger(index, TimeProvider.System);
        index.Audit(AuditOf("before"));

        var failure = Assert.Throws<IOException>(() => index.Atomically<int>(() =>
        {
            var e = Door(0);
            index.AddEvent(e);
            index.Audit(AuditOf($"event {e.Id}"));
            flagger.Flag(e.Cameras, e.StartUtc, e.StartUtc.AddSeconds(40), "door server-room: entry", e.Id, "test");
            throw new IOException("the disk went away mid-burst");
        }));

        Assert.Equal("the disk went away mid-burst", failure.Message);
        Assert.Empty(index.QueryEvents());
        Assert.Single(index.QueryAudit());
        Assert.Empty(index.AllFlags());
        Assert.Empty(index.UnsentOutbox(EdgeIndex.SyncStreamEvents, 10));
        Assert.Equal(1, index.AuditHead().Seq);

        // What comes next chains onto what was durable, not onto the rolled-back writes.
        index.AddEvent(Door(1));
        index.Audit(AuditOf("after"));
        Assert.Equal([1L], index.UnsentOutbox(EdgeIndex.SyncStreamEvents, 10).Select(m => m.Id));
        Assert.Equal([1L, 2L], index.QueryAudit().Select(a => a.Seq));
        var verification = index.VerifyAudit();
        Assert.True(verification.Ok, verification.Problem?.ToString());
    }

    [Fact]
    public void Writes_of_other_threads_wait_for_an_atomic_block_and_land_after_it()
    {
        using var index = EdgeIndex.Open(_scratch.IndexDirectory, _scratch.KeyPath);
        Thread? other = null;

        index.Atomically(() =>
        {
            index.Audit(AuditOf("inside, first"));
            other = new Thread(() => index.Audit(AuditOf("other thread")));
            other.Start();
            Assert.False(other.Join(TimeSpan.FromMilliseconds(300)), "another thread's write ran inside the block");
            index.Audit(AuditOf("inside, second"));
            return 0;
        });

        Assert.True(other!.Join(TimeSpan.FromSeconds(30)));
        Assert.Equal(["inside, first", "inside, second", "other thread"], index.QueryAudit().Select(a => a.Detail));
        Assert.True(index.VerifyAudit().Ok);
    }

    public void Dispose() => _scratch.Dispose();
}
