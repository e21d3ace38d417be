// The recording pipeline: one CameraRecorder per camera feeding one channel; this service seals each finished
// segment onto a volume, indexes it (durably), then deletes the staged file. Camera offline/online become events.
// Segments are sealed in arrival order by a single consumer: sealing is I/O-bound and one at a time keeps the SD
// card's writes sequential. See docs/design/recording.md.
using System.Threading.Channels;
using Edge.Agent.Configuration;
using Edge.Agent.Index;
using Edge.Agent.Storage;
using Edge.Hardware.Cameras;
using Edge.Hardware.Clock;
using Edge.Hardware.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Agent.Recording;

public sealed class RecordingService : BackgroundService
{
    private readonly EdgeSettings _settings;
    private readonly EdgeIndex _index;
    private readonly ISegmentSealer _sealer;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly VolumeSet _volumes;
    private readonly Queue<SegmentFinished> _waitingForVolume = new();
    private readonly Channel<RecorderSignal> _signals = Channel.CreateBounded<RecorderSignal>(
        new BoundedChannelOptions(1024) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Dictionary<string, CameraRecorder> _recorders = new();

    private readonly RecordingRate _rate;
    private readonly RetentionService _retention;
    private readonly AudioProbeHeadStart? _probeHeadStart;

    /// <param name="probeHeadStart">Audio probes `edge run` started before the index opened, for the recorders' first runs.</param>
    public RecordingService(EdgeSettings settings, EdgeIndex index, ISegmentSealer sealer, RecordingRate rate, RetentionService retention,
        TimeProvider time, ILoggerFactory loggers, AudioProbeHeadStart? probeHeadStart = null)
    {
        _probeHeadStart = probeHeadStart;
        _rate = rate;
        _retention = retention;
        _settings = settings;
        _index = index;
        _sealer = sealer;
        _time = time;
        _loggers = loggers;
        _logger = loggers.CreateLogger("Edge.Recording");
        _volumes = new VolumeSet(settings.Volumes);
    }

    public IReadOnlyDictionary<string, CameraRecorder> Recorders => _recorders;

    /// <summary>Each camera's supervising task once recording has begun (empty before); the systemd watchdog checks they are alive.</summary>
    public IReadOnlyDictionary<string, Task> RecorderTasks => _recorderTasks;
    private volatile IReadOnlyDictionary<string, Task> _recorderTasks = new Dictionary<string, Task>();

    public ReconcileReport? LastReconcile { get; private set; }

    public long SegmentsSealed => Interlocked.Read(ref _segmentsSealed);

    /// <summary>Announced by ffmpeg → durable in the index, over the last 1000 segments.</summary>
    public LatencyWindow SealLatency { get; } = new(1000);
    private long _segmentsSealed;

    /// <summary>Raised after a segment is indexed; the demo's live view listens.</summary>
    public event Action<SegmentRecord>? SegmentIndexed;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Recover and reconcile before any recorder starts: both must see staging and the disk as the last run left them.
        Directory.CreateDirectory(_settings.StagingDirectory);
        StopStaleFfmpeg();
        var (journaled, unjournaled) = await SealFinishedSegmentsAsync().ConfigureAwait(false);
        var waiting = _waitingForVolume.Select(s => s.StagedPath).ToHashSet();
        LastReconcile = new Reconciler(_index, _settings.StagingDirectory, _volumes, _logger, waiting).Run()
            with { RecoveredFromJournal = journaled, RecoveredUnjournaled = unjournaled };
        _index.SetSetting("lastReconcile", System.Text.Json.JsonSerializer.Serialize(LastReconcile));
        if (LastReconcile.FoundAnything)
        {
            _logger.LogWarning("reconcile: {Report}", LastReconcile);
            _index.AddEvent(new EventRecord
            {
                Kind = EventKinds.Reconcile,
                StartUtc = _time.GetUtcNow().UtcDateTime,
                EndUtc = _time.GetUtcNow().UtcDateTime,
                DecidedBy = "start-up reconciliation of index and disk",
                Detail = LastReconcile.ToString(),
            });
        }
        else _logger.LogInformation("reconcile: index and disk agree");

        var clock = new KernelClockTrust(_settings.ClockTrust, _time);
        foreach (var camera in _settings.Cameras)
        {
            var staging = Path.Combine(_settings.StagingDirectory, SegmentLayout.CameraDirectory(camera.Id));
            _recorders[camera.Id] = new CameraRecorder(camera, staging, _settings.FfmpegPath, _signals.Writer, _time, clock,
                _loggers.CreateLogger("Edge.Camera." + camera.Id), _probeHeadStart);
        }
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// An ffmpeg left running by a killed agent goes on writing into staging: stopped before recovery, so the last file
    /// of its run is the one it was writing and no new file appears while staging is read.
    /// </summary>
    private void StopStaleFfmpeg()
    {
        foreach (var camera in _settings.Cameras)
        {
            var staging = Path.Combine(_settings.StagingDirectory, SegmentLayout.CameraDirectory(camera.Id));
            if (Directory.Exists(staging) && StaleFfmpegGuard.KillSurvivor(staging) is int survivor)
                _logger.LogWarning("camera {Camera}: killed ffmpeg pid {Pid} left running by an earlier agent", camera.Id, survivor);
        }
    }

    /// <summary>
    /// Seals what ffmpeg finished but the last agent did not live to seal: the segments its recorder journaled, and
    /// those ffmpeg closed before the recorder could journal them (see StagingRecovery).
    /// </summary>
    private async Task<(int Journaled, int Unjournaled)> SealFinishedSegmentsAsync()
    {
        int journaled = 0, unjournaled = 0;
        foreach (var camera in _settings.Cameras)
        {
            var staging = Path.Combine(_settings.StagingDirectory, SegmentLayout.CameraDirectory(camera.Id));
            if (!Directory.Exists(staging)) continue;
            // Both read before anything is sealed: sealing deletes staged files, and which file is a run's last matters.
            var closed = await StagingRecovery.ClosedButUnjournaledAsync(staging, camera.Id, _logger, CancellationToken.None).ConfigureAwait(false);
            foreach (var segment in SegmentJournal.Unsealed(staging, camera.Id).Concat(closed).OrderBy(s => s.StartUtc))
            {
                // Indexed already (the crash came after the record, before the staged file was deleted): the record
                // and its partial or published file are reconcile's business; the staged copy is a duplicate.
                if (_index.FindSegmentAt(RelativePathOf(segment)) is not null)
                {
                    File.Delete(segment.StagedPath);
                    continue;
                }
                await SealAndIndexAsync(segment).ConfigureAwait(false);
                if (File.Exists(segment.StagedPath)) continue; // waiting for a volume
                if (closed.Contains(segment))
                {
                    unjournaled++;
                    _logger.LogWarning("camera {Camera}: sealed {File}, closed by ffmpeg but not journaled before the last agent stopped; " +
                        "dated {Start:o} + {Duration:0.###} s (ffprobe), clock {Trust}", camera.Id, Path.GetFileName(segment.StagedPath),
                        segment.StartUtc, segment.DurationSeconds, segment.ClockTrusted ? "trusted" : "untrusted");
                }
                else
                {
                    journaled++;
                    _logger.LogWarning("camera {Camera}: sealed {File}, finished before the last agent stopped but not sealed by it", camera.Id, Path.GetFileName(segment.StagedPath));
                }
            }
        }
        return (journaled, unjournaled);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _recorderTasks = _recorders.ToDictionary(r => r.Key, r => Task.Run(() => r.Value.RunAsync(stoppingToken), CancellationToken.None));
        var recorders = _recorderTasks.Values.ToArray();
        // When every recorder has stopped (each finishes its last segment on 'q'), nothing more can arrive.
        _ = Task.WhenAll(recorders).ContinueWith(_ => _signals.Writer.TryComplete(), TaskScheduler.Default);

        // The consumer does not stop on the stopping token: segments finished during shutdown are sealed too.
        await foreach (var signal in _signals.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            try
            {
                await HandleAsync(signal).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                // The staged file stays where it is; the next start-up's reconcile quarantines it. Recording goes on.
                _logger.LogError(e, "camera {Camera}: could not handle {Signal}", signal.CameraId, signal.GetType().Name);
            }
        }
    }

    private async Task HandleAsync(RecorderSignal signal)
    {
        switch (signal)
        {
            case SegmentFinished segment:
                await SealAndIndexAsync(segment).ConfigureAwait(false);
                break;
            case SegmentTorn torn:
                Quarantine(torn.StagedPath);
                _logger.LogWarning("camera {Camera}: quarantined {File}, which ffmpeg never finished ({Reason})",
                    torn.CameraId, Path.GetFileName(torn.StagedPath), torn.Reason);
                break;
            case CameraWentOffline offline:
                _index.AddEvent(new EventRecord
                {
                    Kind = EventKinds.CameraOffline,
                    Cameras = [offline.CameraId],
                    StartUtc = offline.Since.UtcDateTime,
                    DecidedBy = "recorder watchdog",
                    Detail = offline.Reason,
                });
                break;
            case CameraCameOnline online:
                if (_index.OpenEvent(EventKinds.CameraOffline, online.CameraId) is { } open)
                {
                    open.EndUtc = online.At.UtcDateTime;
                    _index.UpdateEvent(open);
                }
                _index.AddEvent(new EventRecord
                {
                    Kind = EventKinds.CameraOnline,
                    Cameras = [online.CameraId],
                    StartUtc = online.At.UtcDateTime,
                    EndUtc = online.At.UtcDateTime,
                    DecidedBy = "first segment after the camera was offline",
                    Detail = $"offline for {(online.At - online.OfflineSince).TotalSeconds:0} s",
                });
                break;
        }
    }

    /// <summary>
    /// Seals the segment, and any that waited for a volume before it, in order. A segment that no volume can take
    /// stays staged and queued; it is retried when the next segment arrives.
    /// </summary>
    private async Task SealAndIndexAsync(SegmentFinished segment)
    {
        _waitingForVolume.Enqueue(segment);
        while (_waitingForVolume.TryPeek(out var next))
        {
            if (!await TrySealOnAnyVolumeAsync(next).ConfigureAwait(false))
            {
                _logger.LogError("no storage volume is usable ({Reasons}); {Count} segment(s) wait in staging",
                    string.Join("; ", _volumes.All.Select(v => $"{v}: {VolumeSet.Unusable(v) ?? "failed while writing"}")), _waitingForVolume.Count);
                return;
            }
            _waitingForVolume.Dequeue();
        }
    }

    /// <summary>Tries each usable volume in order of preference; a volume that fails mid-write is skipped for this segment.</summary>
    private async Task<bool> TrySealOnAnyVolumeAsync(SegmentFinished segment)
    {
        var failed = new HashSet<string>();
        var attempt = new SealAttempt();
        while (_volumes.Choose(failed) is { } volume)
        {
            try
            {
                await SealOnAsync(segment, volume, attempt).ConfigureAwait(false);
                if (_volumes.NoteChosen(volume) is { } previous) RecordFailover(previous, volume);
                return true;
            }
            catch (IOException e)
            {
                _logger.LogWarning("camera {Camera}: sealing to {Volume} failed ({Error}); trying the next volume", segment.CameraId, volume, e.Message);
                failed.Add(volume);
            }
        }
        return false;
    }

    private void RecordFailover(string from, string to)
    {
        bool backToPreferred = _volumes.All.ToList().IndexOf(to) < _volumes.All.ToList().IndexOf(from);
        var detail = backToPreferred ? $"returned to {to} from {from}" : $"from {from} ({VolumeSet.Unusable(from) ?? "failed while writing"}) to {to}";
        _logger.LogWarning("storage failover: {Detail}", detail);
        var now = _time.GetUtcNow().UtcDateTime;
        _index.AddEvent(new EventRecord
        {
            Kind = EventKinds.StorageFailover,
            StartUtc = now,
            EndUtc = now,
            DecidedBy = backToPreferred ? "the preferred volume is usable again" : "the preferred volume is not usable",
            Detail = detail,
        });
    }

    /// <summary>The index record of a segment whose first volume failed after it was indexed, so a retry moves it.</summary>
    private sealed class SealAttempt
    {
        public SegmentRecord? Indexed { get; set; }
    }

    private string RelativePathOf(SegmentFinished segment) => SegmentLayout.RelativePath(segment.CameraId, segment.StartUtc,
        segment.DurationSeconds, segment.ClockTrusted, _sealer.ExtensionFor(Path.GetExtension(segment.StagedPath)));

    private async Task SealOnAsync(SegmentFinished segment, string volume, SealAttempt attempt)
    {
        var relative = RelativePathOf(segment);
        var sealedFile = await _sealer.SealAsync(segment.StagedPath, volume, relative, CancellationToken.None).ConfigureAwait(false);
        // Index first, publish second: the record (with the wrapped key, once encrypted) is durable before the file
        // has its final name, so a crash in between leaves a record and a complete NAME.partial, which reconcile publishes.
        var record = new SegmentRecord
        {
            Id = attempt.Indexed?.Id ?? 0,
            Camera = segment.CameraId,
            StartUtc = segment.StartUtc.UtcDateTime,
            EndUtc = segment.EndUtc.UtcDateTime,
            DurationSeconds = segment.DurationSeconds,
            Bytes = sealedFile.Bytes,
            Sha256 = sealedFile.Sha256,
            StoredBytes = sealedFile.StoredBytes,
            StoredSha256 = sealedFile.StoredSha256,
            WrappedKey = sealedFile.Envelope?.WrappedKey,
            OwnerKeyId = sealedFile.Envelope?.OwnerKeyId,
            ClockTrusted = segment.ClockTrusted,
            Volume = sealedFile.Volume,
            RelativePath = sealedFile.RelativePath,
            Container = Path.GetExtension(segment.StagedPath) == ".mkv" ? "matroska" : "mpegts",
        };
        if (attempt.Indexed is null) record.Id = _index.AddSegment(record);
        else _index.UpdateSegment(record); // the volume it was first indexed on failed before the file was published
        attempt.Indexed = record;
        DurableFile.RenameDurably(sealedFile.PartialPath, sealedFile.FinalPath);
        File.Delete(segment.StagedPath);
        Interlocked.Increment(ref _segmentsSealed);
        if (segment.AnnouncedTimestamp != 0) SealLatency.Add(_time.GetElapsedTime(segment.AnnouncedTimestamp));
        _rate.Note(volume, sealedFile.StoredBytes);
        var space = VolumeSpace.Of(volume);
        if (space.FreeBytes < _retention.FloorBytes(volume, space)) _retention.Nudge();
        SegmentIndexed?.Invoke(record);
        CheckpointBetweenSegments();
    }

    /// <summary>
    /// Checkpoints the index log once it holds <see cref="SegmentCheckpointPages"/> pages, here between two seals,
    /// instead of letting LiteDB do it at 1000 pages. LiteDB's page cache keeps every log page written since the last
    /// checkpoint and grows by a fixed 8 MiB block (1000 pages, kept for good) when it runs out: with 4 cameras the log
    /// reached 1000 pages after ~4 minutes and the agent's heap stepped from 8.5 to 16.7 MiB live (a heap dump:
    /// +1000 LiteDB PageBuffers). A checkpoint empties the log and returns those pages to the cache's free list, so
    /// the cache stays within its first 662 pages. Smaller checkpoints are also shorter stalls for the other writers.
    /// </summary>
    private void CheckpointBetweenSegments()
    {
        try
        {
            _index.CheckpointIfLogOver(SegmentCheckpointPages);
        }
        catch (Exception e) when (e is IOException or LiteDB.LiteException or IndexException)
        {
            _logger.LogWarning(e, "index checkpoint after a sealed segment failed; LiteDB checkpoints by itself later");
        }
    }

    /// <summary>~1–2 minutes of segments from 4 cameras; far below what fills LiteDB's first cache blocks.</summary>
    private const long SegmentCheckpointPages = 200;

    private void Quarantine(string stagedPath)
    {
        if (!File.Exists(stagedPath)) return;
        var quarantine = Path.Combine(_settings.StagingDirectory, Reconciler.QuarantineDirectoryName);
        Directory.CreateDirectory(quarantine);
        var cameraDir = Path.GetFileName(Path.GetDirectoryName(stagedPath)!);
        File.Move(stagedPath, Path.Combine(quarantine, cameraDir + "_" + Path.GetFileName(stagedPath)), overwrite: true);
    }
}
