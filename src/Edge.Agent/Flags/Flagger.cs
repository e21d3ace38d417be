// Makes flags: windows of footage that matter. A flag protects its segments from retention and marks them for sync.
// A new window merges into an existing flag with the same cameras when the two overlap or touch, so one busy door
// gives one long flag rather than a pile of overlapping ones. Flags on different camera sets stay separate:
// protection is per segment, so nothing is lost by not merging them.
using Edge.Agent.Index;

namespace Edge.Agent.Flags;

public sealed class Flagger(EdgeIndex index, TimeProvider time)
{
    /// <summary>
    /// Flags <paramref name="cameras"/> over [from, to), merged into an overlapping flag of the same cameras. The read and
    /// the writes are one index transaction (two flaggers never both miss each other's flag), which joins the caller's
    /// when called inside <see cref="EdgeIndex.Atomically{T}"/>.
    /// </summary>
    public FlagRecord Flag(IReadOnlyCollection<string> cameras, DateTime fromUtc, DateTime toUtc, string reason, long? eventId, string createdBy)
    {
        if (cameras.Count == 0) throw new ArgumentException("a flag needs at least one camera", nameof(cameras));
        if (toUtc <= fromUtc) throw new ArgumentException($"a flag's end ({toUtc:O}) must come after its start ({fromUtc:O})", nameof(toUtc));
        return index.Atomically(() =>
        {
            var sameCameras = new HashSet<string>(cameras);
            var overlapping = index.FlagsTouching(fromUtc, toUtc)
                .Where(f => sameCameras.SetEquals(f.Cameras))
                .ToList();
            if (overlapping.Count == 0)
            {
                var flag = new FlagRecord
                {
                    Cameras = cameras.Order().ToList(),
                    FromUtc = fromUtc,
                    ToUtc = toUtc,
                    Reason = reason,
                    EventIds = eventId is long id ? [id] : [],
                    CreatedUtc = time.GetUtcNow().UtcDateTime,
                    CreatedBy = createdBy,
                };
                flag.Id = index.AddFlag(flag);
                return flag;
            }
            // Grow the oldest overlapping flag to cover the new window and any others it now bridges.
            var kept = overlapping[0];
            foreach (var other in overlapping.Skip(1).Append(new FlagRecord { FromUtc = fromUtc, ToUtc = toUtc, Reason = reason, EventIds = eventId is long e ? [e] : [] }))
            {
                kept.FromUtc = kept.FromUtc < other.FromUtc ? kept.FromUtc : other.FromUtc;
                kept.ToUtc = kept.ToUtc > other.ToUtc ? kept.ToUtc : other.ToUtc;
                kept.EventIds = kept.EventIds.Union(other.EventIds).ToList();
                if (!kept.Reason.Split("; ").Contains(other.Reason)) kept.Reason += "; " + other.Reason;
            }
            kept.SyncState = FlagSyncStates.Pending; // the window grew: what was synced no longer covers it
            index.UpdateFlag(kept);
            foreach (var absorbed in overlapping.Skip(1)) index.DeleteFlag(absorbed.Id);
            return kept;
        });
    }
}
