// Records one camera around the clock: runs ffmpeg, turns its segment list into SegmentFinished signals, and
// supervises it. A watchdog restarts ffmpeg when it exits or when no segment finishes within 2 × segment length
// + 10 s; restarts back off 1 s → 60 s and reset after a healthy minute. See docs/design/recording.md.
using System.Globalization;
using System.Threading.Channels;
using Edge.Hardware.Clock;
using Microsoft.Extensions.Logging;

namespace Edge.Hardware.Cameras;

public sealed class CameraRecorder
{
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(15);

    private readonly CameraSpec _camera;
    private readonly string _stagingDirectory;
    private readonly string _ffmpegPath;
    private readonly ChannelWriter<RecorderSignal> _signals;
    private readonly TimeProvider _time;
    private readonly IClockTrust _clock;
    private readonly ILogger _logger;
    private readonly AudioProbeHeadStart? _probeHeadStart;
    private readonly RestartBackoff _backoff = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));

    private volatile FfmpegProcess? _current;

    public CameraRecorder(CameraSpec camera, string stagingDirectory, string ffmpegPath, ChannelWriter<RecorderSignal> signals,
        TimeProvider time, IClockTrust clock, ILogger logger, AudioProbeHeadStart? probeHeadStart = null)
    {
        _probeHeadStart = probeHeadStart;
        _camera = camera;
        _stagingDirectory = stagingDirectory;
        _ffmpegPath = ffmpegPath;
        _signals = signals;
        _time = time;
        _clock = clock;
        _logger = logger;
    }

    /// <summary>How long without a finished segment before the watchdog declares the camera stuck.</summary>
    public TimeSpan WatchdogTimeout => 2 * _camera.SegmentLength + TimeSpan.FromSeconds(10);

    /// <summary>The running ffmpeg's process id, or null between runs. For diagnostics and tests.</summary>
    public int? FfmpegProcessId => _current?.ProcessId;

    public CameraState State { get; private set; } = CameraState.Starting;

    public DateTimeOffset? LastSegmentAt { get; private set; }

    public string? LastError { get; private set; }

    public async Task RunAsync(CancellationToken stopping)
    {
        // An ffmpeg a killed agent left running was stopped by the owner before start-up recovery read staging
        // (RecordingService.StopStaleFfmpeg); this recorder's own ffmpeg is remembered for the next start.
        Directory.CreateDirectory(_stagingDirectory);
        DateTimeOffset? offlineSince = null;
        while (!stopping.IsCancellationRequested)
        {
            var outcome = await RunOnceAsync(stopping, offlineSince).ConfigureAwait(false);
            if (stopping.IsCancellationRequested) break;
            if (outcome.CameOnline) offlineSince = null;
            if (offlineSince is null)
            {
                offlineSince = outcome.FailedAt;
                await _signals.WriteAsync(new CameraWentOffline(_camera.Id, outcome.FailedAt, outcome.Reason), CancellationToken.None).ConfigureAwait(false);
            }
            State = CameraState.Offline;
            LastError = outcome.Reason;
            var delay = _backoff.Next();
            _logger.LogWarning("camera {Camera} offline: {Reason}; restarting in {Delay:0.#} s", _camera.Id, outcome.Reason, delay.TotalSeconds);
            try { await Task.Delay(delay, _time, stopping).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
        }
        State = CameraState.Stopped;
    }

    private sealed record RunOutcome(DateTimeOffset FailedAt, string Reason, bool CameOnline);

    private async Task<RunOutcome> RunOnceAsync(CancellationToken stopping, DateTimeOffset? offlineSince)
    {
        State = offlineSince is null ? CameraState.Starting : CameraState.Offline;
        string? audioCodec = await ProbeAudioCodecAsync(stopping).ConfigureAwait(false);
        var runId = _time.GetUtcNow().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        var container = SegmentContainer.For(_camera.Source);
        var pattern = Path.Combine(_stagingDirectory, $"{runId}_%06d{container.Extension}");
        var arguments = FfmpegRecordingCommand.Build(_camera, pattern, audioCodec);

        ForgetSealedJournals();
        var run = new RunState(this, runId, container, offlineSince);
        await using var process = FfmpegProcess.Start(_ffmpegPath, arguments, _camera.Id, run.OnSegmentListLineAsync, _logger, _time);
        _current = process;
        StaleFfmpegGuard.Remember(_stagingDirectory, process.ProcessId);
        run.LastProgressAt = _time.GetUtcNow();
        _logger.LogInformation("camera {Camera}: recording {Source} (ffmpeg pid {Pid})", _camera.Id, _camera.Source.Describe(), process.ProcessId);

        string reason;
        using (var watchdog = new PeriodicTimer(TimeSpan.FromSeconds(1), _time))
        {
            var exited = process.WaitForExitAsync(CancellationToken.None);
            while (true)
            {
                var tick = watchdog.WaitForNextTickAsync(stopping).AsTask();
                var first = await Task.WhenAny(exited, tick).ConfigureAwait(false);
                if (stopping.IsCancellationRequested)
                {
                    await process.StopAsync(StopGrace).ConfigureAwait(false);
                    reason = "agent stopping";
                    break;
                }
                if (first == exited)
                {
                    int code = await exited.ConfigureAwait(false);
                    string tail = process.LastErrorLines();
                    reason = $"ffmpeg exited with code {code}" + (tail.Length > 0 ? $": {tail}" : "");
                    break;
                }
                var silentFor = _time.GetUtcNow() - run.LastProgressAt;
                if (silentFor > WatchdogTimeout)
                {
                    reason = $"no segment finished for {silentFor.TotalSeconds:0} s (watchdog {WatchdogTimeout.TotalSeconds:0} s)";
                    process.Kill();
                    await exited.ConfigureAwait(false);
                    break;
                }
            }
        }
        _current = null;
        await run.ReportTornFileAsync(reason).ConfigureAwait(false);
        return new RunOutcome(_time.GetUtcNow(), reason, run.CameOnline);
    }

    /// <summary>Per-run state: the wall-clock anchor and the last segment number ffmpeg announced.</summary>
    private sealed class RunState(CameraRecorder owner, string runId, SegmentContainer container, DateTimeOffset? offlineSince)
    {
        private static readonly TimeSpan ReanchorBeyond = TimeSpan.FromSeconds(2);
        private DateTimeOffset? _anchor;
        private int _lastAnnounced = -1;
        private int _journalLines;
        private readonly string _journal = SegmentJournal.PathFor(owner._stagingDirectory, runId);

        public DateTimeOffset LastProgressAt { get; set; }
        public bool CameOnline { get; private set; }

        public async Task OnSegmentListLineAsync(string line)
        {
            // ffmpeg's CSV segment list: "<file>,<start seconds>,<end seconds>"
            var parts = line.Split(',');
            if (parts.Length < 3
                || !double.TryParse(parts[^2], NumberStyles.Float, CultureInfo.InvariantCulture, out double start)
                || !double.TryParse(parts[^1], NumberStyles.Float, CultureInfo.InvariantCulture, out double end))
            {
                owner._logger.LogWarning("camera {Camera}: unexpected segment list line from ffmpeg: {Line}", owner._camera.Id, line);
                return;
            }
            string fileName = string.Join(',', parts[..^2]);
            if (end <= start)
            {
                // ffmpeg closes an empty segment when it is stopped right after a cut: there is no footage to keep.
                _lastAnnounced = SequenceNumberOf(fileName) ?? _lastAnnounced + 1;
                await owner._signals.WriteAsync(new SegmentTorn(owner._camera.Id, Path.Combine(owner._stagingDirectory, fileName),
                    $"ffmpeg announced an empty segment ({start:0.###}–{end:0.###} s)")).ConfigureAwait(false);
                return;
            }
            var now = owner._time.GetUtcNow();
            // The wall clock of a segment is anchored to the moment the first segment of this run was announced;
            // later segments follow the media clock so they stay exactly contiguous. A drift beyond 2 s (a stalled
            // camera, a clock step) re-anchors. See docs/design/time.md.
            var expectedEnd = _anchor is { } a ? a + TimeSpan.FromSeconds(end) : (DateTimeOffset?)null;
            if (expectedEnd is null || (now - expectedEnd.Value).Duration() > ReanchorBeyond)
            {
                if (expectedEnd is not null)
                    owner._logger.LogInformation("camera {Camera}: media clock drifted {Drift:0.00} s from the wall clock; re-anchoring",
                        owner._camera.Id, (now - expectedEnd.Value).TotalSeconds);
                _anchor = now - TimeSpan.FromSeconds(end);
            }
            var anchor = _anchor!.Value;
            _lastAnnounced = SequenceNumberOf(fileName) ?? _lastAnnounced + 1;
            LastProgressAt = now;
            owner.LastSegmentAt = now;
            owner.State = CameraState.Recording;
            owner.LastError = null;

            if (!CameOnline && offlineSince is { } since)
                await owner._signals.WriteAsync(new CameraCameOnline(owner._camera.Id, now, since)).ConfigureAwait(false);
            CameOnline = true;
            if (now - (anchor + TimeSpan.FromSeconds(start)) > RestartBackoff.HealthyRunResetsAfter) owner._backoff.Reset();

            var finished = new SegmentFinished(
                owner._camera.Id,
                Path.Combine(owner._stagingDirectory, fileName),
                start, end,
                anchor + TimeSpan.FromSeconds(start),
                anchor + TimeSpan.FromSeconds(end),
                owner._clock.IsTrusted()) { AnnouncedTimestamp = owner._time.GetTimestamp() };
            // Journaled before anyone acts on it, so a crash between here and the seal loses nothing.
            SegmentJournal.Append(_journal, finished, ref _journalLines);
            await owner._signals.WriteAsync(finished).ConfigureAwait(false);
        }

        /// <summary>ffmpeg writes files in order; anything of this run after the last announced one was cut off.</summary>
        public async Task ReportTornFileAsync(string reason)
        {
            foreach (var path in Directory.EnumerateFiles(owner._stagingDirectory, $"{runId}_*{container.Extension}"))
            {
                if (SequenceNumberOf(Path.GetFileName(path)) is int n && n > _lastAnnounced)
                    await owner._signals.WriteAsync(new SegmentTorn(owner._camera.Id, path, reason)).ConfigureAwait(false);
            }
        }

        private static int? SequenceNumberOf(string fileName) => StagingRecovery.TryParseName(fileName, out _, out int n) ? n : null;
    }

    /// <summary>Journals of earlier runs whose segments have all been sealed (their staged files deleted) are done with.</summary>
    private void ForgetSealedJournals()
    {
        foreach (var journal in Directory.EnumerateFiles(_stagingDirectory, "*" + SegmentJournal.Extension))
        {
            if (File.ReadLines(journal).All(line => !File.Exists(Path.Combine(_stagingDirectory, line.Split(',')[0]))))
                File.Delete(journal);
        }
    }

    /// <summary>Finds the source's audio codec, so audio is copied only where the container can hold it.</summary>
    private async Task<string?> ProbeAudioCodecAsync(CancellationToken stopping)
    {
        if (!_camera.RecordAudio || _camera.Source is not RtspSource) return null; // only RTSP sources carry audio
        try
        {
            string? audio;
            if (_probeHeadStart?.Take(_camera.Id) is { } early)
                audio = await early.WaitAsync(stopping).ConfigureAwait(false); // started with the agent, limited by ProbeTimeout too
            else
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(ProbeTimeout);
                audio = await CameraProbe.ProbeAudioCodecAsync(_camera.Source, timeout.Token, CameraProbe.FfprobeBeside(_ffmpegPath)).ConfigureAwait(false);
            }
            if (audio is null) return null;
            var container = SegmentContainer.For(_camera.Source);
            if (!container.CanHoldAudio(audio))
            {
                _logger.LogWarning("camera {Camera}: audio dropped: {Codec} cannot be stored in {Container} segments",
                    _camera.Id, audio, container.FfmpegFormat);
                return null;
            }
            return audio;
        }
        catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            _logger.LogWarning("camera {Camera}: audio dropped: the source could not be probed ({Error})", _camera.Id, e.Message.Split('\n')[0]);
            return null;
        }
    }
}

public enum CameraState { Starting, Recording, Offline, Stopped }
